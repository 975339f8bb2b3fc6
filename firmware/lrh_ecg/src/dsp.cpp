#include "dsp.h"

#include <cmath>

namespace lrh {

void SosFilter::reset() {
  for (int l = 0; l < kNumLeads; ++l)
    for (int s = 0; s < kNumSos; ++s) z_[l][s][0] = z_[l][s][1] = 0.0f;
}

void SosFilter::process(const float* in, float* out) {
  for (int l = 0; l < kNumLeads; ++l) {
    float x = in[l];
    for (int s = 0; s < kNumSos; ++s) {
      const float* c = kSos[s];  // b0 b1 b2 a0(=1) a1 a2
      float* z = z_[l][s];
      const float y = c[0] * x + z[0];
      z[0] = c[1] * x - c[4] * y + z[1];
      z[1] = c[2] * x - c[5] * y;
      x = y;
    }
    out[l] = x;
  }
}

Windower::Windower(int hop) : hop_(hop < 1 ? 1 : hop) { reset(); }

void Windower::reset() {
  for (int t = 0; t < kWindowSamples; ++t) {
    flags_[t] = 0;
    for (int l = 0; l < kNumLeads; ++l) buf_[t][l] = 0.0f;
  }
  for (int b = 0; b < 8; ++b) flag_count_[b] = 0;
  pos_ = 0;
  count_ = 0;
  since_ = 0;
}

bool Windower::push(const float* mv, uint8_t flags) {
  // Keep per-bit counts in step with the window contents so window_flags() is O(1).
  const uint8_t evicted = count_ >= static_cast<uint32_t>(kWindowSamples) ? flags_[pos_] : 0;
  for (int b = 0; b < 8; ++b) {
    if (evicted & (1u << b)) --flag_count_[b];
    if (flags & (1u << b)) ++flag_count_[b];
  }
  flags_[pos_] = flags;
  for (int l = 0; l < kNumLeads; ++l) buf_[pos_][l] = mv[l];
  pos_ = pos_ + 1 == kWindowSamples ? 0 : pos_ + 1;
  ++count_;
  ++since_;
  if (count_ < static_cast<uint32_t>(kWindowSamples)) return false;
  if (count_ == static_cast<uint32_t>(kWindowSamples) || since_ >= hop_) {
    since_ = 0;
    return true;
  }
  return false;
}

uint8_t Windower::window_flags() const {
  uint8_t out = 0;
  for (int b = 0; b < 8; ++b)
    if (flag_count_[b]) out |= static_cast<uint8_t>(1u << b);
  return out;
}

void Windower::quantize(int8_t* out, float scale, int zero_point) const {
  // Once the buffer is full, pos_ is the oldest sample.
  NormaliseQuantise(&buf_[0][0], kWindowSamples, kNumLeads, pos_, scale, zero_point, out);
}

int8_t QuantiseValue(float z, float scale, int zero_point) {
  float q = rintf(z / scale);
  if (!(q == q)) q = 0.0f;  // NaN cannot come from int16/ADC input; never feed UB to the cast
  // Clamp in float first: casting an out-of-range float to int is undefined behaviour.
  q += static_cast<float>(zero_point);
  if (q < -128.0f) q = -128.0f;
  if (q > 127.0f) q = 127.0f;
  return static_cast<int8_t>(static_cast<int>(q));
}

void NormaliseQuantise(const float* x, int n, int n_leads, int start, float scale, int zero_point,
                       int8_t* out) {
  for (int l = 0; l < n_leads; ++l) {
    float mean = 0.0f;
    float denom = 1.0f;
    if (kNormaliseMode == kNormaliseZScore) {
      // Double accumulators: a float32 running sum over 4096 samples would drift by more than
      // the tolerance of the parity test with the float64 Python pipeline.
      double sum = 0.0;
      for (int t = 0; t < n; ++t) sum += x[((start + t) % n) * n_leads + l];
      const double m = sum / n;
      double ss = 0.0;
      for (int t = 0; t < n; ++t) {
        const double d = x[((start + t) % n) * n_leads + l] - m;
        ss += d * d;
      }
      mean = static_cast<float>(m);
      denom = static_cast<float>(std::sqrt(ss / n)) + kZScoreEps;
    }
    for (int t = 0; t < n; ++t) {
      const float z = (x[((start + t) % n) * n_leads + l] - mean) / denom;
      out[t * n_leads + l] = QuantiseValue(z, scale, zero_point);
    }
  }
}

}  // namespace lrh
