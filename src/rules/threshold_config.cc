#include "spanguard/rules/threshold_config.h"

#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>

#include "spanguard/core/text.h"

namespace spanguard::rules {

namespace {

using core::trim;

// "key value" parts separated by commas outside [...] (an address list keeps its commas).
std::vector<std::string_view> split_parts(std::string_view v) {
  std::vector<std::string_view> out;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= v.size(); ++i) {
    if (i < v.size() && v[i] == '[') ++depth;
    if (i < v.size() && v[i] == ']') --depth;
    if (i == v.size() || (v[i] == ',' && depth == 0)) {
      out.push_back(trim(v.substr(start, i - start)));
      start = i + 1;
    }
  }
  return out;
}

struct LineError {
  std::string message;
};

uint32_t number(std::string_view key, std::string_view text) {
  uint32_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    throw LineError{"'" + std::string(key) + "' expects a number, got '" + std::string(text) + "'"};
  }
  return n;
}

// One parsed line: its command and its "key value" parts.
struct Entry {
  std::string command;
  std::vector<std::pair<std::string, std::string>> parts;
  const std::string* get(std::string_view key) const {
    for (const auto& [k, v] : parts) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  const std::string& need(std::string_view key) const {
    const std::string* v = get(key);
    if (v == nullptr) throw LineError{"'" + command + "' needs '" + std::string(key) + "'"};
    return *v;
  }
};

Entry parse_line(std::string_view line) {
  Entry e;
  const size_t space = line.find_first_of(" \t");
  e.command = std::string(line.substr(0, space));
  if (space == std::string_view::npos) throw LineError{"'" + e.command + "' has no options"};
  for (const std::string_view part : split_parts(line.substr(space + 1))) {
    const size_t sep = part.find_first_of(" \t");
    if (sep == std::string_view::npos) {
      throw LineError{"'" + std::string(part) + "' is no 'key value' pair"};
    }
    e.parts.emplace_back(std::string(part.substr(0, sep)), std::string(trim(part.substr(sep))));
  }
  return e;
}

AlertRate::Track track_of(const Entry& e) {
  const std::string& track = e.need("track");
  if (track == "by_src") return AlertRate::Track::kBySrc;
  if (track == "by_dst") return AlertRate::Track::kByDst;
  if (track == "by_rule") return AlertRate::Track::kByRule;
  if (track == "by_both") return AlertRate::Track::kByBoth;
  throw LineError{"'track' must be by_src, by_dst, by_rule or by_both, got '" + track + "'"};
}

// rate_filter gen_id G, sig_id S, track T, count N, seconds S, new_action A, timeout T.
RateFilter rate_filter_of(const Entry& e) {
  RateFilter f;
  f.track = track_of(e);
  f.count = number("count", e.need("count"));
  f.seconds = number("seconds", e.need("seconds"));
  f.timeout = number("timeout", e.need("timeout"));
  if (f.seconds == 0) throw LineError{"'seconds' must be at least 1"};
  static constexpr std::pair<std::string_view, Action> kActions[] = {
      {"alert", Action::kAlert},
      {"pass", Action::kPass},
      {"drop", Action::kDrop},
      {"reject", Action::kRejectBoth},
      {"rejectsrc", Action::kRejectSrc},
      {"rejectdst", Action::kRejectDst},
      {"rejectboth", Action::kRejectBoth}};
  const std::string& action = e.need("new_action");
  for (const auto& [name, a] : kActions) {
    if (action == name) {
      f.new_action = a;
      return f;
    }
  }
  throw LineError{
      "'new_action' must be alert, pass, drop, reject, rejectsrc, rejectdst or "
      "rejectboth, got '" +
      action + "'"};
}

AlertRate rate_of(const Entry& e) {
  AlertRate r;
  const std::string& type = e.need("type");
  if (type == "limit") {
    r.kind = AlertRate::Kind::kLimit;
  } else if (type == "threshold") {
    r.kind = AlertRate::Kind::kThreshold;
  } else if (type == "both") {
    r.kind = AlertRate::Kind::kBoth;
  } else {
    throw LineError{"'type' must be limit, threshold or both, got '" + type + "'"};
  }
  r.track = track_of(e);
  r.count = number("count", e.need("count"));
  r.seconds = number("seconds", e.need("seconds"));
  if (r.count == 0) throw LineError{"'count' must be at least 1"};
  return r;
}

Suppression suppression_of(const Entry& e, const Variables& vars) {
  Suppression s;
  const std::string* track = e.get("track");
  const std::string* ip = e.get("ip");
  if (track == nullptr && ip == nullptr) return s;  // the whole rule
  if (track == nullptr || ip == nullptr) throw LineError{"'suppress' needs both 'track' and 'ip'"};
  if (*track == "by_src") {
    s.track = Suppression::Track::kSrc;
  } else if (*track == "by_dst") {
    s.track = Suppression::Track::kDst;
  } else if (*track == "by_either") {
    s.track = Suppression::Track::kEither;
  } else {
    throw LineError{"'track' must be by_src, by_dst or by_either, got '" + *track + "'"};
  }
  SpecError error{};
  auto addresses = AddressSet::parse(*ip, vars, error);
  if (!addresses) throw LineError{"'ip' " + *ip + ": " + error.message};
  s.addresses = std::move(*addresses);
  return s;
}

Diagnostic diagnostic(Diagnostic::Severity severity, const std::string& name, int line,
                      std::string message, std::string reason) {
  Diagnostic d;
  d.severity = severity;
  d.file = name;
  d.line = line;
  d.column = 1;
  d.message = std::move(message);
  d.reason = std::move(reason);
  return d;
}

}  // namespace

