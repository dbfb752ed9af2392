// Reset injection against real Linux TCP stacks: `spanguard run` watches a mirror port and, when a
// reject rule fires, must make both endpoints' sockets fail, over IPv4 and IPv6, with and without
// an 802.1Q-tagged mirror, while a benign connection between the same hosts carries on untouched.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "process.h"
#include "reset_harness.h"
#include "span_testbed.h"
#include "tcp_peers.h"

namespace spanguard::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kServicePort = 8080;
constexpr const char* kRejectRule =
    "reject tcp any any -> any 8080 (msg:\"blocked request\"; content:\"EVIL-TRIGGER\"; "
    "sid:1000001; rev:1;)";
constexpr std::string_view kAttack = "GET /?q=EVIL-TRIGGER HTTP/1.0\r\nHost: test\r\n\r\n";

// The server's behaviour for every test: it echoes what it reads ("PING n" lines) unless the
// connection carried the attack, which gets no answer, so that an attacked session can only end by
// a close or a reset.
std::string_view echo_unless_attacked(std::string_view fresh, const std::string& all) {
  if (all.find("EVIL-TRIGGER") != std::string::npos) return {};
  return fresh;
}

std::string describe(const SocketEnd& end, std::chrono::steady_clock::time_point since) {
  std::string s = end.error != 0 ? std::string("error ") + std::strerror(end.error)
                  : end.eof      ? std::string("orderly close")
                                 : std::string("still open");
  if (end.ended()) {
    s += " after " +
         std::to_string(
             std::chrono::duration_cast<std::chrono::microseconds>(end.at - since).count()) +
         " us";
  }
  return s + ", " + std::to_string(end.bytes_received) + " bytes received";
}

// Whether `end` came within `limit` of `since` (an end that never came does not count).
bool ended_within(const SocketEnd& end, std::chrono::steady_clock::time_point since,
                  std::chrono::milliseconds limit) {
  return end.ended() && end.at - since < limit;
}

struct BedVariant {
  const char* name;
  const char* server_ip;
  bool tagged;
  int workers = 1;  // several: each reads its share of the mirror through a fanout group
};

void PrintTo(const BedVariant& v, std::ostream* os) { *os << v.name; }

std::string variant_name(const ::testing::TestParamInfo<BedVariant>& info) {
  return info.param.name;
}

const BedVariant kBeds[] = {{"IPv4", SpanTestbed::kServerV4, false},
                            {"IPv6", SpanTestbed::kServerV6, false},
                            {"IPv4Tagged", SpanTestbed::kServerV4, true},
                            {"IPv6Tagged", SpanTestbed::kServerV6, true},
                            {"IPv4TwoWorkers", SpanTestbed::kServerV4, false, 2},
                            {"IPv6TaggedTwoWorkers", SpanTestbed::kServerV6, true, 2}};

// Everything one scenario needs, built in the order it must be torn down in reverse: the bed (its
// namespaces) outlives the sensor and the peers that live inside it.
struct Scenario {
  explicit Scenario(const BedVariant& v)
      : bed({.tagged_mirror = v.tagged}), server_ip(v.server_ip), workers(v.workers) {}
  // The sensor's --set overrides for this bed.
  std::vector<std::string> sets() const { return {"pipeline.workers=" + std::to_string(workers)}; }
  SpanTestbed bed;
  std::string server_ip;
  int workers;
};

// A connection that sends "PING 1", gets its echo, and is kept open for use after an attack.
std::unique_ptr<TcpStream> open_benign(const Scenario& s) {
  auto benign = std::make_unique<TcpStream>(s.bed.client(), s.server_ip, kServicePort, 2s);
  if (!benign->connected()) return benign;
  benign->send_all("PING 1\n");
  EXPECT_EQ(benign->read_exactly(7, 2s), "PING 1\n");
  return benign;
}

// After the attack: the benign connection still echoes, then closes in order at both ends.
void expect_benign_untouched(TcpStream& benign, TcpSessionServer& server) {
  ASSERT_TRUE(benign.send_all("PING 2\n"));
  EXPECT_EQ(benign.read_exactly(7, 2s), "PING 2\n");
  const uint16_t port = benign.local_port();
  benign.close();
  const std::optional<ServerSession> served = server.wait_ended(port, 2s);
  ASSERT_TRUE(served.has_value());
  EXPECT_TRUE(served->end.eof) << describe(served->end, served->end.at);
  EXPECT_EQ(served->end.error, 0);
}

