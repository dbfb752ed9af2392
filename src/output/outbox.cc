// Spilling and acknowledgement of the alert stream's events. One mutex guards it all; workers
// never take it (they hand events off, event_handoff.h): the output thread holds it while it takes
// an event in, copies frames out or applies an acknowledgement, other threads only to wait for
// acknowledgements or to close.
#include "outbox.h"

#include <algorithm>

#include "spanguard/core/log.h"
#include "spanguard/core/time.h"
#include "spanguard/output/envelope.h"

namespace spanguard::output {

namespace {

using C = AlertStreamCounter;

constexpr int64_t kDropLogIntervalNs = 10'000'000'000;

}  // namespace

Outbox::Outbox(v1::Hello current, size_t queue_size, uint64_t max_frame, Spool* spool,
               const EventHandoff& handoff, core::Counters<AlertStreamCounter>& counters)
    : queue_size_(std::max<size_t>(queue_size, 1)),
      max_frame_(max_frame),
      spool_(spool),
      handoff_(handoff),
      counters_(counters),
      read_frames_(max_frame) {
  auto run = std::make_unique<Run>();
  v1::Envelope hello;
  *hello.mutable_hello() = current;
  append_frame(hello, run->hello_frame);
  run->hello = std::move(current);
  runs_.push_back(std::move(run));
  send_run_ = runs_.front().get();
}

Outbox::~Outbox() = default;

void Outbox::adopt(std::vector<SpooledRun> runs) {
  std::lock_guard lock(mutex_);
  uint64_t events = 0;
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    auto run = std::make_unique<Run>();
    v1::Envelope hello;
    *hello.mutable_hello() = it->hello;
    append_frame(hello, run->hello_frame);
    run->hello = it->hello;
    for (SpooledSegment& s : it->segments) {
      auto segment = std::make_unique<Segment>();
      segment->first_seq = s.first_seq;
      segment->last_seq = s.last_seq;
      segment->events = s.events;
      segment->file = std::move(s.file);
      run->last = std::max(run->last, s.last_seq);
      events += s.events;
      run->segments.push_back(std::move(segment));
    }
    runs_.push_front(std::move(run));
  }
  counters_.inc(C::kSpoolLoaded, events);
  send_run_ = runs_.front().get();
  update_gauges_locked();
}

void Outbox::update_gauges_locked() {
  counters_.set(C::kQueued, memory_events_);
  counters_.set(C::kSpoolBytes, spool_ != nullptr ? spool_->used() : 0);
}

void Outbox::drop_locked(uint64_t n, const char* why) {
  if (n == 0) return;
  counters_.inc(C::kDropped, n);
  unreported_drops_ += n;
  acked_cv_.notify_all();  // a dropped event is no longer waited for
  drops_since_log_ += n;
  // Rate-limited: a dead collector under load would otherwise log once per alert.
  const int64_t now = core::monotonic_ns();
  if (last_drop_log_ns_ == 0 || now - last_drop_log_ns_ >= kDropLogIntervalNs) {
    core::logger("output")->warn(
        "alert stream: {} event(s) dropped: {} (output.dropped counts them)", drops_since_log_,
        why);
    last_drop_log_ns_ = now;
    drops_since_log_ = 0;
  }
}

void Outbox::count_handoff_drops(uint64_t n) {
  if (n == 0) return;
  std::lock_guard lock(mutex_);
  counters_.inc(C::kPublished, n);
  counters_.inc(C::kDroppedHandoff, n);
  drop_locked(n, "a worker's hand-off queue to the output thread was full (output.handoff_size)");
}

void Outbox::count_late(uint64_t n) {
  std::lock_guard lock(mutex_);
  counters_.inc(C::kPublished, n);
  drop_locked(n, "published after the stream was closed");
}

void Outbox::accept(const v1::Envelope& event) {
  std::lock_guard lock(mutex_);
  const uint64_t seq = event_seq(event);
  counters_.inc(C::kPublished);
  Run& run = current();
  run.last = seq;
  if (closed_) {
    drop_locked(1, "published after the stream was closed");
    return;
  }
  std::string& frame = frame_;
  frame.clear();
  append_frame(event, frame);
  if (frame.size() > max_frame_) {
    drop_locked(1, "an event larger than output.max_frame");
    return;
  }
  Segment* tail = run.segments.empty() ? nullptr : run.segments.back().get();
  // Once spilling, stay on disk until memory has drained to half: alternating on every ack would
  // create a spool file per handful of events.
  const bool to_memory =
      memory_events_ < queue_size_ &&
      (tail == nullptr || tail->file == nullptr || memory_events_ <= queue_size_ / 2);
  if (to_memory) {
    if (tail == nullptr || tail->file != nullptr) {
      run.segments.push_back(std::make_unique<Segment>());
      tail = run.segments.back().get();
      tail->first_seq = seq;
    }
    tail->memory.push_back(Frame{seq, frame});
    tail->last_seq = seq;
    ++tail->events;
    ++memory_events_;
    counters_.set(C::kQueued, memory_events_);
  } else if (spool_ != nullptr) {
    spool_locked(run, seq, frame);
  } else {
    drop_locked(1, "the queue is full and there is no spool (output.spool.dir)");
  }
}

