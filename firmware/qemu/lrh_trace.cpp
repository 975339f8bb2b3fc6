// See lrh_trace.h.  Instruction counts come from board_qemu_instructions() (exact to the
// 40-instruction tick of the CMSDK timer).
#include "lrh_trace.h"

#include <cstring>

#include "board.h"
#include "src/json_line.h"

namespace lrh_trace {
namespace {

constexpr uint32_t kMaxOpen = 8;   // TFLM does not nest operator events; room to spare
constexpr int kMaxTags = 32;

struct TagTotal {
  const char* tag;
  uint64_t insns;
  uint32_t calls;
};

class OpProfiler : public tflite::MicroProfilerInterface {
 public:
  uint32_t BeginEvent(const char* tag) override {
    if (open_ >= kMaxOpen) return kMaxOpen;
    tags_[open_] = tag;
    t0_[open_] = board_qemu_instructions();
    return open_++;
  }

  void EndEvent(uint32_t handle) override {
    if (handle >= open_) return;
    const uint64_t dt = board_qemu_instructions() - t0_[handle];
    Add(tags_[handle], dt);
    open_ = handle;  // events end in reverse order of their start
  }

  int count() const { return n_; }
  const TagTotal& total(int i) const { return totals_[i]; }
  void Clear() { n_ = 0; }

 private:
  void Add(const char* tag, uint64_t dt) {
    for (int i = 0; i < n_; ++i) {
      if (totals_[i].tag == tag || std::strcmp(totals_[i].tag, tag) == 0) {
        totals_[i].insns += dt;
        ++totals_[i].calls;
        return;
      }
    }
    if (n_ < kMaxTags) totals_[n_++] = TagTotal{tag, dt, 1};
  }

  const char* tags_[kMaxOpen] = {};
  uint64_t t0_[kMaxOpen] = {};
  uint32_t open_ = 0;
  TagTotal totals_[kMaxTags] = {};
  int n_ = 0;
};

OpProfiler g_profiler;
char g_trace[1024];

void Int(lrh::JsonWriter& w, int v) {
  if (v < 0) {
    w.ch('-');
    w.uint(static_cast<uint32_t>(-v));
  } else {
    w.uint(static_cast<uint32_t>(v));
  }
}

}  // namespace

tflite::MicroProfilerInterface* Profiler() { return &g_profiler; }

void Window(uint32_t start, const int8_t* q, int n, const lrh::FrameStats& frames,
            uint32_t infer_us) {
  lrh::JsonWriter w(g_trace, sizeof g_trace);
  w.raw("{\"trace\":{\"start\":");
  w.uint(start);
  w.raw(",\"q\":[");
  for (int i = 0; i < n; ++i) {
    if (i) w.ch(',');
    Int(w, q[i]);
  }
  w.raw("],\"infer_us\":");
  w.uint(infer_us);
  uint64_t sum = 0;
  for (int i = 0; i < g_profiler.count(); ++i) sum += g_profiler.total(i).insns;
  w.raw(",\"ops_insns\":");
  w.uint(static_cast<uint32_t>(sum));
  w.raw(",\"ops\":{");
  for (int i = 0; i < g_profiler.count(); ++i) {
    if (i) w.ch(',');
    w.str(g_profiler.total(i).tag);
    w.raw(":[");
    w.uint(static_cast<uint32_t>(g_profiler.total(i).insns));
    w.ch(',');
    w.uint(g_profiler.total(i).calls);
    w.ch(']');
  }
  w.raw("},\"frames\":{\"ok\":");
  w.uint(frames.ok);
  w.raw(",\"bad_crc\":");
  w.uint(frames.bad_crc);
  w.raw(",\"malformed\":");
  w.uint(frames.malformed);
  w.raw(",\"out_of_order\":");
  w.uint(frames.out_of_order);
  w.raw(",\"lost\":");
  w.uint(frames.lost);
  w.raw("}}}\n");
  const size_t len = w.finish();
  if (len) board_serial_write(reinterpret_cast<const uint8_t*>(g_trace), len);
  g_profiler.Clear();
}

}  // namespace lrh_trace
