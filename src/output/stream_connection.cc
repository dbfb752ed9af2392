// The output thread's poll loop: connecting or accepting, TLS handshakes, writing what the Outbox
// hands out, reading acknowledgements, heartbeats, backoff.
#include "stream_connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "spanguard/core/error.h"
#include "spanguard/core/log.h"
#include "spanguard/output/envelope.h"

namespace spanguard::output {

namespace {

using C = AlertStreamCounter;
using std::chrono::milliseconds;

// How much the thread keeps queued for the socket: enough to fill a loopback or LAN send buffer
// in one pass, small enough that a resend after a reconnect does not copy a whole spool.
constexpr size_t kOutBatch = 256 * 1024;
constexpr auto kConnectTimeout = std::chrono::seconds(5);  // the TCP connect, then the handshake
// Listen mode with TLS: handshakes in progress at once; the oldest gives way to a newer one.
constexpr size_t kMaxPendingHandshakes = 8;
// Spool write-behind and fdatasync ("batch") period.
constexpr auto kTickInterval = std::chrono::seconds(1);
// Events taken from the hand-off per turn of the loop, so that acknowledgements and sending go on
// under a flood.
constexpr size_t kTakeInBatch = 4096;
// How often the hand-off is looked at while events flow: a worker's ring (output.handoff_size,
// 4096 by default) takes milliseconds of a heavy alert flood to fill.
constexpr auto kTakeInPeriod = std::chrono::milliseconds(1);
// How often it is looked at when none came: from kTakeInPeriod, doubling while none come, up to
// kMaxIdlePeriod (an alert reaches the collector within that). Waking every millisecond or two for
// nothing takes the core the kernel needs for a reset (see EveOutput, which measured it).
constexpr auto kMaxIdlePeriod = std::chrono::milliseconds(32);

constexpr TlsSettingNames kTlsSettingNames{"output.socket.tls.cert", "output.socket.tls.key",
                                           "output.socket.tls.ca", "output.socket.tls.peer_names"};
constexpr std::string_view kInsecureSetting = "output.socket.insecure: true";

}  // namespace

StreamConnection::StreamConnection(const AlertStreamOptions& options, Outbox& outbox,
                                   const EventHandoff& handoff, TakeIn take_in,
                                   core::Counters<AlertStreamCounter>& counters,
                                   AlertStream::CounterSource source)
    : options_(options),
      outbox_(outbox),
      handoff_(handoff),
      take_in_(std::move(take_in)),
      counters_(counters),
      source_(std::move(source)),
      wake_("alert stream"),
      backoff_(options.reconnect_min),
      acks_(options.max_frame),
      random_(std::random_device{}()) {
  std::optional<StreamUrl> listen_url;
  if (!options.connect.empty()) {
    connect_url_ = parse_stream_url(options.connect, "output.socket.connect", UrlUse::kConnect);
    require_private_transport(*connect_url_, "output.socket.connect", options.insecure,
                              kInsecureSetting);
  } else if (!options.listen.empty()) {
    listen_url = parse_stream_url(options.listen, "output.socket.listen", UrlUse::kListen);
    require_private_transport(*listen_url, "output.socket.listen", options.insecure,
                              kInsecureSetting);
  }
  const StreamUrl* url = connect_url_ ? &*connect_url_ : listen_url ? &*listen_url : nullptr;
  if (url != nullptr && url->scheme == StreamUrl::Scheme::kTls) {
    credentials_ = std::make_unique<TlsCredentials>(
        options.tls, connect_url_ ? TlsRole::kClient : TlsRole::kServer, kTlsSettingNames);
  } else if (!options.tls.cert.empty() || !options.tls.key.empty() || !options.tls.ca.empty()) {
    core::logger("output")->warn("output.socket.tls.* is unused: the alert stream is not tls://");
  }
  if (listen_url) {
    listener_ = Listener(*listen_url);
    core::logger("output")->info("alert stream: listening on {}{}", listener_.url(),
                                 credentials_ ? " (TLS 1.3, client certificates required)" : "");
  }
}

bool StreamConnection::reload_credentials() {
  return credentials_ == nullptr || credentials_->reload();
}

void StreamConnection::log_failure(const std::string& what) {
  auto log = core::logger("output");
  if (what != last_failure_) {
    log->warn("alert stream: {}", what);
    last_failure_ = what;
  } else {
    log->debug("alert stream: {}", what);
  }
}

void StreamConnection::wake() { wake_.notify(); }

void StreamConnection::stop() {
  stop_.store(true);
  wake();
}

void StreamConnection::hurry() {
  hurry_.store(true);
  wake();
}

StreamConnection::Clock::duration StreamConnection::jittered(Clock::duration d) {
  // "Equal jitter": between half and all of the backoff, so that sensors that lost the same
  // collector at the same moment do not come back in lockstep.
  std::uniform_real_distribution<double> share(0.5, 1.0);
  return std::chrono::duration_cast<Clock::duration>(d * share(random_));
}

void StreamConnection::attempt_failed(Clock::time_point now, const std::string& why) {
  connect_fd_.reset();
  conn_.reset();
  connecting_ = false;
  handshaking_ = false;
  addresses_.clear();
  counters_.inc(C::kConnectFailures);
  if (!outage_logged_) last_failure_.clear();
  outage_logged_ = true;
  // A refused handshake is not an unreachable collector: say which it was.
  const bool tls_failure = why.starts_with("TLS handshake");
  log_failure("collector " + options_.connect + (tls_failure ? ": " : " unreachable (") + why +
              (tls_failure ? "" : ")") + "; keeping events and retrying");
  next_attempt_ = now + jittered(backoff_);
  backoff_ = std::min<Clock::duration>(backoff_ * 2, options_.reconnect_max);
}

void StreamConnection::start_attempt(Clock::time_point now) {
  if (address_index_ >= addresses_.size()) {
    std::string error;
    addresses_ = resolve(*connect_url_, error);
    address_index_ = 0;
    if (addresses_.empty()) return attempt_failed(now, error);
  }
  while (address_index_ < addresses_.size()) {
    std::string error;
    UniqueFd fd = start_connect(addresses_[address_index_], error);
    if (fd.valid()) {
      connect_fd_ = std::move(fd);
      connecting_ = true;
      connect_deadline_ = now + kConnectTimeout;
      return;
    }
    last_error_ = error;
    ++address_index_;
  }
  attempt_failed(now, last_error_);
}

void StreamConnection::finish_attempt(Clock::time_point now) {
  const int err = finish_connect(connect_fd_.get());
  if (err == 0) {
    connecting_ = false;
    std::string peer = addresses_[address_index_].text();
    if (credentials_ == nullptr) {
      addresses_.clear();
      return established(now, StreamChannel(std::move(connect_fd_)), std::move(peer));
    }
    try {
      conn_ = StreamChannel::tls_client(std::move(connect_fd_), *credentials_, connect_url_->host);
    } catch (const core::Error& e) {
      return attempt_failed(now, e.what());
    }
    peer_ = std::move(peer);
    handshaking_ = true;
    connect_deadline_ = now + kConnectTimeout;
    return advance_handshake(now);
  }
  last_error_ = addresses_[address_index_].text() + ": " + std::strerror(err);
  connect_fd_.reset();
  connecting_ = false;
  ++address_index_;
  if (address_index_ < addresses_.size()) return start_attempt(now);
  attempt_failed(now, last_error_);
}

void StreamConnection::advance_handshake(Clock::time_point now) {
  switch (conn_.handshake()) {
    case StreamChannel::Status::kDone:
      handshaking_ = false;
      addresses_.clear();
      return established(now, std::move(conn_), peer_);
    case StreamChannel::Status::kWouldBlock:
      return;
    default: {
      // Not address-specific (the same certificates everywhere): the attempt ends here.
      const std::string why = "TLS handshake with " + peer_ + " failed: " + conn_.error();
      return attempt_failed(now, why);
    }
  }
}

void StreamConnection::established(Clock::time_point now, StreamChannel channel, std::string peer) {
  conn_ = std::move(channel);
  peer_ = std::move(peer);
  established_ = true;
  got_ack_ = false;
  connected_at_ = now;
  counters_.inc(C::kConnections);
  if (ever_established_) counters_.inc(C::kReconnects);
  ever_established_ = true;
  outage_logged_ = false;
  if (conn_.is_tls()) {
    core::logger("output")->info("alert stream: connected to {} over TLS 1.3 (peer {})", peer_,
                                 conn_.peer_names());
  } else {
    core::logger("output")->info("alert stream: connected to {}", peer_);
  }
  out_.clear();
  out_offset_ = 0;
  drops_in_flight_ = 0;
  acks_.clear();
  outbox_.rewind(out_);
  next_heartbeat_ = now + options_.heartbeat_interval;
}

void StreamConnection::disconnect(Clock::time_point now, const std::string& why, Ending ending) {
  if (!conn_.valid()) return;
  auto log = core::logger("output");
  switch (ending) {
    case Ending::kBadFrame:
      counters_.inc(C::kClosedBadFrame);
      log->warn("alert stream: closing the connection to {}: {}", peer_, why);
      break;
    case Ending::kTlsFailure:
      // TLS 1.3 lets the client finish first: the server's refusal of the client's certificate
      // arrives as an alert on the first read.
      log_failure("connection to " + peer_ + " ended: " + why);
      break;
    case Ending::kNormal:
      log->info("alert stream: connection to {} ended: {}", peer_, why);
      break;
  }
  conn_.reset();
  established_ = false;
  connecting_ = false;
  // A heartbeat not wholly written is lost with the connection; its drop count goes to the next.
  if (out_offset_ < out_.size()) outbox_.restore_unreported_drops(drops_in_flight_);
  drops_in_flight_ = 0;
  out_.clear();
  out_offset_ = 0;
  acks_.clear();
  if (connect_url_) {
    // A connection that worked resets the backoff; one that fails at once keeps growing it.
    if (got_ack_ || now - connected_at_ >= options_.reconnect_max)
      backoff_ = options_.reconnect_min;
    next_attempt_ = now + jittered(backoff_);
    backoff_ = std::min<Clock::duration>(backoff_ * 2, options_.reconnect_max);
  }
}

void StreamConnection::channel_failed(Clock::time_point now) {
  disconnect(now, conn_.error(), conn_.is_tls() ? Ending::kTlsFailure : Ending::kNormal);
}

void StreamConnection::accept_subscribers(Clock::time_point now) {
  for (;;) {
    std::string peer;
    UniqueFd fd = listener_.accept(peer);
    if (!fd.valid()) return;
    if (credentials_ == nullptr) {
      // One subscriber at a time, the newest wins: a collector that restarted must not wait for
      // its old, possibly half-open, connection to time out.
      if (conn_.valid()) disconnect(now, "a new subscriber connected (" + peer + ")");
      established(now, StreamChannel(std::move(fd)), peer);
      continue;
    }
    if (pending_.size() >= kMaxPendingHandshakes) pending_.erase(pending_.begin());
    try {
      pending_.push_back(
          {StreamChannel::tls_server(std::move(fd), *credentials_), peer, now + kConnectTimeout});
    } catch (const core::Error& e) {
      core::logger("output")->warn("alert stream: subscriber {}: {}", peer, e.what());
    }
  }
}

void StreamConnection::serve_pending(Clock::time_point now) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    const StreamChannel::Status status = it->channel.handshake();
    if (status == StreamChannel::Status::kWouldBlock && now < it->deadline) {
      ++it;
      continue;
    }
    if (status == StreamChannel::Status::kDone) {
      // Only an authenticated subscriber replaces the current one.
      if (conn_.valid()) disconnect(now, "a new subscriber connected (" + it->peer + ")");
      established(now, std::move(it->channel), it->peer);
    } else {
      // Anything can connect, as often as it likes: rate-limited.
      core::log_limited("output", spdlog::level::warn, "output.subscriber_refused",
                        "alert stream: subscriber {} refused: TLS handshake {}", it->peer,
                        status == StreamChannel::Status::kWouldBlock
                            ? std::string("timed out")
                            : "failed: " + it->channel.error());
    }
    it = pending_.erase(it);
  }
}

