// output_stall_bench: whether output can slow a worker down. One worker replays a capture with
// rules that alert on every session, with
//   (a) no output,
//   (b) an alert stream to a collector that never reads (a listening socket nobody accepts on)
//       and a spool that is full after 64 KiB, so that nearly every event is dropped,
//   (c) an EVE file (printed and written on its own thread, as spanguard does without a stream),
//   (d) an alert stream as in (b) that also writes the EVE file (printed on the output thread).
// Packets per second of each, and each one's ratio to (a); the goal is (b) within 10 % of (a).
// (a) builds no event at all, so at one alert per few packets (the default: six rules alerting on
// every session) building the alert records is most of the difference, not the output path;
// `--sparse --alerting 1` (an alert per ~120 packets, still far above a real network's rate) shows
// what the output path itself costs.
//
//   spanguard-pcapgen --profile http --sessions 20000 --out /tmp/http20k.pcap
//   output_stall_bench --pcap /tmp/http20k.pcap [--alerting N] [--sparse] [--runs R] [--live]
//                      [--modes abcd]
// Each mode runs R times (default 5) in turn and the median is printed: one run on a busy 2-core
// machine varies by ~10 %.
#include <pcap/pcap.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench_capture.h"
#include "spanguard/applayer/registry.h"
#include "spanguard/cli/config_schema.h"
#include "spanguard/core/log.h"
#include "spanguard/output/alert_stream.h"
#include "spanguard/output/eve_output.h"
#include "spanguard/output/eve_writer.h"
#include "spanguard/output/socket.h"
#include "spanguard/output/stream_url.h"
#include "spanguard/pipeline/worker.h"
#include "spanguard/rules/parser.h"
#include "temp_dir.h"

