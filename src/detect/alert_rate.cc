// Thresholding state: one entry per (rule, tracked addresses), reset when its window has passed.
#include "spanguard/detect/alert_rate.h"

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

bool AlertRateTracker::admit(uint32_t rule, const rules::AlertRate& rate,
                             const core::IpAddress& src, const core::IpAddress& dst,
                             core::Timestamp now) {
  Key key{rule, {}, {}};
  switch (rate.track) {
    case rules::AlertRate::Track::kBySrc:
      key.a = src;
      break;
    case rules::AlertRate::Track::kByDst:
      key.a = dst;
      break;
    case rules::AlertRate::Track::kByRule:
      break;
    case rules::AlertRate::Track::kByBoth:
      key.a = src;
      key.b = dst;
      break;
  }
  if (entries_.size() >= max_entries_ && entries_.find(key) == entries_.end()) make_room(now);
  Entry& e = entries_[key];
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

// Full: entries whose window has passed go first; if none has, the table starts over (an alert
// may then repeat early, which is better than growing without bound under a flood of sources).
void AlertRateTracker::make_room(core::Timestamp now) {
  const size_t before = entries_.size();
  std::erase_if(entries_, [&](const auto& kv) { return now >= kv.second.window_end; });
  if (entries_.size() >= max_entries_) entries_.clear();
  evicted_ += before - entries_.size();
}

}  // namespace spanguard::detect
