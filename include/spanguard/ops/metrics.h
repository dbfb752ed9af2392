// What the sensor exposes to monitoring — counters (summed and per worker), capture sources,
// gauges, histograms — and its rendering in the Prometheus text exposition format 0.0.4. The
// rendering is a pure function of a snapshot; the HTTP side lives in metrics_server.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "spanguard/core/counters.h"

namespace spanguard::ops {

// Label name and value; the value is escaped on output.
using MetricLabel = std::pair<std::string, std::string>;

// One capture source (a live interface, or the files of a replay).
struct SourceMetrics {
  std::string name = {};           // interface name: the `interface` label
  uint64_t frames = 0;             // frames handed to the sensor; the stall check watches it
  uint64_t kernel_dropped = 0;     // pcap_stats ps_drop: the capture buffer was full
  uint64_t interface_dropped = 0;  // pcap_stats ps_ifdrop: dropped by the NIC or driver
};

struct Gauge {
  std::string name = {};  // dotted like counters: "pipeline.ring_occupancy"
  std::string help = {};
  double value = 0;
  std::vector<MetricLabel> labels = {};  // gauges of one name differ by their labels
};

// A cumulative histogram as Prometheus defines it: counts[i] observations were <= bounds[i];
// `count` is every observation (the +Inf bucket).
struct Histogram {
  std::string name = {};  // "respond.reset_latency_seconds": the unit belongs in the name
  std::string help = {};
  std::vector<double> bounds = {};    // ascending upper bounds, without +Inf
  std::vector<uint64_t> counts = {};  // cumulative, one per bound
  uint64_t count = 0;
  double sum = 0;
  std::vector<MetricLabel> labels = {};
};

struct MetricsSnapshot {
  core::CounterSnapshot totals;                // every counter, summed
  std::vector<core::CounterSnapshot> workers;  // index = the `worker` label
  std::vector<SourceMetrics> sources;
  std::vector<Gauge> gauges;
  std::vector<Histogram> histograms;
};

inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// "decode.malformed.ipv4.bad_ihl" -> "spanguard_decode_malformed_ipv4_bad_ihl": prefixed, and every
// character outside [A-Za-z0-9_] (dots, dashes, colons, which Prometheus keeps for recording rules)
// turned into '_'.
std::string prometheus_name(std::string_view name);

// Appends `value` escaped for a label value (backslash, double quote and newline, as the text
// format requires).
void append_label_value(std::string_view value, std::string& out);

// Renders the snapshot. Every family gets its # HELP and # TYPE lines once, before its samples.
// Counters are suffixed _total. A counter that appears in any per-worker snapshot is exposed per
// worker only (label worker="0".."N-1", sum() over them gives the total) so that no query counts it
// twice; the others (capture, output, respond) are exposed as their single total. Sources become
// spanguard_source_*{interface="..."} series; histograms _bucket{le=...}, _sum and _count.
std::string format_prometheus(const MetricsSnapshot& snapshot);

}  // namespace spanguard::ops
