// The per-worker responder: turns a reject/drop verdict into spoofed RSTs (or FINs) toward the
// chosen ends of a TCP session, or an ICMP unreachable for other protocols, then keeps a short kill
// watch on the flow and reports whether the session really died.
//
// The order is the race's (see the testbed measurements in the project notes): the trigger's
// receiver is reset at once, on the worker that saw the trigger, before the alert is even built;
// the trigger's sender is reset once the worker has read what was already queued behind the
// trigger (flush()), so that its numbers come from the newest mirrored state. During the kill watch
// every later packet from a reset endpoint (above all its RFC 5961 challenge ACK, whose ack is the
// exact RCV.NXT) is answered with a RST at seq = that ack. No allocation, lock or log on the send
// path; suppressions are counted.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "spanguard/core/config.h"
#include "spanguard/core/counters.h"
#include "spanguard/detect/detector.h"
#include "spanguard/flow/flow.h"
#include "spanguard/respond/frame_builder.h"
#include "spanguard/respond/injector.h"
#include "spanguard/respond/reset_plan.h"

namespace spanguard::respond {

struct RespondOptions {
  bool enabled = true;
  int layer = 2;
  Mode mode = Mode::kRst;
  bool spoof_src_mac = false;
  bool reproduce_vlan = true;
  bool drop_resets = true;  // rule action `drop`: alert + reset both ends (false: alert only)
  uint32_t max_per_flow = 8;
  uint32_t max_per_second = 10000;
  core::Duration kill_watch = std::chrono::milliseconds(500);
  bool follow_ups = true;
  bool icmp = false;
  bool follow_ftp_data = true;  // a reset FTP control session takes its data sessions along
  core::Duration keep_warm = std::chrono::milliseconds(1);
  std::string interface;
};

const core::ParamSection& respond_params();
RespondOptions respond_options(const core::Config& config);

// Whether an action asks for a response under these options.
bool responds_to(rules::Action action, const RespondOptions& options);
// Whether a rule of `engine` (null: none) may ask for one: by its action, or by the action a
// rate_filter turns its alerts into.
bool any_rule_responds(const detect::DetectionEngine* engine, const RespondOptions& options);

// What a side of a reset came to. Reported per endpoint.
enum class Outcome : uint8_t {
  kNotAttempted,  // the action spared this end, or nothing could be sent toward it
  kPending,       // the kill watch is still running
  kReset,         // it sent an RST, or fell silent after an exact RST with nothing left unanswered
  kSilent,        // traffic toward it went unanswered after our last RST: cannot tell
  kStillFlowing,  // it kept sending after our last RST (limits reached or watch over)
};
const char* to_string(Outcome o);

struct SideReport {
  uint32_t packets = 0;     // segments sent toward this end
  uint32_t follow_ups = 0;  // of which answered later packets during the kill watch
  Outcome outcome = Outcome::kNotAttempted;
};

// A reset as it stands: right after the first segments (for the alert) or at the end of the kill
// watch (for the follow-up report). side[] is indexed by the direction of travel toward that end:
// side[kToServer] is the server.
struct ResetSummary {
  ResetCause cause = ResetCause::kRule;
  bool attempted = false;  // at least one segment or ICMP message sent
  bool tcp = true;         // false: ICMP unreachable
  Mode mode = Mode::kRst;
  SideReport side[2];
  const SideReport& server() const { return side[0]; }
  const SideReport& client() const { return side[1]; }
};

struct ResetOutcomeEvent {
  const flow::Flow* flow = nullptr;
  const detect::CompiledRule* rule = nullptr;
  flow::Direction trigger_dir = flow::Direction::kToServer;
  uint64_t alert_seq = 0;
  core::Timestamp ts{};  // when the watch ended
  ResetSummary summary;
};

class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual void on_reset_outcome(const ResetOutcomeEvent& event) = 0;
};

// Trigger-to-send latency of every worker: packet capture time to the return of the send call.
class LatencyHistogram {
 public:
  void record(int64_t ns);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  int64_t percentile(double p) const;  // upper edge of the bucket holding the p-quantile
  int64_t max() const { return max_.load(std::memory_order_relaxed); }
  uint64_t sum_ns() const { return sum_ns_.load(std::memory_order_relaxed); }
  // Samples of at most `ns` (exact at bucket edges: multiples of 100 ns to 100 µs, of 10 µs to
  // 10 ms), for a cumulative histogram such as Prometheus's.
  uint64_t count_at_most(int64_t ns) const;

 private:
  // 100 ns buckets to 100 µs, 10 µs buckets to 10 ms, one overflow bucket.
  static constexpr int kFine = 1000, kCoarse = 990;
  static int bucket(int64_t ns);
  static int64_t upper_edge(int b);
  std::array<std::atomic<uint64_t>, kFine + kCoarse + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> max_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

// respond.max_per_second across all workers: a generic cell rate algorithm on one atomic.
class RateLimiter {
 public:
  explicit RateLimiter(uint32_t per_second, uint32_t burst = 64);
  bool allow(int64_t now_ns);

 private:
  int64_t interval_ns_;
  int64_t tolerance_ns_;
  std::atomic<int64_t> theoretical_arrival_{0};
};

// What the workers of one run share: options, limits, latency, and how to make an injector.
class ResponseContext {
 public:
  using InjectorFactory = std::function<std::unique_ptr<Injector>()>;
  ResponseContext(RespondOptions options, InjectorFactory make_injector);

