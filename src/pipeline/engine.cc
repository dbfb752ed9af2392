// Threads and hand-off between capture sources and workers.
#include "spanguard/pipeline/engine.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <functional>
#include <random>
#include <thread>

#include "spanguard/capture/fanout.h"
#include "spanguard/capture/source.h"
#include "spanguard/core/error.h"
#include "spanguard/core/log.h"
#include "spanguard/decode/decoder.h"
#include "spanguard/output/socket.h"

namespace spanguard::pipeline {

namespace {

constexpr core::Param kParams[] = {
    {.name = "workers",
     .type = core::ParamType::kInt,
     .default_value = "0",
     .help = "Worker threads, each owning a share of the flows (0: one per core). Unset, run "
             "uses one per core, or one fewer when busy-polling (each spinning worker needs a core "
             "and one is left to the kernel and the rest); replay uses 1, which makes it "
             "deterministic",
     .min = 0,
     .max = 256},
    {.name = "ring_size",
     .type = core::ParamType::kBytes,
     .default_value = "32MiB",
     .help = "Frame ring between each capture thread and each worker",
     .min = 1 << 20,
     .max = 1ull << 32},
    {.name = "cpu_affinity",
     .type = core::ParamType::kStringList,
     .default_value = "[]",
     .help = "CPUs the workers are pinned to, in turn (worker i on the i-th, cycling): CPU numbers "
             "or ranges such as \"2-5\"; keep them off the CPUs that take the capture NIC's "
             "interrupts. Empty: the kernel places them"},
};

constexpr core::ParamSection kSection{"pipeline", "Threads and queues", kParams};

enum class CaptureCounter : uint16_t {
  kReceived,
  kKernelDropped,
  kInterfaceDropped,
  kReadErrors,
  kRingFullWaits,
  kDatagramsHandedOver,
  kHandOverDropped,
  kCount
};
constexpr core::CounterDef kCaptureDefs[] = {
    {"received", "frames read from capture sources"},
    {"kernel_dropped", "frames the kernel dropped because the capture buffer was full"},
    {"interface_dropped", "frames the interface or driver dropped"},
    {"read_errors", "capture files that ended in a read error"},
    {"ring_full_waits", "times a capture thread waited for room in a worker's ring"},
    {"datagrams_handed_over",
     "reassembled datagrams handed to the worker holding their flow (fanout_hash: flow)"},
    {"hand_over_dropped", "reassembled datagrams dropped: their worker's hand-over queue was full"},
};
static_assert(std::size(kCaptureDefs) == static_cast<size_t>(CaptureCounter::kCount));
constexpr core::CounterGroup kCaptureGroup{"capture", kCaptureDefs};

}  // namespace

// Each worker's queue of datagrams other workers reassembled for it. Fragments are rare: a locked
// vector per worker, looked at through one flag per loop, costs nothing while empty; an eventfd
// per worker wakes one that sleeps in poll() when something is queued for it.
class Engine::DatagramExchange final : public DatagramRouter {
 public:
  DatagramExchange(size_t workers, capture::FanoutHash hash)
      : inboxes_(workers), hash_(hash), workers_(static_cast<unsigned>(workers)) {}

  // Readable while worker `w` has datagrams queued: for its poll() set.
  int wake_fd(unsigned w) const { return inboxes_[w].wake.fd(); }

  unsigned owner(std::span<const uint8_t> ip) const override {
    return capture::fanout_member(ip, hash_, workers_);
  }

  void post(unsigned to, const capture::Frame& frame) override {
    Inbox& in = inboxes_[to];
    {
      std::lock_guard lock(in.mutex);
      if (in.bytes + frame.caplen > kInboxBytes) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      in.frames.push_back({std::vector<uint8_t>(frame.data, frame.data + frame.caplen), frame.ts,
                           frame.link, frame.origin});
      in.bytes += frame.caplen;
    }
    in.pending.store(true, std::memory_order_release);
    in.wake.notify();
    handed_.fetch_add(1, std::memory_order_relaxed);
  }

  // Worker `w`'s side: processes what was handed to it; returns how many frames.
  size_t deliver(unsigned w, Worker& worker) {
    Inbox& in = inboxes_[w];
    if (!in.pending.load(std::memory_order_acquire)) return 0;
    std::vector<Queued> taken;
    {
      std::lock_guard lock(in.mutex);
      taken.swap(in.frames);
      in.bytes = 0;
      in.pending.store(false, std::memory_order_relaxed);
      in.wake.clear();  // readable again at the next post
    }
    for (const Queued& q : taken) {
      worker.on_frame({q.bytes.data(), static_cast<uint32_t>(q.bytes.size()),
                       static_cast<uint32_t>(q.bytes.size()), q.ts, q.link, q.origin});
    }
    return taken.size();
  }

