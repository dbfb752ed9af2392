// One spdlog logger per module name, all writing to stderr with one level and one format (text for
// people, JSON lines for journald and log shippers) set from CLI or config; and a rate limiter for
// anomalies that input can repeat (per packet, flow, record), so that no input floods the log.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spanguard/core/time.h"

namespace spanguard::core {

// The logger of a module ("capture", "decode", ...), created on first use.
std::shared_ptr<spdlog::logger> logger(std::string_view module);

// "trace", "debug", "info", "warn", "error", "critical", "off"; throws ConfigError naming the
// value.
void set_log_level(std::string_view level);

enum class LogFormat : uint8_t {
  kText,  // 2024-05-01T12:00:00.123 warning [flow] message
  kJson,  // {"timestamp":"2024-05-01T10:00:00.123Z","level":"warning","logger":"flow","message":...}
};
// "text" or "json"; throws ConfigError naming the value.
void set_log_format(std::string_view format);
LogFormat log_format();

// Writes one record in the current format whatever the level: the reason a process exits, or a
// report the operator asked for.
void write_log_line(std::string_view logger_name, spdlog::level::level_enum level,
                    std::string_view message);

// Appends `text` as the body of a JSON string (RFC 8259 §7): quote, backslash and control
// characters escaped, bytes that are not UTF-8 replaced by U+FFFD so the line stays valid JSON.
void append_json_escaped(std::string_view text, std::string& out);

// At most `burst` lines per key in each `window`; the lines held back are counted, and reported
// when the key next gets a line through or by take_suppressed(). A key names a call site
// ("flow.emergency"). Thread-safe; meant for anomalies, not for every packet.
class LogRateLimiter {
 public:
  LogRateLimiter(size_t burst, std::chrono::nanoseconds window);

  struct Verdict {
    bool log = false;         // write this line
    uint64_t suppressed = 0;  // lines held back since the key's last line (report them first)
  };
  Verdict admit(std::string_view key, int64_t now_ns, std::string_view module = {},
                spdlog::level::level_enum level = spdlog::level::warn);

  struct Held {
    std::string key;
    std::string module;
    spdlog::level::level_enum level;
    uint64_t suppressed;
  };
  // The keys with lines held back and not reported yet, and how many; they count from 0 again.
  std::vector<Held> take_suppressed();

 private:
  struct Entry {
    int64_t window_start = 0;
    size_t in_window = 0;
    uint64_t suppressed = 0;
    std::string module;
    spdlog::level::level_enum level = spdlog::level::warn;
  };
  const size_t burst_;
  const int64_t window_ns_;
  std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> entries_;
};

// The limiter behind log_limited: 10 lines per key per minute.
inline constexpr size_t kLogBurst = 10;
inline constexpr std::chrono::seconds kLogWindow{60};
LogRateLimiter& log_rate_limiter();

// Logs through `module`'s logger unless `key` already logged kLogBurst lines this minute; the
// first line after a suppression is preceded by "KEY: N similar message(s) suppressed".
template <typename... Args>
void log_limited(std::string_view module, spdlog::level::level_enum level, std::string_view key,
                 spdlog::format_string_t<Args...> format, Args&&... args) {
  const std::shared_ptr<spdlog::logger> log = logger(module);
  if (!log->should_log(level)) return;
  const LogRateLimiter::Verdict v = log_rate_limiter().admit(key, monotonic_ns(), module, level);
  if (!v.log) return;
  if (v.suppressed > 0) log->log(level, "{}: {} similar message(s) suppressed", key, v.suppressed);
  log->log(level, format, std::forward<Args>(args)...);
}

// Reports what log_limited held back and has not reported yet: at the end of a run.
void flush_suppressed_logs();

}  // namespace spanguard::core
