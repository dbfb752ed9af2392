// A worker runs the whole data path for the flows it owns: decode → flow → stream → detect →
// respond. It is fed frames in capture order, by its ring or directly by the capture loop, and is
// never shared.
#pragma once

#include "spanguard/capture/source.h"
#include "spanguard/core/config.h"
#include "spanguard/core/counters.h"
#include "spanguard/decode/decoder.h"
#include "spanguard/decode/defrag.h"
#include "spanguard/flow/flow_table.h"
#include "spanguard/output/eve_writer.h"
#include "spanguard/stream/reassembler.h"

namespace spanguard::pipeline {

// Where a worker's events go; any of them may be absent.
struct WorkerOutputs {
  output::EveWriter* eve = nullptr;  // --eve: EVE JSON lines
};

class Worker final : public capture::FrameSink,
                     private flow::FlowEndHandler,
                     private stream::StreamConsumer {
 public:
  Worker(const core::Config& config, bool live_capture, WorkerOutputs outputs = {});
  ~Worker() override;

  void on_frame(const capture::Frame& frame) override;
  // No frame for a while (live capture): expire flows on the wall clock.
  void on_idle(core::Timestamp now);
  // End of input: whatever is still held (flows, partial streams) is finished.
  void finish();
  // Adds this worker's counters to `out`; safe from another thread while the worker runs.
  void collect(core::CounterSnapshot& out) const;

 private:
  void on_flow_end(const flow::Flow& flow, flow::EndReason reason) override;
  void on_stream_data(flow::Flow& flow, flow::Direction dir, std::span<const uint8_t> data,
                      uint64_t offset, bool after_gap) override;
  void on_stream_event(flow::Flow& flow, flow::Direction dir, stream::StreamEvent event) override;

  WorkerOutputs outputs_;
  bool flow_records_;
  decode::Decoder decoder_;
  decode::Defragmenter defrag_;
  decode::PacketView view_;
  stream::Reassembler reassembler_;  // declared before flows_: the flows' stream state refers to it
  flow::FlowTable flows_;
};

}  // namespace spanguard::pipeline
