// Rule fields an alert carries to the SIEM, through `spanguard replay`: references resolved by the
// shipped reference.config into EVE's alert.references, and `target` as alert.source/target.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace spanguard::testing
