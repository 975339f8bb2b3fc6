// One JSON object per window, newline-terminated, written into a caller-owned buffer
// (no heap, no printf: float printf is not linked by default on newlib-nano).
#pragma once
#include <cstddef>
#include <cstdint>

#include "model_settings.h"

namespace lrh {

struct WindowReport {
  uint32_t t_ms;          // board_millis() when the window completed
  uint32_t start;         // stream index of the window's first sample
  const float* probs;     // kNumClasses sigmoid probabilities
  uint32_t decisions;     // raw per-window threshold decisions (bitmask, class order)
  uint32_t smoothed;      // after k-of-n smoothing (bitmask)
  uint32_t infer_us;      // TFLM Invoke() time
  uint8_t lead_off;       // bit per lead: lead-off seen in the window
  uint8_t saturated;      // bit per lead: ADC/int16 rail seen in the window
  uint32_t overruns;      // samples dropped because the ring buffer was full (cumulative)
  uint32_t missed;        // samples/frames lost in replay (cumulative)
};

// Writes the JSON line (with trailing '\n' and a terminating NUL) and returns its length
// without the NUL, or 0 when it does not fit in cap bytes.
size_t FormatWindowJson(const WindowReport& r, char* buf, size_t cap);

// Minimal append-only writer used by the formatter (public for the tests and the sketch's
// start-up/error lines).
class JsonWriter {
 public:
  JsonWriter(char* buf, size_t cap);
  void raw(const char* s);
  void str(const char* s);           // quoted, escapes " \ and control characters
  void uint(uint32_t v);
  void fixed(float v, int decimals); // e.g. 0.123; NaN/inf written as null
  void ch(char c);
  bool ok() const { return ok_; }
  size_t finish();                   // NUL-terminates; returns length or 0 on overflow

 private:
  char* buf_;
  size_t cap_;
  size_t len_;
  bool ok_;
};

}  // namespace lrh
