// The newest delivered bytes of one stream direction, kept to recognise retransmissions that change
// what was already inspected: a ring buffer, so that keeping the newest bytes never moves the
// others, and comparing a resend against it reads at most two contiguous spans.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace spanguard::stream {

class RetainedRing {
 public:
  // The first buffer of a direction; it doubles from there up to the configured limit, so a short
  // flow does not pin stream.retain bytes per direction.
  static constexpr size_t kMinCapacity = 32;

  // The capacity to grow to for holding `want` bytes, at most `limit` (never below the current
  // one): powers of two from kMinCapacity, each growth at least a doubling.
  static size_t grown_capacity(size_t current, size_t want, size_t limit);

  size_t capacity() const { return capacity_; }
  size_t size() const { return size_; }
  // Moves the held bytes into a buffer of `capacity` bytes (at least size()).
  void reserve(size_t capacity);
  // Keeps the newest capacity() bytes of what is held followed by `bytes`.
  void append(std::span<const uint8_t> bytes);
  // Forgets the `n` oldest bytes.
  void drop_front(size_t n);
  // Forgets every byte; the buffer stays for what comes next.
  void clear() { head_ = size_ = 0; }
  // Frees the buffer.
  void reset();
  // Whether the held bytes from the `at`-th oldest on equal `bytes` (at + bytes.size() <= size()).
  bool equal(size_t at, std::span<const uint8_t> bytes) const;
  // The newest min(n, size()) bytes, oldest first: two spans, the second empty unless they wrap.
  std::array<std::span<const uint8_t>, 2> newest(size_t n) const;

 private:
  // 32-bit positions (stream.retain is at most 1 GiB): one ring per flow direction, a million
  // flows, 16 bytes each saved.
  std::unique_ptr<uint8_t[]> buffer_;
  uint32_t capacity_ = 0;
  uint32_t head_ = 0;  // the oldest byte
  uint32_t size_ = 0;
};

}  // namespace spanguard::stream
