// Real Linux TCP endpoints inside test namespaces: a one-connection server and a client, each on
// its own thread moved into its namespace, and the pieces of a reset test (a connection the test
// drives, a many-session server, how each socket ended), with every wait bounded.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "process.h"

namespace spanguard::testing {

struct TcpExchange {
  bool connected = false;
  std::string received;  // what the peer sent until it closed, reset or timed out
  int error = 0;         // errno of the first failed call (ECONNRESET when reset), 0 if none
};

// Accepts one connection on address:port inside `ns`, reads until it has `expect_bytes` bytes (or
// the peer closes), answers `reply`, and closes.
class OneShotTcpServer {
 public:
  OneShotTcpServer(const NetNamespace& ns, const std::string& address, int port,
                   size_t expect_bytes, std::string reply);
  ~OneShotTcpServer();
  bool wait_listening(std::chrono::milliseconds limit);
  TcpExchange result();  // joins the thread

 private:
  std::thread thread_;
  std::atomic<bool> listening_{false};
  std::atomic<bool> failed_{false};
  TcpExchange result_;
};

// Connects from inside `ns`, sends `request`, reads until the server closes (or `limit` passes).
TcpExchange tcp_client(const NetNamespace& ns, const std::string& address, int port,
                       const std::string& request, std::chrono::milliseconds limit);

// Runs `fn` on a thread moved into `ns` and waits for it; false if the thread could not enter.
// Sockets made there stay in that namespace and can be used from any thread afterwards.
bool run_in_namespace(const NetNamespace& ns, const std::function<void()>& fn);

// How one side of a TCP connection ended, as its application saw it.
struct SocketEnd {
  size_t bytes_received = 0;
  int error = 0;     // errno of the first failed call (ECONNRESET when reset), 0 if none
  bool eof = false;  // the peer closed in order (recv returned 0) before any error
  std::chrono::steady_clock::time_point at{};  // when the error or EOF was seen
  bool ended() const { return error != 0 || eof; }
};

// A client connection made inside a namespace and driven by the test's own thread; closed on
// destruction.
class TcpStream {
 public:
  TcpStream(const NetNamespace& ns, const std::string& address, int port,
            std::chrono::milliseconds limit);
  ~TcpStream();
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  bool connected() const { return connected_; }
  int connect_error() const { return connect_error_; }
  uint16_t local_port() const { return local_port_; }
  // Sends all of `data`; on failure the errno is kept as the stream's end and false returned.
  bool send_all(std::string_view data);
  // Reads until `bytes` have arrived, the connection ends, or `limit` passes; returns what came.
  std::string read_exactly(size_t bytes, std::chrono::milliseconds limit);
  // Reads and counts until an error, EOF or `limit`; what read_exactly returned is counted too.
  SocketEnd read_until_end(std::chrono::milliseconds limit);
  void close();

 private:
  int fd_ = -1;
  bool connected_ = false;
  int connect_error_ = 0;
  uint16_t local_port_ = 0;
  SocketEnd end_;
};

// What a server session sends after a read: `fresh` is what this read returned, `all` everything
// the connection has received so far (fresh included). An empty answer sends nothing. The answer is
// a view (of `fresh`, or of data the responder keeps) so that a large reply leaves without a copy
// first, as from a server with the answer at hand.
using Responder = std::function<std::string_view(std::string_view fresh, const std::string& all)>;

// One accepted connection, seen from the server.
struct ServerSession {
  uint16_t client_port = 0;
  std::string received;
  size_t bytes_sent = 0;
  SocketEnd end;  // end.ended() false: still open when the session limit passed
};

// Accepts connections inside `ns` and serves each on its own thread: reads, answers as `responder`
// says, and keeps reading until the peer closes or resets it or `session_limit` passes. Every
// session is kept, by client port, for the test to inspect.
class TcpSessionServer {
 public:
  TcpSessionServer(const NetNamespace& ns, const std::string& address, int port,
                   Responder responder,
                   std::chrono::milliseconds session_limit = std::chrono::seconds(5));
  ~TcpSessionServer();  // stops accepting and joins every session
  TcpSessionServer(const TcpSessionServer&) = delete;
  TcpSessionServer& operator=(const TcpSessionServer&) = delete;

  bool wait_listening(std::chrono::milliseconds limit);
  // Waits until the connection from `client_port` has been accepted and its session is reading.
  bool wait_accepted(uint16_t client_port, std::chrono::milliseconds limit);
  // Waits until that session has ended; nullopt if it was never accepted or is still running.
  std::optional<ServerSession> wait_ended(uint16_t client_port, std::chrono::milliseconds limit);

 private:
  struct Slot {
    ServerSession session;
    uint64_t generation = 0;  // tells a recurring client port's sessions apart
    bool reading = false;
    bool finished = false;
  };
  struct Worker {
    uint16_t client_port;
    uint64_t generation;
    std::thread thread;
  };
  void accept_loop(int listener);
  void serve(int fd, uint16_t client_port, uint64_t generation);
  void reap_finished(std::vector<Worker>& workers, bool all);
  template <typename Ready>
  bool wait_until(std::chrono::milliseconds limit, Ready ready);

  const Responder responder_;
  const std::chrono::milliseconds session_limit_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> listening_{false};
  std::atomic<bool> failed_{false};
  std::mutex mutex_;
  std::map<uint16_t, Slot> sessions_;  // guarded by mutex_
  std::thread acceptor_;
};

}  // namespace spanguard::testing
