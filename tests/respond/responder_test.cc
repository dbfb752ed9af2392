// Responses end to end inside a worker: rules with reject/drop actions, generated traffic, and an
// injector that records what would have gone on the wire. Frames are decoded back (checksums
// verified) and EVE records read back as protobuf messages.
#include "spanguard/respond/responder.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "spanguard/cli/config_schema.h"
#include "spanguard/decode/decoder.h"
#include "spanguard/output/eve_writer.h"
#include "spanguard/pipeline/worker.h"
#include "spanguard/rules/parser.h"
#include "spanguard/v1/spanguard.pb.h"
#include "tcp_conversation.h"

namespace spanguard::respond {
namespace {

using flow::Direction;
using testing::Bytes;
using testing::TcpConversation;
namespace tf = decode::tcp_flag;

constexpr std::array<uint8_t, 6> kSensorMac = {0x02, 0x53, 0x47, 0, 0, 0x01};

struct Sent {
  Bytes frame;
  decode::PacketView view;  // decoded, checksums verified
  int64_t cause_ns;
};

class RecordingInjector final : public Injector {
 public:
  // `live`: stands for a live injector (random IP ids, latency recorded, kept warm).
  RecordingInjector(std::vector<Bytes>& frames, std::vector<int64_t>& causes, bool link,
                    bool live = false)
      : frames_(frames), causes_(causes), link_(link), live_(live) {}
  bool link_layer() const override { return link_; }
  std::array<uint8_t, 6> own_mac() const override { return kSensorMac; }
  bool send(std::span<const uint8_t> frame, core::Timestamp cause) override {
    frames_.emplace_back(frame.begin(), frame.end());
    causes_.push_back(core::to_ns(cause));
    return true;
  }
  bool live() const override { return live_; }
  std::string name() const override { return "recording"; }

 private:
  std::vector<Bytes>& frames_;
  std::vector<int64_t>& causes_;
  bool link_;
  bool live_;
};

struct Records {
  std::vector<v1::Alert> alerts;
  std::vector<v1::ResetReport> resets;
};

class Sensor {
 public:
  explicit Sensor(const std::string& rules_text, const std::vector<std::string>& sets = {},
                  bool live = false, bool live_injector = false)
      : config_(cli::config_schema()) {
    config_.set("flow.records=no");
    for (const std::string& s : sets) config_.set(s);
    rules::RuleParser parser(rules::default_variables(), nullptr);
    parser.parse_text(rules_text, "t.rules");
    rules::RuleSet set = parser.take();
    for (const rules::Diagnostic& d : set.diagnostics) ADD_FAILURE() << d.to_string();
    std::vector<rules::Diagnostic> diagnostics;
    engine_ = std::make_unique<detect::DetectionEngine>(
        std::move(set.rules), detect::detect_options(config_), diagnostics);
    const RespondOptions options = respond_options(config_);
    const bool link = options.layer == 2;
    context_ = std::make_unique<ResponseContext>(options, [this, link, live_injector] {
      return std::make_unique<RecordingInjector>(frames_, causes_, link, live_injector);
    });
    path_ = std::filesystem::temp_directory_path() /
            ("spanguard-respond-" + std::to_string(::getpid()) + "-" + std::to_string(++serial_) +
             ".json");
    eve_ = std::make_unique<output::EveWriter>(path_.string());
    worker_ = std::make_unique<pipeline::Worker>(
        config_, live,
        pipeline::WorkerOutputs{
            .eve = eve_.get(), .detection = engine_.get(), .respond = context_.get()});
  }
  ~Sensor() {
    worker_.reset();
    std::filesystem::remove(path_);
  }

  void feed(const Bytes& frame) {
    now_ns_ += 1'000'000;  // 1 ms apart: past the in-flight grace of the kill watch
    worker_->on_frame({frame.data(), static_cast<uint32_t>(frame.size()),
                       static_cast<uint32_t>(frame.size()), core::timestamp_from_ns(now_ns_),
                       decode::LinkType::kEthernet});
  }
  void feed(const std::vector<Bytes>& frames) {
    for (const Bytes& f : frames) feed(f);
  }
  void advance(int64_t ns) { now_ns_ += ns; }
  int64_t now() const { return now_ns_; }

