// spanguard-collector as a process, fed by real AlertStreams and by hand-made frames on loopback:
// EVE lines that parse with EVE's names, exactly-once output across a killed and restarted
// collector, several sensors at once on TCP and Unix sockets, bad frames that close only their
// own connection, dedupe across restarts, and reopening the output on SIGHUP; the same over TLS
// with certificates made in the test, the certificate reloaded on SIGHUP, and plaintext beyond the
// loopback address refused.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <regex>
#include <thread>

#include "process.h"
#include "spanguard/output/alert_stream.h"
#include "stream_test_peer.h"
#include "tls_test_support.h"

namespace spanguard::collector {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::make_alert;
using testing::RawPeer;
using testing::TempDir;

std::string collector_binary() {
  return std::string(SPANGUARD_BINARY_DIR) + "/spanguard-collector";
}

// A running spanguard-collector and the addresses it bound.
class CollectorProcess {
 public:
  CollectorProcess(const std::vector<std::string>& listen, const std::string& out,
                   std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{collector_binary(), "--out", out};
    for (const auto& l : listen) {
      argv.push_back("--listen");
      argv.push_back(l);
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<testing::Subprocess>(argv);
    // One "listening on URL" line per address, once each is bound.
    const std::regex line("listening on (\\S+)");
    eventually(
        [&] {
          const std::string err = process_->stderr_text();
          urls_.clear();
          for (auto it = std::sregex_iterator(err.begin(), err.end(), line);
               it != std::sregex_iterator(); ++it) {
            urls_.push_back((*it)[1]);
          }
          return urls_.size() == listen.size() || process_->wait(0ms) != -1;
        },
        10s);
  }
  const std::string& url(size_t i = 0) const { return urls_.at(i); }
  bool ready(size_t n = 1) const { return urls_.size() == n; }
  testing::Subprocess& process() { return *process_; }
  std::string log() const { return process_->stderr_text(); }

 private:
  std::unique_ptr<testing::Subprocess> process_;
  std::vector<std::string> urls_;
};

output::AlertStreamOptions sensor_to(const std::string& url, const std::string& id = "sensor-a",
                                     output::TlsSettings tls = {}) {
  output::AlertStreamOptions o;
  o.connect = url;
  o.tls = std::move(tls);
  o.sensor_id = id;
  o.reconnect_min = 5ms;
  o.reconnect_max = 100ms;
  o.drain_timeout = 5s;
  return o;
}

struct Line {
  std::string run_id;
  uint64_t seq;
};

// The events (stats events from heartbeats, which come every 10 s, left out).
std::vector<Line> read_eve(const std::string& path) {
  std::vector<Line> out;
  for (const auto& text : testing::read_lines(path)) {
    if (text.find("\"event_type\":\"stats\"") != std::string::npos) continue;
    google::protobuf::Struct record;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &record).ok()) << text;
    const auto& f = record.fields();
    out.push_back({f.count("run_id") ? f.at("run_id").string_value() : "",
                   f.count("seq") ? static_cast<uint64_t>(f.at("seq").number_value()) : 0});
  }
  return out;
}

TEST(Collector, WritesEveLinesWithEvesFieldNames) {
  TempDir dir;
  CollectorProcess collector({"tcp://127.0.0.1:0"}, dir.file("eve.json"));
  ASSERT_TRUE(collector.ready()) << collector.log();
  output::AlertStream sensor(sensor_to(collector.url()));
  auto alert = make_alert(2019001);
  sensor.publish(alert);
  ASSERT_TRUE(sensor.wait_acked(10s));
  const auto lines = testing::read_lines(dir.file("eve.json"));
  ASSERT_EQ(lines.size(), 1u);
  const std::string& line = lines[0];
  for (const char* name :
       {"\"timestamp\":", "\"event_type\":\"alert\"", "\"src_ip\":", "\"src_port\":50000",
        "\"dest_ip\":", "\"dest_port\":80", "\"proto\":\"TCP\"", "\"app_proto\":\"http\"",
        "\"signature_id\":2019001", "\"signature\":", "\"severity\":2",
        "\"payload\":", "\"host\":\"sensor-a\"", "\"flow_id\":"}) {
    EXPECT_NE(line.find(name), std::string::npos) << name << " missing from " << line;
  }
  v1::Alert back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &back).ok()) << line;
  EXPECT_EQ(back.alert().signature_id(), 2019001u);
  EXPECT_EQ(back.run_id(), sensor.run_id());
  EXPECT_EQ(back.seq(), 1u);
}

