// The alert stream: events (alerts, reset reports, flow records) numbered per run and sent as
// length-delimited Protobuf to a SIEM collector, kept until the collector acknowledges them,
// spooled to disk when the collector is slow or away, and never allowed to block a worker: a
// worker only numbers its event and moves it into its own lock-free ring; serialization, the
// spool and the optional EVE copy happen on the output thread (src/output/event_handoff.h).
//
// Protocol, per connection: the sensor sends Hello{run} and that run's unacknowledged events in
// seq order; events an earlier run left in the spool go first, each run after its own Hello.
// Heartbeats (counters, drops since the last heartbeat) follow every heartbeat_interval. The
// collector answers Ack{run_id, seq}: cumulative, everything of that run up to seq is stored.
// After a reconnect the sensor resends from the first unacknowledged seq; the collector drops
// what it already wrote by (run_id, seq).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "spanguard/core/config.h"
#include "spanguard/core/counters.h"
#include "spanguard/core/time.h"
#include "spanguard/output/tls_credentials.h"
#include "spanguard/v1/spanguard.pb.h"

namespace spanguard::output {

// This sensor's name: output.sensor_id, else the host name (EVE's "host", the Hello's sensor_id).
std::string sensor_name(const core::Config& config);

// The "output" configuration section (socket, spool, queue, timers).
const core::ParamSection& alert_stream_params();

enum class SpoolFsync : uint8_t {
  kAlways,  // fdatasync after every spooled event: nothing is lost to a power cut, slow
  kBatch,   // written and fdatasync'ed once a second by the output thread
  kNever,   // written once a second, synced when the kernel decides
};

struct AlertStreamOptions {
  // tls://HOST:PORT, tcp://HOST:PORT or unix:///PATH: the sensor connects to a collector
  std::string connect;
  std::string listen;     // or: subscribers connect to the sensor (one at a time, newest wins)
  TlsSettings tls;        // for a tls:// connect or listen URL
  bool insecure = false;  // allow tcp:// beyond the loopback address (alerts in clear text)
  std::string spool_dir;  // empty: no disk spool (overflow is dropped, nothing survives exit)
  uint64_t spool_max_bytes = 1ull << 30;
  SpoolFsync spool_fsync = SpoolFsync::kBatch;
  size_t queue_size = 65536;   // unacknowledged events held in memory before the spool takes over
  size_t handoff_size = 4096;  // events each publishing thread may have in flight to the output
                               // thread (rounded up to a power of two)
  core::Duration drain_timeout = std::chrono::seconds(5);
  core::Duration heartbeat_interval = std::chrono::seconds(10);
  uint64_t max_frame = 1 << 20;  // largest frame sent or accepted
  core::Duration reconnect_min = std::chrono::milliseconds(200);
  core::Duration reconnect_max = std::chrono::seconds(30);
  std::string sensor_id;  // empty: the host name
  std::string version;    // Hello.version; empty: spanguard's version

  // False when neither connect nor listen is set: there is no stream to start.
  bool enabled() const { return !connect.empty() || !listen.empty(); }
};

// Options from the "output" section. A non-empty `connect_override` (the CLI's --alerts URL)
// replaces output.socket.connect. Throws core::ConfigError naming the key on a bad URL, on both
// connect and listen set, on plaintext tcp:// beyond the loopback address without
// output.socket.insecure, on tls:// without output.socket.tls.cert/key/ca, or on reconnect.min >
// reconnect.max.
AlertStreamOptions alert_stream_options(const core::Config& config,
                                        std::string connect_override = {});

// Counters of the alert stream, group "output".
enum class AlertStreamCounter : uint8_t {
  kPublished,
  kSent,
  kResent,
  kAcked,
  kSpooled,
  kSpoolLoaded,
  kDropped,
  kDroppedHandoff,  // of kDropped: a publishing thread's hand-off ring was full
  kHeartbeats,
  kConnections,
  kReconnects,
  kConnectFailures,
  kClosedBadFrame,
  kQueued,      // gauge: events held in memory
  kSpoolBytes,  // gauge: bytes in the spool directory
  kCount
};

// What a publishing thread does when its hand-off ring to the output thread is full.
enum class HandoffFull : uint8_t {
  kDrop,  // drop the event before numbering it, counted (live capture: keep up with the wire)
  kWait,  // wait for the output thread to make room (offline replay: waiting loses nothing)
};

class EventHandoff;
class EveWriter;
class Outbox;
class Spool;
class StreamConnection;

class AlertStream {
 public:
  // Counters for heartbeats: called on the output thread every heartbeat_interval. The stream's
  // own "output." counters are added when the snapshot does not already hold them.
  using CounterSource = std::function<core::CounterSnapshot()>;

