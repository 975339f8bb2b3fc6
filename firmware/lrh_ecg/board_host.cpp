// Host implementation of board.h: the "ADC" is a text file or stdin, the "serial port" is the
// same stream read as bytes and stdout.  Built only with -DLRH_HOST (firmware/Makefile).
#if defined(LRH_HOST)

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "board.h"
#include "frontend_config.h"

namespace {
FILE* g_in = nullptr;
bool g_counts = false;
bool g_sampling = false;
int g_channels = 0;
long g_line = 0;
lrh::SampleRing* g_ring = nullptr;
const std::chrono::steady_clock::time_point g_t0 = std::chrono::steady_clock::now();
}  // namespace

bool board_host_open(const char* path, bool counts) {
  g_counts = counts;
  if (!path || std::strcmp(path, "-") == 0) {
    g_in = stdin;
    return true;
  }
  g_in = std::fopen(path, "rb");
  if (!g_in) std::fprintf(stderr, "error: cannot open input %s\n", path);
  return g_in != nullptr;
}

bool board_begin(float fs_hz, int n_channels, lrh::SampleRing* ring) {
  if (!(fs_hz > 0.0f) || n_channels != lrh::kNumLeads || !ring || !g_in) return false;
  g_channels = n_channels;
  g_ring = ring;
  g_sampling = true;
  return true;
}

void board_sampling(bool enabled) { g_sampling = enabled; }

int board_host_tick() {
  if (!g_sampling || !g_in) return 0;
  char line[512];
  while (std::fgets(line, sizeof line, g_in)) {
    ++g_line;
    char* hash = std::strchr(line, '#');
    if (hash) *hash = '\0';
    double v[lrh::kNumLeads];
    int n = 0;
    char* p = line;
    for (;;) {
      while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r' || *p == '\n') ++p;
      if (!*p) break;
      char* end = nullptr;
      const double x = std::strtod(p, &end);
      if (end == p) {
        std::fprintf(stderr, "error: input line %ld: not a number: %.40s\n", g_line, p);
        return -1;
      }
      if (!std::isfinite(x)) {
        std::fprintf(stderr, "error: input line %ld: non-finite value\n", g_line);
        return -1;
      }
      if (n < lrh::kNumLeads) v[n] = x;
      ++n;
      p = end;
    }
    if (n == 0) continue;  // blank or comment-only line
    if (n != g_channels) {
      std::fprintf(stderr, "error: input line %ld: expected %d values (one per lead), got %d\n",
                   g_line, g_channels, n);
      return -1;
    }
    lrh::Sample s;
    if (g_counts) {
      int counts[lrh::kNumLeads];
      bool off[lrh::kNumLeads];
      for (int l = 0; l < lrh::kNumLeads; ++l) {
        counts[l] = static_cast<int>(v[l]);
        off[l] = false;
      }
      s = lrh::SampleFromCounts(counts, off, lrh::kFrontEnd);
    } else {
      s.flags = 0;
      for (int l = 0; l < lrh::kNumLeads; ++l) s.mv[l] = static_cast<float>(v[l]);
    }
    g_ring->push(s);
    return 1;
  }
  return 0;
}

uint32_t board_millis() { return board_micros() / 1000u; }

uint32_t board_micros() {
  const auto dt = std::chrono::steady_clock::now() - g_t0;
  return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(dt).count());
}

void board_led(bool) {}

size_t board_serial_write(const uint8_t* data, size_t n) {
  return std::fwrite(data, 1, n, stdout);
}

size_t board_serial_read(uint8_t* buf, size_t cap) {
  return g_in ? std::fread(buf, 1, cap, g_in) : 0;
}

bool board_lead_off(int) { return false; }

#endif  // LRH_HOST
