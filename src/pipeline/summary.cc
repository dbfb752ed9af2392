// One screen of figures for an operator at the end of a replay or a live run.
#include "spanguard/pipeline/summary.h"

#include <spdlog/fmt/fmt.h>

#include <map>
#include <vector>

namespace spanguard::pipeline {

namespace {

std::string thousands(uint64_t v) {
  std::string digits = std::to_string(v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// "decode.malformed.ipv4.bad_ihl" -> module "decode", rest "malformed.ipv4.bad_ihl".
std::pair<std::string_view, std::string_view> split(std::string_view name) {
  const auto dot = name.find('.');
  return {name.substr(0, dot), dot == std::string_view::npos ? "" : name.substr(dot + 1)};
}

void line(std::string& out, std::string_view label, const std::vector<std::string>& items) {
  if (items.empty()) return;
  std::string text = fmt::format("  {:<11}", label);
  size_t width = text.size();
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string piece = (i == 0 ? "" : ", ") + items[i];
    if (width + piece.size() > 100) {
      text += ",\n" + std::string(13, ' ') + items[i];
      width = 13 + items[i].size();
    } else {
      text += piece;
      width += piece.size();
    }
  }
  out += text + "\n";
}

}  // namespace

std::string format_summary(std::string_view title, const core::CounterSnapshot& counters,
                           double wall_seconds) {
  const uint64_t packets = counters.get("decode.packets");
  const uint64_t bytes = counters.get("decode.bytes");
  const double seconds = wall_seconds > 0 ? wall_seconds : 1e-9;
  std::string out = fmt::format("{}\n", title);
  out += fmt::format("  {:<11}{} packets, {} bytes in {:.3f} s: {:.1f} Mbit/s, {:.1f} kpps\n",
                     "input", thousands(packets), thousands(bytes), wall_seconds,
                     static_cast<double>(bytes) * 8 / seconds / 1e6,
                     static_cast<double>(packets) / seconds / 1e3);

  static const std::map<std::string_view, std::string_view> kDecodeLine = {
      {"ethernet", "link"},     {"vlan", "link"},
      {"qinq", "link"},         {"linux_sll", "link"},
      {"raw_ip", "link"},       {"not_ip", "link"},
      {"ipv4", "network"},      {"ipv6", "network"},
      {"fragments", "network"}, {"tcp", "transport"},
      {"udp", "transport"},     {"icmp", "transport"},
      {"icmpv6", "transport"},  {"other_ip_proto", "transport"},
      {"gre", "tunnels"},       {"erspan", "tunnels"},
      {"vxlan", "tunnels"},     {"pppoe", "link"},
      {"ppp", "link"},          {"cisco_hdlc", "link"},
      {"pptp", "tunnels"},      {"teredo", "tunnels"}};
  std::map<std::string_view, std::vector<std::string>> decode_lines;
  std::vector<std::string> malformed, anomalies;
  uint64_t malformed_total = 0;
  std::vector<std::string_view> module_order;
  std::map<std::string_view, std::vector<std::string>> modules;

  for (const auto& e : counters.entries()) {
    const auto [module, rest] = split(e.name);
    if (module == "decode") {
      if (rest.starts_with("malformed.")) {
        malformed_total += e.value;
        if (e.value) malformed.push_back(fmt::format("{} {}", rest.substr(10), thousands(e.value)));
      } else if (rest.starts_with("anomaly.")) {
        if (e.value) anomalies.push_back(fmt::format("{} {}", rest.substr(8), thousands(e.value)));
      } else if (const auto it = kDecodeLine.find(rest); it != kDecodeLine.end() && e.value) {
        decode_lines[it->second].push_back(fmt::format("{} {}", rest, thousands(e.value)));
      }
      continue;
    }
    if (modules.find(module) == modules.end()) module_order.push_back(module);
    auto& items = modules[module];
    if (e.value) items.push_back(fmt::format("{} {}", rest, thousands(e.value)));
  }
  for (std::string_view label : {"link", "network", "transport", "tunnels"}) {
    line(out, label, decode_lines[label]);
  }
  if (malformed.empty()) {
    out += fmt::format("  {:<11}none\n", "malformed");
  } else {
    line(out, fmt::format("malformed"), {fmt::format("{} total", thousands(malformed_total))});
    line(out, "", malformed);
  }
  line(out, "anomalies", anomalies);
  for (std::string_view module : module_order) line(out, module, modules[module]);
  return out;
}

}  // namespace spanguard::pipeline
