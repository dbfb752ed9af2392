// flowbits with Suricata's semantics, through a worker fed generated TCP conversations: a bit set
// by one rule's match is seen by later matches in either direction of the same flow (and no other
// flow); isset/isnotset with '|' (any) and '&' (all); unset and toggle; noalert; and a checker
// matching the same data as the setter still sees the bit (setters run first). xbits: bits kept per
// host or host pair across flows, until they expire.
#include <gtest/gtest.h>

#include <algorithm>

#include "sensor.h"
#include "spanguard/detect/xbits.h"
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

// ---- flowint: per-flow integers
// ------------------------------------------------------------------

// Suricata's counting idiom: the increment happens on every match, the comparison after it decides
// whether this one alerts.
TEST(Flowint, CountsMatchesAndAlertsPastTheLimitPerFlow) {
  Sensor s(
      "alert tcp any any -> any any (msg:\"third failure\"; flow:to_client; content:\"FAIL\"; "
      "flowint:fails,+,1; flowint:fails,>,2; sid:1;)\n");
  TcpConversation c = conversation(40100);
  s.feed(c.handshake());
  s.feed(c.client_sends("LOGIN a\r\n"));
  s.feed(c.server_sends("FAIL\r\n"));
  s.feed(c.client_sends("LOGIN b\r\n"));
  s.feed(c.server_sends("FAIL\r\n"));
  TcpConversation other = conversation(40101);  // its own count
  s.feed(other.handshake());
  s.feed(other.client_sends("LOGIN a\r\n"));
  s.feed(other.server_sends("FAIL\r\n"));
  EXPECT_EQ(s.counter("detect.alerts"), 0u);
  s.feed(c.client_sends("LOGIN c\r\n"));
  s.feed(c.server_sends("FAIL\r\n"));
  EXPECT_EQ(s.sids(), Sids{1});
}

TEST(Flowint, SetIssetNotsetAndComparingTwoVariables) {
  Sensor s(
      "alert tcp any any -> any any (msg:\"limit\"; flow:to_server; content:\"LIMIT\"; "
      "flowint:max,notset; flowint:max,=,2; noalert; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"hit\"; flow:to_server; content:\"HIT\"; "
      "flowint:max,isset; flowint:n,+,1; noalert; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"reached\"; flow:to_server; content:\"CHECK\"; "
      "flowint:n,==,max; sid:3;)\n"
      "alert tcp any any -> any any (msg:\"unset compares false\"; flow:to_server; "
      "content:\"CHECK\"; flowint:never,<,100; sid:4;)\n");
  talk(s, 40200, {{"LIMIT\r\n", ""}, {"HIT\r\n", ""}, {"HIT\r\n", ""}, {"CHECK\r\n", ""}});
  talk(s, 40201, {{"HIT\r\n", ""}, {"HIT\r\n", ""}, {"CHECK\r\n", ""}});  // no max: no count
  EXPECT_EQ(s.sids(), Sids{3});
}

// ---- xbits
// ---------------------------------------------------------------------------------------

void talk_from(Sensor& s, const std::string& client, uint16_t port, const std::string& request,
               const std::string& reply = "") {
  TcpConversation c({client, port, testing::kClientMac},
                    {"198.51.100.20", 9000, testing::kServerMac});
  s.feed(c.handshake());
  s.feed(c.client_sends(request));
  if (!reply.empty()) s.feed(c.server_sends(reply));
  s.feed(c.close());
}

constexpr char kProbeThenExploit[] =
    "alert tcp any any -> any any (msg:\"probe\"; flow:to_server; content:\"PROBE\"; "
    "xbits:set,probed,track ip_src,expire 10; xbits:noalert; sid:1;)\n"
    "alert tcp any any -> any any (msg:\"exploit after probe\"; flow:to_server; "
    "content:\"EXPLOIT\"; xbits:isset,probed,track ip_src; sid:2;)\n"
    "alert tcp any any -> any any (msg:\"exploit, no probe\"; flow:to_server; "
    "content:\"EXPLOIT\"; xbits:isnotset,probed,track ip_src; sid:3;)\n";

TEST(Xbits, AHostBitSetOnOneFlowIsSeenOnAnotherFromTheSameHost) {
  Sensor s(kProbeThenExploit);
  talk_from(s, "198.51.100.10", 41000, "PROBE\r\n");
  talk_from(s, "198.51.100.10", 41001, "EXPLOIT\r\n");  // same host, new flow
  talk_from(s, "198.51.100.11", 41002, "EXPLOIT\r\n");  // another host
  EXPECT_EQ(s.sids(), (Sids{2, 3}));
}

