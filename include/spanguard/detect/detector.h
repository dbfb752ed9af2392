// A worker's matcher: runs a DetectionEngine over the packets, reassembled streams and
// application-layer transactions of the flows that worker owns. Holds the per-thread Hyperscan
// scratch and verification state; per-flow state (one Hyperscan stream per direction) lives in the
// flow and is allocated only once a direction carries payload. The bytes before a chunk that a
// verification reads are the reassembler's (StreamHistory), not a copy of the detector's.
//
// Semantics, as an analyst writing rules should expect them:
//  * content offset/depth count from the first byte of the direction's stream (stream rules) or
//    of the packet payload / buffer; distance/within from the end of the previous match in the
//    same buffer; all contents and pcres must hold, negated ones must not.
//  * A stream rule's contents must all lie within detect.stream_window bytes before the end of
//    the data that completes the match; a match never spans a capture gap.
//  * Header conditions (addresses, ports, direction, flow, flags, dsize) hold for the packet, or
//    for the flow direction the stream bytes belong to.
//  * A stream or packet rule alerts at most once per flow and direction; a transaction rule at
//    most once per transaction, on the message (request, response) its buffers come from. A
//    matching `pass` rule ends inspection of its flow, and suppresses the alerts of the same data.
//  * flowbits live per flow; rules that set them run before rules that check them on the same
//    data. threshold / detection_filter decide per tracked address whether a match alerts.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "spanguard/core/counters.h"
#include "spanguard/decode/packet_view.h"
#include "spanguard/detect/alert_rate.h"
#include "spanguard/detect/engine.h"
#include "spanguard/detect/rule_profile.h"
#include "spanguard/flow/flow.h"

namespace spanguard::detect {

struct AlertEvent {
  const CompiledRule* rule = nullptr;
  const flow::Flow* flow = nullptr;  // null for a packet outside any tracked flow
  flow::Direction dir = flow::Direction::kToServer;
  const decode::PacketView* packet = nullptr;  // the packet that completed the match (may be null
                                               // when a flow's end flushed the stream)
  std::span<const uint8_t> excerpt;            // the data inspected, up to payload_excerpt bytes
  bool in_transaction = false;                 // raised by a transaction's inspection
  uint64_t tx_id = 0;
  // The action this alert takes: the rule's, or a threshold.config rate_filter's new_action.
  rules::Action action = rules::Action::kAlert;
};

// One inspection of an application-layer transaction (see applayer::TxInspection).
struct TransactionView {
  rules::AppProto app = rules::AppProto::kNone;
  uint64_t tx_id = 0;
  bool response = false;           // the response is inspected (else the request)
  bool complete = false;           // the message's body is complete: body rules may run
  bool headers_inspected = false;  // an earlier inspection of this message ran the other rules
  bool nothing_new = false;        // every rule has run on this message already (end signal only)
  bool tx_done = false;            // the last inspection of this transaction
  InspectBuffers buffers;          // by rules::BufferId
  std::span<const std::optional<uint32_t>> facts;  // by rules::AppFact (see applayer)
};

class AlertSink {
 public:
  virtual ~AlertSink() = default;
  virtual void on_alert(const AlertEvent& alert) = 0;
};

enum class DetectCounter : uint16_t {
  kPacketsInspected,
  kStreamBytesScanned,
  kCandidates,
  kVerified,
  kAlerts,
  kNoAlert,
  kThresholded,
  kPassed,
  kBacktrackLimit,
  kScanErrors,
  kStreamsOpened,
  kStreamsReleased,
  kStreamsReused,
  kChunkCandidates,
  kSuppressed,
  kRateFiltered,
  kCount
};

class Detector {
 public:
  Detector(const DetectionEngine& engine, AlertSink& sink);
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

  // A packet after flow tracking (`flow` null when it has none): packet and header rules.
  void on_packet(const decode::PacketView& v, flow::Flow* flow, flow::Direction dir);
  // In-order bytes of a TCP direction (see stream::StreamConsumer); `packet` is the packet whose
  // arrival delivered them, if any; `history` the direction's bytes right before them, oldest
  // first in at most two spans (empty after a gap), of which the newest
  // DetectOptions::stream_window are read.
  using StreamHistory = std::array<std::span<const uint8_t>, 2>;
  void on_stream_data(flow::Flow& flow, flow::Direction dir, std::span<const uint8_t> data,
                      uint64_t offset, bool after_gap, const decode::PacketView* packet,
                      const StreamHistory& history = {});
  // The buffers of one application-layer transaction (request or response): transaction rules,
  // each at most once per transaction.
  void on_transaction(flow::Flow& flow, flow::Direction dir, const TransactionView& tx,
                      const decode::PacketView* packet);

  // The flow's TCP connection closed (or the flow ends): its scan state goes back to the worker's
  // pool and its windows are freed now rather than when the flow leaves the table (closed flows
  // linger there for their closed-state timeout). What already alerted is remembered.
  void release_streams(flow::Flow& flow);

  const core::Counters<DetectCounter>& counters() const { return counters_; }
  static const core::CounterGroup& counter_group();
  // By rule index; empty unless detect.profile_rules.
  const std::vector<RuleProfile>& profile() const { return profile_; }
  // Bytes of detection state one flow direction holds once it carries payload.
  size_t direction_state_bytes() const;

 private:
  struct Header;
  static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                      void* context);
  void begin_nomination();
  void nominate(std::span<const uint32_t> rules);
  void order_candidates();
  void judge(const Header& header, flow::Flow* flow, flow::Direction dir, InspectBuffers buffers,
             const decode::PacketView* packet, std::span<const uint8_t> excerpt,
             const TransactionView* tx = nullptr);
  bool profiled_verify(uint32_t index, const CompiledRule& cr, InspectBuffers buffers);
  bool header_holds(const CompiledRule& r, const Header& h, const decode::PacketView* packet,
                    const flow::Flow* flow) const;

  const DetectionEngine& engine_;
  AlertSink& sink_;
  hyperscan::Scratch scratch_;
  Verifier verifier_;
  std::vector<uint32_t> candidates_;
  std::vector<uint32_t> ordered_;  // order_candidates()'s scratch
  std::vector<uint32_t> seen_;     // per rule: the generation it was last nominated in
  uint32_t generation_ = 0;
  std::vector<uint8_t> window_;              // a direction's retained bytes + the new segment
  std::vector<InspectBuffer> payload_only_;  // by buffer id: only the payload present
  std::vector<InspectBuffer> tx_buffers_;    // an inspection's buffers, transformed ones added
  std::vector<std::string> transformed_;     // bytes of each transformed buffer
  std::string transform_scratch_;
  Pcre2MatchData transform_match_;  // pcrexform's matches
  core::Counters<DetectCounter> counters_;
  std::vector<RuleProfile> profile_;
  // Released Hyperscan streams, reset, for the next flows (at most kStreamPoolSize).
  static constexpr size_t kStreamPoolSize = 4096;
  std::vector<hyperscan::Stream> stream_pool_;
};

}  // namespace spanguard::detect
