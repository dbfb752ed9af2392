// The alert stream's output thread: one connection at a time (to the collector, or from a
// subscriber in listen mode), plaintext or TLS, Hello and resends through the Outbox, heartbeats,
// acknowledgements, and reconnects with exponential backoff and jitter. Internal to the output
// module.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "event_handoff.h"
#include "outbox.h"
#include "spanguard/output/alert_stream.h"
#include "spanguard/output/framing.h"
#include "spanguard/output/socket.h"
#include "spanguard/output/stream_channel.h"
#include "spanguard/output/tls_credentials.h"

namespace spanguard::output {

class StreamConnection {
 public:
  using Clock = std::chrono::steady_clock;
  // Takes up to n events from the hand-off into the outbox (AlertStream::take_in); returns how
  // many it took.
  using TakeIn = std::function<size_t(size_t n)>;

  // Loads the TLS credentials for a tls:// URL (throws core::ConfigError) and binds the listen
  // address, if any (throws core::RuntimeError). A tcp:// URL beyond the loopback address throws
  // core::ConfigError unless options.insecure. `source` supplies heartbeat counters; the stream's
  // own are added when it does not hold them.
  StreamConnection(const AlertStreamOptions& options, Outbox& outbox, const EventHandoff& handoff,
                   TakeIn take_in, core::Counters<AlertStreamCounter>& counters,
                   AlertStream::CounterSource source);
  StreamConnection(const StreamConnection&) = delete;
  StreamConnection& operator=(const StreamConnection&) = delete;

  // The output thread's body; returns after stop().
  void run();
  // Any thread.
  void stop();
  // Any thread, after a hand-off: wakes the output thread if it is asleep.
  void notify() {
    if (idle_.load() && idle_.exchange(false)) wake();
  }
  // Any thread, when closing: retry a lost collector now rather than after a long backoff.
  void hurry();

  // Any thread: see AlertStream::reload_credentials.
  bool reload_credentials();

  const std::string& listen_url() const { return listener_.url(); }

 private:
  void wake();
  void start_attempt(Clock::time_point now);
  void finish_attempt(Clock::time_point now);
  void attempt_failed(Clock::time_point now, const std::string& why);
  void advance_handshake(Clock::time_point now);
  void established(Clock::time_point now, StreamChannel channel, std::string peer);
  enum class Ending : uint8_t { kNormal, kBadFrame, kTlsFailure };
  void disconnect(Clock::time_point now, const std::string& why, Ending ending = Ending::kNormal);
  void channel_failed(Clock::time_point now);
  void accept_subscribers(Clock::time_point now);
  void serve_pending(Clock::time_point now);
  // Warns once per distinct reason while the failures last; repeats go to debug.
  void log_failure(const std::string& what);
  void read_acks(Clock::time_point now);
  void pump(Clock::time_point now);
  void queue_heartbeat(Clock::time_point now);
  Clock::duration jittered(Clock::duration d);

  const AlertStreamOptions& options_;
  Outbox& outbox_;
  const EventHandoff& handoff_;
  TakeIn take_in_;
  core::Counters<AlertStreamCounter>& counters_;
  AlertStream::CounterSource source_;
  std::optional<StreamUrl> connect_url_;
  std::unique_ptr<TlsCredentials> credentials_;  // tls:// only
  Listener listener_;
  Wakeup wake_;
  std::atomic<bool> idle_{false};
  Clock::duration idle_period_ = std::chrono::milliseconds(1);  // output thread only
  std::atomic<bool> stop_{false};
  std::atomic<bool> hurry_{false};

  // Output thread only.
  UniqueFd connect_fd_;  // a TCP connect in progress
  StreamChannel conn_;   // handshaking or established
  std::string peer_;
  bool connecting_ = false;
  bool handshaking_ = false;
  bool established_ = false;
  // Listen mode with TLS: accepted subscribers still authenticating. Only one that completes its
  // handshake replaces the current subscriber.
  struct Pending {
    StreamChannel channel;
    std::string peer;
    Clock::time_point deadline;
  };
  std::vector<Pending> pending_;
  std::string last_failure_;  // the last reason logged at warn level
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
