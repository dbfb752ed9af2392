// Live capture from a real mirror port: a TCP conversation between two Linux hosts crosses a bridge
// whose ports are mirrored to the sensor; `spanguard run` must see every frame of it.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <optional>
#include <regex>

#include "process.h"
#include "span_testbed.h"
#include "summary_counters.h"
#include "tcp_peers.h"

namespace spanguard::testing {
namespace {

// Frames the kernel has delivered to the sensor's capture interface so far.
std::optional<uint64_t> interface_frames(const SpanTestbed& bed) {
  const RunResult r = run(
      {"ip", "netns", "exec", bed.sensor().name(), "cat",
       std::string("/sys/class/net/") + SpanTestbed::kCaptureInterface + "/statistics/rx_packets"});
  if (r.status != 0 || r.out.empty()) return std::nullopt;
  return std::stoull(r.out);
}

// Frames the sensor has read from its capture interface, from its /metrics endpoint.
std::optional<uint64_t> sensor_frames(const SpanTestbed& bed, int metrics_port) {
  const TcpExchange e = tcp_client(bed.sensor(), "127.0.0.1", metrics_port,
                                   "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   "Connection: close\r\n\r\n",
                                   std::chrono::seconds(2));
  std::smatch m;
  const std::regex series(std::string("spanguard_source_frames_total\\{interface=\"") +
                          SpanTestbed::kCaptureInterface + "\"\\} ([0-9]+)");
  if (!std::regex_search(e.received, m, series)) return std::nullopt;
  return std::stoull(m[1]);
}

class LiveCapture : public ::testing::TestWithParam<std::tuple<const char*, const char*, int>> {};

TEST_P(LiveCapture, SeesEveryFrameOfATcpConversationOnTheMirror) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  SpanTestbed bed;
  if (!bed.ok()) GTEST_SKIP() << bed.why();
  const auto [client_ip, server_ip, workers] = GetParam();

  Subprocess sensor({"ip", "netns", "exec", bed.sensor().name(), spanguard_binary(), "run",
                     "--interface", SpanTestbed::kCaptureInterface, "--workers",
                     std::to_string(workers), "--set", "run.allow_root=true", "--set",
                     "metrics.listen=127.0.0.1:0", "--log-level", "info"});
  ASSERT_TRUE(sensor.wait_for_stderr("capturing on mir0", std::chrono::seconds(10)))
      << sensor.stderr_text();
  ASSERT_TRUE(sensor.wait_for_stderr("/healthz", std::chrono::seconds(10))) << sensor.stderr_text();
  std::smatch port_match;
  const std::string started = sensor.stderr_text();
  ASSERT_TRUE(
      std::regex_search(started, port_match, std::regex("http://127\\.0\\.0\\.1:([0-9]+)/metrics")))
      << started;
  const int metrics_port = std::stoi(port_match[1]);

  const std::string request = "GET /index.html HTTP/1.0\r\nHost: test\r\n\r\n";
  const std::string reply(20000, 'r');  // several segments
  OneShotTcpServer server(bed.server(), server_ip, 8080, request.size(), reply);
  ASSERT_TRUE(server.wait_listening(std::chrono::seconds(5)));
  const TcpExchange client =
      tcp_client(bed.client(), server_ip, 8080, request, std::chrono::seconds(5));
  const TcpExchange served = server.result();
  ASSERT_TRUE(client.connected) << "error " << client.error;
  EXPECT_EQ(client.received.size(), reply.size());
  EXPECT_EQ(served.received, request);

