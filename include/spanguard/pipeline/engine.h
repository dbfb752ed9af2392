// The engine wires sources to workers. One source and one worker run inline on the calling thread
// (deterministic, no copies). Live capture with several workers gives each worker its own sources
// (capture/fanout.h: the kernel hashes every frame to its worker), so a frame is read, decoded and
// answered by one thread. Otherwise (capture files, or where fanout is refused) each source gets a
// capture thread that hashes every frame's addresses symmetrically and copies it into the owning
// worker's ring, and each worker a thread.
#pragma once

#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "spanguard/capture/source.h"
#include "spanguard/core/config.h"
#include "spanguard/core/counters.h"
#include "spanguard/output/socket.h"
#include "spanguard/pipeline/frame_ring.h"
#include "spanguard/pipeline/worker.h"

namespace spanguard::pipeline {

// The "pipeline" configuration section (workers, ring size, CPU affinity).
const core::ParamSection& pipeline_params();
// pipeline.cpu_affinity: the CPUs workers are pinned to in turn (empty: none). Throws
// core::ConfigError naming the key for an entry that is no CPU number or range, or a CPU this
// process may not run on.
std::vector<int> cpu_affinity(const core::Config& config);

class Engine {
 public:
  // `workers` 0 means one per core.
  Engine(const core::Config& config, std::vector<std::unique_ptr<capture::PacketSource>> sources,
         unsigned workers, bool live_capture, WorkerOutputs outputs = {});
  // Live capture where each worker reads its own sources: lanes[i] belongs to worker i.
  Engine(const core::Config& config,
         std::vector<std::vector<std::unique_ptr<capture::PacketSource>>> lanes,
         WorkerOutputs outputs = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs until every source is exhausted or stop() is called; rethrows a capture failure.
  void run();
  // Thread-safe; the engine drains what it already holds and returns from run().
  void stop();

  unsigned worker_count() const { return static_cast<unsigned>(workers_.size()); }
  // Sums of every worker's and source's counters; safe while running.
  core::CounterSnapshot counters() const;
  // The tracked flows matching `filter`, from every worker (each answers at its next batch end or
  // idle tick); workers that did not answer within `timeout` are left out (`complete` false).
  std::vector<FlowSummary> flows(const FlowFilter& filter, std::chrono::milliseconds timeout,
                                 bool& complete, bool& truncated) const;
  // Whether every worker has switched to the rule set of RuleSlot version `version`.
  bool rules_active(uint64_t version) const;
  // Each worker's own counters, by worker index; safe while running.
  std::vector<core::CounterSnapshot> worker_counters() const;
  // Each capture source's figures with its name (an interface read by several workers appears
  // once per worker); safe while running.
  std::vector<std::pair<std::string, capture::SourceStats>> source_stats() const;
  // Every worker's rule profile summed, by rule index (empty unless detect.profile_rules); after
  // run() has returned.
  std::vector<detect::RuleProfile> rule_profile() const;

 private:
  void run_inline();
  // A thread's failure: kept for run() to rethrow (the first one), and the run stopped.
  void fail(std::exception_ptr error);
  void run_threaded();
  void run_owned();
  // Runs a worker's `loop`, then finishes the worker (pending alerts out); an exception from
  // either is the run's failure (fail()), never std::terminate.
  void run_worker(Worker& worker, const std::function<void()>& loop);

  // Reassembled datagrams between workers (run_owned with capture.fanout_hash: flow).
  class DatagramExchange;

  std::vector<std::unique_ptr<capture::PacketSource>> sources_;
  WorkerOutputs outputs_;
  std::unique_ptr<applayer::DataExpectations> expectations_;  // shared (flow hash); outlives them
  std::unique_ptr<DatagramExchange> exchange_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<FrameRing>> rings_;           // [source * workers + worker]
  std::vector<std::vector<capture::PacketSource*>> lanes_;  // worker-owned sources (run_owned)
  size_t ring_bytes_;
  uint64_t hash_seed_;
  bool live_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> ring_full_waits_{0};
  std::mutex error_mutex_;
  std::exception_ptr error_;
  std::vector<int> cpus_;                 // pipeline.cpu_affinity: worker i runs on cpus_[i % size]
  bool spin_ = false;                     // workers never sleep when idle (busy-polling capture)
  int poll_timeout_ms_ = 100;             // run_owned: longest sleep in poll() (capture.timeout)
  output::Wakeup stop_wakeup_{"engine"};  // made readable by stop(): in run_owned's poll() sets
};

}  // namespace spanguard::pipeline
