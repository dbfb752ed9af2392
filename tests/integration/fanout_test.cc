// Several workers, each reading its own share of the mirror through an AF_PACKET fanout group:
// real TCP sessions in network namespaces, mirrored either on one port or split over two (one
// direction each, as from a TAP). Every flow must be seen whole by exactly one worker — one flow
// record per connection with packets both ways, each direction's alert once — whichever hash
// decides.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <set>

#include "process.h"
#include "reset_harness.h"
#include "span_testbed.h"
#include "summary_counters.h"
#include "tcp_peers.h"

namespace spanguard::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kPort = 8080;
constexpr int kConnections = 48;
// One rule per direction: a flow whose halves reached different workers would raise neither in
// the right way (each worker sees one direction only).
constexpr const char* kRules =
    "alert tcp any any -> any 8080 (msg:\"request\"; flow:established,to_server; "
    "content:\"HELLO-\"; sid:1; rev:1;)\n"
    "alert tcp any 8080 -> any any (msg:\"echo\"; flow:established,to_client; "
    "content:\"WORLD\"; sid:2; rev:1;)";
constexpr std::string_view kRequest = "HELLO-WORLD\n";

struct FanoutVariant {
  const char* name;
  bool split_mirror;
  const char* hash;
  const char* server_ip;
};

std::string variant_name(const ::testing::TestParamInfo<FanoutVariant>& info) {
  return info.param.name;
}

class FanoutCapture : public ::testing::TestWithParam<FanoutVariant> {};

TEST_P(FanoutCapture, EveryFlowReachesOneWorkerWhole) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  const FanoutVariant& v = GetParam();
  SpanTestbed bed({.split_mirror = v.split_mirror});
  if (!bed.ok()) GTEST_SKIP() << bed.why();
  std::vector<std::string> sets = {"pipeline.workers=2", "capture.fanout=yes",
                                   std::string("capture.fanout_hash=") + v.hash,
                                   "capture.busy_poll=no", "flow.records=yes"};
  if (v.split_mirror) {
    sets.push_back(std::string("capture.interfaces=[") + SpanTestbed::kSecondCaptureInterface +
                   "]");
  }
  ResetSensor sensor(bed, kRules, sets);
  ASSERT_TRUE(sensor.wait_ready(10s)) << sensor.log();
  TcpSessionServer server(bed.server(), v.server_ip, kPort,
                          [](std::string_view fresh, const std::string&) { return fresh; });
  ASSERT_TRUE(server.wait_listening(5s));

  std::set<uint16_t> ports;
  for (int i = 0; i < kConnections; ++i) {
    TcpStream client(bed.client(), v.server_ip, kPort, 2s);
    ASSERT_TRUE(client.connected()) << std::strerror(client.connect_error());
    ASSERT_TRUE(client.send_all(kRequest));
    ASSERT_EQ(client.read_exactly(kRequest.size(), 2s), kRequest);
    const uint16_t port = client.local_port();
    ports.insert(port);
    client.close();
    ASSERT_TRUE(server.wait_ended(port, 2s).has_value());
  }
  ASSERT_EQ(ports.size(), static_cast<size_t>(kConnections)) << "a client port recurred";
  // The last session's final ACK must be captured before the sensor stops: its frames are in the
  // kernel ring by the time the server saw the close, and stopping drains the ring.
  ASSERT_EQ(sensor.stop(), 0) << sensor.log();

  std::map<uint16_t, int> flow_records, requests, echoes;
  for (const std::string& line : sensor.eve_lines()) {
    const std::optional<std::string> type = json_member(line, "event_type");
    const std::optional<std::string> src = json_member(line, "src_port");
    if (!type || !src) continue;
    const auto port = static_cast<uint16_t>(std::stoul(*src));
    if (*type == "flow" && ports.count(port)) {
      ++flow_records[port];
      EXPECT_GE(std::stoi(json_path(line, {"flow", "pkts_toserver"}).value_or("0")), 3) << line;
      EXPECT_GE(std::stoi(json_path(line, {"flow", "pkts_toclient"}).value_or("0")), 3) << line;
    } else if (*type == "alert") {
      const std::string sid = json_path(line, {"alert", "signature_id"}).value_or("");
      // The echo's alert names the server as source (Suricata's packet direction).
      const std::string dest = json_member(line, "dest_port").value_or("0");
      if (sid == "1") ++requests[port];
      if (sid == "2") ++echoes[static_cast<uint16_t>(std::stoul(dest))];
    }
  }
  for (uint16_t port : ports) {
    EXPECT_EQ(flow_records[port], 1) << "client port " << port;
    EXPECT_EQ(requests[port], 1) << "client port " << port;
    EXPECT_EQ(echoes[port], 1) << "client port " << port;
  }
  // Both workers took part. With the address hash one host pair belongs to one worker, so only
  // the flow hash is sure to use both on this traffic.
  const std::string log = sensor.log();
  const std::optional<uint64_t> w0 = summary_counter(log, "0.packets");
  const std::optional<uint64_t> w1 = summary_counter(log, "1.packets");
  ASSERT_TRUE(w0.has_value() || w1.has_value()) << log;
  if (std::string_view(v.hash) == "flow") {
    EXPECT_GT(w0.value_or(0), 0u) << log;
    EXPECT_GT(w1.value_or(0), 0u) << log;
  }
  EXPECT_NE(log.find("fanout group"), std::string::npos) << log;
}