TEST(Xbits, ABitExpiresAfterItsLifetime) {
  Sensor s(kProbeThenExploit);
  talk_from(s, "198.51.100.10", 41000, "PROBE\r\n");
  s.advance(std::chrono::seconds(11));
  talk_from(s, "198.51.100.10", 41001, "EXPLOIT\r\n");
  EXPECT_EQ(s.sids(), Sids{3});
}

// Suricata's documented pattern: set on the request with track ip_dst, check on the response with
// track ip_src (both name the server); and ip_pair holds for either direction of the pair.
TEST(Xbits, IpDstOnTheRequestIsIpSrcOnTheResponseAndPairsHaveNoDirection) {
  Sensor s(
      "alert tcp any any -> any any (msg:\"asked\"; flow:to_server; content:\"GET /admin\"; "
      "xbits:set,asked_admin,track ip_dst; noalert; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"server answered admin\"; flow:to_client; "
      "content:\"200 OK\"; xbits:isset,asked_admin,track ip_src; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"pair\"; flow:to_server; content:\"HELLO\"; "
      "xbits:set,greeted,track ip_pair; noalert; sid:3;)\n"
      "alert tcp any any -> any any (msg:\"pair seen back\"; flow:to_client; content:\"BYE\"; "
      "xbits:isset,greeted,track ip_pair; sid:4;)\n");
  talk_from(s, "198.51.100.10", 41000, "GET /admin\r\n", "HTTP/1.1 200 OK\r\n");
  talk_from(s, "198.51.100.10", 41001, "HELLO\r\n");
  talk_from(s, "198.51.100.10", 41002, "x\r\n", "BYE\r\n");
  talk_from(s, "198.51.100.12", 41003, "x\r\n", "BYE\r\n");  // another pair
  EXPECT_EQ(s.sids(), (Sids{2, 4}));
}

TEST(Xbits, UnsetAndToggle) {
  Sensor s(
      "alert tcp any any -> any any (msg:\"on\"; content:\"ON\"; "
      "xbits:toggle,lamp,track ip_src,expire 60; noalert; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"off\"; content:\"OFF\"; "
      "xbits:unset,lamp,track ip_src; noalert; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"lit\"; content:\"LOOK\"; "
      "xbits:isset,lamp,track ip_src; sid:3;)\n");
  talk_from(s, "198.51.100.10", 41000, "ON\r\n");
  talk_from(s, "198.51.100.10", 41001, "LOOK\r\n");  // lit
  talk_from(s, "198.51.100.10", 41002, "ON\r\n");    // toggled off
  talk_from(s, "198.51.100.10", 41003, "LOOK\r\n");
  talk_from(s, "198.51.100.10", 41004, "ON\r\n");  // on again
  talk_from(s, "198.51.100.10", 41005, "OFF\r\n");
  talk_from(s, "198.51.100.10", 41006, "LOOK\r\n");
  EXPECT_EQ(s.sids(), Sids{3});
}

TEST(XbitStore, StaysBoundedRefusingNewBitsOnlyWhenNoneHasExpired) {
  XbitStore store(2);
  const auto t0 = core::timestamp_from_ns(1'700'000'000'000'000'000);
  const auto a = core::IpAddress::parse("198.51.100.1").value();
  const auto b = core::IpAddress::parse("198.51.100.2").value();
  const auto c = core::IpAddress::parse("198.51.100.3").value();
  store.set(XbitStore::host(0, a), t0, std::chrono::seconds(5));
  store.set(XbitStore::host(0, b), t0, std::chrono::seconds(50));
  store.set(XbitStore::host(0, c), t0, std::chrono::seconds(50));  // full: refused
  EXPECT_EQ(store.refused(), 1u);
  EXPECT_FALSE(store.isset(XbitStore::host(0, c), t0));
  const auto later = t0 + std::chrono::seconds(6);  // a has expired: its slot is taken
  store.set(XbitStore::host(0, c), later, std::chrono::seconds(50));
  EXPECT_TRUE(store.isset(XbitStore::host(0, c), later));
  EXPECT_FALSE(store.isset(XbitStore::host(0, a), later));
  EXPECT_EQ(store.size(), 2u);
  EXPECT_EQ(XbitStore::pair(1, a, b), XbitStore::pair(1, b, a));
}

}  // namespace
}  // namespace spanguard::detect
