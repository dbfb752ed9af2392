// Per-direction reassembly: an in-order fast path that hands the packet's own bytes straight to the
// consumer, a sorted queue of non-overlapping segments for the rest (a tree of boundaries over
// chunks from a per-worker store: O(log n) per segment, no allocation per segment), and a ring of
// delivered bytes to recognise retransmissions that change what was already inspected.
#include "spanguard/stream/reassembler.h"

#include <algorithm>
#include <vector>

#include "spanguard/core/error.h"

namespace spanguard::stream {

namespace {

constexpr core::Param kParams[] = {
    {.name = "midstream",
     .type = core::ParamType::kBool,
     .default_value = "true",
     .help = "Track TCP sessions first seen after their handshake (normal on a mirror port: the "
             "sensor starts while sessions are open)"},
    {.name = "overlap_policy",
     .type = core::ParamType::kEnum,
     .default_value = "bsd",
     .help = "Which bytes win when queued segments overlap: first, last, or as the target OS does "
             "(bsd, linux, windows); see include/spanguard/core/segment_list.h",
     .choices = core::kOverlapPolicyChoices},
    // Applied by the flow layer's TCP tracker, which owns the decision (flow.tcp.ttl_evasion):
    // a segment it refuses never reaches reassembly.
    {.name = "ttl_limit",
     .type = core::ParamType::kInt,
     .default_value = "5",
     .help = "TTL/hop-limit insertion defence: a TCP segment whose TTL is more than this below "
             "the one its sender's handshake (or, mid-stream, first packet) had may expire before "
             "the receiver, so it is neither reassembled nor allowed to change the session's "
             "state (an RST does not end it); 0: off",
     .min = 0,
     .max = 255},
    {.name = "depth",
     .type = core::ParamType::kBytes,
     .default_value = "1MiB",
     .help = "Bytes inspected per direction of a session (0: all)"},
    {.name = "memcap",
     .type = core::ParamType::kBytes,
     .default_value = "512MiB",
     .help = "Out-of-order and retained bytes of all sessions of a worker",
     .min = 1 << 20},
    {.name = "max_queued",
     .type = core::ParamType::kBytes,
     .default_value = "1MiB",
     .help = "Out-of-order bytes queued per direction before the hole in front of them is given up "
             "as lost",
     .min = 1024,
     .max = 1 << 30},
    {.name = "unconfirmed_limit",
     .type = core::ParamType::kBytes,
     .default_value = "32KiB",
     .help = "Bytes per direction beyond the receiver's last window the mirror showed (its ACKs "
             "lost by the mirror) held until the receiver acknowledges them; beyond this the "
             "oldest are inspected unacknowledged. Held bytes lose to an acknowledged copy of the "
             "same sequence space, so a segment the receiver dropped cannot hide the real one",
     .min = 1024,
     .max = 1 << 30},
    {.name = "retain",
     .type = core::ParamType::kBytes,
     .default_value = "64KiB",
     .help =
         "Delivered, not yet acknowledged bytes kept per direction to spot retransmissions that "
         "change them",
     .max = 1 << 30},
};
constexpr core::ParamSection kSection{"stream", "TCP stream reassembly", kParams};

constexpr core::CounterDef kCounterDefs[] = {
    {"segments", "TCP segments with payload reassembled"},
    {"in_order", "segments delivered straight from the packet"},
    {"queued", "segments queued out of order"},
    {"bytes", "stream bytes delivered for inspection"},
    {"overlaps", "segments overlapping queued or delivered data"},
    {"overlap_mismatch", "overlaps whose bytes differ from what was seen before"},
    {"retransmissions", "segments carrying only already-delivered bytes"},
    {"gaps", "holes skipped because the capture lost the bytes"},
    {"depth_reached", "directions that reached stream.depth"},
    {"memcap_drops", "segments not queued because stream.memcap was reached"},
    {"memory_bytes",
     "memory held for queued and retained bytes, per-segment nodes and unused chunk space "
     "included"},
    {"bypassed_bytes",
     "payload bytes of bypassed (encrypted) flows, neither reassembled nor "
     "inspected"},
    {"unconfirmed_segments",
     "segments beyond the receiver's last window the mirror showed (its ACKs were lost), held "
     "until acknowledged"},
    {"unconfirmed_forced",
     "unconfirmed bytes inspected without an acknowledgement, more than "
     "stream.unconfirmed_limit waiting"},
    {"unconfirmed_replaced",
     "unconfirmed segments that differed from the acknowledged copy inspected instead"},
};
static_assert(std::size(kCounterDefs) == static_cast<size_t>(StreamCounter::kCount));
constexpr core::CounterGroup kCounterGroup{"stream", kCounterDefs};

}  // namespace

// A segment list made on its first insert: most directions are delivered in order and never
// queue a byte, and a list costs 128 bytes (a million flows, two directions, two lists each).
class LazySegmentList {
 public:
  bool empty() const { return list_ == nullptr || list_->empty(); }
  uint64_t memory() const { return list_ != nullptr ? list_->memory() : 0; }
  uint64_t bytes() const { return list_ != nullptr ? list_->bytes() : 0; }
  // These need a non-empty list.
  core::SegmentList::Range front() const { return list_->front(); }
  void pop_front() { list_->pop_front(); }
  std::span<const uint8_t> view(core::SegmentList::Range r, std::vector<uint8_t>& scratch) const {
    return list_->view(r, scratch);
  }
  void clear() {
    if (list_ != nullptr) list_->clear();
  }
  // `store`: where the list takes its memory from (the reassembler's, the same every time).
  core::SegmentList::InsertResult insert(core::SegmentStore& store, uint64_t start,
                                         std::span<const uint8_t> bytes, OverlapPolicy policy,
                                         uint64_t budget) {
    if (list_ == nullptr) list_ = std::make_unique<core::SegmentList>(store);
    return list_->insert(start, bytes, policy, budget);
  }

