// The control socket's commands over a running sensor, and `spanguard ctl`, its client.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "spanguard/ops/control.h"
#include "spanguard/pipeline/engine.h"

namespace spanguard::cli {

// What the commands act on.
struct ControlTarget {
  const pipeline::Engine& engine;
  // Reloads the rules now; whether the new set is active, and the message. Empty: no rules.
  std::function<std::pair<bool, std::string>()> reload;
  std::function<void()> stop;  // as SIGTERM
  int64_t started_ns;          // core::monotonic_ns() at start
};

// version | stats | reload | flows [ip ADDR] [port N] [proto tcp|udp|icmp|N] [app NAME]
// [limit N] | shutdown | help.
ops::ControlReply handle_control(const ControlTarget& target, const std::string& command,
                                 const std::vector<std::string>& args);

// `spanguard ctl`: sends one command, prints the reply's message (pretty JSON) on stdout; exit 0
// when the sensor answered OK, 1 when it answered NOK or could not be reached.
int cmd_ctl(const std::string& socket, int timeout_ms, const std::vector<std::string>& words);

}  // namespace spanguard::cli
