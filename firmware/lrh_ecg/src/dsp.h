// Preprocessing that must match lrh_tflm/data/preprocess.py exactly (firmware contract):
// causal SOS band-pass per lead, windows of the last kWindowSamples filtered samples every
// hop, per-lead z-score over the window, int8 quantisation with round-half-to-even.
#pragma once
#include <cstdint>

#include "model_settings.h"

namespace lrh {

// Cascade of kNumSos biquads, Direct Form II transposed, float32, one state per lead,
// zero initial state (scipy.signal.sosfilt with zi = 0).
class SosFilter {
 public:
  SosFilter() { reset(); }
  void reset();
  // Filters one multi-lead sample: in[kNumLeads] -> out[kNumLeads] (may alias).
  void process(const float* in, float* out);

 private:
  float z_[kNumLeads][kNumSos][2];
};

// Keeps the last kWindowSamples samples per lead (and their flag bits) and says when a
// window is due: first after kWindowSamples samples, then every `hop` samples.  Windows
// therefore start at stream indices 0, hop, 2*hop, ...
class Windower {
 public:
  explicit Windower(int hop = kHopSamples);
  void reset();
  // Returns the hop actually used (clamped to >= 1).
  int hop() const { return hop_; }
  // Appends one sample; true when a window has just completed.
  bool push(const float* mv, uint8_t flags);
  // Stream index of the first sample of the current window (valid after push() returned true).
  uint32_t window_start() const { return count_ - kWindowSamples; }
  uint32_t samples_seen() const { return count_; }
  // OR of the lead-off / saturation flag bits over the samples in the current window.
  uint8_t window_flags() const;
  // Normalises and quantises the current window into out[kWindowSamples * kNumLeads]
  // (index t * kNumLeads + lead, kInputLayout 0).
  void quantize(int8_t* out, float scale, int zero_point) const;

 private:
  float buf_[kWindowSamples][kNumLeads];
  uint8_t flags_[kWindowSamples];
  uint16_t flag_count_[8];  // samples in the window with each flag bit set
  int pos_;                 // next write slot == oldest sample once full
  uint32_t count_;
  int since_;
  int hop_;
};

// q = clamp(rint(z / scale) + zero_point, -128, 127); rint rounds half to even like np.rint.
int8_t QuantiseValue(float z, float scale, int zero_point);

// Normalises (per kNormaliseMode, population std, eps kZScoreEps) and quantises a window kept
// in a circular buffer: sample t of lead l is x[((start + t) % n) * n_leads + l].
// Writes out[t * n_leads + l].
void NormaliseQuantise(const float* x, int n, int n_leads, int start, float scale, int zero_point,
                       int8_t* out);

}  // namespace lrh
