// The collector's single-threaded poll loop: listeners, sensor connections (TLS handshakes
// included), frame handling, dedupe, EVE lines, acknowledgements, and SIGHUP/SIGTERM through a
// signalfd.
#include "spanguard/collector/collector.h"

#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <list>

#include "eve_file.h"
#include "high_water_marks.h"
#include "spanguard/core/error.h"
#include "spanguard/core/log.h"
#include "spanguard/output/envelope.h"
#include "spanguard/output/framing.h"
#include "spanguard/output/socket.h"
#include "spanguard/output/stats_json.h"
#include "spanguard/output/stream_channel.h"
#include "spanguard/output/stream_url.h"
#include "spanguard/v1/spanguard.pb.h"

namespace spanguard::collector {

namespace {

using C = CollectorCounter;

constexpr core::CounterDef kCounterDefs[] = {
    {"connections", "sensor connections accepted"},
    {"events_written", "events written as EVE lines"},
    {"duplicates", "events received again (already written) and skipped"},
    {"acks_sent", "acknowledgements sent"},
    {"connections_closed_bad_frame",
     "connections closed for a malformed, oversized or unexpected frame"},
    {"write_errors", "events that could not be written (not acknowledged)"},
    {"sensor_drops", "events the sensors reported as dropped in heartbeats"},
    {"tls_refused", "connections whose TLS handshake failed (certificate refused) or timed out"},
    {"stats_written", "sensor heartbeats written as EVE stats events"},
};
static_assert(std::size(kCounterDefs) == static_cast<size_t>(C::kCount));
constexpr core::CounterGroup kCounterGroup{"collector", kCounterDefs};

// Input read from one connection per wake-up, so that a fast sensor cannot starve the others.
constexpr size_t kReadBudget = 4 << 20;
// A sensor that does not read its acknowledgements is not worth buffering for without bound.
constexpr size_t kMaxPendingOut = 1 << 20;
constexpr auto kStateSaveInterval = std::chrono::seconds(30);
// A client that has not completed its TLS handshake by then is dropped.
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);

constexpr output::TlsSettingNames kTlsSettingNames{"--tls-cert", "--tls-key", "--tls-ca",
                                                   "--tls-peer-name"};

struct Connection {
  explicit Connection(uint64_t max_frame) : reader(max_frame) {}
  output::StreamChannel channel;
  bool handshaking = false;
  std::chrono::steady_clock::time_point handshake_deadline{};
  std::string peer;
  output::FrameReader reader;
  std::string run_id;  // of the last Hello
  std::string sensor_id;
  std::string start_time;  // of the sensor's run (Hello), for the uptime of its stats events
  std::vector<std::pair<std::string, uint64_t>> acks;  // to send, one per run
  std::string out;
  size_t out_offset = 0;
};

}  // namespace

class Collector::Impl {
 public:
  explicit Impl(CollectorOptions options);
  void run(int signal_fd);

  CollectorOptions options_;
  std::string state_path_;
  HighWaterMarks marks_;
  std::unique_ptr<EveFile> eve_;
  std::unique_ptr<output::TlsCredentials> credentials_;  // when a listener is tls://
  std::vector<output::Listener> listeners_;
  std::vector<bool> listener_tls_;  // per listener
  std::list<Connection> connections_;
  output::Wakeup wake_{"collector"};
  std::atomic<bool> stop_{false};
  std::atomic<bool> reopen_{false};
  core::Counters<CollectorCounter> counters_{kCounterGroup};
  v1::Envelope message_;
  bool marks_dirty_ = false;

 private:
  void accept_from(output::Listener& listener, bool tls);
  void advance_handshake(Connection& c, std::chrono::steady_clock::time_point now);
  void serve_input(Connection& c);
  bool handle_frames(Connection& c);
  bool handle_event(Connection& c, google::protobuf::Message& event, uint64_t seq,
                    std::string* host, std::string* run_id);
  // A heartbeat's counters as the EVE stats event the sensor itself would write (Suricata's
  // periodic record), for SIEMs that watch capture drops and the like in the collector's EVE.
  void write_stats(const Connection& c, const v1::Heartbeat& heartbeat);
  void queue_acks(Connection& c);
  void flush_output(Connection& c);
  void close(Connection& c, const std::string& why, bool bad_frame = false);
  void save_state();
};

