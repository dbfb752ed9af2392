// replay --workers 2 keeps flow affinity and shared detection state: on a mixed capture (HTTP,
// TLS, DNS over UDP and TCP, SSH, SMTP, FTP), the alerts of two workers are those of one — the
// same (rule, endpoints, time) set, flowbits across directions included; thresholded rules,
// whose first-in-window alert may come from either worker, raise as many alerts per source.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <tuple>

#include "process.h"

namespace spanguard::testing {
namespace {

const char kRules[] =
    "alert http any any -> any any (msg:\"get\"; flow:to_server; http.method; content:\"GET\"; "
    "sid:1;)\n"
    "alert tls any any -> any any (msg:\"sni\"; tls.sni; content:\".\"; sid:2;)\n"
    "alert dns any any -> any any (msg:\"query\"; dns.query; content:\".\"; sid:3;)\n"
    "alert ssh any any -> any any (msg:\"ssh\"; ssh.proto; content:\"2.0\"; sid:4;)\n"
    "alert tcp any any -> any any (msg:\"200\"; flow:established,to_client; "
    "content:\"HTTP/1.1 200\"; sid:5;)\n"
    "alert http any any -> any any (msg:\"set\"; flow:to_server; http.method; content:\"GET\"; "
    "flowbits:set,got; flowbits:noalert; sid:6;)\n"
    "alert http any any -> any any (msg:\"isset\"; flow:to_client; flowbits:isset,got; "
    "http.stat_code; content:\"200\"; sid:7;)\n"
    "alert udp any any -> any 53 (msg:\"dns size\"; dsize:>20; sid:8;)\n"
    "alert smtp any any -> any any (msg:\"mail\"; flow:to_server; content:\"MAIL FROM\"; "
    "sid:10;)\n"
    "alert ftp any any -> any any (msg:\"user\"; flow:to_server; content:\"USER \"; sid:11;)\n"
    "alert http any any -> any any (msg:\"limit\"; flow:to_server; http.method; "
    "content:\"GET\"; threshold:type limit, track by_src, count 1, seconds 600; sid:9;)\n";

constexpr uint32_t kThresholded = 9;

struct Alerts {
  std::multiset<std::tuple<uint32_t, std::string, std::string, std::string>> exact;
  std::map<std::pair<uint32_t, std::string>, int> per_source;  // thresholded rules
  size_t total = 0;
};

Alerts read_alerts(const std::string& eve) {
  Alerts out;
  std::ifstream in(eve);
  const std::regex fields(
      "\"timestamp\":\"([^\"]+)\".*\"src_ip\":\"([^\"]+)\".*\"dest_ip\":\"([^\"]+)\".*"
      "\"signature_id\":([0-9]+)");
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"event_type\":\"alert\"") == std::string::npos) continue;
    std::smatch m;
    if (!std::regex_search(line, m, fields)) continue;
    const auto sid = static_cast<uint32_t>(std::stoul(m[4]));
    ++out.total;
    if (sid == kThresholded) {
      ++out.per_source[{sid, m[2]}];
    } else {
      out.exact.emplace(sid, m[1], m[2], m[3]);
    }
  }
  return out;
}

TEST(ReplayWorkers, TwoWorkersRaiseTheAlertsOfOne) {
  const std::string pcap = temp_path("workers-mix.pcap");
  const RunResult gen = run({std::string(SPANGUARD_BINARY_DIR) + "/spanguard-pcapgen", "--profile",
                             "mix", "--sessions", "300", "--seed", "7", "--out", pcap});
  ASSERT_EQ(gen.status, 0) << gen.err;
  const std::string rules = temp_path("workers-mix.rules");
  std::ofstream(rules) << kRules;
  std::map<int, Alerts> by_workers;
  for (const int workers : {1, 2}) {
    const std::string eve = temp_path("workers-mix-" + std::to_string(workers) + ".json");
    std::remove(eve.c_str());
    const RunResult r = run({spanguard_binary(), "replay", "--pcap", pcap, "--rules", rules,
                             "--strict", "--eve", eve, "--workers", std::to_string(workers)});
    ASSERT_EQ(r.status, 0) << r.err;
    by_workers[workers] = read_alerts(eve);
  }
  const Alerts& one = by_workers[1];
  const Alerts& two = by_workers[2];
  EXPECT_GT(one.exact.size(), 300u) << "the capture must exercise the rules";
  EXPECT_EQ(one.exact, two.exact);
  EXPECT_FALSE(one.per_source.empty());
  EXPECT_EQ(one.per_source, two.per_source);
  EXPECT_EQ(one.total, two.total);
}

}  // namespace
}  // namespace spanguard::testing
