// The segment list on its own: what each policy keeps, what memory a segment is charged for, and
// that the work per segment does not grow with the number of segments queued.
#include "spanguard/core/segment_list.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace spanguard::core {
namespace {

constexpr uint64_t kUnlimited = UINT64_MAX / 2;

std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// The held bytes of [0, end) with holes as '.'.
std::string contents(const SegmentList& list, uint64_t end) {
  std::string out(end, '.');
  list.read(0, std::span(reinterpret_cast<uint8_t*>(out.data()), out.size()));
  return out;
}

// The segments' boundaries, in order; the list is consumed.
std::vector<std::pair<uint64_t, uint64_t>> boundaries(SegmentList& list) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  while (!list.empty()) {
    out.emplace_back(list.front().start, list.front().end);
    list.pop_front();
  }
  return out;
}

TEST(SegmentList, PoliciesKeepTheDocumentedBytes) {
  // Original "AAAAAAAA" at 6..14, the new segment over it.
  const auto result = [](OverlapPolicy p, uint64_t at, std::string_view fresh) {
    SegmentStore store;
    SegmentList list(store);
    list.insert(6, bytes_of("AAAAAAAA"), p, kUnlimited);
    list.insert(at, bytes_of(fresh), p, kUnlimited);
    return contents(list, 18);
  };
  EXPECT_EQ(result(OverlapPolicy::kFirst, 4, "nnnnnn"), "....nnAAAAAAAA....");
  EXPECT_EQ(result(OverlapPolicy::kLast, 4, "nnnnnn"), "....nnnnnnAAAA....");
  EXPECT_EQ(result(OverlapPolicy::kBsd, 4, "nnnnnn"), "....nnnnnnAAAA....");
  EXPECT_EQ(result(OverlapPolicy::kLinux, 6, "nnnn"), "......nnnnAAAA....");
  EXPECT_EQ(result(OverlapPolicy::kBsd, 6, "nnnn"), "......AAAAAAAA....");
  EXPECT_EQ(result(OverlapPolicy::kWindows, 4, "nnnnnn"), "....nnAAAAAAAA....");
  EXPECT_EQ(result(OverlapPolicy::kWindows, 4, "nnnnnnnnnnnn"), "....nnnnnnnnnnnn..");
  EXPECT_EQ(result(OverlapPolicy::kLast, 8, "nn"), "......AAnnAAAA....");
}

TEST(SegmentList, PiecesKeepTheirOwnBoundaries) {
  // bsd: an original wins over a new segment starting inside it; the new one is cut around it.
  SegmentStore store;
  SegmentList list(store);
  list.insert(10, bytes_of("oooo"), OverlapPolicy::kBsd, kUnlimited);
  const SegmentList::InsertResult r =
      list.insert(12, bytes_of("nnnnnnnn"), OverlapPolicy::kBsd, kUnlimited);
  EXPECT_TRUE(r.overlapped);
  EXPECT_TRUE(r.mismatch);
  EXPECT_EQ(r.added, 6u);
  EXPECT_EQ(list.bytes(), 10u);
  // `last` splits an original around a new segment inside it.
  list.insert(18, bytes_of("x"), OverlapPolicy::kLast, kUnlimited);
  EXPECT_EQ(contents(list, 20), "..........oooonnnnxn");
  EXPECT_EQ(boundaries(list),
            (std::vector<std::pair<uint64_t, uint64_t>>{{10, 14}, {14, 18}, {18, 19}, {19, 20}}));
}

TEST(SegmentList, MemoryCountsNodesAndWholeChunks) {
  SegmentStore store;
  SegmentList list(store);
  list.insert(5, bytes_of("a"), OverlapPolicy::kBsd, kUnlimited);
  EXPECT_EQ(list.memory(), SegmentList::kSegmentOverhead + SegmentList::kChunkFootprint);
  EXPECT_GT(SegmentList::kChunkFootprint, SegmentStore::kChunkSize);
  // A second byte in the same chunk costs only its node; one straddling a boundary two chunks.
  list.insert(6, bytes_of("b"), OverlapPolicy::kBsd, kUnlimited);
  EXPECT_EQ(list.memory(), 2 * SegmentList::kSegmentOverhead + SegmentList::kChunkFootprint);
  const std::string straddling(100, 's');
  list.insert(3 * SegmentStore::kChunkSize - 50, bytes_of(straddling), OverlapPolicy::kBsd,
              kUnlimited);
  EXPECT_EQ(list.memory(), 3 * SegmentList::kSegmentOverhead + 3 * SegmentList::kChunkFootprint);
  EXPECT_EQ(list.bytes(), 102u);
  // Its bytes come back whole, copied across the boundary.
  std::vector<uint8_t> scratch;
  const SegmentList::Range back = list.back();
  const std::span<const uint8_t> v = list.view(back, scratch);
  EXPECT_EQ(std::string(v.begin(), v.end()), straddling);
  list.clear();
  EXPECT_EQ(list.memory(), 0u);
}

