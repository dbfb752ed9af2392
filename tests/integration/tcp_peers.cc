// Socket plumbing for the namespace tests.
#include "tcp_peers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace spanguard::testing {

namespace {

// Fills a sockaddr for a literal IPv4 or IPv6 address.
socklen_t make_address(const std::string& address, int port, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof out);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
  if (inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    return sizeof(sockaddr_in);
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr);
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(static_cast<uint16_t>(port));
  return sizeof(sockaddr_in6);
}

bool wait_readable(int fd, std::chrono::milliseconds limit) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(limit.count())) > 0;
}

// Reads until EOF, error, `want` bytes, or the deadline.
void read_some(int fd, TcpExchange& x, size_t want,
               std::chrono::steady_clock::time_point deadline) {
  char buf[65536];
  while (x.received.size() < want) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !wait_readable(fd, left)) return;
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (x.error == 0) x.error = errno;
      return;
    }
    if (n == 0) return;
    x.received.append(buf, static_cast<size_t>(n));
  }
}

uint16_t port_of(const sockaddr_storage& sa) {
  return ntohs(sa.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in&>(sa).sin_port
                                       : reinterpret_cast<const sockaddr_in6&>(sa).sin6_port);
}

// Blocking calls wake up this often so that loops can honour their deadlines and a stop request.
constexpr timeval kWakeUp{0, 20000};

void set_timeouts_and_nodelay(int fd) {
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &kWakeUp, sizeof kWakeUp);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &kWakeUp, sizeof kWakeUp);
  // Requests and answers leave as soon as they are written, as in the interactive protocols the
  // sensor protects.
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

bool timed_out(int error) { return error == EAGAIN || error == EWOULDBLOCK || error == EINTR; }

// Sends all of `data` before `deadline`; returns 0 or the errno of the failed call (ETIMEDOUT when
// the peer would not take it in time).
int send_until(int fd, std::string_view data, std::chrono::steady_clock::time_point deadline,
               size_t& sent, const std::atomic<bool>* stopping = nullptr) {
  while (!data.empty()) {
    if (std::chrono::steady_clock::now() >= deadline || (stopping != nullptr && *stopping)) {
      return ETIMEDOUT;
    }
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (timed_out(errno)) continue;
      return errno;
    }
    sent += static_cast<size_t>(n);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

}  // namespace

OneShotTcpServer::OneShotTcpServer(const NetNamespace& ns, const std::string& address, int port,
                                   size_t expect_bytes, std::string reply) {
  thread_ = std::thread([this, &ns, address, port, expect_bytes, reply = std::move(reply)] {
    if (!ns.enter_this_thread()) {
      failed_ = true;
      return;
    }
    sockaddr_storage sa;
    const socklen_t len = make_address(address, port, sa);
    const int ls = socket(sa.ss_family, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, reinterpret_cast<sockaddr*>(&sa), len) != 0 || listen(ls, 4) != 0) {
      failed_ = true;
      close(ls);
      return;
    }
    listening_ = true;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    if (wait_readable(ls, std::chrono::seconds(10))) {
      const int fd = accept(ls, nullptr, nullptr);
      if (fd >= 0) {
        result_.connected = true;
        read_some(fd, result_, expect_bytes, deadline);
        if (!reply.empty() && send(fd, reply.data(), reply.size(), MSG_NOSIGNAL) < 0 &&
            result_.error == 0) {
          result_.error = errno;
        }
        close(fd);
      }
    }
    close(ls);
  });
}

OneShotTcpServer::~OneShotTcpServer() {
  if (thread_.joinable()) thread_.join();
}

bool OneShotTcpServer::wait_listening(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!listening_ && !failed_ && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return listening_;
}

TcpExchange OneShotTcpServer::result() {
  if (thread_.joinable()) thread_.join();
  return result_;
}