 private:
  std::unique_ptr<core::SegmentList> list_;
};

class Reassembler::DirectionState {
 public:
  bool initialized = false;
  bool after_gap = false;
  bool depth_reached = false;
  uint32_t base_seq = 0;    // sequence number of stream offset 0
  uint64_t next = 0;        // next stream offset to deliver
  uint64_t acked = 0;       // the receiver acknowledged everything before this offset
  LazySegmentList queue;    // sorted, non-overlapping, all at or after `next`
  LazySegmentList pending;  // unconfirmed: beyond the receiver's last seen window
  RetainedRing retained;    // delivered bytes [next - retained.size(), next)

  // The 64-bit stream offset of `seq`, taking the sequence space wrap nearest to `next`.
  int64_t offset_of(uint32_t seq) const {
    const auto rel = static_cast<int32_t>(seq - static_cast<uint32_t>(base_seq + next));
    return static_cast<int64_t>(next) + rel;
  }
  // Memory charged to the memcap: the lists' nodes and chunks, the ring's buffer.
  uint64_t held() const { return queue.memory() + pending.memory() + retained.capacity(); }
};

// The reassembly state of one flow (both directions), owned by the flow.
class StreamState final : public flow::FlowData {
 public:
  explicit StreamState(Reassembler& owner) : owner_(owner) {}
  ~StreamState() override { owner_.refund(dir[0].held() + dir[1].held()); }
  Reassembler::DirectionState dir[2];