Collector::Impl::Impl(CollectorOptions options) : options_(std::move(options)) {
  if (options_.listen.empty()) throw core::ConfigError("--listen: at least one URL is needed");
  std::vector<output::StreamUrl> urls;
  bool any_tls = false;
  for (const auto& text : options_.listen) {
    urls.push_back(output::parse_stream_url(text, "--listen", output::UrlUse::kListen));
    output::require_private_transport(urls.back(), "--listen", options_.insecure, "--insecure");
    any_tls |= urls.back().scheme == output::StreamUrl::Scheme::kTls;
  }
  if (any_tls) {
    credentials_ = std::make_unique<output::TlsCredentials>(options_.tls, output::TlsRole::kServer,
                                                            kTlsSettingNames);
  } else if (!options_.tls.cert.empty() || !options_.tls.key.empty() || !options_.tls.ca.empty()) {
    core::logger("collector")->warn("--tls-cert/--tls-key/--tls-ca are unused: no --listen tls://");
  }
  state_path_ = options_.state;
  if (state_path_.empty() && options_.out != "-") state_path_ = options_.out + ".state";
  // Before the output is opened: the scan may cut a torn last line.
  marks_.load(state_path_, options_.out);
  eve_ = std::make_unique<EveFile>(options_.out);
  for (const auto& url : urls) {
    listeners_.emplace_back(url);
    listener_tls_.push_back(url.scheme == output::StreamUrl::Scheme::kTls);
    core::logger("collector")->info("listening on {}", listeners_.back().url());
  }
}

void Collector::Impl::save_state() {
  if (marks_.save(state_path_, options_.out)) marks_dirty_ = false;
}

void Collector::Impl::close(Connection& c, const std::string& why, bool bad_frame) {
  if (!c.channel.valid()) return;
  auto log = core::logger("collector");
  if (bad_frame) {
    counters_.inc(C::kClosedBadFrame);
    // Rate-limited: anything can connect and send garbage, as often as it likes.
    core::log_limited("collector", spdlog::level::warn, "collector.bad_frame",
                      "closing the connection from {}{}: {}", c.peer,
                      c.sensor_id.empty() ? "" : " (sensor " + c.sensor_id + ")", why);
  } else {
    log->info("connection from {}{} ended: {}", c.peer,
              c.sensor_id.empty() ? "" : " (sensor " + c.sensor_id + ")", why);
  }
  c.channel.reset();
}

void Collector::Impl::accept_from(output::Listener& listener, bool tls) {
  const auto now = std::chrono::steady_clock::now();
  for (;;) {
    std::string peer;
    output::UniqueFd fd = listener.accept(peer);
    if (!fd.valid()) return;
    auto& c = connections_.emplace_back(options_.max_frame);
    c.peer = peer;
    counters_.inc(C::kConnections);
    if (!tls) {
      c.channel = output::StreamChannel(std::move(fd));
      core::logger("collector")->info("connection from {}", peer);
      continue;
    }
    try {
      c.channel = output::StreamChannel::tls_server(std::move(fd), *credentials_);
    } catch (const core::Error& e) {
      core::logger("collector")->warn("connection from {}: {}", peer, e.what());
      continue;  // removed with the other closed connections
    }
    c.handshaking = true;
    c.handshake_deadline = now + kHandshakeTimeout;
    advance_handshake(c, now);
  }
}

