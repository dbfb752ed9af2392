// Thresholding state: one entry per (rule, tracked addresses), reset when its window has passed.
#include "spanguard/detect/alert_rate.h"

#include <algorithm>
#include <cstring>

namespace spanguard::detect {

size_t AlertRateTracker::KeyHash::operator()(const Key& k) const {
  uint64_t h = 1469598103934665603ull ^ k.rule;
  for (const core::IpAddress* a : {&k.a, &k.b}) {
    uint64_t words[2];
    std::memcpy(words, a->bytes(), sizeof words);
    for (const uint64_t w : words) h = (h ^ w) * 1099511628211ull;
    h ^= static_cast<uint64_t>(a->family());
  }
  return static_cast<size_t>(h ^ (h >> 29));
}

AlertRateTracker::Entry& AlertRateTracker::entry(uint32_t rule, rules::AlertRate::Track track,
                                                 const core::IpAddress& src,
                                                 const core::IpAddress& dst, core::Timestamp now) {
  Key key{rule, {}, {}};
  switch (track) {
    case rules::AlertRate::Track::kBySrc:
      key.a = src;
      break;
    case rules::AlertRate::Track::kByDst:
      key.a = dst;
      break;
    case rules::AlertRate::Track::kByRule:
      break;
    case rules::AlertRate::Track::kByBoth: {
      // Suricata tracks the pair, whichever way the data went.
      const bool src_first =
          src.family() < dst.family() ||
          (src.family() == dst.family() && std::memcmp(src.bytes(), dst.bytes(), 16) <= 0);
      key.a = src_first ? src : dst;
      key.b = src_first ? dst : src;
      break;
    }
  }
  if (entries_.size() >= max_entries_ && entries_.find(key) == entries_.end()) make_room(now);
  return entries_[key];
}

bool AlertRateTracker::admit(uint32_t rule, const rules::AlertRate& rate,
                             const core::IpAddress& src, const core::IpAddress& dst,
                             core::Timestamp now) {
  std::lock_guard lock(mutex_);
  Entry& e = entry(rule, rate.track, src, dst, now);
  const auto window = std::chrono::seconds(rate.seconds);
  if (e.count == 0 || now >= e.window_end) {
    e.window_end = now + window;
    e.count = 0;
    e.alerts = 0;
  }
  ++e.count;
  bool alert = false;
  switch (rate.kind) {
    case rules::AlertRate::Kind::kLimit:
      alert = e.count <= rate.count;
      break;
    case rules::AlertRate::Kind::kThreshold:
      // Every count-th match within the window alerts; the count starts over after it.
      alert = e.count >= rate.count;
      if (alert) e.count = 0, e.window_end = now + window;
      break;
    case rules::AlertRate::Kind::kBoth:
      alert = e.count >= rate.count && e.alerts == 0;
      break;
    case rules::AlertRate::Kind::kDetectionFilter:
      alert = e.count > rate.count;
      break;
  }
  if (alert) ++e.alerts;
  return alert;
}

std::optional<rules::Action> AlertRateTracker::rate_filter(uint32_t rule,
                                                           const rules::RateFilter& filter,
                                                           const core::IpAddress& src,
                                                           const core::IpAddress& dst,
                                                           core::Timestamp now) {
  // Filters live in the same table as thresholds: a rule has one or the other (threshold.config
  // ignores a rate_filter for a rule with its own threshold).
  std::lock_guard lock(mutex_);
  Entry& e = entry(rule, filter.track, src, dst, now);
  if (now < e.active_until) return filter.new_action;
  const auto window = std::chrono::seconds(filter.seconds);
  if (e.count == 0 || now >= e.window_end) {
    e.window_end = now + window;
    e.count = 0;
  }
  if (++e.count <= filter.count) return std::nullopt;
  // Exceeded: this match and those of the next `timeout` seconds take the new action; counting
  // starts over afterwards.
  e.active_until = now + std::chrono::seconds(filter.timeout);
  e.window_end = std::max(e.window_end, e.active_until);
  e.count = 0;
  return filter.new_action;
}

// Full: entries whose window has passed go first; if none has, the table starts over (an alert
// may then repeat early, which is better than growing without bound under a flood of sources).
void AlertRateTracker::make_room(core::Timestamp now) {
  const size_t before = entries_.size();
  std::erase_if(entries_, [&](const auto& kv) { return now >= kv.second.window_end; });
  if (entries_.size() >= max_entries_) entries_.clear();
  evicted_ += before - entries_.size();
}

}  // namespace spanguard::detect
