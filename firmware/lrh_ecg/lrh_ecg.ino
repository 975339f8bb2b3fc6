// LRH-Net ECG classifier on a microcontroller (Arduino Nano 33 BLE, or STM32 NUCLEO-L476RG).
//
// setup(): TFLM interpreter over the generated model (src/model_data.cc), checks that the
// model's tensors are exactly what src/model_settings.h promises, starts timer sampling.
// loop(): drains the sample ring (filled by the timer), runs the portable preprocessing
// (src/), runs inference when a window is due (never in the interrupt), writes one JSON line
// per window to Serial (and a BLE characteristic on the Nano 33 BLE).  Bytes arriving on
// Serial are decoded as replay frames (firmware/PROTOCOL.md): the first valid frame switches
// the board from its ADC to the host's samples.
//
// Hardware is reached only through board.h.  Regenerate the model files with
//   lrh-tflm export ... --firmware firmware/lrh_ecg
// TFLM: on the Arduino mbed boards (Nano 33 BLE) the Library Manager's Chirale_TensorFlowLite,
// whose umbrella header makes the Arduino builder compile the library; on STM32duino a TFLM
// tree installed as a library named TensorFlowLite (README.md); elsewhere (the emulator build,
// a stand-alone TFLM tree on the include path) no umbrella header at all.
#if defined(ARDUINO_ARCH_MBED)
#include <Chirale_TensorFlowLite.h>
#elif defined(ARDUINO_ARCH_STM32)
#include <TensorFlowLite.h>
#endif

#include <new>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "board.h"
#include "frontend_config.h"
#include "src/lrh_core.h"
#include "src/model_data.h"
#include "src/model_ops.h"
#include "src/model_settings.h"

// Emulator builds only (firmware/Makefile `qemu`): a per-operator profiler and one extra trace
// line per window with the raw int8 outputs and the frame counters, for the host to compare.
#if defined(LRH_TRACE)
#include "lrh_trace.h"
#define LRH_PROFILER lrh_trace::Profiler()
#else
#define LRH_PROFILER nullptr
#endif

#if defined(ARDUINO_ARCH_MBED) && defined(ARDUINO_ARDUINO_NANO33BLE)
#include <ArduinoBLE.h>
#define LRH_BLE 1
#endif

namespace {

alignas(16) uint8_t g_arena[lrh::kArenaBytes];
lrh::SampleRing g_ring;
lrh::Pipeline g_pipeline;
lrh::FrameDecoder g_decoder;
lrh::KOfNSmoother g_smoother(lrh::kSmoothK, lrh::kSmoothN);  // k of n: model_settings.h
tflite::MicroMutableOpResolver<lrh::kNumModelOps> g_resolver;
// The interpreter lives in static storage (no heap); constructed in setup().
alignas(tflite::MicroInterpreter) uint8_t g_interpreter_storage[sizeof(tflite::MicroInterpreter)];
tflite::MicroInterpreter* g_interpreter = nullptr;
TfLiteTensor* g_ecg = nullptr;
TfLiteTensor* g_demo = nullptr;
// The default demographics, quantised once.  Written into the input before *every* Invoke():
// TFLM's memory planner may reuse an input's arena bytes for later tensors once the input has
// been read (the emulator caught the second window of a model going wrong when it was not).
int8_t g_demo_q[lrh::kNumDemographics];
TfLiteTensor* g_out = nullptr;
float g_in_scale = 0.0f;
int g_in_zero_point = 0;
bool g_replay = false;
float g_probs[lrh::kNumClasses];
char g_line[768];

#if defined(LRH_BLE)
// Payload: u32 smoothed mask, u32 raw mask, then one byte per class = round(255 * p).
constexpr int kBlePayload = 8 + lrh::kNumClasses;
BLEService g_ble_service("6e4a0001-6c72-682d-6563-672d6e657400");
BLECharacteristic g_ble_result("6e4a0002-6c72-682d-6563-672d6e657400", BLERead | BLENotify,
                               kBlePayload);
bool g_ble_ok = false;
#endif

}  // namespace

// Functions are file-static at global scope, not in the namespace above: the Arduino builder
// generates prototypes for .ino functions and does not place them inside namespaces.
static void WriteLine(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  board_serial_write(reinterpret_cast<const uint8_t*>(s), n);
}

// Unrecoverable set-up error: say why on Serial every few seconds and blink fast forever.
static void Halt(const char* why) {
  lrh::JsonWriter w(g_line, sizeof g_line);
  w.raw("{\"error\":");
  w.str(why);
  w.raw("}\n");
  w.finish();
  for (uint32_t i = 0;; ++i) {
    if (i % 30 == 0) WriteLine(g_line);
    board_led(i % 2 == 0);
    const uint32_t t0 = board_millis();
    while (board_millis() - t0 < 100) {
    }
  }
}

