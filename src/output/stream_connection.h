// The alert stream's output thread: one connection at a time (to the collector, or from a
// subscriber in listen mode), Hello and resends through the Outbox, heartbeats, acknowledgements,
// and reconnects with exponential backoff and jitter. Internal to the output module.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "outbox.h"
#include "spanguard/output/alert_stream.h"
#include "spanguard/output/framing.h"
#include "spanguard/output/socket.h"

namespace spanguard::output {

class StreamConnection {
 public:
  using Clock = std::chrono::steady_clock;

  // Binds the listen address, if any (throws core::RuntimeError). `own_counters` adds the
  // stream's counters to a heartbeat whose source does not hold them.
  StreamConnection(const AlertStreamOptions& options, Outbox& outbox,
                   core::Counters<AlertStreamCounter>& counters, AlertStream::CounterSource source);
  StreamConnection(const StreamConnection&) = delete;
  StreamConnection& operator=(const StreamConnection&) = delete;

  // The output thread's body; returns after stop().
  void run();
  // Any thread.
  void stop();
  // Any thread, after a publish: wakes the output thread if it is waiting for events.
  void notify() {
    if (idle_.load() && idle_.exchange(false)) wake();
  }
  // Any thread, when closing: retry a lost collector now rather than after a long backoff.
  void hurry();

  const std::string& listen_url() const { return listener_.url(); }

 private:
  void wake();
  void start_attempt(Clock::time_point now);
  void finish_attempt(Clock::time_point now);
  void attempt_failed(Clock::time_point now, const std::string& why);
  void established(Clock::time_point now, UniqueFd fd, std::string peer);
  void disconnect(Clock::time_point now, const std::string& why, bool bad_frame = false);
  void accept_subscribers(Clock::time_point now);
  void read_acks(Clock::time_point now);
  void pump(Clock::time_point now);
  void queue_heartbeat(Clock::time_point now);
  Clock::duration jittered(Clock::duration d);

  const AlertStreamOptions& options_;
  Outbox& outbox_;
  core::Counters<AlertStreamCounter>& counters_;
  AlertStream::CounterSource source_;
  std::optional<StreamUrl> connect_url_;
  Listener listener_;
  UniqueFd wake_fd_;
  std::atomic<bool> idle_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> hurry_{false};

  // Output thread only.
  UniqueFd conn_;
  std::string peer_;
  bool connecting_ = false;
  bool established_ = false;
  bool ever_established_ = false;
  bool outage_logged_ = false;
  bool got_ack_ = false;
  std::vector<SocketAddress> addresses_;
  size_t address_index_ = 0;
  std::string last_error_;
  Clock::time_point connect_deadline_{};
  Clock::time_point next_attempt_{};
  Clock::time_point next_heartbeat_{};
  Clock::time_point next_tick_{};
  Clock::time_point connected_at_{};
  Clock::duration backoff_{};
  std::string out_;
  size_t out_offset_ = 0;
  uint64_t drops_in_flight_ = 0;  // reported in a heartbeat still in out_
  FrameReader acks_;
  v1::Envelope message_;
  std::mt19937_64 random_;
};

}  // namespace spanguard::output