void Collector::Impl::advance_handshake(Connection& c, std::chrono::steady_clock::time_point now) {
  const auto status = c.channel.handshake();
  if (status == output::StreamChannel::Status::kDone) {
    c.handshaking = false;
    core::logger("collector")
        ->info("connection from {}: TLS 1.3, certificate {}", c.peer, c.channel.peer_names());
    // The sensor's Hello may have come with its Finished message.
    return serve_input(c);
  }
  if (status == output::StreamChannel::Status::kWouldBlock && now < c.handshake_deadline) return;
  counters_.inc(C::kTlsRefused);
  // Rate-limited: anything can connect, as often as it likes. Refusals of a certificate are
  // limited apart from other failures, so that scanners do not hide a misconfigured sensor.
  core::log_limited("collector", spdlog::level::warn,
                    c.channel.refused_peer() ? "collector.tls_refused" : "collector.tls_failed",
                    "connection from {} refused: TLS handshake {}", c.peer,
                    status == output::StreamChannel::Status::kWouldBlock
                        ? std::string("timed out")
                        : "failed: " + c.channel.error());
  c.channel.reset();
}

void Collector::Impl::flush_output(Connection& c) {
  while (c.channel.valid() && c.out_offset < c.out.size()) {
    // After kWouldBlock the same bytes go again: acknowledgements are only appended behind them.
    const auto io = c.channel.write(c.out.data() + c.out_offset, c.out.size() - c.out_offset);
    if (io.status == output::StreamChannel::Status::kDone) {
      c.out_offset += io.bytes;
      continue;
    }
    if (io.status == output::StreamChannel::Status::kWouldBlock) break;
    return close(c, c.channel.error());
  }
  if (c.out_offset == c.out.size()) {
    c.out.clear();
    c.out_offset = 0;
  } else if (c.out.size() - c.out_offset > kMaxPendingOut) {
    close(c, "the sensor does not read its acknowledgements");
  }
}

void Collector::Impl::queue_acks(Connection& c) {
  for (const auto& [run, seq] : c.acks) {
    v1::Envelope envelope;
    envelope.mutable_ack()->set_run_id(run);
    envelope.mutable_ack()->set_seq(seq);
    output::append_frame(envelope, c.out);
    counters_.inc(C::kAcksSent);
  }
  c.acks.clear();
  flush_output(c);
}

void Collector::Impl::write_stats(const Connection& c, const v1::Heartbeat& heartbeat) {
  core::CounterSnapshot counters;
  for (const v1::Counter& counter : heartbeat.counters()) {
    counters.add(counter.name(), "", counter.value());
  }
  const std::optional<int64_t> now = output::eve_timestamp_seconds(heartbeat.timestamp());
  const std::optional<int64_t> started = output::eve_timestamp_seconds(c.start_time);
  const int64_t uptime = now && started ? *now - *started : 0;
  std::string line;
  output::append_stats_json(counters, heartbeat.timestamp(), uptime, c.sensor_id, line);
  if (eve_->write_line(line)) {
    counters_.inc(C::kStatsWritten);
  } else {
    counters_.inc(C::kWriteErrors);
  }
}

bool Collector::Impl::handle_event(Connection& c, google::protobuf::Message& event, uint64_t seq,
                                   std::string* host, std::string* run_id) {
  if (c.run_id.empty()) {
    close(c, "an event before any Hello", true);
    return false;
  }
  if (seq == 0) {
    close(c, "an event without a seq", true);
    return false;
  }
  if (seq <= marks_.get(c.run_id)) {
    counters_.inc(C::kDuplicates);
  } else {
    *host = c.sensor_id;
    *run_id = c.run_id;
    if (!eve_->write(event)) {
      counters_.inc(C::kWriteErrors);
      close(c, "the output cannot be written; nothing further is acknowledged");
      return false;
    }
    marks_.raise(c.run_id, seq);
    marks_dirty_ = true;
    counters_.inc(C::kEventsWritten);
  }
  // Cumulative: everything of the run up to its mark is in the output, whichever connection
  // brought it.
  const uint64_t mark = marks_.get(c.run_id);
  const auto it = std::find_if(c.acks.begin(), c.acks.end(),
                               [&](const auto& a) { return a.first == c.run_id; });
  if (it == c.acks.end()) {
    c.acks.emplace_back(c.run_id, mark);
  } else {
    it->second = mark;
  }
  return true;
}