void Outbox::spool_locked(Run& run, uint64_t seq, const std::string& frame) {
  Segment* tail = run.segments.empty() ? nullptr : run.segments.back().get();
  if (tail == nullptr || tail->file == nullptr || tail->file->sealed() ||
      tail->file->size() + frame.size() > spool_->segment_bytes()) {
    if (!spool_->has_room(run.hello_frame.size() + frame.size())) {
      drop_locked(1, "the queue and the spool are full (output.spool.max_bytes)");
      return;
    }
    auto file = spool_->create(run.hello, run.hello_frame, seq, frame.size());
    if (file == nullptr) {
      drop_locked(1, "the spool cannot take it");
      return;
    }
    run.segments.push_back(std::make_unique<Segment>());
    tail = run.segments.back().get();
    tail->file = std::move(file);
    tail->first_seq = seq;
  } else if (!spool_->has_room(frame.size())) {
    drop_locked(1, "the queue and the spool are full (output.spool.max_bytes)");
    return;
  }
  if (!tail->file->append(frame)) {
    drop_locked(1, "a spool write failed");
    if (tail->events == 0) {
      tail->file->remove();
      run.segments.pop_back();
    }
    counters_.set(C::kSpoolBytes, spool_->used());
    return;
  }
  if (tail->events++ == 0) tail->first_seq = seq;
  tail->last_seq = seq;
  counters_.inc(C::kSpooled);
  counters_.set(C::kSpoolBytes, spool_->used());
}

void Outbox::rewind(std::string& out) {
  std::lock_guard lock(mutex_);
  out += current().hello_frame;
  hello_sent_for_ = &current();
  send_run_ = runs_.front().get();
  send_seq_ = send_run_->acked + 1;
  read_segment_ = nullptr;
}

Outbox::Segment* Outbox::segment_from(Run& run, uint64_t seq) {
  for (auto& s : run.segments) {
    if (s->events > 0 && s->last_seq >= seq) return s.get();
  }
  return nullptr;
}

void Outbox::emit(Run& run, uint64_t seq, std::string_view frame, std::string& out,
                  size_t& appended) {
  out.append(frame);
  send_seq_ = seq + 1;
  ++appended;
  counters_.inc(C::kSent);
  if (seq <= run.max_sent) {
    counters_.inc(C::kResent);
  } else {
    run.max_sent = seq;
  }
}

bool Outbox::read_disk(Run& run, Segment& segment, std::string& out, size_t limit,
                       size_t& appended) {
  SpoolFile& file = *segment.file;
  if (read_segment_ != &segment) {
    read_segment_ = &segment;
    read_offset_ = 0;
    read_frames_.clear();
  }
  constexpr size_t kChunk = 64 * 1024;
  for (;;) {
    std::string_view raw;
    const auto result = read_frames_.next(scratch_, &raw);
    if (result == FrameReader::Result::kFrame) {
      const uint64_t seq = event_seq(scratch_);
      if (seq >= send_seq_) {
        emit(run, seq, raw, out, appended);
        if (out.size() >= limit) return true;
      }
      continue;
    }
    if (result == FrameReader::Result::kNeedMore) {
      if (read_offset_ >= file.committed() && file.size() > file.committed()) {
        drop_locked(file.flush(), "a spool write failed");
      }
      if (read_offset_ < file.committed()) {
        const long n = file.read_at(read_offset_, read_frames_.prepare(kChunk), kChunk);
        if (n > 0) {
          read_frames_.commit(static_cast<size_t>(n));
          read_offset_ += static_cast<uint64_t>(n);
          continue;
        }
        core::logger("output")->error("spool {}: read failed at offset {}", file.path(),
                                      read_offset_);
      }
    } else {
      core::logger("output")->error("spool {}: {} at offset {}", file.path(), read_frames_.error(),
                                    read_frames_.consumed());
    }
    // Nothing more can be read from this segment: go past it rather than stall the stream.
    send_seq_ = std::max(send_seq_, segment.last_seq + 1);
    return true;
  }
}

size_t Outbox::fill(std::string& out, size_t limit) {
  std::lock_guard lock(mutex_);
  size_t appended = 0;
  while (out.size() < limit) {
    Run& run = *send_run_;
    // Acknowledgements may already cover what a previous connection sent.
    send_seq_ = std::max(send_seq_, run.acked + 1);
    Segment* segment = segment_from(run, send_seq_);
    if (segment == nullptr) {
      if (&run == &current()) break;
      const auto it =
          std::find_if(runs_.begin(), runs_.end(), [&](const auto& r) { return r.get() == &run; });
      send_run_ = std::next(it)->get();
      send_seq_ = send_run_->acked + 1;
      continue;
    }
    if (hello_sent_for_ != &run) {
      out += run.hello_frame;
      hello_sent_for_ = &run;
    }
    if (segment->file == nullptr) {
      auto it = std::lower_bound(segment->memory.begin(), segment->memory.end(), send_seq_,
                                 [](const Frame& f, uint64_t s) { return f.seq < s; });
      for (; it != segment->memory.end() && out.size() < limit; ++it) {
        emit(run, it->seq, it->bytes, out, appended);
      }
    } else {
      read_disk(run, *segment, out, limit, appended);
    }
  }
  return appended;
}

