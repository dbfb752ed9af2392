// detect_bench: what the rule engine costs.
//   1. compile time, database size and scan state per stream direction for 1k / 10k / 30k
//      generated rules;
//   2. one worker's throughput on a capture (decode → flow → stream → detect), next to the floor:
//      plain Hyperscan streaming scans of the very same reassembled bytes with the same database.
// Rules are generated deterministically (content / nocase / distance+within / pcre mix, like a
// commercial web rule set); the capture comes from `spanguard-pcapgen --profile http`.
//
//   detect_bench [--pcap FILE] [--rules N] [--seed S] [--runs R] [--no-compile-table]
// Each replay runs R times (default 3) and the median is printed: one run on a busy 2-core
// machine varies by ~10 %.
#include <pcap/pcap.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench_capture.h"
#include "spanguard/applayer/registry.h"
#include "spanguard/cli/config_schema.h"
#include "spanguard/core/heap.h"
#include "spanguard/detect/detector.h"
#include "spanguard/pipeline/worker.h"
#include "spanguard/rules/parser.h"
#include "spanguard/stream/reassembler.h"

namespace {

using namespace spanguard;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// N rules: 60% one content, 20% two contents with distance/within, 20% content + pcre; 40% of the
// contents nocase. A few rules hit the generated HTTP traffic so that verification is exercised.
// `http`: the same rules as `alert http` on http.uri, http.header and file.data (a third each),
// as an analyst's HTTP rules are written, instead of the raw stream.
std::string generate_rules(size_t n, uint64_t seed, bool http = false) {
  std::mt19937_64 rng(seed);
  auto word = [&](size_t min_len) {
    static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789_-/.=";
    std::string w;
    const size_t len = min_len + rng() % 8;
    for (size_t i = 0; i < len; ++i) w += kAlphabet[rng() % (sizeof kAlphabet - 1)];
    return w;
  };
  static const char* const kHits[] = {"python-requests", "/api/v1/items", "okhttp/",
                                      "/login?id=", "Cookie: session="};
  std::string out;
  for (size_t i = 1; i <= n; ++i) {
    std::string opts;
    const uint64_t kind = rng() % 10;
    const bool nocase = rng() % 10 < 4;
    const std::string first = i <= 5 ? kHits[i - 1] : word(6);
    opts += "content:\"" + first + "\";" + (nocase ? " nocase;" : "");
    if (i <= 5) {
      // the traffic's own strings: single-content rules that alert
    } else if (kind >= 6 && kind < 8) {
      opts += " content:\"" + word(4) + "\"; distance:0; within:200;";
    } else if (kind >= 8) {
      opts += " pcre:\"/" + word(3) + "[0-9]{2,8}" + word(2) + "/" + (nocase ? "i" : "") + "\";";
    }
    if (!http) {
      out += "alert tcp any any -> any $HTTP_PORTS (msg:\"bench " + std::to_string(i) +
             "\"; flow:established,to_server; " + opts + " sid:" + std::to_string(i) + ";)\n";
      continue;
    }
    // The traffic's own strings go where they are: URIs in http.uri, the rest in the headers.
    const size_t which = i <= 5 ? (i == 2 || i == 4 ? 0 : 1) : i % 3;
    static const char* const kBuffers[] = {"http.uri;", "http.header;", "file.data;"};
    const char* direction = which == 2 ? "to_client" : "to_server";
    out += std::string("alert http any any -> any any (msg:\"bench ") + std::to_string(i) +
           "\"; flow:established," + direction + "; " + kBuffers[which] + " " + opts +
           " sid:" + std::to_string(i) + ";)\n";
  }
  return out;
}

std::unique_ptr<detect::DetectionEngine> build_engine(size_t n, uint64_t seed,
                                                      const core::Config& config,
                                                      bool http = false) {
  return bench::engine_from_rules(generate_rules(n, seed, http), config);
}

using bench::Capture;

double replay(const Capture& c, const core::Config& config, const detect::DetectionEngine* engine,
              core::CounterSnapshot& counters) {
  pipeline::Worker worker(config, false, pipeline::WorkerOutputs{.detection = engine});
  const auto start = Clock::now();
  for (const Capture::Frame& f : c.frames) {
    worker.on_frame(
        {c.bytes.data() + f.at, f.caplen, f.wirelen, core::timestamp_from_ns(f.ns), c.link});
  }
  worker.finish();
  const double s = seconds_since(start);
  worker.collect(counters);
  return s;
}

// The reassembled bytes of every flow direction, in delivery order, as the detector receives them.
class StreamRecorder final : public stream::StreamConsumer, public flow::FlowEndHandler {
 public:
  struct Chunk {
    uint64_t stream;  // flow id * 2 + direction
    size_t at, len;
  };
  std::vector<uint8_t> bytes;
  std::vector<Chunk> chunks;
  void on_stream_data(flow::Flow& f, flow::Direction d, std::span<const uint8_t> data, uint64_t,
                      bool) override {
    chunks.push_back(
        {f.flow_id * 2 + static_cast<uint64_t>(flow::index(d)), bytes.size(), data.size()});
    bytes.insert(bytes.end(), data.begin(), data.end());
  }
  void on_stream_event(flow::Flow&, flow::Direction, stream::StreamEvent) override {}
  void on_flow_end(const flow::Flow& f, flow::EndReason) override {
    if (reassembler) reassembler->on_flow_end(const_cast<flow::Flow&>(f));
  }
  stream::Reassembler* reassembler = nullptr;
};

StreamRecorder record_streams(const Capture& c, const core::Config& config) {
  StreamRecorder rec;
  decode::Decoder decoder(decode::decoder_options(config, false));
  stream::Reassembler reassembler(stream::stream_options(config), rec);
  rec.reassembler = &reassembler;
  flow::FlowTable table(flow::flow_options(config), &rec);
  decode::PacketView v;
  for (const Capture::Frame& f : c.frames) {
    if (decoder.decode(c.link, c.bytes.data() + f.at, f.caplen, f.wirelen,
                       core::timestamp_from_ns(f.ns), v) != decode::DecodeStatus::kOk)
      continue;
    const flow::PacketFlow pf = table.process(v);
    if (pf.flow == nullptr || !v.is_tcp()) continue;
    if (pf.tcp.deliver) reassembler.on_segment(*pf.flow, pf.dir, pf.tcp.payload_seq, v.payload());
    if (v.has_flag(decode::tcp_flag::kAck) && !pf.tcp.invalid)
      reassembler.on_ack(*pf.flow, pf.dir, v.ack);
  }
  table.flush_all();
  return rec;
}

// Plain Hyperscan: one stream per flow direction, opened on its first bytes and closed after its
// last, scanning exactly the recorded chunks with a callback that only counts.
double hyperscan_floor(const StreamRecorder& rec, const hs_database_t* db, uint64_t& matches) {
  std::unordered_map<uint64_t, size_t> last_chunk;
  for (size_t i = 0; i < rec.chunks.size(); ++i) last_chunk[rec.chunks[i].stream] = i;
  detect::hyperscan::Scratch scratch;
  detect::hyperscan::grow_scratch(scratch, db);
  std::unordered_map<uint64_t, hs_stream_t*> open;
  open.reserve(last_chunk.size());
  auto count = [](unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) {
    ++*static_cast<uint64_t*>(ctx);
    return 0;
  };
  const auto start = Clock::now();
  for (size_t i = 0; i < rec.chunks.size(); ++i) {
    const auto& c = rec.chunks[i];
    hs_stream_t*& s = open[c.stream];
    if (s == nullptr) hs_open_stream(db, 0, &s);
    hs_scan_stream(s, reinterpret_cast<const char*>(rec.bytes.data() + c.at),
                   static_cast<unsigned>(c.len), 0, scratch.get(), count, &matches);
    if (last_chunk[c.stream] == i) {
      hs_close_stream(s, scratch.get(), count, &matches);
      open.erase(c.stream);
    }
  }
  return seconds_since(start);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"detect_bench: rule compilation and detection throughput"};
  std::string pcap;
  size_t rule_count = 3000;
  uint64_t seed = 1;
  app.add_option("--pcap", pcap, "Capture to replay (spanguard-pcapgen --profile http)");
  app.add_option("--rules", rule_count, "Generated rules for the throughput run");
  app.add_option("--seed", seed, "Rule generator seed");
  std::string buffers = "stream";
  app.add_option("--buffers", buffers,
                 "Where the generated rules look: stream (raw TCP stream) or http (http.uri, "
                 "http.header, file.data)")
      ->check(CLI::IsMember({"stream", "http"}));
  size_t runs = 3;
  app.add_option("--runs", runs, "Replays of each kind; the median is printed")
      ->check(CLI::Range(1, 99));
  bool no_compile_table = false;
  app.add_flag("--no-compile-table", no_compile_table,
               "Skip the compile figures for 1k/10k/30k rules (for profiling the replay)");
  CLI11_PARSE(app, argc, argv);
  core::keep_freed_memory();  // as the sensor does