  // What was sent since the last call, decoded.
  std::vector<Sent> sent() {
    std::vector<Sent> out;
    for (; taken_ < frames_.size(); ++taken_) {
      Sent s{frames_[taken_], {}, causes_[taken_]};
      decode::Decoder decoder(decode::DecoderOptions{.validate_checksums = true});
      const bool link = context_->options().layer == 2;
      EXPECT_EQ(decoder.decode(link ? decode::LinkType::kEthernet : decode::LinkType::kRawIp,
                               s.frame.data(), static_cast<uint32_t>(s.frame.size()),
                               static_cast<uint32_t>(s.frame.size()), {}, s.view),
                decode::DecodeStatus::kOk);
      EXPECT_FALSE(s.view.bad_checksum);  // every checksum the sensor computes holds
      out.push_back(std::move(s));
    }
    // The views point into frames_, which the caller must not outlive: re-point at the copies.
    for (Sent& s : out) {
      decode::Decoder decoder;
      decoder.decode(
          context_->options().layer == 2 ? decode::LinkType::kEthernet : decode::LinkType::kRawIp,
          s.frame.data(), static_cast<uint32_t>(s.frame.size()),
          static_cast<uint32_t>(s.frame.size()), {}, s.view);
    }
    return out;
  }

  Records records() {
    worker_->finish();
    eve_->flush();
    Records r;
    std::ifstream in(path_);
    for (std::string line; std::getline(in, line);) {
      google::protobuf::util::JsonParseOptions lenient;
      lenient.ignore_unknown_fields = true;
      if (line.find("\"event_type\":\"reset\"") != std::string::npos) {
        v1::ResetReport rr;
        EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &rr, lenient).ok()) << line;
        r.resets.push_back(rr);
      } else {
        v1::Alert a;
        EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &a, lenient).ok()) << line;
        r.alerts.push_back(a);
      }
    }
    return r;
  }
  uint64_t counter(const std::string& name) {
    core::CounterSnapshot snap;
    worker_->collect(snap);
    return snap.get(name);
  }
  pipeline::Worker& worker() { return *worker_; }

 private:
  static inline int serial_ = 0;
  core::Config config_;
  std::unique_ptr<detect::DetectionEngine> engine_;
  std::unique_ptr<ResponseContext> context_;
  std::vector<Bytes> frames_;
  std::vector<int64_t> causes_;
  size_t taken_ = 0;
  std::filesystem::path path_;
  std::unique_ptr<output::EveWriter> eve_;
  std::unique_ptr<pipeline::Worker> worker_;
  int64_t now_ns_ = 1'700'000'000'000'000'000;
};

constexpr char kRejectBoth[] =
    "rejectboth tcp any any -> any 80 (msg:\"evil\"; content:\"EVIL\"; sid:1;)";

TcpConversation conversation(const char* client = "198.51.100.1",
                             const char* server = "198.51.100.2") {
  return TcpConversation({client, 40000, testing::kClientMac}, {server, 80, testing::kServerMac},
                         1000, 5000);
}

bool toward_server(const Sent& s) { return s.view.dst_port == 80; }

// One data segment, without the receiver's ACK that TcpConversation appends (an ACK after the
// reset is a later packet the kill watch would answer).
std::vector<Bytes> data_only(std::vector<Bytes> frames) {
  frames.pop_back();
  return frames;
}

