// EVE printing cost: flow records and alerts through protobuf's JSON printer (what EveWriter used)
// and through the reflection printer of output/json_printer.h, in µs per event, single thread.
// Usage: eve_bench [events=100000] [--print: show one line of each kind from both printers]
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "spanguard/events/events.h"
#include "spanguard/output/json_printer.h"

namespace {

using namespace spanguard;
using Clock = std::chrono::steady_clock;

// A TCP flow as the flow table ends it: both directions, a VLAN tag, an identified app protocol.
v1::FlowRecord sample_flow(uint64_t i) {
  flow::Flow f;
  f.key.family = 4;
  f.key.proto = 6;
  const uint8_t server[4] = {203, 0, 113, 5};
  const uint8_t client[4] = {198, 51, 100, static_cast<uint8_t>(i)};
  std::memcpy(f.key.addr[0].data(), client, 4);
  std::memcpy(f.key.addr[1].data(), server, 4);
  f.key.port[0] = static_cast<uint16_t>(40000 + i % 20000);
  f.key.port[1] = 443;
  f.flow_id = (uint64_t{1} << 48) + i * 7919;
  f.first_seen = core::timestamp_from_ns(1'713'693'600'000'000'000 + static_cast<int64_t>(i));
  f.last_seen = core::timestamp_from_ns(1'713'693'630'250'000'000 + static_cast<int64_t>(i));
  f.packets[0] = 12 + i % 100;
  f.packets[1] = 10 + i % 90;
  f.bytes[0] = 1500 + i * 3;
  f.bytes[1] = 48'000 + i * 5;
  f.alerted = i % 10 == 0;
  f.app_proto = core::AppProto::kTls;
  f.endpoint[0].vlan_count = 1;
  f.endpoint[0].vlan_ids[0] = 100;
  v1::FlowRecord r = events::flow_record(f, flow::EndReason::kTimeout);
  r.set_seq(i + 1);
  r.set_host("sensor-a");
  r.set_run_id("run-20240421-100000-1a2b");
  return r;
}

// A typical alert: rule with EVE metadata, a reset, the HTTP transaction, a 64-byte excerpt.
v1::Alert sample_alert(uint64_t i) {
  v1::Alert a;
  a.set_timestamp("2024-04-21T10:00:00.123456+0000");
  a.set_flow_id(static_cast<double>((uint64_t{1} << 48) + i));
  a.set_event_type("alert");
  a.set_src_ip("198.51.100.9");
  a.set_src_port(static_cast<uint32_t>(40000 + i % 20000));
  a.set_dest_ip("203.0.113.5");
  a.set_dest_port(80);
  a.set_proto("TCP");
  a.add_vlan(100);
  a.set_app_proto("http");
  auto* info = a.mutable_alert();
  info->set_action("blocked");
  info->set_gid(1);
  info->set_signature_id(2019001);
  info->set_rev(3);
  info->set_signature("ET WEB_SERVER Possible SQL Injection Attempt UNION SELECT");
  info->set_category("Web Application Attack");
  info->set_severity(1);
  auto& metadata = *info->mutable_metadata()->mutable_fields();
  metadata["attack_target"].mutable_list_value()->add_values()->set_string_value("Web_Server");
  metadata["signature_severity"].mutable_list_value()->add_values()->set_string_value("Major");
  metadata["created_at"].mutable_list_value()->add_values()->set_string_value("2010_07_30");
  a.set_seq(i + 1);
  a.set_payload(std::string(64, 'A'));
  auto* reset = a.mutable_reset();
  reset->set_mode("rst");
  reset->mutable_client()->set_packets(1);
  reset->mutable_client()->set_follow_ups(0);
  reset->mutable_client()->set_outcome("pending");
  reset->mutable_server()->set_packets(1);
  reset->mutable_server()->set_follow_ups(0);
  reset->mutable_server()->set_outcome("pending");
  auto* http = a.mutable_http();
  http->set_hostname("www.example.com");
  http->set_url("/index.php?id=1%20UNION%20SELECT%201,2,3--");
  http->set_http_user_agent(
      "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0");
  http->set_http_method("GET");
  http->set_protocol("HTTP/1.1");
  a.set_tx_id(0);
  a.set_host("sensor-a");
  a.set_run_id("run-20240421-100000-1a2b");
  return a;
}

struct Figures {
  double protobuf_us = 0;
  double ours_us = 0;
  size_t protobuf_bytes = 0;
  size_t ours_bytes = 0;
};

// Prints every event `rounds` times over with each printer, into a reused line as EveWriter does.
template <typename Event>
Figures time_printers(const std::vector<Event>& events, size_t count) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string line;
  Figures f;
  auto t = Clock::now();
  for (size_t i = 0; i < count; ++i) {
    line.clear();
    if (!google::protobuf::util::MessageToJsonString(events[i % events.size()], &line, options)
             .ok()) {
      std::abort();
    }
    f.protobuf_bytes += line.size();
  }
  f.protobuf_us = std::chrono::duration<double, std::micro>(Clock::now() - t).count() /
                  static_cast<double>(count);
  t = Clock::now();
  for (size_t i = 0; i < count; ++i) {
    line.clear();
    if (!output::append_json(events[i % events.size()], line)) std::abort();
    f.ours_bytes += line.size();
  }
  f.ours_us = std::chrono::duration<double, std::micro>(Clock::now() - t).count() /
              static_cast<double>(count);
  return f;
}

void report(const char* kind, const Figures& f, size_t count) {
  std::printf(
      "%-13s n=%zu  protobuf %7.3f us/event (%5.0f B)  reflection+rapidjson %7.3f us/event "
      "(%5.0f B)  speed-up x%.1f\n",
      kind, count, f.protobuf_us,
      static_cast<double>(f.protobuf_bytes) / static_cast<double>(count), f.ours_us,
      static_cast<double>(f.ours_bytes) / static_cast<double>(count), f.protobuf_us / f.ours_us);
}

}  // namespace

int main(int argc, char** argv) {
  size_t count = 100'000;
  bool print = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--print") == 0) {
      print = true;
    } else {
      count = std::strtoull(argv[i], nullptr, 10);
    }
  }
  if (count == 0) count = 1;
  // Distinct events, cycled, so that caches see realistic variety without holding `count` messages.
  constexpr size_t kDistinct = 1000;
  std::vector<v1::FlowRecord> flows;
  std::vector<v1::Alert> alerts;
  for (size_t i = 0; i < kDistinct; ++i) {
    flows.push_back(sample_flow(i));
    alerts.push_back(sample_alert(i));
  }
  if (print) {
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    const google::protobuf::Message* samples[] = {&flows[1], &alerts[1]};
    for (const google::protobuf::Message* m : samples) {
      std::string a, b;
      (void)google::protobuf::util::MessageToJsonString(*m, &a, options);
      output::append_json(*m, b);
      std::printf("protobuf:   %s\nreflection: %s\n", a.c_str(), b.c_str());
    }
  }
  time_printers(flows, kDistinct);  // warm-up: descriptors, type resolver, thread-local printer
  time_printers(alerts, kDistinct);
  report("flow record", time_printers(flows, count), count);
  report("alert", time_printers(alerts, count), count);
  return 0;
}
