// EVE stats events: Suricata's statistics record, from a counter snapshot.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "spanguard/core/counters.h"

namespace spanguard::output {

// An EVE `stats` event (Suricata's periodic statistics record) at `timestamp` (EVE's format): the
// counters Suricata also has, under its names in its `stats` object (capture, decoder, flow, tcp,
// detect, defrag, uptime), and every counter of the sensor by its own name in `counters`. Appends
// the JSON and a newline.
void append_stats_json(const core::CounterSnapshot& counters, std::string_view timestamp,
                       int64_t uptime_seconds, std::string_view host, std::string& out);

}  // namespace spanguard::output
