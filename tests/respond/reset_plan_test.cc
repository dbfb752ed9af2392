// Reset planning: the numbers each spoofed segment carries, from the tracker's state after the
// trigger, for the situations a mirror port produces.
#include "spanguard/respond/reset_plan.h"

#include <gtest/gtest.h>

#include "spanguard/decode/decoder.h"
#include "tcp_conversation.h"

namespace spanguard::respond {
namespace {

using flow::Direction;
using testing::Bytes;
using testing::TcpConversation;
namespace tf = decode::tcp_flag;

constexpr uint16_t kClientPort = 40000;

// Feeds frames to one TcpTracker as the session table would.
class Tracked {
 public:
  void feed(const Bytes& frame) {
    decode::PacketView v;
    ASSERT_EQ(decoder_.decode(decode::LinkType::kEthernet, frame.data(),
                              static_cast<uint32_t>(frame.size()),
                              static_cast<uint32_t>(frame.size()), {}, v),
              decode::DecodeStatus::kOk);
    const Direction dir = v.src_port == kClientPort ? Direction::kToServer : Direction::kToClient;
    if (!started_) {
      tcp_.start(v, dir);
      started_ = true;
    } else {
      tcp_.track(v, dir);
    }
  }
  void feed(const std::vector<Bytes>& frames) {
    for (const Bytes& f : frames) feed(f);
  }
  const flow::TcpTracker& tcp() const { return tcp_; }

