// board.h on QEMU's mps2-an386 (an emulated Cortex-M4F), for testing the firmware without a
// board: `qemu-system-arm -M mps2-an386 -nographic -semihosting -icount shift=0 -kernel ELF`.
// Built only with -DLRH_QEMU (firmware/Makefile `qemu`, with firmware/qemu/ for start-up code).
//
// Time: with -icount shift=0 QEMU advances its virtual clock 1 ns per executed instruction, so
// the CMSDK APB timer0 (25 MHz) ticks once per 40 instructions.  The board clock is modelled as
// a Cortex-M4 executing LRH_QEMU_HZ instructions per second (default 64 MHz at one instruction
// per cycle, the best case of a real Nano 33 BLE): board_micros() = instructions / 64.
// Serial link: semihosting.  Output goes to QEMU's stdout (":tt"); input is the file
// lrh_serial.bin in QEMU's working directory, read as bytes that "have arrived" (replay frames,
// PROTOCOL.md).  ADC: when lrh_adc.bin exists, CMSDK timer1 interrupts at fs in board time and
// its handler reads the next row of int16 ADC counts (one per lead) from that file, converts it
// as the Nano does and pushes it into the ring; a sample the ring cannot take is an overrun,
// and the handler prints {"qemu_drop":[first,count]} for each run of dropped rows, so a host
// can rebuild the samples the firmware saw.  When every input is consumed (serial at end of
// file, ADC finished or stopped, ring empty) the program exits through semihosting, printing
// {"qemu_exit":{"kilo_instructions":N,"adc_rows":R,"dropped":D}}.
#if defined(LRH_QEMU)

#include <cstring>

#include "board.h"
#include "frontend_config.h"
#include "src/json_line.h"

#ifndef LRH_QEMU_HZ
#define LRH_QEMU_HZ 64000000u
#endif

