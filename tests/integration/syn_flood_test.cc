// A SYN flood at and beyond the session table's capacity, with real sessions carrying a trigger
// spread through it: the flood displaces itself (half-open flows go first), so every real session
// still alerts and is reset, and the table stays inside its flow and memory caps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "capture_writer.h"
#include "frame_builder.h"
#include "process.h"
#include "rule_replay.h"
#include "summary_counters.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

constexpr uint8_t kSyn = 0x02, kRst = 0x04;
constexpr uint16_t kServerPort = 80;
constexpr uint16_t kFirstClientPort = 40000;
constexpr int kSessions = 50;
// A real session's packets are this many flood SYNs apart: its handshake completes while the
// flood goes on, as it would at line rate.
constexpr size_t kFloodBetweenPackets = 7;

const char* const kRules =
    "reject tcp any any -> any 80 (msg:\"flood trigger\"; flow:established,to_server; "
    "content:\"TRIGGER\"; sid:1;)";

struct FloodCapture {
  std::vector<Bytes> frames;
  size_t flood_syns = 0;
  size_t quiet_before = SIZE_MAX;  // frames 1 µs apart, except kQuietGapNs before this one
};

// Longer than flow.emergency.timeout.new (5 s): the half-open flows of a flood expire in it.
constexpr int64_t kQuietGapNs = 6'000'000'000;
constexpr int kMaxSessions = 2 * kSessions;

// `flood_syns` spoofed SYNs to the server from random addresses (10.0.0.0/8) and ports, never
// answered, and kSessions real sessions numbered from `first_session` (client 192.0.2.(i + 1),
// port 40000 + i): handshake, a request carrying the trigger, the response, session i starting
// after (i - first_session) / kSessions of the flood.
FloodCapture flood_with_sessions(size_t flood_syns, int first_session = 0) {
  std::mt19937 rng(20231114 + static_cast<unsigned>(first_session));
  std::vector<std::pair<size_t, Bytes>> placed;  // (position in the flood, frame)
  placed.reserve(flood_syns + kSessions * 8);
  for (size_t k = 0; k < flood_syns; ++k) {
    const uint32_t a = rng();
    const std::string src = "10." + std::to_string(a >> 16 & 0xff) + "." +
                            std::to_string(a >> 8 & 0xff) + "." + std::to_string(a & 0xff);
    const auto sport = static_cast<uint16_t>(1024 + rng() % 64000);
    placed.emplace_back(k, FrameBuilder()
                               .ethernet()
                               .ipv4(src, "198.51.100.2")
                               .tcp(sport, kServerPort,
                                    TcpFields{.seq = static_cast<uint32_t>(rng()), .flags = kSyn})
                               .build());
  }
  for (int i = first_session; i < first_session + kSessions; ++i) {
    const std::string client = "192.0.2." + std::to_string(i + 1);
    TcpConversation c({client, static_cast<uint16_t>(kFirstClientPort + i), kClientMac},
                      {"198.51.100.2", kServerPort, kServerMac}, 1000 + 7 * i, 5000 + 11 * i);
    std::vector<Bytes> session = c.handshake();
    for (Bytes& f : c.client_sends("GET /TRIGGER HTTP/1.1\r\nHost: x\r\n\r\n"))
      session.push_back(std::move(f));
    for (Bytes& f : c.server_sends("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
      session.push_back(std::move(f));
    const size_t start = flood_syns * static_cast<size_t>(i - first_session) / kSessions + 3;
    for (size_t j = 0; j < session.size(); ++j)
      placed.emplace_back(start + j * kFloodBetweenPackets, std::move(session[j]));
  }
  std::stable_sort(placed.begin(), placed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  FloodCapture out;
  out.flood_syns = flood_syns;
  out.frames.reserve(placed.size());
  for (auto& [at, frame] : placed) out.frames.push_back(std::move(frame));
  return out;
}

bool is_session_port(uint32_t port) {
  return port >= kFirstClientPort && port < kFirstClientPort + kMaxSessions;
}

// Alerts in the EVE file by the real session's client port (either end of the alert).
std::map<uint32_t, int> alerts_by_client_port(const std::string& eve_path, int& other_alerts) {
  std::map<uint32_t, int> by_port;
  other_alerts = 0;
  std::ifstream in(eve_path);
  const std::regex src("\"src_port\":([0-9]+)"), dst("\"dest_port\":([0-9]+)");
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"event_type\":\"alert\"") == std::string::npos) continue;
    std::smatch m;
    uint32_t port = 0;
    if (std::regex_search(line, m, src) && is_session_port(std::stoul(m[1]))) {
      port = static_cast<uint32_t>(std::stoul(m[1]));
    } else if (std::regex_search(line, m, dst) && is_session_port(std::stoul(m[1]))) {
      port = static_cast<uint32_t>(std::stoul(m[1]));
    }
    if (port == 0) {
      ++other_alerts;
    } else {
      ++by_port[port];
    }
  }
  return by_port;
}

