// Serial frames that carry samples from a host into the board instead of the ADC
// (replay / hardware-in-the-loop).  Byte layout: firmware/PROTOCOL.md.
//
//   A5 5A | ver | type | seq (u16 LE) | len (u16 LE) | payload[len] | crc (u16 LE)
//   crc = CRC-16/CCITT-FALSE over ver..payload (poly 0x1021, init 0xFFFF, no reflection)
//
// Malformed, bad-CRC and out-of-order frames are counted and dropped; the decoder then
// hunts for the next sync pair, so no input can stall or crash the loop.
#pragma once
#include <cstddef>
#include <cstdint>

#include "model_settings.h"

namespace lrh {

constexpr uint8_t kFrameSync0 = 0xA5;
constexpr uint8_t kFrameSync1 = 0x5A;
constexpr uint8_t kProtocolVersion = 1;
constexpr uint8_t kFrameSamplesMicrovolts = 0x01;  // payload: n_leads, then int16 LE uV
constexpr uint8_t kFrameSamplesCounts = 0x02;      // payload: n_leads, then int16 LE ADC counts
constexpr uint8_t kFrameReset = 0x03;              // payload empty: restart stream + sequence
constexpr int kFrameHeaderBytes = 8;               // sync(2) ver type seq(2) len(2)
constexpr int kFrameMaxPayload = 512;
constexpr int kFrameMaxBytes = kFrameHeaderBytes + kFrameMaxPayload + 2;

uint16_t Crc16CcittFalse(const uint8_t* data, size_t n, uint16_t crc = 0xFFFF);

// Encodes one frame into out; returns its size or 0 when it does not fit / payload too long.
size_t EncodeFrame(uint8_t type, uint16_t seq, const uint8_t* payload, size_t len, uint8_t* out,
                   size_t cap);

// Encodes a samples frame: samples[i * n_leads + lead], n_samples rows.
size_t EncodeSamplesFrame(uint8_t type, uint16_t seq, const int16_t* samples, int n_samples,
                          int n_leads, uint8_t* out, size_t cap);

struct FrameStats {
  uint32_t ok;            // frames accepted
  uint32_t bad_crc;       // CRC mismatch
  uint32_t malformed;     // wrong version/type/length/lead count
  uint32_t out_of_order;  // sequence number behind the expected one (duplicate or late)
  uint32_t lost;          // frames skipped by a forward jump of the sequence number
};

class FrameDecoder {
 public:
  enum Event { kNone = 0, kFrame = 1, kDropped = 2 };

  FrameDecoder() { reset(); }
  // Forgets any partial frame, the expected sequence number and the statistics.
  void reset();
  // Feeds one received byte.  kFrame: a valid frame is ready (type(), seq(), samples...);
  // kDropped: a frame was rejected and counted in stats().
  Event feed(uint8_t byte);

  uint8_t type() const { return type_; }
  uint16_t seq() const { return seq_; }
  // Samples frames only: rows of kNumLeads values.
  int num_samples() const { return num_samples_; }
  int16_t sample(int i, int lead) const;
  void samples_row(int i, int16_t* out) const;
  const FrameStats& stats() const { return stats_; }

 private:
  enum State { kSync0, kSync1, kHeader, kPayload, kCrc };
  Event finish_frame();
  Event drop(uint32_t* counter);

  uint8_t buf_[kFrameMaxBytes];
  int state_;
  int have_;       // bytes stored in buf_ (from ver onwards)
  int need_;       // bytes expected in the current state
  uint8_t type_;
  uint16_t seq_;
  uint16_t len_;
  int num_samples_;
  bool seq_valid_;
  uint16_t expected_seq_;
  FrameStats stats_;
};

}  // namespace lrh
