// Socket set-up for the alert stream: resolution, non-blocking connects, listeners, keepalive.
#include "spanguard/output/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "spanguard/core/error.h"

namespace spanguard::output {

namespace {

SocketAddress unix_address(const std::string& path) {
  SocketAddress a;
  auto* sun = reinterpret_cast<sockaddr_un*>(&a.storage);
  sun->sun_family = AF_UNIX;
  std::memcpy(sun->sun_path, path.c_str(), path.size() + 1);  // length checked when parsed
  a.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return a;
}

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Wakeup::Wakeup(std::string_view what) : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!fd_.valid()) {
    throw core::RuntimeError(std::string(what) + ": eventfd: " + std::strerror(errno));
  }
}

void Wakeup::notify() const {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(fd_.get(), &one, sizeof one);  // full: readable
}

void Wakeup::clear() const {
  uint64_t value = 0;
  [[maybe_unused]] const ssize_t n = ::read(fd_.get(), &value, sizeof value);
}

std::string SocketAddress::text() const {
  char buf[INET6_ADDRSTRLEN] = {};
  switch (storage.ss_family) {
    case AF_INET: {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
      inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
      return std::string(buf) + ":" + std::to_string(ntohs(in->sin_port));
    }
    case AF_INET6: {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
      inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
      return "[" + std::string(buf) + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    case AF_UNIX:
      return reinterpret_cast<const sockaddr_un*>(&storage)->sun_path;
    default:
      return "?";
  }
}

std::vector<SocketAddress> resolve(const StreamUrl& url, std::string& error) {
  if (url.scheme == StreamUrl::Scheme::kUnix) return {unix_address(url.path)};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* list = nullptr;
  const std::string port = std::to_string(url.port);
  const int rc = getaddrinfo(url.host.c_str(), port.c_str(), &hints, &list);
  if (rc != 0) {
    error = url.host + ": " + gai_strerror(rc);
    return {};
  }
  std::vector<SocketAddress> out;
  for (const addrinfo* entry = list; entry != nullptr; entry = entry->ai_next) {
    if (entry->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SocketAddress a;
    std::memcpy(&a.storage, entry->ai_addr, entry->ai_addrlen);
    a.length = entry->ai_addrlen;
    out.push_back(a);
  }
  freeaddrinfo(list);
  if (out.empty()) error = url.host + ": no stream address";
  return out;
}

UniqueFd start_connect(const SocketAddress& address, std::string& error) {
  UniqueFd fd(::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    error = "socket: " + errno_text(errno);
    return {};
  }
  tune_stream_socket(fd.get());
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address.storage), address.length) !=
          0 &&
      errno != EINPROGRESS) {
    error = address.text() + ": " + errno_text(errno);
    return {};
  }
  return fd;
}

int finish_connect(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

void tune_stream_socket(int fd) {
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return;
  if (local.ss_family != AF_INET && local.ss_family != AF_INET6) return;
  // Firewalls and NAT devices expire idle TCP sessions (often after 5 to 60 minutes); probes every
  // 10 s after 30 s of silence keep the session alive and find a dead peer within about a minute.
  const int on = 1, idle = 30, interval = 10, count = 3;
  const unsigned user_timeout_ms = 60'000;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  // Keepalive does not run while data is unacknowledged; this bounds that case (RFC 5482).
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

Listener::Listener(const StreamUrl& url) {
  const auto fail = [&](const std::string& why) {
    return core::RuntimeError(url.text() + ": cannot listen: " + why);
  };
  std::string error;
  const std::vector<SocketAddress> addresses = resolve(url, error);
  if (addresses.empty()) throw fail(error);
  const SocketAddress& address = addresses.front();
  if (url.scheme == StreamUrl::Scheme::kUnix) {
    struct stat st {};
    if (::lstat(url.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) throw fail("the path exists and is not a socket");
      // A stale socket file from a process that is gone is replaced; a live one is not stolen.
      UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (probe.valid() &&
          ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address.storage),
                    address.length) == 0) {
        throw fail("another process is listening on it");
      }
      ::unlink(url.path.c_str());
    }
  }
  fd_.reset(::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd_.valid()) throw fail("socket: " + errno_text(errno));
  if (url.scheme != StreamUrl::Scheme::kUnix) {
    const int on = 1;
    setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  }
  if (::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0) {
    throw fail(errno_text(errno));
  }
  if (url.scheme == StreamUrl::Scheme::kUnix) unix_path_ = url.path;
  if (::listen(fd_.get(), 64) != 0) throw fail(errno_text(errno));

  SocketAddress bound;
  bound.length = sizeof bound.storage;
  if (url.scheme != StreamUrl::Scheme::kUnix &&
      getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&bound.storage), &bound.length) == 0) {
    StreamUrl real = url;
    real.port = ntohs(bound.storage.ss_family == AF_INET
                          ? reinterpret_cast<const sockaddr_in*>(&bound.storage)->sin_port
                          : reinterpret_cast<const sockaddr_in6*>(&bound.storage)->sin6_port);
    url_ = real.text();
  } else {
    url_ = url.text();
  }
}

Listener::~Listener() {
  if (fd_.valid() && !unix_path_.empty()) ::unlink(unix_path_.c_str());
}

Listener& Listener::operator=(Listener&& other) noexcept {
  if (this != &other) {
    if (fd_.valid() && !unix_path_.empty()) ::unlink(unix_path_.c_str());
    fd_ = std::move(other.fd_);
    url_ = std::move(other.url_);
    unix_path_ = std::move(other.unix_path_);
  }
  return *this;
}

UniqueFd Listener::accept(std::string& peer) {
  SocketAddress from;
  from.length = sizeof from.storage;
  UniqueFd fd(::accept4(fd_.get(), reinterpret_cast<sockaddr*>(&from.storage), &from.length,
                        SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (!fd.valid()) return {};
  tune_stream_socket(fd.get());
  peer = from.storage.ss_family == AF_UNIX ? url_ : from.text();
  return fd;
}

}  // namespace spanguard::output