struct SessionResets {
  int to_client = 0, to_server = 0;
};

// RSTs of the resets capture by the real session's client port; `other`: RSTs of anything else.
std::map<uint32_t, SessionResets> resets_by_client_port(const std::string& pcap_path, int& other) {
  std::map<uint32_t, SessionResets> by_port;
  other = 0;
  for (const CapturedFrame& f : read_capture(pcap_path)) {
    // Ethernet + IPv4 (20 bytes, no options: the sensor builds its own) + TCP.
    if (f.bytes.size() < 54 || f.bytes[12] != 0x08 || f.bytes[13] != 0x00 || f.bytes[23] != 6 ||
        (f.bytes[47] & kRst) == 0) {
      ++other;
      continue;
    }
    const uint32_t sport = f.bytes[34] << 8 | f.bytes[35];
    const uint32_t dport = f.bytes[36] << 8 | f.bytes[37];
    if (is_session_port(dport) && sport == kServerPort) {
      ++by_port[dport].to_client;
    } else if (is_session_port(sport) && dport == kServerPort) {
      ++by_port[sport].to_server;
    } else {
      ++other;
    }
  }
  return by_port;
}

struct FloodRun {
  ReplayRun replay;
  std::string resets;
};

FloodRun replay_flood(const std::string& name, const FloodCapture& capture,
                      const std::vector<std::string>& settings) {
  FloodRun out;
  out.resets = temp_path(name + "-resets.pcap");
  // Frames are 1 µs apart: a real session triggers every ~200 µs of capture time, well above the
  // default respond.max_per_second, which is not what is under test here.
  std::vector<std::string> args = {"--resets-pcap", out.resets,
                                   "--set",         "flow.records=no",
                                   "--set",         "respond.max_per_second=10000000"};
  for (const std::string& s : settings) {
    args.push_back("--set");
    args.push_back(s);
  }
  const std::string pcap = temp_path(name + ".pcap");
  {
    CaptureWriter w(pcap);
    int64_t ts = kCaptureStartNs;
    for (size_t i = 0; i < capture.frames.size(); ++i)
      w.write(capture.frames[i], ts += i == capture.quiet_before ? kQuietGapNs : 1000);
  }
  const std::string rules = temp_path(name + ".rules");
  std::ofstream(rules) << kRules << "\n";
  out.replay.eve = temp_path(name + ".json");
  std::remove(out.replay.eve.c_str());  // EVE files are appended to
  std::vector<std::string> argv = {spanguard_binary(), "replay", "--pcap", pcap,
                                   "--rules",          rules,    "--eve",  out.replay.eve,
                                   "--strict"};
  argv.insert(argv.end(), args.begin(), args.end());
  out.replay.run = run(argv);
  return out;
}

// Every real session alerted exactly once and was reset at both ends; nothing of the flood was.
void expect_every_session_alerted_and_reset(const FloodRun& r, int sessions = kSessions) {
  int other_alerts = 0, other_resets = 0;
  const auto alerts = alerts_by_client_port(r.replay.eve, other_alerts);
  const auto resets = resets_by_client_port(r.resets, other_resets);
  EXPECT_EQ(alerts.size(), static_cast<size_t>(sessions));
  for (int i = 0; i < sessions; ++i) {
    const uint32_t port = kFirstClientPort + static_cast<uint32_t>(i);
    SCOPED_TRACE("session from port " + std::to_string(port));
    const auto a = alerts.find(port);
    EXPECT_EQ(a == alerts.end() ? 0 : a->second, 1);
    const auto rs = resets.find(port);
    ASSERT_NE(rs, resets.end());
    EXPECT_GE(rs->second.to_client, 1);
    EXPECT_GE(rs->second.to_server, 1);
  }
  EXPECT_EQ(other_alerts, 0);
  EXPECT_EQ(other_resets, 0);
}

