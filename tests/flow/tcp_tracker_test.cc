// TCP tracking against TTL insertion (stream.ttl_limit): a segment arriving with a TTL or hop limit
// too far below its sender's handshake one may expire before the receiver, so it moves no state.
#include "spanguard/flow/tcp_tracker.h"

#include <gtest/gtest.h>

#include <deque>

#include "frame_builder.h"
#include "spanguard/decode/decoder.h"
#include "spanguard/flow/flow_table.h"
#include "tcp_conversation.h"

namespace spanguard::flow {
namespace {

using testing::Bytes;
using testing::TcpConversation;
namespace tf = decode::tcp_flag;

// Feeds frames to a session table, one millisecond apart.
class Table : public FlowEndHandler {
 public:
  explicit Table(uint8_t ttl_limit) : table(options(ttl_limit), this) {}
  ~Table() override { table.flush_all(); }

  PacketFlow feed(const Bytes& frame) {
    frames_.push_back(frame);  // the view points into the frame
    const Bytes& f = frames_.back();
    now_ns_ += 1'000'000;
    EXPECT_EQ(
        decoder.decode(decode::LinkType::kEthernet, f.data(), static_cast<uint32_t>(f.size()),
                       static_cast<uint32_t>(f.size()), core::timestamp_from_ns(now_ns_), view),
        decode::DecodeStatus::kOk);
    return table.process(view);
  }
  PacketFlow feed(const std::vector<Bytes>& frames) {
    PacketFlow last;
    for (const Bytes& f : frames) last = feed(f);
    return last;
  }
  void on_flow_end(const Flow&, EndReason) override { ++ended; }

  decode::Decoder decoder{{.validate_checksums = true}};
  decode::PacketView view;
  FlowTable table;
  int ended = 0;

 private:
  static FlowOptions options(uint8_t ttl_limit) {
    FlowOptions o;
    o.ttl_limit = ttl_limit;
    return o;
  }

