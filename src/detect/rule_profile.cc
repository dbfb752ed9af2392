// Rule profiling reports: the table an operator reads at the end of a run and the JSON a script
// reads. Ordered by total verification time — the rules that cost the sensor its throughput.
#include "spanguard/detect/rule_profile.h"

#include <fmt/format.h>

#include <numeric>
#include <vector>

#include "spanguard/detect/engine.h"

namespace spanguard::detect {

namespace {

// Indexes of the rules checked at least once, costliest first (ties: more checks, then sid).
std::vector<uint32_t> ranked(const DetectionEngine& engine, std::span<const RuleProfile> profile) {
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < profile.size(); ++i) {
    if (profile[i].checks > 0) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (profile[a].ns != profile[b].ns) return profile[a].ns > profile[b].ns;
    if (profile[a].checks != profile[b].checks) return profile[a].checks > profile[b].checks;
    return engine.rule(a).rule().sid < engine.rule(b).rule().sid;
  });
  return order;
}

uint64_t total_ns(std::span<const RuleProfile> profile) {
  return std::accumulate(profile.begin(), profile.end(), uint64_t{0},
                         [](uint64_t sum, const RuleProfile& p) { return sum + p.ns; });
}

double share(uint64_t ns, uint64_t total) {
  return total == 0 ? 0.0 : 100.0 * static_cast<double>(ns) / static_cast<double>(total);
}

uint64_t average(uint64_t ns, uint64_t n) { return n == 0 ? 0 : ns / n; }

}  // namespace

std::string format_rule_profile(const DetectionEngine& engine, std::span<const RuleProfile> profile,
                                size_t top) {
  const std::vector<uint32_t> order = ranked(engine, profile);
  const uint64_t total = total_ns(profile);
  std::string out =
      fmt::format("rule profile: {} rules checked, {:.3f} ms of verification in all{}\n",
                  order.size(), static_cast<double>(total) / 1e6,
                  top != 0 && order.size() > top ? fmt::format(" (the {} costliest)", top) : "");
  if (order.empty()) return out;
  out += fmt::format("  {:>14} {:>10} {:>9} {:>8} {:>11} {:>9} {:>9} {:>6}  {}\n", "gid:sid:rev",
                     "checks", "matches", "alerts", "total µs", "avg ns", "max ns", "%", "msg");
  const size_t n = top == 0 ? order.size() : std::min(top, order.size());
  for (size_t k = 0; k < n; ++k) {
    const RuleProfile& p = profile[order[k]];
    const rules::Rule& r = engine.rule(order[k]).rule();
    std::string msg = r.msg.size() > 60 ? r.msg.substr(0, 57) + "..." : r.msg;
    out += fmt::format("  {:>14} {:>10} {:>9} {:>8} {:>11.1f} {:>9} {:>9} {:>6.2f}  {}\n",
                       fmt::format("{}:{}:{}", r.gid, r.sid, r.rev), p.checks, p.matches, p.alerts,
                       static_cast<double>(p.ns) / 1e3, average(p.ns, p.checks), p.ns_max,
                       share(p.ns, total), msg);
  }
  return out;
}

std::string rule_profile_json(const DetectionEngine& engine, std::span<const RuleProfile> profile) {
  const uint64_t total = total_ns(profile);
  std::string out = "{\"rules\":[";
  bool first = true;
  for (const uint32_t i : ranked(engine, profile)) {
    const RuleProfile& p = profile[i];
    const rules::Rule& r = engine.rule(i).rule();
    const uint64_t misses = p.checks - p.matches;
    out += fmt::format(
        "{}{{\"gid\":{},\"signature_id\":{},\"rev\":{},\"checks\":{},\"matches\":{},"
        "\"alerts\":{},\"ns_total\":{},\"ns_avg\":{},\"ns_avg_match\":{},\"ns_avg_nomatch\":{},"
        "\"ns_max\":{},\"percent\":{:.3f}}}",
        first ? "" : ",", r.gid, r.sid, r.rev, p.checks, p.matches, p.alerts, p.ns,
        average(p.ns, p.checks), average(p.ns_match, p.matches), average(p.ns - p.ns_match, misses),
        p.ns_max, share(p.ns, total));
    first = false;
  }
  out += "]}\n";
  return out;
}

}  // namespace spanguard::detect
