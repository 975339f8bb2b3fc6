// Analogue front-end constants: change these when the hardware changes, nothing else.
//
// Default hardware: one SparkFun-style AD8232 heart-rate monitor board per lead.
// - AD8232 module gain: instrumentation amp 100 V/V x output stage 11 V/V = 1100 V/V.
// - The module is powered from the board's 3.3 V rail and its reference (REFOUT) sits at
//   mid-supply, so 0 mV at the electrodes reads half of full scale.
// - ADC: 12 bits against a 3.3 V reference (analogReadResolution(12) on both the nRF52840
//   and the STM32L476).  One count = 3.3 V / 4096 / 1100 = 0.73 uV at the electrodes;
//   full scale = +/-1.5 mV, the AD8232 module's usable ECG range.
// - Readings within kSaturationMargin counts of either rail are flagged as clipped.
#pragma once
#include "src/frontend.h"

namespace lrh {

constexpr FrontEnd kFrontEnd = {
    1100.0f,  // gain, V/V
    3.3f,     // vref_volts
    12,       // adc_bits
    2048.0f,  // offset_counts: mid-rail
    8,        // saturation_margin, counts
};

// Arduino pins: lead i is sampled on kAdcPins[i]; its AD8232 LO+/LO- outputs on
// kLeadOffPlusPins[i]/kLeadOffMinusPins[i] (numbers are Arduino digital pin numbers).
constexpr int kLeadOffPlusPins[4] = {10, 8, 6, 4};
constexpr int kLeadOffMinusPins[4] = {11, 9, 7, 5};

}  // namespace lrh
