// Error types for set-up failures. Set-up (configuration, rules, interfaces, files) fails early
// with one of these; the per-packet path never throws. The exit code a CLI command returns follows
// from the type.
#pragma once

#include <stdexcept>
#include <string>

namespace spanguard::core {

enum class ExitCode : int {
  kOk = 0,
  kRuntime = 1,  // unreadable capture, missing interface, socket failure
  kUsage = 2,    // bad command line, configuration or rules
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

// A configuration value or command-line usage the user must fix; the message names the key.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& message) : Error(ExitCode::kUsage, message) {}
};

// The environment failed us: a file cannot be read, an interface does not exist, a socket broke.
class RuntimeError : public Error {
 public:
  explicit RuntimeError(const std::string& message) : Error(ExitCode::kRuntime, message) {}
};

}  // namespace spanguard::core
