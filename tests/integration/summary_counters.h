// The end-of-run summary (`spanguard replay`/`run`, on stderr) read back by the tests. It prints
// one line per module or decode layer — "  flow       created 3, ended.closed 3", continued on
// lines indented 13 columns — and lists only the counters that are not zero, so "not listed" means
// zero only when the line itself is there: a test expecting 0 says which of the two it accepts.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace spanguard::testing {
namespace summary_detail {

constexpr std::string_view kContinuation = "             ";  // 13 columns

// Labelled lines of the last summary in `text`, their items (continuations joined) by label.
inline std::map<std::string, std::string, std::less<>> summary_lines(const std::string& text) {
  std::map<std::string, std::string, std::less<>> lines;
  std::istringstream in(text);
  std::string current;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("spanguard replay of ") || line == "spanguard run") {
      lines.clear();  // the last summary counts
      inside = true;
      current.clear();
      continue;
    }
    if (!inside) continue;
    if (line.starts_with(kContinuation) && !current.empty()) {
      lines[current] += ", " + line.substr(kContinuation.size());
    } else if (line.size() > 2 && line.starts_with("  ") && line[2] != ' ') {
      const size_t end = line.find(' ', 2);
      current = line.substr(2, end - 2);
      const size_t items =
          end == std::string::npos ? line.size() : line.find_first_not_of(' ', end);
      lines[current] = items == std::string::npos ? "" : line.substr(items);
    } else {
      inside = false;
    }
  }
  return lines;
}

inline uint64_t number(std::string digits) {
  std::erase(digits, ',');
  return std::stoull(digits);
}

inline bool is_number(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0 || c == ',';
  });
}

// "name 1,234" items separated by ", " (a figure's own commas have no space after them); the
// malformed line's "N total" has its figure first.
inline std::optional<uint64_t> find_item(std::string_view items, std::string_view name) {
  while (!items.empty()) {
    const size_t comma = items.find(", ");
    const std::string_view item = items.substr(0, comma);
    items = comma == std::string_view::npos ? "" : items.substr(comma + 2);
    const size_t space = item.rfind(' ');
    if (space == std::string_view::npos) continue;
    const std::string_view left = item.substr(0, space), right = item.substr(space + 1);
    if (left == name && is_number(right)) return number(std::string(right));
    if (right == name && is_number(left)) return number(std::string(left));
  }
  return std::nullopt;
}

}  // namespace summary_detail

// The figure of counter `name` on the summary line labelled `line` (a module — "flow", "capture",
// "stream" — or a decode layer — "link", "network", "transport", "tunnels", "malformed",
// "anomalies"); nullopt when the summary does not list it (it is zero, or it does not exist).
inline std::optional<uint64_t> summary_counter(const std::string& summary, std::string_view line,
                                               std::string_view name) {
  const auto lines = summary_detail::summary_lines(summary);
  const auto it = lines.find(line);
  if (it == lines.end()) return std::nullopt;
  return summary_detail::find_item(it->second, name);
}

// As summary_counter, but 0 when the line is there without the counter (the summary omits zeros);
// nullopt when the line itself is missing (no summary, or a module renamed or gone), so that a
// test expecting 0 fails instead of passing on a summary it can no longer read.
inline std::optional<uint64_t> summary_counter_or_zero(const std::string& summary,
                                                       std::string_view line,
                                                       std::string_view name) {
  const auto lines = summary_detail::summary_lines(summary);
  const auto it = lines.find(line);
  if (it == lines.end()) return std::nullopt;
  return summary_detail::find_item(it->second, name).value_or(0);
}

// The packets of the "input" line; nullopt without a summary.
inline std::optional<uint64_t> summary_input_packets(const std::string& summary) {
  const auto lines = summary_detail::summary_lines(summary);
  const auto it = lines.find("input");
  if (it == lines.end()) return std::nullopt;
  const std::string_view items = it->second;
  const size_t space = items.find(' ');
  if (space == std::string_view::npos || !items.substr(space).starts_with(" packets")) {
    return std::nullopt;
  }
  if (!summary_detail::is_number(items.substr(0, space))) return std::nullopt;
  return summary_detail::number(std::string(items.substr(0, space)));
}

// A counter's final value ("respond.rst_sent") from the last stats event among EVE `lines` (run
// and replay end their EVE file with one holding every counter, zeros included); nullopt when
// there is none or it lacks that counter, so a misspelled name cannot read as 0.
inline std::optional<uint64_t> eve_counter(const std::vector<std::string>& lines,
                                           const std::string& name) {
  for (auto line = lines.rbegin(); line != lines.rend(); ++line) {
    if (line->find("\"event_type\":\"stats\"") == std::string::npos) continue;
    const size_t counters = line->find("\"counters\":{");
    if (counters == std::string::npos) return std::nullopt;
    const std::string key = "\"" + name + "\":";
    const size_t at = line->find(key, counters);
    if (at == std::string::npos) return std::nullopt;
    return std::stoull(line->substr(at + key.size()));
  }
  return std::nullopt;
}

}  // namespace spanguard::testing