TEST(SynFlood, EverySessionStillAlertsAndIsResetAtFiveTimesMaxFlows) {
  constexpr size_t kMaxFlows = 2000;
  const FloodCapture capture = flood_with_sessions(5 * kMaxFlows);
  const uint64_t memcap = 64ull << 20;
  const FloodRun r = replay_flood(
      "syn-flood-max-flows", capture,
      {"flow.max_flows=" + std::to_string(kMaxFlows), "flow.memcap=" + std::to_string(memcap)});
  ASSERT_EQ(r.replay.run.status, 0) << r.replay.run.err;
  expect_every_session_alerted_and_reset(r);

  const std::string& summary = r.replay.run.err;
  EXPECT_EQ(summary_counter(summary, "flow", "created"), capture.flood_syns + kSessions) << summary;
  EXPECT_GE(summary_counter(summary, "flow", "emergency.entered").value_or(0), 1u) << summary;
  // The table held at most max_flows: everything beyond was evicted, half-open flood flows first.
  EXPECT_GE(summary_counter(summary, "flow", "ended.evicted").value_or(0),
            capture.flood_syns + kSessions - kMaxFlows)
      << summary;
  EXPECT_EQ(summary_counter_or_zero(summary, "flow", "no_room"), 0u) << summary;
  // The flow table's memory only grows (freed flows are pooled), so its figure at the end is its
  // peak: under the cap.
  const auto memory = summary_counter(summary, "flow", "memory_bytes");
  ASSERT_TRUE(memory.has_value()) << summary;
  EXPECT_LE(*memory, memcap) << summary;
}

TEST(SynFlood, EverySessionStillAlertsWhenTheMemcapIsTheLimit) {
  // Room for far fewer flows than max_flows: the memory cap is what the flood runs into.
  const uint64_t memcap = 4ull << 20;
  const FloodCapture capture = flood_with_sessions(20000);
  const FloodRun r =
      replay_flood("syn-flood-memcap", capture,
                   {"flow.max_flows=100000", "flow.memcap=" + std::to_string(memcap)});
  ASSERT_EQ(r.replay.run.status, 0) << r.replay.run.err;
  expect_every_session_alerted_and_reset(r);

  const std::string& summary = r.replay.run.err;
  EXPECT_GT(summary_counter(summary, "flow", "ended.evicted").value_or(0), 0u) << summary;
  EXPECT_EQ(summary_counter_or_zero(summary, "flow", "no_room"), 0u) << summary;
  const auto memory = summary_counter(summary, "flow", "memory_bytes");
  ASSERT_TRUE(memory.has_value()) << summary;
  EXPECT_LE(*memory, memcap) << summary;
}

TEST(SynFlood, LeavesEmergencyModeOnceTheFloodHasExpiredAndEntersItAgainOnTheNext) {
  // Memory held by the table never shrinks (freed flows are pooled for reuse); emergency mode must
  // follow the flows in use, or a table that once reached its memcap would stay in it for good.
  const uint64_t memcap = 4ull << 20;
  FloodCapture capture = flood_with_sessions(20000);
  FloodCapture second = flood_with_sessions(20000, kSessions);
  capture.quiet_before = capture.frames.size();
  capture.flood_syns += second.flood_syns;
  for (Bytes& f : second.frames) capture.frames.push_back(std::move(f));
  const FloodRun r =
      replay_flood("syn-flood-twice", capture,
                   {"flow.max_flows=100000", "flow.memcap=" + std::to_string(memcap)});
  ASSERT_EQ(r.replay.run.status, 0) << r.replay.run.err;
  expect_every_session_alerted_and_reset(r, kMaxSessions);

  const std::string& summary = r.replay.run.err;
  EXPECT_EQ(summary_counter(summary, "flow", "emergency.entered"), 2u) << summary;
  EXPECT_GE(summary_counter(summary, "flow", "emergency.left").value_or(0), 1u) << summary;
  // The first flood's half-open flows ended idle in the quiet gap, not evicted by the second.
  EXPECT_GE(summary_counter(summary, "flow", "ended.timeout").value_or(0), 1000u) << summary;
  EXPECT_EQ(summary_counter_or_zero(summary, "flow", "no_room"), 0u) << summary;
  const auto memory = summary_counter(summary, "flow", "memory_bytes");
  ASSERT_TRUE(memory.has_value()) << summary;
  EXPECT_LE(*memory, memcap) << summary;
}

}  // namespace
}  // namespace spanguard::testing
