// replay --profile-rules: each rule's checks, matches and alerts counted exactly, verification
// time measured, the costliest first, rules never checked left out; the JSON file and the table.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "frame_builder.h"
#include "process.h"
#include "rule_replay.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

struct Row {
  uint64_t checks = 0, matches = 0, alerts = 0, ns_total = 0;
};

// signature_id -> figures, and the sids in the file's order.
std::map<uint32_t, Row> read_profile(const std::string& path, std::vector<uint32_t>& order) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string json = text.str();
  const std::regex row(
      "\\{\"gid\":1,\"signature_id\":([0-9]+),\"rev\":[0-9]+,\"checks\":([0-9]+),\"matches\":([0-9]"
      "+),"
      "\"alerts\":([0-9]+),\"ns_total\":([0-9]+),");
  std::map<uint32_t, Row> out;
  for (auto it = std::sregex_iterator(json.begin(), json.end(), row); it != std::sregex_iterator();
       ++it) {
    const auto sid = static_cast<uint32_t>(std::stoul((*it)[1]));
    order.push_back(sid);
    out[sid] = {std::stoull((*it)[2]), std::stoull((*it)[3]), std::stoull((*it)[4]),
                std::stoull((*it)[5])};
  }
  return out;
}

TEST(RuleProfile, CountsChecksMatchesAndAlertsPerRuleCostliestFirst) {
  std::vector<Bytes> frames;
  for (uint16_t i = 0; i < 3; ++i) {
    TcpConversation c({"198.51.100.7", static_cast<uint16_t>(41000 + i), kClientMac},
                      {"198.51.100.20", 8080, kServerMac});
    for (const auto& f : c.handshake()) frames.push_back(f);
    for (const auto& f : c.client_sends("PROBE " + std::string(2000, 'a') + "\r\n"))
      frames.push_back(f);
    for (const auto& f : c.close()) frames.push_back(f);
  }
  const std::string rules =
      "alert tcp any any -> any 8080 (msg:\"probe\"; flow:to_server; content:\"PROBE\"; "
      "sid:1;)\n"
      // A costly miss: the pcre runs over the 2000 bytes after each PROBE and fails.
      "alert tcp any any -> any 8080 (msg:\"probe with digits\"; flow:to_server; "
      "content:\"PROBE\"; pcre:\"/PROBE\\s(a+)+[0-9]/\"; sid:2;)\n"
      "alert tcp any any -> any 8080 (msg:\"never\"; content:\"NEVER-THERE\"; sid:3;)\n";
  const std::string json = temp_path("profile.json");
  std::remove(json.c_str());
  const RunResult r =
      replay_to_eve("profile", frames, rules, {"--profile-rules=1", "--profile-rules-file", json})
          .run;
  ASSERT_EQ(r.status, 0) << r.err;

  std::vector<uint32_t> order;
  const std::map<uint32_t, Row> p = read_profile(json, order);
  ASSERT_EQ(p.size(), 2u) << "rule 3 was never checked and is left out";
  EXPECT_EQ(p.at(1).checks, 3u);
  EXPECT_EQ(p.at(1).matches, 3u);
  EXPECT_EQ(p.at(1).alerts, 3u);
  EXPECT_EQ(p.at(2).checks, 3u);
  EXPECT_EQ(p.at(2).matches, 0u);
  EXPECT_EQ(p.at(2).alerts, 0u);
  EXPECT_GT(p.at(2).ns_total, p.at(1).ns_total);
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order.front(), 2u) << "costliest first";

  EXPECT_NE(r.err.find("rule profile: 2 rules checked"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(the 1 costliest)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1:2:"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("1:1:"), std::string::npos) << "only the costliest row is printed";
}

TEST(RuleProfile, OffByDefault) {
  TcpConversation c({"198.51.100.7", 41000, kClientMac}, {"198.51.100.20", 8080, kServerMac});
  std::vector<Bytes> frames = c.handshake();
  for (const auto& f : c.client_sends("PROBE\r\n")) frames.push_back(f);
  const Replay r =
      replay("profile-off", frames,
             "alert tcp any any -> any 8080 (msg:\"probe\"; content:\"PROBE\"; sid:1;)", "{}");
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_EQ(alerts_of(r, 1), 1);
  EXPECT_EQ(r.run.err.find("rule profile"), std::string::npos) << r.run.err;
}

}  // namespace
}  // namespace spanguard::testing