TEST(Responder, RejectBothResetsTheReceiverFirstThenTheSender) {
  Sensor s(kRejectBoth);
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(c.client_sends("GET / HTTP/1.1\r\n\r\n"));
  s.feed(c.server_sends("HTTP/1.1 200 OK\r\n\r\n"));
  const int64_t trigger_ns = s.now() + 1'000'000;
  s.feed(data_only(c.client_sends("GET /EVIL HTTP/1.1\r\n\r\n")));
  const std::vector<Sent> sent = s.sent();
  ASSERT_EQ(sent.size(), 2u);

  // To the server, spoofed from the client, at the client's next byte after the trigger.
  const Sent& first = sent[0];
  EXPECT_TRUE(toward_server(first));
  EXPECT_EQ(first.view.src_ip().to_string(), "198.51.100.1");
  EXPECT_EQ(first.view.seq, c.client_next());
  EXPECT_EQ(first.view.ack, c.server_next());
  EXPECT_EQ(first.view.tcp_flags, tf::kRst | tf::kAck);
  EXPECT_EQ(first.cause_ns, trigger_ns);  // stamped with the trigger
  // Layer 2: to the server's MAC as the client's frames carry it, from the sensor's own MAC.
  EXPECT_EQ(0, std::memcmp(first.frame.data(), testing::kServerMac.data(), 6));
  EXPECT_EQ(0, std::memcmp(first.frame.data() + 6, kSensorMac.data(), 6));
  EXPECT_EQ(first.view.ttl, 64);  // learned from the client's packets

  const Sent& second = sent[1];
  EXPECT_FALSE(toward_server(second));
  EXPECT_EQ(second.view.src_ip().to_string(), "198.51.100.2");
  EXPECT_EQ(second.view.seq, c.server_next());
  EXPECT_EQ(second.view.ack, c.client_next());
  EXPECT_EQ(0, std::memcmp(second.frame.data(), testing::kClientMac.data(), 6));
  EXPECT_NE(first.view.ip_id, second.view.ip_id);  // not a constant that fingerprints the sensor
}

TEST(Responder, LiveTheSendersResetWaitsForTheQueuedFramesAndUsesTheirState) {
  Sensor s(kRejectBoth, {}, true);
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.worker().on_batch_end();
  // One capture batch: the trigger, the server's ACK and reply burst already queued behind it,
  // and the client's ACKs of that burst.
  s.feed(data_only(c.client_sends("GET /EVIL HTTP/1.1\r\n\r\n")));
  const uint32_t server_ack = c.client_next();
  s.feed(c.segment(false, tf::kAck, c.server_next(), server_ack, ""));
  for (int i = 0; i < 4; ++i) {
    s.feed(c.segment(false, tf::kAck, c.server_next(), server_ack, std::string(1000, 'r')));
    for (const Bytes& f : c.server_sends(std::string(1000, 'r'))) (void)f;  // advance state
  }
  s.feed(c.segment(true, tf::kAck, server_ack, c.server_next(), ""));
  std::vector<Sent> sent = s.sent();
  // Only the trigger's receiver so far; the server's ACK and burst repeat the ack our RST
  // already used: no copies.
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(toward_server(sent[0]));
  EXPECT_EQ(sent[0].view.seq, server_ack);
  s.worker().on_batch_end();
  // The client's reset, once, from the newest state: past the whole burst it acknowledged.
  sent = s.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_FALSE(toward_server(sent[0]));
  EXPECT_EQ(sent[0].view.seq, c.server_next());
}

TEST(Responder, LiveDeferredResetUsesTheNewestStateAtBatchEnd) {
  Sensor s(kRejectBoth, {}, true);
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.worker().on_batch_end();
  s.feed(data_only(c.client_sends("GET /EVIL HTTP/1.1\r\n\r\n")));
  const uint32_t server_ack = c.client_next();
  // The server's reply, queued behind the trigger in the same batch.
  s.feed(c.segment(false, tf::kAck | tf::kPsh, c.server_next(), server_ack, "HTTP/1.1 200"));
  const uint32_t reply_end = c.server_next() + 12;
  ASSERT_EQ(s.sent().size(), 1u);
  s.worker().on_batch_end();
  const std::vector<Sent> sent = s.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_FALSE(toward_server(sent[0]));
  EXPECT_EQ(sent[0].view.seq, reply_end);  // not the state at the trigger
}

