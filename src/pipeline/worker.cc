// The per-worker data path.
#include "spanguard/pipeline/worker.h"

#include <algorithm>
#include <stdexcept>

#include "spanguard/applayer/registry.h"
#include "spanguard/core/log.h"
#include "spanguard/events/events.h"

namespace spanguard::pipeline {

namespace {

// The application layer does only what its consumers need: identification alone when no rule
// inspects transactions and no transaction record is written; bodies only for body rules.
// What the application layer must produce for these rules (and records).
applayer::AppLayerOptions app_layer_options(applayer::AppLayerOptions o,
                                            const detect::DetectionEngine* engine, bool records) {
  const bool rules = engine != nullptr && engine->has_transaction_rules();
  o.parse = rules || records;
  o.request_bodies = rules && (engine->body_sides() & detect::kTxRequest);
  o.response_bodies = rules && (engine->body_sides() & detect::kTxResponse);
  o.payload = rules && engine->transaction_payload();
  return o;
}

// The rule set a worker starts with: the slot's, or a caller-owned one (not owned here).
// Stream rules read detect.stream_window bytes behind each chunk from the reassembler's ring.
stream::StreamOptions worker_stream_options(const core::Config& config,
                                            const WorkerOutputs& outputs) {
  stream::StreamOptions o = stream::stream_options(config);
  if (outputs.detection != nullptr || outputs.rules != nullptr) {
    o.history = static_cast<uint32_t>(config.get("detect.stream_window").as_bytes());
  }
  return o;
}

std::shared_ptr<const detect::DetectionEngine> start_rules(const WorkerOutputs& outputs) {
  if (outputs.rules != nullptr) return outputs.rules->current();
  return {std::shared_ptr<const void>(), outputs.detection};
}

}  // namespace

Worker::Worker(const core::Config& config, bool live_capture, WorkerOutputs outputs)
    : outputs_(outputs),
      live_(live_capture),
      flow_records_(flow::flow_records_enabled(config, live_capture)),
      http_records_(config.get("output.eve.http").as_bool()),
      tls_records_(config.get("output.eve.tls").as_bool()),
      dns_records_(config.get("output.eve.dns").as_bool()),
      idle_resets_(flow::flow_options(config).resets_idle()),
      payload_(events::payload_format(config.get("output.eve.payload").as_string(),
                                      config.get("output.eve.packet").as_bool())),
      host_(output::sensor_name(config)),
      community_seed_(config.get("output.eve.community_id").as_bool()
                          ? std::optional<uint16_t>(static_cast<uint16_t>(
                                config.get("output.eve.community_id_seed").as_int()))
                          : std::nullopt),
      decoder_(decode::decoder_options(config, live_capture)),
      defrag_(decode::defrag_options(config)),
      app_options_(applayer::applayer_options(config)),
      start_rules_(start_rules(outputs)),
      // (No reload can be under way while workers are built: the reloader starts after them.)
      rules_version_(outputs.rules != nullptr ? outputs.rules->version() : 0),
      app_layer_(app_layer_options(app_options_, start_rules_.get(),
                                   http_records_ || tls_records_ || dns_records_),
                 start_rules_ != nullptr ? start_rules_->registry() : applayer::rule_registry(),
                 static_cast<applayer::TransactionSink&>(*this)),
      // Protocol identification, then stream rules (they may be restricted to the protocol), then
      // the parsers: a trigger in the raw stream is reset before the segment is parsed.
      reassembler_(
          worker_stream_options(config, outputs),
          {&app_layer_.identifier(), static_cast<stream::StreamConsumer*>(this), &app_layer_}),
      tx_buffers_(start_rules_ != nullptr ? start_rules_->registry().buffer_count() : 0),
      responder_(outputs.respond != nullptr
                     ? std::make_unique<respond::Responder>(
                           *outputs.respond, static_cast<respond::ResponseSink&>(*this))
                     : nullptr),
      flows_(flow::flow_options(config), this) {
  if (outputs.alerts != nullptr && outputs.eve != nullptr &&
      outputs.alerts->eve_mirror() != outputs.eve) {
    throw std::logic_error(
        "pipeline: with an alert stream, the EVE file is written by it "
        "(AlertStream::mirror_to)");
  }
  if (outputs.ftp_expectations != nullptr) app_layer_.share_expectations(outputs.ftp_expectations);
  if (start_rules_ != nullptr) {
    adopt_rules(start_rules_);  // arms the responder
  } else {
    arm_responder();
  }
  adopted_version_.store(rules_version_, std::memory_order_release);
}

Worker::~Worker() { finish(); }

bool Worker::hand_over(const capture::Frame& frame, uint32_t link_bytes,
                       std::span<const uint8_t> datagram) {
  const unsigned owner = router_->owner(datagram);
  if (owner == self_) return false;
  // The frame as if the datagram had come whole: the fragment's link header (tags included: the
  // flow's key), then the datagram.
  handed_.assign(frame.data, frame.data + link_bytes);
  handed_.insert(handed_.end(), datagram.begin(), datagram.end());
  const auto size = static_cast<uint32_t>(handed_.size());
  router_->post(owner, {handed_.data(), size, size, frame.ts, frame.link, frame.origin});
  return true;
}

void Worker::on_frame(const capture::Frame& frame) {
  origin_ = frame.origin;
  if (outputs_.before_frame) outputs_.before_frame(frame);
  const decode::DecodeStatus status =
      decoder_.decode(frame.link, frame.data, frame.caplen, frame.wirelen, frame.ts, view_);
  last_ts_ = frame.ts;
  if (status != decode::DecodeStatus::kOk) return;  // counted by reason in the decoder
  if (view_.is_fragment) {
    // Held until its datagram is whole; the rebuilt datagram then takes the packet's place.
    const uint32_t link_bytes = view_.l3_offset;
    const bool outermost = view_.tunnel == decode::Tunnel::kNone;
    const auto whole = defrag_.add(view_);
    if (!whole) return;
    // A fragment of a tunnel's inner packet came with its tunnel, hashed by the outer headers:
    // its flow is here. An outermost one was hashed by its addresses alone.
    if (router_ != nullptr && outermost && hand_over(frame, link_bytes, *whole)) return;
    if (decoder_.decode_ip(whole->data(), static_cast<uint32_t>(whole->size()), view_) !=
        decode::DecodeStatus::kOk) {
      return;
    }
  }
  // Our own resets coming back on the mirror must neither alert nor close the flow they target.
  if (responder_ && responder_->is_own(view_)) return;
  // A broken transport header leaves an IP packet for ip rules; a TCP segment with a wrong
  // checksum, which its receiver drops, is inspected as a packet but must not move the flow's
  // state or stream (a forged RST or an inserted payload would).
  if (view_.l4_invalid || (view_.bad_checksum && view_.is_tcp())) {
    if (detect::Detector* d = detector_for(nullptr)) {
      current_ = &view_;
      d->on_packet(view_, nullptr, flow::Direction::kToServer);
      current_ = nullptr;
    }
    if (!live_) on_batch_end();
    return;
  }
  const flow::PacketFlow pf = flows_.process(view_);
  // A segment whose TTL may expire before its receiver (pf.tcp.ttl_evasion), or which its
  // receiver drops as PAWS-stale, is inspected as a packet, like one with a wrong checksum, but
  // proves nothing about the session: the responder does not watch it and the stream neither
  // takes its bytes nor its acknowledgement.
  const bool not_received = pf.tcp.ttl_evasion || pf.tcp.paws_stale;
  if (responder_ && !not_received) responder_->on_packet(view_, pf.flow, pf.dir);
  // A flow torn down by a response, or bypassed once encrypted, is not inspected again.
  const bool inspect = pf.flow == nullptr || (!pf.flow->reset && !pf.flow->bypassed);
  current_ = &view_;
  // Datagram protocols are identified (and parsed) first: `alert dns` packet rules need to know.
  if (pf.flow != nullptr && inspect && view_.is_udp()) {
    app_layer_.on_packet(view_, pf.flow, pf.dir);
  }
  if (inspect && view_.is_ip() && !(view_.is_tcp() && pf.tcp.invalid)) {
    if (detect::Detector* d = detector_for(pf.flow)) d->on_packet(view_, pf.flow, pf.dir);
  }
  if (pf.flow != nullptr && view_.is_tcp()) {
    if (pf.tcp.deliver && !pf.flow->reset) {
      reassembler_.on_segment(*pf.flow, pf.dir, pf.tcp.payload_seq, view_.payload(),
                              pf.tcp.unconfirmed);
    }
    if (view_.has_flag(decode::tcp_flag::kAck) && !pf.tcp.invalid && !not_received) {
      reassembler_.on_ack(*pf.flow, pf.dir, view_.ack);
    }
    if (pf.tcp.closed || pf.flow->reset || pf.flow->raw_stream_done) {
      if (detect::Detector* d = detector_for(pf.flow)) d->release_streams(*pf.flow);
    }
  }
  current_ = nullptr;
  // Offline there is nothing "queued meanwhile": the other end's reset goes out after this packet.
  if (!live_) on_batch_end();
}

void Worker::on_batch_end() {
  if (outputs_.rules != nullptr) check_rule_reload();
  if (query_posted_.load(std::memory_order_relaxed)) answer_query();
  if (responder_) responder_->flush();
  emit_pending_alerts();
  // Live, a SIEM tails the EVE file: what this batch wrote is flushed now (only when it wrote).
  // With an alert stream the output thread writes and flushes it.
  if (live_ && outputs_.eve != nullptr && outputs_.alerts == nullptr) outputs_.eve->flush();
}

void Worker::on_idle(core::Timestamp now) {
  if (outputs_.rules != nullptr) check_rule_reload();
  if (query_posted_.load(std::memory_order_relaxed)) answer_query();
  if (responder_) responder_->on_idle(now);
  emit_pending_alerts();
  if (outputs_.eve != nullptr && outputs_.alerts == nullptr) outputs_.eve->flush();
  flows_.advance_time(now);
  if (responder_) responder_->flush();  // the second side of resets made by idle policies
  defrag_.expire(now);
}

void Worker::finish() {
  if (responder_) responder_->flush();
  emit_pending_alerts();
  if (responder_) responder_->finish(last_ts_);
  flows_.flush_all();
}

void Worker::on_flow_end(const flow::Flow& flow, flow::EndReason reason) {
  // Queued stream data is inspected across its holes before the flow goes, and what the
  // application layer still holds open (a body delimited by the close) is completed.
  reassembler_.on_flow_end(const_cast<flow::Flow&>(flow));
  if (!flow.reset) app_layer_.on_flow_end(const_cast<flow::Flow&>(flow));
  if (flow.rule_generation != 0) {
    detector_for(const_cast<flow::Flow*>(&flow))->release_streams(const_cast<flow::Flow&>(flow));
  }
  if (flow.parent_flow_id != 0) {
    if (const auto it = ftp_data_.find(flow.parent_flow_id); it != ftp_data_.end()) {
      std::erase(it->second, &flow);
      if (it->second.empty()) ftp_data_.erase(it);
    }
  }
  if (flow.app_proto == core::AppProto::kFtp) reset_controls_.erase(flow.flow_id);
  emit_pending_alerts();  // before the flow (and its reset state) goes
  if (responder_) responder_->on_flow_end(flow);
  // An idle policy's flows are recorded whatever flow.records says: that record is the report.
  const bool idle_report =
      flow.idle_reset || (reason == flow::EndReason::kTimeout &&
                          flows_.idle_action_of(flow) == flow::IdleAction::kReport);
  if ((flow_records_ || idle_report) && outputs_.alerts == nullptr && outputs_.eve != nullptr) {
    // No alert stream needs the message: the record is printed straight from the flow (a
    // quarter of the cost; events_test holds it equal to the printed message).
    if (community_seed_) events::community_id(flow, *community_seed_, flow_community_);
    flow_line_.clear();
    events::append_flow_record_json(
        flow, reason,
        {.seq = next_event_seq(),
         .host = host_,
         .community_id = community_seed_ ? std::string_view(flow_community_) : std::string_view(),
         .idle_action = idle_report ? (flow.idle_reset ? "reset" : "report") : ""},
        flow_line_);
    outputs_.eve->write_line(flow_line_);
  } else if ((flow_records_ || idle_report) &&
             (outputs_.eve != nullptr || outputs_.alerts != nullptr)) {
    v1::Envelope& event = flow_event_;
    event.mutable_flow()->Clear();
    events::flow_record(flow, reason, *event.mutable_flow());
    if (idle_report) event.mutable_flow()->set_idle_action(flow.idle_reset ? "reset" : "report");
    if (community_seed_) {
      events::community_id(flow, *community_seed_, *event.mutable_flow()->mutable_community_id());
    }
    emit(event);
  }
  release_rules(flow);
}

bool Worker::on_flow_idle_reset(flow::Flow& flow) {
  if (responder_ == nullptr) {
    core::log_limited("pipeline", spdlog::level::warn, "idle-reset",
                      "flow.timeout_overrides: idle_action reset, but this run sends no resets "
                      "(no injector: respond.enabled, an injection interface, run not replay); "
                      "idle sessions are only reported");
    return false;
  }
  const core::Timestamp now = live_ ? std::chrono::system_clock::now() : last_ts_;
  if (!responder_->reset_idle(flow, now)) return false;
  flow.idle_reset = true;
  flow.closed = true;  // ends after the closed-state timeout, its reset's outcome observed
  return true;
}

void Worker::on_stream_data(flow::Flow& flow, flow::Direction dir, std::span<const uint8_t> data,
                            uint64_t offset, bool after_gap) {
  if (flow.reset || flow.raw_stream_done) return;
  if (detect::Detector* d = detector_for(&flow)) {
    d->on_stream_data(flow, dir, data, offset, after_gap, current_,
                      reassembler_.history(flow, dir));
  }
}

uint64_t Worker::emit(v1::Envelope& event) {
  output::set_host(event, host_);
  if (outputs_.alerts != nullptr) {
    // Numbered and moved to the output thread, which serializes it, queues or spools it and
    // prints it to the EVE file (AlertStream::mirror_to): nothing here waits for the network or a
    // disk, and `event` is left empty. Offline, a full hand-off waits instead of dropping:
    // reading the capture file waits with it, nothing is lost.
    return outputs_.alerts->hand_off(
        event, live_ ? output::HandoffFull::kDrop : output::HandoffFull::kWait);
  }
  const uint64_t seq = next_event_seq();
  output::set_event_seq(event, seq);
  if (outputs_.eve_output != nullptr) {
    // Printed and written on the EVE thread; `event` is left empty. Live, a full hand-off drops
    // (counted) rather than wait; offline, waiting loses nothing.
    return outputs_.eve_output->hand_off(
               event, live_ ? output::HandoffFull::kDrop : output::HandoffFull::kWait)
               ? seq
               : 0;
  }
  if (outputs_.eve != nullptr) outputs_.eve->write(*output::event_body(event));
  return seq;
}

uint64_t Worker::next_event_seq() {
  if (outputs_.event_seq != nullptr) {
    return outputs_.event_seq->fetch_add(1, std::memory_order_relaxed) + 1;
  }
  return ++local_seq_;
}

void Worker::on_alert(const detect::AlertEvent& alert) {
  // The reset goes out first: the race against the server's reply does not wait for output.
  const std::optional<respond::ResetSummary> reset =
      responder_ ? responder_->respond(alert) : std::nullopt;
  const bool responded = reset.has_value();
  if (alert.flow != nullptr) const_cast<flow::Flow*>(alert.flow)->alerted = true;
  if (responded && alert.flow != nullptr && alert.flow->app_proto == core::AppProto::kFtp &&
      responder_->options().follow_ftp_data) {
    reset_controls_.emplace(alert.flow->flow_id, alert.rule);
    if (const auto it = ftp_data_.find(alert.flow->flow_id); it != ftp_data_.end()) {
      const core::Timestamp cause = alert.packet != nullptr ? alert.packet->ts : last_ts_;
      for (flow::Flow* data : it->second) responder_->follow(*data, alert.rule, cause);
    }
  }
  if (outputs_.eve == nullptr && outputs_.alerts == nullptr) {
    if (responded && alert.flow != nullptr)
      responder_->set_alert_seq(*alert.flow, next_event_seq());
    return;
  }
  // Built now, while the packet, the matched bytes and the transaction exist; sent at the end of
  // the batch.
  PendingAlert& p = pending_alerts_.emplace_back();
  *p.event.mutable_alert() =
      events::alert_record(alert, 0, responded ? &*reset : nullptr,
                           alert.in_transaction ? current_tx_ : nullptr, payload_);
  p.flow = alert.flow;
  p.responded = responded;
  if (origin_ != nullptr) {
    v1::Alert* a = p.event.mutable_alert();
    live_ ? a->set_in_iface(*origin_) : a->set_pcap_filename(*origin_);
  }
  if (community_seed_) {
    if (alert.flow != nullptr) {
      output::set_community_id(p.event, events::community_id(*alert.flow, *community_seed_));
    } else if (alert.packet != nullptr) {
      output::set_community_id(p.event, events::community_id(*alert.packet, *community_seed_));
    }
  }
}

void Worker::emit_pending_alerts() {
  for (PendingAlert& p : pending_alerts_) {
    if (p.responded && p.flow != nullptr) {
      // The alert tells what has gone out by now, the deferred end's reset included.
      if (const auto summary = responder_->summary(*p.flow)) {
        events::set_reset(p.event.mutable_alert()->mutable_reset(), *summary);
        if (summary->attempted) p.event.mutable_alert()->mutable_alert()->set_action("blocked");
      }
    }
    const uint64_t seq = emit(p.event);
    if (p.responded && p.flow != nullptr) responder_->set_alert_seq(*p.flow, seq);
  }
  pending_alerts_.clear();
}

void Worker::on_data_flow(flow::Flow& data) {
  if (!responder_ || !responder_->options().follow_ftp_data) return;
  if (const auto reset = reset_controls_.find(data.parent_flow_id);
      reset != reset_controls_.end()) {
    // Opened after its control session was reset: it goes the same way.
    responder_->follow(data, reset->second, current_ != nullptr ? current_->ts : last_ts_);
    return;
  }
  ftp_data_[data.parent_flow_id].push_back(&data);
}

void Worker::on_reset_outcome(const respond::ResetOutcomeEvent& event) {
  if (outputs_.eve == nullptr && outputs_.alerts == nullptr) return;
  v1::Envelope envelope;
  *envelope.mutable_reset_report() = events::reset_report(event, 0);
  if (community_seed_ && event.flow != nullptr)
    output::set_community_id(envelope, events::community_id(*event.flow, *community_seed_));
  emit(envelope);
}

void Worker::on_stream_event(flow::Flow&, flow::Direction, stream::StreamEvent) {
  // Stream detection needs no event: a gap is marked on the next delivery (after_gap).
}

void Worker::on_transaction(const applayer::TxInspection& tx) {
  if (tx.flow->reset) return;
  if (detect::Detector* detector = detector_for(tx.flow)) {
    for (size_t id = 0; id < tx_buffers_.size(); ++id) {
      const std::optional<std::string_view>& b =
          id < tx.buffers.size() ? tx.buffers[id] : std::nullopt;
      tx_buffers_[id] =
          b ? detect::InspectBuffer{std::span(reinterpret_cast<const uint8_t*>(b->data()),
                                              b->size()),
                                    0, true}
            : detect::InspectBuffer{};
    }
    detect::TransactionView view;
    view.app = tx.proto;
    view.tx_id = tx.tx_id;
    view.response = tx.dir != tx.request_dir;
    view.complete = tx.complete;
    view.headers_inspected = tx.headers_inspected;
    view.nothing_new = tx.body_inspected;
    view.tx_done = tx.tx_done;
    view.buffers = tx_buffers_;
    view.facts = tx.facts;
    current_tx_ = &tx;
    detector->on_transaction(*tx.flow, tx.dir, view, current_);
    current_tx_ = nullptr;
  }
  if (http_records_ && tx.tx_done && tx.http != nullptr) emit_record(tx);
}

void Worker::on_record(const applayer::TxInspection& tx) {
  if ((tls_records_ && tx.tls != nullptr) || (dns_records_ && tx.dns != nullptr)) emit_record(tx);
}

void Worker::emit_record(const applayer::TxInspection& tx) {
  if (outputs_.eve == nullptr && outputs_.alerts == nullptr) return;
  v1::Envelope event;
  *event.mutable_app() = events::app_record(tx, last_ts_, 0);
  if (community_seed_ && tx.flow != nullptr)
    output::set_community_id(event, events::community_id(*tx.flow, *community_seed_));
  emit(event);
}

void Worker::collect(core::CounterSnapshot& out) const {
  out.add(decoder_.counters().values());
  out.add(defrag_.counters().values());
  out.add(flows_.counters().values());
  out.add(reassembler_.counters().values());
  app_layer_.collect(out);
  {
    std::lock_guard lock(generations_mutex_);
    if (!generations_.empty()) out.add(retired_detect_.values());
    for (const auto& g : generations_) out.add(g->detector->counters().values());
  }
  if (responder_) out.add(responder_->counters().values());
}

detect::Detector* Worker::detector_for(flow::Flow* flow) {
  if (generations_.empty()) return nullptr;
  RuleGeneration& current = *generations_.back();
  if (flow == nullptr) return current.detector.get();
  if (flow->rule_generation == 0) {
    flow->rule_generation = current.id;
    ++current.flows;
    return current.detector.get();
  }
  if (flow->rule_generation == current.id) return current.detector.get();
  for (const auto& g : generations_) {
    if (g->id == flow->rule_generation) return g->detector.get();
  }
  return current.detector.get();  // unreachable: a generation lives while it serves a flow
}

void Worker::check_rule_reload() {
  const uint64_t version = outputs_.rules->version();
  if (version == rules_version_) return;
  rules_version_ = version;
  std::shared_ptr<const detect::DetectionEngine> next = outputs_.rules->current();
  if (next != nullptr && (generations_.empty() || generations_.back()->engine != next)) {
    adopt_rules(std::move(next));
  }
  adopted_version_.store(version, std::memory_order_release);
}

void Worker::adopt_rules(std::shared_ptr<const detect::DetectionEngine> engine) {
  auto generation = std::make_unique<RuleGeneration>();
  // Ids 1-255 in turn, skipping those still serving flows (0 means "none yet").
  uint8_t id = generations_.empty() ? 0 : generations_.back()->id;
  for (;;) {
    id = static_cast<uint8_t>(id == 255 ? 1 : id + 1);
    if (std::none_of(generations_.begin(), generations_.end(),
                     [id](const auto& g) { return g->id == id; })) {
      break;
    }
  }
  generation->id = id;
  generation->detector =
      std::make_unique<detect::Detector>(*engine, static_cast<detect::AlertSink&>(*this));
  generation->engine = std::move(engine);
  generation->responds =
      responder_ != nullptr &&
      respond::any_rule_responds(generation->engine.get(), responder_->options());
  // The application layer produces what the union of the rule sets still in use needs (a new
  // rule may want bodies the old ones did not; flows on the old set still parse as before).
  applayer::AppLayerOptions needs = app_layer_options(
      app_options_, generation->engine.get(), http_records_ || tls_records_ || dns_records_);
  for (const auto& g : generations_) {
    const applayer::AppLayerOptions old = app_layer_options(
        app_options_, g->engine.get(), http_records_ || tls_records_ || dns_records_);
    needs.parse = needs.parse || old.parse;
    needs.request_bodies = needs.request_bodies || old.request_bodies;
    needs.response_bodies = needs.response_bodies || old.response_bodies;
    needs.payload = needs.payload || old.payload;
  }
  if (!generations_.empty()) app_layer_.update_options(needs);
  const bool retire_previous = !generations_.empty() && generations_.back()->flows == 0;
  {
    std::lock_guard lock(generations_mutex_);
    generations_.push_back(std::move(generation));
  }
  if (retire_previous) retire(generations_.end() - 2);
  arm_responder();
}

void Worker::arm_responder() {
  if (responder_ == nullptr) return;
  responder_->set_armed(idle_resets_ || std::any_of(generations_.begin(), generations_.end(),
                                                    [](const auto& g) { return g->responds; }));
}

void Worker::retire(std::vector<std::unique_ptr<RuleGeneration>>::iterator generation) {
  std::lock_guard lock(generations_mutex_);
  const core::CounterValues& values = (*generation)->detector->counters().values();
  for (size_t i = 0; i < static_cast<size_t>(detect::DetectCounter::kCount); ++i) {
    retired_detect_.inc(static_cast<detect::DetectCounter>(i), values.get(i));
  }
  generations_.erase(generation);
  arm_responder();
}

void Worker::release_rules(const flow::Flow& flow) {
  if (flow.rule_generation == 0 || generations_.empty()) return;
  const auto it = std::find_if(generations_.begin(), generations_.end(),
                               [&flow](const auto& g) { return g->id == flow.rule_generation; });
  if (it == generations_.end()) return;
  if ((*it)->flows > 0) --(*it)->flows;
  if ((*it)->flows > 0 || it == generations_.end() - 1) return;
  // An old rule set serves no flow any more: its matcher goes, and with the last worker's the
  // compiled rules themselves.
  emit_pending_alerts();
  retire(it);
}

void Worker::post_query(std::shared_ptr<FlowQuery> query, unsigned index) {
  std::lock_guard lock(query_mutex_);
  query_ = std::move(query);
  query_index_ = index;
  query_posted_.store(true, std::memory_order_release);
}

void Worker::answer_query() {
  std::shared_ptr<FlowQuery> query;
  unsigned index = 0;
  {
    std::lock_guard lock(query_mutex_);
    query = std::move(query_);
    index = query_index_;
    query_posted_.store(false, std::memory_order_relaxed);
  }
  if (query == nullptr) return;
  const FlowFilter& filter = query->filter;
  std::vector<FlowSummary> found;
  bool truncated = false;
  flows_.for_each([&](const flow::Flow& f) {
    const core::IpAddress a = flow::endpoint_address(f.key, 0);
    const core::IpAddress b = flow::endpoint_address(f.key, 1);
    if (filter.ip && !(*filter.ip == a || *filter.ip == b)) return true;
    if (filter.port && *filter.port != f.key.port[0] && *filter.port != f.key.port[1]) return true;
    if (filter.proto && *filter.proto != f.key.proto) return true;
    if (!filter.app.empty() && filter.app != core::to_string(f.app_proto)) return true;
    if (found.size() == filter.limit) {
      truncated = true;
      return false;
    }
    FlowSummary s;
    s.flow_id = f.flow_id;
    s.worker = index;
    s.proto = f.key.proto;
    const int client = flow::sender_endpoint(f, flow::Direction::kToServer);
    s.src_ip = client == 0 ? a : b;
    s.dest_ip = client == 0 ? b : a;
    s.src_port = f.key.port[client];
    s.dest_port = f.key.port[1 - client];
    s.app_proto = std::string(core::to_string(f.app_proto));
    s.state = f.is_tcp() ? flow::to_string(f.tcp.state()) : "active";
    s.pkts_toserver = f.packets[0];
    s.pkts_toclient = f.packets[1];
    s.bytes_toserver = f.bytes[0];
    s.bytes_toclient = f.bytes[1];
    s.start = f.first_seen;
    s.last_seen = f.last_seen;
    s.rule_generation = f.rule_generation;
    found.push_back(std::move(s));
    return true;
  });
  std::lock_guard lock(query->mutex);
  query->truncated = query->truncated || truncated;
  for (FlowSummary& s : found) query->flows.push_back(std::move(s));
  if (query->pending > 0) --query->pending;
  query->answered.notify_all();
}

void Worker::collect_profile(std::vector<detect::RuleProfile>& out) const {
  if (generations_.empty()) return;
  const std::vector<detect::RuleProfile>& mine = generations_.back()->detector->profile();
  if (out.size() < mine.size()) out.resize(mine.size());
  for (size_t i = 0; i < mine.size(); ++i) out[i].add(mine[i]);
}

}  // namespace spanguard::pipeline
