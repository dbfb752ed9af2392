// flood_bench: one worker (decode → flow → stream → detect → respond) under a SYN flood at and
// beyond the session table's capacity, with real sessions carrying a trigger spread through it.
// Reports the flood's packet rate while the table fills and once it is full, how many real
// sessions alerted and were reset (all of them, or the table failed), peak memory against the
// cap, and the time spent in emergency mode. The flood runs at 1 Mpps of capture time.
//
//   flood_bench [--syns N] [--sessions S] [--set key=value ...]
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "frame_builder.h"
#include "spanguard/applayer/registry.h"
#include "spanguard/cli/config_schema.h"
#include "spanguard/core/log.h"
#include "spanguard/detect/detector.h"
#include "spanguard/output/eve_writer.h"
#include "spanguard/pipeline/worker.h"
#include "spanguard/respond/responder.h"
#include "spanguard/rules/parser.h"
#include "tcp_conversation.h"

namespace {

using namespace spanguard;
using Clock = std::chrono::steady_clock;

constexpr uint16_t kServerPort = 80;
constexpr uint16_t kFirstClientPort = 20000;
constexpr int64_t kFrameGapNs = 1000;        // the flood: 1 Mpps of capture time
constexpr size_t kSessionPacketGap = 1000;   // a real session's packets 1 ms apart (its RTT)
constexpr size_t kSampleEvery = 4096;        // frames between looks at the counters
constexpr size_t kRssSampleEvery = 1 << 16;  // frames between looks at the RSS

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

long status_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  const std::string prefix = std::string(field) + ":";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) return std::strtol(line.c_str() + prefix.size(), nullptr, 10);
  }
  return 0;
}

// Counts the resets the worker would inject, by the real session they belong to.
class CountingInjector final : public respond::Injector {
 public:
  explicit CountingInjector(std::vector<uint32_t>& resets) : resets_(resets) {}
  bool link_layer() const override { return true; }
  std::array<uint8_t, 6> own_mac() const override { return {0x02, 0, 0, 0, 0, 0x03}; }
  bool send(std::span<const uint8_t> f, core::Timestamp) override {
    // Ethernet + IPv4 without options (the responder builds its own) + TCP.
    if (f.size() < 54 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 6) return true;
    const uint32_t sport = f[34] << 8 | f[35], dport = f[36] << 8 | f[37];
    const uint32_t client = sport == kServerPort ? dport : sport;
    if (client >= kFirstClientPort && client - kFirstClientPort < resets_.size()) {
      ++resets_[client - kFirstClientPort];
    } else {
      ++stray;
    }
    return true;
  }
  bool live() const override { return false; }
  std::string name() const override { return "counting"; }
  uint64_t stray = 0;

 private:
  std::vector<uint32_t>& resets_;
};

std::unique_ptr<detect::DetectionEngine> build_engine(const core::Config& config) {
  rules::Classifications none;
  rules::RuleParser parser(rules::default_variables(), &none, applayer::rule_registry());
  parser.parse_text(
      "reject tcp any any -> any 80 (msg:\"flood trigger\"; flow:established,to_server; "
      "content:\"TRIGGER\"; sid:1;)\n",
      "flood.rules");
  rules::RuleSet set = parser.take();
  if (set.failed != 0) {
    std::fprintf(stderr, "rule failed to parse: %s\n", set.diagnostics.front().to_string().c_str());
    std::exit(1);
  }
  std::vector<rules::Diagnostic> diagnostics;
  return std::make_unique<detect::DetectionEngine>(
      std::move(set.rules), detect::detect_options(config), diagnostics, applayer::rule_registry());
}

