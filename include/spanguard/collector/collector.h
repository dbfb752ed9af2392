// spanguard-collector, the SIEM side of the alert stream: accepts sensors on TLS, TCP and Unix
// sockets, writes their alerts, reset reports and flow records as EVE JSON lines, deduplicates by
// (run id, seq) across reconnects and its own restarts, and acknowledges what it has written.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "spanguard/core/counters.h"
#include "spanguard/output/tls_credentials.h"

namespace spanguard::collector {

struct CollectorOptions {
  // tls://HOST:PORT, tcp://HOST:PORT (port 0: any free port), unix:///PATH
  std::vector<std::string> listen;
  std::string out = "-";  // EVE output file, "-" for stdout
  // Dedupe state file; empty: OUT.state for a file, none for stdout (dedupe then lasts as long
  // as the process).
  std::string state;
  uint64_t max_frame = 1 << 20;
  output::TlsSettings tls{};  // for tls:// listeners: sensors must present a certificate too
  bool insecure = false;      // allow tcp:// listeners beyond the loopback address
  bool stats = true;          // each sensor heartbeat becomes an EVE stats event
};

enum class CollectorCounter : uint8_t {
  kConnections,
  kEventsWritten,
  kDuplicates,
  kAcksSent,
  kClosedBadFrame,
  kWriteErrors,
  kSensorDrops,   // alerts_dropped the sensors reported in heartbeats
  kTlsRefused,    // connections whose TLS handshake failed or timed out
  kStatsWritten,  // heartbeats written as EVE stats events
  kCount
};

class Collector {
 public:
  // Binds every listen address, loads the TLS credentials, opens the output and loads the dedupe
  // state; throws core::ConfigError (bad URL, plaintext beyond the loopback address without
  // `insecure`, TLS files) or core::RuntimeError (bind, files).
  explicit Collector(CollectorOptions options);
  ~Collector();
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // The bound addresses, with the real port where 0 was asked for.
  std::vector<std::string> listen_urls() const;

  // Serves until stop() or, with watch_signals(), SIGINT/SIGTERM; then saves the state.
  void run();
  // Any thread.
  void stop();
  // Any thread: reopen the output file (log rotation) and reload the TLS credentials for the
  // connections accepted from then on; what SIGHUP does.
  void reopen();
  // A signalfd for SIGHUP, SIGINT and SIGTERM, read by run(); the caller blocks those signals.
  void watch_signals(int signal_fd) { signal_fd_ = signal_fd; }

  uint64_t counter(CollectorCounter c) const;
  void collect(core::CounterSnapshot& out) const;
  static const core::CounterGroup& counter_group();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  int signal_fd_ = -1;
};

}  // namespace spanguard::collector
