// board.h on the Arduino Nano 33 BLE (nRF52840, Arduino mbed core "arduino:mbed_nano").
//
// Sampling: an mbed::Ticker fires at fs.  mbed's AnalogIn (behind analogRead) takes a mutex,
// which must not happen in interrupt context, so the ticker ISR only sets an event flag and a
// realtime-priority thread does the reads and pushes into the ring (still the single
// producer).  Jitter is the thread wake-up latency (tens of us), far below 1/fs = 8 ms.
#if defined(ARDUINO_ARCH_MBED)

#include <Arduino.h>
#include <mbed.h>
#include <rtos.h>

#include <chrono>

#include "board.h"
#include "frontend_config.h"

namespace {
const int kAdcPins[4] = {A0, A1, A2, A3};
mbed::Ticker g_ticker;
rtos::EventFlags g_tick_flags;
rtos::Thread g_sampler(osPriorityRealtime, 1024);
lrh::SampleRing* g_ring = nullptr;
volatile bool g_enabled = false;
int g_channels = 0;

void OnTick() { g_tick_flags.set(1); }

void SamplerThread() {
  for (;;) {
    g_tick_flags.wait_any(1);
    if (!g_enabled) continue;
    int counts[lrh::kNumLeads];
    bool off[lrh::kNumLeads];
    for (int l = 0; l < lrh::kNumLeads; ++l) {
      counts[l] = analogRead(kAdcPins[l]);
      off[l] = board_lead_off(l);
    }
    g_ring->push(lrh::SampleFromCounts(counts, off, lrh::kFrontEnd));
  }
}
}  // namespace

bool board_begin(float fs_hz, int n_channels, lrh::SampleRing* ring) {
  Serial.begin(115200);
  pinMode(LED_BUILTIN, OUTPUT);
  if (!(fs_hz > 0.0f) || n_channels != lrh::kNumLeads || n_channels > 4 || !ring) return false;
  analogReadResolution(lrh::kFrontEnd.adc_bits);
  for (int l = 0; l < n_channels; ++l) {
    pinMode(lrh::kLeadOffPlusPins[l], INPUT);
    pinMode(lrh::kLeadOffMinusPins[l], INPUT);
  }
  g_ring = ring;
  g_channels = n_channels;
  g_enabled = true;
  g_sampler.start(mbed::callback(SamplerThread));
  g_ticker.attach(&OnTick, std::chrono::microseconds(static_cast<long>(1e6f / fs_hz + 0.5f)));
  return true;
}

void board_sampling(bool enabled) { g_enabled = enabled; }
uint32_t board_millis() { return millis(); }
uint32_t board_micros() { return micros(); }
void board_led(bool on) { digitalWrite(LED_BUILTIN, on ? HIGH : LOW); }

size_t board_serial_write(const uint8_t* data, size_t n) { return Serial.write(data, n); }

size_t board_serial_read(uint8_t* buf, size_t cap) {
  size_t n = 0;
  while (n < cap && Serial.available() > 0) buf[n++] = static_cast<uint8_t>(Serial.read());
  return n;
}

bool board_lead_off(int channel) {
  return digitalRead(lrh::kLeadOffPlusPins[channel]) == HIGH ||
         digitalRead(lrh::kLeadOffMinusPins[channel]) == HIGH;
}

#endif  // ARDUINO_ARCH_MBED