bool Collector::Impl::handle_frames(Connection& c) {
  auto log = core::logger("collector");
  for (;;) {
    const auto result = c.reader.next(message_);
    if (result == output::FrameReader::Result::kNeedMore) return true;
    if (result != output::FrameReader::Result::kFrame) {
      queue_acks(c);  // what was written before the bad frame is stored
      close(c, c.reader.error(), true);
      return false;
    }
    switch (message_.body_case()) {
      case v1::Envelope::kHello: {
        const auto& hello = message_.hello();
        if (hello.run_id().empty()) {
          close(c, "a Hello without a run_id", true);
          return false;
        }
        if (hello.run_id() != c.run_id) {
          log->info("{}: sensor {} run {} (version {}, started {}), written up to seq {}", c.peer,
                    hello.sensor_id(), hello.run_id(), hello.version(), hello.start_time(),
                    marks_.get(hello.run_id()));
        }
        c.run_id = hello.run_id();
        c.sensor_id = hello.sensor_id();
        c.start_time = hello.start_time();
        break;
      }
      case v1::Envelope::kAlert: {
        auto* e = message_.mutable_alert();
        if (!handle_event(c, *e, e->seq(), e->mutable_host(), e->mutable_run_id())) return false;
        break;
      }
      case v1::Envelope::kResetReport: {
        auto* e = message_.mutable_reset_report();
        if (!handle_event(c, *e, e->seq(), e->mutable_host(), e->mutable_run_id())) return false;
        break;
      }
      case v1::Envelope::kFlow: {
        auto* e = message_.mutable_flow();
        if (!handle_event(c, *e, e->seq(), e->mutable_host(), e->mutable_run_id())) return false;
        break;
      }
      case v1::Envelope::kApp: {
        auto* e = message_.mutable_app();
        if (!handle_event(c, *e, e->seq(), e->mutable_host(), e->mutable_run_id())) return false;
        break;
      }
      case v1::Envelope::kHeartbeat: {
        const uint64_t dropped = message_.heartbeat().alerts_dropped();
        if (dropped > 0) {
          counters_.inc(C::kSensorDrops, dropped);
          log->warn("sensor {} reports {} event(s) dropped since its last heartbeat", c.sensor_id,
                    dropped);
        }
        if (options_.stats) write_stats(c, message_.heartbeat());
        break;
      }
      case v1::Envelope::kStats:
        break;
      default:
        close(c, "a frame that is not a sensor message (Ack or empty envelope)", true);
        return false;
    }
  }
}

void Collector::Impl::serve_input(Connection& c) {
  constexpr size_t kChunk = 64 * 1024;
  size_t budget = kReadBudget;
  while (c.channel.valid() && budget > 0) {
    const auto io = c.channel.read(c.reader.prepare(kChunk), kChunk);
    if (io.status == output::StreamChannel::Status::kWouldBlock) break;
    if (io.status == output::StreamChannel::Status::kFailed) return close(c, c.channel.error());
    if (io.status == output::StreamChannel::Status::kClosed) {
      // The sensor may only have shut down its sending side: it still gets its last Ack.
      queue_acks(c);
      return close(c, c.reader.buffered() > 0 ? "closed by the sensor inside a frame"
                                              : "closed by the sensor");
    }
    c.reader.commit(io.bytes);
    budget -= std::min(budget, io.bytes);
    if (!handle_frames(c)) return;
  }
  if (c.channel.valid()) queue_acks(c);
}

