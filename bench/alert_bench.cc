// Alert stream figures: alerts per second from an AlertStream to the collector on loopback (TCP
// and Unix, the collector writing real EVE lines), publish cost when the collector is away, and
// memory and disk used per 100k spooled alerts.
// Usage: alert_bench [alerts=200000]
#include <malloc.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "spanguard/collector/collector.h"
#include "spanguard/core/log.h"
#include "spanguard/output/alert_stream.h"
#include "spanguard/output/framing.h"

namespace {

using namespace spanguard;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

size_t heap_in_use() { return mallinfo2().uordblks; }

uint64_t dir_bytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.is_regular_file()) total += f.file_size();
  }
  return total;
}

// A typical alert: what the detection path fills in, with a 64-byte payload excerpt.
v1::Envelope sample_alert(uint32_t sid) {
  v1::Envelope e;
  auto* a = e.mutable_alert();
  a->set_timestamp("2024-04-21T10:00:00.123456+0000");
  a->set_flow_id(1234567890123.0);
  a->set_event_type("alert");
  a->set_src_ip("198.51.100.9");
  a->set_src_port(50123);
  a->set_dest_ip("203.0.113.5");
  a->set_dest_port(80);
  a->set_proto("TCP");
  a->set_app_proto("http");
  auto* info = a->mutable_alert();
  info->set_action("allowed");
  info->set_gid(1);
  info->set_signature_id(sid);
  info->set_rev(3);
  info->set_signature("ET WEB_SERVER Possible SQL Injection Attempt UNION SELECT");
  info->set_category("Web Application Attack");
  info->set_severity(1);
  a->set_payload(std::string(64, 'A'));
  return e;
}

std::string temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "alert-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

output::AlertStreamOptions base_options() {
  output::AlertStreamOptions o;
  o.sensor_id = "bench";
  o.reconnect_min = 5ms;
  o.reconnect_max = 100ms;
  o.drain_timeout = 0s;
  return o;
}

// A port that was bound and let go: nothing listens there afterwards.
std::string dead_url() {
  auto l = collector::CollectorOptions{{"tcp://127.0.0.1:0"}, "/dev/null", "", 1 << 20};
  collector::Collector c(l);
  return c.listen_urls().at(0);
}

void delivery(const char* label, const std::string& listen, uint64_t alerts) {
  const std::string dir = temp_dir();
  collector::Collector collector({{listen}, dir + "/eve.json", "", 1 << 20});
  std::thread serving([&] { collector.run(); });
  auto options = base_options();
  options.connect = collector.listen_urls().at(0);
  // Published faster than any collector writes: the whole burst must fit in the queue, or the
  // overflow (without a spool) would be dropped rather than measured.
  options.queue_size = alerts;
  {
    output::AlertStream stream(options);
    const auto start = Clock::now();
    for (uint64_t i = 0; i < alerts; ++i) {
      auto e = sample_alert(static_cast<uint32_t>(i));
      stream.publish(e);
    }
    const double publish_s = seconds_since(start);
    const bool all = stream.wait_acked(120s);
    const double total_s = seconds_since(start);
    std::printf("%-34s %9.0f alerts/s end to end (acknowledged, EVE line written and flushed)%s\n",
                label, static_cast<double>(alerts) / total_s, all ? "" : " [NOT ALL ACKED]");
    std::printf("%-34s %9.0f alerts/s publish() while delivering (%.2f us each), %llu dropped\n",
                "", static_cast<double>(alerts) / publish_s,
                publish_s * 1e6 / static_cast<double>(alerts),
                static_cast<unsigned long long>(stream.stats().dropped));
  }
  collector.stop();
  serving.join();
  uint64_t lines = 0;
  {
    FILE* f = std::fopen((dir + "/eve.json").c_str(), "r");
    for (int c; f != nullptr && (c = std::fgetc(f)) != EOF;) lines += c == '\n';
    if (f != nullptr) std::fclose(f);
  }
  std::printf("%-34s %9.1f bytes per EVE line, %llu lines\n", "",
              static_cast<double>(std::filesystem::file_size(dir + "/eve.json")) /
                  static_cast<double>(lines),
              static_cast<unsigned long long>(lines));
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t alerts = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  core::set_log_level("error");
  std::string frame;
  output::append_frame(sample_alert(2010001), frame);
  std::printf("sample alert: %zu bytes framed\n\n", frame.size());

  const std::string dir = temp_dir();
  delivery("tcp loopback:", "tcp://127.0.0.1:0", alerts);
  delivery("unix socket:", "unix://" + dir + "/c.sock", alerts);

  constexpr uint64_t kSpooled = 100'000;
  const std::string nowhere = dead_url();
  {
    // Memory: the collector is away and the queue holds everything.
    auto options = base_options();
    options.connect = nowhere;
    options.queue_size = kSpooled;
    output::AlertStream stream(options);
    const size_t before = heap_in_use();
    const auto start = Clock::now();
    for (uint64_t i = 0; i < kSpooled; ++i) {
      auto e = sample_alert(static_cast<uint32_t>(i));
      stream.publish(e);
    }
    const double s = seconds_since(start);
    const size_t used = heap_in_use() - before;
    std::printf(
        "\nin memory, collector away:        %9.1f MiB per 100k alerts (%.0f bytes each), "
        "publish %.2f us each\n",
        static_cast<double>(used) / (1 << 20) * 100000.0 / kSpooled,
        static_cast<double>(used) / kSpooled, s * 1e6 / kSpooled);
  }
  for (const auto policy : {output::SpoolFsync::kBatch, output::SpoolFsync::kAlways}) {
    // Disk: a queue of one, so every alert goes to the spool.
    const uint64_t count = policy == output::SpoolFsync::kAlways ? 2000 : kSpooled;
    auto options = base_options();
    options.connect = nowhere;
    options.queue_size = 1;
    options.spool_dir = dir + "/spool";
    options.spool_fsync = policy;
    std::filesystem::remove_all(options.spool_dir);
    output::AlertStream stream(options);
    const size_t before = heap_in_use();
    const auto start = Clock::now();
    for (uint64_t i = 0; i < count; ++i) {
      auto e = sample_alert(static_cast<uint32_t>(i));
      stream.publish(e);
    }
    const double s = seconds_since(start);
    const size_t heap = heap_in_use() - before;
    stream.close();
    const uint64_t disk = dir_bytes(options.spool_dir);
    std::printf(
        "spooled, fsync=%-6s               %9.1f MiB on disk per 100k alerts, heap +%zu "
        "KiB, publish %.2f us each (%llu alerts)\n",
        policy == output::SpoolFsync::kAlways ? "always" : "batch",
        static_cast<double>(disk) / (1 << 20) * 100000.0 / static_cast<double>(count), heap / 1024,
        s * 1e6 / static_cast<double>(count), static_cast<unsigned long long>(count));
  }
  std::filesystem::remove_all(dir);
  return 0;
}
