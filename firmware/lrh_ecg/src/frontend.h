// Analogue front end -> millivolts.  The constants live in firmware/lrh_ecg/frontend_config.h;
// the functions here take them as an argument so the core stays board-independent.
#pragma once
#include <cstdint>

#include "sample.h"

namespace lrh {

struct FrontEnd {
  float gain;              // V/V from electrodes to ADC pin (AD8232 module: 1100)
  float vref_volts;        // ADC reference (full scale), e.g. 3.3
  int adc_bits;            // ADC resolution, e.g. 12
  float offset_counts;     // ADC reading for 0 mV at the electrodes (mid-rail reference)
  int saturation_margin;   // counts from either rail treated as clipped
};

// Electrode millivolts for one ADC reading.
float CountsToMillivolts(int counts, const FrontEnd& fe);

// True when the reading is within saturation_margin counts of 0 or full scale.
bool CountsSaturated(int counts, const FrontEnd& fe);

// Builds a Sample from kNumLeads ADC readings and lead-off inputs (what the sampling ISR does).
Sample SampleFromCounts(const int* counts, const bool* lead_off, const FrontEnd& fe);

// Builds a Sample from kNumLeads int16 microvolt values (replay frames); the int16 rails
// count as saturation because the sender had to clip there.
Sample SampleFromMicrovolts(const int16_t* microvolts);

}  // namespace lrh