// The attack sent on `attack`, a fresh connection: both ends must fail by a reset within a second
// (the server having read the trigger: a mirror port cannot stop it).
void expect_attack_reset(TcpStream& attack, TcpSessionServer& server) {
  ASSERT_TRUE(attack.connected()) << std::strerror(attack.connect_error());
  ASSERT_TRUE(server.wait_accepted(attack.local_port(), 2s));
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_TRUE(attack.send_all(kAttack));
  const SocketEnd client = attack.read_until_end(2s);
  const std::optional<ServerSession> served = server.wait_ended(attack.local_port(), 2s);
  EXPECT_EQ(client.error, ECONNRESET) << "client: " << describe(client, sent);
  EXPECT_TRUE(ended_within(client, sent, 1s)) << "client: " << describe(client, sent);
  ASSERT_TRUE(served.has_value()) << "the server's session is still open after 2 s";
  EXPECT_EQ(served->received, kAttack);
  EXPECT_EQ(served->end.error, ECONNRESET) << "server: " << describe(served->end, sent);
  EXPECT_TRUE(ended_within(served->end, sent, 1s)) << "server: " << describe(served->end, sent);
}

class ResetEndToEnd : public ::testing::TestWithParam<BedVariant> {};

TEST_P(ResetEndToEnd, RejectResetsBothEndsAndSparesABenignConnection) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  Scenario s(GetParam());
  if (!s.bed.ok()) GTEST_SKIP() << s.bed.why();
  ResetSensor sensor(s.bed, kRejectRule, s.sets());
  ASSERT_TRUE(sensor.wait_ready(10s)) << sensor.log();
  TcpSessionServer server(s.bed.server(), s.server_ip, kServicePort, echo_unless_attacked);
  ASSERT_TRUE(server.wait_listening(5s));

  const std::unique_ptr<TcpStream> benign = open_benign(s);
  ASSERT_TRUE(benign->connected()) << std::strerror(benign->connect_error());
  TcpStream attack(s.bed.client(), s.server_ip, kServicePort, 2s);
  expect_attack_reset(attack, server);

  expect_benign_untouched(*benign, server);

  // The alert is in the EVE file while the sensor runs (flushed at the end of its batch), as a SIEM
  // tailing the file needs it.
  EXPECT_TRUE(wait_eve_record(sensor, "alert", attack.local_port(), 5s).has_value())
      << "the alert was not flushed to the EVE file while running";
  // The follow-up record is written when the kill watch (500 ms by default) ends.
  EXPECT_TRUE(wait_eve_record(sensor, "reset", attack.local_port(), 5s).has_value())
      << "no reset follow-up record while running";
  ASSERT_EQ(sensor.stop(), 0) << sensor.log();
  const std::vector<std::string> eve = sensor.eve_lines();
  const std::optional<std::string> alert = eve_record(eve, "alert", attack.local_port());
  ASSERT_TRUE(alert.has_value()) << "no alert for the attack's client port " << attack.local_port();
  EXPECT_EQ(json_path(*alert, {"alert", "action"}), "blocked") << *alert;
  EXPECT_EQ(json_path(*alert, {"alert", "signature_id"}), "1000001") << *alert;
  EXPECT_EQ(json_path(*alert, {"reset", "mode"}), "rst") << *alert;
  EXPECT_EQ(json_path(*alert, {"in_iface"}), SpanTestbed::kCaptureInterface) << *alert;
  // The trigger's receiver is reset before the alert leaves; the other end's RST may follow it.
  EXPECT_GE(std::stoi(json_path(*alert, {"reset", "server", "packets"}).value_or("0")), 1)
      << *alert;
  if (s.bed.mirror_vlan() != 0) {
    EXPECT_EQ(json_member(*alert, "vlan"), "[" + std::to_string(s.bed.mirror_vlan()) + "]")
        << *alert;
  }
  const std::optional<std::string> follow_up = eve_record(eve, "reset", attack.local_port());
  ASSERT_TRUE(follow_up.has_value()) << "no reset follow-up record for the attack";
  for (const char* side : {"client", "server"}) {
    EXPECT_EQ(json_path(*follow_up, {"reset", side, "outcome"}), "reset") << *follow_up;
    EXPECT_GE(std::stoi(json_path(*follow_up, {"reset", side, "packets"}).value_or("0")), 1)
        << *follow_up;
  }
  EXPECT_FALSE(eve_record(eve, "alert", benign->local_port()).has_value());
  EXPECT_GE(eve_counter(eve, "respond.rst_sent"), 2u) << sensor.log();
  if (s.workers > 1) {
    EXPECT_NE(sensor.log().find("fanout group"), std::string::npos) << sensor.log();
  }
}

