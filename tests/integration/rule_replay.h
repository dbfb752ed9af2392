// Running rules against a generated capture through `spanguard replay`, as the rule tests of every
// protocol do: the capture and rule files written, the EVE output read back as alerts by sid.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "frame_builder.h"
#include "process.h"

namespace spanguard::testing {

// Frames 1 µs apart from 2023-11-14T22:13:20Z.
inline constexpr int64_t kCaptureStartNs = 1'700'000'000'000'000'000;
std::string write_capture(const std::string& name, const std::vector<Bytes>& frames);

// signature_id -> number of alerts in the EVE output.
using AlertCounts = std::map<uint32_t, int>;

struct Replay {
  RunResult run;
  AlertCounts alerts;
  std::string eve_text;
};

// `spanguard replay --strict` of `frames` (written as a capture named `name`) against `rules`
// with --eve to a fresh file, and the further command-line `args`: the run and the EVE file's path.
struct ReplayRun {
  RunResult run;
  std::string eve;
};
ReplayRun replay_to_eve(const std::string& name, const std::vector<Bytes>& frames,
                        const std::string& rules, const std::vector<std::string>& args);

// Replays `frames` against `rules` with --strict (a rule that does not load fails the run rather
// than never firing), flow records off, rules.vars.address set to `address_vars` (a YAML map) and
// each further `--set key=value` of `settings`.
Replay replay(const std::string& name, const std::vector<Bytes>& frames, const std::string& rules,
              const std::string& address_vars, const std::vector<std::string>& settings = {});

int alerts_of(const Replay& r, uint32_t sid);
// A counter's final value ("applayer.flows.tls"), from the stats event the replay writes last in
// its EVE file; a name the sensor does not have fails the test (it never reads as 0).
uint64_t counter_of(const Replay& r, const std::string& name);
// The EVE lines of one event_type ("tls", "dns", ...), in order.
std::vector<std::string> events_of_type(const Replay& r, const std::string& event_type);
// The sid a rule's text names (throws std::invalid_argument without one).
uint32_t sid_of(const std::string& rule);

}  // namespace spanguard::testing
