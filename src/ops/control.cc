// The control socket's server and client (see control.h).
#include "spanguard/ops/control.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <sstream>
#include <thread>

#include "spanguard/core/error.h"
#include "spanguard/core/log.h"

namespace spanguard::ops {

namespace {

constexpr core::Param kParams[] = {
    {.name = "socket",
     .type = core::ParamType::kString,
     .default_value = "\"\"",
     .help = "Unix socket for `spanguard ctl` (stats, reload, flows, version); empty: none"},
    {.name = "group",
     .type = core::ParamType::kString,
     .default_value = "\"\"",
     .help = "Group owning the control socket (mode 0660): its members may use it; empty: the "
             "sensor's own group"},
};

constexpr core::ParamSection kSection{"control", "Control socket", kParams};

constexpr size_t kMaxRequest = 64 * 1024;

std::string errno_text() { return std::strerror(errno); }

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

sockaddr_un unix_address(const std::string& path, const std::string& key) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    throw core::ConfigError(key + ": '" + path + "' is longer than a Unix socket path may be (" +
                            std::to_string(sizeof addr.sun_path - 1) + " bytes)");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// Whether a process answers on `path` (a live sensor), as opposed to a stale socket file.
bool someone_listens(const sockaddr_un& addr) {
  Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  return probe.get() >= 0 &&
         ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
}

gid_t group_id(const std::string& name) {
  std::vector<char> buffer(16384);
  group entry{};
  group* found = nullptr;
  const int rc = getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0 || found == nullptr) {
    throw core::ConfigError("control.group: no such group '" + name + "'");
  }
  return entry.gr_gid;
}

// Waits until `fd` is readable; false on time-out.
bool wait_readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) > 0;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string reply_line(const ControlReply& reply) {
  return std::string(R"({"return":")") + (reply.ok ? "OK" : "NOK") + R"(","message":)" +
         reply.message_json + "}";
}

std::string json_string(const std::string& text) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return buffer.GetString();
}

}  // namespace

const core::ParamSection& control_params() { return kSection; }

ControlOptions control_options(const core::Config& config) {
  ControlOptions o;
  o.socket = config.get("control.socket").as_string();
  o.group = config.get("control.group").as_string();
  if (o.enabled()) unix_address(o.socket, "control.socket");  // a path too long fails here
  if (!o.group.empty()) group_id(o.group);
  return o;
}

ControlReply control_error(const std::string& why) { return {false, json_string(why)}; }

std::string answer_control_request(const std::string& line, const ControlHandler& handler) {
  std::string command;
  std::vector<std::string> args;
  std::string_view text(line);
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  if (!text.empty() && text.front() == '{') {
    rapidjson::Document request;
    request.Parse(text.data(), text.size());
    if (request.HasParseError() || !request.IsObject()) {
      return reply_line(control_error("the request is not a JSON object"));
    }
    // HasMember and operator[] rather than iterator comparisons, which C++20 makes ambiguous in
    // RapidJSON's iterator type (clang refuses them).
    if (!request.HasMember("command") || !request["command"].IsString()) {
      return reply_line(control_error("the request has no \"command\" string"));
    }
    command = request["command"].GetString();
    if (request.HasMember("arguments")) {
      const rapidjson::Value& a = request["arguments"];
      if (!a.IsArray()) return reply_line(control_error("\"arguments\" must be an array"));
      for (const auto& v : a.GetArray()) {
        if (!v.IsString()) return reply_line(control_error("every argument must be a string"));
        args.emplace_back(v.GetString(), v.GetStringLength());
      }
    }
  } else {
    // A plain line ("flows port 443") for hand-typed use through socat.
    std::istringstream words{std::string(text)};
    words >> command;
    for (std::string w; words >> w;) args.push_back(w);
  }
  if (command.empty()) return reply_line(control_error("empty request"));
  try {
    return reply_line(handler(command, args));
  } catch (const std::exception& e) {
    return reply_line(control_error(command + ": " + e.what()));
  }
}

struct ControlServer::State {
  std::string path;
  Fd listener;
  Fd wake_read, wake_write;  // a pipe that ends the serving thread
  ControlHandler handler;
  std::thread thread;

