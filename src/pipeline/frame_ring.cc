// Producer side of the frame ring.
#include "spanguard/pipeline/frame_ring.h"

#include <bit>

namespace spanguard::pipeline {

FrameRing::FrameRing(size_t capacity_bytes)
    : capacity_(std::bit_ceil(std::max<size_t>(capacity_bytes, 1 << 20))) {
  buffer_ = std::make_unique_for_overwrite<uint8_t[]>(capacity_);  // no 32 MiB memset
}

bool FrameRing::try_push(const capture::Frame& frame) {
  const uint64_t size = (sizeof(Record) + frame.caplen + 31) & ~uint64_t{31};
  const uint64_t head = head_.load(std::memory_order_relaxed);
  const size_t pos = head & (capacity_ - 1);
  const uint64_t contiguous = capacity_ - pos;
  const uint64_t needed = contiguous < size ? contiguous + size : size;
  if (size > capacity_ / 2)
    return false;  // cannot happen with snaplen <= 256 KiB and >= 1 MiB rings
  if (capacity_ - (head - cached_tail_) < needed) {
    cached_tail_ = tail_.load(std::memory_order_acquire);
    if (capacity_ - (head - cached_tail_) < needed) return false;
  }
  uint64_t at = head;
  if (contiguous < size) {
    Record wrap{};
    wrap.caplen = kWrapMarker;
    std::memcpy(buffer_.get() + pos, &wrap, sizeof wrap);
    at += contiguous;
  }
  uint8_t* out = buffer_.get() + (at & (capacity_ - 1));
  Record r{};
  r.caplen = frame.caplen;
  r.wirelen = frame.wirelen;
  r.ts_ns = core::to_ns(frame.ts);
  r.size = static_cast<uint32_t>(size);
  r.link = static_cast<uint8_t>(frame.link);
  r.origin = frame.origin;
  std::memcpy(out, &r, sizeof r);
  std::memcpy(out + sizeof r, frame.data, frame.caplen);
  head_.store(head + needed, std::memory_order_release);
  return true;
}

}  // namespace spanguard::pipeline
