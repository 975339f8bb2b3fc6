// The firmware preprocessing in one object: Sample (mV + flags) -> band-pass -> window ->
// int8 input tensor.  Used unchanged by the sketch and by the host driver.
#pragma once
#include <cstdint>

#include "dsp.h"
#include "sample.h"

namespace lrh {

class Pipeline {
 public:
  explicit Pipeline(int hop = kHopSamples) : windower_(hop) {}
  // Zero filter state, empty window (after a lead-off recovery or a replay reset).
  void reset() {
    filter_.reset();
    windower_.reset();
  }
  // Filters and stores one sample; true when a window is ready for quantize().
  bool push(const Sample& s) {
    float y[kNumLeads];
    filter_.process(s.mv, y);
    return windower_.push(y, s.flags);
  }
  // Writes the normalised int8 window (kWindowSamples * kNumLeads values, t-major).
  void quantize(int8_t* out, float scale, int zero_point) const {
    windower_.quantize(out, scale, zero_point);
  }
  uint32_t window_start() const { return windower_.window_start(); }
  uint32_t samples_seen() const { return windower_.samples_seen(); }
  uint8_t lead_off_mask() const { return windower_.window_flags() & 0x0F; }
  uint8_t saturated_mask() const { return static_cast<uint8_t>(windower_.window_flags() >> 4); }
  int hop() const { return windower_.hop(); }

 private:
  SosFilter filter_;
  Windower windower_;
};

}  // namespace lrh
