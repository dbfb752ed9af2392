// flowbits with Suricata's semantics, through a worker fed generated TCP conversations: a bit set
// by one rule's match is seen by later matches in either direction of the same flow (and no other
// flow); isset/isnotset with '|' (any) and '&' (all); unset and toggle; noalert; and a checker
// matching the same data as the setter still sees the bit (setters run first).
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "spanguard/applayer/registry.h"
#include "spanguard/cli/config_schema.h"
#include "spanguard/output/eve_writer.h"
#include "spanguard/pipeline/worker.h"
#include "spanguard/rules/parser.h"
#include "tcp_conversation.h"

namespace spanguard::detect {
namespace {

using testing::Bytes;
using testing::TcpConversation;
using Sids = std::vector<uint32_t>;

// A worker with `rules`; conversations are fed through it and the alerts' sids read back.
class Sensor {
 public:
  explicit Sensor(const std::string& rules) : config_(cli::config_schema()) {
    config_.set("flow.records=no");
    rules::RuleParser parser(rules::default_variables(), nullptr, applayer::rule_registry());
    parser.parse_text(rules, "t.rules");
    rules::RuleSet set = parser.take();
    for (const auto& d : set.diagnostics) ADD_FAILURE() << d.to_string();
    std::vector<rules::Diagnostic> diagnostics;
    engine_ = std::make_unique<DetectionEngine>(std::move(set.rules), detect_options(config_),
                                                diagnostics, applayer::rule_registry());
    path_ = std::filesystem::temp_directory_path() /
            ("spanguard-flowbits-" + std::to_string(::getpid()) + "-" + std::to_string(++serial_) +
             ".json");
    eve_ = std::make_unique<output::EveWriter>(path_.string());
    worker_ = std::make_unique<pipeline::Worker>(
        config_, false, pipeline::WorkerOutputs{.eve = eve_.get(), .detection = engine_.get()});
  }
  ~Sensor() { std::filesystem::remove(path_); }
  void feed(const std::vector<Bytes>& frames) {
    for (const Bytes& f : frames) {
      now_ += 1000;
      worker_->on_frame({f.data(), static_cast<uint32_t>(f.size()), static_cast<uint32_t>(f.size()),
                         core::timestamp_from_ns(now_), decode::LinkType::kEthernet});
    }
  }
  Sids sids() {
    worker_->finish();
    eve_->flush();
    Sids out;
    std::ifstream in(path_);
    for (std::string line; std::getline(in, line);) {
      v1::Alert a;
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &a).ok()) << line;
      out.push_back(a.alert().signature_id());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  static inline int serial_ = 0;
  core::Config config_;
  std::unique_ptr<DetectionEngine> engine_;
  std::filesystem::path path_;
  std::unique_ptr<output::EveWriter> eve_;
  std::unique_ptr<pipeline::Worker> worker_;
  int64_t now_ = 1'700'000'000'000'000'000;
};

TcpConversation conversation(uint16_t client_port) {
  return TcpConversation({"198.51.100.10", client_port, testing::kClientMac},
                         {"198.51.100.20", 9000, testing::kServerMac});
}

// One conversation: the client sends each of `requests`, the server answers each with the
// matching entry of `replies` (empty: no answer).
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
  EXPECT_EQ(s.sids(), Sids{2});  // the setter is noalert; isnotset does not hold
}

TEST(Flowbits, WithoutTheSettersMatchTheCheckerStaysSilentAndIsnotsetHolds) {
  Sensor s(kLoginThenSecret);
  talk(s, 40002, {{"HELLO bob\r\n", "SECRET data\r\n"}});
  EXPECT_EQ(s.sids(), Sids{3});
}

TEST(Flowbits, BitsBelongToOneFlow) {
  Sensor s(kLoginThenSecret);
  talk(s, 40003, {{"LOGIN bob\r\n", ""}});
  talk(s, 40004, {{"HELLO\r\n", "SECRET data\r\n"}});  // another connection: not logged in
  EXPECT_EQ(s.sids(), Sids{3});
}

TEST(Flowbits, ACheckerMatchingTheSameDataAsTheSetterSeesTheBit) {
  // Rule order in the file puts the checker first; setters still run first on the same data.
  Sensor s(
      "alert tcp any any -> any any (msg:\"check\"; content:\"BOTH\"; flowbits:isset,b; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"set\"; content:\"BO\"; flowbits:set,b; sid:1;)\n");
  talk(s, 40005, {{"BOTH\r\n", ""}});
  EXPECT_EQ(s.sids(), (Sids{1, 2}));
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
    EXPECT_EQ(s.sids(), (Sids{10, 12}));  // a set: any holds, all does not; b is not set
  }
  {
    Sensor s(rules);
    talk(s, 40007, {{"A\r\n", ""}, {"B\r\n", "Z\r\n"}});
    EXPECT_EQ(s.sids(), (Sids{10, 11}));
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
    EXPECT_TRUE(s.sids().empty());
  }
  {
    Sensor s(rules);
    talk(s, 40009, {{"FLIP\r\n", "Q\r\n"}});  // toggled on
    EXPECT_EQ(s.sids(), Sids{10});
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
  EXPECT_EQ(s.sids(), Sids{2});
}

}  // namespace
}  // namespace spanguard::detect
