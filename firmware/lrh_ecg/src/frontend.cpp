#include "frontend.h"

namespace lrh {

float CountsToMillivolts(int counts, const FrontEnd& fe) {
  const float full_scale = static_cast<float>(1L << fe.adc_bits);
  const float volts_at_pin = (static_cast<float>(counts) - fe.offset_counts) * fe.vref_volts / full_scale;
  return volts_at_pin / fe.gain * 1000.0f;
}

bool CountsSaturated(int counts, const FrontEnd& fe) {
  const int top = static_cast<int>((1L << fe.adc_bits) - 1);
  return counts <= fe.saturation_margin || counts >= top - fe.saturation_margin;
}

Sample SampleFromCounts(const int* counts, const bool* lead_off, const FrontEnd& fe) {
  Sample s;
  s.flags = 0;
  for (int lead = 0; lead < kNumLeads; ++lead) {
    s.mv[lead] = CountsToMillivolts(counts[lead], fe);
    if (CountsSaturated(counts[lead], fe)) s.flags |= SaturatedBit(lead);
    if (lead_off[lead]) s.flags |= LeadOffBit(lead);
  }
  return s;
}

Sample SampleFromMicrovolts(const int16_t* microvolts) {
  Sample s;
  s.flags = 0;
  for (int lead = 0; lead < kNumLeads; ++lead) {
    s.mv[lead] = static_cast<float>(microvolts[lead]) / 1000.0f;
    if (microvolts[lead] == INT16_MAX || microvolts[lead] == INT16_MIN) s.flags |= SaturatedBit(lead);
  }
  return s;
}

}  // namespace lrh
