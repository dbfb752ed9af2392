// EVE stats events: Suricata's statistics record, from a counter snapshot.
#include "spanguard/output/stats_json.h"

#include <algorithm>
#include <initializer_list>
#include <utility>

#include "spanguard/output/json_line.h"

namespace spanguard::output {

void append_stats_json(const core::CounterSnapshot& c, std::string_view timestamp,
                       int64_t uptime_seconds, std::string_view host, std::string& out) {
  JsonLine j(out);
  const auto section = [&](std::string_view name,
                           std::initializer_list<std::pair<const char*, uint64_t>> values) {
    j.object(name);
    for (const auto& [key, value] : values) j.number(key, value);
    j.close();
  };
  uint64_t malformed = 0;
  for (const auto& e : c.entries()) {
    if (e.name.starts_with("decode.malformed.")) malformed += e.value;
  }
  j.open();
  j.plain("timestamp", timestamp);
  j.plain("event_type", "stats");
  if (!host.empty()) j.text("host", host);
  j.object("stats");
  j.number("uptime", static_cast<uint64_t>(std::max<int64_t>(0, uptime_seconds)));
  section("capture",
          {{"kernel_packets", c.get("capture.received") + c.get("capture.kernel_dropped")},
           {"kernel_drops", c.get("capture.kernel_dropped")},
           {"kernel_ifdrops", c.get("capture.interface_dropped")}});
  section("decoder", {{"pkts", c.get("decode.packets")},
                      {"bytes", c.get("decode.bytes")},
                      {"invalid", malformed},
                      {"ethernet", c.get("decode.ethernet")},
                      {"vlan", c.get("decode.vlan")},
                      {"vlan_qinq", c.get("decode.qinq")},
                      {"sll", c.get("decode.linux_sll")},
                      {"raw", c.get("decode.raw_ip")},
                      {"chdlc", c.get("decode.cisco_hdlc")},
                      {"ppp", c.get("decode.ppp")},
                      {"pppoe", c.get("decode.pppoe")},
                      {"ipv4", c.get("decode.ipv4")},
                      {"ipv6", c.get("decode.ipv6")},
                      {"tcp", c.get("decode.tcp")},
                      {"udp", c.get("decode.udp")},
                      {"icmpv4", c.get("decode.icmp")},
                      {"icmpv6", c.get("decode.icmpv6")},
                      {"gre", c.get("decode.gre")},
                      {"erspan", c.get("decode.erspan")},
                      {"vxlan", c.get("decode.vxlan")},
                      {"teredo", c.get("decode.teredo")}});
  section("flow", {{"total", c.get("flow.created")},
                   {"active", c.get("flow.active")},
                   {"memuse", c.get("flow.memory_bytes")},
                   {"tcp_reuse", c.get("flow.ended.reused")},
                   {"emerg_mode_entered", c.get("flow.emergency.entered")},
                   {"emerg_mode_over", c.get("flow.emergency.left")}});
  section("tcp", {{"midstream_pickups", c.get("flow.tcp.midstream")},
                  {"overlap", c.get("stream.overlaps")},
                  {"overlap_diff_data", c.get("stream.overlap_mismatch")},
                  {"reassembly_gap", c.get("stream.gaps")},
                  {"stream_depth_reached", c.get("stream.depth_reached")},
                  {"segment_memcap_drop", c.get("stream.memcap_drops")},
                  {"reassembly_memuse", c.get("stream.memory_bytes")}});
  section("detect", {{"alert", c.get("detect.alerts")}});
  section("defrag", {{"memuse", c.get("defrag.memory_bytes")}});
  j.close();
  j.object("counters");
  for (const auto& e : c.entries()) j.number(e.name, e.value);
  j.close();
  j.close();
  j.end();
  out += '\n';
}

}  // namespace spanguard::output