const FanoutVariant kVariants[] = {
    {"OneMirrorFlowHashIPv4", false, "flow", SpanTestbed::kServerV4},
    {"OneMirrorFlowHashIPv6", false, "flow", SpanTestbed::kServerV6},
    {"SplitMirrorFlowHashIPv4", true, "flow", SpanTestbed::kServerV4},
    {"SplitMirrorFlowHashIPv6", true, "flow", SpanTestbed::kServerV6},
    {"SplitMirrorAddressHashIPv4", true, "addresses", SpanTestbed::kServerV4},
};
INSTANTIATE_TEST_SUITE_P(Beds, FanoutCapture, ::testing::ValuesIn(kVariants), variant_name);

// Under the flow hash the kernel gives a fragment the worker of its addresses and the rest of its
// flow the worker of its addresses and ports: the worker that reassembles a datagram must hand it
// to the flow's. Each of many UDP flows sends a small datagram, then one the sender fragments
// (3,000 bytes over a 1,500-byte MTU) ending in a marker: one flow record per flow, with both
// datagrams, and the marker's alert once.
struct FragmentVariant {
  const char* name;
  int family;
  const char* client_ip;
  const char* server_ip;
};

class FanoutFragments : public ::testing::TestWithParam<FragmentVariant> {};

// `address`:`port` as a socket address of `family`; `len` gets its size.
sockaddr_storage socket_address(int family, const char* address, uint16_t port, socklen_t& len) {
  sockaddr_storage ss{};
  if (family == AF_INET) {
    auto& sa = reinterpret_cast<sockaddr_in&>(ss);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, address, &sa.sin_addr);
    len = sizeof sa;
  } else {
    auto& sa = reinterpret_cast<sockaddr_in6&>(ss);
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    inet_pton(AF_INET6, address, &sa.sin6_addr);
    len = sizeof sa;
  }
  return ss;
}

// A UDP socket in `ns` (bound to `address`:`port`, port 0: any) that never lets path MTU
// discovery stop it from fragmenting; closed on destruction.
struct UdpPeer {
  UdpPeer(const NetNamespace& ns, int family, const char* address, uint16_t port) {
    run_in_namespace(ns, [&] {
      fd = socket(family, SOCK_DGRAM, 0);
      if (fd < 0) return;
      const int dont = family == AF_INET ? IP_PMTUDISC_DONT : IPV6_PMTUDISC_DONT;
      if (family == AF_INET) {
        setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &dont, sizeof dont);
      } else {
        setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &dont, sizeof dont);
      }
      socklen_t len = 0;
      const sockaddr_storage sa = socket_address(family, address, port, len);
      bound = bind(fd, reinterpret_cast<const sockaddr*>(&sa), len) == 0;
    });
  }
  ~UdpPeer() {
    if (fd >= 0) close(fd);
  }
  uint16_t local_port() const {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    return ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in&>(ss).sin_port
                                         : reinterpret_cast<sockaddr_in6&>(ss).sin6_port);
  }
  bool send_to(int family, const char* address, uint16_t port, const std::string& data) const {
    socklen_t len = 0;
    const sockaddr_storage sa = socket_address(family, address, port, len);
    return sendto(fd, data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&sa), len) ==
           static_cast<ssize_t>(data.size());
  }
  // The size of the next datagram to arrive within `limit`, 0 if none did.
  size_t receive(std::chrono::milliseconds limit) const {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(limit.count())) <= 0) return 0;
    std::string buf(65536, '\0');
    const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    return n > 0 ? static_cast<size_t>(n) : 0;
  }
  int fd = -1;
  bool bound = false;
};

