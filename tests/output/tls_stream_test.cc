// The alert stream over TLS 1.3 with both ends authenticated, on real loopback sockets and with
// certificates made in the test: delivery from sensor to collector; refusals (a certificate from
// another CA, an expired one, a name not on the list, a collector that does not match the URL)
// logged with their reason while the sensor keeps its events and retries; plaintext beyond the
// loopback address refused at configuration; reloading credentials; listen mode.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "spanguard/collector/collector.h"
#include "spanguard/core/error.h"
#include "spanguard/output/alert_stream.h"
#include "stream_test_peer.h"
#include "tls_test_support.h"

namespace spanguard::output {
namespace {

using namespace std::chrono_literals;
using testing::event_seq;
using testing::eventually;
using testing::LogCapture;
using testing::make_alert;
using testing::RawPeer;
using testing::TempDir;
using testing::TestPki;

// The real collector, serving on its own thread.
class LocalCollector {
 public:
  LocalCollector(std::vector<std::string> listen, std::string out, TlsSettings tls)
      : collector_(collector::CollectorOptions{std::move(listen), std::move(out), "", 1 << 20,
                                               std::move(tls)}),
        thread_([this] { collector_.run(); }) {}
  ~LocalCollector() {
    collector_.stop();
    thread_.join();
  }
  std::string url() const { return collector_.listen_urls().at(0); }
  uint64_t counter(collector::CollectorCounter c) const { return collector_.counter(c); }

 private:
  collector::Collector collector_;
  std::thread thread_;
};

// A CA, the collector's certificate (named collector.test, for 127.0.0.1) and sensor-a's.
struct Pki {
  TempDir dir;
  TestPki pki{dir.path()};
  Pki() {
    pki.issue("collector", "collector.test", "DNS:collector.test,IP:127.0.0.1");
    pki.issue("sensor", "sensor-a", "DNS:sensor-a");
  }
};

AlertStreamOptions sensor_to(const std::string& url, TlsSettings tls) {
  AlertStreamOptions o;
  o.connect = url;
  o.tls = std::move(tls);
  o.sensor_id = "sensor-a";
  // Slow enough that a refused sensor retries a few times per test, not hundreds: the collector
  // rate-limits its refusal lines per process.
  o.reconnect_min = 1s;
  o.reconnect_max = 1s;
  o.drain_timeout = 0ms;
  return o;
}

std::vector<uint64_t> seqs_in(const std::string& path) {
  std::vector<uint64_t> out;
  for (const auto& line : testing::read_lines(path)) {
    v1::Alert alert;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &alert).ok()) << line;
    out.push_back(alert.seq());
  }
  return out;
}

void publish(AlertStream& stream, uint32_t n) {
  for (uint32_t i = 1; i <= n; ++i) {
    auto e = make_alert(i);
    stream.publish(e);
  }
}

TEST(TlsStream, MutualHandshakeDeliversEveryAlertInOrder) {
  LogCapture log;
  Pki p;
  const std::string out = p.dir.file("eve.json");
  LocalCollector collector({"tls://127.0.0.1:0"}, out, p.pki.settings("collector", {"sensor-a"}));
  ASSERT_TRUE(collector.url().starts_with("tls://127.0.0.1:"));
  AlertStream stream(sensor_to(collector.url(), p.pki.settings("sensor", {"collector.test"})));
  constexpr uint32_t kCount = 20000;  // many TLS records, partial writes likely
  publish(stream, kCount);
  ASSERT_TRUE(stream.wait_acked(20s)) << log.text();
  const auto seqs = seqs_in(out);
  ASSERT_EQ(seqs.size(), kCount);
  for (uint32_t i = 0; i < kCount; ++i) ASSERT_EQ(seqs[i], i + 1);
  EXPECT_TRUE(log.contains("over TLS 1.3 (peer DNS:collector.test, IP:127.0.0.1)")) << log.text();
  EXPECT_TRUE(log.contains("TLS 1.3, certificate DNS:sensor-a")) << log.text();
  EXPECT_EQ(collector.counter(collector::CollectorCounter::kTlsRefused), 0u);
}

