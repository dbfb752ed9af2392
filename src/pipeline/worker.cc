// The per-worker data path.
#include "spanguard/pipeline/worker.h"

#include "spanguard/output/events.h"

namespace spanguard::pipeline {

Worker::Worker(const core::Config& config, bool live_capture, WorkerOutputs outputs)
    : outputs_(outputs),
      flow_records_(flow::flow_records_enabled(config, live_capture)),
      decoder_(decode::decoder_options(config, live_capture)),
      defrag_(decode::defrag_options(config)),
      reassembler_(stream::stream_options(config), *this),
      detector_(outputs.detection != nullptr
                    ? std::make_unique<detect::Detector>(*outputs.detection,
                                                         static_cast<detect::AlertSink&>(*this))
                    : nullptr),
      flows_(flow::flow_options(config), this) {}

Worker::~Worker() { finish(); }

void Worker::on_frame(const capture::Frame& frame) {
  const decode::DecodeStatus status =
      decoder_.decode(frame.link, frame.data, frame.caplen, frame.wirelen, frame.ts, view_);
  if (status != decode::DecodeStatus::kOk) return;  // counted by reason in the decoder
  if (view_.is_fragment) {
    // Held until its datagram is whole; the rebuilt datagram then takes the packet's place.
    const auto whole = defrag_.add(view_);
    if (!whole || decoder_.decode_ip(whole->data(), static_cast<uint32_t>(whole->size()), view_) !=
                      decode::DecodeStatus::kOk) {
      return;
    }
  }
  const flow::PacketFlow pf = flows_.process(view_);
  current_ = &view_;
  if (detector_ && view_.is_ip() && !(view_.is_tcp() && pf.tcp.invalid)) {
    detector_->on_packet(view_, pf.flow, pf.dir);
  }
  if (pf.flow != nullptr && view_.is_tcp()) {
    if (pf.tcp.deliver) {
      reassembler_.on_segment(*pf.flow, pf.dir, pf.tcp.payload_seq, view_.payload());
    }
    if (view_.has_flag(decode::tcp_flag::kAck) && !pf.tcp.invalid) {
      reassembler_.on_ack(*pf.flow, pf.dir, view_.ack);
    }
    if (pf.tcp.closed && detector_) detector_->release_streams(*pf.flow);
  }
  current_ = nullptr;
}

void Worker::on_idle(core::Timestamp now) {
  flows_.advance_time(now);
  defrag_.expire(now);
}

void Worker::finish() { flows_.flush_all(); }

void Worker::on_flow_end(const flow::Flow& flow, flow::EndReason reason) {
  // Queued stream data is inspected across its holes before the flow goes.
  reassembler_.on_flow_end(const_cast<flow::Flow&>(flow));
  if (flow_records_ && outputs_.eve != nullptr)
    outputs_.eve->write(output::flow_record(flow, reason));
}

void Worker::on_stream_data(flow::Flow& flow, flow::Direction dir, std::span<const uint8_t> data,
                            uint64_t offset, bool after_gap) {
  if (detector_) detector_->on_stream_data(flow, dir, data, offset, after_gap, current_);
}

void Worker::on_alert(const detect::AlertEvent& alert) {
  if (alert.flow != nullptr) const_cast<flow::Flow*>(alert.flow)->alerted = true;
  ++alert_seq_;
  if (outputs_.eve != nullptr) outputs_.eve->write(output::alert_record(alert, alert_seq_));
}

void Worker::on_stream_event(flow::Flow&, flow::Direction, stream::StreamEvent) {}

void Worker::collect(core::CounterSnapshot& out) const {
  out.add(decoder_.counters().values());
  out.add(defrag_.counters().values());
  out.add(flows_.counters().values());
  out.add(reassembler_.counters().values());
  if (detector_) out.add(detector_->counters().values());
}

}  // namespace spanguard::pipeline