// A sensor streams; the collector is killed mid-stream and started again on the same address.
void kill_and_restart_mid_stream(const TempDir& dir, const std::string& listen,
                                 const std::vector<std::string>& collector_args,
                                 const output::TlsSettings& sensor_tls) {
  const std::string out = dir.file("eve.json");
  auto first =
      std::make_unique<CollectorProcess>(std::vector<std::string>{listen}, out, collector_args);
  ASSERT_TRUE(first->ready()) << first->log();
  const std::string url = first->url();
  output::AlertStream sensor(sensor_to(url, "sensor-a", sensor_tls));
  constexpr uint64_t kCount = 20000;
  std::thread worker([&] {
    for (uint64_t i = 1; i <= kCount; ++i) {
      auto e = make_alert(static_cast<uint32_t>(i));
      sensor.publish(e);
      if (i % 100 == 0) std::this_thread::sleep_for(2ms);  // a stream, not one burst
    }
  });
  // Kill without warning once part of the stream is written.
  ASSERT_TRUE(eventually([&] { return testing::read_lines(out).size() > 2000; }, 20s));
  first->process().signal(SIGKILL);
  first->process().wait(5s);
  const size_t before = testing::read_lines(out).size();
  ASSERT_LT(before, kCount) << "the kill came after the last line was written";
  first.reset();
  // The sensor notices, backs off and retries meanwhile: a refused reconnection first.
  ASSERT_TRUE(eventually([&] { return sensor.stats().connect_failures > 0; }, 10s));
  CollectorProcess second({url}, out, collector_args);
  ASSERT_TRUE(second.ready()) << second.log();
  worker.join();
  ASSERT_TRUE(sensor.wait_acked(30s)) << second.log();
  const auto lines = read_eve(out);
  ASSERT_EQ(lines.size(), kCount) << "lines before the kill: " << before;
  for (uint64_t i = 0; i < kCount; ++i) {
    ASSERT_EQ(lines[i].seq, i + 1);
    ASSERT_EQ(lines[i].run_id, sensor.run_id());
  }
  // Whether anything was in flight at the kill (and so resent) depends on timing; that the
  // sensor reconnected and the output holds each alert exactly once does not.
  EXPECT_GE(sensor.stats().reconnects, 1u);
}

TEST(Collector, KilledMidStreamAndRestartedWritesEveryAlertExactlyOnce) {
  TempDir dir;
  kill_and_restart_mid_stream(dir, "tcp://127.0.0.1:0", {}, {});
}

TEST(Collector, ServesSeveralSensorsOnTcpAndUnixAtOnce) {
  TempDir dir;
  CollectorProcess collector({"tcp://127.0.0.1:0", "unix://" + dir.file("c.sock")},
                             dir.file("eve.json"));
  ASSERT_TRUE(collector.ready(2)) << collector.log();
  output::AlertStream a(sensor_to(collector.url(0), "sensor-a"));
  output::AlertStream b(sensor_to(collector.url(1), "sensor-b"));
  for (uint32_t i = 1; i <= 500; ++i) {
    auto ea = make_alert(i);
    a.publish(ea);
    auto eb = make_alert(i);
    b.publish(eb);
  }
  ASSERT_TRUE(a.wait_acked(10s));
  ASSERT_TRUE(b.wait_acked(10s));
  std::map<std::string, uint64_t> per_run;
  for (const auto& l : read_eve(dir.file("eve.json"))) {
    EXPECT_EQ(l.seq, per_run[l.run_id] + 1);  // each sensor's lines in its own order
    per_run[l.run_id] = l.seq;
  }
  EXPECT_EQ(per_run[a.run_id()], 500u);
  EXPECT_EQ(per_run[b.run_id()], 500u);
}