INSTANTIATE_TEST_SUITE_P(Beds, ResetEndToEnd, ::testing::ValuesIn(kBeds), variant_name);

TEST(ResetEndToEndModes, FinModeClosesBothEndsInOrder) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  Scenario s(kBeds[0]);
  if (!s.bed.ok()) GTEST_SKIP() << s.bed.why();
  ResetSensor sensor(s.bed, kRejectRule, {"respond.mode=fin"});
  ASSERT_TRUE(sensor.wait_ready(10s)) << sensor.log();
  TcpSessionServer server(s.bed.server(), s.server_ip, kServicePort, echo_unless_attacked);
  ASSERT_TRUE(server.wait_listening(5s));

  const std::unique_ptr<TcpStream> benign = open_benign(s);
  ASSERT_TRUE(benign->connected());
  TcpStream attack(s.bed.client(), s.server_ip, kServicePort, 2s);
  ASSERT_TRUE(attack.connected());
  ASSERT_TRUE(server.wait_accepted(attack.local_port(), 2s));
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_TRUE(attack.send_all(kAttack));
  const SocketEnd client = attack.read_until_end(2s);
  const std::optional<ServerSession> served = server.wait_ended(attack.local_port(), 2s);

  // An exact FIN+ACK (seq = the receiver's RCV.NXT, ack = its SND.NXT) is taken like the peer's
  // own FIN: each application reads end-of-stream, no error (measured on this kernel with FINs
  // planned from the trigger alone). A FIN whose ack covers the FIN sent the other way acks data
  // the receiver never sent and is dropped, leaving that end open.
  EXPECT_TRUE(client.eof) << "client: " << describe(client, sent);
  EXPECT_TRUE(ended_within(client, sent, 1s)) << "client: " << describe(client, sent);
  ASSERT_TRUE(served.has_value()) << "the server's session is still open after 2 s";
  EXPECT_TRUE(served->end.eof) << "server: " << describe(served->end, sent);
  EXPECT_TRUE(ended_within(served->end, sent, 1s)) << "server: " << describe(served->end, sent);

  expect_benign_untouched(*benign, server);
  // The follow-up record is written when the kill watch ends.
  EXPECT_TRUE(wait_eve_record(sensor, "reset", attack.local_port(), 5s).has_value())
      << "no reset follow-up record while running";
  ASSERT_EQ(sensor.stop(), 0) << sensor.log();
  const std::vector<std::string> eve = sensor.eve_lines();
  const std::optional<std::string> alert = eve_record(eve, "alert", attack.local_port());
  ASSERT_TRUE(alert.has_value());
  EXPECT_EQ(json_path(*alert, {"alert", "action"}), "blocked") << *alert;
  EXPECT_EQ(json_path(*alert, {"reset", "mode"}), "fin") << *alert;
}

