// Grouping of header-only rules: a packet must be offered every rule whose addresses and ports it
// satisfies (the index may offer more, never fewer), and rules that select on a host or port must
// not be offered to every packet.
#include "spanguard/detect/header_index.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "spanguard/rules/parser.h"

namespace spanguard::detect {
namespace {

core::IpAddress ip(const std::string& text) { return core::IpAddress::parse(text).value(); }

std::vector<rules::Rule> parse(const std::string& text) {
  rules::RuleParser parser(rules::default_variables(), nullptr);
  parser.parse_text(text, "t.rules");
  rules::RuleSet set = parser.take();
  for (const rules::Diagnostic& d : set.diagnostics) ADD_FAILURE() << d.to_string();
  return std::move(set.rules);
}

HeaderIndex index_of(const std::vector<rules::Rule>& rules) {
  HeaderIndex index;
  for (size_t i = 0; i < rules.size(); ++i) index.add(static_cast<uint32_t>(i), rules[i]);
  return index;
}

std::set<uint32_t> offered(const HeaderIndex& index, const std::string& src, const std::string& dst,
                           uint16_t sport, uint16_t dport) {
  std::set<uint32_t> out;
  index.visit(ip(src), ip(dst), sport, dport,
              [&](std::span<const uint32_t> rules) { out.insert(rules.begin(), rules.end()); });
  return out;
}

bool header_matches(const rules::Rule& r, const core::IpAddress& src, const core::IpAddress& dst,
                    uint16_t sport, uint16_t dport) {
  const auto one_way = [&](const core::IpAddress& s, const core::IpAddress& d, uint16_t sp,
                           uint16_t dp) {
    return r.src.contains(s) && r.dst.contains(d) && r.src_ports.contains(sp) &&
           r.dst_ports.contains(dp);
  };
  return one_way(src, dst, sport, dport) || (r.bidirectional && one_way(dst, src, dport, sport));
}

TEST(HeaderIndex, ReputationRulesAreOfferedOnlyForTheirHostsAsSource) {
  const auto rules = parse(
      "alert ip [198.51.100.7,198.51.100.64/26] any -> $HOME_NET any (msg:\"rep 1\"; sid:1;)\n"
      "alert ip [198.51.100.8,2001:db8::8] any -> $HOME_NET any (msg:\"rep 2\"; sid:2;)\n");
  const HeaderIndex index = index_of(rules);
  EXPECT_EQ(index.stats().by_address, 2u);
  EXPECT_EQ(offered(index, "198.51.100.7", "198.51.100.1", 1, 2), std::set<uint32_t>{0});
  EXPECT_EQ(offered(index, "198.51.100.100", "198.51.100.1", 1, 2), std::set<uint32_t>{0});
  EXPECT_EQ(offered(index, "2001:db8::8", "2001:db8::1", 1, 2), std::set<uint32_t>{1});
  EXPECT_TRUE(offered(index, "198.51.100.9", "198.51.100.1", 1, 2).empty());
  // The listed host as destination does not satisfy a one-way rule.
  EXPECT_TRUE(offered(index, "198.51.100.1", "198.51.100.7", 1, 2).empty());
}

TEST(HeaderIndex, BidirectionalRulesAreOfferedWithTheirHostAtEitherEnd) {
  const HeaderIndex index =
      index_of(parse("alert ip 198.51.100.7 any <> any any (msg:\"m\"; sid:1;)"));
  EXPECT_EQ(offered(index, "198.51.100.7", "198.51.100.1", 1, 2), std::set<uint32_t>{0});
  EXPECT_EQ(offered(index, "198.51.100.1", "198.51.100.7", 1, 2), std::set<uint32_t>{0});
  EXPECT_TRUE(offered(index, "198.51.100.1", "198.51.100.2", 1, 2).empty());
}

TEST(HeaderIndex, RulesOnWideOrAnyAddressesAreGroupedByPort) {
  const HeaderIndex index = index_of(
      parse("alert tcp any any -> any 445 (msg:\"smb syn\"; flags:S; sid:1;)\n"
            "alert tcp 198.0.0.0/8 any -> any [23,2323] (msg:\"telnet\"; flags:S; sid:2;)\n"
            "alert tcp 198.0.0.0/8 1024: -> any any (msg:\"high\"; flags:S; sid:3;)\n"));
  // A /8 selects worse than two ports, but better than a range of 64,512 ports.
  EXPECT_EQ(index.stats().by_port, 2u);
  EXPECT_EQ(index.stats().by_address, 1u);
  EXPECT_EQ(offered(index, "198.51.100.1", "198.51.100.2", 40000, 445), (std::set<uint32_t>{0, 2}));
  EXPECT_EQ(offered(index, "203.0.113.1", "198.51.100.2", 40000, 2323), std::set<uint32_t>{1});
  EXPECT_TRUE(offered(index, "203.0.113.1", "198.51.100.2", 1000, 446).empty());
}

TEST(HeaderIndex, RulesWithNothingToSelectOnAreOfferedToEveryPacket) {
  const HeaderIndex index =
      index_of(parse("alert tcp any any -> any any (msg:\"syn\"; flags:S; sid:1;)\n"
                     "alert ip !198.51.100.7 any -> any !80 (msg:\"negated\"; sid:2;)\n"));
  EXPECT_EQ(index.stats().generic, 2u);
  EXPECT_EQ(offered(index, "198.51.100.7", "198.51.100.2", 1, 80), (std::set<uint32_t>{0, 1}));
}

// Every combination of address and port specs, each way, against packets drawn at random: the
// index must offer every rule whose header the packet satisfies.
TEST(HeaderIndex, NeverWithholdsARuleWhoseHeaderMatches) {
  const std::vector<std::string> addresses = {
      "any",
      "198.51.100.7",
      "[198.51.100.0/28,!198.51.100.3]",
      "!198.51.100.9",
      "[198.51.100.7,2001:db8::1]",
      "2001:db8::/64",
      "198.0.0.0/8",
      "[198.51.100.128/25,[!198.51.100.130]]",
  };
  const std::vector<std::string> ports = {"any",   "80",  "[80,443]",
                                          "1024:", "!22", "[1000:1010,!1005]"};
  std::string text;
  uint32_t sid = 0;
  for (const auto& sa : addresses) {
    for (const auto& sp : ports) {
      for (const auto& da : addresses) {
        for (const auto& dp : ports) {
          for (const char* dir : {"->", "<>"}) {
            text += "alert ip " + sa + " " + sp + " " + dir + " " + da + " " + dp +
                    " (msg:\"m\"; sid:" + std::to_string(++sid) + ";)\n";
          }
        }
      }
    }
  }
  const auto rules = parse(text);
  ASSERT_EQ(rules.size(), sid);
  const HeaderIndex index = index_of(rules);
  EXPECT_GT(index.stats().by_address, 0u);
  EXPECT_GT(index.stats().by_port, 0u);
  EXPECT_GT(index.stats().generic, 0u);

  const std::vector<std::string> hosts = {"198.51.100.7",   "198.51.100.3",   "198.51.100.9",
                                          "198.51.100.129", "198.51.100.130", "198.51.100.1",
                                          "2001:db8::1",    "2001:db8::ffff", "198.1.2.3"};
  const std::vector<uint16_t> port_values = {0, 22, 80, 443, 1005, 1008, 1024, 3000};
  std::mt19937 rng(7);
  std::uniform_int_distribution<size_t> host(0, hosts.size() - 1);
  std::uniform_int_distribution<size_t> port(0, port_values.size() - 1);
  size_t checked = 0;
  for (int packet = 0; packet < 150; ++packet) {
    const std::string& s = hosts[host(rng)];
    const std::string& d = hosts[host(rng)];
    const uint16_t sp = port_values[port(rng)];
    const uint16_t dp = port_values[port(rng)];
    const std::set<uint32_t> got = offered(index, s, d, sp, dp);
    for (uint32_t r = 0; r < rules.size(); ++r) {
      if (!header_matches(rules[r], ip(s), ip(d), sp, dp)) continue;
      ++checked;
      ASSERT_TRUE(got.count(r)) << "rule " << r + 1 << " withheld from " << s << ":" << sp << " -> "
                                << d << ":" << dp;
    }
  }
  EXPECT_GT(checked, 1000u);
}

}  // namespace
}  // namespace spanguard::detect
