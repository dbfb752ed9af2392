// Reassembly: each direction's bytes delivered once and in order whatever the arrival order,
// overlaps decided by policy, changed retransmissions and capture gaps reported, depth honoured,
// and floods of tiny segments costing work and counted memory per segment, within the memcap.
#include "spanguard/stream/reassembler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <numeric>
#include <random>
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
    last_flow = pf.flow;
    if (pf.tcp.deliver)
      reassembler.on_segment(*pf.flow, pf.dir, pf.tcp.payload_seq, view.payload(),
                             pf.tcp.unconfirmed);
    if (view.has_flag(tf::kAck)) reassembler.on_ack(*pf.flow, pf.dir, view.ack);
  }
  void feed(const std::vector<Bytes>& frames) {
    for (const Bytes& f : frames) feed(f);
  }

  void on_stream_data(flow::Flow& f, Direction d, std::span<const uint8_t> data, uint64_t offset,
                      bool after_gap) override {
    std::string behind;
    for (const std::span<const uint8_t> part : reassembler.history(f, d))
      behind.append(part.begin(), part.end());
    histories[flow::index(d)].push_back(behind);
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
  std::vector<std::string> histories[2];  // what history() gave behind each delivered chunk
  flow::Flow* last_flow = nullptr;        // the flow of the last frame fed
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

namespace spanguard::stream {
namespace {

// The reassembler driven directly, one flow whose handshake was not seen: offsets count from the
// first segment, so a first byte in order fixes where the stream starts.
class Direct : public StreamConsumer {
 public:
  explicit Direct(StreamOptions options) : reassembler(options, *this) {
    flow.key.family = 4;
    flow.key.proto = decode::ip_proto::kTcp;
  }
  ~Direct() override {
    for (auto& d : flow.data) d.reset();
  }
  void segment(uint64_t offset, std::string_view bytes, bool unconfirmed = false) {
    reassembler.on_segment(flow, Direction::kToServer, kIsn + static_cast<uint32_t>(offset),
                           std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
                           unconfirmed);
  }
  // The server acknowledges everything before `offset`.
  void ack(uint64_t offset) {
    reassembler.on_ack(flow, Direction::kToClient, kIsn + static_cast<uint32_t>(offset));
  }
  void on_stream_data(flow::Flow&, Direction, std::span<const uint8_t> data, uint64_t offset,
                      bool after_gap) override {
    if (after_gap) {
      EXPECT_GT(offset, delivered) << "a gap must skip bytes";
      stream += "|";
    } else {
      EXPECT_EQ(offset, delivered) << "bytes delivered out of order or twice";
    }
    stream.append(data.begin(), data.end());
    delivered = offset + data.size();
  }
  void on_stream_event(flow::Flow&, Direction, StreamEvent e) override { events.push_back(e); }
  uint64_t counter(StreamCounter c) const { return reassembler.counters().get(c); }

  static constexpr uint32_t kIsn = 0xffffc000u;  // the flood crosses the sequence wrap
  Reassembler reassembler;
  flow::Flow flow;
  std::string stream;
  uint64_t delivered = 0;
  std::vector<StreamEvent> events;
};

std::string letters(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

constexpr uint64_t kFlood = 20000;

// Every byte but the first in its own segment, in `order`; the queue holds all but the last.
void flood(Direct& d, const std::string& text, const std::vector<uint64_t>& order) {
  d.segment(0, std::string_view(text).substr(0, 1));
  for (uint64_t at : order) d.segment(at, std::string_view(text).substr(at, 1));
}

TEST(Reassembler, ReverseFloodOfOneByteSegmentsIsDeliveredWithWorkAndMemoryPerSegment) {
  Direct d({.retain = 0});
  const std::string text = letters(kFlood + 1);
  std::vector<uint64_t> order(kFlood);
  std::iota(order.rbegin(), order.rend(), 1);  // kFlood .. 1
  // All queued until the byte at offset 1 arrives: memory counts a node per segment and the chunks.
  d.segment(0, std::string_view(text).substr(0, 1));
  for (uint64_t i = 0; i + 1 < order.size(); ++i) {
    d.segment(order[i], std::string_view(text).substr(order[i], 1));
  }
  EXPECT_EQ(d.stream, text.substr(0, 1));
  const uint64_t queued = kFlood - 1;
  const uint64_t chunks = kFlood / core::SegmentStore::kChunkSize + 1;
  EXPECT_GE(d.counter(StreamCounter::kMemoryBytes), queued * core::SegmentList::kSegmentOverhead);
  EXPECT_LE(
      d.counter(StreamCounter::kMemoryBytes),
      queued * core::SegmentList::kSegmentOverhead + chunks * core::SegmentList::kChunkFootprint);
  d.segment(1, std::string_view(text).substr(1, 1));
  EXPECT_EQ(d.stream, text);
  EXPECT_EQ(d.counter(StreamCounter::kQueued), kFlood);
  EXPECT_EQ(d.counter(StreamCounter::kMemoryBytes), 0u);
  // No segment was compared with the others queued, and the bytes shared a handful of chunks.
  EXPECT_LE(d.reassembler.segment_store().segments_visited(), kFlood);
  EXPECT_LE(d.reassembler.segment_store().chunks_allocated(), chunks);
  EXPECT_TRUE(d.events.empty());
}

TEST(Reassembler, RandomOrderFloodWithResendsIsDeliveredOnceAndInOrder) {
  Direct d({});
  const std::string text = letters(kFlood + 1);
  std::vector<uint64_t> order(kFlood);
  std::iota(order.begin(), order.end(), 1);
  std::shuffle(order.begin(), order.end(), std::mt19937(7));
  // Every tenth segment is sent twice, the second time after it may have been delivered.
  std::vector<uint64_t> with_resends;
  for (size_t i = 0; i < order.size(); ++i) {
    with_resends.push_back(order[i]);
    if (i % 10 == 0) with_resends.push_back(order[i]);
  }
  flood(d, text, with_resends);
  EXPECT_EQ(d.stream, text);
  EXPECT_EQ(d.counter(StreamCounter::kOverlapMismatch), 0u);
  EXPECT_EQ(d.counter(StreamCounter::kOverlaps), kFlood / 10);
  EXPECT_LE(d.reassembler.segment_store().segments_visited(), kFlood / 10);
  // What stays held is the retained history (its ring doubled up to 32 KiB for 20,001 bytes),
  // nothing of the queue.
  EXPECT_EQ(d.counter(StreamCounter::kMemoryBytes), 32768u);
}

TEST(Reassembler, FloodBeyondTheMemcapIsRefusedAndNeverExceedsIt) {
  constexpr uint64_t kMemcap = 256 << 10;
  Direct d({.memcap = kMemcap, .retain = 0});
  const std::string text = letters(kFlood + 1);
  d.segment(0, std::string_view(text).substr(0, 1));
  uint64_t peak = 0;
  for (uint64_t at = kFlood; at >= 1; --at) {
    d.segment(at, std::string_view(text).substr(at, 1));
    peak = std::max(peak, d.counter(StreamCounter::kMemoryBytes));
  }
  EXPECT_LE(peak, kMemcap);
  // The node per segment fills the memcap long before the bytes would.
  const uint64_t kept = kFlood - d.counter(StreamCounter::kMemcapDrops);
  EXPECT_GT(d.counter(StreamCounter::kMemcapDrops), 0u);
  EXPECT_LT(kept, kMemcap / core::SegmentList::kSegmentOverhead);
  EXPECT_GT(kept, kMemcap / core::SegmentList::kSegmentOverhead / 2);
  // The refused bytes are a hole: at the end the queued ones follow it.
  d.reassembler.on_flow_end(d.flow);
  EXPECT_EQ(d.stream, text.substr(0, 1) + "|" + text.substr(kFlood + 1 - kept));
  EXPECT_EQ(d.counter(StreamCounter::kMemoryBytes), 0u);
}

TEST(Reassembler, QueuedChunksAreReusedByTheNextFlow) {
  const std::string text = letters(64 * 1460 + 1);
  std::vector<uint64_t> order;
  for (uint64_t i = 64; i > 0; --i) order.push_back(1 + (i - 1) * 1460);
  Direct d({});
  for (int round = 0; round < 10; ++round) {
    for (auto& slot : d.flow.data) slot.reset();
    d.stream.clear();
    d.delivered = 0;
    d.segment(0, std::string_view(text).substr(0, 1));
    for (uint64_t at : order) d.segment(at, std::string_view(text).substr(at, 1460));
    EXPECT_EQ(d.stream, text);
  }
  // The first flow's chunks serve every later one.
  EXPECT_LE(d.reassembler.segment_store().chunks_allocated(),
            64 * 1460 / core::SegmentStore::kChunkSize + 1);
}

TEST(Reassembler, OneSidedFlowRetainsAtMostStreamRetain) {
  Direct d({.retain = 4096});
  const std::string text = letters(100 * 1000);
  for (uint64_t at = 0; at < text.size(); at += 1000) {
    d.segment(at, std::string_view(text).substr(at, 1000));
    ASSERT_LE(d.counter(StreamCounter::kMemoryBytes), 4096u);
  }
  EXPECT_EQ(d.stream, text);
  EXPECT_EQ(d.counter(StreamCounter::kMemoryBytes), 4096u);  // the ring, never acknowledged
  // A resend of the last 4096 bytes is compared against them whole.
  d.segment(text.size() - 4096, std::string_view(text).substr(text.size() - 4096));
  EXPECT_EQ(d.counter(StreamCounter::kOverlapMismatch), 0u);
  std::string changed = text.substr(text.size() - 4096);
  changed[0] = '!';
  d.segment(text.size() - 4096, changed);
  EXPECT_EQ(d.counter(StreamCounter::kOverlapMismatch), 1u);
}

// stream.retain = 16: after "0123456789" and "abcdefghij" the ring holds "456789abcdef" up to its
// end and "ghij" from its start again.
TEST(Reassembler, ChangedResendAcrossTheRetainedRingsWrapIsAMismatch) {
  Harness h({.retain = 16});
  TcpConversation c = conv();
  h.feed(c.handshake());
  h.feed(data_at(c, 0, "0123456789"));
  h.feed(data_at(c, 10, "abcdefghij"));
  EXPECT_EQ(h.reassembler.counters().get(StreamCounter::kMemoryBytes), 16u);
  h.feed(data_at(c, 13, "defghi"));  // the same bytes, across the wrap
  EXPECT_EQ(h.count(StreamEvent::kOverlapMismatch), 0);
  h.feed(data_at(c, 13, "defXhi"));  // changed just after the wrap
  EXPECT_EQ(h.count(StreamEvent::kOverlapMismatch), 1);
  h.feed(data_at(c, 13, "dEfghi"));  // changed just before it
  EXPECT_EQ(h.count(StreamEvent::kOverlapMismatch), 2);
  h.feed(data_at(c, 2, "23"));  // older than the ring: nothing to compare
  EXPECT_EQ(h.count(StreamEvent::kOverlapMismatch), 2);
  EXPECT_EQ(h.reassembler.counters().get(StreamCounter::kRetransmissions), 4u);
  EXPECT_EQ(h.stream[0], "0123456789abcdefghij");
}

// Consumers read the newest StreamOptions::history bytes behind each chunk from the ring, one copy
// of the stream: acknowledgements free retained bytes down to that history, never below it, and a
// gap empties it.
TEST(Reassembler, HistoryBehindEachChunkOutlivesAcknowledgementsButNotAGap) {
  Harness h({.retain = 16, .history = 8});
  TcpConversation c = conv();
  h.feed(c.handshake());
  h.feed(data_at(c, 0, "0123456789"));
  h.feed(c.segment(false, tf::kAck, 5001, 1011, ""));  // everything acknowledged
  h.feed(data_at(c, 10, "abcdef"));
  h.feed(c.segment(false, tf::kAck, 5001, 1017, ""));
  h.feed(data_at(c, 16, "ghij"));
  ASSERT_EQ(h.histories[0].size(), 3u);
  EXPECT_EQ(h.histories[0][0], "");
  EXPECT_EQ(h.histories[0][1], "23456789");  // acknowledged, yet kept as history
  EXPECT_EQ(h.histories[0][2], "89abcdef");
  // The server acknowledges beyond what the capture saw: a gap, and nothing behind what follows.
  h.feed(c.segment(false, tf::kAck, 5001, 1030, ""));
  h.feed(data_at(c, 29, "XYZ"));
  ASSERT_EQ(h.histories[0].size(), 4u);
  EXPECT_EQ(h.histories[0][3], "");
  EXPECT_EQ(h.stream[0], "0123456789abcdefghij|XYZ");
}

// Without a history, acknowledged bytes leave the ring at once (only unacknowledged ones can be
// resent), and consumers are given nothing behind a chunk.
TEST(Reassembler, WithoutHistoryAcknowledgedBytesAreFreed) {
  Harness h({.retain = 16});
  TcpConversation c = conv();
  h.feed(c.handshake());
  h.feed(data_at(c, 0, "0123456789"));
  h.feed(c.segment(false, tf::kAck, 5001, 1011, ""));
  h.feed(data_at(c, 10, "abcdef"));
  ASSERT_EQ(h.histories[0].size(), 2u);
  EXPECT_EQ(h.histories[0][1], "");
  // A changed resend of acknowledged bytes has nothing left to be compared with.
  h.feed(data_at(c, 2, "XX"));
  EXPECT_EQ(h.count(StreamEvent::kOverlapMismatch), 0);
}

// Unconfirmed bytes (beyond the receiver's last seen window: the mirror lost its ACKs) wait for
// an acknowledgement before they are inspected.
TEST(Reassembler, UnconfirmedBytesWaitForTheirAcknowledgement) {
  Direct d({.unconfirmed_limit = 4096});
  d.segment(0, "abc");
  d.segment(3, "defg", true);
  d.segment(7, "hij", true);
  EXPECT_EQ(d.stream, "abc");
  EXPECT_EQ(d.counter(StreamCounter::kUnconfirmedSegments), 2u);
  EXPECT_GT(d.counter(StreamCounter::kMemoryBytes), 0u);
  d.ack(5);  // into the first: it is the receiver's now
  EXPECT_EQ(d.stream, "abcdefg");
  d.ack(10);
  EXPECT_EQ(d.stream, "abcdefghij");
  EXPECT_EQ(d.counter(StreamCounter::kUnconfirmedForced), 0u);
  EXPECT_EQ(d.counter(StreamCounter::kUnconfirmedReplaced), 0u);
  EXPECT_TRUE(d.events.empty());
}

// Insertion through the hold: a copy the receiver dropped (beyond its window) is held, the real
// bytes arrive in the window and are inspected; when the acknowledgement comes the held copy
// loses to them and is reported, never inspected.
TEST(Reassembler, AnAcknowledgedCopyOutranksAnUnconfirmedOne) {
  Direct d({.unconfirmed_limit = 4096});
  d.segment(0, "abc");
  d.segment(3, "JUNK", true);
  d.segment(3, "REAL");
  EXPECT_EQ(d.stream, "abcREAL");
  d.ack(7);
  EXPECT_EQ(d.stream, "abcREAL");
  EXPECT_EQ(d.counter(StreamCounter::kUnconfirmedReplaced), 1u);
  EXPECT_EQ(d.counter(StreamCounter::kOverlapMismatch), 1u);
  // Queued (out of order) real bytes win the same way.
  d.segment(20, "junk!", true);
  d.segment(20, "real!");
  d.segment(7, "0123456789abc");
  d.ack(25);
  EXPECT_EQ(d.stream, "abcREAL0123456789abcreal!");
  EXPECT_EQ(d.counter(StreamCounter::kUnconfirmedReplaced), 2u);
}

// When the ACKs stay lost, more than stream.unconfirmed_limit held bytes are inspected without
// them, oldest first, so the sensor does not go blind; the flow's end inspects the rest.
TEST(Reassembler, UnconfirmedBytesBeyondTheLimitAreInspectedWithoutAcknowledgement) {
  Direct d({.unconfirmed_limit = 1024});
  const std::string text = letters(3000);
  d.segment(0, std::string_view(text).substr(0, 100));
  for (size_t at = 100; at < text.size(); at += 100) {
    d.segment(at, std::string_view(text).substr(at, 100), true);
    ASSERT_EQ(d.stream, text.substr(0, d.stream.size()));
  }
  // Of the 2,900 held bytes, everything but the last 1,024 (rounded to whole segments).
  EXPECT_EQ(d.stream.size(), 2000u);
  EXPECT_EQ(d.counter(StreamCounter::kUnconfirmedForced), 1900u);
  d.reassembler.on_flow_end(d.flow);
  EXPECT_EQ(d.stream, text);
  EXPECT_TRUE(d.events.empty() || d.events.back() == StreamEvent::kEnd);
}

TEST(Reassembler, GapsAreCountedPerFlowAndDirection) {
  Harness h;
  TcpConversation c = conv();
  h.feed(c.handshake());
  h.feed(data_at(c, 0, "abc"));
  h.feed(data_at(c, 10, "xyz"));
  h.feed(c.segment(false, tf::kAck, 5001, 1014, ""));  // bytes 3-9 lost by the capture
  ASSERT_EQ(h.stream[0], "abc|xyz");
  ASSERT_NE(h.last_flow, nullptr);
  EXPECT_EQ(h.last_flow->gaps[flow::index(Direction::kToServer)], 1);
  EXPECT_EQ(h.last_flow->gaps[flow::index(Direction::kToClient)], 0);
}

// A short flow holds little: its ring starts at 32 bytes and grows by doubling to what is
// unacknowledged, and nothing is set aside for queues it never needs (a million flows with a
// request each: flow_bench).
TEST(Reassembler, AShortFlowHoldsARingOfItsOwnSizeOnly) {
  Direct d({});
  d.segment(0, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(d.counter(StreamCounter::kMemoryBytes), 32u);
  d.segment(18, std::string(100, 'x'));
  EXPECT_EQ(d.counter(StreamCounter::kMemoryBytes), 128u);
}

}  // namespace
}  // namespace spanguard::stream
