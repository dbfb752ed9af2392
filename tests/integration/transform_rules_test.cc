// Transforms end to end through `spanguard replay` on HTTP requests: pcrexform keeps a regex's
// capture, header_lowercase folds header names only, and positional keywords (byte_extract) read
// the transformed buffer, not the original; a pcrexform regex PCRE2 refuses is a rule error.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "frame_builder.h"
#include "process.h"
#include "rule_replay.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

std::vector<Bytes> request(const std::string& line, const std::string& headers) {
  TcpConversation c({"198.51.100.7", 41000, kClientMac}, {"198.51.100.20", 80, kServerMac});
  std::vector<Bytes> frames = c.handshake();
  for (const auto& f : c.client_sends(line + "\r\nHost: a.example\r\n" + headers + "\r\n"))
    frames.push_back(f);
  for (const auto& f : c.server_sends("HTTP/1.1 204 No Content\r\n\r\n")) frames.push_back(f);
  return frames;
}

const std::string kRules =
    R"(alert http any any -> any any (msg:"admin path"; http.request_line; pcrexform:"[A-Z]+\s+(\S+)\s+HTTP"; content:"/admin"; startswith; sid:1;)
alert http any any -> any any (msg:"evil header"; http.header; header_lowercase; content:"x-evil: Yes"; sid:2;)
alert http any any -> any any (msg:"decoded byte"; http.uri; url_decode; byte_extract:1,1,v; byte_test:1,=,0x41,1; sid:3;)
)";

TEST(TransformRules, PcrexformHeaderLowercaseAndPositionalKeywordsOnTransformedBuffers) {
  const Replay hit =
      replay("transforms-hit", request("GET /admin/x HTTP/1.1", "X-EVIL: Yes\r\n"), kRules, "{}");
  ASSERT_EQ(hit.run.status, 0) << hit.run.err;
  EXPECT_EQ(hit.alerts, (AlertCounts{{1, 1}, {2, 1}})) << hit.eve_text;

  const Replay miss = replay("transforms-miss",
                             request("GET /user/admin HTTP/1.1", "X-Evil: yes\r\n"), kRules, "{}");
  ASSERT_EQ(miss.run.status, 0) << miss.run.err;
  EXPECT_TRUE(miss.alerts.empty()) << miss.eve_text;

  const Replay decoded =
      replay("transforms-decoded", request("GET /%41 HTTP/1.1", ""), kRules, "{}");
  ASSERT_EQ(decoded.run.status, 0) << decoded.run.err;
  EXPECT_EQ(decoded.alerts, (AlertCounts{{3, 1}})) << decoded.eve_text;
}

TEST(TransformRules, ARegexWithoutCaptureGroupIsARuleError) {
  const std::string rules = temp_path("pcrexform-bad.rules");
  std::ofstream(rules) << "alert http any any -> any any (msg:\"m\"; http.uri; "
                          "pcrexform:\"[a-z]+\"; content:\"x\"; sid:9;)\n";
  const RunResult r = run({spanguard_binary(), "check-rules", rules});
  EXPECT_EQ(r.status, 2) << r.out << r.err;
  EXPECT_NE(r.out.find(rules + ":1:1: error: pcrexform: the regex has no capture group"),
            std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace spanguard::testing
