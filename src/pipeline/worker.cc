// The per-worker data path.
#include "spanguard/pipeline/worker.h"

#include "spanguard/output/events.h"

namespace spanguard::pipeline {

Worker::Worker(const core::Config& config, bool live_capture, WorkerOutputs outputs)
    : outputs_(outputs),
      live_(live_capture),
      flow_records_(flow::flow_records_enabled(config, live_capture)),
      decoder_(decode::decoder_options(config, live_capture)),
      defrag_(decode::defrag_options(config)),
      reassembler_(stream::stream_options(config), *this),
      detector_(outputs.detection != nullptr
                    ? std::make_unique<detect::Detector>(*outputs.detection,
                                                         static_cast<detect::AlertSink&>(*this))
                    : nullptr),
      responder_(outputs.respond != nullptr
                     ? std::make_unique<respond::Responder>(
                           *outputs.respond, static_cast<respond::ResponseSink&>(*this))
                     : nullptr),
      flows_(flow::flow_options(config), this) {}

Worker::~Worker() { finish(); }

void Worker::on_frame(const capture::Frame& frame) {
  const decode::DecodeStatus status =
      decoder_.decode(frame.link, frame.data, frame.caplen, frame.wirelen, frame.ts, view_);
  last_ts_ = frame.ts;
  if (status != decode::DecodeStatus::kOk) return;  // counted by reason in the decoder
  if (view_.is_fragment) {
    // Held until its datagram is whole; the rebuilt datagram then takes the packet's place.
    const auto whole = defrag_.add(view_);
    if (!whole || decoder_.decode_ip(whole->data(), static_cast<uint32_t>(whole->size()), view_) !=
                      decode::DecodeStatus::kOk) {
      return;
    }
  }
  // Our own resets coming back on the mirror must neither alert nor close the flow they target.
  if (responder_ && responder_->is_own(view_)) return;
  const flow::PacketFlow pf = flows_.process(view_);
  if (responder_) responder_->on_packet(view_, pf.flow, pf.dir);
  // A flow torn down by a response is not inspected again.
  const bool inspect = pf.flow == nullptr || !pf.flow->reset;
  current_ = &view_;
  if (detector_ && inspect && view_.is_ip() && !(view_.is_tcp() && pf.tcp.invalid)) {
    detector_->on_packet(view_, pf.flow, pf.dir);
  }
  if (pf.flow != nullptr && view_.is_tcp()) {
    if (pf.tcp.deliver && !pf.flow->reset) {
      reassembler_.on_segment(*pf.flow, pf.dir, pf.tcp.payload_seq, view_.payload());
    }
    if (view_.has_flag(decode::tcp_flag::kAck) && !pf.tcp.invalid) {
      reassembler_.on_ack(*pf.flow, pf.dir, view_.ack);
    }
    if ((pf.tcp.closed || pf.flow->reset) && detector_) detector_->release_streams(*pf.flow);
  }
  current_ = nullptr;
  // Offline there is nothing "queued meanwhile": the other end's reset goes out after this packet.
  if (!live_) on_batch_end();
}

void Worker::on_batch_end() {
  if (responder_) responder_->flush();
  emit_pending_alerts();
}

void Worker::on_idle(core::Timestamp now) {
  if (responder_) responder_->on_idle(now);
  emit_pending_alerts();
  flows_.advance_time(now);
  defrag_.expire(now);
}

void Worker::finish() {
  if (responder_) responder_->flush();
  emit_pending_alerts();
  if (responder_) responder_->finish(last_ts_);
  flows_.flush_all();
}

void Worker::on_flow_end(const flow::Flow& flow, flow::EndReason reason) {
  // Queued stream data is inspected across its holes before the flow goes.
  reassembler_.on_flow_end(const_cast<flow::Flow&>(flow));
  emit_pending_alerts();  // before the flow (and its reset state) goes
  if (responder_) responder_->on_flow_end(flow);
  if (flow_records_ && (outputs_.eve != nullptr || outputs_.alerts != nullptr)) {
    v1::Envelope event;
    *event.mutable_flow() = output::flow_record(flow, reason);
    emit(event);
  }
}

void Worker::on_stream_data(flow::Flow& flow, flow::Direction dir, std::span<const uint8_t> data,
                            uint64_t offset, bool after_gap) {
  if (detector_ && !flow.reset) {
    detector_->on_stream_data(flow, dir, data, offset, after_gap, current_);
  }
}

uint64_t Worker::emit(v1::Envelope& event) {
  uint64_t seq;
  if (outputs_.alerts != nullptr) {
    seq = outputs_.alerts->publish(event);  // never waits for the network
  } else {
    seq = next_event_seq();
    output::set_event_seq(event, seq);
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
  if (outputs_.eve == nullptr && outputs_.alerts == nullptr) {
    if (responded && alert.flow != nullptr)
      responder_->set_alert_seq(*alert.flow, next_event_seq());
    return;
  }
  // Built now, while the packet and the matched bytes exist; sent at the end of the batch.
  PendingAlert& p = pending_alerts_.emplace_back();
  *p.event.mutable_alert() = output::alert_record(alert, 0, responded ? &*reset : nullptr);
  p.flow = alert.flow;
  p.responded = responded;
}

void Worker::emit_pending_alerts() {
  for (PendingAlert& p : pending_alerts_) {
    if (p.responded && p.flow != nullptr) {
      // The alert tells what has gone out by now, the deferred end's reset included.
      if (const auto summary = responder_->summary(*p.flow)) {
        output::set_reset(p.event.mutable_alert()->mutable_reset(), *summary);
        if (summary->attempted) p.event.mutable_alert()->mutable_alert()->set_action("blocked");
      }
    }
    const uint64_t seq = emit(p.event);
    if (p.responded && p.flow != nullptr) responder_->set_alert_seq(*p.flow, seq);
  }
  pending_alerts_.clear();
}

void Worker::on_reset_outcome(const respond::ResetOutcomeEvent& event) {
  if (outputs_.eve == nullptr && outputs_.alerts == nullptr) return;
  v1::Envelope envelope;
  *envelope.mutable_reset_report() = output::reset_report(event, 0);
  emit(envelope);
}

void Worker::on_stream_event(flow::Flow&, flow::Direction, stream::StreamEvent) {}

void Worker::collect(core::CounterSnapshot& out) const {
  out.add(decoder_.counters().values());
  out.add(defrag_.counters().values());
  out.add(flows_.counters().values());
  out.add(reassembler_.counters().values());
  if (detector_) out.add(detector_->counters().values());
  if (responder_) out.add(responder_->counters().values());
}

}  // namespace spanguard::pipeline