TcpExchange tcp_client(const NetNamespace& ns, const std::string& address, int port,
                       const std::string& request, std::chrono::milliseconds limit) {
  TcpExchange x;
  std::thread t([&] {
    if (!ns.enter_this_thread()) {
      x.error = EPERM;
      return;
    }
    sockaddr_storage sa;
    const socklen_t len = make_address(address, port, sa);
    const int fd = socket(sa.ss_family, SOCK_STREAM, 0);
    const timeval tv{static_cast<time_t>(limit.count() / 1000),
                     static_cast<suseconds_t>(limit.count() % 1000 * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
      x.error = errno;
      close(fd);
      return;
    }
    x.connected = true;
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) x.error = errno;
    read_some(fd, x, SIZE_MAX, std::chrono::steady_clock::now() + limit);
    close(fd);
  });
  t.join();
  return x;
}

bool run_in_namespace(const NetNamespace& ns, const std::function<void()>& fn) {
  bool entered = false;
  std::thread t([&] {
    entered = ns.enter_this_thread();
    if (entered) fn();
  });
  t.join();
  return entered;
}

TcpStream::TcpStream(const NetNamespace& ns, const std::string& address, int port,
                     std::chrono::milliseconds limit) {
  const bool entered = run_in_namespace(ns, [&] {
    sockaddr_storage sa;
    const socklen_t len = make_address(address, port, sa);
    fd_ = socket(sa.ss_family, SOCK_STREAM, 0);
    if (fd_ < 0) {
      connect_error_ = errno;
      return;
    }
    // connect() gives up after SO_SNDTIMEO; the short wake-up interval is set once connected.
    const timeval tv{static_cast<time_t>(limit.count() / 1000),
                     static_cast<suseconds_t>(limit.count() % 1000 * 1000)};
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
      connect_error_ = errno;
      return;
    }
    connected_ = true;
    set_timeouts_and_nodelay(fd_);
    sockaddr_storage local;
    socklen_t local_len = sizeof local;
    if (getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &local_len) == 0) {
      local_port_ = port_of(local);
    }
  });
  if (!entered) connect_error_ = EPERM;
}

TcpStream::~TcpStream() { close(); }

void TcpStream::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool TcpStream::send_all(std::string_view data) {
  if (!connected_ || end_.ended()) return false;
  size_t sent = 0;
  const int error =
      send_until(fd_, data, std::chrono::steady_clock::now() + std::chrono::seconds(5), sent);
  if (error != 0) {
    end_.error = error;
    end_.at = std::chrono::steady_clock::now();
  }
  return error == 0;
}

std::string TcpStream::read_exactly(size_t bytes, std::chrono::milliseconds limit) {
  TcpExchange x;
  if (connected_ && !end_.ended()) {
    read_some(fd_, x, bytes, std::chrono::steady_clock::now() + limit);
    end_.bytes_received += x.received.size();
    if (x.error != 0) {
      end_.error = x.error;
      end_.at = std::chrono::steady_clock::now();
    }
  }
  return x.received;
}

SocketEnd TcpStream::read_until_end(std::chrono::milliseconds limit) {
  if (!connected_ || end_.ended()) return end_;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[65536];
  while (std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      end_.bytes_received += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && timed_out(errno)) continue;
    end_.at = std::chrono::steady_clock::now();
    if (n == 0) {
      end_.eof = true;
    } else {
      end_.error = errno;
    }
    break;
  }
  return end_;
}

TcpSessionServer::TcpSessionServer(const NetNamespace& ns, const std::string& address, int port,
                                   Responder responder, std::chrono::milliseconds session_limit)
    : responder_(std::move(responder)), session_limit_(session_limit) {
  acceptor_ = std::thread([this, &ns, address, port] {
    if (!ns.enter_this_thread()) {
      failed_ = true;
      return;
    }
    sockaddr_storage sa;
    const socklen_t len = make_address(address, port, sa);
    const int listener = socket(sa.ss_family, SOCK_STREAM, 0);
    const int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener, reinterpret_cast<sockaddr*>(&sa), len) != 0 || listen(listener, 64) != 0) {
      failed_ = true;
      ::close(listener);
      return;
    }
    listening_ = true;
    accept_loop(listener);
    ::close(listener);
  });
}

