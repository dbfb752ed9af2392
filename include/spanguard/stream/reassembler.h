// TCP stream reassembly, per flow and direction: hands each byte of a direction's stream to the
// consumer exactly once and in order, the way the receiving host will have seen it. Out-of-order
// segments wait in a bounded queue; overlaps are resolved by a target-based policy; retransmissions
// that change already-delivered bytes, capture gaps and the inspection depth are reported as
// events.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "spanguard/core/config.h"
#include "spanguard/core/counters.h"
#include "spanguard/core/segment_list.h"
#include "spanguard/flow/flow.h"
#include "spanguard/stream/retained_ring.h"

namespace spanguard::stream {

// Overlaps of queued (not yet delivered) data are decided by a target-based policy, defined in
// spanguard/core/segment_list.h. Data already delivered is final: a change to it is an
// overlap-mismatch event.
using core::OverlapPolicy;

struct StreamOptions {
  OverlapPolicy policy = OverlapPolicy::kBsd;
  uint64_t depth = 1 << 20;        // bytes inspected per direction; 0 = unlimited
  uint64_t memcap = 512ull << 20;  // queue and retained memory of all flows of a worker
  uint32_t max_queued = 1 << 20;   // out-of-order bytes per direction before the hole is skipped
  uint32_t retain = 64 << 10;      // delivered bytes kept per direction to spot changed resends
  // Unconfirmed bytes (beyond the receiver's last seen window) held per direction before the
  // oldest are inspected without an acknowledgement.
  uint32_t unconfirmed_limit = 32 << 10;
  // Delivered bytes kept per direction, acknowledged or not, for consumers to read behind each
  // chunk (history()): the detector's stream window. The same ring holds them, one copy.
  uint32_t history = 0;
};

const core::ParamSection& stream_params();
StreamOptions stream_options(const core::Config& config);

enum class StreamEvent : uint8_t {
  kOverlapMismatch,  // a segment carried different bytes for sequence space already seen
  kGap,              // bytes were lost to the capture; the stream resumes after the hole
  kDepthReached,     // stream.depth bytes delivered; the rest of this direction is not inspected
  kEnd,              // the flow ends: everything of this direction has been delivered
};

class StreamConsumer {
 public:
  virtual ~StreamConsumer() = default;
  // In-order bytes of one direction; `offset` is their position in that direction's stream.
  // `after_gap` is set on the first bytes after a hole: a match must not span it.
  virtual void on_stream_data(flow::Flow& flow, flow::Direction dir, std::span<const uint8_t> data,
                              uint64_t offset, bool after_gap) = 0;
  virtual void on_stream_event(flow::Flow& flow, flow::Direction dir, StreamEvent event) = 0;
};

enum class StreamCounter : uint16_t {
  kSegments,
  kInOrder,
  kQueued,
  kBytesDelivered,
  kOverlaps,
  kOverlapMismatch,
  kRetransmissions,
  kGaps,
  kDepthReached,
  kMemcapDrops,
  kMemoryBytes,
  kBypassedBytes,
  kUnconfirmedSegments,
  kUnconfirmedForced,
  kUnconfirmedReplaced,
  kCount
};

class Reassembler {
 public:
  // Every consumer receives every byte and event, in the order given (the application layer
  // before detection, so that a transaction is parsed when the stream rules see its bytes).
  Reassembler(const StreamOptions& options, std::vector<StreamConsumer*> consumers);
  Reassembler(const StreamOptions& options, StreamConsumer& consumer);

  // A segment the TCP tracker accepted; `seq` is the sequence number of its first payload byte.
  // `unconfirmed`: it lies beyond the receiver's last window the mirror showed, in sequence with
  // its sender (flow::TcpTrackResult::unconfirmed): held until the receiver acknowledges it, or
  // until more than StreamOptions::unconfirmed_limit bytes wait, and never preferred to an
  // acknowledged copy of the same bytes.
  void on_segment(flow::Flow& flow, flow::Direction dir, uint32_t seq,
                  std::span<const uint8_t> payload, bool unconfirmed = false);
  // `ack` acknowledges bytes of the opposite direction: anything below it that was never seen was
  // lost to the capture (the receiver has it), so the hole is skipped.
  void on_ack(flow::Flow& flow, flow::Direction acker, uint32_t ack);
  // The flow ends: queued data is delivered across any holes.
  void on_flow_end(flow::Flow& flow);

  // While a consumer is handed a chunk of `dir`: the newest delivered bytes before it, up to
  // StreamOptions::history of them (fewer at the start, after a gap or when the memcap refused
  // the ring's growth), oldest first, in at most two spans. Valid until the call returns.
  std::array<std::span<const uint8_t>, 2> history(const flow::Flow& flow,
                                                  flow::Direction dir) const;

  const core::Counters<StreamCounter>& counters() const { return counters_; }
  static const core::CounterGroup& counter_group();
  // Where queued segments take their memory from (its figures show the work done per segment).
  const core::SegmentStore& segment_store() const { return store_; }

 private:
  friend class StreamState;
  class DirectionState;
  void deliver(flow::Flow& f, flow::Direction d, DirectionState& s, std::span<const uint8_t> bytes,
               bool after_gap);
  void drain(flow::Flow& f, flow::Direction d, DirectionState& s);
  // Places bytes at stream offset `at`: compared with what was delivered, delivered in order or
  // queued under `policy`. True when they differed from bytes already there.
  bool accept(flow::Flow& f, flow::Direction d, DirectionState& s, uint64_t at,
              std::span<const uint8_t> payload, OverlapPolicy policy);
  // Moves unconfirmed bytes into the stream: those acknowledged, the oldest beyond the limit, or
  // (`all`) every one.
  void promote(flow::Flow& f, flow::Direction d, DirectionState& s, bool all);
  void release_bypassed(flow::Flow& f);
  void skip_to(flow::Flow& f, flow::Direction d, DirectionState& s, uint64_t offset);
  DirectionState& state_of(flow::Flow& f, flow::Direction d, uint32_t first_seq);
  void event(flow::Flow& f, flow::Direction d, StreamEvent e);
  bool charge(uint64_t bytes);
  void refund(uint64_t bytes);

  StreamOptions options_;
  std::vector<StreamConsumer*> consumers_;
  core::SegmentStore store_;
  std::vector<uint8_t> scratch_;          // a queued segment straddling two chunks, being delivered
  std::vector<uint8_t> pending_scratch_;  // the same for an unconfirmed one being promoted
  uint64_t memory_ = 0;
  core::Counters<StreamCounter> counters_;
};

}  // namespace spanguard::stream
