// Reassembly: each direction's bytes delivered once and in order whatever the arrival order,
// overlaps decided by policy, changed retransmissions and capture gaps reported, depth honoured.
#include "spanguard/stream/reassembler.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>

#include "frame_builder.h"
#include "spanguard/decode/decoder.h"
#include "spanguard/flow/flow_table.h"
#include "tcp_conversation.h"

namespace spanguard::stream {
namespace {

using flow::Direction;
using testing::Bytes;
using testing::TcpConversation;
namespace tf = decode::tcp_flag;

// decode → flow table → reassembler, the way a worker chains them, recording what comes out.
class Harness : public StreamConsumer, public flow::FlowEndHandler {
 public:
  explicit Harness(StreamOptions options = {})
      : reassembler(options, *this), table(flow::FlowOptions{}, this) {}
  ~Harness() override { table.flush_all(); }

  void feed(const Bytes& frame) {
    frames_.push_back(frame);
    const Bytes& f = frames_.back();
    now_ += 1000;
    ASSERT_EQ(decoder.decode(decode::LinkType::kEthernet, f.data(), static_cast<uint32_t>(f.size()),
                             static_cast<uint32_t>(f.size()), core::timestamp_from_ns(now_), view),
              decode::DecodeStatus::kOk);
    const flow::PacketFlow pf = table.process(view);
    ASSERT_NE(pf.flow, nullptr);
    if (pf.tcp.deliver)
      reassembler.on_segment(*pf.flow, pf.dir, pf.tcp.payload_seq, view.payload());
    if (view.has_flag(tf::kAck)) reassembler.on_ack(*pf.flow, pf.dir, view.ack);
  }
  void feed(const std::vector<Bytes>& frames) {
    for (const Bytes& f : frames) feed(f);
  }

  void on_stream_data(flow::Flow&, Direction d, std::span<const uint8_t> data, uint64_t offset,
                      bool after_gap) override {
    std::string& out = stream[flow::index(d)];
    if (after_gap) {
      EXPECT_GT(offset, delivered[flow::index(d)]) << "a gap must skip bytes";
    } else {
      EXPECT_EQ(offset, delivered[flow::index(d)]) << "bytes delivered out of order or twice";
    }
    if (after_gap) out += "|";
    out.append(data.begin(), data.end());
    delivered[flow::index(d)] = offset + data.size();
  }
  void on_stream_event(flow::Flow&, Direction d, StreamEvent e) override {
    events.push_back({d, e});
  }
  void on_flow_end(const flow::Flow& f, flow::EndReason) override {
    reassembler.on_flow_end(const_cast<flow::Flow&>(f));
  }
  int count(StreamEvent e) const {
    int n = 0;
    for (const auto& [d, ev] : events) n += ev == e;
    return n;
  }

  decode::Decoder decoder;
  decode::PacketView view;
  Reassembler reassembler;
  flow::FlowTable table;
  std::string stream[2];
  uint64_t delivered[2] = {0, 0};
  std::vector<std::pair<Direction, StreamEvent>> events;

