// Health rules over successive source samples, with time given explicitly: stalls, drop ratios
// per interval, restarts, and the JSON body.
#include "spanguard/ops/health.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace spanguard::ops {
namespace {

using std::chrono::seconds;
using testing::ElementsAre;
using testing::HasSubstr;

const HealthCheck::Clock::time_point kStart{std::chrono::hours(1000)};

std::vector<SourceMetrics> source(uint64_t frames, uint64_t kernel_dropped = 0,
                                  const std::string& name = "eth1") {
  return {{.name = name, .frames = frames, .kernel_dropped = kernel_dropped}};
}

TEST(HealthCheck, HealthyWhileFramesArrive) {
  HealthCheck check({.stall_after = seconds(60), .max_drop_ratio = 0.01});
  for (int i = 0; i < 10; ++i) {
    const HealthReport r = check.evaluate(source(100 * (i + 1)), kStart + seconds(50 * i));
    EXPECT_TRUE(r.healthy) << i;
    EXPECT_TRUE(r.reasons.empty());
  }
}

TEST(HealthCheck, SourceWithoutNewFramesForStallTimeIsStalled) {
  HealthCheck check({.stall_after = seconds(60), .max_drop_ratio = 0.01});
  EXPECT_TRUE(check.evaluate(source(10), kStart).healthy);
  EXPECT_TRUE(check.evaluate(source(10), kStart + seconds(59)).healthy);
  const HealthReport stalled = check.evaluate(source(10), kStart + seconds(75));
  EXPECT_FALSE(stalled.healthy);
  ASSERT_EQ(stalled.reasons.size(), 1u);
  EXPECT_THAT(stalled.reasons[0], HasSubstr("'eth1'"));
  EXPECT_THAT(stalled.reasons[0], HasSubstr("no frame for 75s"));
  EXPECT_THAT(stalled.reasons[0], HasSubstr("metrics.stall_seconds: 60s"));
  // One more frame and it is healthy again.
  EXPECT_TRUE(check.evaluate(source(11), kStart + seconds(76)).healthy);
  EXPECT_TRUE(check.evaluate(source(11), kStart + seconds(135)).healthy);
  EXPECT_FALSE(check.evaluate(source(11), kStart + seconds(136)).healthy);
}

TEST(HealthCheck, StallTimeCountsFromWhenTheSourceWasFirstSeen) {
  HealthCheck check({.stall_after = seconds(60), .max_drop_ratio = 1});
  EXPECT_TRUE(check.evaluate({}, kStart).healthy);
  // eth2 appears late, with no traffic: its grace period starts now, not at kStart.
  std::vector<SourceMetrics> both = source(5);
  both.push_back({.name = "eth2"});
  EXPECT_TRUE(check.evaluate(both, kStart + seconds(100)).healthy);
  both[0].frames = 6;
  EXPECT_TRUE(check.evaluate(both, kStart + seconds(159)).healthy);
  both[0].frames = 7;
  const HealthReport r = check.evaluate(both, kStart + seconds(160));
  ASSERT_EQ(r.reasons.size(), 1u);
  EXPECT_THAT(r.reasons[0], HasSubstr("'eth2'"));
}

TEST(HealthCheck, StallWhileTheKernelDropsSaysTheCaptureIsStuck) {
  HealthCheck check({.stall_after = seconds(60), .max_drop_ratio = 1});
  EXPECT_TRUE(check.evaluate(source(500, 0), kStart).healthy);
  const HealthReport r = check.evaluate(source(500, 4000), kStart + seconds(61));
  ASSERT_EQ(r.reasons.size(), 1u);
  EXPECT_THAT(r.reasons[0], HasSubstr("stalled, no frame delivered for 61s while the kernel "
                                      "dropped 4000"));
}

TEST(HealthCheck, ZeroStallTimeNeverReportsAStall) {
  HealthCheck check({.stall_after = seconds(0), .max_drop_ratio = 0.01});
  EXPECT_TRUE(check.evaluate(source(0), kStart).healthy);
  EXPECT_TRUE(check.evaluate(source(0), kStart + std::chrono::hours(24)).healthy);
}

TEST(HealthCheck, DropRatioIsMeasuredBetweenEvaluations) {
  HealthCheck check({.stall_after = seconds(60), .max_drop_ratio = 0.01});
  EXPECT_TRUE(check.evaluate(source(1000, 0), kStart).healthy);
  // 10 of 1000 dropped: exactly the limit, not above it.
  EXPECT_TRUE(check.evaluate(source(1990, 10), kStart + seconds(10)).healthy);
  // 20 of 1010 (1.98%).
  const HealthReport r = check.evaluate(source(2980, 30), kStart + seconds(20));
  EXPECT_FALSE(r.healthy);
  ASSERT_EQ(r.reasons.size(), 1u);
  EXPECT_EQ(r.reasons[0],
            "capture source 'eth1': the kernel dropped 20 of 1010 frames (1.98%) since the "
            "previous check (metrics.max_drop_ratio: 0.01)");
  // The next interval has no drops: healthy although the totals still show them.
  EXPECT_TRUE(check.evaluate(source(4000, 30), kStart + seconds(30)).healthy);
}

TEST(HealthCheck, FirstEvaluationMeasuresDropsSinceStartUp) {
  HealthCheck check({.stall_after = seconds(60), .max_drop_ratio = 0.01});
  const HealthReport r = check.evaluate(source(90, 10), kStart);
  ASSERT_EQ(r.reasons.size(), 1u);
  EXPECT_THAT(r.reasons[0], HasSubstr("10 of 100 frames (10.00%) since start-up"));
}

TEST(HealthCheck, InterfaceDropsDoNotCount) {
  HealthCheck check({.stall_after = seconds(60), .max_drop_ratio = 0.01});
  std::vector<SourceMetrics> s = source(100);
  s[0].interface_dropped = 1000;
  EXPECT_TRUE(check.evaluate(s, kStart).healthy);
}

TEST(HealthCheck, EachSourceIsJudgedOnItsOwn) {
  HealthCheck check({.stall_after = seconds(60), .max_drop_ratio = 0.01});
  std::vector<SourceMetrics> s = {{.name = "eth1", .frames = 100}, {.name = "eth2", .frames = 100}};
  EXPECT_TRUE(check.evaluate(s, kStart).healthy);
  s[0].frames = 200;
  s[1].frames = 150;
  s[1].kernel_dropped = 50;
  const HealthReport r = check.evaluate(s, kStart + seconds(5));
  ASSERT_EQ(r.reasons.size(), 1u);
  EXPECT_THAT(r.reasons[0], HasSubstr("'eth2'"));
}

TEST(HealthCheck, RestartedSourceStartsAfresh) {
  HealthCheck check({.stall_after = seconds(60), .max_drop_ratio = 0.01});
  EXPECT_TRUE(check.evaluate(source(1000, 5), kStart + seconds(0)).healthy);
  // Counters went backwards: no underflow into a huge drop count, and the stall clock restarts.
  EXPECT_TRUE(check.evaluate(source(10, 0), kStart + seconds(59)).healthy);
  EXPECT_TRUE(check.evaluate(source(10, 0), kStart + seconds(118)).healthy);
  EXPECT_FALSE(check.evaluate(source(10, 0), kStart + seconds(119)).healthy);
}

TEST(HealthCheck, BothReasonsAreReported) {
  HealthCheck check({.stall_after = seconds(60), .max_drop_ratio = 0.01});
  EXPECT_TRUE(check.evaluate(source(10, 0), kStart).healthy);
  const HealthReport r = check.evaluate(source(10, 10), kStart + seconds(60));
  EXPECT_THAT(r.reasons, ElementsAre(HasSubstr("stalled"), HasSubstr("dropped 10 of 10")));
}

TEST(HealthReport, JsonNamesStatusAndEscapedReasons) {
  EXPECT_EQ(HealthReport{}.json(), "{\"status\":\"ok\"}\n");
  const HealthReport bad{.healthy = false, .reasons = {"source 'a\"b': x", "second"}};
  EXPECT_EQ(bad.json(),
            "{\"status\":\"unhealthy\",\"reasons\":[\"source 'a\\\"b': x\",\"second\"]}\n");
}

}  // namespace
}  // namespace spanguard::ops