TEST(TlsStream, ACertificateFromAnotherCaIsRefusedAndTheAlertsWaitForAGoodOne) {
  LogCapture log;
  Pki p;
  p.pki.issue("sensor", "sensor-a", "DNS:sensor-a", -3600, TestPki::kDay, /*by_other_ca=*/true);
  const std::string out = p.dir.file("eve.json");
  LocalCollector collector({"tls://127.0.0.1:0"}, out, p.pki.settings("collector", {"sensor-a"}));
  AlertStream stream(sensor_to(collector.url(), p.pki.settings("sensor")));
  publish(stream, 50);
  ASSERT_TRUE(
      log.wait_for("peer certificate refused: unable to get local issuer certificate "
                   "(subject CN=sensor-a, issuer CN=unrelated test CA)"))
      << log.text();
  // The sensor hears the refusal as the collector's alert, and keeps its events.
  ASSERT_TRUE(log.wait_for("refused by the peer: tlsv1 alert unknown ca")) << log.text();
  EXPECT_GE(collector.counter(collector::CollectorCounter::kTlsRefused), 1u);
  EXPECT_EQ(stream.stats().acked, 0u);
  // (Queued once the output thread has taken them from the hand-off.)
  EXPECT_TRUE(eventually([&] { return stream.stats().queued == 50u; }, 5s))
      << stream.stats().queued;
  EXPECT_TRUE(seqs_in(out).empty());

  // A certificate from the right CA, reloaded: the next attempt delivers everything.
  p.pki.issue("sensor", "sensor-a", "DNS:sensor-a");
  ASSERT_TRUE(stream.reload_credentials());
  ASSERT_TRUE(stream.wait_acked(10s)) << log.text();
  EXPECT_EQ(seqs_in(out).size(), 50u);
}

TEST(TlsStream, AnExpiredCertificateIsRefusedOnEitherSide) {
  LogCapture log;
  Pki p;
  p.pki.issue("expired", "collector.test", "DNS:collector.test,IP:127.0.0.1", -2 * TestPki::kDay,
              -TestPki::kDay);
  {
    // The collector's certificate expired: the sensor refuses it and keeps its alerts.
    LocalCollector collector({"tls://127.0.0.1:0"}, p.dir.file("a.json"),
                             p.pki.settings("expired"));
    AlertStream stream(sensor_to(collector.url(), p.pki.settings("sensor")));
    publish(stream, 5);
    ASSERT_TRUE(
        log.wait_for("failed: peer certificate refused: certificate has expired "
                     "(subject CN=collector.test"))
        << log.text();
    EXPECT_GE(stream.stats().connect_failures, 1u);
    EXPECT_TRUE(eventually([&] { return stream.stats().queued == 5u; }, 5s))
        << stream.stats().queued;
  }
  p.pki.issue("expired", "sensor-a", "DNS:sensor-a", -2 * TestPki::kDay, -TestPki::kDay);
  {
    // The sensor's certificate expired: the collector refuses it.
    LocalCollector collector({"tls://127.0.0.1:0"}, p.dir.file("b.json"),
                             p.pki.settings("collector"));
    AlertStream stream(sensor_to(collector.url(), p.pki.settings("expired")));
    EXPECT_TRUE(
        log.contains("output.socket.tls.cert: '" + p.pki.path("expired.crt") + "' has expired"))
        << log.text();
    publish(stream, 5);
    ASSERT_TRUE(
        log.wait_for("refused: TLS handshake failed: peer certificate refused: "
                     "certificate has expired (subject CN=sensor-a"))
        << log.text();
    EXPECT_EQ(stream.stats().acked, 0u);
  }
}

