// Driving a resetting sensor from outside, shared by the reset end-to-end test and the race
// benchmark: `spanguard run` on the test bed's mirror and injection ports, its EVE lines read with
// a minimal JSON member lookup, and its end-of-run summary's counters.
#pragma once

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "process.h"
#include "span_testbed.h"
#include "summary_counters.h"

namespace spanguard::testing {

// A `spanguard run` in the bed's sensor namespace, capturing on the mirror with busy polling and
// injecting on the injection port; killed on destruction, so declare it after the bed it runs in.
class ResetSensor {
 public:
  // How many workers when `sets` name no pipeline.workers: one (the busy-polling capture thread
  // then owns one core and the test's peers keep the other), or what `run` picks itself.
  enum class Workers { kOne, kRunDefault };
  // `sets` are extra `--set KEY=VALUE` overrides (respond.mode=fin, respond.kill_watch=0s...).
  ResetSensor(const SpanTestbed& bed, const std::string& rules_text,
              const std::vector<std::string>& sets = {}, Workers workers = Workers::kOne) {
    static std::atomic<int> instance{0};
    const std::string tag = std::to_string(++instance);
    rules_path_ = temp_path("reset-" + tag + ".rules");
    eve_path_ = temp_path("reset-" + tag + ".eve.json");
    std::ofstream(rules_path_) << rules_text << "\n";
    std::vector<std::string> argv = {"ip",
                                     "netns",
                                     "exec",
                                     bed.sensor().name(),
                                     spanguard_binary(),
                                     "run",
                                     "--interface",
                                     SpanTestbed::kCaptureInterface,
                                     "--inject-interface",
                                     SpanTestbed::kInjectInterface,
                                     "--rules",
                                     rules_path_,
                                     "--eve",
                                     eve_path_,
                                     "--set",
                                     "capture.busy_poll=yes",
                                     "--log-level",
                                     "info"};
    const bool workers_set = std::any_of(sets.begin(), sets.end(), [](const std::string& s) {
      return s.rfind("pipeline.workers=", 0) == 0;
    });
    // Root after start-up is refused unless allowed, or a set names the account to become.
    const bool user_set = std::any_of(sets.begin(), sets.end(), [](const std::string& s) {
      return s.rfind("run.user=", 0) == 0;
    });
    if (!user_set) {
      argv.push_back("--set");
      argv.push_back("run.allow_root=true");
    }
    if (!workers_set && workers == Workers::kOne) {
      argv.push_back("--workers");
      argv.push_back("1");
    }
    for (const std::string& s : sets) {
      argv.push_back("--set");
      argv.push_back(s);
    }
    process_ = std::make_unique<Subprocess>(std::move(argv));
  }

  // True once every capture is open (and every fanout group joined) and the workers are about to
  // start: from then on the kernel keeps what the mirror delivers for them.
  bool wait_ready(std::chrono::milliseconds limit) {
    return process_->wait_for_stderr("running with", limit);
  }

  // Stops it as an operator would; returns the exit status (-1: it would not stop).
  int stop() {
    process_->signal(SIGTERM);
    return process_->wait(std::chrono::seconds(10));
  }

  // Replaces the rule file and reloads it (SIGUSR2); true once every worker uses the new rules.
  bool reload(const std::string& rules_text, std::chrono::milliseconds limit) {
    std::ofstream(rules_path_, std::ios::trunc) << rules_text << "\n";
    process_->signal(SIGUSR2);
    return process_->wait_for_stderr("active on every worker", limit);
  }

  std::string log() const { return process_->stderr_text(); }

  std::vector<std::string> eve_lines() const {
    std::vector<std::string> lines;
    std::ifstream in(eve_path_);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) lines.push_back(line);
    }
    return lines;
  }

 private:
  std::string rules_path_, eve_path_;
  std::unique_ptr<Subprocess> process_;
};

