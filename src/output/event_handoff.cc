// The rings of the hand-off from publishing threads to the output thread: registration of a
// thread's ring (once per thread, the only locked and allocating step), drop counts, closing.
#include "event_handoff.h"

#include <algorithm>
#include <bit>
#include <chrono>

namespace spanguard::output {

namespace {

std::atomic<uint64_t> g_next_handoff_id{1};

// A thread's ring in the hand-off it used last: one compare per publish.
struct CachedRing {
  uint64_t handoff_id = 0;
  void* ring = nullptr;
};
thread_local CachedRing t_cached_ring;

}  // namespace

EventHandoff::EventHandoff(size_t ring_size)
    : ring_size_(std::bit_ceil(std::max<size_t>(ring_size, 2))),
      id_(g_next_handoff_id.fetch_add(1, std::memory_order_relaxed)) {}

EventHandoff::~EventHandoff() = default;

EventHandoff::Ring& EventHandoff::ring_of_this_thread() {
  if (t_cached_ring.handoff_id == id_) return *static_cast<Ring*>(t_cached_ring.ring);
  Ring& ring = register_thread();
  t_cached_ring = {id_, &ring};
  return ring;
}

EventHandoff::Ring& EventHandoff::register_thread() {
  const std::thread::id self = std::this_thread::get_id();
  std::lock_guard lock(rings_mutex_);
  // A thread id comes back only after its thread ended (joined, or exited detached): its ring,
  // quiet since, is taken over.
  for (auto& [owner, ring] : rings_) {
    if (owner == self) return *ring;
  }
  rings_.emplace_back(self, std::make_unique<Ring>(ring_size_));
  ring_count_.store(rings_.size(), std::memory_order_release);
  return *rings_.back().second;
}

void EventHandoff::refresh_rings() {
  std::lock_guard lock(rings_mutex_);
  consumer_rings_.clear();
  for (const auto& entry : rings_) consumer_rings_.push_back(entry.second.get());
  last_ring_ = 0;
}

bool EventHandoff::has_room(Ring& ring) {
  const uint64_t t = ring.tail.load(std::memory_order_relaxed);
  if (t - ring.cached_head < ring_size_) return true;
  ring.cached_head = ring.head.load(std::memory_order_acquire);
  return t - ring.cached_head < ring_size_;
}

void EventHandoff::wait_a_little(unsigned& spins) {
  // Both waits are short: a producer between two instructions, or (kWait) an output thread that
  // drains a full ring in well under a millisecond. Yield first, then sleep so that a descheduled
  // peer on a busy machine gets the core.
  if (++spins < 64) {
    std::this_thread::yield();
  } else {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

uint64_t EventHandoff::take_full_drops() {
  if (consumer_rings_.size() != ring_count_.load(std::memory_order_acquire)) refresh_rings();
  uint64_t n = 0;
  for (Ring* ring : consumer_rings_) {
    const uint64_t total = ring->full_drops.load(std::memory_order_relaxed);
    n += total - ring->folded_drops;
    ring->folded_drops = total;
  }
  drops_taken_.store(drops_taken_.load(std::memory_order_relaxed) + n, std::memory_order_release);
  return n;
}

bool EventHandoff::drops_taken() const {
  uint64_t total = 0;
  {
    std::lock_guard lock(rings_mutex_);
    for (const auto& entry : rings_) total += entry.second->full_drops.load();
  }
  return drops_taken_.load(std::memory_order_acquire) == total;
}

void EventHandoff::close() {
  closed_.store(true);
  std::lock_guard lock(rings_mutex_);
  for (auto& entry : rings_) {
    unsigned spins = 0;
    while (entry.second->busy.load()) wait_a_little(spins);
  }
}

}  // namespace spanguard::output
