// The HTTP endpoint over real sockets on the loopback: /metrics as Prometheus scrapes it, /healthz
// turning to 503 on a stalled or dropping source (time injected, never slept), listen addresses,
// and the "metrics" configuration section.
#include "spanguard/ops/metrics_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <mutex>

#include "spanguard/core/error.h"

namespace spanguard::ops {
namespace {

using testing::HasSubstr;
using testing::StartsWith;

constexpr core::CounterDef kDefs[] = {{"packets", "Frames decoded"}};
constexpr core::CounterGroup kGroup{"decode", kDefs};

// What the sensor would report; the test moves it and the clock by hand.
struct FakeSensor {
  MetricsSnapshot snapshot() {
    std::lock_guard lock(mutex);
    MetricsSnapshot s;
    core::CounterValues values(kGroup);
    values.set(0, packets);
    s.totals.add(values);
    s.sources.push_back({.name = "eth1", .frames = frames, .kernel_dropped = kernel_dropped});
    s.gauges.push_back({.name = "output.queue_depth", .help = "Alerts queued", .value = 3});
    return s;
  }

  std::mutex mutex;
  uint64_t packets = 42;
  uint64_t frames = 100;
  uint64_t kernel_dropped = 0;
  std::atomic<int64_t> now_seconds{1000};
};

MetricsOptions loopback_options(FakeSensor& sensor) {
  MetricsOptions o;
  o.listen = "127.0.0.1:0";
  o.health = {.stall_after = std::chrono::seconds(60), .max_drop_ratio = 0.01};
  o.clock = [&sensor] {
    return HealthCheck::Clock::time_point(std::chrono::seconds(sensor.now_seconds.load()));
  };
  return o;
}

MetricsProvider provider(FakeSensor& sensor) {
  return [&sensor] { return sensor.snapshot(); };
}

httplib::Result get(const MetricsServer& server, const std::string& path) {
  httplib::Client client("127.0.0.1", server.port());
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(5));
  return client.Get(path);
}

TEST(MetricsServer, ServesPrometheusTextOnMetrics) {
  FakeSensor sensor;
  MetricsServer server(loopback_options(sensor), provider(sensor));
  ASSERT_NE(server.port(), 0);
  EXPECT_EQ(server.host(), "127.0.0.1");

  const httplib::Result res = get(server, "/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), kPrometheusContentType);
  EXPECT_EQ(res->body, format_prometheus(sensor.snapshot()));
  EXPECT_THAT(res->body, HasSubstr("\nspanguard_decode_packets_total 42\n"));
  EXPECT_THAT(res->body, HasSubstr("\nspanguard_source_frames_total{interface=\"eth1\"} 100\n"));
  EXPECT_THAT(res->body, HasSubstr("\nspanguard_output_queue_depth 3\n"));

  // Every scrape takes a fresh snapshot.
  {
    std::lock_guard lock(sensor.mutex);
    sensor.packets = 43;
  }
  const httplib::Result again = get(server, "/metrics");
  ASSERT_TRUE(again);
  EXPECT_THAT(again->body, HasSubstr("\nspanguard_decode_packets_total 43\n"));
}

TEST(MetricsServer, UnknownPathIsNotFound) {
  FakeSensor sensor;
  MetricsServer server(loopback_options(sensor), provider(sensor));
  const httplib::Result res = get(server, "/nothing");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

TEST(MetricsServer, HealthzTurnsUnhealthyWhenASourceStalls) {
  FakeSensor sensor;
  MetricsServer server(loopback_options(sensor), provider(sensor));

  httplib::Result res = get(server, "/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(res->body, "{\"status\":\"ok\"}\n");

  sensor.now_seconds += 59;
  res = get(server, "/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);

  sensor.now_seconds += 2;  // 61 s without a new frame
  res = get(server, "/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_THAT(res->body, StartsWith("{\"status\":\"unhealthy\",\"reasons\":[\"capture source "
                                    "'eth1': no frame for 61s"));

  {
    std::lock_guard lock(sensor.mutex);
    sensor.frames += 1;
  }
  res = get(server, "/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(MetricsServer, HealthzIsUnavailableWhenKernelDropsExceedTheLimit) {
  FakeSensor sensor;
  MetricsServer server(loopback_options(sensor), provider(sensor));
  httplib::Result res = get(server, "/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);

  {
    std::lock_guard lock(sensor.mutex);
    sensor.frames += 900;
    sensor.kernel_dropped += 100;  // 10% of this interval
  }
  sensor.now_seconds += 10;
  res = get(server, "/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_THAT(res->body, HasSubstr("the kernel dropped 100 of 1000 frames (10.00%)"));
  EXPECT_THAT(res->body, HasSubstr("metrics.max_drop_ratio: 0.01"));
}

TEST(MetricsServer, ProviderFailureIsAServerError) {
  MetricsOptions o;
  o.listen = "127.0.0.1:0";
  MetricsServer server(o, []() -> MetricsSnapshot { throw std::runtime_error("no engine"); });
  const httplib::Result res = get(server, "/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
}

TEST(MetricsServer, PortInUseNamesTheKeyAndTheReason) {
  FakeSensor sensor;
  MetricsServer first(loopback_options(sensor), provider(sensor));
  MetricsOptions o = loopback_options(sensor);
  o.listen = "127.0.0.1:" + std::to_string(first.port());
  try {
    MetricsServer second(o, provider(sensor));
    FAIL() << "a second server bound port " << first.port();
  } catch (const core::RuntimeError& e) {
    EXPECT_EQ(std::string(e.what()),
              "metrics.listen: cannot listen on '" + o.listen + "': Address already in use");
  }
}

TEST(MetricsServer, UnresolvableHostNamesIt) {
  FakeSensor sensor;
  MetricsOptions o = loopback_options(sensor);
  o.listen = "no-such-host.invalid:9100";
  try {
    MetricsServer server(o, provider(sensor));
    FAIL() << "bound an unresolvable host";
  } catch (const core::RuntimeError& e) {
    EXPECT_THAT(e.what(), StartsWith("metrics.listen: 'no-such-host.invalid:9100': cannot resolve "
                                     "'no-such-host.invalid': "));
  }
}

TEST(MetricsServer, ListensOnIpv6Loopback) {
  FakeSensor sensor;
  MetricsOptions o = loopback_options(sensor);
  o.listen = "[::1]:0";
  std::unique_ptr<MetricsServer> server;
  try {
    server = std::make_unique<MetricsServer>(o, provider(sensor));
  } catch (const core::RuntimeError& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  EXPECT_EQ(server->host(), "::1");
  httplib::Client client("::1", server->port());
  const httplib::Result res = client.Get("/healthz");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
}

TEST(ListenAddress, ParsesHostAndPort) {
  ListenAddress a = parse_listen_address("127.0.0.1:9100");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 9100);
  a = parse_listen_address("[::1]:9100");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 9100);
  a = parse_listen_address("localhost:0");
  EXPECT_EQ(a.host, "localhost");
  EXPECT_EQ(a.port, 0);
}

TEST(ListenAddress, BadAddressesGiveClearErrors) {
  const auto error = [](std::string_view text) -> std::string {
    try {
      parse_listen_address(text);
    } catch (const core::ConfigError& e) {
      return e.what();
    }
    return "accepted";
  };
  EXPECT_EQ(error("9100"),
            "metrics.listen: '9100': expected HOST:PORT (127.0.0.1:9100, 0.0.0.0:9100, "
            "[::1]:9100)");
  EXPECT_EQ(error("::1:9100"),
            "metrics.listen: '::1:9100': an IPv6 address goes in brackets, as in [::1]:9100");
  EXPECT_EQ(error("[::1:9100"), "metrics.listen: '[::1:9100': no ']' after the IPv6 address");
  EXPECT_THAT(error("[::1]9100"), StartsWith("metrics.listen: '[::1]9100': expected HOST:PORT"));
  EXPECT_EQ(error(":9100"),
            "metrics.listen: ':9100': the host is missing (0.0.0.0:PORT listens on every IPv4 "
            "address)");
  EXPECT_EQ(error("127.0.0.1:65536"),
            "metrics.listen: '127.0.0.1:65536': '65536' is not a port number (0 to 65535)");
  EXPECT_EQ(error("127.0.0.1:http"),
            "metrics.listen: '127.0.0.1:http': 'http' is not a port number (0 to 65535)");
  EXPECT_EQ(error("127.0.0.1:"),
            "metrics.listen: '127.0.0.1:': '' is not a port number (0 to 65535)");
}

TEST(MetricsConfig, DefaultsLeaveTheEndpointOff) {
  const core::Config config({&metrics_params()});
  const MetricsOptions o = metrics_options(config);
  EXPECT_FALSE(o.enabled());
  EXPECT_EQ(o.health.stall_after, std::chrono::seconds(60));
  EXPECT_DOUBLE_EQ(o.health.max_drop_ratio, 0.01);
}

TEST(MetricsConfig, ReadsTheSection) {
  core::Config config({&metrics_params()});
  config.load_string(
      "metrics:\n  listen: \"[::1]:9100\"\n  stall_seconds: 2m\n"
      "  max_drop_ratio: 0.005\n",
      "test.yaml");
  const MetricsOptions o = metrics_options(config);
  EXPECT_TRUE(o.enabled());
  EXPECT_EQ(o.listen, "[::1]:9100");
  EXPECT_EQ(o.health.stall_after, std::chrono::minutes(2));
  EXPECT_DOUBLE_EQ(o.health.max_drop_ratio, 0.005);
}

TEST(MetricsConfig, DocumentedExampleListsEveryKey) {
  const std::string example = core::Config({&metrics_params()}).documented_example();
  EXPECT_THAT(example, HasSubstr("listen"));
  EXPECT_THAT(example, HasSubstr("stall_seconds"));
  EXPECT_THAT(example, HasSubstr("max_drop_ratio"));
}

TEST(MetricsConfig, BadValuesNameTheKey) {
  core::Config ratio({&metrics_params()});
  ratio.set("metrics.max_drop_ratio=1.5");
  try {
    metrics_options(ratio);
    FAIL() << "accepted a ratio above 1";
  } catch (const core::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "--set: metrics.max_drop_ratio: '1.5' is not a number from 0 to 1");
  }
  core::Config listen({&metrics_params()});
  listen.set("metrics.listen=9100");
  EXPECT_THROW(metrics_options(listen), core::ConfigError);
}

}  // namespace
}  // namespace spanguard::ops
