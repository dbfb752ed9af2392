// Overlap resolution shared by TCP reassembly and IP defragmentation, over a tree of segment
// boundaries and position-addressed chunks of bytes.
#include "spanguard/core/segment_list.h"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace spanguard::core {

namespace {

constexpr uint64_t kChunk = SegmentStore::kChunkSize;

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

SegmentStore::SegmentStore(size_t max_free_chunks) : max_free_chunks_(max_free_chunks) {}

std::unique_ptr<SegmentStore::Chunk> SegmentStore::acquire() {
  if (!free_chunks_.empty()) {
    std::unique_ptr<Chunk> c = std::move(free_chunks_.back());
    free_chunks_.pop_back();
    return c;
  }
  ++chunks_allocated_;
  return std::make_unique_for_overwrite<Chunk>();
}

void SegmentStore::release(std::unique_ptr<Chunk> chunk) {
  if (free_chunks_.size() < max_free_chunks_) free_chunks_.push_back(std::move(chunk));
}

SegmentList::SegmentList(SegmentStore& store)
    : store_(&store), segments_(&store.nodes_), chunks_(&store.nodes_) {}

SegmentList::~SegmentList() { clear(); }

SegmentList::Range SegmentList::front() const {
  const auto& [start, end] = *segments_.begin();
  return {start, end};
}

SegmentList::Range SegmentList::back() const {
  const auto& [start, end] = *segments_.rbegin();
  return {start, end};
}

uint64_t SegmentList::missing_chunks(uint64_t first, uint64_t last) const {
  uint64_t present = 0;
  for (auto it = chunks_.lower_bound(first); it != chunks_.end() && it->first <= last; ++it) {
    ++present;
  }
  return last - first + 1 - present;
}

void SegmentList::write(uint64_t from, std::span<const uint8_t> bytes) {
  auto it = chunks_.lower_bound(from / kChunk);
  while (!bytes.empty()) {
    const uint64_t index = from / kChunk;
    if (it == chunks_.end() || it->first != index) {
      it = chunks_.emplace_hint(it, index, store_->acquire());
    }
    const size_t at = from % kChunk;
    const size_t n = std::min<size_t>(bytes.size(), kChunk - at);
    std::memcpy(it->second->data() + at, bytes.data(), n);
    bytes = bytes.subspan(n);
    from += n;
    ++it;
  }
}

bool SegmentList::equal(uint64_t from, std::span<const uint8_t> bytes) const {
  auto it = chunks_.find(from / kChunk);
  while (!bytes.empty()) {
    const size_t at = from % kChunk;
    const size_t n = std::min<size_t>(bytes.size(), kChunk - at);
    if (std::memcmp(it->second->data() + at, bytes.data(), n) != 0) return false;
    bytes = bytes.subspan(n);
    from += n;
    ++it;
  }
  return true;
}

void SegmentList::read(uint64_t from, std::span<uint8_t> out) const {
  auto seg = segments_.upper_bound(from);
  if (seg != segments_.begin() && std::prev(seg)->second > from) --seg;
  const uint64_t to = from + out.size();
  for (; seg != segments_.end() && seg->first < to; ++seg) {
    uint64_t at = std::max(from, seg->first);
    const uint64_t end = std::min(to, seg->second);
    auto chunk = chunks_.find(at / kChunk);
    while (at < end) {
      const size_t in = at % kChunk;
      const size_t n = std::min<uint64_t>(end - at, kChunk - in);
      std::memcpy(out.data() + (at - from), chunk->second->data() + in, n);
      at += n;
      ++chunk;
    }
  }
}

std::span<const uint8_t> SegmentList::view(Range segment, std::vector<uint8_t>& scratch) const {
  const uint64_t len = segment.end - segment.start;
  if (segment.start / kChunk == (segment.end - 1) / kChunk) {
    return {chunks_.find(segment.start / kChunk)->second->data() + segment.start % kChunk, len};
  }
  scratch.resize(len);
  read(segment.start, scratch);
  return scratch;
}

SegmentList::InsertResult SegmentList::insert(uint64_t start, std::span<const uint8_t> bytes,
                                              OverlapPolicy policy, uint64_t budget) {
  InsertResult r;
  if (bytes.empty()) return r;
  const uint64_t end = start + bytes.size();
  // The first segment that may overlap: the last one starting at or before `start`, or the next.
  auto it = segments_.upper_bound(start);
  if (it != segments_.begin() && std::prev(it)->second > start) --it;

  // Only `last` lets a new segment win over an original that surrounds it: the original is split
  // in two around it, which takes a node more. Checked before anything changes, so that the
  // memcap holds; it is the only original such a segment can overlap.
  if (it != segments_.end() && it->first < start && it->second > end &&
      new_wins(policy, start, end, it->first, it->second) && 2 * kSegmentOverhead > budget) {
    ++store_->segments_visited_;
    r.overlapped = true;
    r.mismatch = !equal(start, bytes);
    r.refused = bytes.size();
    return r;
  }

  // The parts of the new segment that survive, as [from, to): the new segment less the originals
  // that win over it.
  std::vector<std::pair<uint64_t, uint64_t>>& pieces = store_->pieces_;
  pieces.clear();
  uint64_t cursor = start;
  uint64_t freed = 0;  // memory given back by originals the new segment displaced
  uint64_t used = 0;
  while (it != segments_.end() && it->first < end) {
    ++store_->segments_visited_;
    const uint64_t old_start = it->first, old_end = it->second;
    r.overlapped = true;
    const uint64_t lo = std::max(start, old_start), hi = std::min(end, old_end);
    if (!r.mismatch && !equal(lo, bytes.subspan(lo - start, hi - lo))) r.mismatch = true;
    if (new_wins(policy, start, end, old_start, old_end)) {
      // The original keeps only what lies outside the new segment; its bytes stay in place.
      r.removed += hi - lo;
      if (old_start < start) {
        it->second = start;
        ++it;
      } else {
        it = segments_.erase(it);
        freed += kSegmentOverhead;
      }
      if (old_end > end) {
        it = segments_.emplace_hint(it, end, old_end);
        used += kSegmentOverhead;
      }
      continue;
    }
    // The new segment keeps only what lies outside the original.
    if (old_start > cursor) pieces.emplace_back(cursor, old_start);
    cursor = std::max(cursor, old_end);
    ++it;
  }
  if (cursor < end) pieces.emplace_back(cursor, end);

  for (const auto& [from, to] : pieces) {
    const uint64_t cost =
        kSegmentOverhead + missing_chunks(from / kChunk, (to - 1) / kChunk) * kChunkFootprint;
    const uint64_t room = budget + freed - std::min(budget + freed, used);
    if (cost > room) {
      r.refused += to - from;
      continue;
    }
    write(from, bytes.subspan(from - start, to - from));
    segments_.emplace(from, to);
    used += cost;
    r.added += to - from;
  }
  bytes_ = bytes_ + r.added - r.removed;
  return r;
}

void SegmentList::release_chunks_before(uint64_t offset) {
  const uint64_t keep_from = offset / kChunk;
  while (!chunks_.empty() && chunks_.begin()->first < keep_from) {
    store_->release(std::move(chunks_.begin()->second));
    chunks_.erase(chunks_.begin());
  }
}

void SegmentList::pop_front() {
  const auto first = segments_.begin();
  bytes_ -= first->second - first->first;
  segments_.erase(first);
  if (segments_.empty()) {
    release_all_chunks();
  } else {
    release_chunks_before(segments_.begin()->first);
  }
}

uint64_t SegmentList::contiguous_end(uint64_t from) const {
  auto it = segments_.upper_bound(from);
  if (it != segments_.begin()) --it;
  uint64_t at = from;
  for (; it != segments_.end() && it->first <= at; ++it) {
    ++store_->segments_visited_;
    at = std::max(at, it->second);
  }
  return at;
}

void SegmentList::release_all_chunks() {
  for (auto& [index, chunk] : chunks_) store_->release(std::move(chunk));
  chunks_.clear();
}

void SegmentList::clear() {
  segments_.clear();
  release_all_chunks();
  bytes_ = 0;
}

}  // namespace spanguard::core
