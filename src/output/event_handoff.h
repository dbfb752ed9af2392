// How events get from the threads that publish them (workers) to the output thread without a
// worker ever waiting for it: one bounded single-producer/single-consumer ring per publishing
// thread, numbered on the way in and merged back into seq order on the way out. Internal to the
// output module.
//
// Why this design. The collector acknowledges cumulatively, so the stream must send seqs densely
// and in order. A producer therefore reserves its seq (one fetch_add on a shared counter) only
// after it has made sure its own ring has room, and pushes the event right after: a reserved seq
// is always pushed, a few instructions later. The consumer takes seq after seq from whichever
// ring holds it at its front (each ring is in seq order, being filled in reservation order by one
// thread); a seq it cannot find yet is in flight between its reservation and its push, and the
// consumer yields until it lands. An event that finds its ring full is dropped before it is
// numbered: seqs stay dense, the collector's cumulative acknowledgement and resends are
// unaffected, and the drop reaches the collector as a count (Heartbeat.alerts_dropped), like
// every other drop. Nothing here allocates once a thread's ring exists: the event moves in by
// swapping with the one consumed from its slot a lap earlier, which the producer then frees: all
// of a worker's event memory is allocated and freed on the worker's own thread, never taking its
// malloc arena's lock from another.
//
// Closing: close() stops new hand-offs (they report kClosed and take no seq) and waits for the
// few producers caught between their check and their push, so that a final drain takes every
// numbered event.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "spanguard/output/alert_stream.h"
#include "spanguard/v1/spanguard.pb.h"

namespace spanguard::output {

class EventHandoff {
 public:
  using WhenFull = HandoffFull;
  enum class Status : uint8_t { kQueued, kFull, kClosed };
  struct Result {
    Status status;
    uint64_t seq;  // kQueued: the event's seq; otherwise 0
  };

  // Rings of `ring_size` events (rounded up to a power of two), one per publishing thread.
  explicit EventHandoff(size_t ring_size);
  ~EventHandoff();
  EventHandoff(const EventHandoff&) = delete;
  EventHandoff& operator=(const EventHandoff&) = delete;

  // --- Producers, any thread. `number` writes the reserved seq into the event before it moves.
  // take(): the event's content moves into the ring; `event` is left empty (its buffers freed
  // here). copy(): `event` is left as it was, seq included.
  template <typename Number>
  Result take(v1::Envelope& event, WhenFull when_full, Number&& number) {
    return push(event, when_full, /*swap=*/true, std::forward<Number>(number));
  }
  template <typename Number>
  Result copy(v1::Envelope& event, WhenFull when_full, Number&& number) {
    return push(event, when_full, /*swap=*/false, std::forward<Number>(number));
  }

  // --- The consumer (one thread at a time).
  // Passes up to `limit` events to `sink(const v1::Envelope&)` in seq order, each with every
  // earlier seq already passed. Their content stays in the slot until its producer's take() a lap
  // later swaps it out and frees it on its own thread. Returns how many.
  template <typename Sink>
  size_t drain(Sink&& sink, size_t limit = SIZE_MAX);
  // Events dropped on full rings since the last call.
  uint64_t take_full_drops();
  // Any thread: whether every drop on a full ring so far was taken by take_full_drops().
  bool drops_taken() const;
  // Whether a numbered event has not been drained yet (a seq_cst read of the seq counter: a
  // consumer that publishes "idle" before asking cannot miss a producer's push, see
  // StreamConnection::run).
  bool pending() const { return next_seq_.load() > drained_.load(std::memory_order_relaxed); }
  // The last seq reserved so far (0: none).
  uint64_t numbered() const { return next_seq_.load(std::memory_order_acquire); }
  // The last seq drained so far.
  uint64_t drained() const { return drained_.load(std::memory_order_acquire); }

  // Any thread, once: later hand-offs report kClosed. Returns after every producer that had passed
  // the check has pushed.
  void close();

 private:
  struct Slot {
    uint64_t seq = 0;
    v1::Envelope event;
  };
  struct Ring {
    explicit Ring(size_t capacity)
        : slots(std::make_unique<Slot[]>(capacity)), mask(capacity - 1) {}
    std::unique_ptr<Slot[]> slots;
    const uint64_t mask;
    // Producer side.
    alignas(64) std::atomic<uint64_t> tail{0};
    std::atomic<bool> busy{false};  // between the closed check and the push
    std::atomic<uint64_t> full_drops{0};
    uint64_t cached_head = 0;
    // Consumer side.
    alignas(64) std::atomic<uint64_t> head{0};
    uint64_t folded_drops = 0;
  };