void StreamConnection::read_acks(Clock::time_point now) {
  constexpr size_t kChunk = 4096;
  for (;;) {
    const StreamChannel::Io io = conn_.read(acks_.prepare(kChunk), kChunk);
    if (io.status == StreamChannel::Status::kWouldBlock) return;
    if (io.status == StreamChannel::Status::kClosed) return disconnect(now, "closed by the peer");
    if (io.status == StreamChannel::Status::kFailed) return channel_failed(now);
    acks_.commit(io.bytes);
    for (;;) {
      const auto result = acks_.next(message_);
      if (result == FrameReader::Result::kNeedMore) break;
      if (result != FrameReader::Result::kFrame) {
        return disconnect(now, acks_.error(), Ending::kBadFrame);
      }
      if (!message_.has_ack()) {
        return disconnect(now, "the peer sent something other than an Ack", Ending::kBadFrame);
      }
      const auto& ack = message_.ack();
      switch (outbox_.ack(ack.run_id(), ack.seq())) {
        case Outbox::AckResult::kAccepted:
          if (!got_ack_) backoff_ = options_.reconnect_min;
          got_ack_ = true;
          last_failure_.clear();  // the next failure is news again
          break;
        case Outbox::AckResult::kUnknownRun:
          core::logger("output")->debug("alert stream: Ack for unknown run {} ignored",
                                        ack.run_id());
          break;
        case Outbox::AckResult::kBeyondPublished:
          return disconnect(now,
                            "Ack of seq " + std::to_string(ack.seq()) +
                                " beyond the last event of run " + ack.run_id(),
                            Ending::kBadFrame);
      }
    }
  }
}