void Collector::Impl::run(int signal_fd) {
  auto log = core::logger("collector");
  auto next_save = std::chrono::steady_clock::now() + kStateSaveInterval;
  std::vector<pollfd> fds;
  std::vector<Connection*> polled;
  while (!stop_.load()) {
    if (reopen_.exchange(false)) {
      // The state names the file being rotated away with everything written to it, so that a
      // restart reads only the new file.
      save_state();
      eve_->reopen();
      if (credentials_ != nullptr) credentials_->reload();
    }
    const auto now = std::chrono::steady_clock::now();
    if (marks_dirty_ && now >= next_save) {
      save_state();
      next_save = now + kStateSaveInterval;
    }
    fds.clear();
    polled.clear();
    fds.push_back({wake_.fd(), POLLIN, 0});
    fds.push_back({signal_fd, POLLIN, 0});  // ignored by poll when -1
    for (auto& l : listeners_) fds.push_back({l.fd(), POLLIN, 0});
    auto wait = std::chrono::milliseconds(1000);
    for (auto& c : connections_) {
      fds.push_back({c.channel.fd(), c.channel.poll_events(c.out_offset < c.out.size()), 0});
      polled.push_back(&c);
      if (c.handshaking) {
        wait = std::min(
            wait, std::chrono::ceil<std::chrono::milliseconds>(std::max(
                      c.handshake_deadline - now, std::chrono::steady_clock::duration::zero())));
      }
      // Decrypted bytes left behind by the read budget: poll() cannot see them.
      if (c.channel.has_buffered_input()) wait = std::chrono::milliseconds(0);
    }
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    if (ready < 0 && errno != EINTR) {
      log->error("poll: {}", std::strerror(errno));
      break;
    }
    if (ready == 0) {
      // Handshakes past their deadline, and input held inside TLS sessions.
      const auto later = std::chrono::steady_clock::now();
      for (Connection* c : polled) {
        if (c->handshaking) {
          advance_handshake(*c, later);
        } else if (c->channel.has_buffered_input()) {
          serve_input(*c);
        }
      }
      connections_.remove_if([](const Connection& c) { return !c.channel.valid(); });
      continue;
    }
    if (ready < 0) continue;
    if (fds[0].revents & POLLIN) wake_.clear();
    if (signal_fd >= 0 && (fds[1].revents & POLLIN)) {
      signalfd_siginfo info{};
      if (::read(signal_fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        if (info.ssi_signo == SIGHUP) {
          reopen_.store(true);
        } else {
          log->info("signal {}: stopping", info.ssi_signo);
          stop_.store(true);
        }
      }
    }
    size_t i = 2;
    for (size_t l = 0; l < listeners_.size(); ++l) {
      if (fds[i++].revents & POLLIN) accept_from(listeners_[l], listener_tls_[l]);
    }
    const auto later = std::chrono::steady_clock::now();
    for (Connection* c : polled) {
      const short revents = fds[i++].revents;
      if (c->handshaking) {
        if (revents != 0 || later >= c->handshake_deadline) advance_handshake(*c, later);
        continue;
      }
      // A TLS read may wait for the socket to take a write, and the budget may have left
      // decrypted input behind: read on any event.
      if (revents != 0 || c->channel.has_buffered_input()) serve_input(*c);
      if ((revents & POLLOUT) && c->channel.valid()) flush_output(*c);
    }
    connections_.remove_if([](const Connection& c) { return !c.channel.valid(); });
  }
  for (auto& c : connections_) close(c, "the collector is stopping");
  connections_.clear();
  save_state();
}

Collector::Collector(CollectorOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
Collector::~Collector() = default;

std::vector<std::string> Collector::listen_urls() const {
  std::vector<std::string> out;
  for (const auto& l : impl_->listeners_) out.push_back(l.url());
  return out;
}

void Collector::run() { impl_->run(signal_fd_); }

void Collector::stop() {
  impl_->stop_.store(true);
  impl_->wake_.notify();
}

void Collector::reopen() {
  impl_->reopen_.store(true);
  impl_->wake_.notify();
}

uint64_t Collector::counter(CollectorCounter c) const { return impl_->counters_.get(c); }
void Collector::collect(core::CounterSnapshot& out) const { out.add(impl_->counters_.values()); }
const core::CounterGroup& Collector::counter_group() { return kCounterGroup; }

}  // namespace spanguard::collector
