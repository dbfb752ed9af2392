// A worker runs the whole data path for the flows it owns: decode → flow → stream → applayer →
// detect → respond. It is fed frames in capture order, by its ring or directly by the capture
// loop, and is never shared. The reassembler hands each flow direction's bytes and events to its
// consumers (stream detection, then the application layer); the application layer hands each
// transaction to detection; per-flow state of every stage lives in the flow's named slots.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

#include "spanguard/applayer/app_layer.h"
#include "spanguard/capture/source.h"
#include "spanguard/core/config.h"
#include "spanguard/core/counters.h"
#include "spanguard/decode/decoder.h"
#include "spanguard/decode/defrag.h"
#include "spanguard/detect/detector.h"
#include "spanguard/events/events.h"
#include "spanguard/flow/flow_table.h"
#include "spanguard/output/alert_stream.h"
#include "spanguard/output/eve_output.h"
#include "spanguard/output/eve_writer.h"
#include "spanguard/pipeline/flow_query.h"
#include "spanguard/pipeline/rule_slot.h"
#include "spanguard/respond/responder.h"
#include "spanguard/stream/reassembler.h"

namespace spanguard::pipeline {

// What a worker is wired to; any of it may be absent.
struct WorkerOutputs {
  output::EveWriter* eve = nullptr;                    // --eve: EVE JSON lines
  const detect::DetectionEngine* detection = nullptr;  // the compiled rule set (none: no rules)
  // Live reload: the current rule set, watched at every batch end (its set replaces `detection`).
  const RuleSlot* rules = nullptr;
  respond::ResponseContext* respond = nullptr;  // resets for reject/drop rules (none: off)
  std::atomic<uint64_t>* event_seq = nullptr;   // numbers the run's events across workers
  // --alerts: the SIEM stream, which then numbers events; with `eve` too, it prints them there
  // (AlertStream::mirror_to(eve) before the workers are built).
  output::AlertStream* alerts = nullptr;
  // Without an alert stream: the thread that writes `eve` (events are handed to it, not printed
  // here); null: printed here. Flow records without an alert stream are printed here either way.
  output::EveOutput* eve_output = nullptr;
  // FTP data connections announced on any worker (fanout by addresses and ports may put a data
  // connection on another worker than its control connection); null: each worker its own.
  applayer::DataExpectations* ftp_expectations = nullptr;
  // Runs before each frame is processed; for tests of failure handling (it may throw).
  std::function<void(const capture::Frame&)> before_frame = nullptr;
};

// Live fanout with the flow hash: the kernel gives a fragment to the worker its addresses pick and
// the rest of its flow to the one its addresses and ports pick. The worker that reassembles a
// datagram asks the router whose flow it is, and hands it over when it is another's.
class DatagramRouter {
 public:
  virtual ~DatagramRouter() = default;
  // The worker whose share of the capture holds the flow of this unfragmented IP datagram.
  virtual unsigned owner(std::span<const uint8_t> ip) const = 0;
  // Queues a copy of `frame` for worker `to` (thread-safe); dropped, and counted, when its queue
  // is full.
  virtual void post(unsigned to, const capture::Frame& frame) = 0;
};

class Worker final : public capture::FrameSink,
                     private flow::FlowEndHandler,
                     private stream::StreamConsumer,
                     private detect::AlertSink,
                     private applayer::TransactionSink,
                     private respond::ResponseSink {
 public:
  Worker(const core::Config& config, bool live_capture, WorkerOutputs outputs = {});
  ~Worker() override;

  void on_frame(const capture::Frame& frame) override;
  // No frame for a while (live capture): expire flows on the wall clock.
  void on_idle(core::Timestamp now);
  // The frames queued so far are processed (live capture): deferred resets go out now, built from
  // the newest state.
  void on_batch_end();
  // End of input: whatever is still held (flows, partial streams) is finished.
  void finish();
  // Reassembled datagrams whose flow another worker holds go to it through `router`; this worker
  // is number `self` there. Call before the worker runs.
  void route_datagrams(DatagramRouter* router, unsigned self) {
    router_ = router;
    self_ = self;
  }
  // Posts a flow listing for this worker (numbered `index` in the answers) to answer at its next
  // batch end or idle tick; safe from another thread.
  void post_query(std::shared_ptr<FlowQuery> query, unsigned index);
  // The RuleSlot version this worker has switched to; safe from another thread.
  uint64_t rules_version() const { return adopted_version_.load(std::memory_order_acquire); }
  // Adds this worker's counters to `out`; safe from another thread while the worker runs.
  void collect(core::CounterSnapshot& out) const;
  // Adds this worker's rule profile (detect.profile_rules) to `out`, by rule index of the current
  // rule set; call once the worker has stopped.
  void collect_profile(std::vector<detect::RuleProfile>& out) const;

 private:
  void on_flow_end(const flow::Flow& flow, flow::EndReason reason) override;
  bool on_flow_idle_reset(flow::Flow& flow) override;
  void on_stream_data(flow::Flow& flow, flow::Direction dir, std::span<const uint8_t> data,
                      uint64_t offset, bool after_gap) override;
  void on_stream_event(flow::Flow& flow, flow::Direction dir, stream::StreamEvent event) override;
  void on_alert(const detect::AlertEvent& alert) override;
  void on_transaction(const applayer::TxInspection& tx) override;
  void on_data_flow(flow::Flow& data) override;
  void on_record(const applayer::TxInspection& tx) override;
  void emit_record(const applayer::TxInspection& tx);
  void on_reset_outcome(const respond::ResetOutcomeEvent& event) override;
  uint64_t next_event_seq();
  // Alerts of the current batch go out after its deferred resets (flush): formatting an alert
  // must not delay the reset of the trigger's sender.
  void emit_pending_alerts();
  // Numbers `event` (through the alert stream when there is one), sends it there and writes it to
  // the EVE file; returns its seq.
  uint64_t emit(v1::Envelope& event);
  // Hands a reassembled datagram to the worker holding its flow, with `frame`'s first
  // `link_bytes`; false when that is this worker.
  bool hand_over(const capture::Frame& frame, uint32_t link_bytes,
                 std::span<const uint8_t> datagram);

  // One rule set's matcher and the flows it still serves. The newest is current: flows start on
  // it; an older one is retired when the last flow it serves ends.
  struct RuleGeneration {
    uint8_t id = 0;  // what a flow's rule_generation holds
    std::shared_ptr<const detect::DetectionEngine> engine;
    std::unique_ptr<detect::Detector> detector;
    uint64_t flows = 0;
    bool responds = false;  // a rule of it may ask for a reset
  };
  // The matcher of `flow`'s rule set, the current one for a flow not yet inspected (or none: no
  // rules).
  detect::Detector* detector_for(flow::Flow* flow);
  // The rule set a reload published (RuleSlot) becomes current; called at batch boundaries.
  void check_rule_reload();
  void adopt_rules(std::shared_ptr<const detect::DetectionEngine> engine);
  // A flow ends: its rule set serves one flow fewer, and goes when it is old and serves none.
  void release_rules(const flow::Flow& flow);
  // Answers a posted flow listing, if any.
  void answer_query();
  // Drops a rule set's matcher, keeping its counts in retired_detect_.
  void retire(std::vector<std::unique_ptr<RuleGeneration>>::iterator generation);
  // The responder keeps its send path warm only while a rule set in use or an idle policy may ask
  // for resets.
  void arm_responder();

  WorkerOutputs outputs_;
  bool live_;
  bool flow_records_;
  bool http_records_;
  bool tls_records_;
  bool dns_records_;
  bool idle_resets_;                     // an idle policy resets sessions (flow.timeout_overrides)
  events::PayloadFormat payload_;        // output.eve.payload
  std::string host_;                     // EVE "host": output.sensor_id or the host name
  const std::string* origin_ = nullptr;  // the current frame's capture file or interface
  std::optional<uint16_t> community_seed_;  // output.eve.community_id: on, with this seed
  decode::Decoder decoder_;
  decode::Defragmenter defrag_;
  decode::PacketView view_;
  applayer::AppLayerOptions app_options_;  // from the configuration, before the rules' needs
  std::shared_ptr<const detect::DetectionEngine> start_rules_;
  std::vector<std::unique_ptr<RuleGeneration>> generations_;  // back(): the current rule set
  mutable std::mutex generations_mutex_;  // collect() reads them while a reload changes the list
  uint64_t rules_version_ = 0;            // the RuleSlot version adopted
  std::atomic<uint64_t> adopted_version_{0};  // the same, for other threads
  std::atomic<bool> query_posted_{false};     // checked at every batch end (one load)
  std::mutex query_mutex_;
  std::shared_ptr<FlowQuery> query_;
  unsigned query_index_ = 0;
  // Counters of retired rule sets' matchers, so that totals never go backwards.
  core::Counters<detect::DetectCounter> retired_detect_{detect::Detector::counter_group()};
  applayer::AppLayer app_layer_;
  stream::Reassembler reassembler_;  // declared before flows_: the flows' stream state refers to it
  const decode::PacketView* current_ = nullptr;         // the packet being processed, if any
  const applayer::TxInspection* current_tx_ = nullptr;  // the transaction being inspected, if any
  std::vector<detect::InspectBuffer> tx_buffers_;       // by buffer id, reused per inspection
  uint64_t local_seq_ = 0;                              // when no shared sequence was given
  struct PendingAlert {
    v1::Envelope event;
    const flow::Flow* flow;  // valid until emitted: a flow's end emits its alerts first
    bool responded;
  };
  std::vector<PendingAlert> pending_alerts_;
  v1::Envelope flow_event_;     // reused for every flow record
  std::string flow_line_;       // ... and its JSON line, printed directly without an alert stream
  std::string flow_community_;  // ... and its Community ID
  core::Timestamp last_ts_{};
  // respond.ftp_data: follow — the live FTP data flows of each control flow id, and the control
  // flows reset so far (their data flows are reset too, also those that open later).
  std::unordered_map<uint64_t, std::vector<flow::Flow*>> ftp_data_;
  std::unordered_map<uint64_t, const detect::CompiledRule*> reset_controls_;
  DatagramRouter* router_ = nullptr;  // live fanout with the flow hash (route_datagrams)
  unsigned self_ = 0;
  std::vector<uint8_t> handed_;  // the frame a reassembled datagram is handed over in
  std::unique_ptr<respond::Responder> responder_;  // before flows_: flows ending reach it
  flow::FlowTable flows_;  // last: flows ending at destruction still reach the stages above
};

}  // namespace spanguard::pipeline
