// TCP tracking against TTL insertion (stream.ttl_limit): a segment arriving with a TTL or hop limit
// too far below its sender's handshake one may expire before the receiver, so it moves no state.
// Likewise a PAWS-stale segment (RFC 7323), which its receiver drops; and data beyond the last
// window the mirror showed, in sequence with its sender, is unconfirmed rather than invalid.
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

// Without window scaling the receiver's window is 64240 bytes; a segment may start up to twice the
// larger of it and 65535 past the last acknowledgement before it is out of the window.
constexpr uint32_t kWindowAllowance = 2 * 65535;

TEST(TcpTracker, DataBeyondTheLastSeenWindowInSequenceIsUnconfirmed) {
  Table t(0);
  TcpConversation c = conv();
  c.set_wscale(std::nullopt);
  t.feed(c.handshake());
  const uint32_t seq = c.client_next(), ack = c.server_next();
  const std::string kilobyte(1000, 'u');
  // The server's ACKs are lost by the mirror from here on; the client keeps sending.
  uint32_t at = 0;
  for (; at <= kWindowAllowance; at += 1000) {
    const PacketFlow p = t.feed(c.segment(true, tf::kAck, seq + at, ack, kilobyte));
    ASSERT_FALSE(p.tcp.unconfirmed) << at;
    ASSERT_TRUE(p.tcp.deliver);
  }
  const PacketFlow beyond = t.feed(c.segment(true, tf::kAck, seq + at, ack, kilobyte));
  EXPECT_TRUE(beyond.tcp.unconfirmed);
  EXPECT_TRUE(beyond.tcp.deliver);
  EXPECT_FALSE(beyond.tcp.invalid);
  EXPECT_EQ(beyond.flow->tcp.peer(Direction::kToServer).next_seq, seq + at + 1000);
  // Not in sequence with what the client was seen sending: still invalid.
  const PacketFlow jump = t.feed(c.segment(true, tf::kAck, seq + at + 50'000, ack, kilobyte));
  EXPECT_TRUE(jump.tcp.invalid);
  EXPECT_FALSE(jump.tcp.deliver);
  EXPECT_EQ(t.table.counters().get(FlowCounter::kTcpUnconfirmed), 1u);
  EXPECT_EQ(t.table.counters().get(FlowCounter::kTcpInvalid), 1u);
  // Once an ACK is seen again, the same run of data is inside the window.
  t.feed(c.segment(false, tf::kAck, ack, seq + at + 1000, ""));
  EXPECT_FALSE(t.feed(c.segment(true, tf::kAck, seq + at + 1000, ack, kilobyte)).tcp.unconfirmed);
}

TEST(TcpTracker, PawsStaleSegmentIsNeitherTrackedNorDelivered) {
  Table t(0);
  TcpConversation c = conv();
  c.set_timestamps(true);
  t.feed(c.handshake());
  t.feed(
      c.client_sends("GET / HTTP/1.1\r\n"));  // recorded as TS.Recent: it starts at the left edge
  const uint32_t seq = c.client_next(), ack = c.server_next();
  const uint32_t recent = c.ts_clock() - 1;  // the data segment's; the server's ACK ticked since
  const PacketFlow stale = t.feed(c.segment(true, tf::kAck, seq, ack, "junk", recent - 2));
  EXPECT_TRUE(stale.tcp.paws_stale);
  EXPECT_FALSE(stale.tcp.deliver);
  EXPECT_EQ(stale.flow->tcp.peer(Direction::kToServer).next_seq, seq);  // no state moved
  EXPECT_EQ(t.table.counters().get(FlowCounter::kTcpPawsStale), 1u);
  // One tick older is within Linux's tolerance; the same or newer is fine.
  EXPECT_FALSE(t.feed(c.segment(true, tf::kAck, seq, ack, "real", recent - 1)).tcp.paws_stale);
  EXPECT_FALSE(t.feed(c.segment(true, tf::kAck, seq + 4, ack, "more", recent + 5)).tcp.paws_stale);
  // An RST is never judged by its timestamp (RFC 7323 §5.3 R1).
  const PacketFlow rst = t.feed(c.segment(true, tf::kRst | tf::kAck, seq + 8, ack, "", 1));
  EXPECT_FALSE(rst.tcp.paws_stale);
  EXPECT_TRUE(rst.tcp.closed);
}

TEST(TcpTracker, PawsNeedsTimestampsFromBothEnds) {
  Table t(0);
  TcpConversation c = conv();
  const std::vector<Bytes> hs = c.handshake();
  t.feed(hs);  // no timestamps in the handshake
  c.set_timestamps(true);
  t.feed(c.client_sends("first"));
  const PacketFlow old =
      t.feed(c.segment(true, tf::kAck, c.client_next(), c.server_next(), "second", 1));
  EXPECT_FALSE(old.tcp.paws_stale);
  EXPECT_TRUE(old.tcp.deliver);
}

}  // namespace
}  // namespace spanguard::flow
