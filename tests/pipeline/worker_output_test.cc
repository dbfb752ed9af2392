// A worker's output path under a collector that never reads and a full spool: the worker goes on
// processing every frame, and every alert it raised is accounted for by the stream's counters.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "spanguard/applayer/registry.h"
#include "spanguard/cli/config_schema.h"
#include "spanguard/detect/engine.h"
#include "spanguard/output/alert_stream.h"
#include "spanguard/output/socket.h"
#include "spanguard/output/stream_url.h"
#include "spanguard/pipeline/worker.h"
#include "spanguard/rules/parser.h"
#include "tcp_conversation.h"
#include "temp_dir.h"

namespace spanguard::pipeline {
namespace {

using namespace std::chrono_literals;

using testing::TempDir;

std::unique_ptr<detect::DetectionEngine> engine_for(const std::string& text,
                                                    const core::Config& config) {
  rules::Classifications none;
  rules::RuleParser parser(rules::default_variables(), &none, applayer::rule_registry());
  parser.parse_text(text, "t.rules");
  rules::RuleSet set = parser.take();
  EXPECT_EQ(set.failed, 0u);
  std::vector<rules::Diagnostic> diagnostics;
  return std::make_unique<detect::DetectionEngine>(
      std::move(set.rules), detect::detect_options(config), diagnostics, applayer::rule_registry());
}

TEST(WorkerOutput, KeepsProcessingWithACollectorThatNeverReadsAndAFullSpool) {
  core::Config config(cli::config_schema());
  config.set("flow.records=no");
  const auto engine = engine_for(
      "alert tcp any any -> any any (msg:\"a\"; flow:to_server; content:\"GET\"; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"b\"; flow:to_server; content:\"Host:\"; sid:2;)\n",
      config);
  // A listening socket nobody accepts on: the connection completes in the kernel's backlog, takes
  // a socket buffer of frames and then nothing more.
  output::Listener deaf(
      output::parse_stream_url("tcp://127.0.0.1:0", "test", output::UrlUse::kListen));
  TempDir dir;
  output::AlertStreamOptions o;
  o.connect = deaf.url();
  o.sensor_id = "test";
  o.spool_dir = dir.path() + "/spool";
  o.spool_max_bytes = 65536;
  o.queue_size = 50;
  o.handoff_size = 64;
  o.drain_timeout = 0ms;
  output::AlertStream stream(o);

  constexpr uint32_t kSessions = 3000;
  uint64_t frames = 0;
  core::CounterSnapshot counters;
  {
    // Live: a full hand-off drops rather than waits.
    Worker worker(config, true, WorkerOutputs{.detection = engine.get(), .alerts = &stream});
    int64_t ns = 1'700'000'000'000'000'000;
    for (uint32_t i = 0; i < kSessions; ++i) {
      testing::TcpConversation c(
          {"198.51.100.1", static_cast<uint16_t>(10000 + i % 50000), testing::kClientMac},
          {"198.51.100.2", 80, testing::kServerMac});
      std::vector<testing::Bytes> session = c.handshake();
      for (auto& f : c.client_sends("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) session.push_back(f);
      for (auto& f : c.close()) session.push_back(f);
      for (const testing::Bytes& f : session) {
        ns += 1000;
        worker.on_frame({f.data(), static_cast<uint32_t>(f.size()), static_cast<uint32_t>(f.size()),
                         core::timestamp_from_ns(ns), decode::LinkType::kEthernet});
        ++frames;
      }
      worker.on_batch_end();
    }
    worker.finish();
    worker.collect(counters);
  }
  // Every frame was processed and every alert raised.
  EXPECT_EQ(counters.get("decode.packets"), frames);
  EXPECT_EQ(counters.get("detect.alerts"), 2u * kSessions);
  // Every alert is accounted for: in memory, in the spool, or dropped and counted.
  ASSERT_TRUE(stream.settle(10s));
  const auto s = stream.stats();
  EXPECT_EQ(s.published, 2u * kSessions);
  EXPECT_LE(s.queued, 50u);
  EXPECT_LE(s.spool_bytes, 65536u);
  EXPECT_GT(s.dropped, 0u);
  EXPECT_LE(s.dropped_handoff, s.dropped);
  EXPECT_EQ(s.queued + s.spooled + s.dropped, s.published);
}

}  // namespace
}  // namespace spanguard::pipeline