// The frames of real session `i` (client 172.16.x.y, port kFirstClientPort + i): handshake, a
// request carrying the trigger, the response.
std::vector<testing::Bytes> real_session(uint32_t i) {
  const std::string client =
      "172.16." + std::to_string(i / 250) + "." + std::to_string(1 + i % 250);
  testing::TcpConversation c(
      {client, static_cast<uint16_t>(kFirstClientPort + i), testing::kClientMac},
      {"198.51.100.2", kServerPort, testing::kServerMac}, 1000 + i, 90000 + i);
  std::vector<testing::Bytes> frames = c.handshake();
  for (auto& f : c.client_sends("GET /TRIGGER HTTP/1.1\r\nHost: x\r\n\r\n"))
    frames.push_back(std::move(f));
  for (auto& f : c.server_sends("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    frames.push_back(std::move(f));
  return frames;
}

// Alerts of the EVE file by real session (the client's port on either end).
std::vector<uint32_t> alerts_by_session(const std::string& path, size_t sessions) {
  std::vector<uint32_t> alerts(sessions, 0);
  std::ifstream in(path);
  const std::regex port("\"(src|dest)_port\":([0-9]+)");
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"event_type\":\"alert\"") == std::string::npos) continue;
    for (std::sregex_iterator m(line.begin(), line.end(), port), end; m != end; ++m) {
      const unsigned long p = std::stoul((*m)[2]);
      if (p >= kFirstClientPort && p - kFirstClientPort < sessions) {
        ++alerts[p - kFirstClientPort];
        break;
      }
    }
  }
  return alerts;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flood_bench: a SYN flood beyond the session table's capacity, with real sessions"};
  size_t syns = 3'000'000;
  size_t sessions = 1000;
  std::vector<std::string> settings;
  app.add_option("--syns", syns, "Spoofed SYNs in the flood");
  app.add_option("--sessions", sessions, "Real sessions spread through the flood")
      ->check(CLI::Range(1, 40000));
  app.add_option("--set", settings, "Configuration key=value (flow.max_flows, flow.memcap, ...)");
  CLI11_PARSE(app, argc, argv);
  core::set_log_level("warn");

  core::Config config(cli::config_schema());
  config.set("flow.records=no");
  config.set("decode.checksum_validation=no");  // the flood's template is patched in place
  for (const std::string& s : settings) config.set(s);
  const flow::FlowOptions flow_opts = flow::flow_options(config);
  const auto engine = build_engine(config);

  // The real sessions' frames, each placed at a position in the flood.
  struct Placed {
    size_t at;
    uint32_t session, frame;
  };
  std::vector<std::vector<testing::Bytes>> session_frames;
  std::vector<Placed> placed;
  for (uint32_t i = 0; i < sessions; ++i) {
    session_frames.push_back(real_session(i));
    const size_t start = syns * i / sessions + 3;
    for (uint32_t j = 0; j < session_frames.back().size(); ++j)
      placed.push_back({start + j * kSessionPacketGap, i, j});
  }
  std::stable_sort(placed.begin(), placed.end(),
                   [](const Placed& a, const Placed& b) { return a.at < b.at; });

  // The flood: one SYN template, source address, port and sequence number patched per frame
  // (checksums are left stale: the decoder does not validate them by default).
  testing::Bytes syn = testing::FrameBuilder()
                           .ethernet()
                           .ipv4("10.0.0.1", "198.51.100.2")
                           .tcp(1024, kServerPort, {.seq = 1, .flags = 0x02})
                           .build();
  constexpr size_t kSrcAt = 14 + 12, kSportAt = 34, kSeqAt = 38;

  const std::string eve_path = "/tmp/flood_bench_eve.json";
  std::remove(eve_path.c_str());
  std::vector<uint32_t> resets(sessions, 0);
  CountingInjector* injector = nullptr;
  respond::ResponseContext respond_context(respond::respond_options(config), [&] {
    auto i = std::make_unique<CountingInjector>(resets);
    injector = i.get();
    return i;
  });
  malloc_trim(0);
  const long rss_before = status_kib("VmRSS");
  uint64_t memory_peak = 0;
  long rss_peak = rss_before;
  {
    output::EveWriter eve(eve_path);
    pipeline::Worker worker(config, false,
                            {.eve = &eve, .detection = engine.get(), .respond = &respond_context});
    std::mt19937_64 rng(1);
    size_t next_placed = 0, frames = 0;
    int64_t ns = 1'700'000'000'000'000'000;
    // Emergency mode, from the counters at each sample: capture and wall time spent in it.
    bool in_emergency = false;
    int64_t emergency_capture_ns = 0, emergency_since_ns = 0;
    double emergency_wall = 0;
    Clock::time_point emergency_since_wall{};
    uint64_t entered = 0, left = 0;  // before the end-of-capture flush, which empties the table
    double fill_seconds = 0;
    size_t fill_frames = 0;
    auto sample = [&] {
      core::CounterSnapshot c;
      worker.collect(c);
      memory_peak = std::max(memory_peak, c.get("flow.memory_bytes"));
      const bool now_emergency = c.get("flow.emergency.entered") > c.get("flow.emergency.left");
      if (now_emergency && !in_emergency) {
        emergency_since_ns = ns;
        emergency_since_wall = Clock::now();
      } else if (!now_emergency && in_emergency) {
        emergency_capture_ns += ns - emergency_since_ns;
        emergency_wall += seconds_since(emergency_since_wall);
      }
      in_emergency = now_emergency;
      entered = c.get("flow.emergency.entered");
      left = c.get("flow.emergency.left");
      return c.get("flow.active");
    };
    const auto start = Clock::now();
    auto feed = [&](const testing::Bytes& f) {
      worker.on_frame({f.data(), static_cast<uint32_t>(f.size()), static_cast<uint32_t>(f.size()),
                       core::timestamp_from_ns(ns += kFrameGapNs), decode::LinkType::kEthernet});
      if (++frames % kSampleEvery == 0) {
        const uint64_t active = sample();
        if (fill_frames == 0 && active >= flow_opts.max_flows * 9 / 10) {
          fill_frames = frames;
          fill_seconds = seconds_since(start);
        }
      }
      if (frames % kRssSampleEvery == 0) rss_peak = std::max(rss_peak, status_kib("VmRSS"));
    };
    for (size_t k = 0; k < syns; ++k) {
      while (next_placed < placed.size() && placed[next_placed].at <= k) {
        const Placed& p = placed[next_placed++];
        feed(session_frames[p.session][p.frame]);
      }
      const uint64_t r = rng();
      syn[kSrcAt] = 10;
      syn[kSrcAt + 1] = static_cast<uint8_t>(r >> 8);
      syn[kSrcAt + 2] = static_cast<uint8_t>(r >> 16);
      syn[kSrcAt + 3] = static_cast<uint8_t>(r >> 24);
      const auto sport = static_cast<uint16_t>(1024 + (r >> 32) % 64000);
      syn[kSportAt] = static_cast<uint8_t>(sport >> 8);
      syn[kSportAt + 1] = static_cast<uint8_t>(sport);
      for (int b = 0; b < 4; ++b) syn[kSeqAt + b] = static_cast<uint8_t>(r >> (40 + 8 * b));
      feed(syn);
    }
    while (next_placed < placed.size()) {
      const Placed& p = placed[next_placed++];
      feed(session_frames[p.session][p.frame]);
    }
    const double took = seconds_since(start);
    const uint64_t active_at_end = sample();
    if (in_emergency) {
      emergency_capture_ns += ns - emergency_since_ns;
      emergency_wall += seconds_since(emergency_since_wall);
    }
    rss_peak = std::max(rss_peak, status_kib("VmRSS"));
    worker.finish();
    eve.flush();
    core::CounterSnapshot c;
    worker.collect(c);

    const std::vector<uint32_t> alerts = alerts_by_session(eve_path, sessions);
    const auto alerted =
        std::count_if(alerts.begin(), alerts.end(), [](uint32_t a) { return a > 0; });
    const auto alerted_once =
        std::count_if(alerts.begin(), alerts.end(), [](uint32_t a) { return a == 1; });
    const auto reset =
        std::count_if(resets.begin(), resets.end(), [](uint32_t r) { return r >= 2; });
    std::printf("flood_bench: %zu spoofed SYNs + %zu real sessions (%zu frames), one worker\n",
                syns, sessions, frames);
    std::printf(
        "  table       max_flows %u, memcap %.1f MiB, emergency at %u%% / leaves below %u%%\n",
        flow_opts.max_flows, static_cast<double>(flow_opts.memcap) / (1 << 20),
        flow_opts.emergency_high_percent, flow_opts.emergency_low_percent);
    std::printf("  rate        all: %.3f s = %.2f Mpps", took,
                static_cast<double>(frames) / took / 1e6);
    if (fill_frames != 0 && frames > fill_frames) {
      std::printf("; filling to 90%%: %.2f Mpps; full, evicting: %.2f Mpps",
                  static_cast<double>(fill_frames) / fill_seconds / 1e6,
                  static_cast<double>(frames - fill_frames) / (took - fill_seconds) / 1e6);
    }
    std::printf("\n");
    std::printf(
        "  sessions    alerted %ld / %zu (exactly once: %ld), reset at both ends %ld / %zu, "
        "stray resets %lu\n",
        static_cast<long>(alerted), sessions, static_cast<long>(alerted_once),
        static_cast<long>(reset), sessions,
        static_cast<unsigned long>(injector ? injector->stray : 0));
    std::printf("  flow        created %lu, evicted %lu, no_room %lu, active at the end %lu\n",
                static_cast<unsigned long>(c.get("flow.created")),
                static_cast<unsigned long>(c.get("flow.ended.evicted")),
                static_cast<unsigned long>(c.get("flow.no_room")),
                static_cast<unsigned long>(active_at_end));
    std::printf(
        "  memory      flow table peak %.1f MiB of %.1f MiB cap (%.0f%%); RSS %.1f MiB "
        "before, peak %.1f MiB (+%.1f MiB), VmHWM %.1f MiB\n",
        static_cast<double>(memory_peak) / (1 << 20),
        static_cast<double>(flow_opts.memcap) / (1 << 20),
        100.0 * static_cast<double>(memory_peak) / static_cast<double>(flow_opts.memcap),
        rss_before / 1024.0, rss_peak / 1024.0, (rss_peak - rss_before) / 1024.0,
        status_kib("VmHWM") / 1024.0);
    std::printf(
        "  emergency   entered %lu, left %lu before the final flush; in it %.3f s of %.3f s "
        "capture time, "
        "%.3f s of %.3f s wall time\n",
        static_cast<unsigned long>(entered), static_cast<unsigned long>(left),
        static_cast<double>(emergency_capture_ns) / 1e9,
        static_cast<double>(frames) * kFrameGapNs / 1e9, emergency_wall, took);
    std::remove(eve_path.c_str());
    return alerted == static_cast<long>(sessions) && reset == static_cast<long>(sessions) ? 0 : 1;
  }
}
