// The EVE writer thread: takes the workers' events from their rings every millisecond or two,
// prints them, and flushes once caught up so that a SIEM tailing the file sees them promptly.
#include "spanguard/output/eve_output.h"

#include <algorithm>
#include <chrono>

#include "event_handoff.h"
#include "spanguard/output/envelope.h"

namespace spanguard::output {

namespace {

constexpr size_t kTakeInBatch = 4096;
// How long the thread rests when it found nothing: 1 ms after events, doubling while none come,
// up to 32 ms (an event reaches the file within that). A thread waking every millisecond for
// nothing took the core the kernel needed for a reset: measured with reset_race_bench, the RST
// to the server at p99 went from 18 to 62 us.
constexpr auto kMinIdle = std::chrono::milliseconds(1);
constexpr auto kMaxIdle = std::chrono::milliseconds(32);

}  // namespace

EveOutput::EveOutput(EveWriter& eve, size_t handoff_size)
    : eve_(eve), handoff_(std::make_unique<EventHandoff>(handoff_size)) {
  thread_ = std::thread([this] { loop(); });
}

EveOutput::~EveOutput() { close(); }

bool EveOutput::hand_off(v1::Envelope& event, HandoffFull when_full) {
  // The event carries its seq already (the worker numbers every event of the run): the hand-off's
  // own numbering only orders the rings.
  const EventHandoff::Result r = handoff_->take(event, when_full, [](v1::Envelope&, uint64_t) {});
  switch (r.status) {
    case EventHandoff::Status::kQueued:
      return true;
    case EventHandoff::Status::kFull:
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    case EventHandoff::Status::kClosed:
      break;
  }
  eve_.write(*event_body(event));
  return true;
}

size_t EveOutput::take_in() {
  handoff_->take_full_drops();  // counted in dropped_ already; keeps drops_taken() true
  return handoff_->drain([this](const v1::Envelope& e) { eve_.write(*event_body(e)); },
                         kTakeInBatch);
}

void EveOutput::loop() {
  bool unflushed = false;
  std::chrono::milliseconds idle = kMinIdle;
  while (!stop_.load(std::memory_order_acquire)) {
    if (take_in() > 0) {
      unflushed = true;
      idle = kMinIdle;
      if (handoff_->pending()) continue;
    } else {
      idle = std::min(idle * 2, kMaxIdle);
    }
    if (unflushed) {
      eve_.flush();
      unflushed = false;
    }
    std::this_thread::sleep_for(idle);
  }
}

void EveOutput::close() {
  if (closed_.exchange(true)) return;
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  handoff_->close();  // later hand-offs are written by their callers
  while (take_in() > 0) {
  }
  eve_.flush();
}

}  // namespace spanguard::output