  uint64_t handed() const { return handed_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kInboxBytes = 16u << 20;  // per worker; beyond, datagrams are dropped
  struct Queued {
    std::vector<uint8_t> bytes;
    core::Timestamp ts;
    decode::LinkType link;
    const std::string* origin;
  };
  struct Inbox {
    std::mutex mutex;
    std::vector<Queued> frames;
    size_t bytes = 0;
    std::atomic<bool> pending{false};
    output::Wakeup wake{"fanout hand-over"};
  };
  std::vector<Inbox> inboxes_;
  capture::FanoutHash hash_;
  unsigned workers_;
  std::atomic<uint64_t> handed_{0};
  std::atomic<uint64_t> dropped_{0};
};

namespace {

// Capture-thread side of the threaded mode: finds each frame's worker and copies it into its ring.
class Dispatcher final : public capture::FrameSink {
 public:
  Dispatcher(FrameRing* const* rings, size_t ring_count, uint64_t seed, decode::DecoderOptions opts,
             const std::atomic<bool>& stopping, std::atomic<uint64_t>& full_waits)
      : rings_(rings),
        ring_count_(ring_count),
        seed_(seed),
        options_(opts),
        decoder_(opts),
        stopping_(stopping),
        full_waits_(full_waits) {}

  void on_frame(const capture::Frame& frame) override {
    // Most frames are hashed from their headers in place; the rest are decoded (non-IP and
    // malformed frames hash to 0: one worker counts them, once).
    std::optional<uint32_t> hash =
        decode::quick_worker_hash(frame.link, frame.data, frame.caplen, options_, seed_);
    if (!hash) {
      decode::PacketView view;
      decoder_.decode(frame.link, frame.data, frame.caplen, frame.wirelen, frame.ts, view);
      hash = decode::worker_hash(view, seed_);
    }
    FrameRing& ring = *rings_[*hash % ring_count_];
    for (unsigned waits = 0; !ring.try_push(frame); ++waits) {
      // Back-pressure: live capture then fills the kernel buffer, whose drops pcap_stats counts.
      if (stopping_.load(std::memory_order_relaxed)) return;
      full_waits_.fetch_add(1, std::memory_order_relaxed);
      // A full ring waits for a worker that has a ring's worth of frames to get through: after a
      // few yields, sleep. Yielding on, this thread took 15 % of the CPU time of a two-worker
      // replay on two cores away from the workers it was waiting for.
      if (waits < 8) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }
  }

 private:
  FrameRing* const* rings_;
  size_t ring_count_;
  uint64_t seed_;
  decode::DecoderOptions options_;
  decode::Decoder decoder_;  // its counters are not reported: the worker decodes again
  const std::atomic<bool>& stopping_;
  std::atomic<uint64_t>& full_waits_;
};

// A worker reading several interfaces (the two halves of a TAP, or SPAN sessions split by
// direction): frames of a batch are collected from every interface, then handed over in capture
// time order. Read one interface after the other, a server's SYN-ACK on one would be processed
// before the client's SYN already waiting on the other, and the flow split in two.
class TimeOrderedBatch final : public capture::FrameSink {
 public:
  void on_frame(const capture::Frame& frame) override {
    held_.push_back({frame, bytes_.size()});
    bytes_.insert(bytes_.end(), frame.data, frame.data + frame.caplen);
  }
  size_t size() const { return held_.size(); }
  // Every held frame to `sink`, oldest first (ties in reading order); empties the batch.
  void deliver(capture::FrameSink& sink) {
    std::stable_sort(held_.begin(), held_.end(),
                     [](const Held& a, const Held& b) { return a.frame.ts < b.frame.ts; });
    for (Held& h : held_) {
      h.frame.data = bytes_.data() + h.offset;
      sink.on_frame(h.frame);
    }
    held_.clear();
    bytes_.clear();
  }

