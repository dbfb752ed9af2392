// The EVE file written on a thread of its own when no alert stream does it (AlertStream::mirror_to
// covers that case): workers hand their events over through the same lock-free per-thread rings
// as the alert stream's (event_handoff.h), and the JSON printing and the file writes happen here.
// A worker never prints an alert's JSON nor waits on the writer's lock shared with the others.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "spanguard/core/counters.h"
#include "spanguard/output/alert_stream.h"
#include "spanguard/output/eve_writer.h"
#include "spanguard/v1/spanguard.pb.h"

namespace spanguard::output {

class EventHandoff;

class EveOutput {
 public:
  // Rings of `handoff_size` events per publishing thread (output.handoff_size).
  EveOutput(EveWriter& eve, size_t handoff_size);
  ~EveOutput();  // close()
  EveOutput(const EveOutput&) = delete;
  EveOutput& operator=(const EveOutput&) = delete;

  // Any thread: moves `event` (already numbered by the caller) to the writer thread; `event` is
  // left empty. False when the ring was full and `when_full` said drop (counted in dropped()).
  // After close() the event is written by the caller itself: nothing is lost at shutdown.
  bool hand_off(v1::Envelope& event, HandoffFull when_full);
  // Every event handed off so far is written and flushed; later ones are written by their caller.
  // Idempotent.
  void close();
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  void loop();
  size_t take_in();

  EveWriter& eve_;
  std::unique_ptr<EventHandoff> handoff_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> dropped_{0};
  std::thread thread_;
};

}  // namespace spanguard::output
