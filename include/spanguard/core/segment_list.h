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

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <memory_resource>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace spanguard::core {

enum class OverlapPolicy : uint8_t { kFirst, kLast, kBsd, kLinux, kWindows };

// "first", "last", "bsd", "linux", "windows".
std::optional<OverlapPolicy> parse_overlap_policy(std::string_view name);
inline constexpr std::string_view kOverlapPolicyChoices = "first|last|bsd|linux|windows";

// What the segment lists of one thread draw their memory from: fixed-size chunks kept on a free
// list, and a pool for tree nodes, so that a list in its steady state never calls the allocator.
// Not thread-safe: one per worker (or per defragmenter), outliving every list that uses it.
class SegmentStore {
 public:
  // 2 KiB: a full-size Ethernet segment (1460 bytes) fits one chunk and queued 1460-byte segments
  // fill chunks densely, while a lone small segment wastes at most 2 KiB (counted, see
  // SegmentList::memory). Smaller chunks would double the tree nodes per queued byte; larger ones
  // would make every sparse out-of-order segment dearer.
  static constexpr size_t kChunkSize = 2048;

  // Up to `max_free_chunks` released chunks are kept for reuse; beyond that they are freed.
  explicit SegmentStore(size_t max_free_chunks = 2048);
  SegmentStore(const SegmentStore&) = delete;
  SegmentStore& operator=(const SegmentStore&) = delete;

  // Chunks obtained from the allocator so far (not from the free list): the test of "no allocation
  // per segment in the steady state".
  uint64_t chunks_allocated() const { return chunks_allocated_; }
  // Segments examined by inserts and lookups: the test of "no whole-list work per segment".
  uint64_t segments_visited() const { return segments_visited_; }

 private:
  friend class SegmentList;
  using Chunk = std::array<uint8_t, kChunkSize>;
  std::unique_ptr<Chunk> acquire();
  void release(std::unique_ptr<Chunk> chunk);

  size_t max_free_chunks_;
  std::vector<std::unique_ptr<Chunk>> free_chunks_;
  std::pmr::unsynchronized_pool_resource nodes_;
  std::vector<std::pair<uint64_t, uint64_t>> pieces_;  // scratch of SegmentList::insert
  uint64_t chunks_allocated_ = 0;
  uint64_t segments_visited_ = 0;
};

// Segment boundaries live in an ordered tree (start -> end), so an insert or a lookup costs
// O(log n) plus the segments it actually overlaps. The bytes are stored by position, in the
// store's chunks (chunk i holds offsets [i * kChunkSize, (i + 1) * kChunkSize)): an overlap the
// new segment wins is an overwrite in place, a segment split by the policy keeps its bytes where
// they are, and holes take no memory beyond the chunks their neighbours touch.
class SegmentList {
 public:
  struct Range {
    uint64_t start;
    uint64_t end;
  };
  struct InsertResult {
    bool overlapped = false;  // the new bytes met queued ones
    bool mismatch = false;    // ... and some differed
    uint64_t added = 0;       // bytes now held that were not before
    uint64_t removed = 0;     // queued bytes the new segment displaced
    uint64_t refused = 0;     // new bytes not kept: their memory would exceed `budget`
  };
  // Memory of one segment's tree node and of one chunk with its tree node (libstdc++'s red-black
  // node: colour, three links, then the value).
  static constexpr uint64_t kSegmentOverhead =
      sizeof(std::pair<const uint64_t, uint64_t>) + 4 * sizeof(void*);
  static constexpr uint64_t kChunkFootprint =
      SegmentStore::kChunkSize + sizeof(std::pair<const uint64_t, void*>) + 4 * sizeof(void*);

  explicit SegmentList(SegmentStore& store);
  ~SegmentList();
  SegmentList(const SegmentList&) = delete;
  SegmentList& operator=(const SegmentList&) = delete;

  // Merges [start, start + bytes.size()) under `policy`. Each surviving piece of the new segment
  // is kept only if the memory it adds (its node, the chunks it is the first to touch) fits in
  // `budget` plus what the insert freed; a piece that does not fit is refused whole.
  InsertResult insert(uint64_t start, std::span<const uint8_t> bytes, OverlapPolicy policy,
                      uint64_t budget);

  bool empty() const { return segments_.empty(); }
  size_t size() const { return segments_.size(); }
  Range front() const;
  Range back() const;
  // The bytes of `segment` (one of this list's): a view into a chunk when they lie in one,
  // otherwise copied into `scratch`. Valid until the list or `scratch` next changes.
  std::span<const uint8_t> view(Range segment, std::vector<uint8_t>& scratch) const;
  // Copies the held bytes of [from, from + out.size()) into `out`; holes are left untouched.
  void read(uint64_t from, std::span<uint8_t> out) const;
  // Drops the first segment, and the chunks that no segment needs any more.
  void pop_front();
  // Bytes held (data only).
  uint64_t bytes() const { return bytes_; }
  // Memory held: segment nodes plus whole chunks (their unused parts included).
  uint64_t memory() const {
    return segments_.size() * kSegmentOverhead + chunks_.size() * kChunkFootprint;
  }
  // Offset where the run of bytes contiguous from `from` ends (`from` itself when nothing starts
  // there).
  uint64_t contiguous_end(uint64_t from) const;
  void clear();

 private:
  using Chunks = std::pmr::map<uint64_t, std::unique_ptr<SegmentStore::Chunk>>;
  // Chunks [first, last] that are not allocated yet.
  uint64_t missing_chunks(uint64_t first, uint64_t last) const;
  void write(uint64_t from, std::span<const uint8_t> bytes);
  bool equal(uint64_t from, std::span<const uint8_t> bytes) const;
  void release_chunks_before(uint64_t offset);
  void release_all_chunks();

  SegmentStore* store_;
  std::pmr::map<uint64_t, uint64_t> segments_;  // start -> end
  Chunks chunks_;                               // chunk index -> bytes
  uint64_t bytes_ = 0;
};

}  // namespace spanguard::core
