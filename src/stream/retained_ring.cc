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
  const size_t first = std::min(size_, capacity_ - head_);
  if (size_ > 0) {
    std::memcpy(fresh.get(), buffer_.get() + head_, first);
    std::memcpy(fresh.get() + first, buffer_.get(), size_ - first);
  }
  buffer_ = std::move(fresh);
  capacity_ = capacity;
  head_ = 0;
}

void RetainedRing::append(std::span<const uint8_t> bytes) {
  if (capacity_ == 0) return;
  if (bytes.size() >= capacity_) {
    std::memcpy(buffer_.get(), bytes.data() + (bytes.size() - capacity_), capacity_);
    head_ = 0;
    size_ = capacity_;
    return;
  }
  const size_t tail = (head_ + size_) % capacity_;
  const size_t first = std::min(bytes.size(), capacity_ - tail);
  std::memcpy(buffer_.get() + tail, bytes.data(), first);
  std::memcpy(buffer_.get(), bytes.data() + first, bytes.size() - first);
  size_ += bytes.size();
  if (size_ > capacity_) {
    head_ = (head_ + size_ - capacity_) % capacity_;
    size_ = capacity_;
  }
}

void RetainedRing::drop_front(size_t n) {
  n = std::min(n, size_);
  if (n == 0) return;
  head_ = (head_ + n) % capacity_;
  size_ -= n;
}

void RetainedRing::reset() {
  buffer_.reset();
  capacity_ = head_ = size_ = 0;
}

bool RetainedRing::equal(size_t at, std::span<const uint8_t> bytes) const {
  if (bytes.empty()) return true;
  const size_t from = (head_ + at) % capacity_;
  const size_t first = std::min(bytes.size(), capacity_ - from);
  return std::memcmp(buffer_.get() + from, bytes.data(), first) == 0 &&
         std::memcmp(buffer_.get(), bytes.data() + first, bytes.size() - first) == 0;
}

std::array<std::span<const uint8_t>, 2> RetainedRing::newest(size_t n) const {
  n = std::min(n, size_);
  if (n == 0) return {};
  const size_t from = (head_ + size_ - n) % capacity_;
  const size_t first = std::min(n, capacity_ - from);
  return {std::span<const uint8_t>(buffer_.get() + from, first),
          std::span<const uint8_t>(buffer_.get(), n - first)};
}

}  // namespace spanguard::stream
