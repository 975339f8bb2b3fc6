// Unit tests of the portable core (built by `make -C firmware host`, run by
// tests/test_firmware_core.py).  Prints one line per failed check and a summary; exit status
// 0 only when every check passed.
#include <cmath>
#include <cstdio>
#include <cstring>

#include "frontend_config.h"
#include "src/lrh_core.h"

namespace {

int g_checks = 0;
int g_failures = 0;

#define CHECK(cond)                                                      \
  do {                                                                   \
    ++g_checks;                                                          \
    if (!(cond)) {                                                       \
      ++g_failures;                                                      \
      std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);        \
    }                                                                    \
  } while (0)

void TestRingWrapAround() {
  lrh::SpscRing<int, 8> ring;
  int next_in = 0, next_out = 0;
  bool order_ok = true;
  // Interleave pushes and pops so head/tail wrap the 8 slots many times.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 5; ++i) CHECK(ring.push(next_in++));
    int v = -1;
    for (int i = 0; i < 5; ++i) {
      CHECK(ring.pop(&v));
      order_ok = order_ok && v == next_out++;
    }
  }
  CHECK(order_ok);
  CHECK(ring.size() == 0);
  int v = -1;
  CHECK(!ring.pop(&v));
  CHECK(ring.overruns() == 0);
}

void TestRingOverrun() {
  lrh::SpscRing<int, 4> ring;
  for (int i = 0; i < 4; ++i) CHECK(ring.push(i));
  CHECK(!ring.push(99));
  CHECK(!ring.push(100));
  CHECK(ring.overruns() == 2);
  CHECK(ring.size() == 4);
  int v = -1;
  CHECK(ring.pop(&v) && v == 0);  // oldest kept, newest dropped
  CHECK(ring.push(4));
  for (int want = 1; want <= 4; ++want) CHECK(ring.pop(&v) && v == want);
  ring.push(7);
  ring.clear();
  CHECK(ring.size() == 0);
}

void Push(lrh::Windower& w, float value, uint8_t flags, bool* ready) {
  float mv[lrh::kNumLeads];
  for (int l = 0; l < lrh::kNumLeads; ++l) mv[l] = value + 1000.0f * l;
  *ready = w.push(mv, flags);
}

void TestHopBoundaries(int hop) {
  lrh::Windower w(hop);
  const int total = lrh::kWindowSamples + 6 * hop - 1;  // 6 windows, stop 1 short of a 7th
  int windows = 0;
  bool ready = false;
  bool boundaries_ok = true;
  for (int i = 0; i < total; ++i) {
    Push(w, static_cast<float>(i), 0, &ready);
    const int n = i + 1;
    const bool due = n >= lrh::kWindowSamples && (n - lrh::kWindowSamples) % hop == 0;
    boundaries_ok = boundaries_ok && ready == due;
    if (ready) {
      boundaries_ok = boundaries_ok && w.window_start() == static_cast<uint32_t>(windows * hop);
      ++windows;
    }
  }
  CHECK(boundaries_ok);
  CHECK(windows == 6);
}

void TestWindowOrderAfterWrap() {
  // Ramp input, no normalisation effect on order: after wrap-around the quantised window must
  // still be oldest-first, i.e. strictly increasing for lead 0 (scale chosen so that one
  // sample step is > 1 LSB).
  lrh::Windower w(7);
  bool ready = false;
  int n = 0;
  for (; n < lrh::kWindowSamples + 3 * 7; ++n) Push(w, static_cast<float>(n % 100000), 0, &ready);
  CHECK(ready);
  static float lin[lrh::kWindowSamples * lrh::kNumLeads];
  const uint32_t start = w.window_start();
  for (int t = 0; t < lrh::kWindowSamples; ++t)
    for (int l = 0; l < lrh::kNumLeads; ++l) lin[t * lrh::kNumLeads + l] = static_cast<float>(start + t) + 1000.0f * l;
  static int8_t a[lrh::kWindowSamples * lrh::kNumLeads];
  static int8_t b[lrh::kWindowSamples * lrh::kNumLeads];
  w.quantize(a, 0.01f, 0);
  lrh::NormaliseQuantise(lin, lrh::kWindowSamples, lrh::kNumLeads, 0, 0.01f, 0, b);
  CHECK(std::memcmp(a, b, sizeof a) == 0);
  CHECK(a[0] == -128 && a[(lrh::kWindowSamples - 1) * lrh::kNumLeads] == 127);
  bool nondecreasing = true;
  for (int t = 1; t < lrh::kWindowSamples; ++t)
    nondecreasing = nondecreasing && a[t * lrh::kNumLeads] >= a[(t - 1) * lrh::kNumLeads];
  CHECK(nondecreasing);
}

