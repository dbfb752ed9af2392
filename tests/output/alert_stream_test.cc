// The alert stream on real loopback sockets: ordered delivery to a collector over TCP and Unix
// sockets, resends after reconnects, the spool across sensor restarts (torn tails included), a
// collector that never reads, bad frames from the peer, heartbeats, and its configuration.
#include "spanguard/output/alert_stream.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <set>
#include <thread>

#include "spanguard/collector/collector.h"
#include "spanguard/core/error.h"
#include "spanguard/output/eve_writer.h"
#include "stream_test_peer.h"

namespace spanguard::output {
namespace {

using namespace std::chrono_literals;
using testing::event_seq;
using testing::eventually;
using testing::make_alert;
using testing::RawPeer;
using testing::TempDir;

// The real collector, serving on its own thread.
class LocalCollector {
 public:
  LocalCollector(std::vector<std::string> listen, std::string out)
      : collector_(collector::CollectorOptions{std::move(listen), std::move(out), "", 1 << 20}),
        thread_([this] { collector_.run(); }) {}
  ~LocalCollector() {
    collector_.stop();
    thread_.join();
  }
  std::string url(size_t i = 0) const { return collector_.listen_urls().at(i); }
  uint64_t counter(collector::CollectorCounter c) const { return collector_.counter(c); }

 private:
  collector::Collector collector_;
  std::thread thread_;
};

AlertStreamOptions options_to(const std::string& connect) {
  AlertStreamOptions o;
  o.connect = connect;
  o.sensor_id = "sensor-test";
  o.reconnect_min = 5ms;
  o.reconnect_max = 50ms;
  o.drain_timeout = 3s;
  return o;
}

struct EveAlert {
  uint64_t seq;
  std::string run_id;
  uint32_t sid;
};

// Parses every line back into v1::Alert (so each line is JSON of the schema, EVE's names).
std::vector<EveAlert> read_alerts(const std::string& path) {
  std::vector<EveAlert> out;
  for (const auto& line : testing::read_lines(path)) {
    v1::Alert alert;
    const auto status = google::protobuf::util::JsonStringToMessage(line, &alert);
    EXPECT_TRUE(status.ok()) << status.ToString() << ": " << line;
    out.push_back({alert.seq(), alert.run_id(), alert.alert().signature_id()});
  }
  return out;
}

void expect_in_order(const std::vector<EveAlert>& alerts, const std::string& run_id, uint64_t n) {
  ASSERT_EQ(alerts.size(), n);
  for (uint64_t i = 0; i < n; ++i) {
    EXPECT_EQ(alerts[i].seq, i + 1);
    EXPECT_EQ(alerts[i].run_id, run_id);
  }
}

TEST(AlertStream, DeliversAlertsInOrderOverTcp) {
  TempDir dir;
  LocalCollector collector({"tcp://127.0.0.1:0"}, dir.file("eve.json"));
  AlertStream stream(options_to(collector.url()));
  constexpr uint64_t kCount = 2000;
  for (uint64_t i = 1; i <= kCount; ++i) {
    auto e = make_alert(static_cast<uint32_t>(i));
    EXPECT_EQ(stream.publish(e), i);
    EXPECT_EQ(e.alert().seq(), i);  // written into the caller's event too
  }
  ASSERT_TRUE(stream.wait_acked(10s));
  const auto alerts = read_alerts(dir.file("eve.json"));
  expect_in_order(alerts, stream.run_id(), kCount);
  EXPECT_EQ(alerts.back().sid, kCount);
  const auto s = stream.stats();
  EXPECT_EQ(s.published, kCount);
  EXPECT_EQ(s.acked, kCount);
  EXPECT_EQ(s.dropped, 0u);
  EXPECT_EQ(s.queued, 0u);
}

TEST(AlertStream, DeliversOverAUnixSocket) {
  TempDir dir;
  LocalCollector collector({"unix://" + dir.file("c.sock")}, dir.file("eve.json"));
  EXPECT_EQ(collector.url(), "unix://" + dir.file("c.sock"));
  AlertStream stream(options_to(collector.url()));
  for (uint32_t i = 1; i <= 100; ++i) {
    auto e = make_alert(i);
    stream.publish(e);
  }
  ASSERT_TRUE(stream.wait_acked(10s));
  expect_in_order(read_alerts(dir.file("eve.json")), stream.run_id(), 100);
}

TEST(AlertStream, ConcurrentPublishersGetOneSeqEachInQueueOrder) {
  TempDir dir;
  LocalCollector collector({"tcp://127.0.0.1:0"}, dir.file("eve.json"));
  AlertStream stream(options_to(collector.url()));
  constexpr int kThreads = 4, kEach = 3000;
  std::vector<std::thread> workers;
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto e = make_alert(static_cast<uint32_t>(t));
        seqs[t].push_back(stream.publish(e));
      }
    });
  }
  for (auto& w : workers) w.join();
  std::set<uint64_t> all;
  for (const auto& s : seqs) {
    EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
    all.insert(s.begin(), s.end());
  }
  EXPECT_EQ(all.size(), size_t{kThreads * kEach});
  ASSERT_TRUE(stream.wait_acked(10s));
  expect_in_order(read_alerts(dir.file("eve.json")), stream.run_id(), kThreads * kEach);
}