v1::Envelope hello(const std::string& run) {
  v1::Envelope e;
  e.mutable_hello()->set_run_id(run);
  e.mutable_hello()->set_sensor_id("hand-made");
  return e;
}

v1::Envelope alert_with_seq(uint64_t seq) {
  auto e = make_alert(static_cast<uint32_t>(seq));
  e.mutable_alert()->set_seq(seq);
  return e;
}

// A heartbeat is written as the stats event the sensor writes into its own EVE file (Suricata's
// periodic record), named after the sensor, its uptime from the run's start.
TEST(Collector, HeartbeatsBecomeEveStatsEvents) {
  TempDir dir;
  const std::string out = dir.file("eve.json");
  CollectorProcess collector({"tcp://127.0.0.1:0"}, out);
  ASSERT_TRUE(collector.ready()) << collector.log();
  RawPeer peer = RawPeer::connect(collector.url());
  v1::Envelope start = hello("run-stats");
  start.mutable_hello()->set_start_time("2026-11-29T10:00:00.250000+0000");
  ASSERT_TRUE(peer.send(start));
  v1::Envelope beat;
  beat.mutable_heartbeat()->set_timestamp("2026-11-29T10:01:02.500000+0000");
  for (const auto& [name, value] : std::initializer_list<std::pair<const char*, uint64_t>>{
           {"capture.received", 1000}, {"capture.kernel_dropped", 7}, {"decode.packets", 993}}) {
    v1::Counter* c = beat.mutable_heartbeat()->add_counters();
    c->set_name(name);
    c->set_value(value);
  }
  ASSERT_TRUE(peer.send(beat));
  ASSERT_TRUE(peer.send(alert_with_seq(1)));
  v1::Envelope ack;
  ASSERT_TRUE(peer.read(ack));  // the frames are handled in order: the heartbeat is written
  const std::vector<std::string> lines = testing::read_lines(out);
  ASSERT_EQ(lines.size(), 2u) << collector.log();
  const std::string& stats = lines[0];
  for (const char* part :
       {"\"timestamp\":\"2026-11-29T10:01:02.500000+0000\"", "\"event_type\":\"stats\"",
        "\"host\":\"hand-made\"", "\"uptime\":62", "\"kernel_packets\":1007", "\"kernel_drops\":7",
        "\"pkts\":993", "\"capture.kernel_dropped\":7"}) {
    EXPECT_NE(stats.find(part), std::string::npos) << part << " missing from " << stats;
  }
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(stats, &parsed).ok()) << stats;
  EXPECT_NE(lines[1].find("\"event_type\":\"alert\""), std::string::npos);
  // What SIEMs parse it with: Suricata's EVE schema.
  if (testing::run({"python3", "--version"}).status == 0) {
    const std::string source = SPANGUARD_SOURCE_DIR;
    const testing::RunResult check = testing::run(
        {"python3", source + "/tests/integration/eve_schema_check.py", "--schema",
         source + "/tests/data/eve/suricata-eve-schema.json", "--expect", "stats", out});
    EXPECT_EQ(check.status, 0) << check.out << check.err;
  }

  // --no-stats: heartbeats are only read.
  const std::string quiet_out = dir.file("quiet.json");
  CollectorProcess quiet({"tcp://127.0.0.1:0"}, quiet_out, {"--no-stats"});
  ASSERT_TRUE(quiet.ready()) << quiet.log();
  RawPeer quiet_peer = RawPeer::connect(quiet.url());
  ASSERT_TRUE(quiet_peer.send(start));
  ASSERT_TRUE(quiet_peer.send(beat));
  ASSERT_TRUE(quiet_peer.send(alert_with_seq(1)));
  ASSERT_TRUE(quiet_peer.read(ack));
  const std::vector<std::string> quiet_lines = testing::read_lines(quiet_out);
  ASSERT_EQ(quiet_lines.size(), 1u);
  EXPECT_NE(quiet_lines[0].find("\"event_type\":\"alert\""), std::string::npos);
}