void StreamConnection::queue_heartbeat(Clock::time_point now) {
  v1::Envelope envelope;
  auto* heartbeat = envelope.mutable_heartbeat();
  heartbeat->set_timestamp(eve_timestamp(
      std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now())));
  core::CounterSnapshot snapshot = source_ ? source_() : core::CounterSnapshot{};
  const bool has_own = std::any_of(snapshot.entries().begin(), snapshot.entries().end(),
                                   [](const auto& e) { return e.name.starts_with("output."); });
  if (!has_own) snapshot.add(counters_.values());
  for (const auto& entry : snapshot.entries()) {
    auto* counter = heartbeat->add_counters();
    counter->set_name(entry.name);
    counter->set_value(entry.value);
  }
  const uint64_t drops = outbox_.take_unreported_drops();
  heartbeat->set_alerts_dropped(drops);
  drops_in_flight_ += drops;
  append_frame(envelope, out_);
  counters_.inc(C::kHeartbeats);
  next_heartbeat_ = now + options_.heartbeat_interval;
}

void StreamConnection::pump(Clock::time_point now) {
  for (;;) {
    if (out_offset_ == out_.size()) {
      out_.clear();
      out_offset_ = 0;
      drops_in_flight_ = 0;  // every heartbeat queued so far is on the wire
    }
    if (out_.size() - out_offset_ < kOutBatch / 2) {
      if (out_offset_ > 0) {
        out_.erase(0, out_offset_);
        out_offset_ = 0;
      }
      outbox_.fill(out_, out_.size() + kOutBatch);
    }
    if (out_offset_ == out_.size()) return;
    // After kWouldBlock the same bytes go again: out_ only grows behind them or drops what was
    // already written before them.
    const StreamChannel::Io io = conn_.write(out_.data() + out_offset_, out_.size() - out_offset_);
    if (io.status == StreamChannel::Status::kDone) {
      out_offset_ += io.bytes;
      continue;
    }
    if (io.status == StreamChannel::Status::kWouldBlock) return;
    return channel_failed(now);
  }
}

