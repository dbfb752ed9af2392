// Thresholding as Suricata defines it, on the tracker alone (time given explicitly) and end to end
// through a worker: limit, threshold, both, detection_filter; tracking by source, destination,
// rule and pair; windows that expire; bounded state.
#include "spanguard/detect/alert_rate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "sensor.h"
#include "tcp_conversation.h"

namespace spanguard::detect {
namespace {

using rules::AlertRate;

core::IpAddress ip(uint8_t last) {
  const uint8_t b[4] = {198, 51, 100, last};
  return core::IpAddress::v4(b);
}

core::Timestamp at(int seconds) {
  return core::timestamp_from_ns(int64_t{seconds} * 1'000'000'000);
}

// Which of `times` (seconds) alert for one source and destination.
std::vector<int> alerting(const AlertRate& rate, const std::vector<int>& times) {
  AlertRateTracker t;
  std::vector<int> out;
  for (const int s : times) {
    if (t.admit(7, rate, ip(1), ip(2), at(s))) out.push_back(s);
  }
  return out;
}

TEST(AlertRate, LimitAlertsAtMostCountTimesPerWindow) {
  const AlertRate r{AlertRate::Kind::kLimit, AlertRate::Track::kBySrc, 2, 60};
  EXPECT_EQ(alerting(r, {0, 1, 2, 3, 59, 60, 61, 62}), (std::vector<int>{0, 1, 60, 61}));
}

TEST(AlertRate, ThresholdAlertsAtEveryCountthMatch) {
  const AlertRate r{AlertRate::Kind::kThreshold, AlertRate::Track::kBySrc, 3, 60};
  EXPECT_EQ(alerting(r, {0, 1, 2, 3, 4, 5, 6}), (std::vector<int>{2, 5}));
  // Matches spread beyond the window never reach the count.
  EXPECT_TRUE(alerting(r, {0, 61, 122}).empty());
}

TEST(AlertRate, BothAlertsOncePerWindowAfterCount) {
  const AlertRate r{AlertRate::Kind::kBoth, AlertRate::Track::kBySrc, 2, 60};
  EXPECT_EQ(alerting(r, {0, 1, 2, 3, 60, 61, 62}), (std::vector<int>{1, 61}));
}

TEST(AlertRate, DetectionFilterAlertsOnEveryMatchAfterCount) {
  const AlertRate r{AlertRate::Kind::kDetectionFilter, AlertRate::Track::kByDst, 2, 10};
  EXPECT_EQ(alerting(r, {0, 1, 2, 3, 20, 21}), (std::vector<int>{2, 3}));
}

TEST(AlertRate, TrackingSeparatesWhatItTracks) {
  const AlertRate by_src{AlertRate::Kind::kLimit, AlertRate::Track::kBySrc, 1, 60};
  const AlertRate by_dst{AlertRate::Kind::kLimit, AlertRate::Track::kByDst, 1, 60};
  const AlertRate by_rule{AlertRate::Kind::kLimit, AlertRate::Track::kByRule, 1, 60};
  const AlertRate by_both{AlertRate::Kind::kLimit, AlertRate::Track::kByBoth, 1, 60};
  AlertRateTracker t;
  EXPECT_TRUE(t.admit(1, by_src, ip(1), ip(2), at(0)));
  EXPECT_FALSE(t.admit(1, by_src, ip(1), ip(3), at(1)));  // same source
  EXPECT_TRUE(t.admit(1, by_src, ip(4), ip(2), at(1)));   // another source
  EXPECT_TRUE(t.admit(2, by_dst, ip(1), ip(2), at(0)));
  EXPECT_FALSE(t.admit(2, by_dst, ip(5), ip(2), at(1)));  // same destination
  EXPECT_TRUE(t.admit(3, by_rule, ip(1), ip(2), at(0)));
  EXPECT_FALSE(t.admit(3, by_rule, ip(6), ip(7), at(1)));  // anything
  EXPECT_TRUE(t.admit(4, by_both, ip(1), ip(2), at(0)));
  EXPECT_FALSE(t.admit(4, by_both, ip(2), ip(1), at(1)));  // the same pair, reversed (Suricata)
  EXPECT_TRUE(t.admit(4, by_both, ip(1), ip(3), at(1)));   // another pair
  EXPECT_TRUE(t.admit(5, by_src, ip(1), ip(2), at(0)));    // another rule: its own count
}

// rate_filter: over `count` matches within `seconds`, the match and those of the next `timeout`
// seconds take new_action; then the rule's own action again, and counting starts over.
TEST(AlertRate, RateFilterChangesTheActionForTimeoutSecondsOnceTheRateIsExceeded) {
  const rules::RateFilter f{AlertRate::Track::kBySrc, 2, 10, rules::Action::kRejectBoth, 30};
  AlertRateTracker t;
  EXPECT_FALSE(t.rate_filter(1, f, ip(1), ip(2), at(0)));
  EXPECT_FALSE(t.rate_filter(1, f, ip(1), ip(2), at(1)));
  EXPECT_FALSE(t.rate_filter(1, f, ip(9), ip(2), at(1)));  // another source counts apart
  EXPECT_EQ(t.rate_filter(1, f, ip(1), ip(2), at(2)), rules::Action::kRejectBoth);  // the 3rd
  EXPECT_EQ(t.rate_filter(1, f, ip(1), ip(2), at(20)), rules::Action::kRejectBoth);
  EXPECT_EQ(t.rate_filter(1, f, ip(1), ip(2), at(31)), rules::Action::kRejectBoth);
  EXPECT_FALSE(t.rate_filter(1, f, ip(1), ip(2), at(33)));  // timeout over: counting again
  EXPECT_FALSE(t.rate_filter(1, f, ip(1), ip(2), at(34)));
  EXPECT_EQ(t.rate_filter(1, f, ip(1), ip(2), at(35)), rules::Action::kRejectBoth);
  // Slower than the rate: never exceeded.
  EXPECT_FALSE(t.rate_filter(2, f, ip(1), ip(2), at(0)));
  EXPECT_FALSE(t.rate_filter(2, f, ip(1), ip(2), at(6)));
  EXPECT_FALSE(t.rate_filter(2, f, ip(1), ip(2), at(12)));
  EXPECT_FALSE(t.rate_filter(2, f, ip(1), ip(2), at(18)));
}

TEST(AlertRate, StateStaysBoundedUnderManySources) {
  const AlertRate r{AlertRate::Kind::kLimit, AlertRate::Track::kBySrc, 1, 60};
  AlertRateTracker t(100);
  for (int i = 0; i < 1000; ++i) {
    const uint8_t b[4] = {198, 51, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    t.admit(1, r, core::IpAddress::v4(b), ip(2), at(0));
    EXPECT_LE(t.entries(), 100u);
  }
  EXPECT_GT(t.evicted(), 0u);
}

TEST(AlertRate, ARuleWithThresholdAlertsOncePerSourceAcrossFlows) {
  Sensor s(
      "alert tcp any any -> any any (msg:\"limited\"; content:\"PING\"; "
      "threshold: type limit, track by_src, count 1, seconds 60; sid:1;)");
  for (uint16_t port = 41000; port < 41003; ++port) {
    testing::TcpConversation c({"198.51.100.10", port, testing::kClientMac},
                               {"198.51.100.20", 7, testing::kServerMac});
    s.feed(c.handshake());
    s.feed(c.client_sends("PING\r\n"));
    s.feed(c.close());
  }
  testing::TcpConversation other({"198.51.100.11", 41000, testing::kClientMac},
                                 {"198.51.100.20", 7, testing::kServerMac});
  s.feed(other.handshake());
  s.feed(other.client_sends("PING\r\n"));
  EXPECT_EQ(s.sids(), (std::vector<uint32_t>{1, 1}));  // one per source
  EXPECT_EQ(s.counter("detect.thresholded"), 2u);
}

// A stream match counts toward the threshold once: when a later segment holds the fast pattern
// again, the earlier match still in the stream window is not counted a second time.
TEST(AlertRate, AStreamMatchCountsOnceEvenWhenItsBytesAreInspectedAgain) {
  Sensor s(
      "alert tcp any any -> any any (msg:\"twice\"; content:\"HELLO\"; content:\"lib\"; "
      "fast_pattern; "
      "within:20; threshold: type threshold, track by_src, count 2, seconds 60; sid:1;)");
  testing::TcpConversation c({"198.51.100.10", 41000, testing::kClientMac},
                             {"198.51.100.20", 7, testing::kServerMac});
  s.feed(c.handshake());
  s.feed(c.client_sends("HELLO lib\r\n"));
  // The fast pattern again, out of reach of any HELLO: nothing new matches.
  s.feed(c.client_sends(std::string(40, 'x') + " lib\r\n"));
  EXPECT_TRUE(s.sids().empty());
  EXPECT_EQ(s.counter("detect.thresholded"), 1u);
  s.feed(c.client_sends("HELLO again lib\r\n"));  // a second real match: the count is reached
  EXPECT_EQ(s.sids(), (std::vector<uint32_t>{1}));
}

}  // namespace
}  // namespace spanguard::detect