TEST(TlsStream, ANameNotOnTheAllowedListIsRefusedOnEitherSide) {
  LogCapture log;
  Pki p;
  {
    LocalCollector collector({"tls://127.0.0.1:0"}, p.dir.file("a.json"),
                             p.pki.settings("collector", {"sensor-b", "sensor-c"}));
    AlertStream stream(sensor_to(collector.url(), p.pki.settings("sensor")));
    publish(stream, 5);
    ASSERT_TRUE(
        log.wait_for("certificate name not on the allowed list: the peer presented "
                     "DNS:sensor-a; allowed: sensor-b, sensor-c"))
        << log.text();
    EXPECT_EQ(stream.stats().acked, 0u);
  }
  {
    LocalCollector collector({"tls://127.0.0.1:0"}, p.dir.file("b.json"),
                             p.pki.settings("collector"));
    AlertStream stream(sensor_to(collector.url(), p.pki.settings("sensor", {"siem.example"})));
    publish(stream, 5);
    ASSERT_TRUE(
        log.wait_for("certificate name not on the allowed list: the peer presented "
                     "DNS:collector.test, IP:127.0.0.1; allowed: siem.example"))
        << log.text();
    EXPECT_EQ(stream.stats().acked, 0u);
    // Kept for the retry: queued once the output thread has taken them from the hand-off, which
    // may come after the refusal.
    EXPECT_TRUE(eventually([&] { return stream.stats().queued == 5u; }, 5s))
        << stream.stats().queued;
  }
}

TEST(TlsStream, TheCollectorsCertificateMustMatchTheUrlHost) {
  LogCapture log;
  Pki p;
  p.pki.issue("collector", "collector.test", "DNS:collector.test");  // no IP:127.0.0.1
  LocalCollector collector({"tls://127.0.0.1:0"}, p.dir.file("eve.json"),
                           p.pki.settings("collector"));
  AlertStream stream(sensor_to(collector.url(), p.pki.settings("sensor", {"collector.test"})));
  publish(stream, 1);
  ASSERT_TRUE(log.wait_for("peer certificate refused: IP address mismatch")) << log.text();
  EXPECT_TRUE(log.contains("it names DNS:collector.test, expected 127.0.0.1")) << log.text();
  EXPECT_EQ(stream.stats().acked, 0u);
}

TEST(TlsStream, ListenModeServesAnAuthenticatedSubscriberAndIgnoresOthers) {
  LogCapture log;
  Pki p;
  p.pki.issue("sensor", "sensor-a", "DNS:sensor-a,IP:127.0.0.1");  // subscribers dial 127.0.0.1
  p.pki.issue("subscriber", "siem.example", "DNS:siem.example");
  p.pki.issue("stranger", "siem.example", "DNS:siem.example", -3600, TestPki::kDay, true);
  AlertStreamOptions o = sensor_to("", p.pki.settings("sensor", {"siem.example"}));
  o.listen = "tls://127.0.0.1:0";
  AlertStream stream(o);
  ASSERT_TRUE(stream.listen_url().starts_with("tls://127.0.0.1:"));
  publish(stream, 3);

  const TlsCredentials subscriber_tls(p.pki.settings("subscriber", {"sensor-a"}), TlsRole::kClient,
                                      {"cert", "key", "ca", "peer names"});
  RawPeer sub = RawPeer::connect(stream.listen_url(), &subscriber_tls);
  ASSERT_TRUE(sub.valid()) << sub.error();
  EXPECT_EQ(sub.peer_names(), "DNS:sensor-a, IP:127.0.0.1");
  v1::Envelope e;
  ASSERT_TRUE(sub.read(e));
  ASSERT_TRUE(e.has_hello());
  for (uint64_t i = 1; i <= 3; ++i) {
    ASSERT_TRUE(sub.read(e));
    EXPECT_EQ(event_seq(e), i);
  }
  // Someone without a certificate from the CA connects: refused, and the subscriber stays.
  const TlsCredentials stranger_tls(p.pki.settings("stranger"), TlsRole::kClient,
                                    {"cert", "key", "ca", "peer names"});
  RawPeer stranger = RawPeer::connect(stream.listen_url(), &stranger_tls);
  EXPECT_TRUE(!stranger.valid() || stranger.closed_by_other_end());
  ASSERT_TRUE(log.wait_for("subscriber 127.0.0.1:")) << log.text();
  EXPECT_TRUE(log.contains("unable to get local issuer certificate")) << log.text();
  auto more = make_alert(4);
  stream.publish(more);
  ASSERT_TRUE(sub.read(e));
  EXPECT_EQ(event_seq(e), 4u);
  ASSERT_TRUE(sub.send_ack(stream.run_id(), 4));
  EXPECT_TRUE(stream.wait_acked(5s));
}

