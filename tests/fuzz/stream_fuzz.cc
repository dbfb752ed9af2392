// Fuzzes TCP reassembly on its own, through its public interface: two flows, each direction fed
// segments at fuzzer-chosen sequence numbers (around a fuzzer-chosen ISN, wrapping included) with
// acknowledgements in between, under every overlap policy and small limits. Each direction's bytes
// must come out contiguous and never twice (forward only across a reported gap), within the depth,
// nothing after the end; when every segment carries the bytes its sequence numbers stand for, what
// is delivered is exactly those bytes, no overlap is called a mismatch, and a direction without a
// gap or a memcap drop is delivered whole. Memory stays under the cap and is all returned.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "spanguard/flow/flow.h"
#include "spanguard/stream/reassembler.h"

namespace {

using namespace spanguard;
using flow::Direction;
using stream::StreamCounter;
using stream::StreamEvent;

// Names the failed invariant: a crash report alone would not say which one.
#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "stream_fuzz: %s failed at line %d\n", #cond, __LINE__); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

constexpr int kFlows = 2;

// The byte a well-behaved sender puts at sequence number `seq` of direction `dir`.
uint8_t byte_at(int dir, uint32_t seq) {
  uint32_t h = (seq + static_cast<uint32_t>(dir) * 0x9e3779b9u) * 0x85ebca6bu;
  h ^= h >> 13;
  return static_cast<uint8_t>(h * 0xc2b2ae35u >> 24);
}

// What one direction of one flow has seen go in and come out.
struct DirectionLog {
  std::vector<uint32_t> fed_seqs;                  // sequence numbers fed before the first delivery
  std::vector<std::pair<uint32_t, uint32_t>> fed;  // every segment: seq, length
  bool delivered_any = false;
  uint32_t base = 0;  // the sequence number of stream offset 0, once known
  uint64_t end = 0;   // where the delivered bytes end
  int gaps = 0;
  int depth_events = 0;
  int end_events = 0;
  int mismatches = 0;
};

class Recorder : public stream::StreamConsumer {
 public:
  Recorder(bool consistent, uint64_t depth) : consistent_(consistent), depth_(depth) {}

  void on_stream_data(flow::Flow& f, Direction d, std::span<const uint8_t> data, uint64_t offset,
                      bool after_gap) override {
    DirectionLog& s = state(f, d);
    CHECK(!data.empty());
    CHECK(s.end_events == 0);    // nothing after the end
    CHECK(s.depth_events == 0);  // nothing past the depth
    // Contiguous and never twice; across a hole only forward, and only once one was reported.
    if (after_gap) {
      CHECK(offset > s.end);
      CHECK(s.gaps > 0);
    } else {
      CHECK(offset == s.end);
    }
    if (depth_ != 0) CHECK(offset + data.size() <= depth_);
    if (consistent_) {
      if (!s.delivered_any) s.base = find_base(d, s, data, offset);
      for (size_t i = 0; i < data.size(); ++i) {
        CHECK(data[i] == byte_at(flow::index(d), s.base + static_cast<uint32_t>(offset + i)));
      }
    }
    s.delivered_any = true;
    s.end = offset + data.size();
  }

  void on_stream_event(flow::Flow& f, Direction d, StreamEvent e) override {
    DirectionLog& s = state(f, d);
    CHECK(s.end_events == 0);  // the end is the last event
    switch (e) {
      case StreamEvent::kGap:
        ++s.gaps;
        break;
      case StreamEvent::kDepthReached:
        CHECK(depth_ != 0);
        CHECK(++s.depth_events == 1);
        break;
      case StreamEvent::kEnd:
        CHECK(ended_[flow_index(f)]);
        ++s.end_events;
        break;
      case StreamEvent::kOverlapMismatch:
        ++s.mismatches;
        break;
    }
  }

  void track(flow::Flow& f, int i) { flows_[i] = &f; }
  void flow_ending(int i) { ended_[i] = true; }
  DirectionLog& at(int flow, Direction d) { return dirs_[flow][flow::index(d)]; }
  bool consistent() const { return consistent_; }

 private:
  int flow_index(const flow::Flow& f) const {
    for (int i = 0; i < kFlows; ++i) {
      if (flows_[i] == &f) return i;
    }
    CHECK(false);  // a flow the reassembler was never given
    return 0;
  }
  DirectionLog& state(const flow::Flow& f, Direction d) { return at(flow_index(f), d); }

  // Offset 0 is the first byte of a segment fed so far (the sender's first one here: there is no
  // handshake); the right one is the one whose bytes the first delivery carries. That delivery
  // may start inside a segment (after an acknowledged hole was skipped, the rest of a resent
  // segment), or at a segment's first byte.
  static uint32_t find_base(Direction d, const DirectionLog& s, std::span<const uint8_t> data,
                            uint64_t offset) {
    std::vector<uint32_t> candidates = s.fed_seqs;
    for (const uint32_t seq : s.fed_seqs) candidates.push_back(seq - static_cast<uint32_t>(offset));
    for (const uint32_t base : candidates) {
      bool match = true;
      for (size_t i = 0; i < data.size() && match; ++i) {
        match = data[i] == byte_at(flow::index(d), base + static_cast<uint32_t>(offset + i));
      }
      if (match) return base;
    }
    CHECK(false);  // delivered bytes that no segment carried at that place
    return 0;
  }