TEST(Responder, AnAckBeyondOurResetShowsItWasStale) {
  Sensor s(kRejectBoth, {"respond.follow_ups=false"});
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(data_only(c.client_sends("EVIL")));
  ASSERT_EQ(s.sent().size(), 2u);
  // Right after our RST, the client acknowledges server bytes beyond its seq: it had received
  // them first, so the RST landed left of its window and it lives on.
  s.feed(c.segment(true, tf::kAck, c.client_next(), c.server_next() + 100, ""));
  const Records r = s.records();
  ASSERT_EQ(r.resets.size(), 1u);
  EXPECT_EQ(r.resets[0].reset().client().outcome(), "still_flowing");
}

TEST(Responder, RejectSrcAndRejectDstChooseTheirEnds) {
  for (const char* action : {"rejectsrc", "rejectdst"}) {
    Sensor s(std::string(action) +
             " tcp any any -> any 80 (msg:\"evil\"; content:\"EVIL\"; sid:1;)");
    TcpConversation c = conversation();
    s.feed(c.handshake());
    s.feed(data_only(c.client_sends("EVIL")));
    const std::vector<Sent> sent = s.sent();
    ASSERT_EQ(sent.size(), 1u) << action;
    // rejectsrc: the trigger's sender (the client); rejectdst: its destination (the server).
    EXPECT_EQ(toward_server(sent[0]), std::string(action) == "rejectdst") << action;
  }
}

TEST(Responder, TriggerFromTheServerResetsTheClientFirst) {
  Sensor s("rejectboth tcp any 80 -> any any (msg:\"leak\"; content:\"SECRET\"; sid:2;)");
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(c.client_sends("GET /\r\n\r\n"));
  s.feed(data_only(c.server_sends("here is the SECRET")));
  const std::vector<Sent> sent = s.sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_FALSE(toward_server(sent[0]));
  EXPECT_EQ(sent[0].view.seq, c.server_next());
  EXPECT_TRUE(toward_server(sent[1]));
}

TEST(Responder, FinModeSendsFinAck) {
  Sensor s(kRejectBoth, {"respond.mode=fin"});
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(data_only(c.client_sends("EVIL")));
  const std::vector<Sent> sent = s.sent();
  ASSERT_EQ(sent.size(), 2u);
  for (const Sent& x : sent) EXPECT_EQ(x.view.tcp_flags, tf::kFin | tf::kAck);
  EXPECT_EQ(s.records().alerts.at(0).reset().mode(), "fin");
}

TEST(Responder, KillWatchAnswersAChallengeAckAtItsAck) {
  Sensor s(kRejectBoth);
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(data_only(c.client_sends("EVIL")));
  ASSERT_EQ(s.sent().size(), 2u);
  // The server had already moved on: it answers our RST with a challenge ACK.
  s.feed(c.segment(false, tf::kAck, c.server_next(), c.client_next() + 7, ""));
  const std::vector<Sent> follow = s.sent();
  ASSERT_EQ(follow.size(), 1u);
  EXPECT_TRUE(toward_server(follow[0]));
  EXPECT_EQ(follow[0].view.seq, c.client_next() + 7);
  EXPECT_EQ(follow[0].view.tcp_flags, tf::kRst | tf::kAck);
  EXPECT_EQ(s.counter("respond.follow_ups"), 1u);
  const Records r = s.records();
  ASSERT_EQ(r.resets.size(), 1u);
  EXPECT_EQ(r.resets[0].reset().server().follow_ups(), 1u);
  EXPECT_EQ(r.resets[0].reset().server().packets(), 2u);
}

TEST(Responder, NoFollowUpsWhenTheyAreOff) {
  Sensor s(kRejectBoth, {"respond.follow_ups=false"});
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(data_only(c.client_sends("EVIL")));
  ASSERT_EQ(s.sent().size(), 2u);
  s.advance(10'000'000);  // well after our RST reached it: not a packet already on its way
  s.feed(c.segment(false, tf::kAck, c.server_next(), c.client_next() + 7, ""));
  EXPECT_TRUE(s.sent().empty());
  const Records r = s.records();
  ASSERT_EQ(r.resets.size(), 1u);
  EXPECT_EQ(r.resets[0].reset().server().outcome(), "still_flowing");
}

