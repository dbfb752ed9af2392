// The alert stream's unacknowledged events, in send order: earlier runs' spooled segments, then
// this run's segments, each held in memory (up to queue_size events) or in a spool file. The
// output thread takes the workers' events in from the EventHandoff (serializing and spooling
// them), reads frames out of it, and acknowledgements free it. Internal to the output module.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "event_handoff.h"
#include "spanguard/core/counters.h"
#include "spanguard/output/alert_stream.h"
#include "spanguard/output/framing.h"
#include "spool.h"

namespace spanguard::output {

class Outbox {
 public:
  // `spool` may be null (memory only); it must outlive the outbox, and so must `handoff`, whose
  // numbered events count as unacknowledged until they are taken in.
  Outbox(v1::Hello current, size_t queue_size, uint64_t max_frame, Spool* spool,
         const EventHandoff& handoff, core::Counters<AlertStreamCounter>& counters);
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Earlier runs' segments (from Spool::load), sent before this run's events.
  void adopt(std::vector<SpooledRun> runs);

  // The consumer of the hand-off (the output thread; the closing thread once it has stopped).
  // Takes one numbered event, in seq order: serialized, then held in memory or spooled, or
  // dropped (see AlertStream::publish).
  void accept(const v1::Envelope& event);
  // Events the hand-off dropped before numbering them (a full ring): counted as published and
  // dropped, and reported in the next Heartbeat.
  void count_handoff_drops(uint64_t n);
  // Any thread: an event published after close(), counted as published and dropped.
  void count_late(uint64_t n);

  // --- Output thread.
  // A new connection: appends this run's Hello to `out`; sending restarts at the oldest
  // unacknowledged event.
  void rewind(std::string& out);
  // Appends frames (with a Hello wherever the run changes) until `out` reaches `limit` bytes or
  // nothing is left to send; returns how many events it appended.
  size_t fill(std::string& out, size_t limit);
  bool has_unsent() const;

  enum class AckResult : uint8_t { kAccepted, kUnknownRun, kBeyondPublished };
  AckResult ack(std::string_view run_id, uint64_t seq);

  // Writes buffered spool records; fdatasync under the "batch" policy.
  void tick();
  // Drops not yet reported in a Heartbeat; restore() gives them back when that heartbeat was lost.
  uint64_t take_unreported_drops();
  void restore_unreported_drops(uint64_t n);

  // --- Any thread.
  bool all_acked() const;
  // True when everything was acknowledged before `deadline`.
  bool wait_all_acked(std::chrono::steady_clock::time_point deadline);

  // Closing, once the output thread has stopped: later publishes are dropped, and this run's
  // unacknowledged events in memory are written to the spool (counted as dropped without one).
  void persist();

 private:
  struct Frame {
    uint64_t seq;
    std::string bytes;
  };
  struct Segment {
    uint64_t first_seq = 0, last_seq = 0, events = 0;
    std::deque<Frame> memory;         // when file is null
    std::unique_ptr<SpoolFile> file;  // a spooled segment
  };
  struct Run {
    v1::Hello hello;
    std::string hello_frame;
    uint64_t acked = 0;     // cumulative
    uint64_t max_sent = 0;  // highest seq ever sent, to count resends
    uint64_t last = 0;      // highest seq held (published or loaded)
    std::deque<std::unique_ptr<Segment>> segments;
  };

  void drop_locked(uint64_t n, const char* why);
  void spool_locked(Run& run, uint64_t seq, const std::string& frame);
  Segment* segment_from(Run& run, uint64_t seq);
  void emit(Run& run, uint64_t seq, std::string_view frame, std::string& out, size_t& appended);
  bool read_disk(Run& run, Segment& segment, std::string& out, size_t limit, size_t& appended);
  bool all_acked_locked() const;
  void update_gauges_locked();
  Run& current() { return *runs_.back(); }

  const size_t queue_size_;
  const uint64_t max_frame_;
  Spool* spool_;
  const EventHandoff& handoff_;
  core::Counters<AlertStreamCounter>& counters_;

  mutable std::mutex mutex_;
  std::condition_variable acked_cv_;
  std::deque<std::unique_ptr<Run>> runs_;  // earlier runs first; this run last, always present
  size_t memory_events_ = 0;
  uint64_t unreported_drops_ = 0;
  bool closed_ = false;
  int64_t last_drop_log_ns_ = 0;
  uint64_t drops_since_log_ = 0;

  // Send cursor, output thread only (under mutex_ since acks move it).
  Run* send_run_ = nullptr;
  uint64_t send_seq_ = 0;
  const Run* hello_sent_for_ = nullptr;
  const Segment* read_segment_ = nullptr;
  uint64_t read_offset_ = 0;
  FrameReader read_frames_;
  v1::Envelope scratch_;
  std::string frame_;  // accept()'s serialization buffer
};

}  // namespace spanguard::output