TEST(AlertStream, StartsEachConnectionWithHelloAndResendsWhatWasNotAcknowledged) {
  TempDir dir;
  Listener fake(parse_stream_url("tcp://127.0.0.1:0", "test", UrlUse::kListen));
  auto options = options_to(fake.url());
  options.version = "9.9.9";
  AlertStream stream(options);
  for (uint32_t i = 1; i <= 100; ++i) {
    auto e = make_alert(i);
    stream.publish(e);
  }
  {
    RawPeer first = RawPeer::accept(fake);
    ASSERT_TRUE(first.valid());
    v1::Envelope e;
    ASSERT_TRUE(first.read(e));
    ASSERT_TRUE(e.has_hello());
    EXPECT_EQ(e.hello().run_id(), stream.run_id());
    EXPECT_EQ(e.hello().sensor_id(), "sensor-test");
    EXPECT_EQ(e.hello().version(), "9.9.9");
    EXPECT_FALSE(e.hello().start_time().empty());
    for (uint64_t i = 1; i <= 100; ++i) {
      ASSERT_TRUE(first.read(e));
      ASSERT_EQ(event_seq(e), i);
    }
    ASSERT_TRUE(first.send_ack(stream.run_id(), 40));
    ASSERT_TRUE(eventually([&] { return stream.stats().acked == 40; }));
  }  // the fake collector drops the connection without acknowledging 41..100
  RawPeer second = RawPeer::accept(fake);
  ASSERT_TRUE(second.valid());
  v1::Envelope e;
  ASSERT_TRUE(second.read(e));
  ASSERT_TRUE(e.has_hello());
  for (uint64_t i = 41; i <= 100; ++i) {
    ASSERT_TRUE(second.read(e));
    ASSERT_EQ(event_seq(e), i);
  }
  ASSERT_TRUE(second.send_ack(stream.run_id(), 100));
  EXPECT_TRUE(stream.wait_acked(5s));
  const auto s = stream.stats();
  EXPECT_EQ(s.resent, 60u);
  EXPECT_EQ(s.reconnects, 1u);
  EXPECT_EQ(s.acked, 100u);
}

TEST(AlertStream, HeartbeatsWhileIdleCarryTheCounters) {
  Listener fake(parse_stream_url("tcp://127.0.0.1:0", "test", UrlUse::kListen));
  auto options = options_to(fake.url());
  options.heartbeat_interval = 30ms;
  AlertStream stream(options, [] {
    core::CounterSnapshot s;  // a source without output.* counters: the stream adds its own
    return s;
  });
  RawPeer peer = RawPeer::accept(fake);
  v1::Envelope e;
  ASSERT_TRUE(peer.read(e));
  ASSERT_TRUE(e.has_hello());
  for (int beats = 0; beats < 3; ++beats) {
    ASSERT_TRUE(peer.read(e, 2s));
    ASSERT_TRUE(e.has_heartbeat());
    EXPECT_FALSE(e.heartbeat().timestamp().empty());
    bool has_published = false;
    for (const auto& c : e.heartbeat().counters()) has_published |= c.name() == "output.published";
    EXPECT_TRUE(has_published);
  }
}

