// The "output" configuration section, the stream's counters, and AlertStream's life cycle: load
// the spool, start the output thread, hand events to it, drain and spool at close.
#include "spanguard/output/alert_stream.h"

#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

#include "event_handoff.h"
#include "outbox.h"
#include "spanguard/core/error.h"
#include "spanguard/core/log.h"
#include "spanguard/output/envelope.h"
#include "spanguard/output/eve_writer.h"
#include "spanguard/output/stream_url.h"
#include "spool.h"
#include "stream_connection.h"

#ifndef SPANGUARD_VERSION
#define SPANGUARD_VERSION "0.0.0"
#endif

namespace spanguard::output {

namespace {

using C = AlertStreamCounter;

constexpr core::Param kParams[] = {
    {.name = "socket.connect",
     .type = core::ParamType::kString,
     .default_value = "\"\"",
     .help = "Collector to stream alerts to: tls://HOST:PORT, tcp://HOST:PORT ([v6] in brackets) "
             "or unix:///PATH (run --alerts URL sets it); empty: no alert stream unless listening"},
    {.name = "socket.listen",
     .type = core::ParamType::kString,
     .default_value = "\"\"",
     .help = "Or let a subscriber connect to the sensor at this tls://, tcp:// or unix:// "
             "address; one subscriber at a time, a new one replaces the old (exclusive with "
             "socket.connect)"},
    {.name = "socket.tls.cert",
     .type = core::ParamType::kString,
     .default_value = "\"\"",
     .help = "tls://: this sensor's certificate (PEM, intermediates after it), presented to the "
             "peer; reloaded on SIGHUP"},
    {.name = "socket.tls.key",
     .type = core::ParamType::kString,
     .default_value = "\"\"",
     .help = "tls://: the private key of socket.tls.cert (PEM)"},
    {.name = "socket.tls.ca",
     .type = core::ParamType::kString,
     .default_value = "\"\"",
     .help = "tls://: CA certificate(s) (PEM) that must have issued the peer's certificate"},
    {.name = "socket.tls.peer_names",
     .type = core::ParamType::kStringList,
     .default_value = "[]",
     .help = "tls://: names the peer's certificate must carry one of (subjectAltName DNS, else "
             "CN); the collector's name must also match the connect URL's host. Empty: any "
             "certificate from socket.tls.ca (warned at start)"},
    {.name = "socket.insecure",
     .type = core::ParamType::kBool,
     .default_value = "false",
     .help = "Allow plaintext tcp:// to or on an address beyond the loopback; alerts then cross "
             "the network unencrypted and unauthenticated (use tls:// instead)"},
    {.name = "spool.dir",
     .type = core::ParamType::kString,
     .default_value = "\"\"",
     .help = "Directory for events the collector has not acknowledged when the queue is full or "
             "the sensor stops; sent first on the next start (e.g. /var/lib/spanguard/spool). "
             "Empty: no spool, such events are dropped and counted"},
    {.name = "spool.max_bytes",
     .type = core::ParamType::kBytes,
     .default_value = "1GiB",
     .help = "Spool size cap; events beyond it are dropped, counted in output.dropped and "
             "reported in the next Heartbeat",
     .min = 65536,
     .max = 1099511627776.0},
    {.name = "spool.fsync",
     .type = core::ParamType::kEnum,
     .default_value = "batch",
     .help = "When spooled events reach the disk: always (every event, survives power loss, "
             "slow), batch (written and synced once a second) or never (left to the kernel)",
     .choices = "always|batch|never"},
    {.name = "queue_size",
     .type = core::ParamType::kInt,
     .default_value = "65536",
     .help = "Unacknowledged events kept in memory; beyond it events go to the spool",
     .min = 1,
     .max = 16777216},
    {.name = "handoff_size",
     .type = core::ParamType::kInt,
     .default_value = "4096",
     .help = "Events each worker may have in flight to the output thread (which serializes and "
             "spools them); beyond it a live worker drops the event, counted in "
             "output.dropped_handoff, rather than wait (a replay waits)",
     .min = 16,
     .max = 1048576},
    {.name = "drain_timeout",
     .type = core::ParamType::kDuration,
     .default_value = "5s",
     .help = "At the end of a replay or on SIGTERM, how long to wait for acknowledgements before "
             "spooling what is left and exiting",
     .min = 0,
     .max = 3600},
    {.name = "heartbeat_interval",
     .type = core::ParamType::kDuration,
     .default_value = "10s",
     .help = "A Heartbeat (counters, drops) this often even when idle, so that firewalls keep the "
             "connection and the collector knows the sensor is alive",
     .min = 0.01,
     .max = 3600},
    {.name = "max_frame",
     .type = core::ParamType::kBytes,
     .default_value = "1MiB",
     .help = "Largest frame sent or accepted; a peer sending a larger one is disconnected",
     .min = 1024,
     .max = 67108864},
    {.name = "reconnect.min",
     .type = core::ParamType::kDuration,
     .default_value = "200ms",
     .help = "First delay before reconnecting to the collector; doubles per failure, with jitter",
     .min = 0.001,
     .max = 3600},
    {.name = "reconnect.max",
     .type = core::ParamType::kDuration,
     .default_value = "30s",
     .help = "Longest delay between reconnection attempts",
     .min = 0.001,
     .max = 86400},
    {.name = "sensor_id",
     .type = core::ParamType::kString,
     .default_value = "\"\"",
     .help = "This sensor's name in Hello messages and the collector's EVE \"host\" field; empty: "
             "the host name"},
    {.name = "eve.http",
     .type = core::ParamType::kBool,
     .default_value = "false",
     .help = "Also emit one event_type \"http\" record per HTTP transaction (EVE file and alert "
             "stream), like Suricata's http log"},
    {.name = "eve.tls",
     .type = core::ParamType::kBool,
     .default_value = "false",
     .help = "Also emit one event_type \"tls\" record per TLS handshake (SNI, certificate, "
             "JA3/JA3S/JA4), like Suricata's tls log"},
    {.name = "eve.dns",
     .type = core::ParamType::kBool,
     .default_value = "false",
     .help = "Also emit one event_type \"dns\" record per DNS message, request and response, "
             "like Suricata's dns log (version 3)"},
    {.name = "eve.flush",
     .type = core::ParamType::kEnum,
     .default_value = "batch",
     .help = "When the EVE file (--eve) is flushed: batch (run: after each batch of frames, within "
             "milliseconds; replay: at the end) or line (after every event)",
     .choices = "batch|line"},
    {.name = "eve.payload",
     .type = core::ParamType::kEnum,
     .default_value = "both",
     .help = "The triggering bytes in alerts (detect.payload_excerpt of them): EVE's payload "
             "(base64), payload_printable, both, or none",
     .choices = "none|base64|printable|both"},
    {.name = "eve.stats_interval",
     .type = core::ParamType::kDuration,
     .default_value = "8s",
     .help = "run: how often an EVE stats event (Suricata's statistics record: its counters by "
             "its names, and every counter of the sensor) is written to the EVE file; run and "
             "replay also write one with the final values when they end; 0: never",
     .min = 0,
     .max = 86400},
    {
        .name = "eve.packet",
        .type = core::ParamType::kBool,
        .default_value = "false",
        .help = "The whole frame that completed an alert's match, as EVE's packet (base64) with "
                "packet_info (its link type), as Suricata's alert packet option",
    },
    {.name = "eve.community_id",
     .type = core::ParamType::kBool,
     .default_value = "true",
     .help = "Add each flow's Community ID (v1) to alerts, flow, reset and protocol records, to "
             "join them with Zeek's and other tools' records of the same connection"},
    {.name = "eve.community_id_seed",
     .type = core::ParamType::kInt,
     .default_value = "0",
     .help = "Community ID seed; tools whose records are joined must use the same",
     .min = 0,
     .max = 65535},
};

constexpr core::ParamSection kSection{"output", "Alert stream to the SIEM collector", kParams};

constexpr core::CounterDef kCounterDefs[] = {
    {"published", "events handed to the alert stream"},
    {"sent", "event frames written to a connection, resends included"},
    {"resent", "event frames sent again after a reconnect"},
    {"acked", "events the collector acknowledged"},
    {"spooled", "events written to the disk spool"},
    {"spool_loaded", "events an earlier run left in the spool, loaded at start"},
    {"dropped", "events lost: hand-off, queue and spool full, no spool, or larger than max_frame"},
    {"dropped_handoff",
     "of dropped: events a worker could not hand to the output thread, its ring full "
     "(never numbered)"},
    {"heartbeats", "heartbeats sent"},
    {"connections", "connections established (connect or accept)"},
    {"reconnects", "connections established after an earlier one ended"},
    {"connect_failures", "failed attempts to reach the collector"},
    {"connections_closed_bad_frame",
     "connections closed for a malformed, oversized or unexpected "
     "frame from the peer"},
    {"queued", "unacknowledged events in memory (gauge)"},
    {"spool_bytes", "bytes in the spool (gauge)"},
};
static_assert(std::size(kCounterDefs) == static_cast<size_t>(C::kCount));
constexpr core::CounterGroup kCounterGroup{"output", kCounterDefs};

std::string random_run_id() {
  uint8_t bytes[16];
  size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw core::RuntimeError(std::string("getrandom: ") + std::strerror(errno));
    got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const uint8_t b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "spanguard";
  return name;
}

SpoolFsync fsync_policy(const std::string& text) {
  if (text == "always") return SpoolFsync::kAlways;
  if (text == "never") return SpoolFsync::kNever;
  return SpoolFsync::kBatch;
}

}  // namespace

std::string sensor_name(const core::Config& config) {
  const std::string& id = config.get("output.sensor_id").as_string();
  return id.empty() ? host_name() : id;
}

const core::ParamSection& alert_stream_params() { return kSection; }
const core::CounterGroup& AlertStream::counter_group() { return kCounterGroup; }

AlertStreamOptions alert_stream_options(const core::Config& config, std::string connect_override) {
  AlertStreamOptions o;
  o.connect = config.get("output.socket.connect").as_string();
  o.listen = config.get("output.socket.listen").as_string();
  const char* connect_key = "output.socket.connect";
  if (!connect_override.empty()) {
    o.connect = std::move(connect_override);
    connect_key = "--alerts";
  }
  if (!o.connect.empty() && !o.listen.empty()) {
    throw core::ConfigError(std::string(connect_key) +
                            " and output.socket.listen: set only one (the sensor either connects "
                            "to a collector or lets a subscriber connect to it)");
  }
  o.insecure = config.get("output.socket.insecure").as_bool();
  o.tls.cert = config.get("output.socket.tls.cert").as_string();
  o.tls.key = config.get("output.socket.tls.key").as_string();
  o.tls.ca = config.get("output.socket.tls.ca").as_string();
  o.tls.peer_names = config.get("output.socket.tls.peer_names").as_strings();
  std::optional<StreamUrl> url;
  const char* url_key = connect_key;
  if (!o.connect.empty()) url = parse_stream_url(o.connect, connect_key, UrlUse::kConnect);
  if (!o.listen.empty()) {
    url = parse_stream_url(o.listen, "output.socket.listen", UrlUse::kListen);
    url_key = "output.socket.listen";
  }
  if (url) {
    require_private_transport(*url, url_key, o.insecure, "output.socket.insecure: true");
    if (url->scheme == StreamUrl::Scheme::kTls) {
      const std::pair<const char*, const std::string*> files[] = {
          {"output.socket.tls.cert", &o.tls.cert},
          {"output.socket.tls.key", &o.tls.key},
          {"output.socket.tls.ca", &o.tls.ca}};
      for (const auto& [key, value] : files) {
        if (value->empty()) {
          throw core::ConfigError(std::string(key) + ": required by " + url_key + " '" +
                                  url->text() + "' (TLS with certificates on both ends)");
        }
      }
    }
  }
  o.spool_dir = config.get("output.spool.dir").as_string();
  o.spool_max_bytes = config.get("output.spool.max_bytes").as_bytes();
  o.spool_fsync = fsync_policy(config.get("output.spool.fsync").as_string());
  o.queue_size = static_cast<size_t>(config.get("output.queue_size").as_int());
  o.handoff_size = static_cast<size_t>(config.get("output.handoff_size").as_int());
  o.drain_timeout = config.get("output.drain_timeout").as_duration();
  o.heartbeat_interval = config.get("output.heartbeat_interval").as_duration();
  o.max_frame = config.get("output.max_frame").as_bytes();
  o.reconnect_min = config.get("output.reconnect.min").as_duration();
  o.reconnect_max = config.get("output.reconnect.max").as_duration();
  if (o.reconnect_min > o.reconnect_max) {
    throw core::ConfigError("output.reconnect.min: longer than output.reconnect.max");
  }
  o.sensor_id = config.get("output.sensor_id").as_string();
  return o;
}

AlertStream::AlertStream(AlertStreamOptions options, CounterSource counters)
    : options_(std::move(options)), run_id_(random_run_id()), counters_(kCounterGroup) {
  if (!options_.connect.empty() && !options_.listen.empty()) {
    throw core::ConfigError("alert stream: set only one of connect and listen");
  }
  if (options_.sensor_id.empty()) options_.sensor_id = host_name();
  if (options_.version.empty()) options_.version = SPANGUARD_VERSION;
  if (options_.reconnect_min <= core::Duration::zero()) {
    options_.reconnect_min = std::chrono::milliseconds(1);
  }
  options_.reconnect_max = std::max(options_.reconnect_max, options_.reconnect_min);

  v1::Hello hello;
  hello.set_sensor_id(options_.sensor_id);
  hello.set_version(options_.version);
  hello.set_start_time(eve_timestamp(
      std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now())));
  hello.set_run_id(run_id_);