 private:
  struct Held {
    capture::Frame frame;  // data re-pointed into bytes_ at delivery (the vector may move)
    size_t offset;
  };
  std::vector<Held> held_;
  std::vector<uint8_t> bytes_;
};

}  // namespace

const core::ParamSection& pipeline_params() { return kSection; }

std::vector<int> cpu_affinity(const core::Config& config) {
  constexpr std::string_view kKey = "pipeline.cpu_affinity";
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) CPU_ZERO(&allowed);
  std::vector<int> cpus;
  for (const std::string& entry : config.get(kKey).as_strings()) {
    int first = -1, last = -1;
    const char* const end = entry.data() + entry.size();
    auto [p, ec] = std::from_chars(entry.data(), end, first);
    if (ec == std::errc() && p == end) {
      last = first;
    } else if (ec == std::errc() && *p == '-') {
      const auto [q, ec2] = std::from_chars(p + 1, end, last);
      if (ec2 != std::errc() || q != end) first = -1;
    } else {
      first = -1;
    }
    if (first < 0 || last < first) {
      throw core::ConfigError(std::string(kKey) + ": '" + entry +
                              "' is not a CPU number or a range such as 2-5");
    }
    for (int cpu = first; cpu <= last; ++cpu) {
      if (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed)) {
        throw core::ConfigError(std::string(kKey) + ": CPU " + std::to_string(cpu) +
                                " is not one this process may run on");
      }
      cpus.push_back(cpu);
    }
  }
  return cpus;
}

Engine::Engine(const core::Config& config,
               std::vector<std::unique_ptr<capture::PacketSource>> sources, unsigned workers,
               bool live_capture, WorkerOutputs outputs)
    : sources_(std::move(sources)),
      outputs_(outputs),
      ring_bytes_(config.get("pipeline.ring_size").as_bytes()),
      hash_seed_(std::random_device{}() * 0x9e3779b97f4a7c15ULL ^ std::random_device{}()),
      live_(live_capture) {
  if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());
  // Busy-polling capture (capture.busy_poll; on by default when resets are sent): the workers
  // poll too, never sleeping, so that a trigger's reset never waits for a worker to wake — when
  // every spinning thread has a core. With more spinners than cores (2 workers and a capture
  // thread on 2 cores) spinning workers take the dispatcher's time: measured, the reset's tail
  // latency doubles, so they keep the spin-then-sleep of the default.
  cpus_ = cpu_affinity(config);
  spin_ = live_capture && capture::live_options(config, outputs.respond != nullptr).busy_poll &&
          workers + sources_.size() <= std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(config, live_capture, outputs));
  }
}

Engine::Engine(const core::Config& config,
               std::vector<std::vector<std::unique_ptr<capture::PacketSource>>> lanes,
               WorkerOutputs outputs)
    : outputs_(outputs), ring_bytes_(0), hash_seed_(0), live_(true) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  // No capture thread: every worker polls its own sockets, so with busy-polling capture each
  // spins as long as each has a core.
  const capture::LiveOptions live = capture::live_options(config, outputs.respond != nullptr);
  cpus_ = cpu_affinity(config);
  spin_ = live.busy_poll && lanes.size() <= cores;
  poll_timeout_ms_ = static_cast<int>(std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::milliseconds>(live.timeout).count()));
  const capture::FanoutHash hash = capture::fanout_hash_from(live.fanout_hash);
  const bool flow_hash = lanes.size() > 1 && hash == capture::FanoutHash::kFlow;
  if (flow_hash) {
    // A data connection's worker is its own ports' choice, not its control connection's.
    expectations_ = std::make_unique<applayer::DataExpectations>();
    outputs.ftp_expectations = expectations_.get();
    outputs_.ftp_expectations = expectations_.get();
  }
  for (auto& lane : lanes) {
    workers_.push_back(std::make_unique<Worker>(config, true, outputs));
    lanes_.emplace_back();
    for (auto& source : lane) {
      lanes_.back().push_back(source.get());
      sources_.push_back(std::move(source));
    }
  }
  if (flow_hash) {
    exchange_ = std::make_unique<DatagramExchange>(workers_.size(), hash);
    for (size_t w = 0; w < workers_.size(); ++w) {
      workers_[w]->route_datagrams(exchange_.get(), static_cast<unsigned>(w));
    }
  }
}

Engine::~Engine() = default;

void Engine::run() {
  if (!lanes_.empty()) {
    run_owned();
  } else if (sources_.size() == 1 && workers_.size() == 1) {
    run_inline();
  } else {
    run_threaded();
  }
  std::lock_guard lock(error_mutex_);
  if (error_) std::rethrow_exception(error_);
}

void Engine::fail(std::exception_ptr error) {
  {
    std::lock_guard lock(error_mutex_);
    if (!error_) error_ = std::move(error);  // the first error is the one reported
  }
  stop();
}

void Engine::stop() {
  stopping_.store(true);
  for (auto& source : sources_) source->stop();
  stop_wakeup_.notify();  // workers asleep in poll() wake
}