void TestWindowFlags() {
  lrh::Windower w(lrh::kWindowSamples);
  bool ready = false;
  Push(w, 0.0f, lrh::LeadOffBit(0) | lrh::SaturatedBit(lrh::kNumLeads - 1), &ready);
  for (int i = 1; i < lrh::kWindowSamples; ++i) Push(w, 0.0f, 0, &ready);
  CHECK(ready);
  CHECK(w.window_flags() == (lrh::LeadOffBit(0) | lrh::SaturatedBit(lrh::kNumLeads - 1)));
  // The flagged sample leaves the window after kWindowSamples more samples.
  for (int i = 0; i < lrh::kWindowSamples; ++i) Push(w, 0.0f, 0, &ready);
  CHECK(ready);
  CHECK(w.window_flags() == 0);
  w.reset();
  CHECK(w.samples_seen() == 0 && w.window_flags() == 0);
}

void TestFrontEnd() {
  const lrh::FrontEnd& fe = lrh::kFrontEnd;
  CHECK(std::fabs(lrh::CountsToMillivolts(2048, fe)) < 1e-9f);
  const float lsb_mv = 3.3f / 4096.0f / 1100.0f * 1000.0f;
  CHECK(std::fabs(lrh::CountsToMillivolts(2049, fe) - lsb_mv) < 1e-9f);
  CHECK(std::fabs(lrh::CountsToMillivolts(0, fe) + 2048 * lsb_mv) < 1e-6f);
  CHECK(lrh::CountsSaturated(0, fe) && lrh::CountsSaturated(4095, fe));
  CHECK(lrh::CountsSaturated(8, fe) && lrh::CountsSaturated(4087, fe));
  CHECK(!lrh::CountsSaturated(9, fe) && !lrh::CountsSaturated(4086, fe) && !lrh::CountsSaturated(2048, fe));
  int counts[lrh::kNumLeads];
  bool off[lrh::kNumLeads];
  for (int l = 0; l < lrh::kNumLeads; ++l) {
    counts[l] = 2048;
    off[l] = false;
  }
  counts[0] = 4095;
  off[lrh::kNumLeads - 1] = true;
  const lrh::Sample s = lrh::SampleFromCounts(counts, off, fe);
  CHECK(s.flags == (lrh::SaturatedBit(0) | lrh::LeadOffBit(lrh::kNumLeads - 1)));
  int16_t uv[lrh::kNumLeads];
  for (int l = 0; l < lrh::kNumLeads; ++l) uv[l] = 1500;
  uv[0] = -32768;
  const lrh::Sample m = lrh::SampleFromMicrovolts(uv);
  CHECK(m.flags == lrh::SaturatedBit(0));
  CHECK(std::fabs(m.mv[lrh::kNumLeads - 1] - 1.5f) < 1e-6f);
}

void TestQuantise() {
  // Round half to even, like np.rint.
  CHECK(lrh::QuantiseValue(0.5f, 1.0f, 0) == 0);
  CHECK(lrh::QuantiseValue(1.5f, 1.0f, 0) == 2);
  CHECK(lrh::QuantiseValue(2.5f, 1.0f, 0) == 2);
  CHECK(lrh::QuantiseValue(-0.5f, 1.0f, 0) == 0);
  CHECK(lrh::QuantiseValue(-1.5f, 1.0f, 0) == -2);
  CHECK(lrh::QuantiseValue(0.26f, 0.125f, -3) == -1);
  CHECK(lrh::QuantiseValue(1e30f, 0.1f, 0) == 127);
  CHECK(lrh::QuantiseValue(-1e30f, 0.1f, 0) == -128);
  CHECK(lrh::QuantiseValue(20.0f, 0.1f, -100) == 100);
  CHECK(lrh::QuantiseValue(NAN, 0.1f, 7) == 7);
  // Constant window: std 0 -> z = 0 -> zero point.
  static float x[16 * 2];
  for (int i = 0; i < 32; ++i) x[i] = 3.0f;
  int8_t q[32];
  lrh::NormaliseQuantise(x, 16, 2, 5, 0.0625f, -3, q);
  bool all_zp = true;
  for (int i = 0; i < 32; ++i) all_zp = all_zp && q[i] == -3;
  CHECK(all_zp);
  // Two-valued lead: mean 0, population std 1 -> z = +/-1/(1+eps).
  for (int t = 0; t < 16; ++t) {
    x[t * 2] = t % 2 ? 1.0f : -1.0f;
    x[t * 2 + 1] = 10.0f * (t % 2 ? 1.0f : -1.0f) + 4.0f;
  }
  lrh::NormaliseQuantise(x, 16, 2, 0, 0.0625f, 0, q);
  CHECK(q[0] == -16 && q[2] == 16 && q[1] == -16 && q[3] == 16);
}

