// The output thread's poll loop: connecting or accepting, writing what the Outbox hands out,
// reading acknowledgements, heartbeats, backoff.
#include "stream_connection.h"

#include <poll.h>
#include <sys/eventfd.h>
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
constexpr auto kConnectTimeout = std::chrono::seconds(5);
// Spool write-behind and fdatasync ("batch") period.
constexpr auto kTickInterval = std::chrono::seconds(1);

}  // namespace

StreamConnection::StreamConnection(const AlertStreamOptions& options, Outbox& outbox,
                                   core::Counters<AlertStreamCounter>& counters,
                                   AlertStream::CounterSource source)
    : options_(options),
      outbox_(outbox),
      counters_(counters),
      source_(std::move(source)),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      backoff_(options.reconnect_min),
      acks_(options.max_frame),
      random_(std::random_device{}()) {
  if (!wake_fd_.valid()) {
    throw core::RuntimeError(std::string("alert stream: eventfd: ") + std::strerror(errno));
  }
  if (!options.connect.empty()) {
    connect_url_ = parse_stream_url(options.connect, "output.socket.connect", UrlUse::kConnect);
  } else if (!options.listen.empty()) {
    listener_ = Listener(parse_stream_url(options.listen, "output.socket.listen", UrlUse::kListen));
    core::logger("output")->info("alert stream: listening on {}", listener_.url());
  }
}

void StreamConnection::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
}

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
  conn_.reset();
  connecting_ = false;
  addresses_.clear();
  counters_.inc(C::kConnectFailures);
  auto log = core::logger("output");
  if (!outage_logged_) {
    log->warn("alert stream: collector {} unreachable ({}); keeping events and retrying",
              options_.connect, why);
    outage_logged_ = true;
  } else {
    log->debug("alert stream: collector {} unreachable ({})", options_.connect, why);
  }
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
      conn_ = std::move(fd);
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
  const int err = finish_connect(conn_.get());
  if (err == 0) {
    connecting_ = false;
    established(now, std::move(conn_), addresses_[address_index_].text());
    addresses_.clear();
    return;
  }
  last_error_ = addresses_[address_index_].text() + ": " + std::strerror(err);
  conn_.reset();
  connecting_ = false;
  ++address_index_;
  if (address_index_ < addresses_.size()) return start_attempt(now);
  attempt_failed(now, last_error_);
}

void StreamConnection::established(Clock::time_point now, UniqueFd fd, std::string peer) {
  conn_ = std::move(fd);
  peer_ = std::move(peer);
  established_ = true;
  got_ack_ = false;
  connected_at_ = now;
  counters_.inc(C::kConnections);
  if (ever_established_) counters_.inc(C::kReconnects);
  ever_established_ = true;
  outage_logged_ = false;
  core::logger("output")->info("alert stream: connected to {}", peer_);
  out_.clear();
  out_offset_ = 0;
  drops_in_flight_ = 0;
  acks_.clear();
  outbox_.rewind(out_);
  next_heartbeat_ = now + options_.heartbeat_interval;
}

