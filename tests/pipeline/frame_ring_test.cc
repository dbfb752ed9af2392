// The SPSC frame ring: frames come out whole, in order, across wrap-arounds and between threads.
#include "spanguard/pipeline/frame_ring.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace spanguard::pipeline {
namespace {

std::vector<uint8_t> frame_bytes(uint32_t n, uint32_t len) {
  std::vector<uint8_t> b(len);
  for (uint32_t i = 0; i < len; ++i) b[i] = static_cast<uint8_t>(n * 31 + i);
  return b;
}

capture::Frame frame_of(const std::vector<uint8_t>& b, uint32_t n) {
  return {b.data(), static_cast<uint32_t>(b.size()), static_cast<uint32_t>(b.size() + n % 3),
          core::timestamp_from_ns(1'000'000'000LL + n), decode::LinkType::kLinuxSll2};
}

TEST(FrameRing, FramesComeOutWholeAndInOrderAcrossWraps) {
  FrameRing ring(1 << 20);
  uint32_t pushed = 0, popped = 0;
  // Odd sizes force records to straddle the end of the buffer many times.
  for (int round = 0; round < 400; ++round) {
    for (int i = 0; i < 7; ++i) {
      const auto b = frame_bytes(pushed, 1000 + (pushed * 7919) % 60000);
      if (!ring.try_push(frame_of(b, pushed))) break;
      ++pushed;
    }
    ring.drain(
        [&](const capture::Frame& f) {
          const auto want = frame_bytes(popped, 1000 + (popped * 7919) % 60000);
          ASSERT_EQ(f.caplen, want.size());
          ASSERT_EQ(f.wirelen, want.size() + popped % 3);
          ASSERT_EQ(core::to_ns(f.ts), 1'000'000'000LL + popped);
          ASSERT_EQ(f.link, decode::LinkType::kLinuxSll2);
          ASSERT_EQ(0, std::memcmp(f.data, want.data(), want.size()));
          ++popped;
        },
        5);
  }
  ring.drain([&](const capture::Frame&) { ++popped; }, 1000);
  EXPECT_EQ(pushed, popped);
  EXPECT_GT(pushed, 1000u);
  EXPECT_TRUE(ring.empty());
}

TEST(FrameRing, RefusesWhenFullAndAcceptsAfterDrain) {
  FrameRing ring(1 << 20);
  const auto b = frame_bytes(1, 60000);
  int accepted = 0;
  while (ring.try_push(frame_of(b, 1))) ++accepted;
  EXPECT_EQ(accepted, (1 << 20) / (60000 + 32 + 32 - (60000 + 32) % 32));
  EXPECT_EQ(ring.drain([](const capture::Frame&) {}, 1), 1u);
  EXPECT_TRUE(ring.try_push(frame_of(b, 1)));
}

TEST(FrameRing, HandsOverBetweenThreadsWithoutLoss) {
  FrameRing ring(1 << 20);
  constexpr uint32_t kFrames = 100000;
  std::thread producer([&] {
    for (uint32_t n = 0; n < kFrames; ++n) {
      const auto b = frame_bytes(n, 64 + n % 1500);
      while (!ring.try_push(frame_of(b, n))) std::this_thread::yield();
    }
  });
  uint32_t next = 0;
  bool intact = true;
  while (next < kFrames) {
    ring.drain(
        [&](const capture::Frame& f) {
          const auto want = frame_bytes(next, 64 + next % 1500);
          intact = intact && f.caplen == want.size() &&
                   std::memcmp(f.data, want.data(), want.size()) == 0;
          ++next;
        },
        64);
  }
  producer.join();
  EXPECT_TRUE(intact);
  EXPECT_EQ(next, kFrames);
}

}  // namespace
}  // namespace spanguard::pipeline