TEST(Collector, ABadFrameClosesOnlyThatConnection) {
  TempDir dir;
  CollectorProcess collector({"tcp://127.0.0.1:0"}, dir.file("eve.json"), {"--max-frame", "64KiB"});
  ASSERT_TRUE(collector.ready()) << collector.log();

  RawPeer malformed = RawPeer::connect(collector.url());
  ASSERT_TRUE(malformed.send(hello("run-malformed")));
  ASSERT_TRUE(malformed.send(alert_with_seq(1)));
  ASSERT_TRUE(malformed.send_bytes(std::string("\x04\xff\xff\xff\xff", 5)));
  v1::Envelope ack;
  ASSERT_TRUE(malformed.read(ack));  // what came before the bad frame is written and acknowledged
  EXPECT_EQ(ack.ack().seq(), 1u);
  EXPECT_TRUE(malformed.closed_by_other_end());

  RawPeer oversized = RawPeer::connect(collector.url());
  ASSERT_TRUE(oversized.send(hello("run-oversized")));
  ASSERT_TRUE(oversized.send_bytes(std::string("\x80\x80\x80\x01", 4)));  // 2 MiB > 64 KiB
  EXPECT_TRUE(oversized.closed_by_other_end());

  RawPeer early = RawPeer::connect(collector.url());
  ASSERT_TRUE(early.send(alert_with_seq(1)));  // no Hello first
  EXPECT_TRUE(early.closed_by_other_end());

  RawPeer wrong_way = RawPeer::connect(collector.url());
  ASSERT_TRUE(wrong_way.send(hello("run-wrong")));
  ASSERT_TRUE(wrong_way.send_ack("run-wrong", 1));  // acks go the other way
  EXPECT_TRUE(wrong_way.closed_by_other_end());

  // Each with its reason, and the process still serves a real sensor.
  EXPECT_TRUE(collector.process().wait_for_stderr("does not parse as spanguard.v1.Envelope", 5s));
  EXPECT_TRUE(collector.process().wait_for_stderr("exceeds the maximum of 65536", 5s));
  EXPECT_TRUE(collector.process().wait_for_stderr("an event before any Hello", 5s));
  EXPECT_TRUE(collector.process().wait_for_stderr("not a sensor message", 5s));
  output::AlertStream sensor(sensor_to(collector.url()));
  auto e = make_alert(1);
  sensor.publish(e);
  EXPECT_TRUE(sensor.wait_acked(10s));
  EXPECT_EQ(collector.process().wait(0ms), -1);  // still running
  EXPECT_EQ(read_eve(dir.file("eve.json")).size(), 2u);
}