static bool SameFloat(float a, float b) {
  const float d = a > b ? a - b : b - a;
  return d <= 1e-6f * (a > 0 ? a : -a);
}

static bool HasShape(const TfLiteTensor* t, const int* dims, int n) {
  if (!t || !t->dims || t->dims->size != n) return false;
  for (int i = 0; i < n; ++i)
    if (t->dims->data[i] != dims[i]) return false;
  return true;
}

static void SetUpModel() {
  const tflite::Model* model = tflite::GetModel(lrh::kModelData);
  if (model->version() != TFLITE_SCHEMA_VERSION) Halt("model schema version differs from TFLM's");
  if (lrh::RegisterModelOps(g_resolver) != 0) Halt("op registration failed (model_ops.h)");
  g_interpreter = new (g_interpreter_storage)
      tflite::MicroInterpreter(model, g_resolver, g_arena, lrh::kArenaBytes, nullptr, LRH_PROFILER);
  if (g_interpreter->AllocateTensors() != kTfLiteOk)
    Halt("AllocateTensors failed: arena too small for this model (kArenaBytes)");

  const int ecg_dims[4] = {1, 1, lrh::kWindowSamples, lrh::kNumLeads};
  const int demo_dims[2] = {1, lrh::kNumDemographics};
  TfLiteTensor* demo = nullptr;
  for (size_t i = 0; i < g_interpreter->inputs_size(); ++i) {
    TfLiteTensor* t = g_interpreter->input(i);
    if (HasShape(t, ecg_dims, 4)) g_ecg = t;
    else if (HasShape(t, demo_dims, 2)) demo = t;
  }
  g_demo = demo;
  if (!g_ecg || g_ecg->type != kTfLiteInt8)
    Halt("no int8 ecg input [1,1,kWindowSamples,kNumLeads] as model_settings.h says");
  if (lrh::kHasDemographics != (demo != nullptr) || (demo && demo->type != kTfLiteInt8))
    Halt("demographics input does not match model_settings.h");
  g_in_scale = g_ecg->params.scale;
  g_in_zero_point = g_ecg->params.zero_point;
  if (!SameFloat(g_in_scale, lrh::kInputScale) || g_in_zero_point != lrh::kInputZeroPoint)
    Halt("ecg input scale/zero point differ from model_settings.h");

  g_out = g_interpreter->output(0);
  int n_out = 1;
  for (int i = 0; g_out && g_out->dims && i < g_out->dims->size; ++i) n_out *= g_out->dims->data[i];
  if (!g_out || g_out->type != kTfLiteInt8 || n_out != lrh::kNumClasses)
    Halt("output is not int8 with kNumClasses values");
  if (!SameFloat(g_out->params.scale, lrh::kOutputScale) ||
      g_out->params.zero_point != lrh::kOutputZeroPoint)
    Halt("output scale/zero point differ from model_settings.h");

  // Age and sex are unknown on the device: the default vector, quantised once.
  if (demo) {
    for (int i = 0; i < lrh::kNumDemographics; ++i)
      g_demo_q[i] = lrh::QuantiseValue(lrh::kDemographicsDefault[i], demo->params.scale,
                                       demo->params.zero_point);
  }
}

static void SayHello() {
  lrh::JsonWriter w(g_line, sizeof g_line);
  w.raw("{\"hello\":\"lrh_ecg\",\"model_sha256\":");
  w.str(lrh::kModelSha256);
  w.raw(",\"fs\":");
  w.fixed(lrh::kSampleRateHz, 2);
  w.raw(",\"window\":");
  w.uint(lrh::kWindowSamples);
  w.raw(",\"hop\":");
  w.uint(static_cast<uint32_t>(g_pipeline.hop()));
  w.raw(",\"leads\":[");
  for (int l = 0; l < lrh::kNumLeads; ++l) {
    if (l) w.ch(',');
    w.str(lrh::kLeadNames[l]);
  }
  w.raw("],\"classes\":[");
  for (int c = 0; c < lrh::kNumClasses; ++c) {
    if (c) w.ch(',');
    w.str(lrh::kClassAbbrev[c]);
  }
  w.raw("],\"arena_used\":");
  w.uint(static_cast<uint32_t>(g_interpreter->arena_used_bytes()));
  w.raw(",\"arena\":");
  w.uint(lrh::kArenaBytes);
  w.raw("}\n");
  if (w.finish()) WriteLine(g_line);
}

