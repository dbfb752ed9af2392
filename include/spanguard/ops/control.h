// The control socket: a Unix stream socket an operator's `spanguard ctl` talks to, as suricatasc
// talks to Suricata's. One request per line, a JSON object {"command": "stats", "arguments":
// ["ip", "198.51.100.7"]}; one reply per line, {"return": "OK", "message": ...} or
// {"return": "NOK", "message": "why"}. The socket is made mode 0660 with the configured group, so
// that membership of that group is the permission to use it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "spanguard/core/config.h"

namespace spanguard::ops {

// The "control" configuration section (socket, group).
const core::ParamSection& control_params();

struct ControlOptions {
  std::string socket;  // empty: no control socket
  std::string group;   // empty: the process's group
  bool enabled() const { return !socket.empty(); }
};
ControlOptions control_options(const core::Config& config);

struct ControlReply {
  bool ok = true;
  // The reply's "message": JSON text (an object, array, string...) written as is.
  std::string message_json;
};
ControlReply control_error(const std::string& why);

// Called on the server's thread for each request, one at a time.
using ControlHandler =
    std::function<ControlReply(const std::string& command, const std::vector<std::string>& args)>;

// Answers one request line (parsing and error replies included); the reply line has no newline.
std::string answer_control_request(const std::string& line, const ControlHandler& handler);

class ControlServer {
 public:
  // Creates the socket (replacing a stale one left by a previous run; refusing one another live
  // process listens on) and serves on a thread of its own. Throws core::RuntimeError naming
  // control.socket / control.group and the reason.
  ControlServer(const ControlOptions& options, ControlHandler handler);
  ~ControlServer();  // stops, closes and removes the socket
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The client side: sends one request and returns the reply line. Throws core::RuntimeError when
// the socket cannot be reached or the sensor does not answer within `timeout_ms`.
std::string control_request(const std::string& socket, const std::string& command,
                            const std::vector<std::string>& args, int timeout_ms);

}  // namespace spanguard::ops