bool Outbox::has_unsent() const {
  std::lock_guard lock(mutex_);
  if (send_run_ != runs_.back().get()) return true;
  const Run& run = *runs_.back();
  for (auto it = run.segments.rbegin(); it != run.segments.rend(); ++it) {
    if ((*it)->events > 0) return (*it)->last_seq >= std::max(send_seq_, run.acked + 1);
  }
  return false;
}

Outbox::AckResult Outbox::ack(std::string_view run_id, uint64_t seq) {
  std::lock_guard lock(mutex_);
  const auto it = std::find_if(runs_.begin(), runs_.end(),
                               [&](const auto& r) { return r->hello.run_id() == run_id; });
  if (it == runs_.end()) return AckResult::kUnknownRun;
  Run& run = **it;
  if (seq > run.last) return AckResult::kBeyondPublished;
  if (seq <= run.acked) return AckResult::kAccepted;
  run.acked = seq;
  uint64_t freed = 0;
  while (!run.segments.empty()) {
    Segment& s = *run.segments.front();
    if (s.file == nullptr) {
      while (!s.memory.empty() && s.memory.front().seq <= seq) {
        s.memory.pop_front();
        --s.events;
        --memory_events_;
        ++freed;
      }
      if (!s.memory.empty()) {
        s.first_seq = s.memory.front().seq;
        break;
      }
    } else {
      if (s.last_seq > seq) break;
      freed += s.events;
      s.file->remove();
      if (read_segment_ == &s) read_segment_ = nullptr;
    }
    run.segments.pop_front();
  }
  counters_.inc(C::kAcked, freed);
  if (run.segments.empty() && &run != &current()) {
    // An earlier run fully delivered: forget it, moving the cursor on if it was there.
    const auto next = std::next(it);
    if (send_run_ == &run) {
      send_run_ = next->get();
      send_seq_ = send_run_->acked + 1;
    }
    if (hello_sent_for_ == &run) hello_sent_for_ = nullptr;
    runs_.erase(it);
  }
  update_gauges_locked();
  acked_cv_.notify_all();
  return AckResult::kAccepted;
}

void Outbox::tick() {
  std::lock_guard lock(mutex_);
  for (auto& run : runs_) {
    for (auto& s : run->segments) {
      if (s->file == nullptr) continue;
      drop_locked(s->file->flush(), "a spool write failed");
      s->file->sync();
    }
  }
  update_gauges_locked();
}

uint64_t Outbox::take_unreported_drops() {
  std::lock_guard lock(mutex_);
  return std::exchange(unreported_drops_, 0);
}

void Outbox::restore_unreported_drops(uint64_t n) {
  std::lock_guard lock(mutex_);
  unreported_drops_ += n;
}

bool Outbox::all_acked_locked() const {
  // An event still in the hand-off is not acknowledged either.
  return runs_.back()->last == handoff_.numbered() &&
         std::all_of(runs_.begin(), runs_.end(), [](const auto& r) { return r->segments.empty(); });
}

bool Outbox::all_acked() const {
  std::lock_guard lock(mutex_);
  return all_acked_locked();
}

bool Outbox::wait_all_acked(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return acked_cv_.wait_until(lock, deadline, [&] { return all_acked_locked(); });
}

void Outbox::persist() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  Run& run = current();
  uint64_t lost = 0, kept = 0;
  for (auto& s : run.segments) {
    if (s->file != nullptr || s->memory.empty()) continue;
    // Each run of in-memory events becomes its own file, named by its first seq, so that a
    // later run reads this run's files back in seq order.
    std::unique_ptr<SpoolFile> file;
    if (spool_ != nullptr) {
      file = spool_->create(run.hello, run.hello_frame, s->memory.front().seq,
                            s->memory.front().bytes.size());
    }
    for (const Frame& f : s->memory) {
      if (file != nullptr && spool_->has_room(f.bytes.size()) && file->append(f.bytes)) {
        ++kept;
      } else {
        ++lost;
      }
    }
    if (file != nullptr) {
      lost += file->flush();
      file->sync();
    }
    memory_events_ -= s->memory.size();
    s->memory.clear();
  }
  for (auto& r : runs_) {
    for (auto& s : r->segments) {
      if (s->file == nullptr) continue;
      lost += s->file->flush();
      s->file->sync();
    }
  }
  counters_.inc(C::kSpooled, kept);
  auto log = core::logger("output");
  if (kept > 0)
    log->info("alert stream: {} unacknowledged event(s) spooled for the next run", kept);
  if (lost > 0) {
    counters_.inc(C::kDropped, lost);
    log->warn("alert stream: {} unacknowledged event(s) lost at exit: {}", lost,
              spool_ == nullptr ? "no output.spool.dir" : "the spool is full or failing");
  }
  update_gauges_locked();
}

}  // namespace spanguard::output
