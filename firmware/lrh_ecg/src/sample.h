// One multi-lead sample as the portable core sees it: millivolts per lead plus flag bits.
#pragma once
#include <cstdint>

#include "model_settings.h"

namespace lrh {

static_assert(kNumLeads >= 1 && kNumLeads <= 4, "flag bytes hold at most 4 leads");

// Bit i: lead i is off (AD8232 LO+/LO- high).  Bit 4 + i: lead i clipped (ADC or int16 rail).
constexpr uint8_t kFlagLeadOff0 = 0x01;
constexpr uint8_t kFlagSaturated0 = 0x10;

inline uint8_t LeadOffBit(int lead) { return static_cast<uint8_t>(kFlagLeadOff0 << lead); }
inline uint8_t SaturatedBit(int lead) { return static_cast<uint8_t>(kFlagSaturated0 << lead); }

struct Sample {
  float mv[kNumLeads];
  uint8_t flags;
};

}  // namespace lrh
