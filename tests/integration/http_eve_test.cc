// What a SIEM receives about HTTP: alerts on an HTTP transaction carry app_proto, tx_id, the
// rule's metadata and EVE's http object (hostname, url, user agent, method, protocol, status,
// length, content type, referer, redirect); flow records carry app_proto; output.eve.http adds one
// event_type "http" record per transaction; the alert stream carries the same records to the
// collector.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "capture_writer.h"
#include "frame_builder.h"
#include "process.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

std::vector<std::string> of_type(const std::vector<std::string>& lines, const std::string& type) {
  std::vector<std::string> out;
  for (const std::string& l : lines) {
    if (l.find("\"event_type\":\"" + type + "\"") != std::string::npos) out.push_back(l);
  }
  return out;
}

bool has(const std::string& line, const std::string& json_fragment) {
  return line.find(json_fragment) != std::string::npos;
}

// Two keep-alive transactions on port 8080; the second is redirected.
std::string capture(const std::string& name) {
  const std::string path = temp_path(name);
  CaptureWriter w(path);
  int64_t ts = 1'700'000'000'000'000'000;
  TcpConversation c({"198.51.100.1", 40000, kClientMac}, {"198.51.100.2", 8080, kServerMac});
  std::vector<Bytes> frames = c.handshake();
  auto add = [&](const std::vector<Bytes>& more) {
    frames.insert(frames.end(), more.begin(), more.end());
  };
  add(c.client_sends(
      "GET /shop/item?id=7 HTTP/1.1\r\nHost: Shop.Example:8080\r\nUser-Agent: probe/1.0\r\n"
      "Referer: http://start.example/\r\n\r\n"));
  add(c.server_sends(
      "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\r\nhello world"));
  add(c.client_sends("GET /old HTTP/1.1\r\nHost: shop.example\r\n\r\n"));
  add(c.server_sends(
      "HTTP/1.1 301 Moved Permanently\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n"));
  add(c.close());
  for (const Bytes& f : frames) w.write(f, ts += 1000);
  return path;
}

std::string rules(const std::string& name) {
  const std::string path = temp_path(name);
  std::ofstream(path)
      << "alert http any any -> any any (msg:\"item\"; flow:to_server; http.uri; "
         "content:\"/shop/item\"; metadata:attack_target Web_Server, attack_target Client, "
         "signature_severity Major; sid:10;)\n"
         "alert http any any -> any any (msg:\"moved\"; flow:to_client; http.stat_code; "
         "content:\"301\"; sid:11;)\n";
  return path;
}

TEST(HttpEve, AlertsCarryTheTransactionsHttpObjectAndFlowsTheirAppProto) {
  const std::string eve = temp_path("http.json");
  const RunResult r = run({spanguard_binary(), "replay", "--pcap", capture("http.pcap"), "--rules",
                           rules("http.rules"), "--eve", eve, "--set", "flow.records=yes"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto lines = lines_of(eve);
  const auto alerts = of_type(lines, "alert");
  ASSERT_EQ(alerts.size(), 2u) << r.err;
  const std::string& item = has(alerts[0], "\"signature_id\":10") ? alerts[0] : alerts[1];
  const std::string& moved = has(alerts[0], "\"signature_id\":11") ? alerts[0] : alerts[1];
  EXPECT_TRUE(has(item, "\"app_proto\":\"http\"")) << item;
  EXPECT_TRUE(has(item, "\"tx_id\":0")) << item;
  EXPECT_TRUE(has(item, "\"hostname\":\"shop.example\"")) << item;
  EXPECT_TRUE(has(item, "\"http_port\":8080")) << item;
  EXPECT_TRUE(has(item, "\"url\":\"/shop/item?id=7\"")) << item;
  EXPECT_TRUE(has(item, "\"http_user_agent\":\"probe/1.0\"")) << item;
  EXPECT_TRUE(has(item, "\"http_refer\":\"http://start.example/\"")) << item;
  EXPECT_TRUE(has(item, "\"http_method\":\"GET\"")) << item;
  EXPECT_TRUE(has(item, "\"protocol\":\"HTTP/1.1\"")) << item;
  // The rule's metadata as EVE's alert.metadata: each key with all of its values.
  EXPECT_TRUE(has(item, "\"attack_target\":[\"Web_Server\",\"Client\"]")) << item;
  EXPECT_TRUE(has(item, "\"signature_severity\":[\"Major\"]")) << item;
  EXPECT_FALSE(has(moved, "\"metadata\"")) << moved;
  EXPECT_TRUE(has(moved, "\"tx_id\":1")) << moved;
  EXPECT_TRUE(has(moved, "\"status\":301")) << moved;
  EXPECT_TRUE(has(moved, "\"redirect\":\"/new\"")) << moved;
  EXPECT_TRUE(has(moved, "\"url\":\"/old\"")) << moved;
  const auto flows = of_type(lines, "flow");
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_TRUE(has(flows[0], "\"app_proto\":\"http\"")) << flows[0];
  EXPECT_TRUE(of_type(lines, "http").empty());  // output.eve.http is off by default
}

TEST(HttpEve, TransactionRecordsAreWrittenWhenAskedFor) {
  const std::string eve = temp_path("records.json");
  const RunResult r = run({spanguard_binary(), "replay", "--pcap", capture("records.pcap"), "--eve",
                           eve, "--set", "output.eve.http=true", "--set", "flow.records=no"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto records = of_type(lines_of(eve), "http");
  ASSERT_EQ(records.size(), 2u) << r.err;
  EXPECT_TRUE(has(records[0], "\"tx_id\":0")) << records[0];
  EXPECT_TRUE(has(records[0], "\"status\":200")) << records[0];
  EXPECT_TRUE(has(records[0], "\"length\":11")) << records[0];
  EXPECT_TRUE(has(records[0], "\"http_content_type\":\"text/html\"")) << records[0];
  EXPECT_TRUE(has(records[0], "\"src_ip\":\"198.51.100.1\"")) << records[0];
  EXPECT_TRUE(has(records[0], "\"dest_port\":8080")) << records[0];
  EXPECT_TRUE(has(records[1], "\"tx_id\":1")) << records[1];
  EXPECT_TRUE(has(records[1], "\"status\":301")) << records[1];
}

}  // namespace
}  // namespace spanguard::testing