// Session policies of an L4 device: sessions to port 8080 idle for 1 s are reset at both ends
// (idle_action: reset), as a firewall dropping idle sessions would, and reported; no rule needed.
// A sensor whose policy gives sessions to port 8080 an idle timeout of 1 s with `action`, its echo
// server, and one session that said "PING 1" and then falls silent. Declared in teardown order.
struct IdlePolicyBed {
  explicit IdlePolicyBed(const std::string& action)
      : s(kBeds[0]),
        sensor(s.bed, "alert tcp any any -> any 9999 (msg:\"unrelated\"; content:\"x\"; sid:1;)",
               {"flow.timeout_overrides=[{ports: [\"8080\"], established: 1s, idle_action: " +
                action + "}]"}) {}
  // Fails the test (fatally) when the session cannot be set up.
  void start() {
    ASSERT_TRUE(sensor.wait_ready(10s)) << sensor.log();
    server = std::make_unique<TcpSessionServer>(s.bed.server(), s.server_ip, kServicePort,
                                                echo_unless_attacked, std::chrono::seconds(10));
    ASSERT_TRUE(server->wait_listening(5s));
    idle = std::make_unique<TcpStream>(s.bed.client(), s.server_ip, kServicePort, 2s);
    ASSERT_TRUE(idle->connected());
    ASSERT_TRUE(idle->send_all("PING 1\n"));
    ASSERT_EQ(idle->read_exactly(7, 2s), "PING 1\n");
  }
  Scenario s;
  ResetSensor sensor;
  std::unique_ptr<TcpSessionServer> server;
  std::unique_ptr<TcpStream> idle;
};

TEST(ResetEndToEndModes, IdleTimeoutPolicyResetsBothEnds) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  IdlePolicyBed b("reset");
  if (!b.s.bed.ok()) GTEST_SKIP() << b.s.bed.why();
  ASSERT_NO_FATAL_FAILURE(b.start());
  ResetSensor& sensor = b.sensor;
  TcpSessionServer& server = *b.server;
  TcpStream& idle = *b.idle;
  const auto quiet = std::chrono::steady_clock::now();

  // Nothing is sent: after 1 s of silence (and the expiry wheel's tick) both ends are reset.
  const SocketEnd client = idle.read_until_end(5s);
  const std::optional<ServerSession> served = server.wait_ended(idle.local_port(), 5s);
  EXPECT_EQ(client.error, ECONNRESET) << "client: " << describe(client, quiet);
  EXPECT_GE(client.at - quiet, 1s) << "reset before the session was idle for its timeout";
  ASSERT_TRUE(served.has_value()) << "the server's session is still open";
  EXPECT_EQ(served->end.error, ECONNRESET) << "server: " << describe(served->end, quiet);

  // The reset's outcome is observed (kill watch) before the record is written.
  const uint16_t port = idle.local_port();
  wait_eve_record(sensor, "reset", port, 3s);
  ASSERT_EQ(sensor.stop(), 0) << sensor.log();
  const std::vector<std::string> eve = sensor.eve_lines();
  const std::optional<std::string> report = eve_record(eve, "reset", port);
  ASSERT_TRUE(report.has_value()) << "no reset report for the idle session";
  EXPECT_EQ(json_path(*report, {"reset", "cause"}), "idle_timeout") << *report;
  for (const char* side : {"client", "server"}) {
    EXPECT_EQ(json_path(*report, {"reset", side, "outcome"}), "reset") << *report;
  }
  const std::optional<std::string> record = eve_record(eve, "flow", port);
  ASSERT_TRUE(record.has_value()) << "no flow record although flow.records is off live";
  EXPECT_EQ(json_member(*record, "idle_action"), "reset") << *record;
  EXPECT_FALSE(eve_record(eve, "alert", port).has_value());
  EXPECT_GE(eve_counter(eve, "respond.idle_resets"), 1u) << sensor.log();
}

// idle_action: report names the session that idled out and leaves it alone.
TEST(ResetEndToEndModes, IdleTimeoutPolicyReportsWithoutTouchingTheSession) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  IdlePolicyBed b("report");
  if (!b.s.bed.ok()) GTEST_SKIP() << b.s.bed.why();
  ASSERT_NO_FATAL_FAILURE(b.start());
  ResetSensor& sensor = b.sensor;
  TcpStream& idle = *b.idle;
  const uint16_t port = idle.local_port();

  // The report appears in the EVE file while the sensor runs (the record is the report).
  const std::optional<std::string> record = wait_eve_record(sensor, "flow", port, 5s);
  ASSERT_TRUE(record.has_value()) << "no report of the idle session";
  EXPECT_EQ(json_member(*record, "idle_action"), "report") << *record;
  EXPECT_EQ(json_path(*record, {"flow", "reason"}), "timeout") << *record;
  // The session itself carries on.
  ASSERT_TRUE(idle.send_all("PING 2\n"));
  EXPECT_EQ(idle.read_exactly(7, 2s), "PING 2\n");
  idle.close();
  ASSERT_EQ(sensor.stop(), 0) << sensor.log();
  EXPECT_FALSE(eve_record(sensor.eve_lines(), "reset", port).has_value());
}

