// Umbrella header of the portable firmware core (C++11, no Arduino, no TFLM, no heap).
#pragma once
#include "dsp.h"
#include "frame_codec.h"
#include "frontend.h"
#include "json_line.h"
#include "pipeline.h"
#include "postprocess.h"
#include "ring_buffer.h"
#include "sample.h"