 private:
  Reassembler& owner_;
};

const core::ParamSection& stream_params() { return kSection; }
const core::CounterGroup& Reassembler::counter_group() { return kCounterGroup; }

StreamOptions stream_options(const core::Config& c) {
  StreamOptions o;
  const std::string& p = c.get("stream.overlap_policy").as_string();
  o.policy = p == "first"     ? OverlapPolicy::kFirst
             : p == "last"    ? OverlapPolicy::kLast
             : p == "linux"   ? OverlapPolicy::kLinux
             : p == "windows" ? OverlapPolicy::kWindows
                              : OverlapPolicy::kBsd;
  o.depth = c.get("stream.depth").as_bytes();
  o.memcap = c.get("stream.memcap").as_bytes();
  o.max_queued = static_cast<uint32_t>(c.get("stream.max_queued").as_bytes());
  o.retain = static_cast<uint32_t>(c.get("stream.retain").as_bytes());
  o.unconfirmed_limit = static_cast<uint32_t>(c.get("stream.unconfirmed_limit").as_bytes());
  o.history = 0;  // set by whoever reads it (the worker, from detect.stream_window)
  return o;
}

namespace {
const flow::SlotKey<StreamState>& stream_slot() {
  static const flow::SlotKey<StreamState> key("stream");
  return key;
}
}  // namespace

Reassembler::Reassembler(const StreamOptions& options, std::vector<StreamConsumer*> consumers)
    : options_(options), consumers_(std::move(consumers)), counters_(kCounterGroup) {
  stream_slot();  // registered while stages are built, not on the first packet
}

Reassembler::Reassembler(const StreamOptions& options, StreamConsumer& consumer)
    : Reassembler(options, std::vector<StreamConsumer*>{&consumer}) {}

void Reassembler::event(flow::Flow& f, flow::Direction d, StreamEvent e) {
  for (StreamConsumer* c : consumers_) c->on_stream_event(f, d, e);
}

bool Reassembler::charge(uint64_t bytes) {
  if (memory_ + bytes > options_.memcap) return false;
  memory_ += bytes;
  counters_.set(StreamCounter::kMemoryBytes, memory_);
  return true;
}

void Reassembler::refund(uint64_t bytes) {
  memory_ -= std::min(bytes, memory_);
  counters_.set(StreamCounter::kMemoryBytes, memory_);
}

Reassembler::DirectionState& Reassembler::state_of(flow::Flow& f, flow::Direction d,
                                                   uint32_t first_seq) {
  StreamState* state = &stream_slot().get_or_create(f, *this);
  DirectionState& s = state->dir[flow::index(d)];
  if (!s.initialized) {
    s.initialized = true;
    // With the sender's SYN (or its first segment, mid-stream) seen, offsets count from there, so
    // an earlier segment arriving late still finds its place.
    s.base_seq = f.is_tcp() && f.tcp.peer(d).seen ? f.tcp.stream_base(d) : first_seq;
    if (static_cast<int32_t>(first_seq - s.base_seq) < 0) s.base_seq = first_seq;
  }
  return s;
}

void Reassembler::deliver(flow::Flow& f, flow::Direction d, DirectionState& s,
                          std::span<const uint8_t> bytes, bool after_gap) {
  if (s.depth_reached || bytes.empty()) return;
  if (options_.depth != 0 && s.next + bytes.size() >= options_.depth) {
    // A gap may have carried `next` past the depth already: then nothing more is delivered.
    bytes = bytes.first(s.next < options_.depth ? options_.depth - s.next : 0);
    s.depth_reached = true;
  }
  if (!bytes.empty()) {
    for (StreamConsumer* c : consumers_) {
      c->on_stream_data(f, d, bytes, s.next, after_gap || s.after_gap);
    }
    s.after_gap = false;
  }
  s.next += bytes.size();
  counters_.inc(StreamCounter::kBytesDelivered, bytes.size());
  // Keep the newest delivered bytes to compare retransmissions against and for consumers to read
  // behind the next chunk (the history). The ring grows, charged to the memcap, to hold the
  // unacknowledged bytes and the history, up to stream.retain (or the history, if larger);
  // appending overwrites the oldest acknowledged bytes beyond the history. Refused, it keeps the
  // size it has.
  const size_t limit = std::max(options_.retain, options_.history);
  if (limit > 0 && !bytes.empty()) {
    const size_t held = s.retained.size();
    const uint64_t held_from = s.next - bytes.size() - held;  // the ring's oldest byte
    const size_t acked_held =
        static_cast<size_t>(std::clamp(s.acked, held_from, held_from + held) - held_from);
    const size_t want = std::min<size_t>(
        limit, std::max<size_t>(std::min<size_t>(options_.history, held + bytes.size()),
                                held - acked_held + bytes.size()));
    if (want > s.retained.capacity()) {
      const size_t grown = RetainedRing::grown_capacity(s.retained.capacity(), want, limit);
      if (charge(grown - s.retained.capacity())) s.retained.reserve(grown);
    }
    s.retained.append(bytes);
  }
  if (s.depth_reached) {
    counters_.inc(StreamCounter::kDepthReached);
    event(f, d, StreamEvent::kDepthReached);
    refund(s.held());
    s.queue.clear();
    s.pending.clear();
    s.retained.reset();
  }
}

void Reassembler::drain(flow::Flow& f, flow::Direction d, DirectionState& s) {
  while (!s.queue.empty() && s.queue.front().start == s.next && !s.depth_reached) {
    // Delivered from where it is queued (or from scratch_ when it straddles two chunks), then
    // dropped; reaching the depth inside deliver() empties the queue itself.
    deliver(f, d, s, s.queue.view(s.queue.front(), scratch_), false);
    if (s.depth_reached) break;
    const uint64_t before = s.queue.memory();
    s.queue.pop_front();
    refund(before - s.queue.memory());
  }
}

void Reassembler::skip_to(flow::Flow& f, flow::Direction d, DirectionState& s, uint64_t offset) {
  if (offset <= s.next) return;
  counters_.inc(StreamCounter::kGaps);
  uint16_t& gaps = f.gaps[flow::index(d)];
  if (gaps < UINT16_MAX) ++gaps;
  event(f, d, StreamEvent::kGap);
  s.next = offset;
  s.after_gap = true;
  s.retained.clear();  // no longer contiguous with what comes next (its buffer stays charged)
  drain(f, d, s);
}

void Reassembler::on_segment(flow::Flow& f, flow::Direction d, uint32_t seq,
                             std::span<const uint8_t> payload, bool unconfirmed) {
  if (payload.empty()) return;
  if (f.bypassed) {
    counters_.inc(StreamCounter::kBypassedBytes, payload.size());
    release_bypassed(f);
    return;
  }
  counters_.inc(StreamCounter::kSegments);
  DirectionState& s = state_of(f, d, seq);
  if (s.depth_reached) return;
  int64_t start = s.offset_of(seq);
  const int64_t end = start + static_cast<int64_t>(payload.size());
  if (end <= 0) return;  // before the start of the stream
  if (start < 0) {
    payload = payload.subspan(static_cast<size_t>(-start));
    start = 0;
  }
  if (!unconfirmed) {
    accept(f, d, s, static_cast<uint64_t>(start), payload, options_.policy);
    return;
  }
  // Beyond the receiver's last window the mirror showed: held apart until the receiver
  // acknowledges it (or too much waits), so that an acknowledged copy of the same bytes, queued
  // or delivered meanwhile, is the one inspected. A second unconfirmed copy does not replace the
  // first.
  counters_.inc(StreamCounter::kUnconfirmedSegments);
  if (end <= static_cast<int64_t>(s.next)) {
    accept(f, d, s, static_cast<uint64_t>(start), payload, options_.policy);  // a resend
    return;
  }
  const uint64_t before = s.pending.memory();
  const core::SegmentList::InsertResult r =
      s.pending.insert(store_, static_cast<uint64_t>(start), payload, OverlapPolicy::kFirst,
                       options_.memcap - std::min(options_.memcap, memory_));
  memory_ = memory_ + s.pending.memory() - before;
  counters_.set(StreamCounter::kMemoryBytes, memory_);
  if (r.refused > 0) counters_.inc(StreamCounter::kMemcapDrops);
  if (r.mismatch) {
    counters_.inc(StreamCounter::kOverlapMismatch);
    event(f, d, StreamEvent::kOverlapMismatch);
  }
  promote(f, d, s, false);
}

bool Reassembler::accept(flow::Flow& f, flow::Direction d, DirectionState& s, uint64_t at,
                         std::span<const uint8_t> payload, OverlapPolicy policy) {
  auto start = static_cast<int64_t>(at);
  const int64_t end = start + static_cast<int64_t>(payload.size());
  const auto next = static_cast<int64_t>(s.next);
  bool mismatch = false;
  if (start < next) {
    // Sequence space already delivered: compare what is still retained, then keep the rest.
    counters_.inc(StreamCounter::kOverlaps);
    const int64_t retained_from = next - static_cast<int64_t>(s.retained.size());
    const int64_t lo = std::max(start, retained_from), hi = std::min(end, next);
    if (lo < hi && !s.retained.equal(static_cast<size_t>(lo - retained_from),
                                     payload.subspan(static_cast<size_t>(lo - start),
                                                     static_cast<size_t>(hi - lo)))) {
      mismatch = true;
      counters_.inc(StreamCounter::kOverlapMismatch);
      event(f, d, StreamEvent::kOverlapMismatch);
    }
    if (end <= next) {
      counters_.inc(StreamCounter::kRetransmissions);
      return mismatch;
    }
    payload = payload.subspan(static_cast<size_t>(next - start));
    start = next;
  }
  if (start == next && s.queue.empty()) {
    counters_.inc(StreamCounter::kInOrder);
    deliver(f, d, s, payload, false);
    return mismatch;
  }
  counters_.inc(StreamCounter::kQueued);
  const uint64_t before = s.queue.memory();
  const core::SegmentList::InsertResult r =
      s.queue.insert(store_, static_cast<uint64_t>(start), payload, policy,
                     options_.memcap - std::min(options_.memcap, memory_));
  memory_ = memory_ + s.queue.memory() - before;
  counters_.set(StreamCounter::kMemoryBytes, memory_);
  if (r.overlapped) counters_.inc(StreamCounter::kOverlaps);
  if (r.refused > 0) counters_.inc(StreamCounter::kMemcapDrops);
  if (r.mismatch) {
    mismatch = true;
    counters_.inc(StreamCounter::kOverlapMismatch);
    event(f, d, StreamEvent::kOverlapMismatch);
  }
  drain(f, d, s);
  // Too much waiting behind a hole: the capture lost it; resume at the first queued byte.
  while (s.queue.bytes() > options_.max_queued && !s.queue.empty()) {
    skip_to(f, d, s, s.queue.front().start);
  }
  return mismatch;
}

void Reassembler::promote(flow::Flow& f, flow::Direction d, DirectionState& s, bool all) {
  while (!s.pending.empty() && !s.depth_reached) {
    const core::SegmentList::Range front = s.pending.front();
    const bool confirmed = s.acked > front.start;
    if (!confirmed && !all && s.pending.bytes() <= options_.unconfirmed_limit) break;
    if (!confirmed) counters_.inc(StreamCounter::kUnconfirmedForced, front.end - front.start);
    // Merged under "first": whatever an acknowledged segment put there (queued or delivered)
    // stays, and a difference means the unconfirmed copy was not what the receiver took.
    const std::span<const uint8_t> bytes = s.pending.view(front, pending_scratch_);
    if (accept(f, d, s, front.start, bytes, OverlapPolicy::kFirst)) {
      counters_.inc(StreamCounter::kUnconfirmedReplaced);
    }
    if (s.depth_reached) break;  // deliver() emptied both lists
    const uint64_t before = s.pending.memory();
    s.pending.pop_front();
    refund(before - s.pending.memory());
  }
}

// A flow bypassed while its bytes were being delivered keeps its state until the next call: then
// what it held is freed (and refunded to the memcap).
void Reassembler::release_bypassed(flow::Flow& f) {
  if (stream_slot().get(f) != nullptr) f.data[stream_slot().id()].reset();
}

void Reassembler::on_ack(flow::Flow& f, flow::Direction acker, uint32_t ack) {
  if (f.bypassed) {
    release_bypassed(f);
    return;
  }
  StreamState* state = stream_slot().get(f);
  if (state == nullptr) return;
  const flow::Direction d = flow::opposite(acker);
  DirectionState& s = state->dir[flow::index(d)];
  if (!s.initialized || s.depth_reached) return;
  int64_t acked = s.offset_of(ack);
  // A FIN takes one sequence number but carries no byte: its acknowledgement is not a hole.
  const flow::TcpPeer& sender = f.tcp.peer(d);
  if (sender.fin) acked = std::min(acked, s.offset_of(sender.fin_seq));
  if (acked > 0) s.acked = std::max(s.acked, static_cast<uint64_t>(acked));
  // Unconfirmed bytes the receiver now acknowledges take their place in the stream (compared
  // with the delivered ones still retained, before acknowledged bytes leave the ring).
  if (!s.pending.empty()) promote(f, d, s, false);
  // Acknowledged bytes will not be resent: stop retaining them, but for the history consumers
  // read behind the next chunk.
  const int64_t retained_from =
      static_cast<int64_t>(s.next) - static_cast<int64_t>(s.retained.size());
  if (acked > retained_from && s.retained.size() > options_.history) {
    const auto droppable = static_cast<int64_t>(s.retained.size() - options_.history);
    s.retained.drop_front(static_cast<size_t>(std::min(
        std::min<int64_t>(acked, static_cast<int64_t>(s.next)) - retained_from, droppable)));
  }
  // The receiver holds bytes the mirror never showed us: skip each hole up to the acknowledgement.
  while (acked > static_cast<int64_t>(s.next) && !s.depth_reached) {
    if (!s.queue.empty() && static_cast<int64_t>(s.queue.front().start) < acked) {
      skip_to(f, d, s, s.queue.front().start);
    } else {
      skip_to(f, d, s, static_cast<uint64_t>(acked));
    }
  }
}

std::array<std::span<const uint8_t>, 2> Reassembler::history(const flow::Flow& f,
                                                             flow::Direction d) const {
  const StreamState* state = stream_slot().get(f);
  if (state == nullptr || options_.history == 0) return {};
  // Called from deliver() before the chunk joins the ring: its newest bytes precede the chunk.
  return state->dir[flow::index(d)].retained.newest(options_.history);
}

void Reassembler::on_flow_end(flow::Flow& f) {
  StreamState* state = stream_slot().get(f);
  if (state == nullptr) return;
  for (flow::Direction d : {flow::Direction::kToServer, flow::Direction::kToClient}) {
    DirectionState& s = state->dir[flow::index(d)];
    promote(f, d, s, true);  // unconfirmed bytes are all there is of them now
    while (!s.queue.empty() && !s.depth_reached) skip_to(f, d, s, s.queue.front().start);
    if (s.initialized) event(f, d, StreamEvent::kEnd);
  }
}

}  // namespace spanguard::stream