 private:
  std::deque<Bytes> frames_;
  int64_t now_ = 1'000'000'000;
};

TcpConversation conv() {
  return TcpConversation({"198.51.100.1", 40000, testing::kClientMac},
                         {"198.51.100.2", 80, testing::kServerMac}, 1000, 5000);
}

// A client data segment at relative offset `at` (0 = first data byte) with no ACK movement.
Bytes data_at(const TcpConversation& c, uint32_t at, std::string_view bytes) {
  return c.segment(true, tf::kAck | tf::kPsh, 1001 + at, 5001, bytes);
}

TEST(Reassembler, DeliversBothDirectionsOfAConversationInOrder) {
  Harness h;
  TcpConversation c = conv();
  h.feed(c.handshake());
  h.feed(c.client_sends("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string body(5000, 'b');
  h.feed(c.server_sends("HTTP/1.1 200 OK\r\n\r\n" + body));
  h.feed(c.close());
  EXPECT_EQ(h.stream[0], "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(h.stream[1], "HTTP/1.1 200 OK\r\n\r\n" + body);
  EXPECT_TRUE(h.events.empty());
  EXPECT_EQ(h.reassembler.counters().get(StreamCounter::kGaps), 0u);
}

TEST(Reassembler, SameBytesInReverseOrderGiveTheSameStream) {
  Harness h;
  TcpConversation c = conv();
  h.feed(c.handshake());
  const std::string text = "The quick brown fox jumps over the lazy dog";
  for (int at = static_cast<int>(text.size()) / 5 * 5; at >= 0; at -= 5) {
    h.feed(data_at(c, static_cast<uint32_t>(at), std::string_view(text).substr(at, 5)));
    if (at > 0) {
      EXPECT_EQ(h.stream[0], "");
    }
  }
  EXPECT_EQ(h.stream[0], text);
  EXPECT_GT(h.reassembler.counters().get(StreamCounter::kQueued), 7u);
}

TEST(Reassembler, OneByteSegments) {
  Harness h;
  TcpConversation c = conv();
  h.feed(c.handshake());
  c.set_mss(1);
  h.feed(c.client_sends("one byte at a time"));
  EXPECT_EQ(h.stream[0], "one byte at a time");
  EXPECT_EQ(h.reassembler.counters().get(StreamCounter::kInOrder), 18u);
}

// Queued original "AAAAAAAA" at offsets 6..14, then a new overlapping segment; the hole in front
// is filled last with zeros up to the new segment (or the original), so only the overlap decides.
std::string overlap_result(OverlapPolicy policy, uint32_t new_at, std::string_view new_bytes) {
  Harness h({.policy = policy});
  TcpConversation c = conv();
  h.feed(c.handshake());
  h.feed(data_at(c, 6, "AAAAAAAA"));
  h.feed(data_at(c, new_at, new_bytes));
  h.feed(data_at(c, 0, std::string(std::min(new_at, 6u), '0')));
  return h.stream[0];
}

TEST(Reassembler, OverlapPoliciesChooseTheDocumentedBytes) {
  // The new segment starts before the original: bsd, linux and last take its bytes; windows only
  // when it also runs past the original's end.
  EXPECT_EQ(overlap_result(OverlapPolicy::kFirst, 4, "nnnnnn"), "0000nnAAAAAAAA");
  EXPECT_EQ(overlap_result(OverlapPolicy::kLast, 4, "nnnnnn"), "0000nnnnnnAAAA");
  EXPECT_EQ(overlap_result(OverlapPolicy::kBsd, 4, "nnnnnn"), "0000nnnnnnAAAA");
  EXPECT_EQ(overlap_result(OverlapPolicy::kLinux, 4, "nnnnnn"), "0000nnnnnnAAAA");
  EXPECT_EQ(overlap_result(OverlapPolicy::kWindows, 4, "nnnnnn"), "0000nnAAAAAAAA");
  EXPECT_EQ(overlap_result(OverlapPolicy::kWindows, 4, "nnnnnnnnnnnn"), "0000nnnnnnnnnnnn");
  // Same start as the original: only last and linux take the new bytes.
  EXPECT_EQ(overlap_result(OverlapPolicy::kFirst, 6, "nnnn"), "000000AAAAAAAA");
  EXPECT_EQ(overlap_result(OverlapPolicy::kLast, 6, "nnnn"), "000000nnnnAAAA");
  EXPECT_EQ(overlap_result(OverlapPolicy::kBsd, 6, "nnnn"), "000000AAAAAAAA");
  EXPECT_EQ(overlap_result(OverlapPolicy::kLinux, 6, "nnnn"), "000000nnnnAAAA");
  EXPECT_EQ(overlap_result(OverlapPolicy::kWindows, 6, "nnnn"), "000000AAAAAAAA");
  // Starting inside the original and running past it: only last takes the overlap; the tail beyond
  // the original is kept by every policy.
  EXPECT_EQ(overlap_result(OverlapPolicy::kFirst, 10, "nnnnnnnn"), "000000AAAAAAAAnnnn");
  EXPECT_EQ(overlap_result(OverlapPolicy::kLast, 10, "nnnnnnnn"), "000000AAAAnnnnnnnn");
  EXPECT_EQ(overlap_result(OverlapPolicy::kBsd, 10, "nnnnnnnn"), "000000AAAAAAAAnnnn");
  EXPECT_EQ(overlap_result(OverlapPolicy::kLinux, 10, "nnnnnnnn"), "000000AAAAAAAAnnnn");
  EXPECT_EQ(overlap_result(OverlapPolicy::kWindows, 10, "nnnnnnnn"), "000000AAAAAAAAnnnn");
}

TEST(Reassembler, QueuedOverlapWithDifferentBytesIsReported) {
  Harness h;
  TcpConversation c = conv();
  h.feed(c.handshake());
  h.feed(data_at(c, 4, "AAAA"));
  h.feed(data_at(c, 4, "AAAA"));  // identical resend: an overlap, not a mismatch
  EXPECT_EQ(h.count(StreamEvent::kOverlapMismatch), 0);
  h.feed(data_at(c, 6, "BBBB"));
  EXPECT_EQ(h.count(StreamEvent::kOverlapMismatch), 1);
  EXPECT_EQ(h.reassembler.counters().get(StreamCounter::kOverlaps), 2u);
}

TEST(Reassembler, RetransmissionWithDifferentDataForDeliveredBytesRaisesAnEvent) {
  Harness h;
  TcpConversation c = conv();
  h.feed(c.handshake());
  h.feed(data_at(c, 0, "GET /aaaaaaaaaaa HTTP/1.1\r\n"));
  h.feed(data_at(c, 0, "GET /aaaaaaaaaaa HTTP/1.1\r\n"));  // a plain retransmission
  EXPECT_EQ(h.count(StreamEvent::kOverlapMismatch), 0);
  EXPECT_EQ(h.reassembler.counters().get(StreamCounter::kRetransmissions), 1u);
  h.feed(data_at(c, 0, "GET /etc/passwd HTTP/1.1\r\n"));  // same sequence space, other bytes
  EXPECT_EQ(h.count(StreamEvent::kOverlapMismatch), 1);
  EXPECT_EQ(h.stream[0], "GET /aaaaaaaaaaa HTTP/1.1\r\n");  // delivered bytes are final
}

TEST(Reassembler, AcknowledgedHoleIsSkippedAndFlagged) {
  Harness h;
  TcpConversation c = conv();
  h.feed(c.handshake());
  h.feed(data_at(c, 0, "abcd"));
  // Bytes 4..8 never reach the mirror; the server acknowledges them, so they were sent.
  h.feed(data_at(c, 8, "ijkl"));
  EXPECT_EQ(h.stream[0], "abcd");
  h.feed(c.segment(false, tf::kAck, 5001, 1001 + 12, ""));
  EXPECT_EQ(h.stream[0], "abcd|ijkl");
  EXPECT_EQ(h.count(StreamEvent::kGap), 1);
  h.feed(data_at(c, 12, "mnop"));
  EXPECT_EQ(h.stream[0], "abcd|ijklmnop");
}

TEST(Reassembler, TooMuchQueuedBehindAHoleGivesTheHoleUp) {
  Harness h({.max_queued = 1024});
  TcpConversation c = conv();
  h.feed(c.handshake());
  h.feed(data_at(c, 0, "head"));
  for (uint32_t i = 0; i < 3; ++i) h.feed(data_at(c, 100 + i * 500, std::string(500, 'x')));
  EXPECT_EQ(h.count(StreamEvent::kGap), 1);
  EXPECT_EQ(h.stream[0], "head|" + std::string(1500, 'x'));
}

TEST(Reassembler, QueuedDataIsDeliveredAcrossHolesWhenTheFlowEnds) {
  Harness h;
  TcpConversation c = conv();
  h.feed(c.handshake());
  h.feed(data_at(c, 10, "tail"));
  h.table.flush_all();
  EXPECT_EQ(h.stream[0], "|tail");
}

TEST(Reassembler, DepthLimitsInspectedBytesPerDirection) {
  Harness h({.depth = 10});
  TcpConversation c = conv();
  h.feed(c.handshake());
  h.feed(c.client_sends("0123456789ABCDEF"));
  h.feed(c.server_sends("short"));
  EXPECT_EQ(h.stream[0], "0123456789");
  EXPECT_EQ(h.stream[1], "short");
  EXPECT_EQ(h.count(StreamEvent::kDepthReached), 1);
}

TEST(Reassembler, MemcapLimitsQueuedBytesAcrossFlows) {
  Harness h({.memcap = 4096, .retain = 0});
  TcpConversation c = conv();
  h.feed(c.handshake());
  for (uint32_t i = 0; i < 10; ++i) h.feed(data_at(c, 100 + i * 1000, std::string(1000, 'q')));
  EXPECT_GT(h.reassembler.counters().get(StreamCounter::kMemcapDrops), 0u);
  EXPECT_LE(h.reassembler.counters().get(StreamCounter::kMemoryBytes), 4096u);
  h.table.flush_all();
  EXPECT_EQ(h.reassembler.counters().get(StreamCounter::kMemoryBytes), 0u);
}

TEST(Reassembler, MidstreamFlowStartsAtTheFirstSeenByte) {
  Harness h;
  TcpConversation c = conv();
  h.feed(c.segment(true, tf::kAck | tf::kPsh, 777, 5001, "middle "));
  h.feed(c.segment(true, tf::kAck | tf::kPsh, 784, 5001, "of it"));
  EXPECT_EQ(h.stream[0], "middle of it");
}

TEST(Reassembler, OneSidedFlowIsReassembledWithoutTheOtherDirection) {
  Harness h;
  TcpConversation c = conv();
  const auto hs = c.handshake();
  h.feed(hs[0]);  // the client's SYN and ACK cross this mirror; the server's packets do not
  h.feed(hs[2]);
  h.feed(data_at(c, 6, "world"));
  h.feed(data_at(c, 0, "hello "));
  EXPECT_EQ(h.stream[0], "hello world");
  EXPECT_EQ(h.stream[1], "");
  EXPECT_EQ(h.count(StreamEvent::kGap), 0);
}

TEST(Reassembler, SequenceNumbersWrapAround) {
  Harness h;
  TcpConversation c({"198.51.100.1", 40000, testing::kClientMac},
                    {"198.51.100.2", 80, testing::kServerMac}, 0xfffffff0u, 5000);
  h.feed(c.handshake());
  h.feed(c.client_sends(std::string(20, 'w') + "rap"));
  EXPECT_EQ(h.stream[0], std::string(20, 'w') + "rap");
}

}  // namespace
}  // namespace spanguard::stream

namespace spanguard::stream {
namespace {

// A second consumer beside the harness: records what it is handed.
struct Recorder : StreamConsumer {
  void on_stream_data(flow::Flow&, Direction d, std::span<const uint8_t> data, uint64_t,
                      bool after_gap) override {
    if (after_gap) stream[flow::index(d)] += "|";
    stream[flow::index(d)].append(data.begin(), data.end());
  }
  void on_stream_event(flow::Flow&, Direction d, StreamEvent e) override {
    events.push_back({d, e});
  }
  std::string stream[2];
  std::vector<std::pair<Direction, StreamEvent>> events;
};

TEST(Reassembler, EveryConsumerGetsTheSameBytesAndEventsInOrderIncludingTheEnd) {
  Recorder first, second;
  Reassembler r(StreamOptions{}, {&first, &second});
  flow::Flow f;
  f.key.family = 4;
  f.key.proto = decode::ip_proto::kUdp;  // no TCP state: offsets count from the first segment
  auto bytes = [](std::string_view s) {
    return std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  r.on_segment(f, Direction::kToServer, 100, bytes("abc"));
  r.on_segment(f, Direction::kToServer, 110, bytes("xyz"));  // a hole of 7 bytes before it
  r.on_flow_end(f);  // the hole is skipped, the rest delivered, then the end
  for (const Recorder* c : {&first, &second}) {
    EXPECT_EQ(c->stream[0], "abc|xyz");
    ASSERT_EQ(c->events.size(), 2u);
    EXPECT_EQ(c->events[0].second, StreamEvent::kGap);
    EXPECT_EQ(c->events[1].second, StreamEvent::kEnd);
    EXPECT_EQ(c->events[1].first, Direction::kToServer);
  }
  for (auto& d : f.data) d.reset();
}

}  // namespace
}  // namespace spanguard::stream