TEST(ResetEndToEndModes, NothingIsResetWithoutAMatchingRejectRule) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  Scenario s(kBeds[0]);
  if (!s.bed.ok()) GTEST_SKIP() << s.bed.why();
  // The request matches an alert-only rule; the reject rule on the same port never matches.
  ResetSensor sensor(s.bed,
                     "alert tcp any any -> any 8080 (msg:\"seen, not blocked\"; "
                     "content:\"EVIL-TRIGGER\"; sid:1000002; rev:1;)\n"
                     "reject tcp any any -> any 8080 (msg:\"never sent\"; "
                     "content:\"NEVER-SENT-MARKER\"; sid:1000003; rev:1;)");
  ASSERT_TRUE(sensor.wait_ready(10s)) << sensor.log();
  const std::string reply(20000, 'r');
  TcpSessionServer server(s.bed.server(), s.server_ip, kServicePort,
                          [&](std::string_view fresh, const std::string& all) {
                            return all == kAttack ? std::string_view(reply) : fresh;
                          });
  ASSERT_TRUE(server.wait_listening(5s));

  TcpStream conn(s.bed.client(), s.server_ip, kServicePort, 2s);
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(conn.send_all(kAttack));
  EXPECT_EQ(conn.read_exactly(reply.size(), 2s).size(), reply.size());
  // The alert is written after the packet's response decision (a reset goes out before it): once
  // it is in the EVE file, any reset would have landed already.
  EXPECT_TRUE(wait_eve_record(sensor, "alert", conn.local_port(), 5s).has_value())
      << "the alert-only rule did not alert";
  ASSERT_TRUE(conn.send_all("PING 1\n"));
  EXPECT_EQ(conn.read_exactly(7, 2s), "PING 1\n");
  const uint16_t port = conn.local_port();
  conn.close();
  const std::optional<ServerSession> served = server.wait_ended(port, 2s);
  ASSERT_TRUE(served.has_value());
  EXPECT_TRUE(served->end.eof) << describe(served->end, served->end.at);

  ASSERT_EQ(sensor.stop(), 0) << sensor.log();
  const std::vector<std::string> eve = sensor.eve_lines();
  const std::optional<std::string> alert = eve_record(eve, "alert", port);
  ASSERT_TRUE(alert.has_value()) << "the alert-only rule should still alert";
  EXPECT_EQ(json_path(*alert, {"alert", "signature_id"}), "1000002") << *alert;
  EXPECT_EQ(json_path(*alert, {"alert", "action"}), "allowed") << *alert;
  EXPECT_FALSE(eve_record(eve, "reset", port).has_value());
  EXPECT_EQ(eve_counter(eve, "respond.rst_sent"), 0u) << sensor.log();
}

// A sensor started with alert rules only keeps its injectors on standby: a reload that adds a
// reject rule resets the next attack without a restart, as a rule edit in Suricata takes effect.
TEST(ResetEndToEndModes, ReloadAddingARejectRuleResetsWithoutARestart) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  Scenario s(kBeds[0]);
  if (!s.bed.ok()) GTEST_SKIP() << s.bed.why();
  ResetSensor sensor(s.bed,
                     "alert tcp any any -> any 8080 (msg:\"seen, not blocked\"; "
                     "content:\"EVIL-TRIGGER\"; sid:1000002; rev:1;)");
  ASSERT_TRUE(sensor.wait_ready(10s)) << sensor.log();
  ASSERT_TRUE(sensor.reload(kRejectRule, 30s)) << sensor.log();
  EXPECT_EQ(sensor.log().find("alert only until the sensor is restarted"), std::string::npos)
      << sensor.log();
  TcpSessionServer server(s.bed.server(), s.server_ip, kServicePort, echo_unless_attacked);
  ASSERT_TRUE(server.wait_listening(5s));

  TcpStream attack(s.bed.client(), s.server_ip, kServicePort, 2s);
  expect_attack_reset(attack, server);

  ASSERT_EQ(sensor.stop(), 0) << sensor.log();
  const std::vector<std::string> eve = sensor.eve_lines();
  const std::optional<std::string> alert = eve_record(eve, "alert", attack.local_port());
  ASSERT_TRUE(alert.has_value()) << sensor.log();
  EXPECT_EQ(json_path(*alert, {"alert", "signature_id"}), "1000001") << *alert;
  EXPECT_EQ(json_path(*alert, {"alert", "action"}), "blocked") << *alert;
}