namespace {

// --- ARM semihosting (the "bkpt 0xAB" calls QEMU implements with -semihosting) -------------
enum : int { kSysOpen = 0x01, kSysWrite = 0x05, kSysRead = 0x06, kSysExit = 0x18 };
constexpr int kModeRead = 1;   // "rb"
constexpr int kModeWrite = 4;  // "w" (":tt" = stdout)
constexpr int kAdpStoppedApplicationExit = 0x20026;
constexpr int kAdpStoppedInternalError = 0x20024;

int Semihost(int op, const void* arg) {
  register int r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

int Open(const char* name, int mode) {
  const int args[3] = {reinterpret_cast<int>(name), mode, static_cast<int>(std::strlen(name))};
  return Semihost(kSysOpen, args);
}

// Bytes read (SYS_READ answers how many were *not* read).
size_t Read(int fd, void* buf, size_t n) {
  const int args[3] = {fd, reinterpret_cast<int>(buf), static_cast<int>(n)};
  const int left = Semihost(kSysRead, args);
  return left < 0 ? 0 : n - static_cast<size_t>(left);
}

void Write(int fd, const void* buf, size_t n) {
  const int args[3] = {fd, reinterpret_cast<int>(buf), static_cast<int>(n)};
  Semihost(kSysWrite, args);
}

// --- CMSDK APB timers and the NVIC -----------------------------------------------------------
struct CmsdkTimer {
  volatile uint32_t ctrl;  // bit 0 enable, bit 3 interrupt enable
  volatile uint32_t value;
  volatile uint32_t reload;
  volatile uint32_t intclear;
};
CmsdkTimer* const kTimer0 = reinterpret_cast<CmsdkTimer*>(0x40000000u);
CmsdkTimer* const kTimer1 = reinterpret_cast<CmsdkTimer*>(0x40001000u);
volatile uint32_t* const kNvicIser0 = reinterpret_cast<volatile uint32_t*>(0xE000E100u);
volatile uint32_t* const kNvicIcer0 = reinterpret_cast<volatile uint32_t*>(0xE000E180u);
constexpr uint32_t kTimer1Irq = 9;
constexpr uint32_t kInsnsPerTick = 40;  // 25 MHz timer, 1 ns per instruction

uint64_t g_ticks = 0;  // timer0 ticks since board_begin (extended to 64 bits)
uint32_t g_last = 0;

int g_out = -1;
int g_serial = -1;
bool g_serial_eof = false;
int g_adc = -1;
volatile bool g_adc_done = true;
volatile bool g_sampling = false;
volatile uint32_t g_adc_rows = 0;
volatile uint32_t g_dropped = 0;
volatile uint32_t g_drop_first = 0;
volatile uint32_t g_drop_run = 0;
int g_channels = 0;
lrh::SampleRing* g_ring = nullptr;

void Say(const char* s) { Write(g_out, s, std::strlen(s)); }

void ReportDropRun() {
  if (!g_drop_run) return;
  char line[64];
  lrh::JsonWriter w(line, sizeof line);
  w.raw("{\"qemu_drop\":[");
  w.uint(g_drop_first);
  w.ch(',');
  w.uint(g_drop_run);
  w.raw("]}\n");
  if (w.finish()) Say(line);
  g_drop_run = 0;
}

[[noreturn]] void Exit(bool ok) {
  ReportDropRun();
  char line[128];
  lrh::JsonWriter w(line, sizeof line);
  w.raw("{\"qemu_exit\":{\"kilo_instructions\":");
  // In thousands: 32 bits hold 4.3 T instructions (a reference-kernel run passes 4.3 G).
  w.uint(static_cast<uint32_t>(board_qemu_instructions() / 1000u));
  w.raw(",\"adc_rows\":");
  w.uint(g_adc_rows);
  w.raw(",\"dropped\":");
  w.uint(g_dropped);
  w.raw("}}\n");
  if (w.finish()) Say(line);
  for (;;) Semihost(kSysExit, reinterpret_cast<const void*>(
                                  ok ? kAdpStoppedApplicationExit : kAdpStoppedInternalError));
}

}  // namespace

// The ADC tick: one row of counts per lead from lrh_adc.bin, converted like the Nano's ADC.
extern "C" void TIMER1_Handler() {
  kTimer1->intclear = 1;
  if (!g_sampling || g_adc_done) return;
  int16_t row[lrh::kNumLeads];
  if (Read(g_adc, row, sizeof row) != sizeof row) {
    g_adc_done = true;
    kTimer1->ctrl = 0;
    return;
  }
  int counts[lrh::kNumLeads];
  bool off[lrh::kNumLeads];
  for (int l = 0; l < lrh::kNumLeads; ++l) {
    counts[l] = row[l];
    off[l] = false;
  }
  const uint32_t index = g_adc_rows++;
  if (g_ring->push(lrh::SampleFromCounts(counts, off, lrh::kFrontEnd))) {
    ReportDropRun();
  } else {
    if (!g_drop_run) g_drop_first = index;
    ++g_drop_run;
    ++g_dropped;
  }
}

uint64_t board_qemu_instructions() {
  const uint32_t now = kTimer0->value;  // counts down
  g_ticks += g_last - now;
  g_last = now;
  return g_ticks * kInsnsPerTick;
}

bool board_begin(float fs_hz, int n_channels, lrh::SampleRing* ring) {
  kTimer0->ctrl = 0;
  kTimer0->reload = 0xFFFFFFFFu;
  kTimer0->value = 0xFFFFFFFFu;
  kTimer0->ctrl = 1;
  g_last = kTimer0->value;
  g_out = Open(":tt", kModeWrite);
  if (!(fs_hz > 0.0f) || n_channels != lrh::kNumLeads || !ring) return false;
  g_ring = ring;
  g_channels = n_channels;
  g_serial = Open("lrh_serial.bin", kModeRead);
  g_serial_eof = g_serial < 0;
  g_adc = Open("lrh_adc.bin", kModeRead);
  g_adc_done = g_adc < 0;
  if (!g_adc_done) {
    const uint64_t insns_per_sample = static_cast<uint64_t>(LRH_QEMU_HZ / fs_hz + 0.5f);
    kTimer1->ctrl = 0;
    kTimer1->reload = static_cast<uint32_t>(insns_per_sample / kInsnsPerTick) - 1;
    kTimer1->value = kTimer1->reload;
    kTimer1->intclear = 1;
    *kNvicIser0 = 1u << kTimer1Irq;
    kTimer1->ctrl = 1 | 8;
  }
  g_sampling = true;
  return true;
}

void board_sampling(bool enabled) {
  // Stopping for good (replay mode) also ends the ADC, so the run can finish.
  *kNvicIcer0 = 1u << kTimer1Irq;
  g_sampling = enabled;
  if (!g_adc_done) *kNvicIser0 = 1u << kTimer1Irq;
}

uint32_t board_millis() {
  return static_cast<uint32_t>(board_qemu_instructions() / (LRH_QEMU_HZ / 1000u));
}

uint32_t board_micros() {
  return static_cast<uint32_t>(board_qemu_instructions() / (LRH_QEMU_HZ / 1000000u));
}

void board_led(bool) {}

size_t board_serial_write(const uint8_t* data, size_t n) {
  Write(g_out, data, n);
  return n;
}

size_t board_serial_read(uint8_t* buf, size_t cap) {
  if (!g_serial_eof) {
    const size_t n = Read(g_serial, buf, cap);
    if (n > 0) return n;
    g_serial_eof = true;
  }
  // Nothing more will arrive: finish once the ADC is done (or stopped) and its ring drained.
  if ((g_adc_done || !g_sampling) && g_ring && g_ring->size() == 0) Exit(true);
  return 0;
}

bool board_lead_off(int) { return false; }

extern "C" [[noreturn]] void board_qemu_fail(const char* why) {
  Say(why);
  Exit(false);
}

#endif  // LRH_QEMU