  std::deque<Bytes> frames_;
  int64_t now_ns_ = 1'000'000'000;
};

// `frame` (untagged Ethernet) with its IPv4 TTL or IPv6 hop limit set to `ttl`; the IPv4 header
// checksum follows (neither TCP's pseudo-header covers the field).
Bytes with_ttl(Bytes frame, uint8_t ttl) {
  constexpr size_t kIp = 14;
  if ((frame[kIp] >> 4) == 6) {
    frame[kIp + 7] = ttl;
    return frame;
  }
  frame[kIp + 8] = ttl;
  frame[kIp + 10] = frame[kIp + 11] = 0;
  const size_t ihl = (frame[kIp] & 0x0f) * 4u;
  uint32_t sum = 0;
  for (size_t i = 0; i < ihl; i += 2) sum += frame[kIp + i] << 8 | frame[kIp + i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  frame[kIp + 10] = static_cast<uint8_t>(~sum >> 8);
  frame[kIp + 11] = static_cast<uint8_t>(~sum);
  return frame;
}

std::vector<Bytes> with_ttl(std::vector<Bytes> frames, uint8_t ttl) {
  for (Bytes& f : frames) f = with_ttl(std::move(f), ttl);
  return frames;
}

TcpConversation conv(const char* client = "198.51.100.1", const char* server = "198.51.100.2") {
  return TcpConversation({client, 40000, testing::kClientMac}, {server, 80, testing::kServerMac});
}

TEST(TcpTracker, SegmentFarBelowTheHandshakeTtlIsNeitherTrackedNorDelivered) {
  Table t(5);
  TcpConversation c = conv();
  t.feed(with_ttl(c.handshake(), 64));
  const uint32_t seq = c.client_next();
  const PacketFlow junk =
      t.feed(with_ttl(c.segment(true, tf::kAck | tf::kPsh, seq, c.server_next(), "junk"), 58));
  EXPECT_TRUE(junk.tcp.ttl_evasion);
  EXPECT_FALSE(junk.tcp.deliver);
  EXPECT_EQ(junk.flow->tcp.peer(Direction::kToServer).next_seq, seq);  // no state moved
  EXPECT_EQ(t.table.counters().get(FlowCounter::kTcpTtlEvasion), 1u);
  // The responder's resets copy the endpoint's TTL: still the handshake's.
  EXPECT_EQ(junk.flow->endpoint[index(Direction::kToServer)].ttl, 64);
  const PacketFlow real =
      t.feed(with_ttl(c.segment(true, tf::kAck | tf::kPsh, seq, c.server_next(), "real"), 64));
  EXPECT_FALSE(real.tcp.ttl_evasion);
  EXPECT_TRUE(real.tcp.deliver);
  EXPECT_EQ(real.tcp.payload_seq, seq);
}

TEST(TcpTracker, LowTtlRstDoesNotEndTheSession) {
  Table t(5);
  TcpConversation c = conv();
  t.feed(with_ttl(c.handshake(), 128));
  // In window, exactly where a real one would be: only its TTL gives it away.
  const PacketFlow rst = t.feed(with_ttl(c.segment(false, tf::kRst, c.server_next(), 0, ""), 100));
  EXPECT_TRUE(rst.tcp.ttl_evasion);
  EXPECT_FALSE(rst.tcp.closed);
  EXPECT_EQ(rst.flow->tcp.state(), TcpState::kEstablished);
  EXPECT_FALSE(rst.flow->closed);
  const PacketFlow data = t.feed(with_ttl(c.client_sends("still tracked"), 128));
  EXPECT_EQ(data.flow, rst.flow);
  EXPECT_EQ(t.ended, 0);
  const PacketFlow real = t.feed(with_ttl(c.segment(false, tf::kRst, c.server_next(), 0, ""), 128));
  EXPECT_TRUE(real.tcp.closed);
}

TEST(TcpTracker, TtlDropWithinTheLimitIsTracked) {
  Table t(5);
  TcpConversation c = conv();
  t.feed(with_ttl(c.handshake(), 64));
  for (const int ttl : {64, 63, 59, 70}) {  // 59: exactly the limit below
    const std::vector<Bytes> frames = with_ttl(c.client_sends("data"), static_cast<uint8_t>(ttl));
    const PacketFlow data = t.feed(frames.front());
    EXPECT_FALSE(data.tcp.ttl_evasion) << ttl;
    EXPECT_TRUE(data.tcp.deliver) << ttl;
    t.feed(frames.back());
  }
  EXPECT_EQ(t.table.counters().get(FlowCounter::kTcpTtlEvasion), 0u);
}

TEST(TcpTracker, ZeroLimitTurnsTheCheckOff) {
  Table t(0);
  TcpConversation c = conv();
  t.feed(with_ttl(c.handshake(), 64));
  const PacketFlow low = t.feed(with_ttl(c.client_sends("low").front(), 2));
  EXPECT_FALSE(low.tcp.ttl_evasion);
  EXPECT_TRUE(low.tcp.deliver);
}

TEST(TcpTracker, EachDirectionIsJudgedByItsOwnHandshakePacket) {
  Table t(5);
  TcpConversation c = conv();
  const std::vector<Bytes> hs = c.handshake();
  t.feed(with_ttl(hs[0], 64));   // SYN: the client's
  t.feed(with_ttl(hs[1], 250));  // SYN-ACK: the server's
  t.feed(with_ttl(hs[2], 64));
  EXPECT_FALSE(t.feed(with_ttl(c.client_sends("x").front(), 60)).tcp.ttl_evasion);
  const PacketFlow server = t.feed(with_ttl(c.server_sends("y").front(), 64));
  EXPECT_TRUE(server.tcp.ttl_evasion);
  EXPECT_EQ(server.flow->tcp.peer(Direction::kToClient).learned_ttl, 250);
}

TEST(TcpTracker, MidstreamPickupLearnsFromTheFirstPacketOfEachSide) {
  Table t(5);
  TcpConversation c = conv();
  c.handshake();  // not mirrored
  const std::vector<Bytes> exchange = c.client_sends("request");
  const PacketFlow first = t.feed(with_ttl(exchange.front(), 120));
  ASSERT_TRUE(first.flow->tcp.midstream());
  t.feed(with_ttl(exchange.back(), 50));  // the server's ACK: its baseline
  EXPECT_FALSE(t.feed(with_ttl(c.server_sends("reply").front(), 48)).tcp.ttl_evasion);
  EXPECT_TRUE(t.feed(with_ttl(c.client_sends("more").front(), 100)).tcp.ttl_evasion);
}

TEST(TcpTracker, Ipv6HopLimitIsJudgedAsTtl) {
  Table t(5);
  TcpConversation c = conv("2001:db8::1", "2001:db8::2");
  t.feed(with_ttl(c.handshake(), 64));
  const PacketFlow low = t.feed(with_ttl(c.client_sends("junk").front(), 40));
  EXPECT_TRUE(low.tcp.ttl_evasion);
  EXPECT_FALSE(low.tcp.deliver);
}

}  // namespace
}  // namespace spanguard::flow
