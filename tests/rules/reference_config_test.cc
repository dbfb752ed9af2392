// reference.config: lines read as Suricata does (case-insensitive systems, first definition wins,
// bad lines named file:line), and rules' references resolved to URLs, unknown systems kept and
// reported once per rule.
#include "spanguard/rules/reference_config.h"

#include <gtest/gtest.h>

namespace spanguard::rules {
namespace {

TEST(ReferenceConfig, ReadsSystemsAndNamesBadLines) {
  ReferenceSystems systems;
  const auto errors = systems.load_text(
      "# comment\n"
      "config reference: url https://\n"
      "config reference: CVE   https://cve.mitre.org/cgi-bin/cvename.cgi?name=\n"
      "config reference: url http://ignored/\n"
      "config reference: 9bad http://x/\n"
      "config reference: nourl\n"
      "reference: url http://\n",
      "ref.config");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].rfind("ref.config:5: ", 0), 0u) << errors[0];
  EXPECT_EQ(errors[1].rfind("ref.config:6: ", 0), 0u) << errors[1];
  EXPECT_EQ(errors[2].rfind("ref.config:7: ", 0), 0u) << errors[2];
  EXPECT_EQ(systems.size(), 2u);
  ASSERT_NE(systems.find("url"), nullptr);
  EXPECT_EQ(*systems.find("url"), "https://");  // the first definition wins
  ASSERT_NE(systems.find("cve"), nullptr);
  EXPECT_EQ(systems.find("bugtraq"), nullptr);
}

TEST(ReferenceConfig, ResolvesReferencesAndReportsUnknownSystemsOncePerRule) {
  ReferenceSystems systems;
  ASSERT_TRUE(
      systems
          .load_text("config reference: url https://\n"
                     "config reference: cve https://cve.mitre.org/cgi-bin/cvename.cgi?name=\n",
                     "ref.config")
          .empty());
  RuleParser parser(default_variables(), nullptr);
  parser.parse_text(
      "alert tcp any any -> any any (msg:\"a\"; reference:url,example.com/x; "
      "reference:CVE,2021-44228; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"b\"; reference:foo,1; reference:foo,2; "
      "reference:bar,3; sid:2;)\n",
      "r.rules");
  RuleSet set = parser.take();
  ASSERT_EQ(set.rules.size(), 2u);
  std::vector<Diagnostic> diagnostics;
  resolve_references(systems, set.rules, diagnostics);
  EXPECT_EQ(set.rules[0].references[0].url, "https://example.com/x");
  EXPECT_EQ(set.rules[0].references[1].url,
            "https://cve.mitre.org/cgi-bin/cvename.cgi?name=2021-44228");
  EXPECT_EQ(set.rules[1].references[0].url, "foo,1");
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].severity, Diagnostic::Severity::kWarning);
  EXPECT_EQ(diagnostics[0].to_string(),
            "r.rules:2:1: warning: reference system 'foo', 'bar' is not in the reference file "
            "(printed as system,value)");
}

}  // namespace
}  // namespace spanguard::rules
