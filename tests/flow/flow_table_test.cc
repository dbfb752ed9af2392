// The session table: one flow for both directions, TCP state, mid-stream pickup, one-sided flows,
// timeouts and their overrides on packet time, emergency eviction, RST validation, 4-tuple reuse.
#include "spanguard/flow/flow_table.h"

#include <gtest/gtest.h>

#include <deque>

#include "frame_builder.h"
#include "spanguard/decode/decoder.h"
#include "tcp_conversation.h"

namespace spanguard::flow {
namespace {

using testing::Bytes;
using testing::FrameBuilder;
using testing::TcpConversation;
namespace tf = decode::tcp_flag;

constexpr int64_t kSecond = 1'000'000'000;

struct Record {
  uint64_t flow_id;
  EndReason reason;
  uint64_t packets[2];
  uint64_t bytes[2];
  TcpState state;
  int64_t end_ns;
};

class Harness : public FlowEndHandler {
 public:
  explicit Harness(FlowOptions options = {}) : table(options, this) {}
  ~Harness() override { table.flush_all(); }

  PacketFlow feed(const Bytes& frame, int64_t ts_ns) {
    frames_.push_back(frame);  // the view points into the frame
    const Bytes& f = frames_.back();
    EXPECT_EQ(decoder.decode(decode::LinkType::kEthernet, f.data(), static_cast<uint32_t>(f.size()),
                             static_cast<uint32_t>(f.size()), core::timestamp_from_ns(ts_ns), view),
              decode::DecodeStatus::kOk);
    return table.process(view);
  }
  void on_flow_end(const Flow& f, EndReason reason) override {
    records.push_back({f.flow_id,
                       reason,
                       {f.packets[0], f.packets[1]},
                       {f.bytes[0], f.bytes[1]},
                       f.is_tcp() ? f.tcp.state() : TcpState::kEstablished,
                       core::to_ns(f.last_seen)});
  }

  decode::Decoder decoder;
  decode::PacketView view;
  FlowTable table;
  std::vector<Record> records;

 private:
  std::deque<Bytes> frames_;
};

TcpConversation conv(uint16_t client_port = 40000, const char* client = "198.51.100.1",
                     const char* server = "198.51.100.2", uint16_t server_port = 80) {
  return TcpConversation({client, client_port, testing::kClientMac},
                         {server, server_port, testing::kServerMac});
}

// Feeds frames one millisecond apart from `start_ns`; returns the last PacketFlow.
PacketFlow feed_all(Harness& h, const std::vector<Bytes>& frames, int64_t& now_ns) {
  PacketFlow last;
  for (const Bytes& f : frames) {
    last = h.feed(f, now_ns);
    now_ns += 1'000'000;
  }
  return last;
}

TEST(FlowTable, HandshakeDataTeardownIsOneFlowWithBothDirections) {
  Harness h;
  TcpConversation c = conv();
  int64_t now = 10 * kSecond;
  const auto hs = c.handshake();
  PacketFlow p = h.feed(hs[0], now);
  ASSERT_TRUE(p.created);
  EXPECT_EQ(p.dir, Direction::kToServer);
  EXPECT_EQ(p.flow->tcp.state(), TcpState::kSynSent);
  p = h.feed(hs[1], now + 1000);
  EXPECT_FALSE(p.created);
  EXPECT_EQ(p.dir, Direction::kToClient);
  EXPECT_EQ(p.flow->tcp.state(), TcpState::kSynReceived);
  p = h.feed(hs[2], now + 2000);
  EXPECT_EQ(p.flow->tcp.state(), TcpState::kEstablished);
  now += kSecond;
  p = feed_all(h, c.client_sends("GET / HTTP/1.1\r\n\r\n"), now);
  p = feed_all(h, c.server_sends(std::string(3000, 'x')), now);
  p = feed_all(h, c.close(), now);
  EXPECT_EQ(p.flow->tcp.state(), TcpState::kClosed);
  EXPECT_TRUE(p.tcp.closed);
  EXPECT_EQ(h.table.active(), 1u);
  const uint64_t id = p.flow->flow_id;
  EXPECT_LT(id, uint64_t{1} << 51);
  h.table.flush_all();
  ASSERT_EQ(h.records.size(), 1u);
  const Record& r = h.records[0];
  EXPECT_EQ(r.flow_id, id);
  EXPECT_EQ(r.reason, EndReason::kClosed);
  // Client: SYN, ACK, request, ACK x3 (server's 3 segments), FIN, final ACK = 8.
  EXPECT_EQ(r.packets[0], 8u);
  EXPECT_EQ(r.packets[1], 6u);  // SYN-ACK, ACK of request, 3 data segments, FIN
  EXPECT_GT(r.bytes[1], 3000u);
}

TEST(FlowTable, TeardownEndsTheFlowAfterTheClosedTimeout) {
  FlowOptions o;
  o.timeouts.closed = std::chrono::seconds(2);
  Harness h(o);
  TcpConversation c = conv();
  int64_t now = 10 * kSecond;
  feed_all(h, c.handshake(), now);
  feed_all(h, c.close(), now);
  EXPECT_EQ(h.table.active(), 1u);
  h.table.advance_time(core::timestamp_from_ns(now + kSecond));
  EXPECT_EQ(h.table.active(), 1u);
  h.table.advance_time(core::timestamp_from_ns(now + 3 * kSecond));
  EXPECT_EQ(h.table.active(), 0u);
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].reason, EndReason::kClosed);
}