void Engine::run_inline() {
  capture::PacketSource& source = *sources_.front();
  Worker& worker = *workers_.front();
  run_worker(worker, [&] {
    for (;;) {
      const int n = source.dispatch(256, worker);
      if (n < 0) break;
      if (n > 0) {
        worker.on_batch_end();
      } else if (live_) {
        worker.on_idle(std::chrono::system_clock::now());
      }
    }
  });
}

void Engine::run_worker(Worker& worker, const std::function<void()>& loop) {
  // A worker that throws stops the whole sensor cleanly: the error is kept for run() to rethrow,
  // capture stops, the other workers drain and finish, and so does this one, so that alerts
  // already built still go out and the summary is printed.
  try {
    if (!cpus_.empty()) {
      const size_t index = static_cast<size_t>(
          std::find_if(workers_.begin(), workers_.end(),
                       [&worker](const auto& w) { return w.get() == &worker; }) -
          workers_.begin());
      const int cpu = cpus_[index % cpus_.size()];
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      if (const int error = pthread_setaffinity_np(pthread_self(), sizeof set, &set); error != 0) {
        throw core::RuntimeError("pipeline.cpu_affinity: cannot pin worker " +
                                 std::to_string(index) + " to CPU " + std::to_string(cpu) + ": " +
                                 std::strerror(error));
      }
    }
    loop();
  } catch (...) {
    fail(std::current_exception());
  }
  try {
    worker.finish();
  } catch (...) {
    fail(std::current_exception());
  }
}

void Engine::run_threaded() {
  const size_t worker_count = workers_.size();
  for (size_t i = 0; i < sources_.size() * worker_count; ++i) {
    rings_.push_back(std::make_unique<FrameRing>(ring_bytes_));
  }
  std::atomic<size_t> captures_running{sources_.size()};
  const decode::DecoderOptions hash_options{.validate_checksums = false};

  std::vector<std::thread> threads;
  for (size_t w = 0; w < worker_count; ++w) {
    threads.emplace_back([this, w, worker_count, &captures_running] {
      Worker& worker = *workers_[w];
      auto handle = [&worker](const capture::Frame& f) { worker.on_frame(f); };
      int idle_rounds = 0;
      run_worker(worker, [&] {
        for (;;) {
          size_t n = 0;
          for (size_t s = 0; s < sources_.size(); ++s) {
            n += rings_[s * worker_count + w]->drain(handle, 64);
          }
          if (n > 0) {
            worker.on_batch_end();
            idle_rounds = 0;
            continue;
          }
          if (live_) worker.on_idle(std::chrono::system_clock::now());
          if (captures_running.load(std::memory_order_acquire) == 0) {
            bool all_empty = true;
            for (size_t s = 0; s < sources_.size(); ++s) {
              all_empty = all_empty && rings_[s * worker_count + w]->empty();
            }
            if (all_empty) break;
            continue;
          }
          // Spin briefly, then sleep: an idle worker must not burn a core (unless busy-polling).
          if (spin_ || ++idle_rounds < 1000) {
            std::this_thread::yield();
          } else {
            std::this_thread::sleep_for(std::chrono::microseconds(50));
          }
        }
      });
    });
  }
  for (size_t s = 0; s < sources_.size(); ++s) {
    threads.emplace_back([this, s, worker_count, hash_options, &captures_running] {
      std::vector<FrameRing*> mine;
      for (size_t w = 0; w < worker_count; ++w) mine.push_back(rings_[s * worker_count + w].get());
      Dispatcher dispatcher(mine.data(), mine.size(), hash_seed_, hash_options, stopping_,
                            ring_full_waits_);
      try {
        while (sources_[s]->dispatch(256, dispatcher) >= 0) {
        }
      } catch (...) {
        fail(std::current_exception());
      }
      captures_running.fetch_sub(1, std::memory_order_release);
    });
  }
  for (auto& t : threads) t.join();
}

