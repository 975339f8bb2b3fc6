#include "postprocess.h"

#include <cmath>

namespace lrh {

float Dequantize(int8_t q, float scale, int zero_point) {
  return static_cast<float>(static_cast<int>(q) - zero_point) * scale;
}

float Sigmoid(float x) {
  // Split by sign so expf never overflows.
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

uint32_t Decide(const int8_t* logits, float* probs) {
  uint32_t mask = 0;
  for (int c = 0; c < kNumClasses; ++c) {
    probs[c] = Sigmoid(Dequantize(logits[c], kOutputScale, kOutputZeroPoint));
    if (probs[c] >= kThresholds[c]) mask |= 1u << c;
  }
  return mask;
}

KOfNSmoother::KOfNSmoother(int k, int n) {
  n_ = n < 1 ? 1 : (n > 32 ? 32 : n);
  k_ = k < 1 ? 1 : (k > n_ ? n_ : k);
  reset();
}

void KOfNSmoother::reset() {
  for (int c = 0; c < kNumClasses; ++c) history_[c] = 0;
}

uint32_t KOfNSmoother::update(uint32_t decisions) {
  const uint32_t keep = n_ == 32 ? 0xFFFFFFFFu : ((1u << n_) - 1u);
  uint32_t out = 0;
  for (int c = 0; c < kNumClasses; ++c) {
    history_[c] = ((history_[c] << 1) | ((decisions >> c) & 1u)) & keep;
    int votes = 0;
    for (uint32_t h = history_[c]; h; h &= h - 1) ++votes;
    if (votes >= k_) out |= 1u << c;
  }
  return out;
}

}  // namespace lrh