// Self-checks of the test bed's trunks, independent of the sensor: without them a failing reset
// test could not tell a sensor bug from a switch that mangles or drops tagged frames.

// An AF_PACKET socket inside a namespace, bound to one interface; closed on destruction.
struct PacketSocket {
  PacketSocket(const NetNamespace& ns, const char* interface) {
    run_in_namespace(ns, [&] {
      fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
      ifindex = static_cast<int>(if_nametoindex(interface));
      if (fd < 0 || ifindex == 0) return;
      sockaddr_ll sll{};
      sll.sll_family = AF_PACKET;
      sll.sll_protocol = htons(ETH_P_ALL);
      sll.sll_ifindex = ifindex;
      bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll);
      const int one = 1;
      setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one);
    });
  }
  ~PacketSocket() {
    if (fd >= 0) close(fd);
  }
  int fd = -1;
  int ifindex = 0;
};

// A UDP socket bound inside a namespace; closed on destruction.
struct UdpSocket {
  UdpSocket(const NetNamespace& ns, const char* address, int port) {
    run_in_namespace(ns, [&] {
      fd = socket(AF_INET, SOCK_DGRAM, 0);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET, address, &sa.sin_addr);
      if (port != 0) bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    });
  }
  ~UdpSocket() {
    if (fd >= 0) close(fd);
  }
  bool received_within(std::chrono::milliseconds limit, std::string& data) const {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
    char buf[256];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) data.assign(buf, static_cast<size_t>(n));
    return n > 0;
  }
  int fd = -1;
};

