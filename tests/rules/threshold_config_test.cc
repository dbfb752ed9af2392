// threshold.config applied to parsed rules: thresholds replace a rule's own (or, for sig_id 0,
// fill in where a rule has none), suppressions by host or for the whole rule, rate_filter set (or
// ignored where the rule thresholds itself), and every malformed line named by file:line.
#include "spanguard/rules/threshold_config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "spanguard/rules/parser.h"

namespace spanguard::rules {
namespace {

std::vector<Rule> parse(const std::string& text) {
  RuleParser parser(default_variables(), nullptr);
  parser.parse_text(text, "t.rules");
  RuleSet set = parser.take();
  for (const Diagnostic& d : set.diagnostics) ADD_FAILURE() << d.to_string();
  return std::move(set.rules);
}

const std::string kRules =
    "alert tcp any any -> any any (msg:\"a\"; content:\"a\"; sid:1;)\n"
    "alert tcp any any -> any any (msg:\"b\"; content:\"b\"; "
    "threshold: type limit, track by_src, count 1, seconds 60; sid:2;)\n"
    "alert tcp any any -> any any (msg:\"c\"; content:\"c\"; gid:3; sid:3;)\n";

core::IpAddress ip(const char* text) { return core::IpAddress::parse(text).value(); }

TEST(ThresholdConfig, AThresholdForOneRuleReplacesItsOwnAndSidZeroFillsInTheRest) {
  std::vector<Rule> rules = parse(kRules);
  std::vector<Diagnostic> diagnostics;
  apply_threshold_config(
      "# comments and blank lines are fine\n\n"
      "threshold gen_id 1, sig_id 2, type both, track by_dst, count 3, seconds 5\n"
      "event_filter gen_id 0, sig_id 0, type threshold, \\\n"
      "    track by_rule, count 10, seconds 60\n",
      "threshold.config", default_variables(), rules, diagnostics);
  EXPECT_TRUE(diagnostics.empty()) << diagnostics.front().to_string();
  ASSERT_TRUE(rules[1].rate);
  EXPECT_EQ(rules[1].rate->kind, AlertRate::Kind::kBoth);  // replaced, and not by sid 0's
  EXPECT_EQ(rules[1].rate->track, AlertRate::Track::kByDst);
  EXPECT_EQ(rules[1].rate->count, 3u);
  EXPECT_EQ(rules[1].rate->seconds, 5u);
  for (const size_t i : {0, 2}) {
    ASSERT_TRUE(rules[i].rate) << i;
    EXPECT_EQ(rules[i].rate->kind, AlertRate::Kind::kThreshold) << i;
    EXPECT_EQ(rules[i].rate->track, AlertRate::Track::kByRule) << i;
  }
}

TEST(ThresholdConfig, SuppressionsByHostByGidOrWhole) {
  std::vector<Rule> rules = parse(kRules);
  Variables vars = default_variables();
  vars.addresses["HOME_NET"] = "[198.51.100.0/25]";
  std::vector<Diagnostic> diagnostics;
  apply_threshold_config(
      "suppress gen_id 1, sig_id 1, track by_src, ip [198.51.100.7,198.51.100.8]\n"
      "suppress gen_id 1, sig_id 2, track by_either, ip $HOME_NET\n"
      "suppress gen_id 3, sig_id 0\n",
      "threshold.config", vars, rules, diagnostics);
  EXPECT_TRUE(diagnostics.empty()) << diagnostics.front().to_string();
  ASSERT_EQ(rules[0].suppressions.size(), 1u);
  EXPECT_EQ(rules[0].suppressions[0].track, Suppression::Track::kSrc);
  EXPECT_TRUE(rules[0].suppressions[0].addresses.contains(ip("198.51.100.8")));
  EXPECT_FALSE(rules[0].suppressions[0].addresses.contains(ip("198.51.100.9")));
  ASSERT_EQ(rules[1].suppressions.size(), 1u);
  EXPECT_EQ(rules[1].suppressions[0].track, Suppression::Track::kEither);
  EXPECT_TRUE(rules[1].suppressions[0].addresses.contains(ip("198.51.100.100")));
  EXPECT_FALSE(rules[1].suppressions[0].addresses.contains(ip("198.51.100.200")));
  ASSERT_EQ(rules[2].suppressions.size(), 1u);  // every rule of gid 3
  EXPECT_EQ(rules[2].suppressions[0].track, Suppression::Track::kAll);
}

TEST(ThresholdConfig, ProblemsNameTheLineAndKeepTheOtherLines) {
  std::vector<Rule> rules = parse(kRules);
  std::vector<Diagnostic> diagnostics;
  apply_threshold_config(
      "threshold gen_id 1, sig_id 1, type sometimes, track by_src, count 1, seconds 1\n"
      "suppress gen_id 1, sig_id 1, track by_src\n"
      "rate_filter gen_id 1, sig_id 2, track by_src, count 10, seconds 60, new_action drop, "
      "timeout 30\n"
      "suppress gen_id 1, sig_id 999\n"
      "supress gen_id 1, sig_id 1\n"
      "threshold gen_id 1, sig_id x, type limit, track by_src, count 1, seconds 1\n"
      "suppress gen_id 1, sig_id 1, track by_src, ip 198.51.100.300\n"
      "suppress gen_id 1, sig_id 1\n",
      "threshold.config", default_variables(), rules, diagnostics);
  const std::vector<std::pair<int, std::string>> want = {
      {1, "'type' must be limit, threshold or both, got 'sometimes'"},
      {2, "'suppress' needs both 'track' and 'ip'"},
      {3, "rate_filter ignored: rule 1:2 has its own threshold"},
      {4, "no loaded rule has gen_id 1, sig_id 999"},
      {5, "unknown command 'supress'"},
      {6, "'sig_id' expects a number, got 'x'"},
      {7, "'ip' 198.51.100.300"}};
  ASSERT_EQ(diagnostics.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(diagnostics[i].line, want[i].first) << diagnostics[i].to_string();
    EXPECT_NE(diagnostics[i].message.find(want[i].second), std::string::npos)
        << diagnostics[i].to_string();
    EXPECT_EQ(diagnostics[i].file, "threshold.config");
  }
  EXPECT_EQ(diagnostics[2].severity, Diagnostic::Severity::kWarning);
  EXPECT_EQ(diagnostics[3].severity, Diagnostic::Severity::kWarning);
  EXPECT_EQ(diagnostics[0].severity, Diagnostic::Severity::kError);
  // The good last line still applied.
  ASSERT_EQ(rules[0].suppressions.size(), 1u);
  EXPECT_EQ(rules[0].suppressions[0].track, Suppression::Track::kAll);
}

TEST(ThresholdConfig, RateFilterSetsNewActionCountAndTimeout) {
  std::vector<Rule> rules = parse(kRules);
  std::vector<Diagnostic> diagnostics;
  apply_threshold_config(
      "rate_filter gen_id 1, sig_id 1, track by_rule, count 5, seconds 10, new_action reject, "
      "timeout 60\n"
      "rate_filter gen_id 3, sig_id 3, track by_src, count 5, seconds 10, new_action sdrop, "
      "timeout 60\n"
      "rate_filter gen_id 3, sig_id 3, track by_src, count 5, seconds 10, new_action pass\n",
      "threshold.config", default_variables(), rules, diagnostics);
  ASSERT_TRUE(rules[0].rate_filter);
  EXPECT_EQ(rules[0].rate_filter->track, AlertRate::Track::kByRule);
  EXPECT_EQ(rules[0].rate_filter->count, 5u);
  EXPECT_EQ(rules[0].rate_filter->seconds, 10u);
  EXPECT_EQ(rules[0].rate_filter->new_action, Action::kRejectBoth);
  EXPECT_EQ(rules[0].rate_filter->timeout, 60u);
  EXPECT_FALSE(rules[2].rate_filter);
  ASSERT_EQ(diagnostics.size(), 2u);
  EXPECT_NE(diagnostics[0].message.find("'new_action' must be alert, pass, drop"),
            std::string::npos);
  EXPECT_NE(diagnostics[1].message.find("needs 'timeout'"), std::string::npos);
}

}  // namespace
}  // namespace spanguard::rules
