// Rule fields an alert carries to the SIEM, through `spanguard replay`: references resolved by the
// shipped reference.config into EVE's alert.references, and `target` as alert.source/target.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "frame_builder.h"
#include "rule_replay.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

std::vector<Bytes> probe() {
  TcpConversation c({"198.51.100.7", 41000, kClientMac}, {"198.51.100.20", 8080, kServerMac});
  std::vector<Bytes> frames = c.handshake();
  for (const auto& f : c.client_sends("PROBE\r\n")) frames.push_back(f);
  return frames;
}

TEST(AlertFields, ReferencesAreUrlsFromTheReferenceFile) {
  const Replay r = replay("alert-references", probe(),
                          "alert tcp any any -> any 8080 (msg:\"p\"; content:\"PROBE\"; "
                          "reference:url,example.com/advisory; reference:cve,2021-44228; sid:1;)",
                          "{}");
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_NE(r.eve_text.find("\"references\":[\"https://example.com/advisory\","
                            "\"https://cve.mitre.org/cgi-bin/cvename.cgi?name=2021-44228\"]"),
            std::string::npos)
      << r.eve_text;
}

TEST(AlertFields, TargetNamesTheAttackedEnd) {
  const Replay dest = replay("alert-target-dest", probe(),
                             "alert tcp any any -> any 8080 (msg:\"p\"; content:\"PROBE\"; "
                             "target:dest_ip; sid:1;)",
                             "{}");
  ASSERT_EQ(dest.run.status, 0) << dest.run.err;
  EXPECT_NE(dest.eve_text.find("\"source\":{\"ip\":\"198.51.100.7\",\"port\":41000},"
                               "\"target\":{\"ip\":\"198.51.100.20\",\"port\":8080}"),
            std::string::npos)
      << dest.eve_text;
  const Replay src = replay("alert-target-src", probe(),
                            "alert tcp any any -> any 8080 (msg:\"p\"; content:\"PROBE\"; "
                            "target:src_ip; sid:1;)",
                            "{}");
  ASSERT_EQ(src.run.status, 0) << src.run.err;
  EXPECT_NE(src.eve_text.find("\"source\":{\"ip\":\"198.51.100.20\",\"port\":8080},"
                              "\"target\":{\"ip\":\"198.51.100.7\",\"port\":41000}"),
            std::string::npos)
      << src.eve_text;
}

// output.eve.packet: the frame that completed the match, base64, with its link type (Suricata's
// packet and packet_info); off by default.
TEST(AlertFields, PacketIsTheTriggeringFrameWhenAskedFor) {
  const std::vector<Bytes> frames = probe();
  const std::string rule = "alert tcp any any -> any 8080 (msg:\"p\"; content:\"PROBE\"; sid:1;)";
  const Replay off = replay("alert-packet-off", frames, rule, "{}");
  ASSERT_EQ(off.run.status, 0) << off.run.err;
  EXPECT_EQ(off.eve_text.find("\"packet\""), std::string::npos) << off.eve_text;

  const Replay on = replay("alert-packet-on", frames, rule, "{}", {"output.eve.packet=true"});
  ASSERT_EQ(on.run.status, 0) << on.run.err;
  const std::vector<std::string> alerts = events_of_type(on, "alert");
  ASSERT_EQ(alerts.size(), 1u) << on.eve_text;
  // The client's data segment, base64 of its exact bytes.
  const std::string marker = "PROBE";
  const auto carries = [&marker](const Bytes& f) {
    return std::search(f.begin(), f.end(), marker.begin(), marker.end()) != f.end();
  };
  const auto it = std::find_if(frames.begin(), frames.end(), carries);
  ASSERT_NE(it, frames.end());
  const Bytes& trigger = *it;
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string base64;
  for (size_t i = 0; i < trigger.size(); i += 3) {
    const uint32_t n = (uint32_t{trigger[i]} << 16) |
                       (i + 1 < trigger.size() ? uint32_t{trigger[i + 1]} << 8 : 0) |
                       (i + 2 < trigger.size() ? uint32_t{trigger[i + 2]} : 0);
    base64 += kAlphabet[(n >> 18) & 63];
    base64 += kAlphabet[(n >> 12) & 63];
    base64 += i + 1 < trigger.size() ? kAlphabet[(n >> 6) & 63] : '=';
    base64 += i + 2 < trigger.size() ? kAlphabet[n & 63] : '=';
  }
  EXPECT_NE(alerts[0].find("\"packet\":\"" + base64 + "\""), std::string::npos) << alerts[0];
  EXPECT_NE(alerts[0].find("\"packet_info\":{\"linktype\":1,\"linktype_name\":\"EN10MB\"}"),
            std::string::npos)
      << alerts[0];
}

}  // namespace
}  // namespace spanguard::testing
