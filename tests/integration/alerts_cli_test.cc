// `spanguard replay --alerts URL` against a real spanguard-collector on loopback: every alert the
// replay finds arrives once, numbered as in the sensor's own EVE output; with the collector away
// the alerts wait in the spool and the next run delivers them first.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>

#include "capture_writer.h"
#include "process.h"
#include "summary_counters.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

using namespace std::chrono_literals;

// A member of an EVE line as text; nullopt when the line has no such member, so that two absent
// members never compare equal by accident.
std::optional<std::string> field(const std::string& line, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(line, m, std::regex("\"" + name + "\":\"?([^\",}]*)"))) {
    return std::nullopt;
  }
  return m[1];
}

// A capture with `n` requests that each trigger the rule, on their own connections.
std::string capture_with_alerts(const std::string& name, int n, uint16_t first_port) {
  const std::string path = temp_path(name);
  CaptureWriter w(path);
  int64_t ts = 1'700'000'000'000'000'000;
  for (int i = 0; i < n; ++i) {
    TcpConversation c({"198.51.100.1", static_cast<uint16_t>(first_port + i), kClientMac},
                      {"198.51.100.2", 80, kServerMac});
    std::vector<Bytes> frames = c.handshake();
    for (const Bytes& f : c.client_sends("GET /?q=ALERT-ME HTTP/1.1\r\n\r\n")) frames.push_back(f);
    for (const Bytes& f : c.close()) frames.push_back(f);
    for (const Bytes& f : frames) w.write(f, ts += 1000);
  }
  return path;
}

std::string rules_file() {
  const std::string path = temp_path("alerts-cli.rules");
  std::ofstream(path) << "alert tcp any any -> any 80 (msg:\"alert me\"; content:\"ALERT-ME\"; "
                         "sid:77;)\n";
  return path;
}

TEST(AlertsCli, ReplayDeliversEveryAlertOnceWithTheSensorsNumbering) {
  const std::string out = temp_path("collected.json");
  std::filesystem::remove(out);
  Collector collector(out);
  ASSERT_FALSE(collector.url().empty()) << collector.log();
  const std::string eve = temp_path("sensor-eve.json");
  const RunResult r = run({spanguard_binary(), "replay", "--pcap",
                           capture_with_alerts("alerts-cli.pcap", 25, 41000), "--rules",
                           rules_file(), "--eve", eve, "--alerts", collector.url(), "--set",
                           "flow.records=no", "--set", "output.eve.stats_interval=0"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<std::string> sensor = lines_of(eve);
  ASSERT_EQ(sensor.size(), 25u);
  // The replay waited for the acknowledgements before it exited: everything is already written.
  const std::vector<std::string> collected = lines_of(out);
  ASSERT_EQ(collected.size(), 25u) << collector.log() << r.err;
  for (size_t i = 0; i < collected.size(); ++i) {
    EXPECT_EQ(field(collected[i], "event_type"), "alert");
    EXPECT_EQ(field(collected[i], "seq"), std::to_string(i + 1));
    EXPECT_EQ(field(collected[i], "seq"), field(sensor[i], "seq"));
    ASSERT_TRUE(field(sensor[i], "src_port")) << sensor[i];
    EXPECT_EQ(field(collected[i], "src_port"), field(sensor[i], "src_port"));
    EXPECT_EQ(field(collected[i], "signature_id"), "77");
    EXPECT_NE(field(collected[i], "run_id").value_or(""), "") << collected[i];
  }
  EXPECT_EQ(summary_counter(r.err, "output", "acked"), 25u) << r.err;
}

TEST(AlertsCli, AlertsSpooledWhileTheCollectorIsAwayArriveWithTheNextRun) {
  const std::string spool = temp_path("alerts-spool");
  std::filesystem::remove_all(spool);
  std::filesystem::create_directories(spool);
  // No collector: the replay spools what it could not deliver and still succeeds.
  const RunResult away =
      run({spanguard_binary(), "replay", "--pcap",
           capture_with_alerts("alerts-away.pcap", 5, 42000), "--rules", rules_file(), "--alerts",
           "tcp://127.0.0.1:1", "--set", "output.spool.dir=" + spool, "--set",
           "output.drain_timeout=200ms", "--set", "flow.records=no"});
  ASSERT_EQ(away.status, 0) << away.err;
  EXPECT_EQ(summary_counter(away.err, "output", "spooled"), 5u) << away.err;

  const std::string out = temp_path("collected-spool.json");
  std::filesystem::remove(out);
  Collector collector(out);
  ASSERT_FALSE(collector.url().empty()) << collector.log();
  const RunResult next =
      run({spanguard_binary(), "replay", "--pcap",
           capture_with_alerts("alerts-next.pcap", 2, 43000), "--rules", rules_file(), "--alerts",
           collector.url(), "--set", "output.spool.dir=" + spool, "--set", "flow.records=no"});
  ASSERT_EQ(next.status, 0) << next.err;
  const std::vector<std::string> collected = lines_of(out);
  ASSERT_EQ(collected.size(), 7u) << collector.log() << next.err;
  // The earlier run's five first, under their own run id and numbers, then this run's two.
  const std::optional<std::string> earlier = field(collected[0], "run_id");
  ASSERT_TRUE(earlier) << collected[0];
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(field(collected[i], "run_id"), earlier);
    EXPECT_EQ(field(collected[i], "seq"), std::to_string(i + 1));
  }
  ASSERT_TRUE(field(collected[5], "run_id")) << collected[5];
  EXPECT_NE(field(collected[5], "run_id"), earlier);
  EXPECT_EQ(field(collected[5], "seq"), "1");
  EXPECT_EQ(field(collected[6], "seq"), "2");
}

TEST(AlertsCli, ABadAlertsUrlIsAUsageErrorNamingIt) {
  const RunResult r =
      run({spanguard_binary(), "replay", "--pcap", capture_with_alerts("alerts-bad.pcap", 1, 44000),
           "--alerts", "http://collector:80"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("http://collector:80"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace spanguard::testing