  if (!options_.spool_dir.empty()) {
    spool_ = std::make_unique<Spool>(options_.spool_dir, options_.spool_max_bytes,
                                     options_.spool_fsync, options_.max_frame);
  }
  handoff_ = std::make_unique<EventHandoff>(options_.handoff_size);
  outbox_ = std::make_unique<Outbox>(hello, options_.queue_size, options_.max_frame, spool_.get(),
                                     *handoff_, counters_);
  if (spool_ != nullptr) {
    std::vector<SpooledRun> earlier = spool_->load();
    if (!earlier.empty()) {
      uint64_t events = 0;
      for (const auto& run : earlier) {
        for (const auto& s : run.segments) events += s.events;
      }
      core::logger("output")->info(
          "alert stream: {} event(s) of {} earlier run(s) in the spool {} go out first", events,
          earlier.size(), options_.spool_dir);
    }
    outbox_->adopt(std::move(earlier));
  }
  connection_ = std::make_unique<StreamConnection>(
      options_, *outbox_, *handoff_, [this](size_t limit) { return take_in(limit); }, counters_,
      std::move(counters));
  core::logger("output")->info("alert stream: run {} of sensor {}", run_id_, options_.sensor_id);
  thread_ = std::thread([this] { connection_->run(); });
}

AlertStream::~AlertStream() { close(); }