TEST(Responder, PerFlowLimitCapsEverythingSentForAFlow) {
  Sensor s(kRejectBoth, {"respond.max_per_flow=3"});
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(data_only(c.client_sends("EVIL")));
  for (int i = 0; i < 5; ++i) {
    s.advance(10'000'000);
    s.feed(c.segment(false, tf::kAck | tf::kPsh, c.server_next(), c.client_next(), "more"));
  }
  EXPECT_EQ(s.sent().size(), 3u);
  EXPECT_GE(s.counter("respond.flow_limit"), 1u);
  const Records r = s.records();
  ASSERT_EQ(r.resets.size(), 1u);
  EXPECT_EQ(r.resets[0].reset().server().outcome(), "still_flowing");
}

TEST(Responder, GlobalRateLimitSuppressesAndCounts) {
  Sensor s(kRejectBoth, {"respond.max_per_second=1", "respond.follow_ups=false"});
  for (uint16_t i = 0; i < 3; ++i) {
    TcpConversation c({"198.51.100.1", static_cast<uint16_t>(40000 + i), testing::kClientMac},
                      {"198.51.100.2", 80, testing::kServerMac});
    s.feed(c.handshake());
    s.feed(data_only(c.client_sends("EVIL")));
  }
  // One packet a second, 1 ms apart: only the very first goes out.
  EXPECT_EQ(s.sent().size(), 1u);
  EXPECT_EQ(s.counter("respond.rate_limited"), 5u);
  s.advance(2'000'000'000);
  TcpConversation c({"198.51.100.1", 41000, testing::kClientMac},
                    {"198.51.100.2", 80, testing::kServerMac});
  s.feed(c.handshake());
  s.feed(data_only(c.client_sends("EVIL")));
  EXPECT_EQ(s.sent().size(), 1u);  // a second later the budget is back
}

TEST(Responder, VlanAndQinQTagsAreReproducedOrStripped) {
  for (const bool strip : {false, true}) {
    Sensor s(kRejectBoth, {strip ? "respond.vlan=none" : "respond.vlan=mirror"});
    TcpConversation c = conversation();
    c.set_vlans({300, 42});
    s.feed(c.handshake());
    s.feed(data_only(c.client_sends("EVIL")));
    const std::vector<Sent> sent = s.sent();
    ASSERT_EQ(sent.size(), 2u);
    for (const Sent& x : sent) {
      if (strip) {
        EXPECT_EQ(x.view.vlan_count, 0);
      } else {
        ASSERT_EQ(x.view.vlan_count, 2);
        EXPECT_EQ(x.view.vlan_ids[0], 300);
        EXPECT_EQ(x.view.vlan_ids[1], 42);
      }
    }
  }
}

TEST(Responder, Ipv6SessionsAreResetToo) {
  Sensor s(kRejectBoth);
  TcpConversation c = conversation("2001:db8::1", "2001:db8::2");
  s.feed(c.handshake());
  s.feed(data_only(c.client_sends("EVIL")));
  const std::vector<Sent> sent = s.sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].view.ip_version, 6);
  EXPECT_EQ(sent[0].view.src_ip().to_string(), "2001:db8::1");
  EXPECT_EQ(sent[0].view.seq, c.client_next());
  EXPECT_EQ(sent[1].view.src_ip().to_string(), "2001:db8::2");
}

TEST(Responder, LayerThreeFramesStartAtTheIpHeader) {
  Sensor s(kRejectBoth, {"respond.layer=3"});
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(data_only(c.client_sends("EVIL")));
  const std::vector<Sent> sent = s.sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].frame.size(), 40u);
  EXPECT_EQ(sent[0].frame[0] >> 4, 4);
}

