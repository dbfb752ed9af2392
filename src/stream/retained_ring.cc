// Ring arithmetic of the retained bytes: at most two memcpy/memcmp per operation, one per side of
// the wrap point.
#include "spanguard/stream/retained_ring.h"

#include <algorithm>
#include <cstring>

namespace spanguard::stream {

size_t RetainedRing::grown_capacity(size_t current, size_t want, size_t limit) {
  size_t c = std::max(current * 2, kMinCapacity);
  while (c < want && c < limit) c *= 2;
  return std::max(current, std::min(c, limit));
}

void RetainedRing::reserve(size_t capacity) {
  if (capacity == capacity_) return;
  auto fresh = std::make_unique_for_overwrite<uint8_t[]>(capacity);
  const size_t first = std::min<size_t>(size_, capacity_ - head_);
  if (size_ > 0) {
    std::memcpy(fresh.get(), buffer_.get() + head_, first);
    std::memcpy(fresh.get() + first, buffer_.get(), size_ - first);
  }
  buffer_ = std::move(fresh);
  capacity_ = static_cast<uint32_t>(capacity);
  head_ = 0;
}

void RetainedRing::append(std::span<const uint8_t> bytes) {
  const size_t capacity = capacity_;
  if (capacity == 0) return;
  if (bytes.size() >= capacity) {
    std::memcpy(buffer_.get(), bytes.data() + (bytes.size() - capacity), capacity);
    head_ = 0;
    size_ = capacity_;
    return;
  }
  const size_t tail = (size_t{head_} + size_) % capacity;
  const size_t first = std::min(bytes.size(), capacity - tail);
  std::memcpy(buffer_.get() + tail, bytes.data(), first);
  std::memcpy(buffer_.get(), bytes.data() + first, bytes.size() - first);
  const size_t size = size_ + bytes.size();  // below twice the capacity: no overflow
  if (size > capacity) {
    head_ = static_cast<uint32_t>((head_ + size - capacity) % capacity);
    size_ = capacity_;
  } else {
    size_ = static_cast<uint32_t>(size);
  }
}

void RetainedRing::drop_front(size_t n) {
  n = std::min<size_t>(n, size_);
  if (n == 0) return;
  head_ = static_cast<uint32_t>((head_ + n) % capacity_);
  size_ -= static_cast<uint32_t>(n);
}

void RetainedRing::reset() {
  buffer_.reset();
  capacity_ = head_ = size_ = 0;
}

bool RetainedRing::equal(size_t at, std::span<const uint8_t> bytes) const {
  if (bytes.empty()) return true;
  const size_t from = (head_ + at) % capacity_;
  const size_t first = std::min<size_t>(bytes.size(), capacity_ - from);
  return std::memcmp(buffer_.get() + from, bytes.data(), first) == 0 &&
         std::memcmp(buffer_.get(), bytes.data() + first, bytes.size() - first) == 0;
}

std::array<std::span<const uint8_t>, 2> RetainedRing::newest(size_t n) const {
  n = std::min<size_t>(n, size_);
  if (n == 0) return {};
  const size_t from = (size_t{head_} + size_ - n) % capacity_;
  const size_t first = std::min<size_t>(n, capacity_ - from);
  return {std::span<const uint8_t>(buffer_.get() + from, first),
          std::span<const uint8_t>(buffer_.get(), n - first)};
}

}  // namespace spanguard::stream
