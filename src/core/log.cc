// Shared stderr sink and level for the per-module loggers.
#include "spanguard/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

#include "spanguard/core/error.h"

namespace spanguard::core {

namespace {

std::mutex g_mutex;
spdlog::level::level_enum g_level = spdlog::level::info;

spdlog::sink_ptr shared_sink() {
  static spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  return sink;
}

}  // namespace

std::shared_ptr<spdlog::logger> logger(std::string_view module) {
  const std::string name(module);
  std::lock_guard lock(g_mutex);
  if (auto existing = spdlog::get(name)) return existing;
  auto created = std::make_shared<spdlog::logger>(name, shared_sink());
  created->set_level(g_level);
  created->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
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

}  // namespace spanguard::core
