// The log rate limiter (N lines per key per window, the rest counted) and JSON escaping of log
// messages.
#include "spanguard/core/log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace spanguard::core {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kSecond = 1'000'000'000;

TEST(LogRateLimiter, PassesABurstPerKeyThenCountsWhatItHoldsBack) {
  LogRateLimiter limiter(3, 60s);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.admit("a", i).log);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.admit("a", 10 + i).log);
  EXPECT_TRUE(limiter.admit("b", 20).log);             // keys are independent
  const auto next = limiter.admit("a", 60 * kSecond);  // a new window
  EXPECT_TRUE(next.log);
  EXPECT_EQ(next.suppressed, 5u);  // reported with the first line that passes
  EXPECT_EQ(limiter.admit("a", 60 * kSecond + 1).suppressed, 0u);
}

TEST(LogRateLimiter, TakeSuppressedReportsEachKeyOnce) {
  LogRateLimiter limiter(1, 60s);
  limiter.admit("flow.emergency", 0, "flow");
  limiter.admit("flow.emergency", 1, "flow");
  limiter.admit("flow.emergency", 2, "flow");
  limiter.admit("quiet", 0, "x");
  const auto held = limiter.take_suppressed();
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].key, "flow.emergency");
  EXPECT_EQ(held[0].module, "flow");
  EXPECT_EQ(held[0].suppressed, 2u);
  EXPECT_TRUE(limiter.take_suppressed().empty());
}

std::string escaped(std::string_view text) {
  std::string out;
  append_json_escaped(text, out);
  return out;
}

TEST(JsonEscape, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(escaped("plain"), "plain");
  EXPECT_EQ(escaped("a \"b\" \\c"), "a \\\"b\\\" \\\\c");
  EXPECT_EQ(escaped("l1\nl2\tx\r"), "l1\\nl2\\tx\\r");
  EXPECT_EQ(escaped(std::string("\x01\x1f\x7f", 3)), "\\u0001\\u001f\\u007f");
  EXPECT_EQ(escaped(std::string("nul\0x", 5)), "nul\\u0000x");
}

TEST(JsonEscape, KeepsUtf8AndReplacesWhatIsNot) {
  EXPECT_EQ(escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(escaped("\xff"), "\\ufffd");
  EXPECT_EQ(escaped("\xc3"), "\\ufffd");                        // truncated sequence
  EXPECT_EQ(escaped("\xc0\xaf"), "\\ufffd\\ufffd");             // overlong '/'
  EXPECT_EQ(escaped("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");  // a surrogate
}

TEST(LogFormat, RefusesUnknownFormatsNamingThem) {
  try {
    set_log_format("xml");
    FAIL() << "no exception";
  } catch (const std::exception& e) {
    EXPECT_EQ(std::string(e.what()), "log format 'xml' is not one of text, json");
  }
  EXPECT_EQ(log_format(), LogFormat::kText);
}

}  // namespace
}  // namespace spanguard::core
