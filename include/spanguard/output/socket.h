// Stream sockets for the alert stream and the collector: an owned file descriptor, non-blocking
// connects to a StreamUrl's addresses, listeners, and the keepalive settings an idle alert
// connection needs to outlive a firewall's session timeout.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spanguard/output/stream_url.h"

namespace spanguard::output {

// Owns one file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// An eventfd one thread makes readable (notify) to wake another that polls it (fd()); clear()
// makes it unreadable again. Throws core::RuntimeError naming `what` when it cannot be made.
class Wakeup {
 public:
  explicit Wakeup(std::string_view what);
  int fd() const { return fd_.get(); }
  void notify() const;
  void clear() const;

 private:
  UniqueFd fd_;
};

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string text() const;  // "192.0.2.1:9000", "[2001:db8::1]:9000", "/run/x.sock"
};

// The addresses a URL names (several when a host name resolves to more than one); an empty list
// with `error` set when it names none.
std::vector<SocketAddress> resolve(const StreamUrl& url, std::string& error);

// Starts a non-blocking connect. Returns an invalid fd with `error` set when it failed at once;
// otherwise wait for writability and call finish_connect().
UniqueFd start_connect(const SocketAddress& address, std::string& error);
// 0 once connected, else the errno of the failed connect.
int finish_connect(int fd);

// TCP keepalive (probes after 30 s idle, dead after ~60 s more) and a 60 s TCP_USER_TIMEOUT so
// that unacknowledged data on a dead path fails the connection; nothing for Unix sockets.
void tune_stream_socket(int fd);

// A non-blocking listening socket; removes its Unix socket file on destruction.
class Listener {
 public:
  Listener() = default;
  // Throws core::RuntimeError naming the URL. An existing Unix socket file is replaced unless a
  // process still accepts on it.
  explicit Listener(const StreamUrl& url);
  ~Listener();
  Listener(Listener&& other) noexcept = default;
  Listener& operator=(Listener&& other) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  int fd() const { return fd_.get(); }
  bool valid() const { return fd_.valid(); }
  // The bound address as a URL: the real port when 0 was asked for.
  const std::string& url() const { return url_; }
  // A non-blocking accepted connection, or an invalid fd when none is waiting.
  UniqueFd accept(std::string& peer);

 private:
  UniqueFd fd_;
  std::string url_;
  std::string unix_path_;
};

}  // namespace spanguard::output