TEST(Responder, OwnResetsComingBackOnTheMirrorAreIgnored) {
  Sensor s(kRejectBoth);
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(data_only(c.client_sends("EVIL")));
  const std::vector<Sent> sent = s.sent();
  ASSERT_EQ(sent.size(), 2u);
  s.feed(sent[0].frame);  // the mirror sees our RST on its way to the server
  s.feed(sent[1].frame);
  EXPECT_EQ(s.counter("respond.own_packets_seen"), 2u);
  EXPECT_TRUE(s.sent().empty());  // not answered as if an endpoint had sent them
  const Records r = s.records();
  ASSERT_EQ(r.resets.size(), 1u);
  // Had they counted as the endpoints' own RSTs, the outcome would say nothing about them.
  EXPECT_EQ(s.counter("flow.tcp_rst_ignored"), 0u);
}

TEST(Responder, AResetFlowIsNotAlertedOrResetAgain) {
  Sensor s(kRejectBoth, {"respond.follow_ups=false"});
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(data_only(c.client_sends("EVIL")));
  s.feed(data_only(c.client_sends("EVIL again")));
  EXPECT_EQ(s.sent().size(), 2u);
  const Records r = s.records();
  ASSERT_EQ(r.alerts.size(), 1u);
  EXPECT_EQ(s.counter("respond.watches"), 1u);
}

TEST(Responder, AlertSaysBlockedAndTheFollowUpGivesOutcomes) {
  Sensor s(kRejectBoth);
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(data_only(c.client_sends("EVIL")));
  // The client's kernel answers the server's late data with a RST: the client end is gone.
  s.feed(c.segment(false, tf::kAck | tf::kPsh, c.server_next(), c.client_next(), "late"));
  s.feed(c.segment(true, tf::kRst, c.client_next(), 0, ""));
  s.advance(1'000'000'000);                                          // past the kill watch
  s.feed(conversation("198.51.100.7", "198.51.100.8").handshake());  // time moves on
  const Records r = s.records();
  ASSERT_EQ(r.alerts.size(), 1u);
  const v1::Alert& a = r.alerts[0];
  EXPECT_EQ(a.alert().action(), "blocked");
  EXPECT_EQ(a.reset().mode(), "rst");
  EXPECT_EQ(a.reset().server().packets(), 1u);
  EXPECT_EQ(a.reset().server().outcome(), "pending");
  // The alert leaves after the batch's deferred reset: it counts the client's too.
  EXPECT_EQ(a.reset().client().packets(), 1u);
  ASSERT_EQ(r.resets.size(), 1u);
  const v1::ResetReport& rr = r.resets[0];
  EXPECT_EQ(rr.event_type(), "reset");
  EXPECT_EQ(rr.alert_seq(), a.seq());
  EXPECT_GT(rr.seq(), a.seq());
  EXPECT_EQ(rr.flow_id(), a.flow_id());
  EXPECT_EQ(rr.reset().client().outcome(), "reset");
  EXPECT_EQ(rr.reset().server().outcome(), "reset");
  // "late" repeats the ack our first RST used, moments later: no copy was sent.
  EXPECT_EQ(rr.reset().server().packets(), 1u);
}

TEST(Responder, UnansweredTrafficTowardAnEndLeavesItSilent) {
  Sensor s(kRejectBoth, {"respond.follow_ups=false"});
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(data_only(c.client_sends("EVIL")));
  // The client keeps sending data the server never acknowledges nor resets.
  s.advance(10'000'000);
  s.feed(c.segment(true, tf::kAck | tf::kPsh, c.client_next(), c.server_next(), "x"));
  const Records r = s.records();
  ASSERT_EQ(r.resets.size(), 1u);
  EXPECT_EQ(r.resets[0].reset().server().outcome(), "silent");
  EXPECT_EQ(r.resets[0].reset().client().outcome(), "still_flowing");
}

TEST(Responder, DropResetsUnlessAlertOnly) {
  const std::string rule = "drop tcp any any -> any 80 (msg:\"d\"; content:\"EVIL\"; sid:3;)";
  {
    Sensor s(rule);
    TcpConversation c = conversation();
    s.feed(c.handshake());
    s.feed(data_only(c.client_sends("EVIL")));
    EXPECT_EQ(s.sent().size(), 2u);
    EXPECT_EQ(s.records().alerts.at(0).alert().action(), "blocked");
  }
  {
    Sensor s(rule, {"respond.drop=alert-only"});
    TcpConversation c = conversation();
    s.feed(c.handshake());
    s.feed(data_only(c.client_sends("EVIL")));
    EXPECT_TRUE(s.sent().empty());
    const Records r = s.records();
    EXPECT_EQ(r.alerts.at(0).alert().action(), "allowed");  // Suricata's: nothing was blocked
    EXPECT_FALSE(r.alerts.at(0).has_reset());
  }
}

TEST(Responder, AlertRulesNeverRespond) {
  Sensor s("alert tcp any any -> any 80 (msg:\"a\"; content:\"EVIL\"; sid:4;)");
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(data_only(c.client_sends("EVIL")));
  EXPECT_TRUE(s.sent().empty());
  EXPECT_EQ(s.records().alerts.at(0).alert().action(), "allowed");
}

TEST(Responder, RejectedUdpGetsPortUnreachableWhenIcmpIsOn) {
  const std::string rule = "reject udp any any -> any 53 (msg:\"u\"; content:\"bad\"; sid:5;)";
  const Bytes query = testing::FrameBuilder()
                          .ethernet(testing::kClientMac, testing::kServerMac)
                          .ipv4("198.51.100.1", "198.51.100.2")
                          .udp(5353, 53)
                          .payload("bad query")
                          .build();
  {
    Sensor s(rule);
    s.feed(query);
    EXPECT_TRUE(s.sent().empty());  // respond.icmp is off by default
  }
  Sensor s(rule, {"respond.icmp=true"});
  s.feed(query);
  const std::vector<Sent> sent = s.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].view.icmp_type, 3);
  EXPECT_EQ(sent[0].view.icmp_code, 3);
  EXPECT_EQ(sent[0].view.dst_ip().to_string(), "198.51.100.1");
  EXPECT_EQ(0, std::memcmp(sent[0].frame.data(), testing::kClientMac.data(), 6));
  EXPECT_EQ(s.records().alerts.at(0).alert().action(), "blocked");
}

