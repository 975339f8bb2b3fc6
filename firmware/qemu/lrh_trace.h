// Emulator-only instrumentation of the sketch (compiled with -DLRH_TRACE by firmware/Makefile
// `qemu`): instructions per TFLM operator, and one trace line per window,
//   {"trace":{"start":S,"q":[int8 outputs],"infer_us":U,"ops_insns":N,
//             "ops":{"CONV_2D":[instructions,calls],...},
//             "frames":{"ok":..,"bad_crc":..,"malformed":..,"out_of_order":..,"lost":..}}}
// printed right after the window's JSON line, so a host can compare the raw outputs with its
// own TFLM run and read the receiver's counters, which the production lines do not carry.
#pragma once
#include <cstdint>

#include "src/frame_codec.h"
#include "tensorflow/lite/micro/micro_profiler_interface.h"

namespace lrh_trace {
tflite::MicroProfilerInterface* Profiler();
void Window(uint32_t start, const int8_t* q, int n, const lrh::FrameStats& frames,
            uint32_t infer_us);
}  // namespace lrh_trace