void TestSosFilter() {
  // Against a direct evaluation of the cascade's difference equations in double.
  lrh::SosFilter f;
  double xs[2][lrh::kNumSos + 1][3] = {};  // per lead, per stage: x[n-1], x[n-2] history
  double ys[2][lrh::kNumSos][2] = {};
  double max_err = 0.0;
  for (int n = 0; n < 2000; ++n) {
    float in[lrh::kNumLeads], out[lrh::kNumLeads];
    for (int l = 0; l < lrh::kNumLeads; ++l) in[l] = static_cast<float>(std::sin(0.05 * n * (l + 1)) + (n == 0 ? 1.0 : 0.0) + 0.7);
    f.process(in, out);
    for (int l = 0; l < 2 && l < lrh::kNumLeads; ++l) {
      double x = in[l];
      for (int s = 0; s < lrh::kNumSos; ++s) {
        const float* c = lrh::kSos[s];
        const double y = c[0] * x + c[1] * xs[l][s][0] + c[2] * xs[l][s][1] - c[4] * ys[l][s][0] - c[5] * ys[l][s][1];
        xs[l][s][1] = xs[l][s][0];
        xs[l][s][0] = x;
        ys[l][s][1] = ys[l][s][0];
        ys[l][s][0] = y;
        x = y;
      }
      const double err = std::fabs(x - out[l]);
      if (err > max_err) max_err = err;
    }
  }
  CHECK(max_err < 1e-4);
  // Band-pass: a DC step decays to ~0.
  f.reset();
  float in[lrh::kNumLeads], out[lrh::kNumLeads];
  for (int l = 0; l < lrh::kNumLeads; ++l) in[l] = 5.0f;
  for (int n = 0; n < 3000; ++n) f.process(in, out);
  CHECK(std::fabs(out[0]) < 1e-3f);
}

void TestPostprocess() {
  CHECK(std::fabs(lrh::Sigmoid(0.0f) - 0.5f) < 1e-7f);
  CHECK(lrh::Sigmoid(-200.0f) >= 0.0f && lrh::Sigmoid(-200.0f) < 1e-30f);
  CHECK(lrh::Sigmoid(200.0f) == 1.0f);
  CHECK(std::fabs(lrh::Dequantize(15, 0.1f, 5) - 1.0f) < 1e-6f);
  int8_t logits[lrh::kNumClasses];
  float probs[lrh::kNumClasses];
  // Logit 0 -> p = 0.5 exactly: decided where the threshold is <= 0.5.
  for (int c = 0; c < lrh::kNumClasses; ++c) logits[c] = static_cast<int8_t>(lrh::kOutputZeroPoint);
  uint32_t want = 0;
  for (int c = 0; c < lrh::kNumClasses; ++c)
    if (lrh::kThresholds[c] <= 0.5f) want |= 1u << c;
  CHECK(lrh::Decide(logits, probs) == want);
  CHECK(std::fabs(probs[0] - 0.5f) < 1e-6f);
  for (int c = 0; c < lrh::kNumClasses; ++c) logits[c] = 127;
  const uint32_t all = lrh::kNumClasses == 32 ? 0xFFFFFFFFu : (1u << lrh::kNumClasses) - 1u;
  CHECK(lrh::Decide(logits, probs) == all);
  for (int c = 0; c < lrh::kNumClasses; ++c) logits[c] = -128;
  CHECK(lrh::Decide(logits, probs) == 0);
}

