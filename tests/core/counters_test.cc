// Counters: typed increments, and snapshots that sum the same counter across workers.
#include "spanguard/core/counters.h"

#include <gtest/gtest.h>

#include <thread>

namespace spanguard::core {
namespace {

enum class TestCounter : uint16_t { kPackets, kDrops, kCount };
constexpr CounterDef kDefs[] = {{"packets", "packets seen"}, {"drops", "packets dropped"}};
constexpr CounterGroup kGroup{"test", kDefs};

TEST(Counters, SnapshotSumsWorkersByFullName) {
  Counters<TestCounter> a(kGroup), b(kGroup);
  a.inc(TestCounter::kPackets, 5);
  b.inc(TestCounter::kPackets);
  b.inc(TestCounter::kDrops, 2);
  CounterSnapshot s;
  s.add(a.values());
  s.add(b.values());
  EXPECT_EQ(s.get("test.packets"), 6u);
  EXPECT_EQ(s.get("test.drops"), 2u);
  EXPECT_EQ(s.get("test.absent"), 0u);
  ASSERT_EQ(s.entries().size(), 2u);
  EXPECT_EQ(s.entries()[0].name, "test.packets");
  EXPECT_EQ(s.entries()[1].help, "packets dropped");
}

TEST(Counters, ReaderOnAnotherThreadSeesMonotonicValues) {
  Counters<TestCounter> c(kGroup);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 200000; ++i) c.inc(TestCounter::kPackets);
    done = true;
  });
  uint64_t last = 0;
  while (!done) {
    const uint64_t now = c.get(TestCounter::kPackets);
    ASSERT_GE(now, last);
    last = now;
  }
  writer.join();
  EXPECT_EQ(c.get(TestCounter::kPackets), 200000u);
}

}  // namespace
}  // namespace spanguard::core