void apply_threshold_config(std::string_view text, const std::string& name, const Variables& vars,
                            std::vector<Rule>& rules, std::vector<Diagnostic>& diagnostics) {
  std::istringstream in{std::string(text)};
  std::string physical;
  int number_of_line = 0;
  while (std::getline(in, physical)) {
    const int first_line = ++number_of_line;
    std::string line(trim(physical));
    while (!line.empty() && line.back() == '\\' && std::getline(in, physical)) {
      ++number_of_line;
      line.pop_back();
      line += " ";
      line += trim(physical);
    }
    const std::string_view content = trim(line);
    if (content.empty() || content.front() == '#') continue;
    try {
      const Entry e = parse_line(content);
      const bool threshold = e.command == "threshold" || e.command == "event_filter";
      const bool rate_filter = e.command == "rate_filter";
      if (!threshold && !rate_filter && e.command != "suppress") {
        throw LineError{"unknown command '" + e.command +
                        "' (expected threshold, event_filter, suppress or rate_filter)"};
      }
      const uint32_t gid = number("gen_id", e.need("gen_id"));
      const uint32_t sid = number("sig_id", e.need("sig_id"));
      std::optional<AlertRate> rate;
      std::optional<RateFilter> filter;
      std::optional<Suppression> suppress;
      if (threshold) {
        rate = rate_of(e);
      } else if (rate_filter) {
        filter = rate_filter_of(e);
      } else {
        suppress = suppression_of(e, vars);
      }
      size_t applied = 0, has_own = 0;
      for (Rule& r : rules) {
        if ((gid != 0 && r.gid != gid) || (sid != 0 && r.sid != sid)) continue;
        if (filter) {
          // Suricata: a rule's own threshold/detection_filter takes precedence.
          if (r.rate) {
            ++has_own;
          } else {
            r.rate_filter = filter;
            ++applied;
          }
        } else if (rate) {
          // One rule: replaces its own; all of them: only where the rule has none (Suricata).
          if (sid != 0 || !r.rate) {
            r.rate = rate;
            ++applied;
          }
        } else {
          r.suppressions.push_back(*suppress);
          ++applied;
        }
      }
      if (has_own > 0 && sid != 0) {
        diagnostics.push_back(diagnostic(
            Diagnostic::Severity::kWarning, name, first_line,
            "rate_filter ignored: rule " + std::to_string(gid) + ":" + std::to_string(sid) +
                " has its own threshold or detection_filter, which takes precedence",
            "threshold.config rate_filter on a thresholded rule"));
      } else if (applied == 0 && sid != 0) {
        diagnostics.push_back(diagnostic(
            Diagnostic::Severity::kWarning, name, first_line,
            "no loaded rule has gen_id " + std::to_string(gid) + ", sig_id " + std::to_string(sid),
            "threshold.config for a rule not loaded"));
      }
    } catch (const LineError& error) {
      diagnostics.push_back(diagnostic(Diagnostic::Severity::kError, name, first_line,
                                       error.message + " (line ignored)",
                                       "threshold.config line malformed"));
    }
  }
}

void apply_threshold_file(const std::string& path, const Variables& vars, std::vector<Rule>& rules,
                          std::vector<Diagnostic>& diagnostics) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    diagnostics.push_back(diagnostic(Diagnostic::Severity::kError, path, 0, "cannot read the file",
                                     "unreadable threshold file"));
    return;
  }
  std::ostringstream text;
  text << in.rdbuf();
  apply_threshold_config(text.str(), path, vars, rules, diagnostics);
}

}  // namespace spanguard::rules
