// EVE events: timestamp and protocol formats, flow records built from flows, and JSON lines whose
// names and number types are EVE's.
#include "spanguard/events/events.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "spanguard/core/error.h"
#include "spanguard/output/eve_writer.h"
#include "spanguard/output/json_printer.h"

namespace spanguard::events {
namespace {

using output::eve_timestamp;
using output::EveWriter;

TEST(Events, TimestampsAreEveFormatInUtc) {
  EXPECT_EQ(eve_timestamp(core::timestamp_from_ns(1'713'693'600'123'456'789)),
            "2024-04-21T10:00:00.123456+0000");
  EXPECT_EQ(eve_timestamp(core::timestamp_from_ns(0)), "1970-01-01T00:00:00.000000+0000");
  // Leap days, century rules, carries at the end of a year.
  EXPECT_EQ(eve_timestamp(core::timestamp_from_ns(1'709'164'800'999'999'000)),
            "2024-02-29T00:00:00.999999+0000");
  EXPECT_EQ(eve_timestamp(core::timestamp_from_ns(951'868'800'000'000'000)),
            "2000-03-01T00:00:00.000000+0000");
  EXPECT_EQ(eve_timestamp(core::timestamp_from_ns(946'684'799'999'999'999)),
            "1999-12-31T23:59:59.999999+0000");
  EXPECT_EQ(eve_timestamp(core::timestamp_from_ns(4'102'444'800'000'001'000)),
            "2100-01-01T00:00:00.000001+0000");
}

TEST(Events, EveTimestampsReadBackToTheirSecond) {
  // Every day of 1970-2101 (leap days, century rules) at a time of day, round trip.
  for (int64_t day = 0; day < 48'000; day += 1) {
    const int64_t seconds = day * 86400 + (day * 7919) % 86400;
    EXPECT_EQ(output::eve_timestamp_seconds(
                  eve_timestamp(core::timestamp_from_ns(seconds * 1'000'000'000 + 123'456'000))),
              seconds)
        << day;
  }
  EXPECT_EQ(output::eve_timestamp_seconds("2024-04-21T12:00:00+0200"), 1'713'693'600);
  EXPECT_EQ(output::eve_timestamp_seconds("2024-04-21T05:30:00.5-0430"), 1'713'693'600);
  for (const char* bad : {"", "2024-04-21", "2024-04-21T10:00:00", "2024-13-01T00:00:00+0000",
                          "2024-04-21T10:00:00.123456+00", "2024-04-21 10:00:00+0000",
                          "2024-04-21T10:00:00.123456+0000x"}) {
    EXPECT_FALSE(output::eve_timestamp_seconds(bad).has_value()) << bad;
  }
}

TEST(Events, ProtocolNamesAreEves) {
  EXPECT_EQ(proto_name(6), "TCP");
  EXPECT_EQ(proto_name(17), "UDP");
  EXPECT_EQ(proto_name(1), "ICMP");
  EXPECT_EQ(proto_name(58), "IPv6-ICMP");
  EXPECT_EQ(proto_name(132), "132");
}

flow::Flow make_flow() {
  flow::Flow f;
  f.key.family = 4;
  f.key.proto = 6;
  const uint8_t server[4] = {198, 51, 100, 2}, client[4] = {198, 51, 100, 9};
  std::memcpy(f.key.addr[0].data(), server, 4);  // the lower endpoint is the server here
  std::memcpy(f.key.addr[1].data(), client, 4);
  f.key.port[0] = 443;
  f.key.port[1] = 50000;
  f.client_is_first = false;
  f.flow_id = (uint64_t{1} << 51) - 1;
  f.first_seen = core::timestamp_from_ns(1'713'693'600'000'000'000);
  f.last_seen = core::timestamp_from_ns(1'713'693'605'500'000'000);
  f.packets[0] = 7;
  f.packets[1] = 0;
  f.bytes[0] = 5'000'000'000;  // beyond 32 bits
  f.endpoint[0].vlan_count = 2;
  f.endpoint[0].vlan_ids[0] = 100;
  f.endpoint[0].vlan_ids[1] = 200;
  return f;
}

// Flows of every shape a record can take.
std::vector<flow::Flow> varied_flows() {
  std::vector<flow::Flow> flows;
  flows.push_back(make_flow());  // TCP, two VLAN tags, nothing back, 64-bit bytes
  flow::Flow web = make_flow();
  web.endpoint[0].vlan_count = 0;
  web.client_is_first = true;
  web.packets[1] = 5;
  web.bytes[1] = 4096;
  web.tcp_flags[0] = 0x1b;
  web.tcp_flags[1] = 0xd2;  // ECE, CWR, SYN, ACK
  web.app_proto = core::AppProto::kHttp;
  web.alerted = true;
  web.parent_flow_id = 12345;
  web.gaps[1] = 2;  // the capture lost bytes of the response: tc_gap
  flows.push_back(std::move(web));
  flow::Flow v6;
  v6.key.family = 6;
  v6.key.proto = 17;
  v6.key.addr[0] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  v6.key.addr[1] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x35};
  v6.key.port[0] = 40000;
  v6.key.port[1] = 53;
  v6.flow_id = 7;
  v6.first_seen = core::timestamp_from_ns(1'713'693'600'000'000'001);
  v6.last_seen = core::timestamp_from_ns(1'713'693'600'000'999'999);
  v6.packets[0] = v6.packets[1] = 1;
  v6.app_proto = core::AppProto::kDns;
  flows.push_back(std::move(v6));
  for (const bool answered : {false, true}) {
    flow::Flow ping = make_flow();
    ping.key.proto = 1;
    ping.key.port[0] = ping.key.port[1] = 0;
    ping.icmp_type = 8;
    ping.icmp_reply_type = 0;
    ping.packets[1] = answered ? 1 : 0;
    flows.push_back(std::move(ping));
  }
  flow::Flow sctp = make_flow();
  sctp.key.proto = 132;
  flows.push_back(std::move(sctp));
  return flows;
}

// The direct JSON of a flow record (the EVE file without an alert stream) is byte for byte what
// printing the protobuf record gives, for every shape of flow and every extra.
TEST(Events, FlowRecordJsonEqualsThePrintedMessage) {
  const FlowRecordExtras extras[] = {
      {},
      {.seq = 42, .host = "sensor-1", .community_id = "1:abc+/=", .idle_action = "report"},
      {.seq = 1, .host = "a \"quoted\" \\ host\n", .community_id = "", .idle_action = "reset"},
  };
  int compared = 0;
  for (const flow::Flow& f : varied_flows()) {
    for (const flow::EndReason reason :
         {flow::EndReason::kClosed, flow::EndReason::kTimeout, flow::EndReason::kReused,
          flow::EndReason::kEvicted, flow::EndReason::kShutdown}) {
      for (const FlowRecordExtras& x : extras) {
        v1::FlowRecord r = flow_record(f, reason);
        r.set_seq(x.seq);
        r.set_host(std::string(x.host));
        r.set_community_id(std::string(x.community_id));
        r.set_idle_action(std::string(x.idle_action));
        std::string printed;
        ASSERT_TRUE(output::append_json(r, printed));
        printed += '\n';
        std::string direct;
        append_flow_record_json(f, reason, x, direct);
        EXPECT_EQ(direct, printed);
        ++compared;
      }
    }
  }
  EXPECT_EQ(compared, 6 * 5 * 3);
}

TEST(Events, FlowRecordPutsTheClientFirstAndKeepsCounts) {
  const v1::FlowRecord r = flow_record(make_flow(), flow::EndReason::kEvicted);
  EXPECT_EQ(r.event_type(), "flow");
  EXPECT_EQ(r.src_ip(), "198.51.100.9");
  EXPECT_EQ(r.src_port(), 50000u);
  EXPECT_EQ(r.dest_ip(), "198.51.100.2");
  EXPECT_EQ(r.dest_port(), 443u);
  EXPECT_EQ(r.proto(), "TCP");
  ASSERT_EQ(r.vlan_size(), 2);
  EXPECT_EQ(r.vlan(1), 200u);
  EXPECT_EQ(r.flow().pkts_toserver(), 7);
  EXPECT_EQ(r.flow().bytes_toserver(), 5'000'000'000.0);
  EXPECT_EQ(r.flow().age(), 5);
  EXPECT_EQ(r.flow().reason(), "forced");
  EXPECT_EQ(r.end_reason(), "evicted");
  EXPECT_EQ(static_cast<uint64_t>(r.flow_id()), (uint64_t{1} << 51) - 1);  // exact in a double
}

TEST(Events, JsonLinesHaveEveNamesAndNumbers) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("eve-" + std::to_string(getpid()) + ".json"))
          .string();
  {
    EveWriter w(path);
    w.write(flow_record(make_flow(), flow::EndReason::kTimeout));
    w.write(flow_record(make_flow(), flow::EndReason::kShutdown));
    EXPECT_EQ(w.events(), 2u);
  }
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    // Numbers, not the strings proto3 JSON gives 64-bit integers; zero counts still present.
    EXPECT_TRUE(std::regex_search(line, std::regex("\"flow_id\":2251799813685247[,}]"))) << line;
    EXPECT_NE(line.find("\"pkts_toclient\":0"), std::string::npos) << line;
    EXPECT_NE(line.find("\"bytes_toserver\":5000000000"), std::string::npos) << line;
    EXPECT_NE(line.find("\"src_ip\":\"198.51.100.9\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"vlan\":[100,200]"), std::string::npos) << line;
    EXPECT_EQ(line.find("app_proto"), std::string::npos)
        << "unknown app_proto is omitted: " << line;
    v1::FlowRecord back;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &back).ok()) << line;
    EXPECT_EQ(back.dest_port(), 443u);
  }
  EXPECT_EQ(lines, 2);
  std::filesystem::remove(path);
}

size_t lines_in(const std::string& path) {
  std::ifstream in(path);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// What a SIEM tailing the file sees: nothing of a batch until it is flushed (a line at a time with
// flush_each_line); after rotation (the file moved away, reopen()), the events that follow go to a
// new file at the path and none is lost.
TEST(Events, EveFileFlushedByBatchOrLineAndReopenedForRotation) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("eve-rot-" + std::to_string(getpid()) + ".json"))
          .string();
  const std::string rotated = path + ".1";
  std::filesystem::remove(path);
  std::filesystem::remove(rotated);
  {
    EveWriter w(path);
    w.write(flow_record(make_flow(), flow::EndReason::kTimeout));
    EXPECT_EQ(lines_in(path), 0u) << "buffered until the batch ends";
    w.flush();
    EXPECT_EQ(lines_in(path), 1u);
    std::filesystem::rename(path, rotated);
    w.write(flow_record(make_flow(), flow::EndReason::kTimeout));  // still the old file
    ASSERT_TRUE(w.reopen());
    w.write(flow_record(make_flow(), flow::EndReason::kShutdown));
    w.flush();
    EXPECT_EQ(lines_in(rotated), 2u);
    EXPECT_EQ(lines_in(path), 1u);
  }
  {
    EveWriter w(path, /*flush_each_line=*/true);
    w.write(flow_record(make_flow(), flow::EndReason::kTimeout));
    EXPECT_EQ(lines_in(path), 2u) << "flushed as written";
  }
  std::filesystem::remove(path);
  std::filesystem::remove(rotated);
}

TEST(Events, UnwritablePathIsARuntimeErrorNamingIt) {
  EXPECT_THROW(EveWriter("/nonexistent/dir/eve.json"), core::RuntimeError);
}

}  // namespace
}  // namespace spanguard::events
