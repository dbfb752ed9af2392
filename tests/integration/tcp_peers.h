// Real Linux TCP endpoints inside test namespaces: a one-connection server and a client, each on
// its own thread moved into its namespace, with every wait bounded.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

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

}  // namespace spanguard::testing