void TestSmoother() {
  lrh::KOfNSmoother s(2, 3);
  CHECK(s.update(0x1) == 0x0);  // 1 of 1
  CHECK(s.update(0x0) == 0x0);  // 1 of 2
  CHECK(s.update(0x1) == 0x1);  // 2 of 3
  CHECK(s.update(0x0) == 0x0);  // history 0,1,0: the oldest decision aged out
  CHECK(s.update(0x3) == 0x1);  // class 0: 1,0,1 -> yes; class 1: only once
  CHECK(s.update(0x2) == 0x2);  // class 0: 0,1,0 -> no; class 1: 1,1 -> yes
  s.reset();
  CHECK(s.update(0x1) == 0x0);
  lrh::KOfNSmoother one(1, 1);
  CHECK(one.update(0x5) == 0x5 && one.update(0x0) == 0x0);
  lrh::KOfNSmoother clamp(50, 40);
  CHECK(clamp.n() == 32 && clamp.k() == 32);
}

void TestJson() {
  float probs[lrh::kNumClasses];
  for (int c = 0; c < lrh::kNumClasses; ++c) probs[c] = 0.0f;
  probs[0] = 0.91234f;
  lrh::WindowReport r = {1234, 250, probs, 0x1, 0x1, 84000, 0x2, 0x0, 3, 1};
  char buf[1024];
  const size_t n = lrh::FormatWindowJson(r, buf, sizeof buf);
  CHECK(n > 0 && n == std::strlen(buf) && buf[n - 1] == '\n');
  char want[1024];
  int w = std::snprintf(want, sizeof want, "{\"t_ms\":1234,\"start\":250,\"p\":{");
  for (int c = 0; c < lrh::kNumClasses; ++c)
    w += std::snprintf(want + w, sizeof want - w, "%s\"%s\":%s", c ? "," : "", lrh::kClassAbbrev[c], c ? "0.000" : "0.912");
  w += std::snprintf(want + w, sizeof want - w, "},\"dec\":[\"%s\"],\"raw_mask\":1,\"mask\":1,\"infer_us\":84000,\"lead_off\":[", lrh::kClassAbbrev[0]);
  for (int l = 0; l < lrh::kNumLeads; ++l) w += std::snprintf(want + w, sizeof want - w, "%s%d", l ? "," : "", l == 1 ? 1 : 0);
  w += std::snprintf(want + w, sizeof want - w, "],\"sat\":[");
  for (int l = 0; l < lrh::kNumLeads; ++l) w += std::snprintf(want + w, sizeof want - w, "%s0", l ? "," : "");
  std::snprintf(want + w, sizeof want - w, "],\"overruns\":3,\"missed\":1}\n");
  CHECK(std::strcmp(buf, want) == 0);
  if (std::strcmp(buf, want) != 0) std::printf("got  %swant %s", buf, want);
  CHECK(lrh::FormatWindowJson(r, buf, 20) == 0 && buf[0] == '\0');
  lrh::JsonWriter jw(buf, sizeof buf);
  jw.fixed(-0.0004f, 3);
  jw.ch(' ');
  jw.fixed(-1.2346f, 3);
  jw.ch(' ');
  jw.fixed(NAN, 2);
  jw.ch(' ');
  jw.str("a\"b\\\n");
  jw.finish();
  CHECK(std::strcmp(buf, "0.000 -1.235 null \"a\\\"b\\\\\\u000a\"") == 0);
}

size_t SamplesFrame(uint16_t seq, int n, int16_t first, uint8_t* out, size_t cap) {
  int16_t s[64 * lrh::kNumLeads];
  for (int i = 0; i < n * lrh::kNumLeads; ++i) s[i] = static_cast<int16_t>(first + i);
  return lrh::EncodeSamplesFrame(lrh::kFrameSamplesMicrovolts, seq, s, n, lrh::kNumLeads, out, cap);
}

int FeedAll(lrh::FrameDecoder& d, const uint8_t* b, size_t n, int* dropped) {
  int frames = 0;
  for (size_t i = 0; i < n; ++i) {
    const lrh::FrameDecoder::Event e = d.feed(b[i]);
    if (e == lrh::FrameDecoder::kFrame) ++frames;
    if (e == lrh::FrameDecoder::kDropped && dropped) ++*dropped;
  }
  return frames;
}

