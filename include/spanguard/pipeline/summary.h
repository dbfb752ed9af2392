// The end-of-run summary, printed from the counter registry: packets, bytes, throughput, protocols,
// malformed frames by reason, then every other module's non-zero counters (flows, alerts,
// resets...).
#pragma once

#include <string>
#include <string_view>

#include "spanguard/core/counters.h"

namespace spanguard::pipeline {

std::string format_summary(std::string_view title, const core::CounterSnapshot& counters,
                           double wall_seconds);

}  // namespace spanguard::pipeline
