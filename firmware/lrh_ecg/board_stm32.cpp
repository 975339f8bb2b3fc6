// board.h on STM32 boards with the STM32duino core (e.g. NUCLEO-L476RG,
// FQBN STMicroelectronics:stm32:Nucleo_64:pnum=NUCLEO_L476RG).
//
// Sampling: a HardwareTimer (TIM2) interrupt at fs reads the ADC and pushes into the ring.
// STM32duino's analogRead polls the ADC (a few tens of us) and is safe in an interrupt.
#if defined(ARDUINO_ARCH_STM32)

#include <Arduino.h>
#include <HardwareTimer.h>

#include <new>

#include "board.h"
#include "frontend_config.h"

namespace {
const uint32_t kAdcPins[4] = {A0, A1, A2, A3};
// Constructed in board_begin (static storage, no heap): the timer clocks are not set up
// during static initialisation.
alignas(HardwareTimer) uint8_t g_timer_storage[sizeof(HardwareTimer)];
HardwareTimer* g_timer = nullptr;
lrh::SampleRing* g_ring = nullptr;
volatile bool g_enabled = false;

void OnTick() {
  if (!g_enabled) return;
  int counts[lrh::kNumLeads];
  bool off[lrh::kNumLeads];
  for (int l = 0; l < lrh::kNumLeads; ++l) {
    counts[l] = analogRead(kAdcPins[l]);
    off[l] = board_lead_off(l);
  }
  g_ring->push(lrh::SampleFromCounts(counts, off, lrh::kFrontEnd));
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
  g_enabled = true;
  g_timer = new (g_timer_storage) HardwareTimer(TIM2);
  g_timer->setOverflow(static_cast<uint32_t>(1e6f / fs_hz + 0.5f), MICROSEC_FORMAT);
  g_timer->attachInterrupt(OnTick);
  g_timer->resume();
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

#endif  // ARDUINO_ARCH_STM32