TEST(TlsStream, ASubscriberThatFallsBehindGetsEveryAlertOnceInOrder) {
  Pki p;
  p.pki.issue("sensor", "sensor-a", "DNS:sensor-a,IP:127.0.0.1");
  p.pki.issue("subscriber", "siem.example", "DNS:siem.example");
  AlertStreamOptions o = sensor_to("", p.pki.settings("sensor"));
  o.listen = "tls://127.0.0.1:0";
  o.heartbeat_interval = 3600s;
  AlertStream stream(o);
  const TlsCredentials subscriber_tls(p.pki.settings("subscriber"), TlsRole::kClient,
                                      {"cert", "key", "ca", "peer names"});
  RawPeer sub = RawPeer::connect(stream.listen_url(), &subscriber_tls);
  ASSERT_TRUE(sub.valid()) << sub.error();
  // Far more than the socket buffers hold while nobody reads: the sensor's TLS writes block part
  // way through a record and are retried from a buffer that has grown and moved meanwhile.
  constexpr uint64_t kCount = 40000;
  publish(stream, kCount);
  ASSERT_TRUE(eventually([&] { return stream.stats().sent > 0; }));
  v1::Envelope e;
  ASSERT_TRUE(sub.read(e));
  ASSERT_TRUE(e.has_hello());
  for (uint64_t i = 1; i <= kCount; ++i) {
    ASSERT_TRUE(sub.read(e)) << "after seq " << i - 1;
    ASSERT_EQ(event_seq(e), i);
  }
  ASSERT_TRUE(sub.send_ack(stream.run_id(), kCount));
  EXPECT_TRUE(stream.wait_acked(5s));
  EXPECT_EQ(stream.stats().connections, 1u);
  EXPECT_EQ(stream.stats().resent, 0u);
}

TEST(TlsStream, ReloadedCredentialsServeTheNextConnectionAndABadReloadKeepsTheOld) {
  LogCapture log;
  Pki p;
  p.pki.issue("sensor", "sensor-a", "DNS:sensor-a,IP:127.0.0.1");  // subscribers dial 127.0.0.1
  p.pki.issue("subscriber", "siem.example", "DNS:siem.example");
  AlertStreamOptions o = sensor_to("", p.pki.settings("sensor"));
  o.listen = "tls://127.0.0.1:0";
  AlertStream stream(o);
  const TlsCredentials subscriber_tls(p.pki.settings("subscriber"), TlsRole::kClient,
                                      {"cert", "key", "ca", "peer names"});
  v1::Envelope e;
  RawPeer first = RawPeer::connect(stream.listen_url(), &subscriber_tls);
  ASSERT_TRUE(first.valid()) << first.error();
  EXPECT_EQ(first.peer_names(), "DNS:sensor-a, IP:127.0.0.1");
  ASSERT_TRUE(first.read(e));  // Hello

  p.pki.issue("sensor", "sensor-a2", "DNS:sensor-a2,IP:127.0.0.1");
  ASSERT_TRUE(stream.reload_credentials());
  EXPECT_TRUE(log.contains("TLS credentials reloaded from")) << log.text();
  RawPeer second = RawPeer::connect(stream.listen_url(), &subscriber_tls);
  ASSERT_TRUE(second.valid()) << second.error();
  EXPECT_EQ(second.peer_names(), "DNS:sensor-a2, IP:127.0.0.1");
  ASSERT_TRUE(second.read(e));
  ASSERT_TRUE(e.has_hello());

  // A key that does not load: the reload is refused and the credentials in use stay.
  std::ofstream(p.pki.path("sensor.key")) << "not a key\n";
  EXPECT_FALSE(stream.reload_credentials());
  EXPECT_TRUE(
      log.contains("TLS credentials not reloaded, the current ones stay: "
                   "output.socket.tls.key"))
      << log.text();
  RawPeer third = RawPeer::connect(stream.listen_url(), &subscriber_tls);
  ASSERT_TRUE(third.valid()) << third.error();
  EXPECT_EQ(third.peer_names(), "DNS:sensor-a2, IP:127.0.0.1");
}