TEST(Responder, DisabledRespondOnlyAlerts) {
  Sensor s(kRejectBoth, {"respond.enabled=false"});
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(data_only(c.client_sends("EVIL")));
  EXPECT_TRUE(s.sent().empty());
  EXPECT_EQ(s.records().alerts.at(0).alert().action(), "allowed");
}

// The send path is kept warm (a frame every switch drops) only while a rule in use may ask for a
// reset: a live sensor whose rules only alert sends nothing at all.
TEST(Responder, KeepsTheSendPathWarmOnlyWhileRulesMayReset) {
  Sensor alerting("alert tcp any any -> any 80 (msg:\"m\"; content:\"EVIL\"; sid:1;)", {}, true,
                  true);
  alerting.worker().on_idle(core::timestamp_from_ns(alerting.now()));
  EXPECT_EQ(alerting.counter("respond.warm_ups"), 0u);
  Sensor resetting(kRejectBoth, {}, true, true);
  resetting.worker().on_idle(core::timestamp_from_ns(resetting.now()));
  EXPECT_EQ(resetting.counter("respond.warm_ups"), 1u);
}

TEST(LatencyHistogram, PercentilesFromBuckets) {
  LatencyHistogram h;
  for (int i = 1; i <= 100; ++i) h.record(i * 1000);  // 1..100 µs
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.percentile(0.5), 50'100);
  EXPECT_EQ(h.percentile(0.99), 99'100);
  EXPECT_EQ(h.max(), 100'000);
  h.record(50'000'000);  // beyond the last bucket: reported as the maximum
  EXPECT_EQ(h.percentile(1.0), 50'000'000);
}

TEST(RateLimiter, AllowsTheBurstThenTheRate) {
  RateLimiter limiter(1000, 4);  // 1 per ms, bursts of 4
  int64_t t = 1'000'000'000;
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += limiter.allow(t);
  EXPECT_EQ(allowed, 4);
  EXPECT_TRUE(limiter.allow(t + 1'000'000));
  EXPECT_FALSE(limiter.allow(t + 1'000'000));
}

}  // namespace
}  // namespace spanguard::respond
