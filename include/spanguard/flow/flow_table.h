// The session table of one worker: finds or creates the flow of every packet, tracks TCP, expires
// idle flows on packet time through a timer wheel, and stays inside its memory and flow caps — in
// emergency mode (a SYN flood, say) it sheds half-open flows first and keeps established ones.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "spanguard/core/config.h"
#include "spanguard/core/counters.h"
#include "spanguard/core/ip_address.h"
#include "spanguard/decode/packet_view.h"
#include "spanguard/flow/flow.h"

namespace spanguard::flow {

// Idle timeouts of one class of flows, by state/protocol.
struct Timeouts {
  core::Duration new_ = std::chrono::seconds(30);  // TCP before the handshake completes
  core::Duration established = std::chrono::hours(1);
  core::Duration closing = std::chrono::minutes(2);
  core::Duration closed = std::chrono::seconds(10);
  core::Duration udp = std::chrono::minutes(1);
  core::Duration icmp = std::chrono::seconds(30);
  core::Duration other = std::chrono::minutes(1);
};

// Longer or shorter timeouts for flows to some ports and/or networks (either endpoint).
// What happens when a flow of an override's class reaches its idle timeout (the session policies of
// L4 devices): nothing more than ending it, an event naming it (for owners of applications whose
// keepalives are too slow), or — TCP — a reset of both ends, as a firewall dropping an idle
// session would (PCI-style "terminate interactive sessions idle for 15 minutes").
enum class IdleAction : uint8_t { kNone, kReport, kReset };

struct TimeoutOverride {
  std::vector<std::pair<uint16_t, uint16_t>> ports;  // inclusive ranges; empty: any port
  std::vector<core::IpNetwork> networks;             // empty: any address
  Timeouts timeouts;
  IdleAction idle_action = IdleAction::kNone;
};

struct FlowOptions {
  uint64_t memcap = 1ull << 30;
  uint32_t max_flows = 1'000'000;
  bool vlan_aware = true;
  bool midstream = true;
  // stream.ttl_limit: a TCP segment whose TTL is this much or more below its sender's learned
  // one plus one is not tracked (see TcpTracker::track); 0: no check.
  uint8_t ttl_limit = 5;
  Timeouts timeouts;
  std::vector<TimeoutOverride> overrides;
  uint32_t emergency_high_percent = 90;
  uint32_t emergency_low_percent = 70;
  Timeouts emergency_timeouts{std::chrono::seconds(5),  std::chrono::minutes(5),
                              std::chrono::seconds(10), std::chrono::seconds(1),
                              std::chrono::seconds(10), std::chrono::seconds(5),
                              std::chrono::seconds(10)};

  // Whether an idle policy resets sessions (a timeout override with idle_action reset).
  bool resets_idle() const {
    for (const TimeoutOverride& o : overrides) {
      if (o.idle_action == IdleAction::kReset) return true;
    }
    return false;
  }
};

// The "flow" configuration section, and the options it yields.
const core::ParamSection& flow_params();
FlowOptions flow_options(const core::Config& config);
// flow.records: whether flow records are wanted for this kind of run ("auto": replay yes, live no).
bool flow_records_enabled(const core::Config& config, bool live_capture);

enum class FlowCounter : uint16_t {
  kCreated,
  kActive,
  kEndedClosed,
  kEndedTimeout,
  kEndedReused,
  kEndedEvicted,
  kEndedShutdown,
  kNoRoom,
  kEmergencyEntered,
  kEmergencyLeft,
  kMemoryBytes,
  kTcpMidstream,
  kTcpMidstreamIgnored,
  kTcpInvalid,
  kTcpRstIgnored,
  kTcpTtlEvasion,
  kTcpPawsStale,
  kTcpUnconfirmed,
  kNotTracked,
  kCount
};

class FlowEndHandler {
 public:
  virtual ~FlowEndHandler() = default;
  // Called once per flow, just before it is freed.
  virtual void on_flow_end(const Flow& flow, EndReason reason) = 0;
  // A TCP flow whose class says IdleAction::kReset reached its idle timeout (outside emergency
  // mode). Returning true keeps it: it was reset (flow.reset, flow.closed set) and now ends after
  // the closed-state timeout, so that the reset's outcome is still observed; false ends it now.
  virtual bool on_flow_idle_reset(Flow& flow) {
    (void)flow;
    return false;
  }
};

struct PacketFlow {
  Flow* flow = nullptr;  // null: not tracked (no room, mid-stream pickup off, no layer 4)
  Direction dir = Direction::kToServer;
  bool created = false;
  TcpTrackResult tcp;  // TCP flows: what the tracker made of the segment
};

class FlowTable {
 public:
  FlowTable(const FlowOptions& options, FlowEndHandler* on_end);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // The flow of a decoded, unfragmented IP packet; expires flows idle as of the packet's time.
  PacketFlow process(const decode::PacketView& v);
  // Expires flows idle as of `now` (for a quiet link, driven by the wall clock).
  void advance_time(core::Timestamp now);
  // Ends every flow (end of capture, shutdown).
  void flush_all();

  // Calls `fn` for every flow in the table (in no particular order) until it returns false.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (Flow* head : buckets_) {
      for (const Flow* f = head; f != nullptr; f = f->hash_next) {
        if (!fn(*f)) return;
      }
    }
  }

  size_t active() const { return active_; }
  bool emergency() const { return emergency_; }
  const core::Counters<FlowCounter>& counters() const { return counters_; }
  static const core::CounterGroup& counter_group();
  // Timeout in force for `f` in its current state.
  core::Duration timeout_of(const Flow& f) const;
  // The idle action of `f`'s class (flow.timeout_overrides[].idle_action).
  IdleAction idle_action_of(const Flow& f) const {
    return f.timeout_class == 0 ? IdleAction::kNone
                                : options_.overrides[f.timeout_class - 1].idle_action;
  }

 private:
  Flow* allocate();
  void release(Flow* f, EndReason reason);
  // `f` idled out: ends it, unless its idle action resets it (then it is kept and refiled).
  bool expire_idle(Flow* f);
  Flow* lookup(const FlowKey& key, uint64_t hash) const;
  void unlink_hash(Flow* f);
  void wheel_insert(Flow* f, core::Timestamp expiry);
  void wheel_remove(Flow* f);
  void refile_if_due_earlier(Flow* f);
  void refile_all();
  void young_remove(Flow* f);
  bool make_room();
  void update_emergency();
  uint8_t timeout_class_of(const FlowKey& key) const;
  Flow* create(const FlowKey& key, uint64_t hash, const decode::PacketView& v, bool source_is_first,
               Direction& dir);

  FlowOptions options_;
  FlowEndHandler* on_end_;
  uint64_t seed_;
  std::vector<Flow*> buckets_;
  uint64_t bucket_mask_;
  // Expiry wheel: 100 ms ticks; a flow sits in the slot of an expiry it may since have postponed
  // and is re-filed when the wheel reaches it, so a packet never has to move its flow.
  std::vector<Flow*> wheel_;
  int64_t wheel_tick_ = -1;
  // Half-open flows (TCP before establishment, one-packet UDP) in creation order: evicted first.
  Flow* young_head_ = nullptr;
  Flow* young_tail_ = nullptr;
  std::vector<std::unique_ptr<Flow[]>> pool_;
  Flow* free_ = nullptr;
  size_t active_ = 0;
  uint64_t flows_created_ = 0;
  bool emergency_ = false;
  bool refile_pending_ = false;  // timeouts shrank (emergency): re-file every flow
  core::Timestamp now_{};
  core::Counters<FlowCounter> counters_;
};

}  // namespace spanguard::flow