void TestFrameCodec() {
  const uint8_t check[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
  CHECK(lrh::Crc16CcittFalse(check, 9) == 0x29B1);  // the catalogue check value

  uint8_t f[lrh::kFrameMaxBytes];
  const size_t n = SamplesFrame(7, 3, -5, f, sizeof f);
  CHECK(n == static_cast<size_t>(8 + 1 + 2 * 3 * lrh::kNumLeads + 2));
  CHECK(f[0] == 0xA5 && f[1] == 0x5A && f[2] == 1 && f[3] == 1 && f[4] == 7 && f[5] == 0);
  CHECK(f[8] == lrh::kNumLeads && f[9] == 0xFB && f[10] == 0xFF);  // -5 little-endian

  lrh::FrameDecoder d;
  int dropped = 0;
  CHECK(FeedAll(d, f, n, &dropped) == 1 && dropped == 0);
  CHECK(d.type() == lrh::kFrameSamplesMicrovolts && d.seq() == 7 && d.num_samples() == 3);
  CHECK(d.sample(0, 0) == -5 && d.sample(2, lrh::kNumLeads - 1) == -5 + 3 * lrh::kNumLeads - 1);

  // Garbage (including a lone sync byte) before a frame, and a frame split across feeds.
  const uint8_t junk[] = {0x00, 0xA5, 0x13, 0xA5, 0xA5};
  const size_t n2 = SamplesFrame(8, 2, 100, f, sizeof f);
  CHECK(FeedAll(d, junk, sizeof junk, &dropped) == 0);
  CHECK(FeedAll(d, f, 5, &dropped) == 0 && FeedAll(d, f + 5, n2 - 5, &dropped) == 1);
  CHECK(d.seq() == 8 && d.sample(0, 0) == 100);

  // Bad CRC: counted and dropped, next good frame still decodes.
  const size_t n3 = SamplesFrame(9, 2, 0, f, sizeof f);
  f[n3 - 1] ^= 0x40;
  CHECK(FeedAll(d, f, n3, &dropped) == 0 && d.stats().bad_crc == 1);
  // Corrupted payload byte, CRC unchanged -> bad CRC as well.
  SamplesFrame(9, 2, 0, f, sizeof f);
  f[9] ^= 0x01;
  CHECK(FeedAll(d, f, n3, &dropped) == 0 && d.stats().bad_crc == 2);
  SamplesFrame(9, 2, 0, f, sizeof f);
  CHECK(FeedAll(d, f, n3, &dropped) == 1);

  // Malformed: wrong version, unknown type, oversize length, wrong lead count, odd length.
  uint8_t g[lrh::kFrameMaxBytes];
  size_t gn = SamplesFrame(10, 1, 0, g, sizeof g);
  g[2] = 2;  // version
  FeedAll(d, g, gn, &dropped);
  CHECK(d.stats().malformed == 1);
  const uint8_t payload[5] = {static_cast<uint8_t>(lrh::kNumLeads + 1), 0, 0, 0, 0};
  gn = lrh::EncodeFrame(0x7E, 10, payload, 1, g, sizeof g);
  FeedAll(d, g, gn, &dropped);
  CHECK(d.stats().malformed == 2);
  const uint8_t huge[] = {0xA5, 0x5A, 0x01, 0x01, 0x0A, 0x00, 0xFF, 0xFF};
  FeedAll(d, huge, sizeof huge, &dropped);
  CHECK(d.stats().malformed == 3);
  gn = lrh::EncodeFrame(lrh::kFrameSamplesMicrovolts, 10, payload, 1 + 2 * (lrh::kNumLeads + 1), g, sizeof g);
  FeedAll(d, g, gn, &dropped);
  CHECK(d.stats().malformed == 4);
  uint8_t odd[4] = {static_cast<uint8_t>(lrh::kNumLeads), 1, 2, 3};
  gn = lrh::EncodeFrame(lrh::kFrameSamplesMicrovolts, 10, odd, 4, g, sizeof g);
  FeedAll(d, g, gn, &dropped);
  CHECK(d.stats().malformed == 5);
  CHECK(d.stats().ok == 3);

  // Out of order: a duplicate (seq 9 again) is dropped; a jump from 10 to 13 counts 2 lost.
  gn = SamplesFrame(9, 1, 0, g, sizeof g);
  CHECK(FeedAll(d, g, gn, &dropped) == 0 && d.stats().out_of_order == 1);
  gn = SamplesFrame(10, 1, 0, g, sizeof g);
  CHECK(FeedAll(d, g, gn, &dropped) == 1);
  gn = SamplesFrame(13, 1, 0, g, sizeof g);
  CHECK(FeedAll(d, g, gn, &dropped) == 1 && d.stats().lost == 2);
  gn = SamplesFrame(11, 1, 0, g, sizeof g);
  CHECK(FeedAll(d, g, gn, &dropped) == 0 && d.stats().out_of_order == 2);
  // Sequence wraps from 65535 to 0 without loss (reset frame first to get near the wrap).
  gn = lrh::EncodeFrame(lrh::kFrameReset, 65534, nullptr, 0, g, sizeof g);
  CHECK(FeedAll(d, g, gn, &dropped) == 1);
  gn = SamplesFrame(65535, 1, 0, g, sizeof g);
  CHECK(FeedAll(d, g, gn, &dropped) == 1);
  gn = SamplesFrame(0, 1, 0, g, sizeof g);
  CHECK(FeedAll(d, g, gn, &dropped) == 1 && d.stats().lost == 2);
  // A reset frame restarts the sequence anywhere.
  gn = lrh::EncodeFrame(lrh::kFrameReset, 500, nullptr, 0, g, sizeof g);
  CHECK(FeedAll(d, g, gn, &dropped) == 1 && d.type() == lrh::kFrameReset);
  gn = SamplesFrame(501, 1, 0, g, sizeof g);
  const uint32_t lost_before = d.stats().lost;
  CHECK(FeedAll(d, g, gn, &dropped) == 1 && d.stats().lost == lost_before);
  CHECK(dropped == static_cast<int>(d.stats().bad_crc + d.stats().malformed + d.stats().out_of_order));

  // Random noise never crashes the decoder and almost never yields a frame.
  uint32_t x = 12345;
  int noise_frames = 0;
  for (int i = 0; i < 200000; ++i) {
    x = x * 1103515245u + 12345u;
    if (d.feed(static_cast<uint8_t>(x >> 16)) == lrh::FrameDecoder::kFrame) ++noise_frames;
  }
  CHECK(noise_frames <= 2);
  // Encoder refuses payloads that do not fit.
  CHECK(lrh::EncodeFrame(lrh::kFrameReset, 0, nullptr, 0, g, 5) == 0);
  CHECK(SamplesFrame(0, 64, 0, g, sizeof g) > 0 || 1 + 2 * 64 * lrh::kNumLeads > lrh::kFrameMaxPayload);
}

void TestPipelineReset() {
  lrh::Pipeline p(lrh::kHopSamples);
  lrh::Sample s;
  s.flags = 0;
  static int8_t a[lrh::kWindowSamples * lrh::kNumLeads];
  static int8_t b[lrh::kWindowSamples * lrh::kNumLeads];
  for (int pass = 0; pass < 2; ++pass) {
    p.reset();
    int windows = 0;
    for (int i = 0; i < lrh::kWindowSamples; ++i) {
      for (int l = 0; l < lrh::kNumLeads; ++l) s.mv[l] = static_cast<float>(std::sin(0.3 * i + l));
      windows += p.push(s);
    }
    CHECK(windows == 1);
    p.quantize(pass ? b : a, lrh::kInputScale, lrh::kInputZeroPoint);
  }
  CHECK(std::memcmp(a, b, sizeof a) == 0);  // reset() restores zero filter state
}

}  // namespace

int main() {
  TestRingWrapAround();
  TestRingOverrun();
  TestHopBoundaries(1);
  TestHopBoundaries(lrh::kHopSamples);
  TestHopBoundaries(lrh::kWindowSamples);
  TestHopBoundaries(lrh::kWindowSamples + 17);
  TestWindowOrderAfterWrap();
  TestWindowFlags();
  TestFrontEnd();
  TestQuantise();
  TestSosFilter();
  TestPostprocess();
  TestSmoother();
  TestJson();
  TestFrameCodec();
  TestPipelineReset();
  std::printf("%s: %d checks, %d failures\n", g_failures ? "FAILED" : "PASSED", g_checks, g_failures);
  return g_failures ? 1 : 0;
}
