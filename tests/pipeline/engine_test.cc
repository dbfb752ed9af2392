// The engine: inline and threaded modes process every frame exactly once, and stop() ends a run.
#include "spanguard/pipeline/engine.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <stdexcept>
#include <thread>

#include "spanguard/cli/config_schema.h"
#include "spanguard/core/error.h"

namespace spanguard::pipeline {
namespace {

// A minimal IPv4/UDP frame from 198.51.100.<host> to 198.51.100.1 (UDP's zero checksum means
// "none"; the IPv4 header checksum is filled in).
std::vector<uint8_t> udp_frame(uint8_t host) {
  std::vector<uint8_t> f = {
      0x02, 0,    0,    0,    0,   1,  0x02, 0, 0,  0,  0, 2, 0x08, 0x00,  // Ethernet
      0x45, 0,    0,    29,   0,   0,  0,    0, 64, 17, 0, 0,              // IPv4, total 29
      198,  51,   100,  host, 198, 51, 100,  1,                            //
      0x30, 0x39, 0x00, 0x35, 0,   9,  0,    0, 'x'};                      // UDP 12345 -> 53
  uint32_t sum = 0;
  for (int i = 14; i < 34; i += 2) sum += static_cast<uint32_t>(f[i] << 8 | f[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  f[24] = static_cast<uint8_t>(~sum >> 8);
  f[25] = static_cast<uint8_t>(~sum);
  return f;
}

class FakeSource final : public capture::PacketSource {
 public:
  FakeSource(int frames, bool endless) : remaining_(frames), endless_(endless) {}
  int dispatch(int max_frames, capture::FrameSink& sink) override {
    if (stopped_) return -1;
    if (remaining_ == 0) {
      if (!endless_) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return 0;
    }
    int n = 0;
    for (; n < max_frames && remaining_ > 0; ++n, --remaining_) {
      const auto f = udp_frame(static_cast<uint8_t>(2 + remaining_ % 200));
      sink.on_frame({f.data(), static_cast<uint32_t>(f.size()), static_cast<uint32_t>(f.size()),
                     core::timestamp_from_ns(remaining_), decode::LinkType::kEthernet});
      ++delivered_;
    }
    return n;
  }
  void stop() override { stopped_ = true; }
  capture::SourceStats stats() override { return {.received = delivered_}; }
  std::string name() const override { return "fake"; }

 private:
  int remaining_;
  bool endless_;
  uint64_t delivered_ = 0;
  std::atomic<bool> stopped_{false};
};

core::Config config() { return core::Config(cli::config_schema()); }

TEST(Engine, InlineModeDecodesEveryFrame) {
  std::vector<std::unique_ptr<capture::PacketSource>> sources;
  sources.push_back(std::make_unique<FakeSource>(5000, false));
  const core::Config c = config();
  Engine engine(c, std::move(sources), 1, false);
  engine.run();
  const auto s = engine.counters();
  EXPECT_EQ(s.get("capture.received"), 5000u);
  EXPECT_EQ(s.get("decode.packets"), 5000u);
  EXPECT_EQ(s.get("decode.udp"), 5000u);
}

TEST(Engine, ThreadedModeSpreadsFramesOverWorkersWithoutLoss) {
  std::vector<std::unique_ptr<capture::PacketSource>> sources;
  sources.push_back(std::make_unique<FakeSource>(30000, false));
  sources.push_back(std::make_unique<FakeSource>(20000, false));
  const core::Config c = config();
  Engine engine(c, std::move(sources), 3, false);
  ASSERT_EQ(engine.worker_count(), 3u);
  engine.run();
  const auto s = engine.counters();
  EXPECT_EQ(s.get("capture.received"), 50000u);
  EXPECT_EQ(s.get("decode.packets"), 50000u);
  EXPECT_EQ(s.get("decode.ipv4"), 50000u);
}

TEST(Engine, StopEndsARunOfAnEndlessSource) {
  std::vector<std::unique_ptr<capture::PacketSource>> sources;
  sources.push_back(std::make_unique<FakeSource>(100, true));
  const core::Config c = config();
  Engine engine(c, std::move(sources), 1, true);
  // Stopped once it has taken everything the source had (the source then idles forever); the
  // counters are read while it runs, as the heartbeats and the metrics endpoint read them.
  std::thread stopper([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (engine.counters().get("decode.packets") < 100 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    engine.stop();
  });
  engine.run();
  stopper.join();
  EXPECT_EQ(engine.counters().get("decode.packets"), 100u);
}

// pipeline.cpu_affinity: each worker runs on its CPU, whichever mode runs it (inline on the calling
// thread, or a thread per worker).
TEST(Engine, WorkersRunOnTheCpuTheyArePinnedTo) {
  cpu_set_t before;
  ASSERT_EQ(sched_getaffinity(0, sizeof before, &before), 0);
  int cpu = -1;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &before)) cpu = c;  // the last one this process may use
  }
  ASSERT_GE(cpu, 0);
  for (const unsigned workers : {1u, 2u}) {
    std::vector<std::unique_ptr<capture::PacketSource>> sources;
    sources.push_back(std::make_unique<FakeSource>(2000, false));
    std::atomic<int> frames{0}, elsewhere{0};
    WorkerOutputs outputs;
    outputs.before_frame = [&](const capture::Frame&) {
      cpu_set_t mine;
      if (sched_getaffinity(0, sizeof mine, &mine) != 0 || CPU_COUNT(&mine) != 1 ||
          !CPU_ISSET(cpu, &mine)) {
        elsewhere.fetch_add(1);
      }
      frames.fetch_add(1);
    };
    core::Config c = config();
    c.set("pipeline.cpu_affinity=[" + std::to_string(cpu) + "]");
    Engine engine(c, std::move(sources), workers, false, outputs);
    engine.run();
    EXPECT_EQ(frames.load(), 2000) << workers << " worker(s)";
    EXPECT_EQ(elsewhere.load(), 0) << workers << " worker(s)";
    sched_setaffinity(0, sizeof before, &before);  // the inline run pinned this thread
  }
}

TEST(Engine, ABadCpuAffinityIsRefusedNamingTheKey) {
  for (const char* value : {"[x]", "[3-1]", "[1-]", "[99999]"}) {
    core::Config c = config();
    c.set(std::string("pipeline.cpu_affinity=") + value);
    try {
      (void)cpu_affinity(c);
      ADD_FAILURE() << value << " accepted";
    } catch (const core::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("pipeline.cpu_affinity"), std::string::npos) << e.what();
    }
  }
  core::Config ranges = config();
  ranges.set("pipeline.cpu_affinity=[0-0, 0]");
  EXPECT_EQ(cpu_affinity(ranges), (std::vector<int>{0, 0}));
}

// A worker that throws ends the run cleanly: run() rethrows its error after every thread has
// finished (no std::terminate), the other workers' frames are counted, capture stopped.
TEST(Engine, AWorkerErrorStopsTheRunAndIsRethrownInEitherMode) {
  for (const unsigned workers : {1u, 2u}) {
    std::vector<std::unique_ptr<capture::PacketSource>> sources;
    auto source = std::make_unique<FakeSource>(100000, true);  // endless: only stop() ends it
    FakeSource* raw = source.get();
    sources.push_back(std::move(source));
    std::atomic<int> seen{0};
    WorkerOutputs outputs;
    outputs.before_frame = [&seen](const capture::Frame&) {
      if (seen.fetch_add(1) == 1000) throw std::runtime_error("worker failure");
    };
    const core::Config c = config();
    Engine engine(c, std::move(sources), workers, true, outputs);
    try {
      engine.run();
      ADD_FAILURE() << workers << " worker(s): run() returned without the error";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "worker failure");
    }
    struct Discard final : capture::FrameSink {
      void on_frame(const capture::Frame&) override {}
    } discard;
    EXPECT_EQ(raw->dispatch(1, discard), -1) << "capture was stopped";
    EXPECT_GE(engine.counters().get("decode.packets"), 1000u);
  }
}

}  // namespace
}  // namespace spanguard::pipeline
