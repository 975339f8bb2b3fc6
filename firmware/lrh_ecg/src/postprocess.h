// Model output -> decisions: dequantise the int8 logits, sigmoid, per-class threshold,
// then k-of-n smoothing across consecutive windows.
#pragma once
#include <cstdint>

#include "model_settings.h"

namespace lrh {

static_assert(kNumClasses >= 1 && kNumClasses <= 32, "decisions are a 32-bit mask");

float Dequantize(int8_t q, float scale, int zero_point);
float Sigmoid(float x);

// probs[c] = sigmoid(dequantise(logits[c])) with kOutputScale/kOutputZeroPoint; returns the
// bitmask of classes with probs[c] >= kThresholds[c].
uint32_t Decide(const int8_t* logits, float* probs);

// A class is reported when it was decided in at least k of the last n windows (n <= 32).
class KOfNSmoother {
 public:
  KOfNSmoother(int k, int n);
  void reset();
  uint32_t update(uint32_t decisions);
  int k() const { return k_; }
  int n() const { return n_; }

 private:
  uint32_t history_[kNumClasses];  // bit i = decision i windows ago
  int k_;
  int n_;
};

}  // namespace lrh
