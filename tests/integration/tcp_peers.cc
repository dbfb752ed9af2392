// Socket plumbing for the namespace tests.
#include "tcp_peers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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

}  // namespace spanguard::testing