TEST(AlertStream, ClosesAConnectionWhosePeerSendsAMalformedOrOversizedFrame) {
  Listener fake(parse_stream_url("tcp://127.0.0.1:0", "test", UrlUse::kListen));
  auto options = options_to(fake.url());
  options.max_frame = 4096;
  AlertStream stream(options);
  auto e0 = make_alert(1);
  stream.publish(e0);
  v1::Envelope e;
  {
    RawPeer peer = RawPeer::accept(fake);
    ASSERT_TRUE(peer.read(e));
    ASSERT_TRUE(peer.send_bytes(std::string("\x05\xff\xff\xff\xff\xff", 6)));  // not protobuf
    EXPECT_TRUE(peer.closed_by_other_end());
  }
  {
    RawPeer peer = RawPeer::accept(fake);
    ASSERT_TRUE(peer.valid());
    ASSERT_TRUE(peer.read(e));
    ASSERT_TRUE(peer.send_bytes(std::string("\x80\x80\x80\x10", 4)));  // 32 MiB > max_frame
    EXPECT_TRUE(peer.closed_by_other_end());
  }
  {
    RawPeer peer = RawPeer::accept(fake);  // still serving, and the alert is still there
    ASSERT_TRUE(peer.read(e));
    ASSERT_TRUE(e.has_hello());
    ASSERT_TRUE(peer.read(e));
    EXPECT_EQ(event_seq(e), 1u);
    ASSERT_TRUE(peer.send_ack(stream.run_id(), 1));
    EXPECT_TRUE(stream.wait_acked(5s));
  }
  EXPECT_EQ(stream.stats().closed_bad_frame, 2u);
}

TEST(AlertStream, AnAckBeyondThePublishedSeqClosesTheConnection) {
  Listener fake(parse_stream_url("tcp://127.0.0.1:0", "test", UrlUse::kListen));
  AlertStream stream(options_to(fake.url()));
  RawPeer peer = RawPeer::accept(fake);
  v1::Envelope e;
  ASSERT_TRUE(peer.read(e));
  ASSERT_TRUE(peer.send_ack(stream.run_id(), 5));
  EXPECT_TRUE(peer.closed_by_other_end());
  EXPECT_EQ(stream.stats().closed_bad_frame, 1u);
}

TEST(AlertStream, UnacknowledgedAlertsAreSpooledAndTheNextRunDeliversThemFirst) {
  TempDir dir;
  const std::string spool = dir.file("spool");
  // A port nothing listens on: take one and close it.
  std::string dead_url;
  {
    Listener l(parse_stream_url("tcp://127.0.0.1:0", "test", UrlUse::kListen));
    dead_url = l.url();
  }
  std::string first_run;
  {
    auto options = options_to(dead_url);
    options.spool_dir = spool;
    options.drain_timeout = 100ms;
    AlertStream stream(options);
    first_run = stream.run_id();
    for (uint32_t i = 1; i <= 300; ++i) {
      auto e = make_alert(i);
      stream.publish(e);
    }
    stream.close();
    EXPECT_EQ(stream.stats().spooled, 300u);
    EXPECT_EQ(stream.stats().dropped, 0u);
  }
  ASSERT_FALSE(std::filesystem::is_empty(spool));

  LocalCollector collector({"tcp://127.0.0.1:0"}, dir.file("eve.json"));
  auto options = options_to(collector.url());
  options.spool_dir = spool;
  AlertStream stream(options);
  EXPECT_EQ(stream.stats().spool_loaded, 300u);
  for (uint32_t i = 1; i <= 10; ++i) {
    auto e = make_alert(1000 + i);
    stream.publish(e);
  }
  ASSERT_TRUE(stream.wait_acked(10s));
  const auto alerts = read_alerts(dir.file("eve.json"));
  ASSERT_EQ(alerts.size(), 310u);
  for (uint64_t i = 0; i < 300; ++i) {
    EXPECT_EQ(alerts[i].run_id, first_run);  // the earlier run keeps its own id and seq
    EXPECT_EQ(alerts[i].seq, i + 1);
  }
  for (uint64_t i = 0; i < 10; ++i) {
    EXPECT_EQ(alerts[300 + i].run_id, stream.run_id());
    EXPECT_EQ(alerts[300 + i].seq, i + 1);
  }
  // Acknowledged spool files are removed.
  EXPECT_TRUE(eventually([&] {
    for (const auto& f : std::filesystem::directory_iterator(spool)) {
      if (f.path().extension() == ".spool") return false;
    }
    return true;
  }));
}