TEST(Collector, ARestartedCollectorDoesNotRewriteWhatItWrote) {
  TempDir dir;
  const std::string out = dir.file("eve.json");
  std::string url;
  {
    CollectorProcess collector({"tcp://127.0.0.1:0"}, out);
    ASSERT_TRUE(collector.ready()) << collector.log();
    url = collector.url();
    RawPeer sensor = RawPeer::connect(url);
    ASSERT_TRUE(sensor.send(hello("run-1")));
    for (uint64_t s = 1; s <= 3; ++s) ASSERT_TRUE(sensor.send(alert_with_seq(s)));
    v1::Envelope ack;
    while (sensor.read(ack, 5s) && ack.ack().seq() < 3) {
    }
    EXPECT_EQ(ack.ack().seq(), 3u);
    collector.process().signal(SIGTERM);
    EXPECT_EQ(collector.process().wait(5s), 0);
  }
  EXPECT_TRUE(std::filesystem::exists(out + ".state"));
  CollectorProcess collector({url}, out);
  ASSERT_TRUE(collector.ready()) << collector.log();
  RawPeer sensor = RawPeer::connect(collector.url());
  ASSERT_TRUE(sensor.send(hello("run-1")));
  for (uint64_t s = 2; s <= 4; ++s) ASSERT_TRUE(sensor.send(alert_with_seq(s)));
  v1::Envelope ack;
  while (sensor.read(ack, 5s) && ack.ack().seq() < 4) {
  }
  EXPECT_EQ(ack.ack().seq(), 4u);
  const auto lines = read_eve(out);
  ASSERT_EQ(lines.size(), 4u);
  for (uint64_t i = 0; i < 4; ++i) EXPECT_EQ(lines[i].seq, i + 1);
}

TEST(Collector, ATornLastLineIsCutAtStartUp) {
  TempDir dir;
  const std::string out = dir.file("eve.json");
  {
    std::ofstream f(out);
    f << "{\"event_type\":\"alert\",\"seq\":\"1\",\"run_id\":\"run-t\"}\n{\"event_type\":\"al";
  }
  CollectorProcess collector({"tcp://127.0.0.1:0"}, out);
  ASSERT_TRUE(collector.ready()) << collector.log();
  RawPeer sensor = RawPeer::connect(collector.url());
  ASSERT_TRUE(sensor.send(hello("run-t")));
  ASSERT_TRUE(sensor.send(alert_with_seq(1)));  // known: not written again
  ASSERT_TRUE(sensor.send(alert_with_seq(2)));
  v1::Envelope ack;
  while (sensor.read(ack, 5s) && ack.ack().seq() < 2) {
  }
  const auto lines = read_eve(out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].seq, 2u);
  EXPECT_NE(collector.log().find("incomplete last line"), std::string::npos);
}

TEST(Collector, SighupReopensTheOutputForRotation) {
  TempDir dir;
  const std::string out = dir.file("eve.json");
  CollectorProcess collector({"tcp://127.0.0.1:0"}, out);
  ASSERT_TRUE(collector.ready()) << collector.log();
  output::AlertStream sensor(sensor_to(collector.url()));
  auto first = make_alert(1);
  sensor.publish(first);
  ASSERT_TRUE(sensor.wait_acked(10s));
  std::filesystem::rename(out, out + ".1");
  collector.process().signal(SIGHUP);
  ASSERT_TRUE(collector.process().wait_for_stderr("reopened", 5s));
  auto second = make_alert(2);
  sensor.publish(second);
  ASSERT_TRUE(sensor.wait_acked(10s));
  EXPECT_EQ(read_eve(out + ".1").size(), 1u);
  const auto lines = read_eve(out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].seq, 2u);
}

TEST(Collector, RejectsBadListenUrlsWithTheReason) {
  const auto r = testing::run({collector_binary(), "--listen", "udp://0.0.0.0:1"}, 10s);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--listen: 'udp://0.0.0.0:1'"), std::string::npos) << r.err;
}

// Certificates for a collector (collector.test on 127.0.0.1) and a sensor (sensor-a), and the
// collector's TLS options.
struct TlsSetup {
  explicit TlsSetup(const TempDir& dir) : pki(dir.path()) {
    pki.issue("collector", "collector.test", "DNS:collector.test,IP:127.0.0.1");
    pki.issue("sensor", "sensor-a", "DNS:sensor-a");
  }
  std::vector<std::string> collector_args() const {
    return {"--tls-cert",      pki.path("collector.crt"),
            "--tls-key",       pki.path("collector.key"),
            "--tls-ca",        pki.path("ca.crt"),
            "--tls-peer-name", "sensor-a",
            "--tls-peer-name", "sensor-b"};
  }
  testing::TestPki pki;
};

