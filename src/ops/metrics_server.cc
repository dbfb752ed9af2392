// GET /metrics and GET /healthz over cpp-httplib. The server owns two request threads of its own;
// each request takes a fresh snapshot from the provider, so nothing is cached between scrapes and
// the sensor's threads never wait for a scraper.
#include "spanguard/ops/metrics_server.h"

#include <fcntl.h>
#include <httplib.h>
#include <netdb.h>
#include <spdlog/fmt/fmt.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

#include "spanguard/core/error.h"
#include "spanguard/core/log.h"

namespace spanguard::ops {

namespace {

constexpr core::Param kParams[] = {
    {.name = "listen",
     .type = core::ParamType::kString,
     .default_value = "\"\"",
     .help = "Address of the Prometheus endpoint (GET /metrics, GET /healthz) as HOST:PORT, IPv6 "
             "in brackets ([::1]:9100); empty: no endpoint"},
    {.name = "stall_seconds",
     .type = core::ParamType::kDuration,
     .default_value = "60s",
     .help = "/healthz answers 503 when a capture source has delivered no frame for this long (an "
             "idle mirror port counts: it has usually lost its SPAN session); 0: never",
     .min = 0,
     .max = 86400},
    {.name = "max_drop_ratio",
     .type = core::ParamType::kString,
     .default_value = "0.01",
     .help = "/healthz answers 503 when a capture source's kernel drops exceed this share of its "
             "frames between two checks: a number from 0 to 1 (0.01 = 1%; 1: never)"},
};

constexpr core::ParamSection kSection{"metrics", "Prometheus metrics and health endpoint", kParams};

// Requests are rare (a scrape every few seconds, a health probe): two threads serve them.
constexpr size_t kServerThreads = 2;

core::ConfigError bad_listen(std::string_view text, std::string_view reason) {
  return core::ConfigError(fmt::format("metrics.listen: '{}': {}", text, reason));
}

// The resolver's view of `host`, to fail with its reason rather than a bare "cannot bind".
void check_resolvable(const std::string& host, std::string_view listen) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
  if (rc != 0) {
    throw core::RuntimeError(
        fmt::format("metrics.listen: '{}': cannot resolve '{}': {}", listen, host,
                    rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc)));
  }
  freeaddrinfo(result);
}

}  // namespace

const core::ParamSection& metrics_params() { return kSection; }

ListenAddress parse_listen_address(std::string_view text) {
  constexpr std::string_view kExpected =
      "expected HOST:PORT (127.0.0.1:9100, 0.0.0.0:9100, [::1]:9100)";
  ListenAddress address;
  std::string_view port;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) throw bad_listen(text, "no ']' after the IPv6 address");
    address.host = std::string(text.substr(1, close - 1));
    if (close + 1 >= text.size() || text[close + 1] != ':') throw bad_listen(text, kExpected);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) throw bad_listen(text, kExpected);
    address.host = std::string(text.substr(0, colon));
    if (address.host.find(':') != std::string::npos) {
      throw bad_listen(text, "an IPv6 address goes in brackets, as in [::1]:9100");
    }
    port = text.substr(colon + 1);
  }
  if (address.host.empty()) {
    throw bad_listen(text, "the host is missing (0.0.0.0:PORT listens on every IPv4 address)");
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    throw bad_listen(text, fmt::format("'{}' is not a port number (0 to 65535)", port));
  }
  address.port = static_cast<uint16_t>(value);
  return address;
}

MetricsOptions metrics_options(const core::Config& config) {
  MetricsOptions o;
  o.listen = config.get("metrics.listen").as_string();
  if (o.enabled()) parse_listen_address(o.listen);
  o.health.stall_after = config.get("metrics.stall_seconds").as_duration();

  // The configuration has no fractional type: the ratio is read from its text here.
  const core::ConfigValue& ratio = config.get("metrics.max_drop_ratio");
  const std::string& text = ratio.as_string();
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !(value >= 0) ||
      value > 1) {
    throw core::ConfigError(
        fmt::format("{}: {}: '{}' is not a number from 0 to 1", ratio.origin(), ratio.key(), text));
  }
  o.health.max_drop_ratio = value;
  return o;
}

struct MetricsServer::State {
  State(const MetricsOptions& options, MetricsProvider metrics_provider)
      : provider(std::move(metrics_provider)),
        clock(options.clock ? options.clock : [] { return HealthCheck::Clock::now(); }),
        health(options.health) {}

