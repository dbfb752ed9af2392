// Live capture from a real mirror port: a TCP conversation between two Linux hosts crosses a bridge
// whose ports are mirrored to the sensor; `spanguard run` must see every frame of it.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <regex>

#include "process.h"
#include "span_testbed.h"
#include "tcp_peers.h"

namespace spanguard::testing {
namespace {

// Reads "<name> N" from the summary's counter lines ("tcp 12", "ipv4 30").
uint64_t summary_count(const std::string& summary, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(summary, m, std::regex("[ ,]" + name + " ([0-9,]+)"))) return 0;
  std::string digits = m[1];
  std::erase(digits, ',');
  return std::stoull(digits);
}

class LiveCapture : public ::testing::TestWithParam<std::tuple<const char*, const char*, int>> {};

TEST_P(LiveCapture, SeesEveryFrameOfATcpConversationOnTheMirror) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  SpanTestbed bed;
  if (!bed.ok()) GTEST_SKIP() << bed.why();
  const auto [client_ip, server_ip, workers] = GetParam();

  Subprocess sensor({"ip", "netns", "exec", bed.sensor().name(), spanguard_binary(), "run",
                     "--interface", SpanTestbed::kCaptureInterface, "--workers",
                     std::to_string(workers), "--set", "run.allow_root=true", "--log-level",
                     "info"});
  ASSERT_TRUE(sensor.wait_for_stderr("capturing on mir0", std::chrono::seconds(10)))
      << sensor.stderr_text();

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

  // Let the last frames through the mirror, then stop the sensor as an operator would.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  sensor.signal(SIGTERM);
  ASSERT_EQ(sensor.wait(std::chrono::seconds(10)), 0) << sensor.stderr_text();
  const std::string summary = sensor.stderr_text();
  // Handshake, request, at least 20000/1448 reply segments, their ACKs, and the teardown.
  EXPECT_GE(summary_count(summary, "tcp"), 3u + 1u + 14u + 2u) << summary;
  const bool v6 = std::string(client_ip).find(':') != std::string::npos;
  EXPECT_EQ(summary_count(summary, v6 ? "ipv6" : "ipv4"), summary_count(summary, "tcp")) << summary;
  EXPECT_NE(summary.find("malformed  none"), std::string::npos) << summary;
  EXPECT_EQ(summary_count(summary, "kernel_dropped"), 0u);
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

INSTANTIATE_TEST_SUITE_P(
    Families, LiveCapture,
    ::testing::Values(std::make_tuple(SpanTestbed::kClientV4, SpanTestbed::kServerV4, 1),
                      std::make_tuple(SpanTestbed::kClientV6, SpanTestbed::kServerV6, 1),
                      std::make_tuple(SpanTestbed::kClientV4, SpanTestbed::kServerV4, 2)));

}  // namespace
}  // namespace spanguard::testing