TEST(SegmentList, APieceWhoseMemoryExceedsTheBudgetIsRefused) {
  SegmentStore store;
  SegmentList list(store);
  const uint64_t one = SegmentList::kSegmentOverhead + SegmentList::kChunkFootprint;
  SegmentList::InsertResult r = list.insert(0, bytes_of("abc"), OverlapPolicy::kBsd, one - 1);
  EXPECT_EQ(r.refused, 3u);
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.memory(), 0u);
  r = list.insert(0, bytes_of("abc"), OverlapPolicy::kBsd, one);
  EXPECT_EQ(r.added, 3u);
  // In the chunk already held, a node is all the next one needs.
  r = list.insert(10, bytes_of("d"), OverlapPolicy::kBsd, SegmentList::kSegmentOverhead);
  EXPECT_EQ(r.added, 1u);
  EXPECT_EQ(list.memory(), 2 * SegmentList::kSegmentOverhead + SegmentList::kChunkFootprint);
  // `last` splitting an original needs two nodes: without them nothing changes.
  r = list.insert(1, bytes_of("X"), OverlapPolicy::kLast, SegmentList::kSegmentOverhead);
  EXPECT_EQ(r.refused, 1u);
  EXPECT_TRUE(r.mismatch);
  EXPECT_EQ(contents(list, 11), "abc.......d");
}

// 20,000 one-byte segments in reverse, then in random order: each insert looks at the segments it
// touches, not at the whole list, and the bytes are chunked, not one allocation each.
TEST(SegmentList, AFloodOfOneByteSegmentsCostsWorkAndMemoryPerSegment) {
  constexpr uint64_t kCount = 20000;
  std::string expected(kCount, '\0');
  for (uint64_t i = 0; i < kCount; ++i) expected[i] = static_cast<char>('a' + i % 26);
  std::vector<uint64_t> order(kCount);
  std::iota(order.rbegin(), order.rend(), 0);  // reverse
  for (int pass = 0; pass < 2; ++pass) {
    SegmentStore store;
    SegmentList list(store);
    for (uint64_t at : order) {
      const SegmentList::InsertResult r = list.insert(
          at, bytes_of(std::string_view(expected).substr(at, 1)), OverlapPolicy::kBsd, kUnlimited);
      ASSERT_EQ(r.added, 1u);
    }
    // Every third byte again: an overlap with one original each.
    for (uint64_t at = 0; at < kCount; at += 3) {
      const SegmentList::InsertResult r = list.insert(
          at, bytes_of(std::string_view(expected).substr(at, 1)), OverlapPolicy::kBsd, kUnlimited);
      ASSERT_TRUE(r.overlapped);
      ASSERT_FALSE(r.mismatch);
    }
    EXPECT_LE(store.segments_visited(), kCount / 3 + 1);
    EXPECT_EQ(list.bytes(), kCount);
    EXPECT_EQ(list.size(), kCount);
    const uint64_t chunks = (kCount + SegmentStore::kChunkSize - 1) / SegmentStore::kChunkSize;
    EXPECT_EQ(store.chunks_allocated(), chunks);
    EXPECT_EQ(list.memory(),
              kCount * SegmentList::kSegmentOverhead + chunks * SegmentList::kChunkFootprint);
    EXPECT_EQ(list.contiguous_end(0), kCount);
    EXPECT_EQ(contents(list, kCount), expected);
    // Consumed from the front, the chunks go back to the store as they are passed.
    std::vector<uint8_t> scratch;
    std::string drained;
    while (!list.empty()) {
      const std::span<const uint8_t> v = list.view(list.front(), scratch);
      drained.append(v.begin(), v.end());
      list.pop_front();
    }
    EXPECT_EQ(drained, expected);
    EXPECT_EQ(list.memory(), 0u);
    std::shuffle(order.begin(), order.end(), std::mt19937(42));
  }
}

TEST(SegmentList, ReleasedChunksAreReusedWithoutAllocating) {
  SegmentStore store;
  const std::string segment(1460, 'z');
  for (int round = 0; round < 100; ++round) {
    SegmentList list(store);
    for (uint64_t i = 8; i > 0; --i) {
      list.insert(i * 1460, bytes_of(segment), OverlapPolicy::kBsd, kUnlimited);
    }
  }
  EXPECT_LE(store.chunks_allocated(), 7u);  // the first round's
}

}  // namespace
}  // namespace spanguard::core