TEST(FlowTable, MidstreamPickupInfersTheServerFromPorts) {
  Harness h;
  TcpConversation c = conv(40000);
  // First packet seen: the server's reply (from port 80 to an ephemeral port).
  const Bytes reply = c.segment(false, tf::kAck | tf::kPsh, 9000, 1234, "HTTP/1.1 200 OK\r\n");
  const PacketFlow p = h.feed(reply, kSecond);
  ASSERT_NE(p.flow, nullptr);
  EXPECT_TRUE(p.created);
  EXPECT_EQ(p.dir, Direction::kToClient);
  EXPECT_TRUE(p.flow->tcp.midstream());
  EXPECT_EQ(p.flow->tcp.state(), TcpState::kEstablished);
  EXPECT_TRUE(p.tcp.deliver);
  EXPECT_EQ(h.table.counters().get(FlowCounter::kTcpMidstream), 1u);
  const PacketFlow q = h.feed(c.segment(true, tf::kAck, 1234, 9017, ""), kSecond + 1000);
  EXPECT_EQ(q.flow, p.flow);
  EXPECT_EQ(q.dir, Direction::kToServer);
}

TEST(FlowTable, MidstreamPickupOffIgnoresSessionsWithoutSyn) {
  FlowOptions o;
  o.midstream = false;
  Harness h(o);
  TcpConversation c = conv();
  const PacketFlow p = h.feed(c.segment(true, tf::kAck | tf::kPsh, 5, 6, "data"), kSecond);
  EXPECT_EQ(p.flow, nullptr);
  EXPECT_EQ(h.table.active(), 0u);
  EXPECT_EQ(h.table.counters().get(FlowCounter::kTcpMidstreamIgnored), 1u);
  int64_t now = 2 * kSecond;
  EXPECT_NE(feed_all(h, c.handshake(), now).flow, nullptr);
}

TEST(FlowTable, OneSidedFlowIsTrackedAndDelivered) {
  Harness h;
  TcpConversation c = conv();
  const auto hs = c.handshake();
  int64_t now = kSecond;
  // Only the client's half of the conversation crosses this mirror (asymmetric routing).
  h.feed(hs[0], now);
  h.feed(hs[2], now + 1000);
  PacketFlow p;
  uint32_t seq = c.client_next();
  for (int i = 0; i < 3; ++i) {
    p = h.feed(c.segment(true, tf::kAck | tf::kPsh, seq, c.server_next(), "chunk"), now + 2000 + i);
    seq += 5;
    EXPECT_TRUE(p.tcp.deliver);
    EXPECT_FALSE(p.tcp.invalid);
  }
  EXPECT_EQ(p.flow->packets[0], 5u);
  EXPECT_EQ(p.flow->packets[1], 0u);
}

