// Single-producer/single-consumer ring of captured frames: a capture thread copies each frame into
// the ring of the worker that owns its flows; the worker reads frames in place. Records are
// contiguous, 32-byte aligned, with a wrap marker when a record would straddle the end of the
// buffer.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>

#include "spanguard/capture/source.h"

namespace spanguard::pipeline {

class FrameRing {
 public:
  explicit FrameRing(size_t capacity_bytes);  // rounded up to a power of two, at least 1 MiB

  // Producer side: false when the ring lacks room (the caller waits and retries).
  bool try_push(const capture::Frame& frame);

  // Consumer side: hands up to `max` frames to `handler(const capture::Frame&)`, returns how many.
  template <typename Handler>
  size_t drain(Handler&& handler, size_t max);

  bool empty() const {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_relaxed);
  }

 private:
  struct alignas(32) Record {
    uint32_t caplen;  // kWrapMarker: skip to the start of the buffer
    uint32_t wirelen;
    int64_t ts_ns;
    const std::string* origin;  // Frame::origin
    uint32_t size;              // whole record, header included, multiple of 32
    uint8_t link;
  };
  static_assert(sizeof(Record) == 32);
  static constexpr uint32_t kWrapMarker = 0xffffffffu;

  std::unique_ptr<uint8_t[]> buffer_;
  size_t capacity_;
  alignas(64) std::atomic<uint64_t> head_{0};  // written by the producer
  uint64_t cached_tail_ = 0;                   // producer's last view of tail_
  alignas(64) std::atomic<uint64_t> tail_{0};  // written by the consumer
  uint64_t cached_head_ = 0;                   // consumer's view of head_ for this batch
};

template <typename Handler>
size_t FrameRing::drain(Handler&& handler, size_t max) {
  uint64_t tail = tail_.load(std::memory_order_relaxed);
  cached_head_ = head_.load(std::memory_order_acquire);  // once per batch
  if (tail == cached_head_) return 0;
  size_t n = 0;
  while (tail != cached_head_ && n < max) {
    const size_t pos = tail & (capacity_ - 1);
    Record r;
    std::memcpy(&r, buffer_.get() + pos, sizeof r);
    if (r.caplen == kWrapMarker) {
      tail += capacity_ - pos;
      continue;
    }
    handler(capture::Frame{buffer_.get() + pos + sizeof(Record), r.caplen, r.wirelen,
                           core::timestamp_from_ns(r.ts_ns), static_cast<decode::LinkType>(r.link),
                           r.origin});
    tail += r.size;
    ++n;
  }
  tail_.store(tail, std::memory_order_release);
  return n;
}

}  // namespace spanguard::pipeline