namespace {

using namespace spanguard;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Strings in every request of `spanguard-pcapgen --profile http`: each rule alerts once per
// session.
constexpr const char* kEverySession[] = {
    "HTTP/1.1", "Host: ", "User-Agent: ", "Accept", "/api/", "\r\n\r\n"};
// --sparse: strings in about one request in ten (the first digit of a query's id).
constexpr const char* kSomeSessions[] = {"?id=1", "?id=2", "?id=3", "?id=4", "?id=5",
                                         "?id=6", "?id=7", "?id=8", "?id=9"};

std::unique_ptr<detect::DetectionEngine> alerting_engine(size_t n, bool sparse,
                                                         const core::Config& config) {
  std::string text;
  for (size_t i = 1; i <= n; ++i) {
    std::string content;
    const std::string match = sparse ? kSomeSessions[(i - 1) % std::size(kSomeSessions)]
                                     : kEverySession[(i - 1) % std::size(kEverySession)];
    for (const char c : match) {
      if (c == '\r' || c == '\n' || c == '"' || c == ';' || c == ':') {
        char hex[8];
        std::snprintf(hex, sizeof hex, "|%02X|", static_cast<unsigned char>(c));
        content += hex;
      } else {
        content += c;
      }
    }
    text += "alert tcp any any -> any any (msg:\"output bench " + std::to_string(i) +
            "\"; flow:established,to_server; content:\"" + content +
            "\"; sid:" + std::to_string(i) + ";)\n";
  }
  return bench::engine_from_rules(text, config);
}

using bench::Capture;

enum class Mode { kNone, kStalledStream, kEve, kStalledStreamWithEve };
constexpr const char* kModeNames[] = {"(a) no output",
                                      "(b) stream, collector not reading, spool full",
                                      "(c) EVE file", "(d) as (b), and the EVE file"};

struct Run {
  double seconds = 0;
  uint64_t alerts = 0;
  output::AlertStream::Stats stream;
};

using testing::TempDir;

Run replay(const Capture& c, const core::Config& config, const detect::DetectionEngine& engine,
           Mode mode, bool live, const std::string& collector_url) {
  TempDir dir;
  std::unique_ptr<output::EveWriter> eve;
  std::unique_ptr<output::AlertStream> stream;
  std::unique_ptr<output::EveOutput> eve_output;
  if (mode == Mode::kEve || mode == Mode::kStalledStreamWithEve) {
    eve = std::make_unique<output::EveWriter>(dir.path() + "/eve.json");
  }
  if (mode == Mode::kEve) {
    eve_output = std::make_unique<output::EveOutput>(*eve, 4096);  // as spanguard does
  }
  if (mode == Mode::kStalledStream || mode == Mode::kStalledStreamWithEve) {
    output::AlertStreamOptions o;
    o.connect = collector_url;
    o.sensor_id = "bench";
    o.spool_dir = dir.path() + "/spool";
    o.spool_max_bytes = 65536;  // output.spool.max_bytes at its minimum: full at once
    o.queue_size = 1000;
    o.drain_timeout = 0ms;
    stream = std::make_unique<output::AlertStream>(o);
    stream->mirror_to(eve.get());
  }
  Run r;
  {
    pipeline::Worker worker(config, live,
                            pipeline::WorkerOutputs{.eve = eve.get(),
                                                    .detection = &engine,
                                                    .alerts = stream.get(),
                                                    .eve_output = eve_output.get()});
    const auto start = Clock::now();
    size_t in_batch = 0;
    for (const Capture::Frame& f : c.frames) {
      worker.on_frame({c.bytes.data() + f.at, f.caplen, f.wirelen, core::timestamp_from_ns(f.ns),
                       decode::LinkType::kEthernet});
      // Live capture hands frames over in batches; the end of each emits its alerts.
      if (live && ++in_batch == 32) {
        worker.on_batch_end();
        in_batch = 0;
      }
    }
    worker.finish();
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    core::CounterSnapshot counters;
    worker.collect(counters);
    r.alerts = counters.get("detect.alerts");
  }
  if (stream != nullptr) {
    stream->close();
    r.stream = stream->stats();
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"output_stall_bench: a worker's packet rate with and without output"};
  std::string pcap;
  size_t alerting = 6;
  size_t runs = 5;
  bool live = false;
  app.add_option("--pcap", pcap, "Capture to replay (spanguard-pcapgen --profile http)")
      ->required();
  app.add_option("--alerting", alerting, "Rules, each alerting once per HTTP session");
  app.add_option("--runs", runs, "Replays of each mode; the median is printed")
      ->check(CLI::Range(1, 99));
  app.add_flag("--live", live,
               "Run the worker as in live capture (frames in batches of 32; a full hand-off "
               "drops instead of waiting)");
  bool sparse = false;
  app.add_flag("--sparse", sparse,
               "Rules that each alert on about one session in ten instead of every session");
  std::string modes = "abcd";
  app.add_option("--modes", modes, "Which modes to run, by letter (for profiling one)");
  CLI11_PARSE(app, argc, argv);
  core::logger("output")->set_level(spdlog::level::err);  // drop warnings are expected here

  core::Config config(cli::config_schema());
  config.set("flow.records=no");
  const Capture capture = bench::load_capture(pcap);
  const auto engine = alerting_engine(alerting, sparse, config);
  // The collector that never reads: the kernel completes the connection in the listen backlog,
  // takes a socket buffer of frames, and then nothing more.
  output::Listener deaf(
      output::parse_stream_url("tcp://127.0.0.1:0", "bench", output::UrlUse::kListen));
  std::printf("replay %s: %zu frames, %zu alerting rules (%s), one worker (%s)\n", pcap.c_str(),
              capture.frames.size(), alerting, sparse ? "sparse" : "every session",
              live ? "live" : "replay");

  constexpr Mode kModes[] = {Mode::kNone, Mode::kStalledStream, Mode::kEve,
                             Mode::kStalledStreamWithEve};
  std::vector<std::vector<Run>> results(std::size(kModes));
  for (size_t i = 0; i < runs; ++i) {  // interleaved: machine load drifts alike for every mode
    for (size_t m = 0; m < std::size(kModes); ++m) {
      if (modes.find(static_cast<char>('a' + m)) == std::string::npos) continue;
      results[m].push_back(replay(capture, config, *engine, kModes[m], live, deaf.url()));
    }
  }
  double base_rate = 0;
  for (size_t m = 0; m < std::size(kModes); ++m) {
    auto& rs = results[m];
    if (rs.empty()) continue;
    std::sort(rs.begin(), rs.end(),
              [](const Run& a, const Run& b) { return a.seconds < b.seconds; });
    const Run& median = rs[rs.size() / 2];
    const double rate = static_cast<double>(capture.frames.size()) / median.seconds;
    if (m == 0) base_rate = rate;
    std::printf("  %-48s %10.0f packets/s  %5.3f of (a)  runs:", kModeNames[m], rate,
                rate / base_rate);
    for (const Run& r : rs) std::printf(" %.3f", r.seconds);
    std::printf(" s\n");
    std::printf("  %-48s alerts %lu (one per %.1f packets)", "",
                static_cast<unsigned long>(median.alerts),
                static_cast<double>(capture.frames.size()) /
                    static_cast<double>(std::max<uint64_t>(median.alerts, 1)));
    if (kModes[m] == Mode::kStalledStream || kModes[m] == Mode::kStalledStreamWithEve) {
      const auto& s = median.stream;
      std::printf(", stream: published %lu, sent %lu, spooled %lu, dropped %lu (hand-off full %lu)",
                  static_cast<unsigned long>(s.published), static_cast<unsigned long>(s.sent),
                  static_cast<unsigned long>(s.spooled), static_cast<unsigned long>(s.dropped),
                  static_cast<unsigned long>(s.dropped_handoff));
    }
    std::printf("\n");
  }
  return 0;
}