static void SetUpBle() {
#if defined(LRH_BLE)
  if (!BLE.begin()) return;  // Serial output still works without BLE
  BLE.setLocalName("lrh-ecg");
  BLE.setAdvertisedService(g_ble_service);
  g_ble_service.addCharacteristic(g_ble_result);
  BLE.addService(g_ble_service);
  BLE.advertise();
  g_ble_ok = true;
#endif
}

static void PublishBle(uint32_t smoothed, uint32_t raw) {
#if defined(LRH_BLE)
  if (!g_ble_ok) return;
  uint8_t p[kBlePayload];
  for (int i = 0; i < 4; ++i) {
    p[i] = static_cast<uint8_t>(smoothed >> (8 * i));
    p[4 + i] = static_cast<uint8_t>(raw >> (8 * i));
  }
  for (int c = 0; c < lrh::kNumClasses; ++c)
    p[8 + c] = static_cast<uint8_t>(g_probs[c] * 255.0f + 0.5f);
  g_ble_result.writeValue(p, kBlePayload);
#else
  (void)smoothed;
  (void)raw;
#endif
}

static void RunWindow() {
  g_pipeline.quantize(g_ecg->data.int8, g_in_scale, g_in_zero_point);
  if (g_demo)
    for (int i = 0; i < lrh::kNumDemographics; ++i) g_demo->data.int8[i] = g_demo_q[i];
  const uint32_t t0 = board_micros();
  const TfLiteStatus status = g_interpreter->Invoke();
  const uint32_t infer_us = board_micros() - t0;
  if (status != kTfLiteOk) {
    WriteLine("{\"error\":\"Invoke failed\"}\n");
    return;
  }
  const uint32_t raw = lrh::Decide(g_out->data.int8, g_probs);
  const uint32_t smoothed = g_smoother.update(raw);
  lrh::WindowReport r;
  r.t_ms = board_millis();
  r.start = g_pipeline.window_start();
  r.probs = g_probs;
  r.decisions = raw;
  r.smoothed = smoothed;
  r.infer_us = infer_us;
  r.lead_off = g_pipeline.lead_off_mask();
  r.saturated = g_pipeline.saturated_mask();
  r.overruns = g_ring.overruns();
  r.missed = g_decoder.stats().lost;
  if (lrh::FormatWindowJson(r, g_line, sizeof g_line)) WriteLine(g_line);
#if defined(LRH_TRACE)
  lrh_trace::Window(r.start, g_out->data.int8, lrh::kNumClasses, g_decoder.stats(), infer_us);
#endif
  PublishBle(smoothed, raw);
  board_led(smoothed != 0);
}

static void PushSample(const lrh::Sample& s) {
  if (g_pipeline.push(s)) RunWindow();
}

// Replay frames from the host; the first valid frame turns the ADC off for good.
static void PollSerial() {
  uint8_t bytes[64];
  size_t n;
  while ((n = board_serial_read(bytes, sizeof bytes)) > 0) {
    for (size_t i = 0; i < n; ++i) {
      if (g_decoder.feed(bytes[i]) != lrh::FrameDecoder::kFrame) continue;
      if (!g_replay) {
        board_sampling(false);
        g_ring.clear();
        g_replay = true;
        g_pipeline.reset();
        g_smoother.reset();
      }
      if (g_decoder.type() == lrh::kFrameReset) {
        g_pipeline.reset();
        g_smoother.reset();
        continue;
      }
      int16_t row[lrh::kNumLeads];
      for (int k = 0; k < g_decoder.num_samples(); ++k) {
        g_decoder.samples_row(k, row);
        if (g_decoder.type() == lrh::kFrameSamplesCounts) {
          int counts[lrh::kNumLeads];
          bool off[lrh::kNumLeads];
          for (int l = 0; l < lrh::kNumLeads; ++l) {
            counts[l] = row[l];
            off[l] = false;
          }
          PushSample(lrh::SampleFromCounts(counts, off, lrh::kFrontEnd));
        } else {
          PushSample(lrh::SampleFromMicrovolts(row));
        }
      }
    }
  }
}

void setup() {
  if (!board_begin(lrh::kSampleRateHz, lrh::kNumLeads, &g_ring)) Halt("board_begin failed");
  board_sampling(false);  // no samples pile up while the model is set up
  SetUpModel();
  SetUpBle();
  SayHello();
  board_sampling(true);
}

void loop() {
  PollSerial();
  lrh::Sample s;
  while (!g_replay && g_ring.pop(&s)) PushSample(s);
#if defined(LRH_BLE)
  if (g_ble_ok) BLE.poll();
#endif
}