TEST(FlowTable, BlindRstOutsideTheWindowDoesNotEndTheSession) {
  Harness h;
  TcpConversation c = conv();
  int64_t now = kSecond;
  feed_all(h, c.handshake(), now);
  const PacketFlow blind =
      h.feed(c.segment(false, tf::kRst, c.server_next() + 100'000'000, 0, ""), now);
  EXPECT_TRUE(blind.tcp.rst_ignored);
  EXPECT_EQ(blind.flow->tcp.state(), TcpState::kEstablished);
  EXPECT_EQ(h.table.counters().get(FlowCounter::kTcpRstIgnored), 1u);
  const PacketFlow real = h.feed(c.segment(false, tf::kRst, c.server_next(), 0, ""), now + 1000);
  EXPECT_TRUE(real.tcp.closed);
  EXPECT_EQ(real.flow->tcp.state(), TcpState::kClosed);
}

TEST(FlowTable, SegmentFarOutsideTheWindowIsInvalid) {
  Harness h;
  TcpConversation c = conv();
  int64_t now = kSecond;
  feed_all(h, c.handshake(), now);
  const PacketFlow p = h.feed(
      c.segment(true, tf::kAck | tf::kPsh, c.client_next() + 100'000'000, c.server_next(), "evil"),
      now);
  EXPECT_TRUE(p.tcp.invalid);
  EXPECT_FALSE(p.tcp.deliver);
  EXPECT_EQ(h.table.counters().get(FlowCounter::kTcpInvalid), 1u);
}

TEST(FlowTable, SynOnAClosedFourTupleStartsANewSession) {
  Harness h;
  int64_t now = kSecond;
  TcpConversation first = conv(40000);
  feed_all(h, first.handshake(), now);
  const PacketFlow closed = feed_all(h, first.close(), now);
  const uint64_t old_id = closed.flow->flow_id;
  TcpConversation second({"198.51.100.1", 40000, testing::kClientMac},
                         {"198.51.100.2", 80, testing::kServerMac}, 777777, 888888);
  const PacketFlow p = feed_all(h, second.handshake(), now);
  EXPECT_NE(p.flow->flow_id, old_id);
  EXPECT_EQ(p.flow->tcp.state(), TcpState::kEstablished);
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].reason, EndReason::kReused);
  EXPECT_EQ(h.table.counters().get(FlowCounter::kEndedReused), 1u);
}

TEST(FlowTable, IdleFlowsExpireOnPacketTime) {
  FlowOptions o;
  o.timeouts.udp = std::chrono::seconds(30);
  Harness h(o);
  const Bytes dns = FrameBuilder()
                        .ethernet()
                        .ipv4("198.51.100.1", "198.51.100.53")
                        .udp(5000, 53)
                        .payload("q")
                        .build();
  const Bytes other =
      FrameBuilder().ethernet().ipv4("198.51.100.7", "198.51.100.8").udp(1, 2).build();
  h.feed(dns, 100 * kSecond);
  h.feed(other, 129 * kSecond);
  EXPECT_EQ(h.records.size(), 0u);
  h.feed(other, 130 * kSecond + 200'000'000);  // the wheel's 100 ms tick has passed 130 s
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].reason, EndReason::kTimeout);
  EXPECT_EQ(h.records[0].end_ns, 100 * kSecond);
}

TEST(FlowTable, AFlowIdlePastItsTimeoutEndsOnItsNextPacket) {
  FlowOptions o;
  o.timeouts.udp = std::chrono::seconds(30);
  Harness h(o);
  const Bytes dns =
      FrameBuilder().ethernet().ipv4("198.51.100.1", "198.51.100.53").udp(5000, 53).build();
  const PacketFlow a = h.feed(dns, 100 * kSecond);
  const uint64_t id = a.flow->flow_id;
  const PacketFlow b = h.feed(dns, 130 * kSecond);  // exactly the timeout later
  EXPECT_TRUE(b.created);
  EXPECT_NE(b.flow->flow_id, id);
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].reason, EndReason::kTimeout);
}

