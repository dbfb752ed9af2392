// Several workers, each reading its own share of the mirror through an AF_PACKET fanout group:
// real TCP sessions in network namespaces, mirrored either on one port or split over two (one
// direction each, as from a TAP). Every flow must be seen whole by exactly one worker — one flow
// record per connection with packets both ways, each direction's alert once — whichever hash
// decides.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <set>

#include "process.h"
#include "reset_harness.h"
#include "span_testbed.h"
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

}  // namespace
}  // namespace spanguard::testing