  // Once the sensor has read every frame the mirror delivered so far (the conversation's last ones
  // included: the kernel counts a frame on the interface before the peers see the next one), stop
  // it as an operator would.
  const std::optional<uint64_t> delivered = interface_frames(bed);
  ASSERT_TRUE(delivered) << "cannot read the capture interface's counters";
  std::optional<uint64_t> read;
  for (int poll = 0; poll < 250 && read.value_or(0) < *delivered; ++poll) {
    read = sensor_frames(bed, metrics_port);
    if (read.value_or(0) < *delivered) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(read.value_or(0), *delivered) << "the sensor did not read every mirrored frame";
  sensor.signal(SIGTERM);
  ASSERT_EQ(sensor.wait(std::chrono::seconds(10)), 0) << sensor.stderr_text();
  const std::string summary = sensor.stderr_text();
  // Handshake, request, at least 20000/1448 reply segments, their ACKs, and the teardown.
  const std::optional<uint64_t> tcp = summary_counter(summary, "transport", "tcp");
  ASSERT_TRUE(tcp) << summary;
  EXPECT_GE(*tcp, 3u + 1u + 14u + 2u) << summary;
  const bool v6 = std::string(client_ip).find(':') != std::string::npos;
  EXPECT_EQ(summary_counter(summary, "network", v6 ? "ipv6" : "ipv4"), tcp) << summary;
  EXPECT_NE(summary.find("malformed  none"), std::string::npos) << summary;
  // The capture line is there (it counts the frames received); a drop would be listed on it.
  EXPECT_EQ(summary_counter_or_zero(summary, "capture", "kernel_dropped"), 0u) << summary;
}

// SIGHUP (log rotation) and SIGTERM (systemctl stop) must reach the sensor's signal watcher even
// though the alert stream and the responder start threads of their own before it exists: a thread
// that did not block them would take the signal's default action and end the sensor mid-run,
// alerts undrained.
TEST(LiveCaptureSignals, HangupReopensAndTerminateStopsWithThreadsRunning) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  NetNamespace ns("sgsig");
  if (!ns.ok() || ns.exec("ip link set lo up") != 0) GTEST_SKIP() << "cannot make a namespace";
  const std::string eve = temp_path("signals.eve.json");
  Subprocess sensor({"ip", "netns", "exec", ns.name(), spanguard_binary(), "run", "--interface",
                     "lo", "--eve", eve, "--set", "output.socket.listen=tcp://127.0.0.1:0", "--set",
                     "run.allow_root=true", "--log-level", "info"});
  ASSERT_TRUE(sensor.wait_for_stderr("running with", std::chrono::seconds(10)))
      << sensor.stderr_text();
  for (int i = 0; i < 3; ++i) {
    sensor.signal(SIGHUP);
    // Each SIGHUP logs one "reopened": wait for the i-th.
    size_t reopened = 0;
    for (int poll = 0; poll < 500 && reopened <= static_cast<size_t>(i); ++poll) {
      const std::string log = sensor.stderr_text();
      reopened = 0;
      for (size_t at = log.find("reopened"); at != std::string::npos;
           at = log.find("reopened", at + 1)) {
        ++reopened;
      }
      if (reopened <= static_cast<size_t>(i)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    ASSERT_EQ(reopened, static_cast<size_t>(i + 1)) << sensor.stderr_text();
    ASSERT_EQ(sensor.wait(std::chrono::milliseconds(50)), -1) << "SIGHUP ended the sensor\n"
                                                              << sensor.stderr_text();
  }
  sensor.signal(SIGTERM);
  ASSERT_EQ(sensor.wait(std::chrono::seconds(10)), 0) << sensor.stderr_text();
  EXPECT_NE(sensor.stderr_text().find("spanguard run"), std::string::npos) << sensor.stderr_text();
}

// SIGTERM stops a sensor whose idle workers sleep in poll() for up to capture.timeout at once:
// the stop wakes them, whatever the timeout (one worker, and two in a fanout group).
TEST(LiveCaptureSignals, TerminateWakesWorkersAsleepInPoll) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  NetNamespace ns("sgstop");
  if (!ns.ok() || ns.exec("ip link set lo up") != 0) GTEST_SKIP() << "cannot make a namespace";
  for (const char* workers : {"1", "2"}) {
    Subprocess sensor({"ip", "netns", "exec", ns.name(), spanguard_binary(), "run", "--interface",
                       "lo", "--workers", workers, "--set", "capture.timeout=10s", "--set",
                       "capture.busy_poll=no", "--set", "run.allow_root=true", "--log-level",
                       "info"});
    ASSERT_TRUE(sensor.wait_for_stderr("running with", std::chrono::seconds(10)))
        << sensor.stderr_text();
    const auto start = std::chrono::steady_clock::now();
    sensor.signal(SIGTERM);
    ASSERT_EQ(sensor.wait(std::chrono::seconds(20)), 0) << sensor.stderr_text();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3))
        << workers << " worker(s) waited for their poll() timeout";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Families, LiveCapture,
    ::testing::Values(std::make_tuple(SpanTestbed::kClientV4, SpanTestbed::kServerV4, 1),
                      std::make_tuple(SpanTestbed::kClientV6, SpanTestbed::kServerV6, 1),
                      std::make_tuple(SpanTestbed::kClientV4, SpanTestbed::kServerV4, 2)));

}  // namespace
}  // namespace spanguard::testing
