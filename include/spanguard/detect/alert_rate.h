// threshold and detection_filter: whether a rule's match raises an alert, and rate_filter: which
// action it takes, from how often the rule matched for the same tracked address(es) within its
// window — Suricata's thresholding semantics (limit, threshold, both, detection_filter; by_src,
// by_dst, by_rule, by_both). State is per engine (all workers count together, as Suricata counts
// per host), bounded, locked, and expires with its window; time is the packets' time.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "spanguard/core/ip_address.h"
#include "spanguard/core/time.h"
#include "spanguard/rules/rule.h"

namespace spanguard::detect {

class AlertRateTracker {
 public:
  explicit AlertRateTracker(size_t max_entries = 1 << 16) : max_entries_(max_entries) {}

  // A match of rule `rule` (its index) whose data went from `src` to `dst` at `now`: true when
  // it raises an alert.
  bool admit(uint32_t rule, const rules::AlertRate& rate, const core::IpAddress& src,
             const core::IpAddress& dst, core::Timestamp now);
  // rate_filter: the action a match of rule `rule` takes — `filter.new_action` while the rate is
  // exceeded (more than count matches within seconds, then for timeout seconds), else nullopt.
  std::optional<rules::Action> rate_filter(uint32_t rule, const rules::RateFilter& filter,
                                           const core::IpAddress& src, const core::IpAddress& dst,
                                           core::Timestamp now);
  size_t entries() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
  }
  uint64_t evicted() const {
    std::lock_guard lock(mutex_);
    return evicted_;
  }

 private:
  struct Key {
    uint32_t rule;
    core::IpAddress a, b;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct Entry {
    core::Timestamp window_end{};    // the window runs until here
    uint32_t count = 0;              // matches in the window
    uint32_t alerts = 0;             // alerts raised in the window
    core::Timestamp active_until{};  // rate_filter: new_action applies until here
  };
  // The entry of `rule` for the addresses `track` follows (both directions of a pair share one).
  Entry& entry(uint32_t rule, rules::AlertRate::Track track, const core::IpAddress& src,
               const core::IpAddress& dst, core::Timestamp now);
  void make_room(core::Timestamp now);

  mutable std::mutex mutex_;  // workers share one tracker (DetectionEngine::rates())
  size_t max_entries_;
  uint64_t evicted_ = 0;
  std::unordered_map<Key, Entry, KeyHash> entries_;
};

}  // namespace spanguard::detect