  // Loads the spool an earlier run left (sent first), then starts the output thread. Throws
  // core::ConfigError for bad options (TLS files that do not load included) and
  // core::RuntimeError when the spool directory cannot be used or a listen address cannot be
  // bound. An unreachable collector is not an error: the
  // stream keeps trying (with backoff) and keeps events meanwhile.
  explicit AlertStream(AlertStreamOptions options, CounterSource counters = {});
  // close().
  ~AlertStream();
  AlertStream(const AlertStream&) = delete;
  AlertStream& operator=(const AlertStream&) = delete;

  // Thread-safe, never waits for the network or the disk. Numbers `event` with the run's next seq
  // (written into its alert, reset_report or flow, so the caller can reuse it), hands a copy to
  // the output thread and returns the seq. When this thread already has handoff_size events in
  // flight, it waits for the output thread to take some (which it does whatever the collector
  // does); hand_off() can drop instead. The output thread then queues the event in memory, or in
  // the spool when the memory queue is full; when that is full (or absent), or the event exceeds
  // max_frame, it is dropped: counted, its seq left as a gap, and reported in the next Heartbeat.
  // Seq order is queue order. Any other envelope body throws std::invalid_argument. After
  // close(), events are dropped (counted) and 0 returned.
  uint64_t publish(v1::Envelope& event);
  // publish() for a worker: the event's content moves into the ring without a copy (`event` is
  // left empty), and `when_full` says whether a full ring waits for room or drops the event
  // before numbering it: 0 is returned, the drop is counted (output.dropped,
  // output.dropped_handoff) and reported in the next Heartbeat, and seqs stay dense.
  uint64_t hand_off(v1::Envelope& event, HandoffFull when_full);

  // Before the first publish: every event published is also printed to `eve` (EVE JSON lines, the
  // same as EveWriter::write of the event), by the output thread in seq order. Null: none.
  void mirror_to(EveWriter* eve);
  EveWriter* eve_mirror() const { return eve_.load(std::memory_order_acquire); }

  // Waits up to `timeout` until the output thread has taken in every event published so far
  // (queued, spooled or dropped, counters updated); true when it has.
  bool settle(core::Duration timeout);

  // Waits up to `timeout` for every event published so far (and every spooled one of earlier
  // runs) to be acknowledged; true when they are.
  bool wait_acked(core::Duration timeout);

  // Waits up to drain_timeout for acknowledgements, stops the output thread, takes in every event
  // handed off before (none is lost), writes what is still unacknowledged to the spool (counted as
  // dropped when there is none). Idempotent;
  // thread-safe. Never throws: a collector outage is not a sensor failure.
  void close();

  // Any thread (the SIGHUP handler): loads the TLS certificate, key and CA files again for the
  // connections made from now on; the current connection carries on. Logs the outcome; false when
  // the files did not load (the current credentials stay). True without TLS.
  bool reload_credentials();

  const std::string& run_id() const { return run_id_; }
  const std::string& sensor_id() const { return options_.sensor_id; }
  // Listen mode: the bound address as a URL (the real port when :0 was asked for); else "".
  std::string listen_url() const;

  void collect(core::CounterSnapshot& out) const;
  static const core::CounterGroup& counter_group();

  struct Stats {
    uint64_t published = 0, sent = 0, resent = 0, acked = 0, spooled = 0, spool_loaded = 0,
             dropped = 0, dropped_handoff = 0, heartbeats = 0, connections = 0, reconnects = 0,
             connect_failures = 0, closed_bad_frame = 0, queued = 0, spool_bytes = 0;
  };
  Stats stats() const;

 private:
  template <typename Push>
  uint64_t publish_with(v1::Envelope& event, bool wake, Push&& push);
  // The consumer side of the hand-off: up to `limit` events into the outbox (and the EVE mirror);
  // returns how many.
  size_t take_in(size_t limit);

  AlertStreamOptions options_;
  std::string run_id_;
  core::Counters<AlertStreamCounter> counters_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<EventHandoff> handoff_;  // before outbox_, which reads it
  std::unique_ptr<Outbox> outbox_;
  std::atomic<EveWriter*> eve_{nullptr};
  std::unique_ptr<StreamConnection> connection_;
  std::mutex close_mutex_;
  bool closed_ = false;
  std::thread thread_;
};

}  // namespace spanguard::output