TEST(Collector, KilledMidStreamAndRestartedOverTlsWritesEveryAlertExactlyOnce) {
  TempDir dir;
  TlsSetup tls(dir);
  kill_and_restart_mid_stream(dir, "tls://127.0.0.1:0", tls.collector_args(),
                              tls.pki.settings("sensor", {"collector.test"}));
}

TEST(Collector, SighupReloadsTheTlsCertificateForNewConnections) {
  TempDir dir;
  TlsSetup tls(dir);
  CollectorProcess collector({"tls://127.0.0.1:0"}, dir.file("eve.json"), tls.collector_args());
  ASSERT_TRUE(collector.ready()) << collector.log();
  const output::TlsCredentials sensor_tls(tls.pki.settings("sensor"), output::TlsRole::kClient,
                                          {"cert", "key", "ca", "peer names"});
  RawPeer before = RawPeer::connect(collector.url(), &sensor_tls);
  ASSERT_TRUE(before.valid()) << before.error();
  EXPECT_EQ(before.peer_names(), "DNS:collector.test, IP:127.0.0.1");

  tls.pki.issue("collector", "collector.test", "DNS:collector-2.test,IP:127.0.0.1");
  collector.process().signal(SIGHUP);
  ASSERT_TRUE(collector.process().wait_for_stderr("TLS credentials reloaded", 5s));
  RawPeer after = RawPeer::connect(collector.url(), &sensor_tls);
  ASSERT_TRUE(after.valid()) << after.error();
  EXPECT_EQ(after.peer_names(), "DNS:collector-2.test, IP:127.0.0.1");

  // The connection made before the reload carries on.
  ASSERT_TRUE(before.send(hello("run-before")));
  ASSERT_TRUE(before.send(alert_with_seq(1)));
  v1::Envelope ack;
  ASSERT_TRUE(before.read(ack));
  EXPECT_EQ(ack.ack().seq(), 1u);
}

TEST(Collector, RefusesSensorsWithoutAnAllowedCertificate) {
  TempDir dir;
  TlsSetup tls(dir);
  tls.pki.issue("stranger", "sensor-z", "DNS:sensor-z");
  CollectorProcess collector({"tls://127.0.0.1:0"}, dir.file("eve.json"), tls.collector_args());
  ASSERT_TRUE(collector.ready()) << collector.log();
  const output::TlsCredentials stranger_tls(tls.pki.settings("stranger"), output::TlsRole::kClient,
                                            {"cert", "key", "ca", "peer names"});
  RawPeer stranger = RawPeer::connect(collector.url(), &stranger_tls);
  EXPECT_TRUE(!stranger.valid() || stranger.closed_by_other_end());
  EXPECT_TRUE(collector.process().wait_for_stderr(
      "certificate name not on the allowed list: the peer presented DNS:sensor-z; allowed: "
      "sensor-a, sensor-b",
      5s))
      << collector.log();
  // A plaintext client on the TLS port gets nowhere either.
  RawPeer plain = RawPeer::connect(collector.url());
  ASSERT_TRUE(plain.send(hello("run-plain")));
  EXPECT_TRUE(plain.closed_by_other_end());
  EXPECT_TRUE(read_eve(dir.file("eve.json")).empty());
}

TEST(Collector, RefusesPlaintextBeyondTheLoopbackAndIncompleteTlsOptions) {
  auto r = testing::run({collector_binary(), "--listen", "tcp://0.0.0.0:0"}, 10s);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--listen: 'tcp://0.0.0.0:0': plaintext TCP beyond the loopback address "
                       "is refused; use tls://0.0.0.0:0"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("--insecure"), std::string::npos) << r.err;
  r = testing::run({collector_binary(), "--listen", "tls://127.0.0.1:0"}, 10s);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--tls-cert: required for tls://"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace spanguard::collector
