// classification.config reading: good lines kept, bad lines reported as name:line, and the
// classtype list shipped in rules/ loading cleanly.
#include "spanguard/rules/classification.h"

#include <gtest/gtest.h>

#include <string>

namespace spanguard::rules {
namespace {

TEST(Classifications, LoadsGoodLinesWithDescriptionAndPriority) {
  Classifications c;
  const auto errors = c.load_text(
      "# comment\n"
      "\n"
      "config classification: trojan-activity,A Network Trojan was detected,1\n"
      "   config classification:  misc-activity , Misc activity , 3  \n"
      "config classification:tcp-connection,A TCP connection was detected,4\r\n"
      "\t# indented comment\n"
      "config classification: web-application-activity,access to a web app, possibly bad,2",
      "classes.config");
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(c.size(), 4u);

  const Classification* trojan = c.find("trojan-activity");
  ASSERT_NE(trojan, nullptr);
  EXPECT_EQ(trojan->description, "A Network Trojan was detected");
  EXPECT_EQ(trojan->priority, 1u);

  const Classification* misc = c.find("misc-activity");  // surrounding spaces trimmed
  ASSERT_NE(misc, nullptr);
  EXPECT_EQ(misc->description, "Misc activity");
  EXPECT_EQ(misc->priority, 3u);

  const Classification* tcp = c.find("tcp-connection");  // CRLF line
  ASSERT_NE(tcp, nullptr);
  EXPECT_EQ(tcp->description, "A TCP connection was detected");
  EXPECT_EQ(tcp->priority, 4u);

  // The description may itself hold commas: the priority is after the last one.
  const Classification* web = c.find("web-application-activity");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->description, "access to a web app, possibly bad");
  EXPECT_EQ(web->priority, 2u);
}

TEST(Classifications, FindIsExactAndReturnsNullForUnknownNames) {
  Classifications c;
  EXPECT_EQ(c.find("trojan-activity"), nullptr);
  EXPECT_EQ(c.size(), 0u);
  ASSERT_TRUE(c.load_text("config classification: trojan-activity,Trojan,1\n", "x").empty());
  EXPECT_NE(c.find("trojan-activity"), nullptr);
  EXPECT_EQ(c.find("Trojan-Activity"), nullptr);
  EXPECT_EQ(c.find("trojan"), nullptr);
  EXPECT_EQ(c.find("trojan-activity "), nullptr);
  EXPECT_EQ(c.find(""), nullptr);
}

TEST(Classifications, BadLinesAreReportedAsNameAndLineAndGoodLinesStillLoad) {
  Classifications c;
  const auto errors = c.load_text(
      "config classification: good-one,Good One,1\n"    // 1
      "classification: missing-config,No Prefix,2\n"    // 2
      "# fine\n"                                        // 3
      "config classification: two-fields,Only Two\n"    // 4
      "config classification: no-commas\n"              // 5
      "config classification: bad-priority,Bad,high\n"  // 6
      "config classification: negative,Negative,-1\n"   // 7
      "config classification: empty-priority,Empty,\n"  // 8
      "config classification: trailing,Trailing,2x\n"   // 9
      "config classification: good-two,Good Two,2\n",   // 10
      "my.config");
  ASSERT_EQ(errors.size(), 7u);
  EXPECT_EQ(errors[0], "my.config:2: expected 'config classification: name,description,priority'");
  EXPECT_EQ(errors[1], "my.config:4: expected three comma-separated fields");
  EXPECT_EQ(errors[2], "my.config:5: expected three comma-separated fields");
  EXPECT_EQ(errors[3], "my.config:6: priority 'high' is not a number");
  EXPECT_EQ(errors[4], "my.config:7: priority '-1' is not a number");
  EXPECT_EQ(errors[5], "my.config:8: priority '' is not a number");
  EXPECT_EQ(errors[6], "my.config:9: priority '2x' is not a number");

  EXPECT_EQ(c.size(), 2u);
  ASSERT_NE(c.find("good-one"), nullptr);
  EXPECT_EQ(c.find("good-one")->priority, 1u);
  ASSERT_NE(c.find("good-two"), nullptr);
  EXPECT_EQ(c.find("good-two")->priority, 2u);
  for (const char* bad :
       {"missing-config", "two-fields", "bad-priority", "negative", "empty-priority", "trailing"}) {
    EXPECT_EQ(c.find(bad), nullptr) << bad;
  }
}

TEST(Classifications, UnreadableFileIsOneErrorNamingThePath) {
  Classifications c;
  const std::string path = ::testing::TempDir() + "/no-such-dir/classification.config";
  const auto errors = c.load_file(path);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], path + ": cannot read classification file");
  EXPECT_EQ(c.size(), 0u);
}

TEST(Classifications, ShippedClassificationConfigLoadsWithoutErrors) {
  Classifications c;
  const std::string path = std::string(SPANGUARD_SOURCE_DIR) + "/rules/classification.config";
  const auto errors = c.load_file(path);
  EXPECT_TRUE(errors.empty()) << errors.size() << " errors, first: " << errors.front();
  // The names Snort and Suricata rule sets use; a missing one would refuse their rules.
  EXPECT_GE(c.size(), 40u);
  for (const char* name : {"not-suspicious",
                           "unknown",
                           "bad-unknown",
                           "attempted-recon",
                           "attempted-dos",
                           "attempted-user",
                           "attempted-admin",
                           "shellcode-detect",
                           "trojan-activity",
                           "web-application-attack",
                           "web-application-activity",
                           "misc-activity",
                           "misc-attack",
                           "policy-violation",
                           "protocol-command-decode",
                           "network-scan",
                           "exploit-kit",
                           "command-and-control",
                           "coin-mining",
                           "credential-theft",
                           "tcp-connection"}) {
    EXPECT_NE(c.find(name), nullptr) << name;
  }
  ASSERT_NE(c.find("trojan-activity"), nullptr);
  EXPECT_EQ(c.find("trojan-activity")->description, "A Network Trojan was detected");
  EXPECT_EQ(c.find("trojan-activity")->priority, 1u);
  ASSERT_NE(c.find("misc-activity"), nullptr);
  EXPECT_EQ(c.find("misc-activity")->priority, 3u);
  ASSERT_NE(c.find("tcp-connection"), nullptr);
  EXPECT_EQ(c.find("tcp-connection")->priority, 4u);
  ASSERT_NE(c.find("bad-unknown"), nullptr);
  EXPECT_EQ(c.find("bad-unknown")->description, "Potentially Bad Traffic");
  EXPECT_EQ(c.find("bad-unknown")->priority, 2u);
}

}  // namespace
}  // namespace spanguard::rules