TcpSessionServer::~TcpSessionServer() {
  stopping_ = true;
  if (acceptor_.joinable()) acceptor_.join();
}

void TcpSessionServer::accept_loop(int listener) {
  std::vector<Worker> workers;
  uint64_t generation = 0;
  while (!stopping_) {
    reap_finished(workers, false);
    pollfd p{listener, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    const int fd = accept(listener, reinterpret_cast<sockaddr*>(&peer), &peer_len);
    if (fd < 0) continue;
    const uint16_t client_port = port_of(peer);
    {
      std::lock_guard lock(mutex_);
      Slot& slot = sessions_[client_port];
      slot = Slot{};
      slot.session.client_port = client_port;
      slot.generation = ++generation;
    }
    workers.push_back({client_port, generation, std::thread([this, fd, client_port, generation] {
                         serve(fd, client_port, generation);
                       })});
  }
  reap_finished(workers, true);
}

// Joins the sessions that are over, so that a long benchmark does not pile up threads.
void TcpSessionServer::reap_finished(std::vector<Worker>& workers, bool all) {
  for (auto it = workers.begin(); it != workers.end();) {
    bool done = all;
    if (!done) {
      std::lock_guard lock(mutex_);
      const auto slot = sessions_.find(it->client_port);
      done = slot == sessions_.end() || slot->second.generation != it->generation ||
             slot->second.finished;
    }
    if (done) {
      it->thread.join();
      it = workers.erase(it);
    } else {
      ++it;
    }
  }
}

void TcpSessionServer::serve(int fd, uint16_t client_port, uint64_t generation) {
  set_timeouts_and_nodelay(fd);
  ServerSession s;
  s.client_port = client_port;
  const auto deadline = std::chrono::steady_clock::now() + session_limit_;
  auto end_with = [&](int error, bool eof) {
    s.end.error = error;
    s.end.eof = eof;
    s.end.at = std::chrono::steady_clock::now();
  };
  {
    std::lock_guard lock(mutex_);
    Slot& slot = sessions_[client_port];
    if (slot.generation == generation) slot.reading = true;
  }
  char buf[65536];
  while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && timed_out(errno)) continue;
    if (n <= 0) {
      end_with(n == 0 ? 0 : errno, n == 0);
      break;
    }
    const std::string_view fresh(buf, static_cast<size_t>(n));
    s.received.append(fresh);
    s.end.bytes_received += fresh.size();
    const std::string_view answer = responder_(fresh, s.received);
    if (answer.empty()) continue;
    const int error = send_until(fd, answer, deadline, s.bytes_sent, &stopping_);
    if (error == ETIMEDOUT) break;  // still open: neither reset nor closed
    if (error != 0) {
      end_with(error, false);
      break;
    }
  }
  ::close(fd);
  std::lock_guard lock(mutex_);
  Slot& slot = sessions_[client_port];
  if (slot.generation != generation) return;  // the port was reused by a newer session
  slot.session = std::move(s);
  slot.finished = true;
}

template <typename Ready>
bool TcpSessionServer::wait_until(std::chrono::milliseconds limit, Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (ready()) return true;
    }
    if (failed_ || std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

bool TcpSessionServer::wait_listening(std::chrono::milliseconds limit) {
  wait_until(limit, [this] { return listening_.load() || failed_.load(); });
  return listening_;
}

bool TcpSessionServer::wait_accepted(uint16_t client_port, std::chrono::milliseconds limit) {
  return wait_until(limit, [&] {
    const auto it = sessions_.find(client_port);
    return it != sessions_.end() && (it->second.reading || it->second.finished);
  });
}

std::optional<ServerSession> TcpSessionServer::wait_ended(uint16_t client_port,
                                                          std::chrono::milliseconds limit) {
  std::optional<ServerSession> result;
  wait_until(limit, [&] {
    const auto it = sessions_.find(client_port);
    if (it == sessions_.end() || !it->second.finished) return false;
    result = it->second.session;
    return true;
  });
  return result;
}

}  // namespace spanguard::testing
