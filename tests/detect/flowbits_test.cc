// flowbits with Suricata's semantics, through a worker fed generated TCP conversations: a bit set
// by one rule's match is seen by later matches in either direction of the same flow (and no other
// flow); isset/isnotset with '|' (any) and '&' (all); unset and toggle; noalert; and a checker
// matching the same data as the setter still sees the bit (setters run first).
#include <gtest/gtest.h>

#include <algorithm>

#include "sensor.h"
#include "tcp_conversation.h"

namespace spanguard::detect {
namespace {

using testing::TcpConversation;
using Sids = std::vector<uint32_t>;

Sids sorted(Sids s) {
  std::sort(s.begin(), s.end());
  return s;
}

TcpConversation conversation(uint16_t client_port) {
  return TcpConversation({"198.51.100.10", client_port, testing::kClientMac},
                         {"198.51.100.20", 9000, testing::kServerMac});
}

// One conversation of `turns`: the client's bytes, then the server's reply (empty: none).
void talk(Sensor& s, uint16_t port, const std::vector<std::pair<std::string, std::string>>& turns) {
  TcpConversation c = conversation(port);
  s.feed(c.handshake());
  for (const auto& [request, reply] : turns) {
    if (!request.empty()) s.feed(c.client_sends(request));
    if (!reply.empty()) s.feed(c.server_sends(reply));
  }
  s.feed(c.close());
}

constexpr char kLoginThenSecret[] =
    "alert tcp any any -> any any (msg:\"login\"; flow:to_server; content:\"LOGIN\"; "
    "flowbits:set,logged_in; flowbits:noalert; sid:1;)\n"
    "alert tcp any any -> any any (msg:\"secret after login\"; flow:to_client; "
    "content:\"SECRET\"; flowbits:isset,logged_in; sid:2;)\n"
    "alert tcp any any -> any any (msg:\"secret without login\"; flow:to_client; "
    "content:\"SECRET\"; flowbits:isnotset,logged_in; sid:3;)\n";

TEST(Flowbits, ABitSetByTheClientsDataIsSeenInTheServersDirection) {
  Sensor s(kLoginThenSecret);
  talk(s, 40001, {{"LOGIN bob\r\n", "SECRET data\r\n"}});
  EXPECT_EQ(sorted(s.sids()), Sids{2});  // the setter is noalert; isnotset does not hold
}

TEST(Flowbits, WithoutTheSettersMatchTheCheckerStaysSilentAndIsnotsetHolds) {
  Sensor s(kLoginThenSecret);
  talk(s, 40002, {{"HELLO bob\r\n", "SECRET data\r\n"}});
  EXPECT_EQ(sorted(s.sids()), Sids{3});
}

TEST(Flowbits, BitsBelongToOneFlow) {
  Sensor s(kLoginThenSecret);
  talk(s, 40003, {{"LOGIN bob\r\n", ""}});
  talk(s, 40004, {{"HELLO\r\n", "SECRET data\r\n"}});  // another connection: not logged in
  EXPECT_EQ(sorted(s.sids()), Sids{3});
}

TEST(Flowbits, ACheckerMatchingTheSameDataAsTheSetterSeesTheBit) {
  // Rule order in the file puts the checker first; setters still run first on the same data.
  Sensor s(
      "alert tcp any any -> any any (msg:\"check\"; content:\"BOTH\"; flowbits:isset,b; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"set\"; content:\"BO\"; flowbits:set,b; sid:1;)\n");
  talk(s, 40005, {{"BOTH\r\n", ""}});
  EXPECT_EQ(sorted(s.sids()), (Sids{1, 2}));
}

TEST(Flowbits, AnyOfAndAllOfGroups) {
  const std::string rules =
      "alert tcp any any -> any any (msg:\"a\"; content:\"A\"; flowbits:set,a; noalert; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"b\"; content:\"B\"; flowbits:set,b; noalert; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"any\"; flow:to_client; content:\"Z\"; "
      "flowbits:isset,a|b; sid:10;)\n"
      "alert tcp any any -> any any (msg:\"all\"; flow:to_client; content:\"Z\"; "
      "flowbits:isset,a&b; sid:11;)\n"
      "alert tcp any any -> any any (msg:\"none\"; flow:to_client; content:\"Z\"; "
      "flowbits:isnotset,a|b; sid:12;)\n";
  {
    Sensor s(rules);
    talk(s, 40006, {{"A\r\n", "Z\r\n"}});
    EXPECT_EQ(sorted(s.sids()), (Sids{10, 12}));  // a set: any holds, all does not; b is not set
  }
  {
    Sensor s(rules);
    talk(s, 40007, {{"A\r\n", ""}, {"B\r\n", "Z\r\n"}});
    EXPECT_EQ(sorted(s.sids()), (Sids{10, 11}));
  }
}

TEST(Flowbits, UnsetAndToggleClearWhatWasSet) {
  const std::string rules =
      "alert tcp any any -> any any (msg:\"set\"; content:\"ON\"; flowbits:set,x; noalert; "
      "sid:1;)\n"
      "alert tcp any any -> any any (msg:\"unset\"; content:\"OFF\"; flowbits:unset,x; noalert; "
      "sid:2;)\n"
      "alert tcp any any -> any any (msg:\"flip\"; content:\"FLIP\"; flowbits:toggle,x; noalert; "
      "sid:3;)\n"
      "alert tcp any any -> any any (msg:\"x?\"; flow:to_client; content:\"Q\"; "
      "flowbits:isset,x; sid:10;)\n";
  {
    Sensor s(rules);
    talk(s, 40008, {{"ON\r\n", ""}, {"OFF\r\n", "Q\r\n"}});
    EXPECT_TRUE(sorted(s.sids()).empty());
  }
  {
    Sensor s(rules);
    talk(s, 40009, {{"FLIP\r\n", "Q\r\n"}});  // toggled on
    EXPECT_EQ(sorted(s.sids()), Sids{10});
  }
}

TEST(Flowbits, HttpRequestRuleSetsABitTheResponseRuleChecks) {
  // ET Open's pattern: a request marks the flow, a later rule on the response checks the mark.
  Sensor s(
      "alert http any any -> any any (msg:\"exe request\"; flow:to_server; http.uri; "
      "content:\".exe\"; endswith; flowbits:set,exe.req; flowbits:noalert; sid:1;)\n"
      "alert http any any -> any any (msg:\"MZ for exe\"; flow:to_client; flowbits:isset,exe.req; "
      "file.data; content:\"MZ\"; depth:2; sid:2;)\n");
  talk(s, 40010,
       {{"GET /a.exe HTTP/1.1\r\nHost: x\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nMZ\x90\x00"}});
  talk(s, 40011,
       {{"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n",
         "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nMZ\x90\x00"}});
  EXPECT_EQ(sorted(s.sids()), Sids{2});
}

}  // namespace
}  // namespace spanguard::detect
