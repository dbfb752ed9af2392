// The per-worker data path.
#include "spanguard/pipeline/worker.h"

namespace spanguard::pipeline {

Worker::Worker(const core::Config& config, bool live_capture)
    : decoder_(decode::decoder_options(config, live_capture)) {}

void Worker::on_frame(const capture::Frame& frame) {
  const decode::DecodeStatus status =
      decoder_.decode(frame.link, frame.data, frame.caplen, frame.wirelen, frame.ts, view_);
  if (status != decode::DecodeStatus::kOk) return;  // counted by reason in the decoder
}

void Worker::finish() {}

void Worker::collect(core::CounterSnapshot& out) const { out.add(decoder_.counters().values()); }

}  // namespace spanguard::pipeline
