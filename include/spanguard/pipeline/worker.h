// A worker runs the whole data path for the flows it owns: decode → flow → stream → detect →
// respond. It is fed frames in capture order, by its ring or directly by the capture loop, and is
// never shared.
#pragma once

#include "spanguard/capture/source.h"
#include "spanguard/core/config.h"
#include "spanguard/core/counters.h"
#include "spanguard/decode/decoder.h"

namespace spanguard::pipeline {

class Worker final : public capture::FrameSink {
 public:
  Worker(const core::Config& config, bool live_capture);

  void on_frame(const capture::Frame& frame) override;
  // End of input: whatever is still held (flows, partial streams) is finished.
  void finish();
  // Adds this worker's counters to `out`; safe from another thread while the worker runs.
  void collect(core::CounterSnapshot& out) const;

 private:
  decode::Decoder decoder_;
  decode::PacketView view_;
};

}  // namespace spanguard::pipeline