TEST(TlsStream, BadCredentialFilesNameTheSetting) {
  Pki p;
  const auto error_of = [&](TlsSettings tls) -> std::string {
    try {
      AlertStream stream(sensor_to("tls://127.0.0.1:9", std::move(tls)));
    } catch (const core::ConfigError& e) {
      return e.what();
    }
    return "";
  };
  auto missing = p.pki.settings("sensor");
  missing.cert = p.dir.file("nope.crt");
  EXPECT_NE(error_of(missing).find("output.socket.tls.cert: '" + missing.cert +
                                   "': No such file or directory"),
            std::string::npos)
      << error_of(missing);
  auto mismatched = p.pki.settings("sensor");
  mismatched.key = p.pki.path("collector.key");
  EXPECT_NE(error_of(mismatched)
                .find("output.socket.tls.key: '" + mismatched.key + "': is not the key of"),
            std::string::npos)
      << error_of(mismatched);
  auto no_ca = p.pki.settings("sensor");
  no_ca.ca = p.pki.path("sensor.key");
  EXPECT_NE(error_of(no_ca).find("output.socket.tls.ca: '" + no_ca.ca + "'"), std::string::npos)
      << error_of(no_ca);
}

core::Config output_config() { return core::Config({&alert_stream_params()}); }

std::string options_error(const std::vector<std::string>& settings) {
  auto config = output_config();
  for (const auto& s : settings) config.set(s);
  try {
    alert_stream_options(config);
  } catch (const core::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(TlsStreamOptions, PlaintextBeyondTheLoopbackAddressIsRefusedNamingTheKey) {
  const std::string e = options_error({"output.socket.connect=tcp://192.0.2.10:5140"});
  EXPECT_NE(e.find("output.socket.connect: 'tcp://192.0.2.10:5140'"), std::string::npos) << e;
  EXPECT_NE(e.find("use tls://192.0.2.10:5140"), std::string::npos) << e;
  EXPECT_NE(e.find("output.socket.insecure: true"), std::string::npos) << e;
  EXPECT_NE(options_error({"output.socket.listen=tcp://0.0.0.0:5140"}).find("output.socket.listen"),
            std::string::npos);
  EXPECT_NE(options_error({"output.socket.connect=tcp://siem.example:5140"}).find("tls://"),
            std::string::npos);
  // The operator's explicit choice, the loopback address and Unix sockets are allowed.
  EXPECT_EQ(
      options_error({"output.socket.connect=tcp://192.0.2.10:5140", "output.socket.insecure=true"}),
      "");
  for (const char* ok : {"tcp://127.0.0.1:5140", "tcp://127.9.9.9:5140", "tcp://[::1]:5140",
                         "tcp://localhost:5140", "unix:///run/spanguard/alerts.sock"}) {
    EXPECT_EQ(options_error({std::string("output.socket.connect=") + ok}), "") << ok;
  }
  // Also when the stream is built from options directly.
  AlertStreamOptions direct;
  direct.connect = "tcp://192.0.2.10:5140";
  EXPECT_THROW(AlertStream stream(direct), core::ConfigError);
}

TEST(TlsStreamOptions, TlsNeedsCertificateKeyAndCa) {
  const std::string e = options_error({"output.socket.connect=tls://siem.example:5140"});
  EXPECT_NE(e.find("output.socket.tls.cert: required by output.socket.connect"), std::string::npos)
      << e;
  auto config = output_config();
  config.set("output.socket.connect=tls://siem.example:5140");
  config.set("output.socket.tls.cert=/etc/spanguard/sensor.crt");
  config.set("output.socket.tls.key=/etc/spanguard/sensor.key");
  config.set("output.socket.tls.ca=/etc/spanguard/ca.crt");
  config.set("output.socket.tls.peer_names=[siem.example, siem2.example]");
  const auto o = alert_stream_options(config);
  EXPECT_EQ(o.tls.cert, "/etc/spanguard/sensor.crt");
  EXPECT_EQ(o.tls.ca, "/etc/spanguard/ca.crt");
  EXPECT_EQ(o.tls.peer_names, (std::vector<std::string>{"siem.example", "siem2.example"}));
  EXPECT_FALSE(o.insecure);
}

}  // namespace
}  // namespace spanguard::output
