// The one hardware seam.  board_nano33ble.cpp, board_stm32.cpp, board_host.cpp and
// board_qemu.cpp implement it; each compiles only under its own macro (ARDUINO_ARCH_MBED /
// ARDUINO_ARCH_STM32 / LRH_HOST / LRH_QEMU), and no other file touches hardware.
#pragma once
#include <cstddef>
#include <cstdint>

#include "src/ring_buffer.h"
#include "src/sample.h"

namespace lrh {
// ~2 s of samples at 125 Hz: covers the longest Invoke() with room to spare.
using SampleRing = SpscRing<Sample, 256>;
}  // namespace lrh

// Starts timer-driven sampling of n_channels ADC inputs at fs_hz.  Each tick converts the
// readings with lrh::kFrontEnd (frontend_config.h), sets lead-off/saturation flags and pushes
// one lrh::Sample into ring (the only producer).  Also opens the serial port and the LED.
// Returns false (and samples nothing) when the board cannot do it.
bool board_begin(float fs_hz, int n_channels, lrh::SampleRing* ring);

// Stops/restarts the sampling timer (replay mode feeds samples from serial frames instead).
void board_sampling(bool enabled);

uint32_t board_millis();
uint32_t board_micros();
void board_led(bool on);

// Writes n bytes to the serial port (blocking); returns bytes written.
size_t board_serial_write(const uint8_t* data, size_t n);
// Reads up to cap bytes that have already arrived (never blocks); returns bytes read.
size_t board_serial_read(uint8_t* buf, size_t cap);

// Current state of the AD8232 lead-off outputs of one channel (LO+ or LO- high).
bool board_lead_off(int channel);

#if defined(LRH_HOST)
// Host build only: where the "ADC" and the "serial port" read from.  Text mode: one line per
// sample, n_channels numbers separated by spaces/commas (mV, or ADC counts when counts is
// true); '#' starts a comment.  Binary mode: board_serial_read() returns the raw bytes.
bool board_host_open(const char* path, bool counts);
// Host stand-in for one timer tick: reads the next text line and pushes its sample.
// Returns 1 on a sample, 0 at end of input, -1 on a malformed line (message on stderr).
int board_host_tick();
#endif

#if defined(LRH_QEMU)
// Emulator build only: instructions executed since board_begin (QEMU -icount shift=0).
uint64_t board_qemu_instructions();
// Prints why (a JSON line) and ends the emulation with a failure status (C linkage: the
// start-up code's fault handlers call it).
extern "C" [[noreturn]] void board_qemu_fail(const char* why);
#endif