  template <typename Number>
  Result push(v1::Envelope& event, WhenFull when_full, bool swap, Number&& number);
  Ring& ring_of_this_thread();
  Ring& register_thread();
  bool has_room(Ring& ring);
  static void wait_a_little(unsigned& spins);
  void refresh_rings();

  const size_t ring_size_;
  const uint64_t id_;  // tells this hand-off's entry in a thread's cache from another's

  alignas(64) std::atomic<uint64_t> next_seq_{0};  // the last seq reserved
  std::atomic<bool> closed_{false};

  mutable std::mutex rings_mutex_;
  std::vector<std::pair<std::thread::id, std::unique_ptr<Ring>>> rings_;  // under rings_mutex_
  std::atomic<size_t> ring_count_{0};

  // Consumer side.
  alignas(64) std::atomic<uint64_t> drained_{0};
  std::vector<Ring*> consumer_rings_;
  std::atomic<uint64_t> drops_taken_{0};
  size_t last_ring_ = 0;  // where the previous seq was found: runs of one producer's events
};

template <typename Number>
EventHandoff::Result EventHandoff::push(v1::Envelope& event, WhenFull when_full, bool swap,
                                        Number&& number) {
  Ring& ring = ring_of_this_thread();
  unsigned spins = 0;
  for (;;) {
    // Dekker with close(): either close() sees `busy` and waits for the push, or this thread sees
    // `closed_` and pushes nothing.
    ring.busy.store(true);
    if (closed_.load()) {
      ring.busy.store(false, std::memory_order_release);
      return {Status::kClosed, 0};
    }
    if (has_room(ring)) break;
    ring.busy.store(false, std::memory_order_release);
    if (when_full == HandoffFull::kDrop) {
      // One writer: no read-modify-write needed.
      ring.full_drops.store(ring.full_drops.load(std::memory_order_relaxed) + 1,
                            std::memory_order_relaxed);
      return {Status::kFull, 0};
    }
    wait_a_little(spins);  // (not busy meanwhile: close() must not wait for the output thread)
  }
  const uint64_t seq = next_seq_.fetch_add(1) + 1;
  const uint64_t t = ring.tail.load(std::memory_order_relaxed);
  Slot& slot = ring.slots[t & ring.mask];
  slot.seq = seq;
  number(event, seq);
  if (swap) {
    // The slot gives back the event consumed from it a lap ago: freed here, on the thread that
    // allocated it. (Freed on the output thread, it took this thread's malloc arena lock from
    // there: futex wake-ups cost the worker ~10 % at one alert per 120 packets.)
    slot.event.Swap(&event);
    event.clear_body();
  } else {
    slot.event = event;
  }
  ring.tail.store(t + 1, std::memory_order_release);
  ring.busy.store(false, std::memory_order_release);
  return {Status::kQueued, seq};
}

template <typename Sink>
size_t EventHandoff::drain(Sink&& sink, size_t limit) {
  size_t n = 0;
  unsigned spins = 0;
  uint64_t want = drained_.load(std::memory_order_relaxed) + 1;
  while (n < limit && want <= next_seq_.load(std::memory_order_acquire)) {
    if (consumer_rings_.size() != ring_count_.load(std::memory_order_acquire)) refresh_rings();
    // The ring that held the previous seq most likely holds this one too.
    bool found = false;
    for (size_t k = 0; k < consumer_rings_.size() && !found; ++k) {
      const size_t i = (last_ring_ + k) % consumer_rings_.size();
      Ring& ring = *consumer_rings_[i];
      const uint64_t h = ring.head.load(std::memory_order_relaxed);
      if (h == ring.tail.load(std::memory_order_acquire)) continue;
      Slot& slot = ring.slots[h & ring.mask];
      if (slot.seq != want) continue;
      sink(std::as_const(slot.event));  // left in the slot: its producer frees it (see push)
      ring.head.store(h + 1, std::memory_order_release);
      drained_.store(want, std::memory_order_release);
      last_ring_ = i;
      found = true;
    }
    if (found) {
      ++n;
      ++want;
      spins = 0;
      continue;
    }
    // Reserved but not pushed yet: its producer is between two instructions.
    wait_a_little(spins);
  }
  return n;
}

}  // namespace spanguard::output