void StreamConnection::run() {
  next_tick_ = Clock::now() + kTickInterval;
  next_attempt_ = Clock::now();
  std::vector<pollfd> fds;
  while (!stop_.load()) {
    // Workers' events first: numbered, serialized and queued (or spooled) before anything is sent.
    const bool took = take_in_(kTakeInBatch) > 0;
    Clock::time_point now = Clock::now();
    const bool idle_connector = connect_url_ && !connect_fd_.valid() && !conn_.valid();
    if (hurry_.exchange(false) && idle_connector) next_attempt_ = now;
    if (idle_connector && now >= next_attempt_) start_attempt(now);
    if (connecting_ && now >= connect_deadline_) {
      last_error_ = addresses_[address_index_].text() + ": connect timed out";
      connect_fd_.reset();
      connecting_ = false;
      ++address_index_;
      if (address_index_ < addresses_.size()) {
        start_attempt(now);
      } else {
        attempt_failed(now, last_error_);
      }
    }
    if (handshaking_ && now >= connect_deadline_) {
      attempt_failed(now, "TLS handshake with " + peer_ + " timed out");
    }
    if (!pending_.empty()) serve_pending(now);
    if (established_) {
      // A peer that has not taken the last batch would only queue heartbeats behind it; the
      // drops they would report wait for the next one.
      if (now >= next_heartbeat_ && out_.size() - out_offset_ > kOutBatch) {
        next_heartbeat_ = now + options_.heartbeat_interval;
      }
      if (now >= next_heartbeat_) queue_heartbeat(now);
      pump(now);
    }
    if (now >= next_tick_) {
      outbox_.tick();
      next_tick_ = now + kTickInterval;
    }

    Clock::time_point deadline = next_tick_;
    if (established_) deadline = std::min(deadline, next_heartbeat_);
    if (connect_url_ && !connect_fd_.valid() && !conn_.valid()) {
      deadline = std::min(deadline, next_attempt_);
    }
    if (connecting_ || handshaking_) deadline = std::min(deadline, connect_deadline_);
    for (const Pending& p : pending_) deadline = std::min(deadline, p.deadline);

    fds.clear();
    fds.push_back({wake_.fd(), POLLIN, 0});
    const int listen_index = listener_.valid() ? static_cast<int>(fds.size()) : -1;
    if (listener_.valid()) fds.push_back({listener_.fd(), POLLIN, 0});
    const int conn_index = connect_fd_.valid() || conn_.valid() ? static_cast<int>(fds.size()) : -1;
    if (connect_fd_.valid()) {
      fds.push_back({connect_fd_.get(), POLLIN | POLLOUT, 0});
    } else if (conn_.valid()) {
      fds.push_back({conn_.fd(), conn_.poll_events(established_ && out_offset_ < out_.size()), 0});
    }
    for (const Pending& p : pending_)
      fds.push_back({p.channel.fd(), p.channel.poll_events(false), 0});
    // The hand-off must keep draining into the queue and the spool whatever the connection's
    // state (the collector away or not reading). While events flow, the thread comes back for
    // them every kTakeInPeriod and publishers pay nothing; after a turn that found none it sleeps
    // until the first event handed off wakes it (its publisher pays one eventfd write). Dekker
    // with the publisher: it reserves a seq, pushes, then reads idle_; this thread sets idle_,
    // then reads the seq.
    const bool waits_for_events = established_ && out_offset_ == out_.size();
    if (took) {
      idle_period_ = kTakeInPeriod;
      deadline = std::min(deadline, now + kTakeInPeriod);
    } else {
      // Workers' hand-offs never wake this thread (a wake-up costs the worker a system call and
      // an inter-processor interrupt, ~10 µs on a virtual machine, per sparse alert): it looks
      // again within idle_period_. publish() (tests, the collector's tools) still wakes it.
      idle_period_ = std::min(idle_period_ * 2, Clock::duration(kMaxIdlePeriod));
      deadline = std::min(deadline, now + idle_period_);
      idle_.store(true);
      if (handoff_.pending() || (waits_for_events && outbox_.has_unsent())) {
        idle_.store(false);
        continue;
      }
    }
    const auto wait = std::max<Clock::duration>(deadline - Clock::now(), Clock::duration::zero());
    const int timeout_ms = static_cast<int>(std::chrono::ceil<milliseconds>(wait).count());
    const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    idle_.store(false);
    if (ready <= 0) continue;
    now = Clock::now();
    if (fds[0].revents & POLLIN) wake_.clear();
    if (conn_index >= 0 && fds[conn_index].revents != 0) {
      if (connecting_) {
        finish_attempt(now);
      } else if (handshaking_) {
        advance_handshake(now);
      } else if (established_) {
        // Also on POLLOUT alone: a TLS read may have waited for the socket to take a write.
        read_acks(now);
      }
    }
    if (listen_index >= 0 && (fds[listen_index].revents & POLLIN)) accept_subscribers(now);
  }
  pending_.clear();
  if (conn_.valid()) disconnect(Clock::now(), "the sensor is stopping");
}

}  // namespace spanguard::output