TEST(AlertStream, ATornSpoolTailIsIgnoredAndTheWholeRecordsDelivered) {
  TempDir dir;
  const std::string spool = dir.file("spool");
  std::string dead_url;
  {
    Listener l(parse_stream_url("tcp://127.0.0.1:0", "test", UrlUse::kListen));
    dead_url = l.url();
  }
  {
    auto options = options_to(dead_url);
    options.spool_dir = spool;
    options.drain_timeout = 0ms;
    AlertStream stream(options);
    for (uint32_t i = 1; i <= 50; ++i) {
      auto e = make_alert(i);
      stream.publish(e);
    }
  }
  // A crash in the middle of the next record: its length prefix and half of its bytes.
  std::string file;
  for (const auto& f : std::filesystem::directory_iterator(spool)) {
    if (f.path().extension() == ".spool") file = f.path().string();
  }
  ASSERT_FALSE(file.empty());
  std::string torn;
  append_frame(make_alert(51), torn);
  torn.resize(torn.size() / 2);
  std::ofstream(file, std::ios::app | std::ios::binary) << torn;

  LocalCollector collector({"tcp://127.0.0.1:0"}, dir.file("eve.json"));
  auto options = options_to(collector.url());
  options.spool_dir = spool;
  AlertStream stream(options);
  ASSERT_TRUE(stream.wait_acked(10s));
  const auto alerts = read_alerts(dir.file("eve.json"));
  ASSERT_EQ(alerts.size(), 50u);
  EXPECT_EQ(alerts.back().seq, 50u);
}