template <typename Push>
uint64_t AlertStream::publish_with(v1::Envelope& event, bool wake, Push&& push) {
  const auto body = event.body_case();
  if (body != v1::Envelope::kAlert && body != v1::Envelope::kResetReport &&
      body != v1::Envelope::kFlow && body != v1::Envelope::kApp) {
    throw std::invalid_argument(
        "AlertStream::publish takes alerts, reset reports, flows and application records");
  }
  const EventHandoff::Result r = push([](v1::Envelope& e, uint64_t seq) { set_event_seq(e, seq); });
  switch (r.status) {
    case EventHandoff::Status::kQueued:
    case EventHandoff::Status::kFull:  // the output thread counts it
      if (wake) connection_->notify();
      break;
    case EventHandoff::Status::kClosed:
      outbox_->count_late(1);
      break;
  }
  return r.seq;
}

uint64_t AlertStream::publish(v1::Envelope& event) {
  return publish_with(
      event, true, [&](auto number) { return handoff_->copy(event, HandoffFull::kWait, number); });
}

uint64_t AlertStream::hand_off(v1::Envelope& event, HandoffFull when_full) {
  // No wake-up: the output thread looks at the hand-off every few milliseconds by itself.
  return publish_with(event, false,
                      [&](auto number) { return handoff_->take(event, when_full, number); });
}

