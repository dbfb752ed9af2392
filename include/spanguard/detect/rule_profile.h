// Rule profiling (detect.profile_rules): what each rule cost the sensor, for analysts tuning their
// rule files — Suricata's rule_perf.log and Snort 3's profiler.rules carry the same figures.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>

namespace spanguard::detect {

class DetectionEngine;

// One rule's cost, summed over a worker's inspections (and over workers by add()). A check is one
// verification of the rule's options after its header and prefilter held.
struct RuleProfile {
  uint64_t checks = 0;
  uint64_t matches = 0;  // checks whose options all held
  uint64_t alerts = 0;
  uint64_t ns = 0;        // verification time, all checks
  uint64_t ns_match = 0;  // of which checks that matched
  uint64_t ns_max = 0;    // the costliest single check
  void add(const RuleProfile& o) {
    checks += o.checks;
    matches += o.matches;
    alerts += o.alerts;
    ns += o.ns;
    ns_match += o.ns_match;
    ns_max = std::max(ns_max, o.ns_max);
  }
};

// The `top` costliest rules (by total verification time; 0: every rule checked at least once) as
// a table: sid, checks, matches, alerts, total/average/worst time, share of all verification time.
std::string format_rule_profile(const DetectionEngine& engine, std::span<const RuleProfile> profile,
                                size_t top);
// Every rule checked at least once, costliest first, as one JSON document:
// {"rules": [{"gid", "signature_id", "rev", "checks", "matches", "alerts", "ns_total", "ns_avg",
// "ns_avg_match", "ns_avg_nomatch", "ns_max", "percent"}, ...]}.
std::string rule_profile_json(const DetectionEngine& engine, std::span<const RuleProfile> profile);

}  // namespace spanguard::detect
