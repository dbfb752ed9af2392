// The Prometheus text rendering: exact output for a known snapshot, names, label escaping, and the
// per-worker rule that keeps sums right.
#include "spanguard/ops/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace spanguard::ops {
namespace {

constexpr core::CounterDef kCaptureDefs[] = {{"ring_full_waits", "Waits for a full ring"}};
constexpr core::CounterGroup kCapture{"capture", kCaptureDefs};
constexpr core::CounterDef kDecodeDefs[] = {
    {"packets", "Frames decoded"},
    {"malformed.ipv4.bad_ihl", "IPv4 header length below 20"},
};
constexpr core::CounterGroup kDecode{"decode", kDecodeDefs};

core::CounterSnapshot decode_snapshot(uint64_t packets, uint64_t bad_ihl) {
  core::CounterValues values(kDecode);
  values.set(0, packets);
  values.set(1, bad_ihl);
  core::CounterSnapshot snapshot;
  snapshot.add(values);
  return snapshot;
}

MetricsSnapshot known_snapshot() {
  MetricsSnapshot s;
  core::CounterValues capture(kCapture);
  capture.set(0, 3);
  s.totals.add(capture);
  core::CounterValues w0(kDecode), w1(kDecode);
  w0.set(0, 5);
  w0.set(1, 1);
  w1.set(0, 7);
  s.totals.add(w0);
  s.totals.add(w1);
  s.workers.push_back(decode_snapshot(5, 1));
  s.workers.push_back(decode_snapshot(7, 0));
  s.sources.push_back({.name = "eth1", .frames = 12, .kernel_dropped = 2, .interface_dropped = 1});
  s.gauges.push_back({.name = "pipeline.ring_occupancy",
                      .help = "Share of the ring in use",
                      .value = 0.25,
                      .labels = {{"worker", "0"}}});
  s.gauges.push_back({.name = "output.spool_depth", .help = "Alerts spooled", .value = 4});
  s.gauges.push_back({.name = "pipeline.ring_occupancy",
                      .help = "Share of the ring in use",
                      .value = 0.5,
                      .labels = {{"worker", "1"}}});
  s.histograms.push_back({.name = "respond.reset_latency_seconds",
                          .help = "Trigger frame to reset sent",
                          .bounds = {0.0001, 0.001, 0.01},
                          .counts = {2, 5, 6},
                          .count = 7,
                          .sum = 0.0425});
  return s;
}

TEST(PrometheusText, RendersKnownSnapshotExactly) {
  EXPECT_EQ(format_prometheus(known_snapshot()),
            "# HELP spanguard_capture_ring_full_waits_total Waits for a full ring\n"
            "# TYPE spanguard_capture_ring_full_waits_total counter\n"
            "spanguard_capture_ring_full_waits_total 3\n"
            "# HELP spanguard_decode_packets_total Frames decoded\n"
            "# TYPE spanguard_decode_packets_total counter\n"
            "spanguard_decode_packets_total{worker=\"0\"} 5\n"
            "spanguard_decode_packets_total{worker=\"1\"} 7\n"
            "# HELP spanguard_decode_malformed_ipv4_bad_ihl_total IPv4 header length below 20\n"
            "# TYPE spanguard_decode_malformed_ipv4_bad_ihl_total counter\n"
            "spanguard_decode_malformed_ipv4_bad_ihl_total{worker=\"0\"} 1\n"
            "spanguard_decode_malformed_ipv4_bad_ihl_total{worker=\"1\"} 0\n"
            "# HELP spanguard_source_frames_total Frames the capture source handed to the sensor\n"
            "# TYPE spanguard_source_frames_total counter\n"
            "spanguard_source_frames_total{interface=\"eth1\"} 12\n"
            "# HELP spanguard_source_kernel_dropped_total Frames the kernel dropped because the "
            "capture buffer was full (pcap ps_drop)\n"
            "# TYPE spanguard_source_kernel_dropped_total counter\n"
            "spanguard_source_kernel_dropped_total{interface=\"eth1\"} 2\n"
            "# HELP spanguard_source_interface_dropped_total Frames the interface or its driver "
            "dropped (pcap ps_ifdrop)\n"
            "# TYPE spanguard_source_interface_dropped_total counter\n"
            "spanguard_source_interface_dropped_total{interface=\"eth1\"} 1\n"
            "# HELP spanguard_pipeline_ring_occupancy Share of the ring in use\n"
            "# TYPE spanguard_pipeline_ring_occupancy gauge\n"
            "spanguard_pipeline_ring_occupancy{worker=\"0\"} 0.25\n"
            "spanguard_pipeline_ring_occupancy{worker=\"1\"} 0.5\n"
            "# HELP spanguard_output_spool_depth Alerts spooled\n"
            "# TYPE spanguard_output_spool_depth gauge\n"
            "spanguard_output_spool_depth 4\n"
            "# HELP spanguard_respond_reset_latency_seconds Trigger frame to reset sent\n"
            "# TYPE spanguard_respond_reset_latency_seconds histogram\n"
            "spanguard_respond_reset_latency_seconds_bucket{le=\"0.0001\"} 2\n"
            "spanguard_respond_reset_latency_seconds_bucket{le=\"0.001\"} 5\n"
            "spanguard_respond_reset_latency_seconds_bucket{le=\"0.01\"} 6\n"
            "spanguard_respond_reset_latency_seconds_bucket{le=\"+Inf\"} 7\n"
            "spanguard_respond_reset_latency_seconds_sum 0.0425\n"
            "spanguard_respond_reset_latency_seconds_count 7\n");
}

TEST(PrometheusText, CountersWithoutWorkersAreSingleTotals) {
  MetricsSnapshot s;
  s.totals = decode_snapshot(9, 2);
  EXPECT_EQ(format_prometheus(s),
            "# HELP spanguard_decode_packets_total Frames decoded\n"
            "# TYPE spanguard_decode_packets_total counter\n"
            "spanguard_decode_packets_total 9\n"
            "# HELP spanguard_decode_malformed_ipv4_bad_ihl_total IPv4 header length below 20\n"
            "# TYPE spanguard_decode_malformed_ipv4_bad_ihl_total counter\n"
            "spanguard_decode_malformed_ipv4_bad_ihl_total 2\n");
}

TEST(PrometheusText, CounterKnownOnlyToAWorkerIsStillExposed) {
  MetricsSnapshot s;
  s.workers.push_back(decode_snapshot(1, 0));
  const std::string text = format_prometheus(s);
  EXPECT_NE(text.find("spanguard_decode_packets_total{worker=\"0\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("spanguard_decode_malformed_ipv4_bad_ihl_total{worker=\"0\"} 0\n"),
            std::string::npos);
}

TEST(PrometheusText, NamesArePrefixedAndSanitized) {
  EXPECT_EQ(prometheus_name("decode.malformed.ipv4.bad_ihl"),
            "spanguard_decode_malformed_ipv4_bad_ihl");
  EXPECT_EQ(prometheus_name("a-b:c d/é"), "spanguard_a_b_c_d___");
  EXPECT_EQ(prometheus_name("9lives"), "spanguard_9lives");
}

TEST(PrometheusText, CounterAlreadyEndingInTotalIsNotSuffixedTwice) {
  static constexpr core::CounterDef kDefs[] = {{"bytes_total", "Bytes"}};
  static constexpr core::CounterGroup kGroup{"output", kDefs};
  MetricsSnapshot s;
  s.totals.add(core::CounterValues(kGroup));
  EXPECT_EQ(format_prometheus(s),
            "# HELP spanguard_output_bytes_total Bytes\n"
            "# TYPE spanguard_output_bytes_total counter\n"
            "spanguard_output_bytes_total 0\n");
}

TEST(PrometheusText, EscapesLabelValues) {
  std::string out;
  append_label_value("a\\b\"c\nd", out);
  EXPECT_EQ(out, "a\\\\b\\\"c\\nd");

  MetricsSnapshot s;
  s.sources.push_back({.name = "odd\"name\\\n"});
  EXPECT_NE(format_prometheus(s).find(
                "spanguard_source_frames_total{interface=\"odd\\\"name\\\\\\n\"} 0\n"),
            std::string::npos);
}

TEST(PrometheusText, EscapesHelpTextButNotItsQuotes) {
  MetricsSnapshot s;
  s.gauges.push_back({.name = "g", .help = "say \"hi\"\\\nbye", .value = 1});
  EXPECT_EQ(format_prometheus(s),
            "# HELP spanguard_g say \"hi\"\\\\\\nbye\n"
            "# TYPE spanguard_g gauge\n"
            "spanguard_g 1\n");
}

TEST(PrometheusText, WritesSpecialFloatsAsPrometheusReadsThem) {
  MetricsSnapshot s;
  s.gauges.push_back({.name = "nan", .help = "h", .value = std::nan("")});
  s.gauges.push_back(
      {.name = "inf", .help = "h", .value = std::numeric_limits<double>::infinity()});
  s.gauges.push_back({.name = "neg", .help = "h", .value = -1.5e-7});
  const std::string text = format_prometheus(s);
  EXPECT_NE(text.find("spanguard_nan NaN\n"), std::string::npos);
  EXPECT_NE(text.find("spanguard_inf +Inf\n"), std::string::npos);
  EXPECT_NE(text.find("spanguard_neg -1.5e-07\n"), std::string::npos);
}

TEST(PrometheusText, NamesThatCollideAfterSanitizingAppearOnce) {
  MetricsSnapshot s;
  s.gauges.push_back({.name = "a.b", .help = "first", .value = 1});
  s.histograms.push_back({.name = "a_b", .help = "second", .count = 0});
  EXPECT_EQ(format_prometheus(s),
            "# HELP spanguard_a_b first\n"
            "# TYPE spanguard_a_b gauge\n"
            "spanguard_a_b 1\n");
}

TEST(PrometheusText, HistogramLabelsComeBeforeLe) {
  MetricsSnapshot s;
  s.histograms.push_back({.name = "lat",
                          .help = "h",
                          .bounds = {1},
                          .counts = {1},
                          .count = 2,
                          .sum = 3.5,
                          .labels = {{"worker", "0"}}});
  EXPECT_EQ(format_prometheus(s),
            "# HELP spanguard_lat h\n"
            "# TYPE spanguard_lat histogram\n"
            "spanguard_lat_bucket{worker=\"0\",le=\"1\"} 1\n"
            "spanguard_lat_bucket{worker=\"0\",le=\"+Inf\"} 2\n"
            "spanguard_lat_sum{worker=\"0\"} 3.5\n"
            "spanguard_lat_count{worker=\"0\"} 2\n");
}

}  // namespace
}  // namespace spanguard::ops