void AlertStream::mirror_to(EveWriter* eve) { eve_.store(eve, std::memory_order_release); }

size_t AlertStream::take_in(size_t limit) {
  outbox_->count_handoff_drops(handoff_->take_full_drops());
  EveWriter* eve = eve_.load(std::memory_order_acquire);
  const size_t n = handoff_->drain(
      [&](const v1::Envelope& event) {
        outbox_->accept(event);
        if (eve != nullptr) eve->write(*event_body(event));
      },
      limit);
  // Caught up: what was printed reaches a SIEM tailing the EVE file within milliseconds.
  if (n > 0 && eve != nullptr && !handoff_->pending()) eve->flush();
  return n;
}

bool AlertStream::settle(core::Duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (handoff_->drained() == handoff_->numbered() && handoff_->drops_taken()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    connection_->notify();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

bool AlertStream::wait_acked(core::Duration timeout) {
  return outbox_->wait_all_acked(
      std::chrono::steady_clock::now() +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout));
}

void AlertStream::close() {
  std::lock_guard lock(close_mutex_);
  if (closed_) return;
  closed_ = true;
  if (!outbox_->all_acked()) {
    connection_->hurry();
    const bool drained = wait_acked(options_.drain_timeout);
    if (!drained) {
      core::logger("output")->warn(
          "alert stream: not every event was acknowledged within output.drain_timeout ({} ms)",
          std::chrono::duration_cast<std::chrono::milliseconds>(options_.drain_timeout).count());
    }
  }
  connection_->stop();
  if (thread_.joinable()) thread_.join();
  // This thread is the hand-off's consumer now: every event handed off before goes in.
  handoff_->close();
  take_in(SIZE_MAX);
  outbox_->persist();
}

std::string AlertStream::listen_url() const { return connection_->listen_url(); }

bool AlertStream::reload_credentials() { return connection_->reload_credentials(); }

void AlertStream::collect(core::CounterSnapshot& out) const { out.add(counters_.values()); }

AlertStream::Stats AlertStream::stats() const {
  Stats s;
  s.published = counters_.get(C::kPublished);
  s.sent = counters_.get(C::kSent);
  s.resent = counters_.get(C::kResent);
  s.acked = counters_.get(C::kAcked);
  s.spooled = counters_.get(C::kSpooled);
  s.spool_loaded = counters_.get(C::kSpoolLoaded);
  s.dropped = counters_.get(C::kDropped);
  s.dropped_handoff = counters_.get(C::kDroppedHandoff);
  s.heartbeats = counters_.get(C::kHeartbeats);
  s.connections = counters_.get(C::kConnections);
  s.reconnects = counters_.get(C::kReconnects);
  s.connect_failures = counters_.get(C::kConnectFailures);
  s.closed_bad_frame = counters_.get(C::kClosedBadFrame);
  s.queued = counters_.get(C::kQueued);
  s.spool_bytes = counters_.get(C::kSpoolBytes);
  return s;
}

}  // namespace spanguard::output