void Engine::run_owned() {
  const int poll_timeout = poll_timeout_ms_;
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers_.size(); ++w) {
    threads.emplace_back([this, w, poll_timeout] {
      Worker& worker = *workers_[w];
      const std::vector<capture::PacketSource*>& lane = lanes_[w];
      std::vector<bool> ended(lane.size(), false);
      std::vector<pollfd> fds;
      for (capture::PacketSource* source : lane) {
        fds.push_back({static_cast<capture::LiveSource*>(source)->wait_fd(), POLLIN, 0});
      }
      fds.push_back({stop_wakeup_.fd(), POLLIN, 0});
      if (exchange_ != nullptr) fds.push_back({exchange_->wake_fd(w), POLLIN, 0});
      TimeOrderedBatch batch;
      const bool merge = lane.size() > 1;
      run_worker(worker, [&] {
        for (;;) {
          int n = exchange_ != nullptr ? static_cast<int>(exchange_->deliver(w, worker)) : 0;
          size_t running = 0;
          // With several interfaces the batch is read twice round, so that what was in flight on
          // one while the other was read joins it, then handed over in time order.
          for (int round = 0; round < (merge ? 2 : 1); ++round) {
            running = 0;
            for (size_t i = 0; i < lane.size(); ++i) {
              if (ended[i]) continue;
              const int got =
                  merge ? lane[i]->dispatch(256, batch) : lane[i]->dispatch(256, worker);
              if (got < 0) {
                ended[i] = true;
                continue;
              }
              ++running;
              n += got;
            }
            if (n == 0) break;
          }
          if (merge) batch.deliver(worker);
          if (n > 0) {
            worker.on_batch_end();
            continue;
          }
          if (running == 0) break;
          worker.on_idle(std::chrono::system_clock::now());
          // Busy-polling spins straight back; otherwise sleep in the kernel until a frame
          // arrives, waking now and then to expire flows and notice stop().
          if (!spin_) ::poll(fds.data(), fds.size(), poll_timeout);
        }
      });
    });
  }
  for (auto& t : threads) t.join();
}

std::vector<detect::RuleProfile> Engine::rule_profile() const {
  std::vector<detect::RuleProfile> sum;
  for (const auto& worker : workers_) worker->collect_profile(sum);
  return sum;
}

std::vector<FlowSummary> Engine::flows(const FlowFilter& filter, std::chrono::milliseconds timeout,
                                       bool& complete, bool& truncated) const {
  auto query = std::make_shared<FlowQuery>();
  query->filter = filter;
  query->pending = workers_.size();
  for (size_t w = 0; w < workers_.size(); ++w) {
    workers_[w]->post_query(query, static_cast<unsigned>(w));
  }
  std::unique_lock lock(query->mutex);
  complete = query->answered.wait_for(lock, timeout, [&] { return query->pending == 0; });
  truncated = query->truncated;
  return query->flows;  // late answers land in the query, which lives on with the workers' copy
}

bool Engine::rules_active(uint64_t version) const {
  return std::all_of(workers_.begin(), workers_.end(),
                     [version](const auto& w) { return w->rules_version() >= version; });
}

std::vector<core::CounterSnapshot> Engine::worker_counters() const {
  std::vector<core::CounterSnapshot> out(workers_.size());
  for (size_t w = 0; w < workers_.size(); ++w) workers_[w]->collect(out[w]);
  return out;
}

std::vector<std::pair<std::string, capture::SourceStats>> Engine::source_stats() const {
  std::vector<std::pair<std::string, capture::SourceStats>> out;
  for (const auto& source : sources_) out.emplace_back(source->name(), source->stats());
  return out;
}

core::CounterSnapshot Engine::counters() const {
  core::CounterSnapshot snapshot;
  core::Counters<CaptureCounter> capture(kCaptureGroup);
  for (const auto& source : sources_) {
    const capture::SourceStats s = source->stats();
    capture.inc(CaptureCounter::kReceived, s.received);
    capture.inc(CaptureCounter::kKernelDropped, s.kernel_dropped);
    capture.inc(CaptureCounter::kInterfaceDropped, s.interface_dropped);
    capture.inc(CaptureCounter::kReadErrors, s.read_errors);
  }
  capture.set(CaptureCounter::kRingFullWaits, ring_full_waits_.load(std::memory_order_relaxed));
  if (exchange_ != nullptr) {
    capture.set(CaptureCounter::kDatagramsHandedOver, exchange_->handed());
    capture.set(CaptureCounter::kHandOverDropped, exchange_->dropped());
  }
  snapshot.add(capture.values());
  for (const auto& worker : workers_) worker->collect(snapshot);
  // How evenly the flows' hash spreads the load: frames decoded per worker.
  if (workers_.size() > 1) {
    for (size_t w = 0; w < workers_.size(); ++w) {
      core::CounterSnapshot own;
      workers_[w]->collect(own);
      snapshot.add(fmt::format("worker.{}.packets", w), "frames the worker decoded",
                   own.get("decode.packets"));
    }
  }
  if (outputs_.respond != nullptr) outputs_.respond->collect(snapshot);
  if (outputs_.alerts != nullptr) outputs_.alerts->collect(snapshot);
  if (outputs_.eve_output != nullptr) {
    snapshot.add("output.eve_dropped",
                 "events a live worker dropped because its hand-off to the EVE writer thread was "
                 "full (output.handoff_size)",
                 outputs_.eve_output->dropped());
  }
  return snapshot;
}

}  // namespace spanguard::pipeline
