// The optional HTTP endpoint for monitoring: GET /metrics (Prometheus text format) and GET
// /healthz (200 or 503 with the reasons, as JSON). It runs on its own threads and sees the sensor
// only through a snapshot provider, never touching worker state.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "spanguard/core/config.h"
#include "spanguard/ops/health.h"
#include "spanguard/ops/metrics.h"

namespace spanguard::ops {

// The "metrics" configuration section (listen, stall_seconds, max_drop_ratio).
const core::ParamSection& metrics_params();

struct ListenAddress {
  std::string host;  // an address or a name, without IPv6 brackets
  uint16_t port = 0;
};

// "127.0.0.1:9100", "0.0.0.0:9100", "[::1]:9100", "localhost:9100"; port 0 picks a free port.
// Throws core::ConfigError "metrics.listen: 'TEXT': reason".
ListenAddress parse_listen_address(std::string_view text);

struct MetricsOptions {
  std::string listen;  // empty: no endpoint
  HealthPolicy health;
  // Time for the health check; empty means std::chrono::steady_clock::now.
  std::function<HealthCheck::Clock::time_point()> clock;

  bool enabled() const { return !listen.empty(); }
};

// Reads the "metrics" section; the listen address is validated here already.
MetricsOptions metrics_options(const core::Config& config);

// Called on a server thread for every request, possibly from two threads at once: it must only
// read what is safe to read while the sensor runs (counter snapshots, source statistics).
using MetricsProvider = std::function<MetricsSnapshot()>;

class MetricsServer {
 public:
  // Binds the listen address and starts serving. Throws core::ConfigError for a malformed
  // address and core::RuntimeError naming metrics.listen and the reason when binding fails.
  MetricsServer(const MetricsOptions& options, MetricsProvider provider);
  // Stops accepting, finishes requests in progress, joins the threads.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The bound port: the configured one, or the one the kernel chose for port 0.
  uint16_t port() const;
  const std::string& host() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace spanguard::ops