  const RespondOptions& options() const { return options_; }
  std::unique_ptr<Injector> make_injector() const { return make_injector_(); }
  RateLimiter& rate_limiter() { return limiter_; }
  LatencyHistogram& latency() { return latency_; }
  const LatencyHistogram& latency() const { return latency_; }
  // Latency figures as counters (respond.latency_*), for the summary and heartbeats.
  void collect(core::CounterSnapshot& out) const;

 private:
  RespondOptions options_;
  InjectorFactory make_injector_;
  RateLimiter limiter_;
  LatencyHistogram latency_;
};

enum class RespondCounter : uint16_t {
  kRstSent,
  kFinSent,
  kIcmpSent,
  kFollowUps,
  kSendErrors,
  kFlowLimit,
  kRateLimited,
  kUnplannable,
  kNoLinkAddress,
  kNotApplicable,
  kOwnPacketsSeen,
  kWatches,
  kOutcomeReset,
  kOutcomeSilent,
  kOutcomeStillFlowing,
  kWarmUps,
  kFtpDataFollowed,
  kIdleResets,
  kCount
};

class Responder {
 public:
  Responder(ResponseContext& context, ResponseSink& sink);
  ~Responder();
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  // A frame the responder itself sent, coming back on the mirror: skip it entirely (it must
  // neither alert nor move the flow's state). Cheap for everything else.
  bool is_own(const decode::PacketView& v);

  // A rule matched. When its action asks for a response (and the flow was not reset already),
  // sends what can be sent now, starts the kill watch and returns what was sent (for the alert
  // record); otherwise nullopt.
  std::optional<ResetSummary> respond(const detect::AlertEvent& alert);
  // An FTP data session whose control session `rule` reset (respond.ftp_data: follow): both ends
  // reset, reported like any reset; nullopt when following is off or the flow was reset already.
  std::optional<ResetSummary> follow(flow::Flow& data, const detect::CompiledRule* rule,
                                     core::Timestamp cause);
  // A TCP flow reached its idle timeout and its class says reset (flow.timeout_overrides[]
  // .idle_action): both ends reset from the last state seen, watched and reported like any reset
  // (no rule); nullopt when responses are off or it was reset already.
  std::optional<ResetSummary> reset_idle(flow::Flow& flow, core::Timestamp now);
  // The alert the reset belongs to has sequence number `seq` (its follow-up report refers to it).
  void set_alert_seq(const flow::Flow& flow, uint64_t seq);
  // What has been sent for the flow's reset so far (nullopt: the flow was not reset).
  std::optional<ResetSummary> summary(const flow::Flow& flow) const;

  // Every tracked packet, after flow tracking: kill-watch answers and evidence for the outcome,
  // and the end of watches whose time is up (packet time).
  void on_packet(const decode::PacketView& v, flow::Flow* flow, flow::Direction dir);
  // Sends the deferred second side of new resets, from the newest state: call once the worker has
  // processed what was queued (end of a capture batch; after every packet offline).
  void flush();
  // No packet for a while: end due watches on the wall clock, keep the send path warm (when armed).
  void on_idle(core::Timestamp now);
  // Whether resets may be asked for (the rules in use or idle policies): only then is the send
  // path kept warm. Unarmed, a live run sends nothing unless asked.
  void set_armed(bool armed) { armed_ = armed; }
  // The flow leaves the table: its watch ends now.
  void on_flow_end(const flow::Flow& flow);
  // End of input: every watch ends.
  void finish(core::Timestamp now);

  const RespondOptions& options() const { return options_; }
  const core::Counters<RespondCounter>& counters() const { return counters_; }
  static const core::CounterGroup& counter_group();

 private:
  struct Watch;
  static const flow::SlotKey<Watch>& watch_slot();
  ResetSummary start_reset(flow::Flow& flow, const detect::CompiledRule* rule,
                           flow::Direction trigger_dir, const Targets& targets,
                           core::Timestamp cause, ResetCause why = ResetCause::kRule);
  bool send_segment(flow::Flow& flow, const PlannedSegment& seg, core::Timestamp cause,
                    Watch& watch, bool follow_up);
  bool send_icmp(const detect::AlertEvent& alert);
  bool build_link(const flow::Flow& flow, flow::Direction dir, LinkHeader& link) const;
  bool admit(Watch& watch, core::Timestamp now);
  void remember_own(const uint8_t* l3, size_t l3_len, core::Timestamp cause);
  void flush_one(Watch& watch);
  void end_watch(Watch& watch, core::Timestamp now);
  void expire(core::Timestamp now);
  void record_latency(core::Timestamp cause);
  uint16_t next_ip_id();

  ResponseContext& context_;
  const RespondOptions& options_;
  ResponseSink& sink_;
  std::unique_ptr<Injector> injector_;
  std::vector<Watch*> pending_;  // watches with a deferred side or kill-watch answers due
  Watch* watch_head_ = nullptr;  // running watches, oldest first (all last equally long)
  Watch* watch_tail_ = nullptr;
  // Signatures of recently sent frames (addresses + first 16 bytes of layer 4).
  struct OwnEntry {
    uint64_t signature = 0;
    int64_t expires_ns = 0;
  };
  std::array<OwnEntry, 256> own_{};
  size_t own_live_ = 0;
  int64_t last_send_ns_ = 0;  // wall clock, for keep_warm
  bool armed_ = true;
  uint64_t id_state_;
  std::array<uint8_t, kMaxFrame> frame_{};
  core::Counters<RespondCounter> counters_;
};

}  // namespace spanguard::respond