TEST_P(FanoutFragments, AReassembledDatagramJoinsItsFlowOnItsWorker) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  const FragmentVariant& v = GetParam();
  SpanTestbed bed;
  if (!bed.ok()) GTEST_SKIP() << bed.why();
  constexpr uint16_t kUdpPort = 9999;
  constexpr int kFlows = 24;
  ResetSensor sensor(bed,
                     "alert udp any any -> any 9999 (msg:\"fragmented\"; content:\"TAIL-MARKER\"; "
                     "sid:3; rev:1;)",
                     // Workers sleep in poll() up to 10 s when idle: a datagram handed to one
                     // must wake it, not wait for its next frame.
                     {"pipeline.workers=2", "capture.fanout=yes", "capture.fanout_hash=flow",
                      "capture.busy_poll=no", "capture.timeout=10s", "flow.records=yes"});
  ASSERT_TRUE(sensor.wait_ready(10s)) << sensor.log();
  UdpPeer server(bed.server(), v.family, v.server_ip, kUdpPort);
  ASSERT_TRUE(server.bound);
  const std::string big = std::string(3000, 'f') + "TAIL-MARKER";
  std::set<uint16_t> ports;
  for (int i = 0; i < kFlows; ++i) {
    UdpPeer client(bed.client(), v.family, v.client_ip, 0);
    ASSERT_TRUE(client.bound);
    ASSERT_TRUE(client.send_to(v.family, v.server_ip, kUdpPort, "PING"));
    ASSERT_EQ(server.receive(2s), 4u);
    ASSERT_TRUE(client.send_to(v.family, v.server_ip, kUdpPort, big));
    ASSERT_EQ(server.receive(2s), big.size());  // through the switch, so mirrored too
    ports.insert(client.local_port());
  }
  ASSERT_EQ(ports.size(), static_cast<size_t>(kFlows)) << "a client port recurred";
  // Each marker alerts while the sensor runs, the last flow's too.
  for (uint16_t port : ports) {
    EXPECT_TRUE(wait_eve_record(sensor, "alert", port, 3s).has_value()) << "client port " << port;
  }
  ASSERT_EQ(sensor.stop(), 0) << sensor.log();

  const std::vector<std::string> eve = sensor.eve_lines();
  std::map<uint16_t, int> flow_records, alerts;
  for (const std::string& line : eve) {
    const std::optional<std::string> type = json_member(line, "event_type");
    const std::optional<std::string> src = json_member(line, "src_port");
    if (!type || !src) continue;
    const auto port = static_cast<uint16_t>(std::stoul(*src));
    if (!ports.count(port)) continue;
    if (*type == "flow") {
      ++flow_records[port];
      EXPECT_EQ(json_path(line, {"flow", "pkts_toserver"}), "2") << line;
    } else if (*type == "alert") {
      ++alerts[port];
    }
  }
  for (uint16_t port : ports) {
    EXPECT_EQ(flow_records[port], 1) << "client port " << port;
    EXPECT_EQ(alerts[port], 1) << "client port " << port;
  }
  // With two workers about half the flows have their fragments on the other one.
  EXPECT_GT(eve_counter(eve, "capture.datagrams_handed_over").value_or(0), 0u) << sensor.log();
  EXPECT_EQ(eve_counter(eve, "capture.hand_over_dropped"), 0u);
}

const FragmentVariant kFragmentVariants[] = {
    {"IPv4", AF_INET, SpanTestbed::kClientV4, SpanTestbed::kServerV4},
    {"IPv6", AF_INET6, SpanTestbed::kClientV6, SpanTestbed::kServerV6},
};
std::string fragment_variant_name(const ::testing::TestParamInfo<FragmentVariant>& info) {
  return info.param.name;
}
INSTANTIATE_TEST_SUITE_P(Beds, FanoutFragments, ::testing::ValuesIn(kFragmentVariants),
                         fragment_variant_name);

}  // namespace
}  // namespace spanguard::testing
