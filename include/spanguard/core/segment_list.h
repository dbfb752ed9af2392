// Sorted, non-overlapping byte segments of one sequence space (a TCP direction's queue, an IP
// datagram's fragments), and the target-based policies that decide overlaps, after Novak's
// "Target-Based Fragmentation Reassembly" (2005) and Snort's stream5/frag3. "Original" is data that
// arrived first, "new" the segment arriving now:
//   first:   the original data always wins.
//   last:    the new data always wins.
//   bsd:     the original wins, unless the new segment starts before it (then the new one wins).
//   linux:   as bsd, and the new segment also wins when both start at the same offset.
//   windows: the original wins, unless the new segment covers it completely and reaches past both
//            of its ends.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace spanguard::core {

enum class OverlapPolicy : uint8_t { kFirst, kLast, kBsd, kLinux, kWindows };

// "first", "last", "bsd", "linux", "windows".
std::optional<OverlapPolicy> parse_overlap_policy(std::string_view name);
inline constexpr std::string_view kOverlapPolicyChoices = "first|last|bsd|linux|windows";

class SegmentList {
 public:
  struct Segment {
    uint64_t start;
    std::vector<uint8_t> bytes;
    uint64_t end() const { return start + bytes.size(); }
  };
  struct InsertResult {
    bool overlapped = false;  // the new bytes met queued ones
    bool mismatch = false;    // ... and some differed
    uint64_t added = 0;       // bytes now held that were not before (may be taken from `budget`)
    uint64_t removed = 0;     // queued bytes the new segment displaced
    uint64_t refused = 0;     // new bytes not kept: over `budget`
  };

  // Merges [start, start + bytes.size()) under `policy`, keeping at most `budget` new bytes.
  InsertResult insert(uint64_t start, std::span<const uint8_t> bytes, OverlapPolicy policy,
                      uint64_t budget);

  bool empty() const { return segments_.empty(); }
  const Segment& front() const { return segments_.front(); }
  Segment pop_front();
  uint64_t bytes() const { return bytes_; }
  const std::vector<Segment>& segments() const { return segments_; }
  // Offset where the run of bytes contiguous from `from` ends (`from` itself when nothing starts
  // there).
  uint64_t contiguous_end(uint64_t from) const;
  void clear();

 private:
  std::vector<Segment> segments_;
  uint64_t bytes_ = 0;
};

}  // namespace spanguard::core
