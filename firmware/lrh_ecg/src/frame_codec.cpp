#include "frame_codec.h"

namespace lrh {

uint16_t Crc16CcittFalse(const uint8_t* data, size_t n, uint16_t crc) {
  for (size_t i = 0; i < n; ++i) {
    crc = static_cast<uint16_t>(crc ^ (static_cast<uint16_t>(data[i]) << 8));
    for (int b = 0; b < 8; ++b)
      crc = static_cast<uint16_t>(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
  }
  return crc;
}

size_t EncodeFrame(uint8_t type, uint16_t seq, const uint8_t* payload, size_t len, uint8_t* out,
                   size_t cap) {
  const size_t total = kFrameHeaderBytes + len + 2;
  if (len > static_cast<size_t>(kFrameMaxPayload) || total > cap) return 0;
  out[0] = kFrameSync0;
  out[1] = kFrameSync1;
  out[2] = kProtocolVersion;
  out[3] = type;
  out[4] = static_cast<uint8_t>(seq & 0xFF);
  out[5] = static_cast<uint8_t>(seq >> 8);
  out[6] = static_cast<uint8_t>(len & 0xFF);
  out[7] = static_cast<uint8_t>(len >> 8);
  for (size_t i = 0; i < len; ++i) out[kFrameHeaderBytes + i] = payload[i];
  const uint16_t crc = Crc16CcittFalse(out + 2, kFrameHeaderBytes - 2 + len);
  out[kFrameHeaderBytes + len] = static_cast<uint8_t>(crc & 0xFF);
  out[kFrameHeaderBytes + len + 1] = static_cast<uint8_t>(crc >> 8);
  return total;
}

size_t EncodeSamplesFrame(uint8_t type, uint16_t seq, const int16_t* samples, int n_samples,
                          int n_leads, uint8_t* out, size_t cap) {
  const long len = 1L + 2L * n_samples * n_leads;
  if (n_samples < 0 || n_leads < 1 || n_leads > 255 || len > kFrameMaxPayload) return 0;
  const size_t total = kFrameHeaderBytes + static_cast<size_t>(len) + 2;
  if (total > cap) return 0;
  // Build the payload in place after the header, then let EncodeFrame copy it onto itself.
  uint8_t* p = out + kFrameHeaderBytes;
  p[0] = static_cast<uint8_t>(n_leads);
  for (int i = 0; i < n_samples * n_leads; ++i) {
    const uint16_t v = static_cast<uint16_t>(samples[i]);
    p[1 + 2 * i] = static_cast<uint8_t>(v & 0xFF);
    p[2 + 2 * i] = static_cast<uint8_t>(v >> 8);
  }
  return EncodeFrame(type, seq, p, static_cast<size_t>(len), out, cap);
}

void FrameDecoder::reset() {
  state_ = kSync0;
  have_ = 0;
  need_ = 0;
  type_ = 0;
  seq_ = 0;
  len_ = 0;
  num_samples_ = 0;
  seq_valid_ = false;
  expected_seq_ = 0;
  stats_.ok = stats_.bad_crc = stats_.malformed = stats_.out_of_order = stats_.lost = 0;
}

FrameDecoder::Event FrameDecoder::drop(uint32_t* counter) {
  ++*counter;
  state_ = kSync0;
  have_ = 0;
  return kDropped;
}

int16_t FrameDecoder::sample(int i, int lead) const {
  const int off = 1 + 2 * (i * kNumLeads + lead);
  const uint16_t v = static_cast<uint16_t>(buf_[kFrameHeaderBytes - 2 + off] |
                                           (buf_[kFrameHeaderBytes - 2 + off + 1] << 8));
  return static_cast<int16_t>(v);
}

void FrameDecoder::samples_row(int i, int16_t* out) const {
  for (int l = 0; l < kNumLeads; ++l) out[l] = sample(i, l);
}

FrameDecoder::Event FrameDecoder::feed(uint8_t byte) {
  switch (state_) {
    case kSync0:
      if (byte == kFrameSync0) state_ = kSync1;
      return kNone;
    case kSync1:
      // A5 A5 5A must still sync on the second A5.
      if (byte == kFrameSync1) {
        state_ = kHeader;
        have_ = 0;
        need_ = kFrameHeaderBytes - 2;
      } else if (byte != kFrameSync0) {
        state_ = kSync0;
      }
      return kNone;
    case kHeader:
      buf_[have_++] = byte;
      if (have_ < need_) return kNone;
      type_ = buf_[1];
      seq_ = static_cast<uint16_t>(buf_[2] | (buf_[3] << 8));
      len_ = static_cast<uint16_t>(buf_[4] | (buf_[5] << 8));
      // Reject impossible headers now rather than waiting for up to 64 KiB of payload.
      if (buf_[0] != kProtocolVersion || len_ > kFrameMaxPayload ||
          (type_ != kFrameSamplesMicrovolts && type_ != kFrameSamplesCounts && type_ != kFrameReset))
        return drop(&stats_.malformed);
      if (len_) {
        state_ = kPayload;
        need_ += len_;
      } else {
        state_ = kCrc;
        need_ += 2;
      }
      return kNone;
    case kPayload:
      buf_[have_++] = byte;
      if (have_ == need_) {
        state_ = kCrc;
        need_ += 2;
      }
      return kNone;
    case kCrc:
      buf_[have_++] = byte;
      if (have_ < need_) return kNone;
      return finish_frame();
    default:
      state_ = kSync0;
      return kNone;
  }
}

FrameDecoder::Event FrameDecoder::finish_frame() {
  const int body = kFrameHeaderBytes - 2 + len_;
  const uint16_t got = static_cast<uint16_t>(buf_[body] | (buf_[body + 1] << 8));
  if (Crc16CcittFalse(buf_, static_cast<size_t>(body)) != got) return drop(&stats_.bad_crc);
  const uint8_t* payload = buf_ + kFrameHeaderBytes - 2;
  if (type_ == kFrameReset) {
    if (len_ != 0) return drop(&stats_.malformed);
    state_ = kSync0;
    have_ = 0;
    seq_valid_ = true;
    expected_seq_ = static_cast<uint16_t>(seq_ + 1);
    num_samples_ = 0;
    ++stats_.ok;
    return kFrame;
  }
  if (len_ < 1 || payload[0] != kNumLeads || (len_ - 1) % (2 * kNumLeads) != 0 ||
      len_ == 1)
    return drop(&stats_.malformed);
  if (seq_valid_) {
    const int16_t ahead = static_cast<int16_t>(seq_ - expected_seq_);
    if (ahead < 0) return drop(&stats_.out_of_order);
    stats_.lost += static_cast<uint32_t>(ahead);
  }
  seq_valid_ = true;
  expected_seq_ = static_cast<uint16_t>(seq_ + 1);
  num_samples_ = (len_ - 1) / (2 * kNumLeads);
  state_ = kSync0;
  have_ = 0;
  ++stats_.ok;
  return kFrame;
}

}  // namespace lrh