TEST(FlowTable, PortAndNetworkOverridesChangeTimeouts) {
  FlowOptions o;
  o.timeouts.established = std::chrono::seconds(60);
  TimeoutOverride ssh;
  ssh.ports = {{22, 22}};
  ssh.timeouts = o.timeouts;
  ssh.timeouts.established = std::chrono::seconds(600);
  TimeoutOverride db;
  db.networks = {*core::IpNetwork::parse("198.51.100.128/25")};
  db.timeouts = o.timeouts;
  db.timeouts.established = std::chrono::seconds(5);
  o.overrides = {ssh, db};
  Harness h(o);
  int64_t now = 1000 * kSecond;
  TcpConversation web = conv(40001, "198.51.100.1", "198.51.100.2", 80);
  TcpConversation shell = conv(40002, "198.51.100.1", "198.51.100.2", 22);
  TcpConversation database = conv(40003, "198.51.100.1", "198.51.100.200", 5432);
  const int64_t start = now;
  const PacketFlow pw = feed_all(h, web.handshake(), now);
  const PacketFlow ps = feed_all(h, shell.handshake(), now);
  const PacketFlow pd = feed_all(h, database.handshake(), now);
  EXPECT_EQ(h.table.timeout_of(*pw.flow), std::chrono::seconds(60));
  EXPECT_EQ(h.table.timeout_of(*ps.flow), std::chrono::seconds(600));
  EXPECT_EQ(h.table.timeout_of(*pd.flow), std::chrono::seconds(5));
  // Flows are recycled once ended: keep their ids, not the pointers.
  const uint64_t web_id = pw.flow->flow_id, ssh_id = ps.flow->flow_id, db_id = pd.flow->flow_id;
  const Bytes tick =
      FrameBuilder().ethernet().ipv4("198.51.100.7", "198.51.100.8").udp(1, 2).build();
  h.feed(tick, start + 6 * kSecond);
  ASSERT_EQ(h.records.size(), 1u);  // the database session (5 s)
  EXPECT_EQ(h.records[0].flow_id, db_id);
  h.feed(tick, start + 62 * kSecond);
  ASSERT_EQ(h.records.size(), 2u);  // the web session (60 s); the tick flow itself is UDP (60 s)
  EXPECT_EQ(h.records[1].flow_id, web_id);
  h.feed(tick, start + 500 * kSecond);
  for (const Record& r : h.records) EXPECT_NE(r.flow_id, ssh_id) << "ssh outlives 500 s (600 s)";
}

TEST(FlowTable, FullTableEvictsHalfOpenFlowsAndKeepsEstablishedOnes) {
  FlowOptions o;
  o.max_flows = 100;
  o.emergency_high_percent = 90;
  o.emergency_low_percent = 50;
  Harness h(o);
  int64_t now = kSecond;
  std::vector<uint64_t> established;
  for (int i = 0; i < 20; ++i) {
    TcpConversation c = conv(static_cast<uint16_t>(30000 + i));
    established.push_back(feed_all(h, c.handshake(), now).flow->flow_id);
  }
  // A SYN flood: thousands of half-open flows from spoofed ports.
  for (int i = 0; i < 2000; ++i) {
    TcpConversation c = conv(static_cast<uint16_t>(1024 + i), "198.51.100.66", "198.51.100.2");
    h.feed(c.handshake()[0], now += 1000);
  }
  EXPECT_LE(h.table.active(), 100u);
  EXPECT_TRUE(h.table.emergency());
  EXPECT_EQ(h.table.counters().get(FlowCounter::kEmergencyEntered), 1u);
  EXPECT_GT(h.table.counters().get(FlowCounter::kEndedEvicted), 1800u);
  for (const Record& r : h.records) {
    for (uint64_t id : established)
      EXPECT_NE(r.flow_id, id) << "an established session was evicted";
  }
  // Emergency timeouts (5 s for half-open flows) drain the flood until the table falls below low
  // water; normal timeouts then finish the rest.
  const Bytes tick =
      FrameBuilder().ethernet().ipv4("198.51.100.7", "198.51.100.8").udp(1, 2).build();
  h.feed(tick, now + 6 * kSecond);
  EXPECT_FALSE(h.table.emergency());
  EXPECT_EQ(h.table.counters().get(FlowCounter::kEmergencyLeft), 1u);
  EXPECT_LE(h.table.active(), 50u);
  h.feed(tick, now + 40 * kSecond);
  EXPECT_EQ(h.table.active(), 21u);  // the 20 established sessions and the tick flow
}

