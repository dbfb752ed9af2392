// Shared stderr sink, level and format for the per-module loggers, and the log rate limiter.
#include "spanguard/core/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "spanguard/core/error.h"

namespace spanguard::core {

namespace {

std::mutex g_mutex;
spdlog::level::level_enum g_level = spdlog::level::info;
LogFormat g_format = LogFormat::kText;

constexpr char kTextPattern[] = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v";
// One object per line; %N and %V are the JSON-escaped logger name and message (flags below).
constexpr char kJsonPattern[] =
    R"({"timestamp":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%N","message":"%V"})";

// %V: the message, %N: the logger name, escaped as JSON string bodies.
class JsonFlag final : public spdlog::custom_flag_formatter {
 public:
  explicit JsonFlag(bool name) : name_(name) {}
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    thread_local std::string escaped;
    escaped.clear();
    const auto text = name_ ? msg.logger_name : msg.payload;
    append_json_escaped(std::string_view(text.data(), text.size()), escaped);
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonFlag>(name_);
  }

 private:
  bool name_;
};

std::unique_ptr<spdlog::formatter> make_formatter(LogFormat format) {
  if (format == LogFormat::kText) return std::make_unique<spdlog::pattern_formatter>(kTextPattern);
  // UTC, so that lines from sensors in different zones sort and compare as they are.
  auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  f->add_flag<JsonFlag>('V', false).add_flag<JsonFlag>('N', true).set_pattern(kJsonPattern);
  return f;
}

spdlog::sink_ptr shared_sink() {
  static spdlog::sink_ptr sink = [] {
    auto s = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    s->set_formatter(make_formatter(LogFormat::kText));
    return s;
  }();
  return sink;
}

// Length of the UTF-8 sequence starting at s[0] (RFC 3629 §4), or 0 when it is not one.
size_t utf8_sequence(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto cont = [&](size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // beyond U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

std::shared_ptr<spdlog::logger> logger(std::string_view module) {
  const std::string name(module);
  std::lock_guard lock(g_mutex);
  if (auto existing = spdlog::get(name)) return existing;
  auto created = std::make_shared<spdlog::logger>(name, shared_sink());
  created->set_level(g_level);
  spdlog::register_logger(created);
  return created;
}

void set_log_level(std::string_view level) {
  const std::string text(level);
  const auto parsed = spdlog::level::from_str(text);
  // from_str answers "off" for anything it does not know.
  if (parsed == spdlog::level::off && text != "off") {
    throw ConfigError("log level '" + text +
                      "' is not one of trace, debug, info, warn, error, critical, off");
  }
  std::lock_guard lock(g_mutex);
  g_level = parsed;
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(parsed); });
}

void set_log_format(std::string_view format) {
  LogFormat parsed;
  if (format == "text") {
    parsed = LogFormat::kText;
  } else if (format == "json") {
    parsed = LogFormat::kJson;
  } else {
    throw ConfigError("log format '" + std::string(format) + "' is not one of text, json");
  }
  std::lock_guard lock(g_mutex);
  g_format = parsed;
  shared_sink()->set_formatter(make_formatter(parsed));
}

LogFormat log_format() {
  std::lock_guard lock(g_mutex);
  return g_format;
}

void write_log_line(std::string_view logger_name, spdlog::level::level_enum level,
                    std::string_view message) {
  const spdlog::details::log_msg msg(spdlog::string_view_t(logger_name.data(), logger_name.size()),
                                     level, spdlog::string_view_t(message.data(), message.size()));
  const spdlog::sink_ptr sink = shared_sink();
  sink->log(msg);
  sink->flush();
}

void append_json_escaped(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const size_t n = utf8_sequence(text.substr(i));
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(text.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
}

// ---- rate limiting -----------------------------------------------------------------------------

LogRateLimiter::LogRateLimiter(size_t burst, std::chrono::nanoseconds window)
    : burst_(burst), window_ns_(window.count()) {}

LogRateLimiter::Verdict LogRateLimiter::admit(std::string_view key, int64_t now_ns,
                                              std::string_view module,
                                              spdlog::level::level_enum level) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) it = entries_.emplace(std::string(key), Entry{}).first;
  Entry& e = it->second;
  if (e.in_window == 0 || now_ns - e.window_start >= window_ns_) {
    e.window_start = now_ns;
    e.in_window = 0;
  }
  e.module = module;
  e.level = level;
  if (e.in_window >= burst_) {
    ++e.suppressed;
    return {};
  }
  ++e.in_window;
  const Verdict v{true, e.suppressed};
  e.suppressed = 0;
  return v;
}

std::vector<LogRateLimiter::Held> LogRateLimiter::take_suppressed() {
  std::lock_guard lock(mutex_);
  std::vector<Held> held;
  for (auto& [key, e] : entries_) {
    if (e.suppressed == 0) continue;
    held.push_back({key, e.module, e.level, e.suppressed});
    e.suppressed = 0;
  }
  return held;
}

LogRateLimiter& log_rate_limiter() {
  static LogRateLimiter limiter(kLogBurst, kLogWindow);
  return limiter;
}

void flush_suppressed_logs() {
  for (const LogRateLimiter::Held& h : log_rate_limiter().take_suppressed()) {
    logger(h.module.empty() ? "log" : h.module)
        ->log(h.level, "{}: {} similar message(s) suppressed", h.key, h.suppressed);
  }
}

}  // namespace spanguard::core