  void serve_client(int fd) {
    std::string pending;
    char chunk[4096];
    for (;;) {
      // A client that stops talking for 5 s is dropped: one stuck client must not block others.
      pollfd p[2] = {{fd, POLLIN, 0}, {wake_read.get(), POLLIN, 0}};
      if (::poll(p, 2, 5000) <= 0 || (p[1].revents & POLLIN) != 0) return;
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return;
      pending.append(chunk, static_cast<size_t>(n));
      for (size_t nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n')) {
        const std::string line = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        if (!write_all(fd, answer_control_request(line, handler) + "\n")) return;
      }
      if (pending.size() > kMaxRequest) {
        write_all(fd, reply_line(control_error("request longer than 64 KiB")) + "\n");
        return;
      }
    }
  }

  void loop() {
    for (;;) {
      pollfd p[2] = {{listener.get(), POLLIN, 0}, {wake_read.get(), POLLIN, 0}};
      if (::poll(p, 2, -1) < 0 && errno != EINTR) return;
      if ((p[1].revents & POLLIN) != 0) return;
      if ((p[0].revents & POLLIN) == 0) continue;
      Fd client(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (client.get() >= 0) serve_client(client.get());
    }
  }
};

ControlServer::ControlServer(const ControlOptions& options, ControlHandler handler)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.path = options.socket;
  s.handler = std::move(handler);
  const sockaddr_un addr = unix_address(s.path, "control.socket");
  const std::string what = "control.socket: " + s.path;
  const std::optional<gid_t> gid =
      options.group.empty() ? std::nullopt : std::optional<gid_t>(group_id(options.group));
  struct stat st {};
  if (::lstat(s.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) throw core::RuntimeError(what + ": exists and is not a socket");
    if (someone_listens(addr)) {
      throw core::RuntimeError(what + ": another process is listening on it");
    }
    ::unlink(s.path.c_str());  // left by a run that did not end cleanly
  }
  s.listener = Fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.listener.get() < 0) throw core::RuntimeError(what + ": " + errno_text());
  // Created without permissions for others, then opened to the group.
  const mode_t old_mask = ::umask(0177);
  const int bound = ::bind(s.listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::umask(old_mask);
  if (bound != 0) throw core::RuntimeError(what + ": cannot bind: " + errno_text());
  if (gid && ::chown(s.path.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
    ::unlink(s.path.c_str());
    throw core::RuntimeError("control.group: " + options.group +
                             ": cannot give it the socket: " + errno_text());
  }
  if (::chmod(s.path.c_str(), 0660) != 0 || ::listen(s.listener.get(), 8) != 0) {
    ::unlink(s.path.c_str());
    throw core::RuntimeError(what + ": " + errno_text());
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ::unlink(s.path.c_str());
    throw core::RuntimeError(what + ": " + errno_text());
  }
  s.wake_read = Fd(pipe_fds[0]);
  s.wake_write = Fd(pipe_fds[1]);
  s.thread = std::thread([&s] { s.loop(); });
  core::logger("ops")->info("control socket {} (spanguard ctl --socket {})", s.path, s.path);
}

ControlServer::~ControlServer() {
  State& s = *state_;
  const char stop = 1;
  if (::write(s.wake_write.get(), &stop, 1) < 0) {
    // The thread then ends at its next wake-up; nothing else can be done here.
  }
  s.thread.join();
  ::unlink(s.path.c_str());
}

std::string control_request(const std::string& socket, const std::string& command,
                            const std::vector<std::string>& args, int timeout_ms) {
  const sockaddr_un addr = unix_address(socket, "--socket");
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0 ||
      ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    throw core::RuntimeError(socket + ": cannot connect: " + errno_text() +
                             " (is the sensor running with control.socket set?)");
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("command");
  writer.String(command.c_str());
  writer.Key("arguments");
  writer.StartArray();
  for (const std::string& a : args) writer.String(a.c_str());
  writer.EndArray();
  writer.EndObject();
  if (!write_all(fd.get(), std::string(buffer.GetString()) + "\n")) {
    throw core::RuntimeError(socket + ": cannot send: " + errno_text());
  }
  std::string reply;
  char chunk[4096];
  for (;;) {
    if (!wait_readable(fd.get(), timeout_ms)) {
      throw core::RuntimeError(socket + ": no answer within " + std::to_string(timeout_ms) + " ms");
    }
    const ssize_t n = ::recv(fd.get(), chunk, sizeof chunk, 0);
    if (n <= 0) throw core::RuntimeError(socket + ": the sensor closed the connection");
    reply.append(chunk, static_cast<size_t>(n));
    if (const size_t nl = reply.find('\n'); nl != std::string::npos) return reply.substr(0, nl);
  }
}

}  // namespace spanguard::ops