  bool consistent_;
  uint64_t depth_;
  std::array<flow::Flow*, kFlows> flows_{};
  std::array<bool, kFlows> ended_{};
  DirectionLog dirs_[kFlows][2];
};

}  // namespace

// Input: a 8-byte header — [mode/policy][depth][memcap][max_queued][ISN, 4 bytes] — then records
// of [op][seq delta, 2 bytes][length] followed, unless the segments are consistent, by `length`
// payload bytes. op bit 0 picks the flow, bit 1 the direction, bits 2..3 the kind (0: ack of the
// other direction, 3: an unconfirmed segment, else a segment), bit 4 ends the flow's input early;
// max_queued's low bit turns a 300-byte history on.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  const bool consistent = (data[0] & 0x80) != 0;
  stream::StreamOptions options;
  options.policy = static_cast<core::OverlapPolicy>(data[0] % 5);
  options.depth = data[1] < 64 ? 0 : uint64_t{data[1]} * 64;
  options.memcap = 256 + uint64_t{data[2]} * 256;
  options.max_queued = 16 + uint32_t{data[3]} * 64;
  options.retain = (data[0] & 0x40) ? 0 : 512;
  options.history = (data[3] & 1) ? 300 : 0;
  options.unconfirmed_limit = 1024;
  const uint32_t isn =
      uint32_t{data[4]} << 24 | uint32_t{data[5]} << 16 | uint32_t{data[6]} << 8 | data[7];

  Recorder recorder(consistent, options.depth);
  stream::Reassembler reassembler(options, recorder);
  std::array<std::unique_ptr<flow::Flow>, kFlows> flows;
  for (int i = 0; i < kFlows; ++i) {
    flows[i] = std::make_unique<flow::Flow>();
    flows[i]->flow_id = static_cast<uint64_t>(i) + 1;
    flows[i]->key.proto = 6;
    recorder.track(*flows[i], i);
  }
  std::array<bool, kFlows> ended{};
  std::vector<uint8_t> payload;

  size_t at = 8;
  while (at + 4 <= size) {
    const uint8_t op = data[at];
    const int which = op & 1;
    const Direction dir = (op & 2) ? Direction::kToClient : Direction::kToServer;
    const auto delta = static_cast<int16_t>(data[at + 1] << 8 | data[at + 2]);
    const size_t len = data[at + 3];
    at += 4;
    const bool is_ack = ((op >> 2) & 3) == 0;
    // Each direction counts from its own ISN (the other's is a fixed distance away); an ack is a
    // sequence number of the opposite direction.
    const Direction sender = is_ack ? flow::opposite(dir) : dir;
    const uint32_t sender_isn = isn + (sender == Direction::kToClient ? 0x40000000u : 0u);
    const uint32_t seq = sender_isn + static_cast<uint32_t>(static_cast<int32_t>(delta));
    flow::Flow& f = *flows[which];
    if (ended[which]) {
      if (!consistent) at += std::min(len, size - at);
      continue;
    }
    if (is_ack) {
      reassembler.on_ack(f, dir, seq);
    } else {
      payload.resize(consistent ? len : std::min(len, size - at));
      for (size_t i = 0; i < payload.size(); ++i) {
        payload[i] =
            consistent ? byte_at(flow::index(dir), seq + static_cast<uint32_t>(i)) : data[at + i];
      }
      if (!consistent) at += payload.size();
      DirectionLog& s = recorder.at(which, dir);
      if (!payload.empty()) {
        if (!s.delivered_any) s.fed_seqs.push_back(seq);
        s.fed.emplace_back(seq, static_cast<uint32_t>(payload.size()));
      }
      // Kind 3: beyond the receiver's last seen window (held until acknowledged).
      reassembler.on_segment(f, dir, seq, payload, ((op >> 2) & 3) == 3);
    }
    if (op & 0x10) {
      recorder.flow_ending(which);
      reassembler.on_flow_end(f);
      ended[which] = true;
    }
    CHECK(reassembler.counters().get(StreamCounter::kMemoryBytes) <= options.memcap);
  }
  for (int i = 0; i < kFlows; ++i) {
    if (ended[i]) continue;
    recorder.flow_ending(i);
    reassembler.on_flow_end(*flows[i]);
  }

  const bool memcap_dropped = reassembler.counters().get(StreamCounter::kMemcapDrops) != 0;
  for (int i = 0; i < kFlows; ++i) {
    for (const Direction d : {Direction::kToServer, Direction::kToClient}) {
      const DirectionLog& s = recorder.at(i, d);
      CHECK(s.end_events <= 1);
      if (!consistent) continue;
      CHECK(s.mismatches == 0);  // the same bytes at the same place are no evasion
      // Without a hole, a memcap drop or the depth, every byte from offset 0 on came out.
      if (!s.delivered_any || s.gaps != 0 || memcap_dropped || s.depth_events != 0) continue;
      uint64_t want = 0;
      for (const auto& [seq, len] : s.fed) {
        const auto start = static_cast<int32_t>(seq - s.base);
        const int64_t end = int64_t{start} + len;
        if (end > 0) want = std::max<uint64_t>(want, static_cast<uint64_t>(end));
      }
      CHECK(s.end == want);
    }
  }
  for (auto& f : flows) f.reset();
  // What the flows held is returned with them.
  CHECK(reassembler.counters().get(StreamCounter::kMemoryBytes) == 0);
  return 0;
}