void StreamConnection::disconnect(Clock::time_point now, const std::string& why, bool bad_frame) {
  if (!conn_.valid()) return;
  auto log = core::logger("output");
  if (bad_frame) {
    counters_.inc(C::kClosedBadFrame);
    log->warn("alert stream: closing the connection to {}: {}", peer_, why);
  } else {
    log->info("alert stream: connection to {} ended: {}", peer_, why);
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

void StreamConnection::accept_subscribers(Clock::time_point now) {
  for (;;) {
    std::string peer;
    UniqueFd fd = listener_.accept(peer);
    if (!fd.valid()) return;
    // One subscriber at a time, the newest wins: a collector that restarted must not wait for its
    // old, possibly half-open, connection to time out.
    if (conn_.valid()) disconnect(now, "a new subscriber connected (" + peer + ")");
    established(now, std::move(fd), peer);
  }
}

void StreamConnection::read_acks(Clock::time_point now) {
  constexpr size_t kChunk = 4096;
  for (;;) {
    const ssize_t n = ::recv(conn_.get(), acks_.prepare(kChunk), kChunk, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) return disconnect(now, std::strerror(errno));
    if (n == 0) return disconnect(now, "closed by the peer");
    acks_.commit(static_cast<size_t>(n));
    for (;;) {
      const auto result = acks_.next(message_);
      if (result == FrameReader::Result::kNeedMore) break;
      if (result != FrameReader::Result::kFrame) return disconnect(now, acks_.error(), true);
      if (!message_.has_ack()) {
        return disconnect(now, "the peer sent something other than an Ack", true);
      }
      const auto& ack = message_.ack();
      switch (outbox_.ack(ack.run_id(), ack.seq())) {
        case Outbox::AckResult::kAccepted:
          if (!got_ack_) backoff_ = options_.reconnect_min;
          got_ack_ = true;
          break;
        case Outbox::AckResult::kUnknownRun:
          core::logger("output")->debug("alert stream: Ack for unknown run {} ignored",
                                        ack.run_id());
          break;
        case Outbox::AckResult::kBeyondPublished:
          return disconnect(now,
                            "Ack of seq " + std::to_string(ack.seq()) +
                                " beyond the last event of run " + ack.run_id(),
                            true);
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
    const ssize_t n = ::send(conn_.get(), out_.data() + out_offset_, out_.size() - out_offset_,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      out_offset_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    return disconnect(now, n < 0 ? std::strerror(errno) : "send made no progress");
  }
}

void StreamConnection::run() {
  next_tick_ = Clock::now() + kTickInterval;
  next_attempt_ = Clock::now();
  while (!stop_.load()) {
    Clock::time_point now = Clock::now();
    if (hurry_.exchange(false) && connect_url_ && !conn_.valid()) next_attempt_ = now;
    if (connect_url_ && !conn_.valid() && now >= next_attempt_) start_attempt(now);
    if (connecting_ && now >= connect_deadline_) {
      last_error_ = addresses_[address_index_].text() + ": connect timed out";
      conn_.reset();
      connecting_ = false;
      ++address_index_;
      if (address_index_ < addresses_.size()) {
        start_attempt(now);
      } else {
        attempt_failed(now, last_error_);
      }
    }
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
    if (connect_url_ && !conn_.valid()) deadline = std::min(deadline, next_attempt_);
    if (connecting_) deadline = std::min(deadline, connect_deadline_);

    pollfd fds[3];
    nfds_t count = 0;
    fds[count++] = {wake_fd_.get(), POLLIN, 0};
    const int listen_index = listener_.valid() ? static_cast<int>(count) : -1;
    if (listener_.valid()) fds[count++] = {listener_.fd(), POLLIN, 0};
    const int conn_index = conn_.valid() ? static_cast<int>(count) : -1;
    if (conn_.valid()) {
      const bool want_out = connecting_ || out_offset_ < out_.size();
      fds[count++] = {conn_.get(), static_cast<short>(POLLIN | (want_out ? POLLOUT : 0)), 0};
    }
    // Only an established connection with nothing left to write waits for publishes; the
    // publisher then pays one eventfd write. Otherwise (backlog, no connection) it pays nothing.
    const bool waits_for_events = established_ && out_offset_ == out_.size();
    if (waits_for_events) {
      idle_.store(true);
      if (outbox_.has_unsent()) {
        idle_.store(false);
        continue;
      }
    }
    const auto wait = std::max<Clock::duration>(deadline - Clock::now(), Clock::duration::zero());
    const int timeout_ms = static_cast<int>(std::chrono::ceil<milliseconds>(wait).count());
    const int ready = ::poll(fds, count, timeout_ms);
    idle_.store(false);
    if (ready <= 0) continue;
    now = Clock::now();
    if (fds[0].revents & POLLIN) {
      uint64_t value;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_.get(), &value, sizeof value);
    }
    if (conn_index >= 0 && fds[conn_index].revents != 0 && conn_.valid()) {
      if (connecting_) {
        finish_attempt(now);
      } else if (fds[conn_index].revents & (POLLIN | POLLHUP | POLLERR)) {
        read_acks(now);
      }
    }
    if (listen_index >= 0 && (fds[listen_index].revents & POLLIN)) accept_subscribers(now);
  }
  if (conn_.valid()) disconnect(Clock::now(), "the sensor is stopping");
}

}  // namespace spanguard::output