  core::Config config(cli::config_schema());
  config.set("flow.records=no");
  std::printf("compile (generated rules, seed %lu)\n", static_cast<unsigned long>(seed));
  std::printf("  %8s %10s %9s %12s %14s\n", "rules", "patterns", "seconds", "db KiB",
              "state B/dir");
  for (const size_t n : {1000, 10000, 30000}) {
    if (no_compile_table) break;
    const auto engine = build_engine(n, seed, config);
    const detect::EngineStats& s = engine->stats();
    std::printf("  %8zu %10zu %9.3f %12.1f %14zu\n", n, s.patterns, s.compile_time.count(),
                static_cast<double>(s.database_bytes) / 1024, s.stream_state_bytes);
  }
  if (pcap.empty()) return 0;

  const Capture capture = bench::load_capture(pcap);
  const bool http = buffers == "http";
  const auto engine = build_engine(rule_count, seed, config, http);
  std::printf("replay %s: %zu frames, %.1f MB, %zu %s rules, one worker\n", pcap.c_str(),
              capture.frames.size(), static_cast<double>(capture.wire_bytes) / 1e6, rule_count,
              buffers.c_str());
  const double mbits = static_cast<double>(capture.wire_bytes) * 8 / 1e6;
  core::CounterSnapshot plain_counters, detect_counters;
  // The first run pays for fresh memory (page faults, heap growth) that a running sensor has
  // long paid: every run's time is printed, the median is the figure.
  auto median_of = [&](const char* what, const detect::DetectionEngine* e,
                       core::CounterSnapshot& counters) {
    std::vector<double> times;
    std::printf("  %-14s runs:", what);
    for (size_t i = 0; i < runs; ++i) {
      counters = core::CounterSnapshot{};
      times.push_back(replay(capture, config, e, counters));
      std::printf(" %.3f", times.back());
    }
    std::printf("\n");
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  };
  const double plain = median_of("without rules", nullptr, plain_counters);
  const double full = median_of("with rules", engine.get(), detect_counters);
  std::printf("  median of %zu runs each\n", runs);
  std::printf("  without rules  %8.3f s  %9.1f Mbit/s\n", plain, mbits / plain);
  std::printf(
      "  with rules     %8.3f s  %9.1f Mbit/s  (alerts %lu, candidates %lu, verified %lu)\n", full,
      mbits / full, static_cast<unsigned long>(detect_counters.get("detect.alerts")),
      static_cast<unsigned long>(detect_counters.get("detect.candidates")),
      static_cast<unsigned long>(detect_counters.get("detect.verified")));

  if (http) {
    std::printf("  HTTP transactions %lu, flows identified as HTTP %lu\n",
                static_cast<unsigned long>(detect_counters.get("http.transactions")),
                static_cast<unsigned long>(detect_counters.get("applayer.flows.http")));
    return 0;  // the floor below is for stream rules
  }
  const StreamRecorder rec = record_streams(capture, config);
  uint64_t matches = 0;
  const double floor = hyperscan_floor(rec, engine->database(detect::Scope::kStream), matches);
  const double stream_mbits = static_cast<double>(rec.bytes.size()) * 8 / 1e6;
  std::printf(
      "  floor: plain Hyperscan over the same %.1f MB of stream bytes: %.3f s, %.1f Mbit/s "
      "of stream (%lu matches)\n",
      static_cast<double>(rec.bytes.size()) / 1e6, floor, stream_mbits / floor,
      static_cast<unsigned long>(matches));
  std::printf(
      "  detection cost over the floor: %.2fx (full pipeline with rules / floor); "
      "detection alone (with - without rules) / floor: %.2fx\n",
      full / floor, (full - plain) / floor);
  return 0;
}
