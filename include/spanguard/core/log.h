// One spdlog logger per module name, all writing to stderr, with one level set from CLI or config.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

namespace spanguard::core {

// The logger of a module ("capture", "decode", ...), created on first use.
std::shared_ptr<spdlog::logger> logger(std::string_view module);

// "trace", "debug", "info", "warn", "error", "critical", "off"; throws ConfigError naming the
// value.
void set_log_level(std::string_view level);

}  // namespace spanguard::core
