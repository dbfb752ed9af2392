// Health of the capture sources for /healthz: stall and kernel-drop rules over successive
// samples (the rules are spelled out in health.h).
#include "spanguard/ops/health.h"

#include <spdlog/fmt/fmt.h>

#include "spanguard/core/log.h"

namespace spanguard::ops {

std::string HealthReport::json() const {
  std::string out = healthy ? R"({"status":"ok")" : R"({"status":"unhealthy")";
  if (!reasons.empty()) {
    out += R"(,"reasons":[)";
    for (size_t i = 0; i < reasons.size(); ++i) {
      if (i > 0) out += ',';
      out += '"';
      core::append_json_escaped(reasons[i], out);
      out += '"';
    }
    out += ']';
  }
  out += "}\n";
  return out;
}

HealthReport HealthCheck::evaluate(const std::vector<SourceMetrics>& sources,
                                   Clock::time_point now) {
  HealthReport report;
  std::map<std::string, SourceState, std::less<>> next;
  for (const SourceMetrics& source : sources) {
    const auto found = sources_.find(source.name);
    const bool known = found != sources_.end();
    SourceState previous = known ? found->second : SourceState{.last_frame = now};
    if (source.frames < previous.frames || source.kernel_dropped < previous.kernel_dropped) {
      previous = SourceState{.last_frame = now};  // the source was restarted
    }

    SourceState state = previous;
    state.frames = source.frames;
    state.kernel_dropped = source.kernel_dropped;
    if (source.frames > previous.frames) {
      state.last_frame = now;
      state.dropped_when_last_frame = source.kernel_dropped;
    }

    const core::Duration silent = now - state.last_frame;
    if (policy_.stall_after > core::Duration::zero() && silent >= policy_.stall_after) {
      const uint64_t dropped = source.kernel_dropped - state.dropped_when_last_frame;
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(silent).count();
      const auto limit = std::chrono::duration_cast<std::chrono::seconds>(policy_.stall_after);
      report.reasons.push_back(
          dropped > 0
              ? fmt::format("capture source '{}': stalled, no frame delivered for {}s while the "
                            "kernel dropped {} (metrics.stall_seconds: {}s)",
                            source.name, seconds, dropped, limit.count())
              : fmt::format("capture source '{}': no frame for {}s, the link is idle or its "
                            "mirror feed is lost (metrics.stall_seconds: {}s)",
                            source.name, seconds, limit.count()));
    }

    const uint64_t frames = source.frames - previous.frames;
    const uint64_t dropped = source.kernel_dropped - previous.kernel_dropped;
    if (dropped > 0) {
      const double ratio = static_cast<double>(dropped) / static_cast<double>(frames + dropped);
      if (ratio > policy_.max_drop_ratio) {
        report.reasons.push_back(fmt::format(
            "capture source '{}': the kernel dropped {} of {} frames ({:.2f}%) {} "
            "(metrics.max_drop_ratio: {})",
            source.name, dropped, frames + dropped, ratio * 100,
            known ? "since the previous check" : "since start-up", policy_.max_drop_ratio));
      }
    }
    next.emplace(source.name, state);
  }
  sources_ = std::move(next);  // sources that went away are forgotten
  report.healthy = report.reasons.empty();
  return report;
}

}  // namespace spanguard::ops
