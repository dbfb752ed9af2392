// The Hyperscan wrappers: streaming matches straddle writes, literals keep NUL bytes, and a refused
// pattern is named by its index.
#include "spanguard/detect/hyperscan.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace spanguard::detect::hyperscan {
namespace {

struct Hit {
  unsigned id;
  unsigned long long to;
};

int collect(unsigned id, unsigned long long, unsigned long long to, unsigned, void* ctx) {
  static_cast<std::vector<Hit>*>(ctx)->push_back({id, to});
  return 0;
}

TEST(Hyperscan, StreamingMatchStraddlesWrites) {
  const Pattern patterns[] = {
      {.expression = "evil", .flags = HS_FLAG_CASELESS, .id = 7, .literal = true}};
  Database db = compile(patterns, HS_MODE_STREAM);
  Scratch scratch;
  grow_scratch(scratch, db.get());
  hs_stream_t* raw = nullptr;
  ASSERT_EQ(hs_open_stream(db.get(), 0, &raw), HS_SUCCESS);
  Stream stream(raw);
  std::vector<Hit> hits;
  for (const char* part : {"xxE", "v", "IL yy"}) {
    ASSERT_EQ(hs_scan_stream(stream.get(), part, static_cast<unsigned>(std::strlen(part)), 0,
                             scratch.get(), collect, &hits),
              HS_SUCCESS);
  }
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, 7u);
  EXPECT_EQ(hits[0].to, 6u);  // end offset counted from the start of the stream
  EXPECT_GT(stream_state_bytes(db.get()), 0u);
  EXPECT_GT(database_bytes(db.get()), 0u);
}

TEST(Hyperscan, LiteralsMayContainNulBytes) {
  const Pattern patterns[] = {{.expression = std::string("a\0b", 3), .id = 1, .literal = true}};
  Database db = compile(patterns, HS_MODE_BLOCK);
  Scratch scratch;
  grow_scratch(scratch, db.get());
  std::vector<Hit> hits;
  const char data[] = {'x', 'a', '\0', 'b'};
  ASSERT_EQ(hs_scan(db.get(), data, sizeof data, 0, scratch.get(), collect, &hits), HS_SUCCESS);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].to, 4u);
}

TEST(Hyperscan, OffsetBoundsRestrictWhereAMatchMayEnd) {
  const Pattern patterns[] = {{.expression = "ab", .id = 1, .max_offset = 4}};
  Database db = compile(patterns, HS_MODE_BLOCK);
  Scratch scratch;
  grow_scratch(scratch, db.get());
  std::vector<Hit> hits;
  ASSERT_EQ(hs_scan(db.get(), "xxab ab", 7, 0, scratch.get(), collect, &hits), HS_SUCCESS);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].to, 4u);
}

TEST(Hyperscan, RefusedPatternIsNamedByIndex) {
  const Pattern patterns[] = {{.expression = "fine", .id = 1}, {.expression = "(a)\\1", .id = 2}};
  try {
    compile(patterns, HS_MODE_BLOCK);
    FAIL() << "back-reference accepted";
  } catch (const CompileFailure& e) {
    EXPECT_EQ(e.index(), 1);
    EXPECT_NE(std::string(e.what()).find("Back-references"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace spanguard::detect::hyperscan
