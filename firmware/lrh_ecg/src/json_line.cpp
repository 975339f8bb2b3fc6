#include "json_line.h"

namespace lrh {

JsonWriter::JsonWriter(char* buf, size_t cap) : buf_(buf), cap_(cap), len_(0), ok_(cap > 0) {}

void JsonWriter::ch(char c) {
  // Always leave room for the terminating NUL.
  if (!ok_ || len_ + 1 >= cap_) {
    ok_ = false;
    return;
  }
  buf_[len_++] = c;
}

void JsonWriter::raw(const char* s) {
  while (*s) ch(*s++);
}

void JsonWriter::str(const char* s) {
  static const char kHex[] = "0123456789abcdef";
  ch('"');
  for (; *s; ++s) {
    const unsigned char c = static_cast<unsigned char>(*s);
    if (c == '"' || c == '\\') {
      ch('\\');
      ch(static_cast<char>(c));
    } else if (c < 0x20) {
      raw("\\u00");
      ch(kHex[c >> 4]);
      ch(kHex[c & 15]);
    } else {
      ch(static_cast<char>(c));
    }
  }
  ch('"');
}

void JsonWriter::uint(uint32_t v) {
  char tmp[10];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) ch(tmp[--n]);
}

void JsonWriter::fixed(float v, int decimals) {
  if (!(v == v) || v > 4e9f || v < -4e9f) {
    raw("null");
    return;
  }
  if (decimals < 0) decimals = 0;
  if (decimals > 6) decimals = 6;
  uint32_t scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  bool neg = v < 0.0f;
  double a = neg ? -static_cast<double>(v) : static_cast<double>(v);
  // Round half away from zero at the last printed digit.
  const double scaled = a * scale + 0.5;
  if (scaled > 4294967295.0) {
    raw("null");
    return;
  }
  const uint32_t total = static_cast<uint32_t>(scaled);
  if (total == 0) neg = false;  // no "-0.000"
  if (neg) ch('-');
  uint(total / scale);
  if (decimals) {
    ch('.');
    uint32_t frac = total % scale;
    for (uint32_t d = scale / 10; d; d /= 10) {
      ch(static_cast<char>('0' + frac / d));
      frac %= d;
    }
  }
}

size_t JsonWriter::finish() {
  if (!ok_) {
    if (cap_) buf_[0] = '\0';
    return 0;
  }
  buf_[len_] = '\0';
  return len_;
}

static void LeadMask(JsonWriter& w, uint8_t bits) {
  w.ch('[');
  for (int l = 0; l < kNumLeads; ++l) {
    if (l) w.ch(',');
    w.ch((bits >> l) & 1u ? '1' : '0');
  }
  w.ch(']');
}

size_t FormatWindowJson(const WindowReport& r, char* buf, size_t cap) {
  JsonWriter w(buf, cap);
  w.raw("{\"t_ms\":");
  w.uint(r.t_ms);
  w.raw(",\"start\":");
  w.uint(r.start);
  w.raw(",\"p\":{");
  for (int c = 0; c < kNumClasses; ++c) {
    if (c) w.ch(',');
    w.str(kClassAbbrev[c]);
    w.ch(':');
    w.fixed(r.probs[c], 3);
  }
  w.raw("},\"dec\":[");
  bool first = true;
  for (int c = 0; c < kNumClasses; ++c) {
    if (!((r.smoothed >> c) & 1u)) continue;
    if (!first) w.ch(',');
    first = false;
    w.str(kClassAbbrev[c]);
  }
  w.raw("],\"raw_mask\":");
  w.uint(r.decisions);
  w.raw(",\"mask\":");
  w.uint(r.smoothed);
  w.raw(",\"infer_us\":");
  w.uint(r.infer_us);
  w.raw(",\"lead_off\":");
  LeadMask(w, r.lead_off);
  w.raw(",\"sat\":");
  LeadMask(w, r.saturated);
  w.raw(",\"overruns\":");
  w.uint(r.overruns);
  w.raw(",\"missed\":");
  w.uint(r.missed);
  w.raw("}\n");
  return w.finish();
}

}  // namespace lrh