  void serve_metrics(httplib::Response& res) const {
    res.set_content(format_prometheus(provider()), std::string(kPrometheusContentType));
  }

  void serve_health(httplib::Response& res) {
    const MetricsSnapshot snapshot = provider();
    HealthReport report;
    {
      std::lock_guard lock(health_mutex);
      report = health.evaluate(snapshot.sources, clock());
      // Transitions only: a probe every few seconds must not repeat the same lines.
      if (report.healthy != was_healthy || report.reasons != last_reasons) {
        const auto log = core::logger("ops");
        if (report.healthy) {
          log->info("healthy again");
        } else {
          for (const std::string& reason : report.reasons) log->warn("unhealthy: {}", reason);
        }
        was_healthy = report.healthy;
        last_reasons = report.reasons;
      }
    }
    res.status = report.healthy ? 200 : 503;
    res.set_content(report.json(), "application/json");
  }

  ListenAddress address;
  int port = 0;
  MetricsProvider provider;
  std::function<HealthCheck::Clock::time_point()> clock;

  std::mutex health_mutex;
  HealthCheck health;
  bool was_healthy = true;
  std::vector<std::string> last_reasons;

  httplib::Server server;
  std::thread thread;
  std::mutex mutex;
  std::condition_variable listening;  // the thread entered its accept loop, or gave up
  bool thread_done = false;
};

MetricsServer::MetricsServer(const MetricsOptions& options, MetricsProvider provider)
    : state_(std::make_unique<State>(options, std::move(provider))) {
  State& s = *state_;
  s.address = parse_listen_address(options.listen);
  check_resolvable(s.address.host, options.listen);

  httplib::Server& server = s.server;
  // httplib's default sets SO_REUSEPORT, which lets a second process bind the same port without
  // an error and take half of the scrapes; SO_REUSEADDR alone only skips TIME_WAIT.
  server.set_socket_options([](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    fcntl(sock, F_SETFD, FD_CLOEXEC);
  });
  // One request per connection: a scraper idling on a kept-alive connection would otherwise hold
  // a request thread, and shutdown, for the keep-alive timeout.
  server.set_keep_alive_max_count(1);
  // httplib takes ownership of the queue it is handed.
  server.new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
  server.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
        std::string what = "unknown error";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        core::log_limited("ops", spdlog::level::warn, "ops.metrics_request", "GET {} failed: {}",
                          req.path, what);
        res.status = 500;
        res.set_content("internal error\n", "text/plain");
      });
  State* state = state_.get();
  server.Get("/metrics", [state](const httplib::Request&, httplib::Response& res) {
    state->serve_metrics(res);
  });
  server.Get("/healthz", [state](const httplib::Request&, httplib::Response& res) {
    state->serve_health(res);
  });

  errno = 0;
  if (s.address.port == 0) {
    s.port = server.bind_to_any_port(s.address.host);
  } else {
    s.port = server.bind_to_port(s.address.host, s.address.port) ? s.address.port : -1;
  }
  if (s.port < 0) {
    const int error = errno;
    throw core::RuntimeError(fmt::format("metrics.listen: cannot listen on '{}': {}",
                                         options.listen,
                                         error != 0 ? std::strerror(error) : "bind failed"));
  }

  s.thread = std::thread([state] {
    state->server.listen_after_bind();
    std::lock_guard lock(state->mutex);
    state->thread_done = true;
    state->listening.notify_all();
  });
  // stop() only takes effect once the accept loop runs: wait for it, so that the destructor's
  // stop() is never lost.
  std::unique_lock lock(s.mutex);
  while (!s.thread_done && !server.is_running()) {
    s.listening.wait_for(lock, std::chrono::milliseconds(1));
  }
  core::logger("ops")->info(
      "serving /metrics and /healthz on {}:{}",
      s.address.host.find(':') != std::string::npos ? "[" + s.address.host + "]" : s.address.host,
      s.port);
}

MetricsServer::~MetricsServer() {
  state_->server.stop();
  if (state_->thread.joinable()) state_->thread.join();
}

uint16_t MetricsServer::port() const { return static_cast<uint16_t>(state_->port); }

const std::string& MetricsServer::host() const { return state_->address.host; }

}  // namespace spanguard::ops
