// Running the sensor as an operator would: root refused after start-up unless allowed, the drop to
// run.user once the sockets are open (capture still working), and the metrics and health endpoint
// scraped over HTTP while it runs, /healthz turning 503 when the capture goes silent.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "process.h"
#include "reset_harness.h"
#include "tcp_peers.h"

namespace spanguard::testing {
namespace {

using namespace std::chrono_literals;

// A sensor namespace whose v0 is the capture interface, and a peer namespace on the other end of
// the veth that can put a frame on it.
struct QuietLink {
  QuietLink() : sensor("sgops"), peer("sgopp") {
    ok = sensor.ok() && peer.ok() &&
         shell("ip link add v0 netns " + sensor.name() + " type veth peer name v1 netns " +
               peer.name()) == 0 &&
         sensor.exec(
             "ip link set lo up && ip link set v0 up && ip addr add 198.51.100.11/24 "
             "dev v0") == 0 &&
         peer.exec(
             "ip link set v1 up && ip addr add 198.51.100.10/24 dev v1 && ip neigh replace "
             "198.51.100.11 lladdr 02:00:00:00:00:0b dev v1 nud permanent") == 0;
  }
  // One UDP datagram from the peer onto the sensor's capture interface.
  bool send_frame() const {
    return peer.exec("bash -c \"echo x > /dev/udp/198.51.100.11/9\"") == 0;
  }
  NetNamespace sensor, peer;
  bool ok = false;
};

std::vector<std::string> run_argv(const QuietLink& link, std::vector<std::string> sets) {
  std::vector<std::string> argv = {
      "ip",  "netns",       "exec", link.sensor.name(), spanguard_binary(),
      "run", "--interface", "v0",   "--log-level",      "info"};
  for (std::string& s : sets) {
    argv.push_back("--set");
    argv.push_back(std::move(s));
  }
  return argv;
}

// "Uid:\t65534\t65534..." -> the fields after the label, for every thread of `pid`.
std::vector<std::string> status_lines(pid_t pid, const std::string& label) {
  std::vector<std::string> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(task.path() / "status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(label + ":", 0) == 0) out.push_back(line.substr(label.size() + 1));
    }
  }
  return out;
}

pid_t sensor_pid(const QuietLink& link) {
  // `ip netns exec` execs the sensor in place; find it by its namespace.
  const RunResult r = run({"ip", "netns", "pids", link.sensor.name()});
  std::istringstream in(r.out);
  pid_t pid = -1;
  in >> pid;
  return pid;
}

TEST(Operations, RootAfterStartUpIsRefusedUnlessAllowedOrAUserIsNamed) {
  if (geteuid() != 0) GTEST_SKIP() << "the check applies to root";
  const RunResult r = run({spanguard_binary(), "run", "--interface", "lo"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("run.user"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("run.allow_root"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("rules loaded"), std::string::npos) << "refused only after the work";
}

TEST(Operations, DropsToRunUserWithOnlyTheKeptCapabilitiesAndStillCaptures) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  QuietLink link;
  if (!link.ok) GTEST_SKIP() << "cannot build the namespaces";
  Subprocess sensor(run_argv(link, {"run.user=nobody", "run.keep_caps=[]"}));
  ASSERT_TRUE(sensor.wait_for_stderr("running with", 10s)) << sensor.stderr_text();
  EXPECT_NE(sensor.stderr_text().find("running as nobody"), std::string::npos)
      << sensor.stderr_text();
  const pid_t pid = sensor_pid(link);
  ASSERT_GT(pid, 0);
  const std::vector<std::string> uids = status_lines(pid, "Uid");
  ASSERT_FALSE(uids.empty());
  for (const std::string& uid : uids) {
    EXPECT_TRUE(std::regex_match(uid, std::regex("\\s*65534\\s+65534\\s+65534\\s+65534\\s*")))
        << "Uid:" << uid;
  }
  for (const char* set : {"CapEff", "CapPrm"}) {
    for (const std::string& caps : status_lines(pid, set)) {
      EXPECT_TRUE(std::regex_match(caps, std::regex("\\s*0+\\s*"))) << set << ":" << caps;
    }
  }
  // The capture opened as root keeps delivering.
  ASSERT_TRUE(link.send_frame());
  ASSERT_TRUE(link.send_frame());
  sensor.signal(SIGTERM);
  ASSERT_EQ(sensor.wait(10s), 0) << sensor.stderr_text();
  EXPECT_GE(summary_counter(sensor.stderr_text(), "udp").value_or(0), 2u) << sensor.stderr_text();
}

// An HTTP answer: status 0 when none came.
struct Answer {
  int status = 0;
  std::string content_type;
  std::string body;
};

// Runs an HTTP GET from inside the sensor's namespace (where the endpoint listens on loopback).
Answer get(const QuietLink& link, int port, const std::string& path) {
  Answer answer;
  run_in_namespace(link.sensor, [&] {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(2);
    client.set_read_timeout(2);
    if (const httplib::Result r = client.Get(path.c_str())) {
      answer = {r->status, r->get_header_value("Content-Type"), r->body};
    }
  });
  return answer;
}

TEST(Operations, MetricsAreScrapedAndHealthTurnsUnhealthyWhenCaptureFallsSilent) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  QuietLink link;
  if (!link.ok) GTEST_SKIP() << "cannot build the namespaces";
  Subprocess sensor(run_argv(link, {"run.allow_root=true", "metrics.listen=127.0.0.1:0",
                                    "metrics.stall_seconds=1s", "pipeline.workers=2"}));
  ASSERT_TRUE(sensor.wait_for_stderr("running with", 10s)) << sensor.stderr_text();
  std::smatch m;
  const std::string log = sensor.stderr_text();
  ASSERT_TRUE(std::regex_search(log, m, std::regex("http://127\\.0\\.0\\.1:([0-9]+)/metrics")))
      << log;
  const int port = std::stoi(m[1]);

  ASSERT_TRUE(link.send_frame());
  // Scrapes until the frame shows: per worker and per interface series, help and type lines.
  std::string body;
  for (int i = 0; i < 100 && body.find("spanguard_source_frames_total{interface=\"v0\"} 1") ==
                                 std::string::npos;
       ++i) {
    const Answer r = get(link, port, "/metrics");
    ASSERT_EQ(r.status, 200) << "no answer from /metrics";
    EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    body = r.body;
    if (body.find("frames_total{interface=\"v0\"} 1") == std::string::npos) {
      std::this_thread::sleep_for(20ms);
    }
  }
  EXPECT_NE(body.find("spanguard_source_frames_total{interface=\"v0\"} 1"), std::string::npos)
      << body;
  EXPECT_NE(body.find("# TYPE spanguard_decode_packets_total counter"), std::string::npos) << body;
  EXPECT_NE(body.find("spanguard_decode_packets_total{worker=\"1\"}"), std::string::npos) << body;

  // Silent for longer than stall_seconds: 503 naming the interface; a frame makes it healthy.
  int status = 0;
  std::string why;
  for (int i = 0; i < 100 && status != 503; ++i) {
    const Answer r = get(link, port, "/healthz");
    status = r.status;
    why = r.body;
    if (status != 503) std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(status, 503) << why;
  EXPECT_NE(why.find("v0"), std::string::npos) << why;
  ASSERT_TRUE(link.send_frame());
  for (int i = 0; i < 100 && status != 200; ++i) {
    status = get(link, port, "/healthz").status;
    if (status != 200) std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(status, 200);

  sensor.signal(SIGTERM);
  ASSERT_EQ(sensor.wait(10s), 0) << sensor.stderr_text();
}

// A UDP datagram from the peer, from a fixed source port: the same port is the same flow.
bool send_udp(const QuietLink& link, int source_port, const std::string& payload) {
  static const std::string script = [] {
    const std::string path = temp_path("send_udp.py");
    std::ofstream(path) << "import socket, sys\n"
                           "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                           "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                           "s.bind(('198.51.100.10', int(sys.argv[1])))\n"
                           "s.sendto(sys.argv[2].encode(), ('198.51.100.11', 9))\n";
    return path;
  }();
  return link.peer.exec("python3 " + script + " " + std::to_string(source_port) + " " + payload) ==
         0;
}

// Waits (bounded) until the EVE file has an alert of rule `sid` from `source_port`.
bool wait_alert(const std::string& eve, int source_port, int sid) {
  for (int i = 0; i < 300; ++i) {
    for (const std::string& line : lines_of(eve)) {
      if (json_member(line, "event_type") == "alert" &&
          json_member(line, "src_port") == std::to_string(source_port) &&
          json_path(line, {"alert", "signature_id"}) == std::to_string(sid)) {
        return true;
      }
    }
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// Counts, in stderr, the lines containing `text`.
size_t log_count(const Subprocess& sensor, const std::string& text) {
  const std::string log = sensor.stderr_text();
  size_t n = 0;
  for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
  return n;
}

bool wait_log_count(const Subprocess& sensor, const std::string& text, size_t count) {
  for (int i = 0; i < 1000 && log_count(sensor, text) < count; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  return log_count(sensor, text) >= count;
}

// SIGUSR2 reloads the rules while the sensor runs: new flows follow the new set, a flow already
// tracked finishes on the set it started with, a broken file leaves the set in use active, and no
// flow is lost on the way.
TEST(Operations, RulesReloadOnSigusr2WithoutLosingFlows) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  QuietLink link;
  if (!link.ok) GTEST_SKIP() << "cannot build the namespaces";
  const std::string rules = temp_path("reload.rules");
  const std::string eve = temp_path("reload.eve.json");
  std::ofstream(rules) << "alert udp any any -> any 9 (msg:\"old A\"; content:\"AAA\"; sid:1;)\n"
                          "alert udp any any -> any 9 (msg:\"old C\"; content:\"CCC\"; sid:3;)\n";
  std::vector<std::string> argv = run_argv(link, {"run.allow_root=true", "flow.records=yes",
                                                  "pipeline.workers=2", "capture.fanout=yes"});
  for (const char* a : {"--rules", rules.c_str(), "--eve", eve.c_str()}) argv.push_back(a);
  Subprocess sensor(std::move(argv));
  ASSERT_TRUE(sensor.wait_for_stderr("running with", 10s)) << sensor.stderr_text();

  ASSERT_TRUE(send_udp(link, 40001, "AAA"));
  ASSERT_TRUE(wait_alert(eve, 40001, 1)) << sensor.stderr_text();

  std::ofstream(rules, std::ios::trunc)
      << "alert udp any any -> any 9 (msg:\"new B\"; content:\"BBB\"; sid:2;)\n";
  sensor.signal(SIGUSR2);
  ASSERT_TRUE(wait_log_count(sensor, "active on every worker", 1)) << sensor.stderr_text();

  ASSERT_TRUE(send_udp(link, 40002, "BBB"));
  EXPECT_TRUE(wait_alert(eve, 40002, 2)) << "the new rule does not fire on a new flow";
  ASSERT_TRUE(send_udp(link, 40001, "CCC"));
  EXPECT_TRUE(wait_alert(eve, 40001, 3)) << "the flow from before the reload lost its rules";
  ASSERT_TRUE(send_udp(link, 40003, "CCC"));

  // A broken file: refused as a whole, the set in use stays.
  std::ofstream(rules, std::ios::trunc)
      << "alert udp any any -> any 9 (msg:\"new D\"; content:\"DDD\"; sid:4;)\n"
         "alert udp any any -> any 9 (msg:\"broken\"; content:\"EEE\"; sid:5; nosuchkeyword;)\n";
  sensor.signal(SIGUSR2);
  ASSERT_TRUE(wait_log_count(sensor, "rule reload refused", 1)) << sensor.stderr_text();
  ASSERT_TRUE(send_udp(link, 40004, "BBB"));
  EXPECT_TRUE(wait_alert(eve, 40004, 2)) << "a refused reload changed the rules in use";
  ASSERT_TRUE(send_udp(link, 40005, "DDD"));

  sensor.signal(SIGTERM);
  ASSERT_EQ(sensor.wait(10s), 0) << sensor.stderr_text();
  std::map<std::string, int> alerts, flows;
  for (const std::string& line : lines_of(eve)) {
    const std::string port = json_member(line, "src_port").value_or("");
    if (json_member(line, "event_type") == "alert") {
      ++alerts[port + "/" + json_path(line, {"alert", "signature_id"}).value_or("")];
    } else if (json_member(line, "event_type") == "flow") {
      ++flows[port];
    }
  }
  // Exactly the expected alerts: none from the old rules on new flows, none from the refused set.
  const std::map<std::string, int> expected = {
      {"40001/1", 1}, {"40002/2", 1}, {"40001/3", 1}, {"40004/2", 1}};
  EXPECT_EQ(alerts, expected);
  for (const char* port : {"40001", "40002", "40003", "40004", "40005"}) {
    EXPECT_EQ(flows[port], 1) << "flow from port " << port;
  }
}

// EVE stats events while `run` runs (output.eve.stats_interval), valid against Suricata's schema:
// Suricata's counters under its names, every counter of the sensor under `counters`.
TEST(Operations, StatsEventsAreWrittenWhileRunning) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  QuietLink link;
  if (!link.ok) GTEST_SKIP() << "cannot build the namespaces";
  const std::string eve = temp_path("stats.eve.json");
  std::vector<std::string> argv =
      run_argv(link, {"run.allow_root=true", "output.eve.stats_interval=1s"});
  for (const char* a : {"--eve", eve.c_str()}) argv.push_back(a);
  Subprocess sensor(std::move(argv));
  ASSERT_TRUE(sensor.wait_for_stderr("running with", 10s)) << sensor.stderr_text();
  ASSERT_TRUE(send_udp(link, 40021, "hello"));
  // The first stats event that has seen the datagram.
  std::string stats;
  for (int i = 0; i < 500 && stats.empty(); ++i) {
    for (const std::string& line : lines_of(eve)) {
      if (json_member(line, "event_type") == "stats" &&
          std::stoull(json_path(line, {"stats", "decoder", "udp"}).value_or("0")) >= 1) {
        stats = line;
      }
    }
    if (stats.empty()) std::this_thread::sleep_for(10ms);
  }
  ASSERT_FALSE(stats.empty()) << "no stats event counting the datagram";
  EXPECT_GE(std::stoull(json_path(stats, {"stats", "decoder", "pkts"}).value_or("0")), 1u);
  EXPECT_GE(std::stoull(json_path(stats, {"stats", "capture", "kernel_packets"}).value_or("0")),
            1u);
  EXPECT_TRUE(json_path(stats, {"stats", "uptime"}).has_value()) << stats;
  EXPECT_GE(std::stoull(json_path(stats, {"counters", "decode.udp"}).value_or("0")), 1u) << stats;
  sensor.signal(SIGTERM);
  ASSERT_EQ(sensor.wait(10s), 0) << sensor.stderr_text();
  const RunResult check = run(
      {"python3", std::string(SPANGUARD_SOURCE_DIR) + "/tests/integration/eve_schema_check.py",
       "--schema", std::string(SPANGUARD_SOURCE_DIR) + "/tests/data/eve/suricata-eve-schema.json",
       "--expect", "stats:stats.decoder.pkts", "--expect", "stats:counters", eve});
  EXPECT_EQ(check.status, 0) << check.out << check.err;
}

// `spanguard ctl` against a running sensor: version, stats, the flows it tracks (filtered), a
// reload (accepted, then refused), and a shutdown that ends the run as SIGTERM would.
TEST(Operations, CtlAnswersFromTheRunningSensor) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  QuietLink link;
  if (!link.ok) GTEST_SKIP() << "cannot build the namespaces";
  const std::string rules = temp_path("ctl.rules");
  const std::string control = temp_path("ctl.sock");
  std::ofstream(rules) << "alert udp any any -> any 9 (msg:\"A\"; content:\"AAA\"; sid:1;)\n";
  std::vector<std::string> argv =
      run_argv(link, {"run.allow_root=true", "pipeline.workers=2", "control.socket=" + control});
  for (const char* a : {"--rules", rules.c_str()}) argv.push_back(a);
  Subprocess sensor(std::move(argv));
  ASSERT_TRUE(sensor.wait_for_stderr("running with", 10s)) << sensor.stderr_text();
  const auto ctl = [&control](std::vector<std::string> words) {
    std::vector<std::string> command = {spanguard_binary(), "ctl", "--socket", control};
    command.insert(command.end(), words.begin(), words.end());
    return run(command);
  };

  const RunResult version = ctl({"version"});
  EXPECT_EQ(version.status, 0) << version.err;
  EXPECT_NE(version.out.find('.'), std::string::npos) << version.out;

  ASSERT_TRUE(send_udp(link, 40011, "AAA"));
  ASSERT_TRUE(send_udp(link, 40012, "xyz"));
  // The flows are listed once the workers have seen them.
  RunResult flows{};
  for (int i = 0; i < 200; ++i) {
    flows = ctl({"flows", "port", "40011"});
    if (flows.out.find("\"count\": 1") != std::string::npos) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(flows.status, 0) << flows.err;
  EXPECT_NE(flows.out.find("\"count\": 1"), std::string::npos) << flows.out;
  EXPECT_NE(flows.out.find("\"src_port\": 40011"), std::string::npos) << flows.out;
  EXPECT_NE(flows.out.find("\"src_ip\": \"198.51.100.10\""), std::string::npos) << flows.out;
  EXPECT_NE(flows.out.find("\"complete\": true"), std::string::npos) << flows.out;
  EXPECT_EQ(flows.out.find("40012"), std::string::npos) << "the filter let another flow through";
  const RunResult all = ctl({"flows", "proto", "udp"});
  EXPECT_NE(all.out.find("40012"), std::string::npos) << all.out;
  const RunResult bad = ctl({"flows", "port", "banana"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("port 'banana'"), std::string::npos) << bad.err;

  const RunResult stats = ctl({"stats"});
  EXPECT_EQ(stats.status, 0) << stats.err;
  EXPECT_NE(stats.out.find("\"decode.packets\""), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("\"per_worker\""), std::string::npos) << stats.out;
  EXPECT_NE(stats.out.find("\"interface\": \"v0\""), std::string::npos) << stats.out;

  std::ofstream(rules, std::ios::trunc)
      << "alert udp any any -> any 9 (msg:\"B\"; content:\"BBB\"; sid:2;)\n";
  const RunResult reloaded = ctl({"reload"});
  EXPECT_EQ(reloaded.status, 0) << reloaded.err;
  EXPECT_NE(reloaded.out.find("rules reloaded"), std::string::npos) << reloaded.out;
  std::ofstream(rules, std::ios::trunc) << "alert udp any any -> any 9 (content:\"B\"; sid:3;\n";
  const RunResult refused = ctl({"reload"});
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.err.find("refused"), std::string::npos) << refused.err;

  EXPECT_EQ(ctl({"nosuchcommand"}).status, 1);
  const RunResult down = ctl({"shutdown"});
  EXPECT_EQ(down.status, 0) << down.err;
  ASSERT_EQ(sensor.wait(10s), 0) << sensor.stderr_text();
  EXPECT_FALSE(std::filesystem::exists(control)) << "the control socket outlived the sensor";
}

}  // namespace
}  // namespace spanguard::testing
