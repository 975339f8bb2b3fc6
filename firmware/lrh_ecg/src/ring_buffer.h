// Lock-free single-producer (timer ISR) / single-consumer (loop) ring buffer.
//
// The producer only writes head_, the consumer only writes tail_; both are 32-bit atomics,
// which Cortex-M3/M4 load and store in one instruction, so no interrupt masking is needed.
// When full, push() drops the *new* sample and counts an overrun: the consumer is behind,
// and dropping the newest keeps the samples already queued contiguous.
#pragma once
#include <atomic>
#include <cstdint>

namespace lrh {

template <typename T, uint32_t N>
class SpscRing {
  static_assert(N >= 2 && (N & (N - 1)) == 0, "capacity must be a power of two");

 public:
  SpscRing() : head_(0), tail_(0), overruns_(0) {}

  // Producer side (ISR).  Returns false and counts an overrun when full.
  bool push(const T& item) {
    const uint32_t head = head_.load(std::memory_order_relaxed);
    const uint32_t tail = tail_.load(std::memory_order_acquire);
    if (head - tail >= N) {
      overruns_.store(overruns_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return false;
    }
    items_[head & (N - 1)] = item;
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer side (loop).  Returns false when empty.
  bool pop(T* item) {
    const uint32_t tail = tail_.load(std::memory_order_relaxed);
    const uint32_t head = head_.load(std::memory_order_acquire);
    if (head == tail) return false;
    *item = items_[tail & (N - 1)];
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  uint32_t size() const {
    return head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire);
  }
  uint32_t overruns() const { return overruns_.load(std::memory_order_relaxed); }
  static constexpr uint32_t capacity() { return N; }

  // Consumer side, only while the producer is stopped (e.g. switching to replay mode).
  void clear() { tail_.store(head_.load(std::memory_order_acquire), std::memory_order_release); }

 private:
  T items_[N];
  std::atomic<uint32_t> head_;
  std::atomic<uint32_t> tail_;
  std::atomic<uint32_t> overruns_;
};

}  // namespace lrh
