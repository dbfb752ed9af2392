// The rule set the workers use, replaceable while they run (live rule reload). A reload compiles
// the new set off the hot path and replace()s it here; each worker compares version() at the end
// of every batch (one atomic load) and, when it moved, starts new flows on the new set while the
// flows it already tracks finish on the set they started with — their detection state (Hyperscan
// streams, what already alerted, flowbits) belongs to it. The old set is freed when its last flow
// on the last worker ends.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "spanguard/detect/engine.h"

namespace spanguard::pipeline {

class RuleSlot {
 public:
  explicit RuleSlot(std::shared_ptr<const detect::DetectionEngine> initial)
      : current_(std::move(initial)) {}

  std::shared_ptr<const detect::DetectionEngine> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  void replace(std::shared_ptr<const detect::DetectionEngine> next) {
    std::lock_guard lock(mutex_);
    current_ = std::move(next);
    version_.fetch_add(1, std::memory_order_release);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const detect::DetectionEngine> current_;
  std::atomic<uint64_t> version_{1};
};

}  // namespace spanguard::pipeline