// An Ethernet frame carrying an IPv4/UDP datagram from the client to the server, optionally with an
// 802.1Q tag, as a sensor would inject it on a trunk.
std::vector<uint8_t> udp_frame(int vlan, uint16_t dport, std::string_view payload) {
  std::vector<uint8_t> f = {0x02, 0, 0, 0, 0, 0x02,   // to the server's MAC
                            0x02, 0, 0, 0, 0, 0x99};  // from a MAC no host uses
  if (vlan != 0) {
    f.insert(f.end(), {0x81, 0x00, static_cast<uint8_t>(vlan >> 8), static_cast<uint8_t>(vlan)});
  }
  f.insert(f.end(), {0x08, 0x00});
  const size_t ip = f.size();
  const uint16_t total = static_cast<uint16_t>(20 + 8 + payload.size());
  f.insert(f.end(), {0x45, 0, static_cast<uint8_t>(total >> 8), static_cast<uint8_t>(total), 0, 0,
                     0x40, 0, 64, IPPROTO_UDP, 0, 0});
  in_addr src{}, dst{};
  inet_pton(AF_INET, SpanTestbed::kClientV4, &src);
  inet_pton(AF_INET, SpanTestbed::kServerV4, &dst);
  const auto* s = reinterpret_cast<const uint8_t*>(&src);
  const auto* d = reinterpret_cast<const uint8_t*>(&dst);
  f.insert(f.end(), s, s + 4);
  f.insert(f.end(), d, d + 4);
  uint32_t sum = 0;
  for (size_t i = ip; i < ip + 20; i += 2) sum += static_cast<uint32_t>(f[i] << 8 | f[i + 1]);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  f[ip + 10] = static_cast<uint8_t>(~sum >> 8);
  f[ip + 11] = static_cast<uint8_t>(~sum);
  const uint16_t udp_len = static_cast<uint16_t>(8 + payload.size());
  // UDP over IPv4 may carry no checksum (0), which keeps the builder short.
  f.insert(f.end(), {0x9c, 0x40, static_cast<uint8_t>(dport >> 8), static_cast<uint8_t>(dport),
                     static_cast<uint8_t>(udp_len >> 8), static_cast<uint8_t>(udp_len), 0, 0});
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

class SpanTestbedTrunk : public ::testing::TestWithParam<bool> {};

TEST_P(SpanTestbedTrunk, MirrorCopiesCarryTheTagOnlyWhenTagged) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  SpanTestbed bed({.tagged_mirror = GetParam()});
  if (!bed.ok()) GTEST_SKIP() << bed.why();
  PacketSocket mirror(bed.sensor(), SpanTestbed::kCaptureInterface);
  ASSERT_GE(mirror.fd, 0);
  UdpSocket sender(bed.client(), SpanTestbed::kClientV4, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9998);
  inet_pton(AF_INET, SpanTestbed::kServerV4, &to.sin_addr);
  ASSERT_EQ(sendto(sender.fd, "mirrored", 8, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 8);

  // The kernel hands a tag over as metadata (PACKET_AUXDATA), which libpcap turns back into an
  // in-frame tag for the sensor; the frame bytes themselves arrive untagged here.
  bool seen = false;
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  for (int frames = 0; frames < 100 && !seen && std::chrono::steady_clock::now() < deadline;
       ++frames) {
    pollfd p{mirror.fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    uint8_t frame[2048];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(tpacket_auxdata))];
    iovec iov{frame, sizeof frame};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = recvmsg(mirror.fd, &msg, 0);
    if (n < 14 + 20 + 8 || frame[12] != 0x08 || frame[13] != 0x00 || frame[14 + 9] != IPPROTO_UDP ||
        (frame[14 + 22] << 8 | frame[14 + 23]) != 9998) {
      continue;
    }
    seen = true;
    const tpacket_auxdata* aux = nullptr;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA) {
        aux = reinterpret_cast<const tpacket_auxdata*>(CMSG_DATA(c));
      }
    }
    ASSERT_NE(aux, nullptr);
    const bool tagged = (aux->tp_status & TP_STATUS_VLAN_VALID) != 0;
    EXPECT_EQ(tagged, bed.mirror_vlan() != 0);
    if (tagged) {
      EXPECT_EQ(aux->tp_vlan_tci & 0x0fff, bed.mirror_vlan());
    }
  }
  EXPECT_TRUE(seen) << "the datagram never showed on the mirror";
}

TEST_P(SpanTestbedTrunk, InjectionPortTakesOnlyFramesInTheMirrorVlan) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  SpanTestbed bed({.tagged_mirror = GetParam()});
  if (!bed.ok()) GTEST_SKIP() << bed.why();
  PacketSocket inject(bed.sensor(), SpanTestbed::kInjectInterface);
  ASSERT_GE(inject.fd, 0);
  UdpSocket receiver(bed.server(), SpanTestbed::kServerV4, 9999);
  ASSERT_GE(receiver.fd, 0);
  const int vlan = GetParam() ? bed.mirror_vlan() : 100;

  auto delivered = [&](int frame_vlan, std::string_view payload) {
    const std::vector<uint8_t> frame = udp_frame(frame_vlan, 9999, payload);
    EXPECT_EQ(send(inject.fd, frame.data(), frame.size(), 0), static_cast<ssize_t>(frame.size()));
    std::string got;
    return receiver.received_within(300ms, got) && got == payload;
  };
  // On the trunk the tagged frame is untagged and delivered, an untagged one dropped; on the
  // untagged bed the reverse (the endpoints have no VLAN device, so a tag makes a frame foreign).
  EXPECT_EQ(delivered(vlan, "tagged"), GetParam());
  EXPECT_EQ(delivered(0, "untagged"), !GetParam());
  if (GetParam()) {
    EXPECT_FALSE(delivered(vlan + 1, "other vlan"));
  }
}

std::string trunk_name(const ::testing::TestParamInfo<bool>& param) {
  return param.param ? "Tagged" : "Untagged";
}

INSTANTIATE_TEST_SUITE_P(Beds, SpanTestbedTrunk, ::testing::Bool(), trunk_name);

}  // namespace
}  // namespace spanguard::testing