TEST(AlertStream, ACollectorThatNeverReadsNeverBlocksPublishing) {
  TempDir dir;
  Listener fake(parse_stream_url("tcp://127.0.0.1:0", "test", UrlUse::kListen));
  auto options = options_to(fake.url());
  options.queue_size = 1000;
  options.spool_dir = dir.file("spool");
  options.spool_max_bytes = 4 << 20;
  options.heartbeat_interval = 50ms;
  options.drain_timeout = 0ms;
  AlertStream stream(options);
  RawPeer peer = RawPeer::accept(fake);  // accepted, then not read from
  ASSERT_TRUE(peer.valid());

  constexpr uint64_t kCount = 100'000;
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 1; i <= kCount; ++i) {
    auto e = make_alert(static_cast<uint32_t>(i));
    stream.publish(e);
  }
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(stream.settle(10s));  // the output thread has taken every event in
  std::printf(
      "publishing %llu events with the collector not reading: %lld ms\n",
      static_cast<unsigned long long>(kCount),
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr auto kLimit = 15s;  // instrumented, unoptimised builds: only "never stalls" holds
#else
  constexpr auto kLimit = 1s;
#endif
  EXPECT_LT(took, kLimit) << "publishing " << kCount << " events took "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                          << " ms";
  const auto s = stream.stats();
  EXPECT_EQ(s.published, kCount);
  EXPECT_LE(s.queued, 1000u);
  EXPECT_GT(s.spooled, 10'000u);  // the spool took the overflow up to its cap...
  EXPECT_GT(s.dropped, 0u);       // ...and what did not fit was counted
  EXPECT_LE(s.spool_bytes, 4u << 20);
  EXPECT_EQ(s.queued + s.spooled + s.dropped, kCount);

  // Now read: every event that was not dropped arrives once, in order (the dropped ones are the
  // newest), and a heartbeat reports the drops.
  const uint64_t kept = kCount - s.dropped;
  uint64_t next = 1, reported = 0;
  v1::Envelope e;
  while (next <= kept || reported < s.dropped) {
    ASSERT_TRUE(peer.read(e, 10s)) << "after seq " << next - 1 << ", " << reported << " reported";
    if (e.has_heartbeat()) reported += e.heartbeat().alerts_dropped();
    if (event_seq(e) != 0) {
      ASSERT_EQ(event_seq(e), next++);
    }
  }
  EXPECT_EQ(next - 1, kept);
  EXPECT_EQ(reported, s.dropped);
}

TEST(AlertStream, WithoutASpoolOverflowIsDroppedAndCounted) {
  std::string dead_url;
  {
    Listener l(parse_stream_url("tcp://127.0.0.1:0", "test", UrlUse::kListen));
    dead_url = l.url();
  }
  auto options = options_to(dead_url);
  options.queue_size = 10;
  options.drain_timeout = 0ms;
  AlertStream stream(options);
  for (uint32_t i = 1; i <= 25; ++i) {
    auto e = make_alert(i);
    stream.publish(e);
  }
  ASSERT_TRUE(stream.settle(5s));
  EXPECT_EQ(stream.stats().queued, 10u);
  EXPECT_EQ(stream.stats().dropped, 15u);
  stream.close();  // the ten in memory have nowhere to go
  EXPECT_EQ(stream.stats().dropped, 25u);
  auto late = make_alert(99);
  EXPECT_EQ(stream.publish(late), 0u);  // not numbered: nothing will send it
  EXPECT_EQ(stream.stats().dropped, 26u);
  EXPECT_EQ(stream.stats().published, 26u);
}

TEST(AlertStream, EveryEventHandedOffBeforeCloseIsSpooledForTheNextRun) {
  TempDir dir;
  const std::string spool = dir.file("spool");
  std::string dead_url;
  {
    Listener l(parse_stream_url("tcp://127.0.0.1:0", "test", UrlUse::kListen));
    dead_url = l.url();
  }
  constexpr uint32_t kThreads = 3, kEach = 4000;
  std::string first_run;
  {
    auto options = options_to(dead_url);
    options.spool_dir = spool;
    options.drain_timeout = 0ms;
    options.queue_size = 500;
    options.handoff_size = 64;  // producers wait for the output thread many times over
    AlertStream stream(options);
    first_run = stream.run_id();
    std::vector<std::thread> workers;
    for (uint32_t t = 0; t < kThreads; ++t) {
      workers.emplace_back([&, t] {
        for (uint32_t i = 0; i < kEach; ++i) {
          auto e = make_alert(t * kEach + i);
          EXPECT_NE(stream.hand_off(e, HandoffFull::kWait), 0u);
        }
      });
    }
    for (auto& w : workers) w.join();
    stream.close();  // at once: some events are still in the hand-off
    const auto s = stream.stats();
    EXPECT_EQ(s.published, kThreads * kEach);
    EXPECT_EQ(s.dropped, 0u);
    EXPECT_EQ(s.dropped_handoff, 0u);
    EXPECT_EQ(s.spooled, kThreads * kEach);
  }
  LocalCollector collector({"tcp://127.0.0.1:0"}, dir.file("eve.json"));
  auto options = options_to(collector.url());
  options.spool_dir = spool;
  AlertStream stream(options);
  ASSERT_TRUE(stream.wait_acked(20s));
  expect_in_order(read_alerts(dir.file("eve.json")), first_run, kThreads * kEach);
}

TEST(AlertStream, HandingOffNeverWaitsForACollectorThatNeverReadsNorForAFullSpool) {
  TempDir dir;
  Listener fake(parse_stream_url("tcp://127.0.0.1:0", "test", UrlUse::kListen));
  auto options = options_to(fake.url());
  options.queue_size = 100;
  options.spool_dir = dir.file("spool");
  options.spool_max_bytes = 65536;  // full after a few hundred events
  options.heartbeat_interval = 50ms;
  options.drain_timeout = 0ms;
  AlertStream stream(options);
  RawPeer peer = RawPeer::accept(fake);  // accepted, then not read from
  ASSERT_TRUE(peer.valid());
  constexpr uint64_t kCount = 50'000;
  uint64_t numbered = 0;
  for (uint64_t i = 1; i <= kCount; ++i) {
    auto e = make_alert(static_cast<uint32_t>(i));
    if (stream.hand_off(e, HandoffFull::kDrop) != 0) ++numbered;  // every call returns
  }
  ASSERT_TRUE(stream.settle(10s));
  const auto s = stream.stats();
  EXPECT_EQ(s.published, kCount);
  EXPECT_EQ(s.dropped_handoff, kCount - numbered);
  EXPECT_LE(s.queued, 100u);
  EXPECT_LE(s.spool_bytes, 65536u);
  EXPECT_GT(s.dropped, kCount / 2);  // the spool is full: most are dropped, on the output thread
  EXPECT_EQ(s.queued + s.spooled + s.dropped, kCount);
}

TEST(AlertStream, MirrorsEveryEventToTheEveFileInSeqOrder) {
  TempDir dir;
  auto options = options_to("tcp://127.0.0.1:9");
  options.drain_timeout = 0ms;
  constexpr uint32_t kThreads = 3, kEach = 1000;
  {
    EveWriter eve(dir.file("mirror.json"));
    AlertStream stream(options);
    stream.mirror_to(&eve);
    std::vector<std::thread> workers;
    for (uint32_t t = 0; t < kThreads; ++t) {
      workers.emplace_back([&] {
        for (uint32_t i = 0; i < kEach; ++i) {
          auto e = make_alert(i);
          stream.hand_off(e, HandoffFull::kWait);
        }
      });
    }
    for (auto& w : workers) w.join();
    stream.close();
  }
  // The sensor's own EVE file, as EveWriter::write prints events: no run id (the collector's has).
  expect_in_order(read_alerts(dir.file("mirror.json")), "", kThreads * kEach);
}

TEST(AlertStream, ListenModeServesASubscriber) {
  auto options = options_to("");
  options.listen = "tcp://127.0.0.1:0";
  AlertStream stream(options);
  ASSERT_NE(stream.listen_url(), options.listen);  // the real port
  auto a = make_alert(7);
  stream.publish(a);
  RawPeer sub = RawPeer::connect(stream.listen_url());
  ASSERT_TRUE(sub.valid());
  v1::Envelope e;
  ASSERT_TRUE(sub.read(e));
  ASSERT_TRUE(e.has_hello());
  ASSERT_TRUE(sub.read(e));
  EXPECT_EQ(e.alert().alert().signature_id(), 7u);
  // A second subscriber replaces the first and gets the unacknowledged alert again.
  RawPeer next = RawPeer::connect(stream.listen_url());
  ASSERT_TRUE(next.read(e));
  ASSERT_TRUE(e.has_hello());
  ASSERT_TRUE(next.read(e));
  EXPECT_EQ(event_seq(e), 1u);
  EXPECT_TRUE(sub.closed_by_other_end());
  ASSERT_TRUE(next.send_ack(stream.run_id(), 1));
  EXPECT_TRUE(stream.wait_acked(5s));
}

TEST(AlertStream, ASpoolDirectoryServesOneSensorAtATime) {
  TempDir dir;
  auto options = options_to("tcp://127.0.0.1:9");
  options.spool_dir = dir.file("spool");
  options.drain_timeout = 0ms;
  AlertStream first(options);
  EXPECT_THROW({ AlertStream second(options); }, core::RuntimeError);
}

TEST(AlertStream, PublishTakesOnlySequencedEvents) {
  auto options = options_to("tcp://127.0.0.1:9");
  options.drain_timeout = 0ms;
  AlertStream stream(options);
  v1::Envelope heartbeat;
  heartbeat.mutable_heartbeat();
  EXPECT_THROW(stream.publish(heartbeat), std::invalid_argument);
  v1::Envelope reset;
  reset.mutable_reset_report()->set_event_type("reset");
  v1::Envelope flow;
  flow.mutable_flow()->set_event_type("flow");
  EXPECT_EQ(stream.publish(reset), 1u);
  EXPECT_EQ(reset.reset_report().seq(), 1u);
  EXPECT_EQ(stream.publish(flow), 2u);
  EXPECT_EQ(flow.flow().seq(), 2u);
}

core::Config output_config() { return core::Config({&alert_stream_params()}); }

TEST(AlertStreamOptions, ComeFromTheOutputSection) {
  auto config = output_config();
  config.set("output.socket.connect=tcp://[::1]:9000");
  config.set("output.spool.dir=/tmp/x");
  config.set("output.spool.fsync=always");
  config.set("output.queue_size=10");
  config.set("output.heartbeat_interval=250ms");
  const auto o = alert_stream_options(config);
  EXPECT_EQ(o.connect, "tcp://[::1]:9000");
  EXPECT_EQ(o.spool_dir, "/tmp/x");
  EXPECT_EQ(o.spool_fsync, SpoolFsync::kAlways);
  EXPECT_EQ(o.queue_size, 10u);
  EXPECT_EQ(o.heartbeat_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(o.drain_timeout, std::chrono::seconds(5));
  EXPECT_TRUE(o.enabled());
  EXPECT_FALSE(alert_stream_options(output_config()).enabled());
  EXPECT_EQ(alert_stream_options(output_config(), "unix:///run/a.sock").connect,
            "unix:///run/a.sock");
}

TEST(AlertStreamOptions, BadSettingsNameTheKey) {
  auto config = output_config();
  config.set("output.socket.connect=tcp://collector");
  try {
    alert_stream_options(config);
    FAIL() << "no error";
  } catch (const core::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("output.socket.connect"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("PORT"), std::string::npos) << e.what();
  }
  try {
    alert_stream_options(output_config(), "http://x:1");
    FAIL() << "no error";
  } catch (const core::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--alerts"), std::string::npos) << e.what();
  }
  auto both = output_config();
  both.set("output.socket.connect=tcp://127.0.0.1:1");
  both.set("output.socket.listen=tcp://127.0.0.1:2");
  EXPECT_THROW(alert_stream_options(both), core::ConfigError);
  auto backoff = output_config();
  backoff.set("output.reconnect.min=10s");
  backoff.set("output.reconnect.max=1s");
  EXPECT_THROW(alert_stream_options(backoff), core::ConfigError);
}

}  // namespace
}  // namespace spanguard::output
