// The signal watcher: SIGHUP runs the hang-up action (log rotation) and does not count as a stop;
// SIGTERM runs the stop action and is remembered.
#include "spanguard/cli/signals.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace spanguard::cli {
namespace {

bool wait_for(const std::atomic<int>& value, int expected) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (value.load() != expected) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(SignalWatcher, HangupReopensAndTermStops) {
  std::atomic<int> stops{0}, hangups{0};
  SignalWatcher watcher([&](int) { ++stops; }, [&] { ++hangups; });
  ::kill(::getpid(), SIGHUP);
  ASSERT_TRUE(wait_for(hangups, 1));
  EXPECT_EQ(stops.load(), 0);
  EXPECT_EQ(watcher.received(), 0);
  ::kill(::getpid(), SIGTERM);
  ASSERT_TRUE(wait_for(stops, 1));
  EXPECT_EQ(watcher.received(), SIGTERM);
}

}  // namespace
}  // namespace spanguard::cli
