// Overlap resolution shared by TCP reassembly and IP defragmentation.
#include "spanguard/core/segment_list.h"

#include <algorithm>
#include <cstring>

namespace spanguard::core {

namespace {

bool new_wins(OverlapPolicy p, uint64_t new_start, uint64_t new_end, uint64_t old_start,
              uint64_t old_end) {
  switch (p) {
    case OverlapPolicy::kFirst:
      return false;
    case OverlapPolicy::kLast:
      return true;
    case OverlapPolicy::kBsd:
      return new_start < old_start;
    case OverlapPolicy::kLinux:
      return new_start <= old_start;
    case OverlapPolicy::kWindows:
      return new_start < old_start && new_end > old_end;
  }
  return false;
}

}  // namespace

std::optional<OverlapPolicy> parse_overlap_policy(std::string_view name) {
  if (name == "first") return OverlapPolicy::kFirst;
  if (name == "last") return OverlapPolicy::kLast;
  if (name == "bsd") return OverlapPolicy::kBsd;
  if (name == "linux") return OverlapPolicy::kLinux;
  if (name == "windows") return OverlapPolicy::kWindows;
  return std::nullopt;
}

SegmentList::InsertResult SegmentList::insert(uint64_t start, std::span<const uint8_t> bytes,
                                              OverlapPolicy policy, uint64_t budget) {
  InsertResult r;
  const uint64_t end = start + bytes.size();
  // The parts of the new segment that survive, as [from, to) offsets.
  std::vector<std::pair<uint64_t, uint64_t>> pieces{{start, end}};
  std::vector<Segment> kept;
  kept.reserve(segments_.size() + 2);
  for (Segment& old : segments_) {
    if (old.end() <= start || old.start >= end) {
      kept.push_back(std::move(old));
      continue;
    }
    r.overlapped = true;
    const uint64_t lo = std::max(start, old.start), hi = std::min(end, old.end());
    if (std::memcmp(bytes.data() + (lo - start), old.bytes.data() + (lo - old.start), hi - lo) !=
        0) {
      r.mismatch = true;
    }
    if (new_wins(policy, start, end, old.start, old.end())) {
      // The original keeps only what lies outside the new segment.
      r.removed += hi - lo;
      const auto at = [&](uint64_t off) {
        return old.bytes.begin() + static_cast<long>(off - old.start);
      };
      if (old.start < start)
        kept.push_back({old.start, std::vector<uint8_t>(old.bytes.begin(), at(start))});
      if (old.end() > end) kept.push_back({end, std::vector<uint8_t>(at(end), old.bytes.end())});
      continue;
    }
    // The new segment keeps only what lies outside the original.
    std::vector<std::pair<uint64_t, uint64_t>> cut;
    for (const auto& [from, to] : pieces) {
      if (to <= old.start || from >= old.end()) {
        cut.emplace_back(from, to);
        continue;
      }
      if (from < old.start) cut.emplace_back(from, old.start);
      if (to > old.end()) cut.emplace_back(old.end(), to);
    }
    pieces = std::move(cut);
    kept.push_back(std::move(old));
  }
  for (const auto& [from, to] : pieces) {
    // Bytes displaced from originals free room for the new ones.
    const uint64_t room = budget + r.removed - std::min(budget + r.removed, r.added);
    if (to - from > room) {
      r.refused += to - from;
      continue;
    }
    kept.push_back({from, std::vector<uint8_t>(bytes.begin() + static_cast<long>(from - start),
                                               bytes.begin() + static_cast<long>(to - start))});
    r.added += to - from;
  }
  std::sort(kept.begin(), kept.end(),
            [](const Segment& a, const Segment& b) { return a.start < b.start; });
  segments_ = std::move(kept);
  bytes_ = bytes_ + r.added - r.removed;
  return r;
}

SegmentList::Segment SegmentList::pop_front() {
  Segment s = std::move(segments_.front());
  segments_.erase(segments_.begin());
  bytes_ -= s.bytes.size();
  return s;
}

uint64_t SegmentList::contiguous_end(uint64_t from) const {
  uint64_t at = from;
  for (const Segment& s : segments_) {
    if (s.start > at) break;
    at = std::max(at, s.end());
  }
  return at;
}

void SegmentList::clear() {
  segments_.clear();
  segments_.shrink_to_fit();
  bytes_ = 0;
}

}  // namespace spanguard::core