 private:
  decode::Decoder decoder_;
  flow::TcpTracker tcp_;
  bool started_ = false;
};

TcpConversation conversation() {
  return TcpConversation({"198.51.100.1", kClientPort, testing::kClientMac},
                         {"198.51.100.2", 80, testing::kServerMac}, 1000, 5000);
}

TEST(ResetPlanner, UsesFreshestSeqFromEachDirection) {
  TcpConversation c = conversation();
  Tracked t;
  t.feed(c.handshake());
  t.feed(c.client_sends("GET / HTTP/1.1\r\n\r\n"));
  t.feed(c.server_sends("HTTP/1.1 200 OK\r\n\r\nhello"));
  t.feed(c.client_sends("GET /evil HTTP/1.1\r\n\r\n"));  // the trigger, already tracked

  const auto to_server = plan_segment(t.tcp(), Direction::kToServer, Mode::kRst);
  ASSERT_TRUE(to_server);
  EXPECT_EQ(to_server->seq, c.client_next());  // includes the trigger's own payload
  EXPECT_EQ(to_server->ack, c.server_next());
  EXPECT_EQ(to_server->flags, tf::kRst | tf::kAck);
  EXPECT_EQ(to_server->window, 0);

  const auto to_client = plan_segment(t.tcp(), Direction::kToClient, Mode::kRst);
  ASSERT_TRUE(to_client);
  EXPECT_EQ(to_client->seq, c.server_next());
  EXPECT_EQ(to_client->ack, c.client_next());
}

TEST(ResetPlanner, CountsTheTriggersSynAndFin) {
  TcpConversation c = conversation();
  Tracked t;
  t.feed(c.handshake());
  t.feed(c.client_sends("data"));
  // A FIN carrying the trigger: the receiver's RCV.NXT is one past the FIN.
  const uint32_t fin_seq = c.client_next();
  t.feed(c.segment(true, tf::kFin | tf::kAck | tf::kPsh, fin_seq, c.server_next(), "evil"));
  const auto to_server = plan_segment(t.tcp(), Direction::kToServer, Mode::kRst);
  ASSERT_TRUE(to_server);
  EXPECT_EQ(to_server->seq, fin_seq + 4 + 1);
}

TEST(ResetPlanner, OutOfOrderDataCountsUpToTheHighestByteSent) {
  TcpConversation c = conversation();
  Tracked t;
  t.feed(c.handshake());
  const uint32_t base = c.client_next();
  const uint32_t ack = c.server_next();
  t.feed(c.segment(true, tf::kAck | tf::kPsh, base + 10, ack, "second-half"));
  t.feed(c.segment(true, tf::kAck | tf::kPsh, base, ack, "first-half"));
  const auto to_server = plan_segment(t.tcp(), Direction::kToServer, Mode::kRst);
  ASSERT_TRUE(to_server);
  EXPECT_EQ(to_server->seq, base + 10 + 11);
  EXPECT_EQ(to_server->ack, ack);
}

TEST(ResetPlanner, MidstreamFlowSeenFromTheClientOnly) {
  TcpConversation c = conversation();
  c.handshake();  // not captured
  Tracked t;
  // Picked up on the client's data; the server's direction never shows (asymmetric path).
  const uint32_t seq = c.client_next();
  const uint32_t server_next = c.server_next();
  t.feed(c.segment(true, tf::kAck | tf::kPsh, seq, server_next, "GET /evil"));
  const auto to_server = plan_segment(t.tcp(), Direction::kToServer, Mode::kRst);
  ASSERT_TRUE(to_server);
  EXPECT_EQ(to_server->seq, seq + 9);
  EXPECT_EQ(to_server->ack, server_next);  // what the client acknowledged
  const auto to_client = plan_segment(t.tcp(), Direction::kToClient, Mode::kRst);
  ASSERT_TRUE(to_client);
  EXPECT_EQ(to_client->seq, server_next);  // the server's next byte, as the client acked it
  EXPECT_EQ(to_client->ack, seq + 9);
}

TEST(ResetPlanner, ReceiverAcknowledgedBytesTheMirrorMissed) {
  TcpConversation c = conversation();
  Tracked t;
  t.feed(c.handshake());
  t.feed(c.client_sends("GET / HTTP/1.1\r\n\r\n"));
  // The server's 100-byte answer was lost to the capture; the client's ACK shows it arrived.
  const uint32_t server_after = c.server_next() + 100;
  t.feed(c.segment(true, tf::kAck | tf::kPsh, c.client_next(), server_after, "more"));
  const auto to_client = plan_segment(t.tcp(), Direction::kToClient, Mode::kRst);
  ASSERT_TRUE(to_client);
  EXPECT_EQ(to_client->seq, server_after);
}

TEST(ResetPlanner, FinModeCarriesTheImpersonatedSendersUnscaledWindow) {
  TcpConversation c = conversation();
  Tracked t;
  // Handshake with window scaling on both sides (shift 7).
  testing::TcpFields syn{.seq = 999, .flags = tf::kSyn, .window = 64240, .wscale = 7};
  testing::TcpFields synack{
      .seq = 4999, .ack = 1000, .flags = tf::kSyn | tf::kAck, .window = 65160, .wscale = 7};
  testing::TcpFields ack{.seq = 1000, .ack = 5000, .flags = tf::kAck, .window = 502};
  auto frame = [](bool from_client, testing::TcpFields f) {
    return testing::FrameBuilder()
        .ethernet()
        .ipv4(from_client ? "198.51.100.1" : "198.51.100.2",
              from_client ? "198.51.100.2" : "198.51.100.1")
        .tcp(from_client ? kClientPort : 80, from_client ? 80 : kClientPort, f)
        .build();
  };
  t.feed(frame(true, syn));
  t.feed(frame(false, synack));
  t.feed(frame(true, ack));
  ASSERT_TRUE(t.tcp().window_scaling());
  const auto fin = plan_segment(t.tcp(), Direction::kToServer, Mode::kFin);
  ASSERT_TRUE(fin);
  EXPECT_EQ(fin->flags, tf::kFin | tf::kAck);
  EXPECT_EQ(fin->seq, 1000u);
  EXPECT_EQ(fin->ack, 5000u);
  EXPECT_EQ(fin->window, 502);  // as the client writes it on the wire
}

TEST(ResetPlanner, ActionsChooseTheirEndsReceiverFirst) {
  const Targets both = reset_targets(rules::Action::kRejectBoth, Direction::kToServer);
  ASSERT_EQ(both.count, 2);
  EXPECT_EQ(both.order[0], Direction::kToServer);  // the trigger's receiver: the server
  EXPECT_EQ(both.order[1], Direction::kToClient);

  const Targets from_server = reset_targets(rules::Action::kRejectBoth, Direction::kToClient);
  ASSERT_EQ(from_server.count, 2);
  EXPECT_EQ(from_server.order[0], Direction::kToClient);

  const Targets src = reset_targets(rules::Action::kRejectSrc, Direction::kToServer);
  ASSERT_EQ(src.count, 1);
  EXPECT_EQ(src.order[0], Direction::kToClient);  // back to the trigger's sender

  const Targets dst = reset_targets(rules::Action::kRejectDst, Direction::kToServer);
  ASSERT_EQ(dst.count, 1);
  EXPECT_EQ(dst.order[0], Direction::kToServer);

  EXPECT_EQ(reset_targets(rules::Action::kDrop, Direction::kToServer).count, 2);
  EXPECT_EQ(reset_targets(rules::Action::kAlert, Direction::kToServer).count, 0);
}

TEST(ResetPlanner, FollowUpAnswersAChallengeAckAtItsAckNumber) {
  TcpConversation c = conversation();
  decode::Decoder decoder;
  // The server's challenge ACK (RFC 5961 §3.2): its ack is exactly its RCV.NXT.
  const Bytes challenge = c.segment(false, tf::kAck, 5001, 1234567, "");
  decode::PacketView v;
  ASSERT_EQ(decoder.decode(decode::LinkType::kEthernet, challenge.data(),
                           static_cast<uint32_t>(challenge.size()),
                           static_cast<uint32_t>(challenge.size()), {}, v),
            decode::DecodeStatus::kOk);
  const auto rst = plan_follow_up(v, Direction::kToClient);
  ASSERT_TRUE(rst);
  EXPECT_EQ(rst->dir, Direction::kToServer);  // back toward the server
  EXPECT_EQ(rst->seq, 1234567u);
  EXPECT_EQ(rst->ack, 5001u);
  EXPECT_EQ(rst->flags, tf::kRst | tf::kAck);

  const Bytes their_rst = c.segment(false, tf::kRst | tf::kAck, 5001, 1234567, "");
  ASSERT_EQ(decoder.decode(decode::LinkType::kEthernet, their_rst.data(),
                           static_cast<uint32_t>(their_rst.size()),
                           static_cast<uint32_t>(their_rst.size()), {}, v),
            decode::DecodeStatus::kOk);
  EXPECT_FALSE(plan_follow_up(v, Direction::kToClient));  // never answer a RST
}

}  // namespace
}  // namespace spanguard::respond