TEST(FlowTable, TableFullOfEstablishedSessionsRefusesNewFlows) {
  FlowOptions o;
  o.max_flows = 16;
  Harness h(o);
  int64_t now = kSecond;
  for (int i = 0; i < 16; ++i) feed_all(h, conv(static_cast<uint16_t>(30000 + i)).handshake(), now);
  const PacketFlow p = h.feed(conv(50000).handshake()[0], now);
  EXPECT_EQ(p.flow, nullptr);
  EXPECT_EQ(h.table.counters().get(FlowCounter::kNoRoom), 1u);
  EXPECT_EQ(h.table.active(), 16u);
}

TEST(FlowTable, VlanAwarenessSeparatesOrMergesTaggedFlows) {
  for (bool aware : {true, false}) {
    FlowOptions o;
    o.vlan_aware = aware;
    Harness h(o);
    const Bytes a =
        FrameBuilder().ethernet().vlan(10).ipv4("198.51.100.1", "198.51.100.2").udp(1, 2).build();
    const Bytes b =
        FrameBuilder().ethernet().vlan(20).ipv4("198.51.100.1", "198.51.100.2").udp(1, 2).build();
    h.feed(a, kSecond);
    h.feed(b, kSecond + 1);
    EXPECT_EQ(h.table.active(), aware ? 2u : 1u);
  }
}

TEST(FlowTable, EndpointTraceKeepsMacsVlansAndTtlPerDirection) {
  Harness h;
  TcpConversation c = conv();
  c.set_vlans({42});
  int64_t now = kSecond;
  const PacketFlow p = feed_all(h, c.handshake(), now);
  const EndpointTrace& client = p.flow->endpoint[index(Direction::kToServer)];
  const EndpointTrace& server = p.flow->endpoint[index(Direction::kToClient)];
  EXPECT_TRUE(client.has_mac);
  EXPECT_EQ(client.mac, testing::kClientMac);
  EXPECT_EQ(client.peer_mac, testing::kServerMac);
  EXPECT_EQ(server.mac, testing::kServerMac);
  EXPECT_EQ(client.vlan_count, 1);
  EXPECT_EQ(client.vlan_ids[0], 42);
  EXPECT_EQ(client.ttl, 64);
}

// A PPPoE session's Ethernet addresses belong to the PPPoE peers: a reset sent to them as a plain
// IP frame would be ignored, so the trace records none (layer-2 injection then declines).
TEST(FlowTable, PppoeFramesLeaveNoLinkAddressToInjectTo) {
  Harness h;
  const PacketFlow p = h.feed(FrameBuilder()
                                  .ethernet()
                                  .pppoe()
                                  .ppp({.address_control = false})
                                  .ipv4("198.51.100.1", "198.51.100.2")
                                  .tcp(40000, 443, {.flags = decode::tcp_flag::kSyn})
                                  .build(),
                              kSecond);
  ASSERT_NE(p.flow, nullptr);
  EXPECT_FALSE(p.flow->endpoint[index(Direction::kToServer)].has_mac);
}

TEST(FlowTable, FlowIdsAreStableForTheSameInput) {
  uint64_t ids[2];
  for (uint64_t& id : ids) {
    Harness h;
    int64_t now = 5 * kSecond;
    id = feed_all(h, conv().handshake(), now).flow->flow_id;
  }
  EXPECT_EQ(ids[0], ids[1]);
}

}  // namespace
}  // namespace spanguard::flow