namespace json_detail {

inline size_t string_end(std::string_view s, size_t open) {
  for (size_t i = open + 1; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i;
    }
  }
  return std::string_view::npos;
}

inline size_t skip_space(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  return i;
}

// The end (exclusive) of the object or array opening at `open`.
inline size_t nested_end(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '"') {
      i = string_end(s, i);
      if (i == std::string_view::npos) return i;
    } else if (s[i] == '{' || s[i] == '[') {
      ++depth;
    } else if ((s[i] == '}' || s[i] == ']') && --depth == 0) {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

inline std::optional<std::string> value_at(std::string_view s, size_t i) {
  if (i >= s.size()) return std::nullopt;
  if (s[i] == '"') {
    const size_t end = string_end(s, i);
    if (end == std::string_view::npos) return std::nullopt;
    return std::string(s.substr(i + 1, end - i - 1));
  }
  if (s[i] == '{' || s[i] == '[') {
    const size_t end = nested_end(s, i);
    if (end == std::string_view::npos) return std::nullopt;
    return std::string(s.substr(i, end - i));
  }
  size_t end = i;
  while (end < s.size() && s[end] != ',' && s[end] != '}' && s[end] != ']' && s[end] != ' ') ++end;
  return std::string(s.substr(i, end - i));
}

}  // namespace json_detail

// The value of member `key` of the JSON object in `object`, looked up at its top level only (the
// EVE records reuse names such as "action" at several depths): a string without its quotes
// (escapes left as written), a number or literal as written, an object or array as its full text.
inline std::optional<std::string> json_member(std::string_view object, std::string_view key) {
  using namespace json_detail;
  size_t i = object.find('{');
  if (i == std::string_view::npos) return std::nullopt;
  int depth = 0;
  for (; i < object.size(); ++i) {
    const char c = object[i];
    if (c == '"') {
      const size_t end = string_end(object, i);
      if (end == std::string_view::npos) return std::nullopt;
      const size_t colon = skip_space(object, end + 1);
      if (depth == 1 && colon < object.size() && object[colon] == ':' &&
          object.substr(i + 1, end - i - 1) == key) {
        return value_at(object, skip_space(object, colon + 1));
      }
      i = end;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && --depth == 0) {
      break;
    }
  }
  return std::nullopt;
}

// json_member applied along a path of nested objects: {"reset", "client", "outcome"}.
inline std::optional<std::string> json_path(std::string_view object,
                                            std::initializer_list<std::string_view> keys) {
  std::optional<std::string> at(std::in_place, object);
  for (std::string_view key : keys) {
    if (!at) return std::nullopt;
    at = json_member(*at, key);
  }
  return at;
}

// The EVE record of `event_type` whose src_port is `client_port`, if any (the first one).
inline std::optional<std::string> eve_record(const std::vector<std::string>& lines,
                                             std::string_view event_type, uint16_t client_port) {
  for (const std::string& line : lines) {
    if (json_member(line, "event_type") == event_type &&
        json_member(line, "src_port") == std::to_string(client_port)) {
      return line;
    }
  }
  return std::nullopt;
}

// Waits (bounded) until the running sensor's EVE file holds a record of `event_type` for the
// client port; the record, or nullopt at the limit.
template <typename Sensor>
std::optional<std::string> wait_eve_record(Sensor& sensor, std::string_view event_type,
                                           uint16_t client_port, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (auto r = eve_record(sensor.eve_lines(), event_type, client_port)) return r;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Reads "<name> N" from the summary's counter lines ("rst_sent 2", "latency_p50_ns 3,120");
// nullopt when the summary has no such counter.
inline std::optional<uint64_t> summary_counter(const std::string& summary,
                                               const std::string& name) {
  std::smatch m;
  if (!std::regex_search(summary, m, std::regex("[ ,]" + name + " +([0-9][0-9,]*)"))) {
    return std::nullopt;
  }
  std::string digits = m[1];
  std::erase(digits, ',');
  return std::stoull(digits);
}

}  // namespace spanguard::testing
