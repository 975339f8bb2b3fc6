// Host driver: runs the exact firmware preprocessing on recorded samples and prints every
// int8 window, so Python can feed them to the TFLM host runtime and compare.
//
//   lrh_host [--counts] [--frames] [--hop N] [INPUT|-]
//
// Input (default stdin): text, one sample per line, one number per lead (mV; ADC counts with
// --counts), separated by spaces or commas; or with --frames the binary replay frames of
// firmware/PROTOCOL.md, exactly as the board would receive them over serial.
// Output, one line per window:
//   W <start> <lead_off_mask> <saturated_mask> <q[0]> ... <q[kWindowSamples*kNumLeads-1]>
// (q index = t * kNumLeads + lead), then one summary line:
//   S samples=<n> windows=<n> overruns=<n> frames_ok=<n> bad_crc=<n> malformed=<n>
//     out_of_order=<n> lost=<n>
// Exit status 0 on success, 2 on bad usage or malformed input (message on stderr).
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "board.h"
#include "frontend_config.h"
#include "src/lrh_core.h"

namespace {

lrh::SampleRing g_ring;
int8_t g_window[lrh::kWindowSamples * lrh::kNumLeads];

void PrintWindow(const lrh::Pipeline& p) {
  p.quantize(g_window, lrh::kInputScale, lrh::kInputZeroPoint);
  std::printf("W %lu %u %u", static_cast<unsigned long>(p.window_start()), p.lead_off_mask(),
              p.saturated_mask());
  for (int i = 0; i < lrh::kWindowSamples * lrh::kNumLeads; ++i) std::printf(" %d", g_window[i]);
  std::printf("\n");
}

int Usage() {
  std::fprintf(stderr, "usage: lrh_host [--counts] [--frames] [--hop N] [INPUT|-]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool counts = false;
  bool frames = false;
  int hop = lrh::kHopSamples;
  const char* path = "-";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--counts")) {
      counts = true;
    } else if (!std::strcmp(argv[i], "--frames")) {
      frames = true;
    } else if (!std::strcmp(argv[i], "--hop") && i + 1 < argc) {
      char* end = nullptr;
      const long h = std::strtol(argv[++i], &end, 10);
      if (*end || h < 1 || h > 1000000) {
        std::fprintf(stderr, "error: --hop must be a positive integer, got %s\n", argv[i]);
        return 2;
      }
      hop = static_cast<int>(h);
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return Usage();
    } else {
      path = argv[i];
    }
  }
  if (!board_host_open(path, counts)) return 2;
  if (!board_begin(lrh::kSampleRateHz, lrh::kNumLeads, &g_ring)) {
    std::fprintf(stderr, "error: board_begin failed\n");
    return 2;
  }
  lrh::Pipeline pipeline(hop);
  unsigned long windows = 0;
  lrh::FrameDecoder decoder;
  if (frames) {
    // Replay mode, as in the sketch: the sampling timer is off and frames feed the pipeline.
    board_sampling(false);
    uint8_t bytes[256];
    size_t n;
    while ((n = board_serial_read(bytes, sizeof bytes)) > 0) {
      for (size_t b = 0; b < n; ++b) {
        if (decoder.feed(bytes[b]) != lrh::FrameDecoder::kFrame) continue;
        if (decoder.type() == lrh::kFrameReset) {
          pipeline.reset();
          continue;
        }
        for (int i = 0; i < decoder.num_samples(); ++i) {
          int16_t row[lrh::kNumLeads];
          decoder.samples_row(i, row);
          lrh::Sample s;
          if (decoder.type() == lrh::kFrameSamplesCounts) {
            int c[lrh::kNumLeads];
            bool off[lrh::kNumLeads];
            for (int l = 0; l < lrh::kNumLeads; ++l) {
              c[l] = row[l];
              off[l] = false;
            }
            s = lrh::SampleFromCounts(c, off, lrh::kFrontEnd);
          } else {
            s = lrh::SampleFromMicrovolts(row);
          }
          if (pipeline.push(s)) {
            PrintWindow(pipeline);
            ++windows;
          }
        }
      }
    }
  } else {
    int r;
    while ((r = board_host_tick()) == 1) {
      lrh::Sample s;
      while (g_ring.pop(&s)) {
        if (pipeline.push(s)) {
          PrintWindow(pipeline);
          ++windows;
        }
      }
    }
    if (r < 0) return 2;
  }
  const lrh::FrameStats& st = decoder.stats();
  std::printf("S samples=%lu windows=%lu overruns=%lu frames_ok=%lu bad_crc=%lu malformed=%lu "
              "out_of_order=%lu lost=%lu\n",
              static_cast<unsigned long>(pipeline.samples_seen()), windows,
              static_cast<unsigned long>(g_ring.overruns()), static_cast<unsigned long>(st.ok),
              static_cast<unsigned long>(st.bad_crc), static_cast<unsigned long>(st.malformed),
              static_cast<unsigned long>(st.out_of_order), static_cast<unsigned long>(st.lost));
  return 0;
}
