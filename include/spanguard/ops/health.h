// The sensor's health as /healthz reports it: capture sources that stopped delivering frames, or
// whose kernel drops exceed a share of the traffic. A pure evaluation over successive source
// samples and the time of each, so that it is tested without clocks or sockets.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "spanguard/core/time.h"
#include "spanguard/ops/metrics.h"

namespace spanguard::ops {

struct HealthPolicy {
  // A source whose frame count has not grown for this long is stalled; zero disables the check.
  core::Duration stall_after = std::chrono::seconds(60);
  // Unhealthy when kernel drops / (frames + kernel drops) of a source since the previous
  // evaluation exceeds this; 1 disables the check.
  double max_drop_ratio = 0.01;
};

struct HealthReport {
  bool healthy = true;
  std::vector<std::string> reasons = {};  // one line each, naming the source and the limit crossed

  // {"status":"ok"} or {"status":"unhealthy","reasons":[...]}
  std::string json() const;
};

// Rules, per source (by name):
//  - stalled: its frame count has not grown for stall_after, counted from the evaluation that
//    first saw the source or last saw the count grow. A mirror port is never silent for long in
//    production (a silent one has almost always lost its SPAN session or its cable), so an idle
//    source is reported too; the reason says whether the kernel was dropping frames meanwhile (the
//    capture itself is stuck) or nothing arrived at all. Links that may legitimately carry nothing
//    need stall_after 0.
//  - dropping: kernel drops over frames + kernel drops, between the previous evaluation and this
//    one (since start-up for a source seen for the first time), above max_drop_ratio. Interface
//    drops (ps_ifdrop) are left out: Linux counts frames of unknown protocols there too.
// A counter that went backwards (a restarted source) starts its interval afresh.
// Not thread-safe: one caller at a time.
class HealthCheck {
 public:
  using Clock = std::chrono::steady_clock;

  explicit HealthCheck(HealthPolicy policy) : policy_(policy) {}

  HealthReport evaluate(const std::vector<SourceMetrics>& sources, Clock::time_point now);

  const HealthPolicy& policy() const { return policy_; }

 private:
  struct SourceState {
    uint64_t frames = 0;
    uint64_t kernel_dropped = 0;
    uint64_t dropped_when_last_frame = 0;  // kernel_dropped when `frames` last grew
    Clock::time_point last_frame;          // when `frames` was last seen growing
  };

  HealthPolicy policy_;
  std::map<std::string, SourceState, std::less<>> sources_;
};

}  // namespace spanguard::ops
