// The collector's single-threaded poll loop: listeners, sensor connections, frame handling,
// dedupe, EVE lines, acknowledgements, and SIGHUP/SIGTERM through a signalfd.
#include "spanguard/collector/collector.h"

#include <poll.h>
#include <sys/eventfd.h>
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
#include "spanguard/output/framing.h"
#include "spanguard/output/socket.h"
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
};
static_assert(std::size(kCounterDefs) == static_cast<size_t>(C::kCount));
constexpr core::CounterGroup kCounterGroup{"collector", kCounterDefs};

// Input read from one connection per wake-up, so that a fast sensor cannot starve the others.
constexpr size_t kReadBudget = 4 << 20;
// A sensor that does not read its acknowledgements is not worth buffering for without bound.
constexpr size_t kMaxPendingOut = 1 << 20;
constexpr auto kStateSaveInterval = std::chrono::seconds(30);

struct Connection {
  explicit Connection(uint64_t max_frame) : reader(max_frame) {}
  output::UniqueFd fd;
  std::string peer;
  output::FrameReader reader;
  std::string run_id;  // of the last Hello
  std::string sensor_id;
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
  std::vector<output::Listener> listeners_;
  std::list<Connection> connections_;
  output::UniqueFd wake_fd_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> reopen_{false};
  core::Counters<CollectorCounter> counters_{kCounterGroup};
  v1::Envelope message_;
  bool marks_dirty_ = false;

 private:
  void accept_from(output::Listener& listener);
  void serve_input(Connection& c);
  bool handle_frames(Connection& c);
  bool handle_event(Connection& c, google::protobuf::Message& event, uint64_t seq,
                    std::string* host, std::string* run_id);
  void queue_acks(Connection& c);
  void flush_output(Connection& c);
  void close(Connection& c, const std::string& why, bool bad_frame = false);
  void save_state();
};

Collector::Impl::Impl(CollectorOptions options)
    : options_(std::move(options)), wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (options_.listen.empty()) throw core::ConfigError("--listen: at least one URL is needed");
  std::vector<output::StreamUrl> urls;
  for (const auto& text : options_.listen) {
    urls.push_back(output::parse_stream_url(text, "--listen", output::UrlUse::kListen));
  }
  state_path_ = options_.state;
  if (state_path_.empty() && options_.out != "-") state_path_ = options_.out + ".state";
  // Before the output is opened: the scan may cut a torn last line.
  marks_.load(state_path_, options_.out);
  eve_ = std::make_unique<EveFile>(options_.out);
  for (const auto& url : urls) {
    listeners_.emplace_back(url);
    core::logger("collector")->info("listening on {}", listeners_.back().url());
  }
}

void Collector::Impl::save_state() {
  if (marks_.save(state_path_, options_.out)) marks_dirty_ = false;
}

void Collector::Impl::close(Connection& c, const std::string& why, bool bad_frame) {
  if (!c.fd.valid()) return;
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
  c.fd.reset();
}

void Collector::Impl::accept_from(output::Listener& listener) {
  for (;;) {
    std::string peer;
    output::UniqueFd fd = listener.accept(peer);
    if (!fd.valid()) return;
    auto& c = connections_.emplace_back(options_.max_frame);
    c.fd = std::move(fd);
    c.peer = peer;
    counters_.inc(C::kConnections);
    core::logger("collector")->info("connection from {}", peer);
  }
}

void Collector::Impl::flush_output(Connection& c) {
  while (c.fd.valid() && c.out_offset < c.out.size()) {
    const ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_offset, c.out.size() - c.out_offset,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c.out_offset += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return close(c, n < 0 ? std::strerror(errno) : "send made no progress");
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
  while (c.fd.valid() && budget > 0) {
    const ssize_t n = ::recv(c.fd.get(), c.reader.prepare(kChunk), kChunk, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0) return close(c, std::strerror(errno));
    if (n == 0) {
      // The sensor may only have shut down its sending side: it still gets its last Ack.
      queue_acks(c);
      return close(c, c.reader.buffered() > 0 ? "closed by the sensor inside a frame"
                                              : "closed by the sensor");
    }
    c.reader.commit(static_cast<size_t>(n));
    budget -= std::min(budget, static_cast<size_t>(n));
    if (!handle_frames(c)) return;
  }
  if (c.fd.valid()) queue_acks(c);
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
    }
    const auto now = std::chrono::steady_clock::now();
    if (marks_dirty_ && now >= next_save) {
      save_state();
      next_save = now + kStateSaveInterval;
    }
    fds.clear();
    polled.clear();
    fds.push_back({wake_fd_.get(), POLLIN, 0});
    fds.push_back({signal_fd, POLLIN, 0});  // ignored by poll when -1
    for (auto& l : listeners_) fds.push_back({l.fd(), POLLIN, 0});
    for (auto& c : connections_) {
      const short events = static_cast<short>(POLLIN | (c.out_offset < c.out.size() ? POLLOUT : 0));
      fds.push_back({c.fd.get(), events, 0});
      polled.push_back(&c);
    }
    const int ready = ::poll(fds.data(), fds.size(), 1000);
    if (ready < 0 && errno != EINTR) {
      log->error("poll: {}", std::strerror(errno));
      break;
    }
    if (ready <= 0) continue;
    if (fds[0].revents & POLLIN) {
      uint64_t value;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_.get(), &value, sizeof value);
    }
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
    for (auto& l : listeners_) {
      if (fds[i++].revents & POLLIN) accept_from(l);
    }
    for (Connection* c : polled) {
      const short revents = fds[i++].revents;
      if (revents & (POLLIN | POLLHUP | POLLERR)) serve_input(*c);
      if ((revents & POLLOUT) && c->fd.valid()) flush_output(*c);
    }
    connections_.remove_if([](const Connection& c) { return !c.fd.valid(); });
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
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(impl_->wake_fd_.get(), &one, sizeof one);
}

void Collector::reopen() {
  impl_->reopen_.store(true);
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(impl_->wake_fd_.get(), &one, sizeof one);
}

uint64_t Collector::counter(CollectorCounter c) const { return impl_->counters_.get(c); }
void Collector::collect(core::CounterSnapshot& out) const { out.add(impl_->counters_.values()); }
const core::CounterGroup& Collector::counter_group() { return kCounterGroup; }

}  // namespace spanguard::collector
