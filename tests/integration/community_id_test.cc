// Community ID in EVE through `spanguard replay`: an alert and the flow record of its flow carry
// the same ID, the one the spec computes for the conversation (client first); the two halves of an
// ICMP echo share one; the seed changes it; output.eve.community_id: false leaves it out.
#include "spanguard/core/community_id.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include "frame_builder.h"
#include "process.h"
#include "rule_replay.h"
#include "spanguard/core/ip_address.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

constexpr const char* kClient = "198.51.100.7";
constexpr const char* kServer = "198.51.100.20";

core::IpAddress ip(const char* text) { return *core::IpAddress::parse(text); }

std::vector<Bytes> capture() {
  TcpConversation c({kClient, 41000, kClientMac}, {kServer, 8080, kServerMac});
  std::vector<Bytes> frames = c.handshake();
  for (const auto& f : c.client_sends("PROBE\r\n")) frames.push_back(f);
  for (const auto& f : c.close()) frames.push_back(f);
  // An ICMPv6 echo exchange (request from the server side first, to show the ID does not depend
  // on which side spoke first for a request/reply pair).
  frames.push_back(FrameBuilder()
                       .ethernet(kServerMac, kClientMac)
                       .ipv6("2001:db8::20", "2001:db8::7")
                       .icmp(128, 0, 0x00010001)
                       .payload("ping")
                       .build());
  frames.push_back(FrameBuilder()
                       .ethernet(kClientMac, kServerMac)
                       .ipv6("2001:db8::7", "2001:db8::20")
                       .icmp(129, 0, 0x00010001)
                       .payload("ping")
                       .build());
  return frames;
}

const std::string kRules =
    "alert tcp any any -> any 8080 (msg:\"probe\"; flow:to_server; content:\"PROBE\"; sid:1;)\n"
    "alert icmp any any -> any any (msg:\"echo reply\"; itype:129; sid:2;)\n";

std::vector<std::string> ids_in(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  const std::regex id("\"community_id\":\"([^\"]+)\"");
  for (const std::string& line : lines) {
    std::smatch m;
    out.push_back(std::regex_search(line, m, id) ? m[1].str() : "");
  }
  return out;
}

TEST(CommunityId, AlertAndFlowRecordCarryTheSpecsIdOfTheirFlow) {
  const Replay r = replay("community-id", capture(), kRules, "{}", {"flow.records=yes"});
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  const std::string tcp_id = core::community_id_v1(ip(kClient), 41000, ip(kServer), 8080, 6);
  const std::string icmp_id =
      core::community_id_v1(ip("2001:db8::7"), 129, ip("2001:db8::20"), 0, 58);
  ASSERT_FALSE(tcp_id.empty());
  EXPECT_EQ(icmp_id, core::community_id_v1(ip("2001:db8::20"), 128, ip("2001:db8::7"), 0, 58));

  const std::vector<std::string> alerts = events_of_type(r, "alert");
  ASSERT_EQ(alerts.size(), 2u) << r.eve_text;
  std::vector<std::string> alert_ids = ids_in(alerts);
  std::sort(alert_ids.begin(), alert_ids.end());
  std::vector<std::string> expected = {tcp_id, icmp_id};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(alert_ids, expected) << r.eve_text;

  std::vector<std::string> flow_ids = ids_in(events_of_type(r, "flow"));
  std::sort(flow_ids.begin(), flow_ids.end());
  EXPECT_EQ(flow_ids, expected) << r.eve_text;
}

TEST(CommunityId, SeedChangesItAndItCanBeTurnedOff) {
  const Replay seeded =
      replay("community-id-seed", capture(), kRules, "{}", {"output.eve.community_id_seed=7"});
  ASSERT_EQ(seeded.run.status, 0) << seeded.run.err;
  const std::string id = core::community_id_v1(ip(kClient), 41000, ip(kServer), 8080, 6, 7);
  EXPECT_NE(id, core::community_id_v1(ip(kClient), 41000, ip(kServer), 8080, 6, 0));
  EXPECT_NE(seeded.eve_text.find("\"community_id\":\"" + id + "\""), std::string::npos)
      << seeded.eve_text;

  const Replay off =
      replay("community-id-off", capture(), kRules, "{}", {"output.eve.community_id=false"});
  ASSERT_EQ(off.run.status, 0) << off.run.err;
  EXPECT_EQ(alerts_of(off, 1), 1);
  EXPECT_EQ(off.eve_text.find("community_id"), std::string::npos) << off.eve_text;
}

}  // namespace
}  // namespace spanguard::testing
