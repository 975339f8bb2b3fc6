// Compiled by `make arm` only, so that arm-none-eabi-size also reports the RAM the core's
// static state takes in the sketch (same objects as lrh_ecg.ino keeps, minus the TFLM arena).
#include "board.h"
#include "src/lrh_core.h"

namespace lrh_footprint {
lrh::SampleRing ring;
lrh::Pipeline pipeline;
lrh::FrameDecoder decoder;
lrh::KOfNSmoother smoother(2, 3);
float probs[lrh::kNumClasses];
char json[512];
}  // namespace lrh_footprint
