// The Hyperscan wrappers: streaming matches straddle writes, literals keep NUL bytes, and a refused
// pattern is named by its index.
#include "spanguard/detect/hyperscan.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
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

// Ids matched by `db` in `data` (block mode).
std::vector<unsigned> ids_in(const Database& db, const std::string& data) {
  Scratch scratch;
  grow_scratch(scratch, db.get());
  std::vector<Hit> hits;
  EXPECT_EQ(hs_scan(db.get(), data.data(), static_cast<unsigned>(data.size()), 0, scratch.get(),
                    collect, &hits),
            HS_SUCCESS);
  std::vector<unsigned> ids;
  for (const Hit& h : hits) ids.push_back(h.id);
  return ids;
}

// The on-disk cache: a database compiled once is read back for the same patterns (shown by
// planting another set's database under the first set's key: the cache, not a compile, answers),
// a different pattern set gets its own file, and a file that cannot be used is replaced.
TEST(Hyperscan, CompiledDatabasesAreCachedOnDiskByTheirPatterns) {
  const std::string dir = ::testing::TempDir() + "sg-hs-cache-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  const Pattern one[] = {{.expression = "alpha", .id = 1, .literal = true}};
  const Pattern two[] = {{.expression = "beta", .id = 2, .literal = true}};
  bool cached = true;
  const Database first = compile(one, HS_MODE_BLOCK, dir, &cached);
  EXPECT_FALSE(cached);
  ASSERT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
  const std::filesystem::path file_one = std::filesystem::directory_iterator(dir)->path();
  const Database again = compile(one, HS_MODE_BLOCK, dir, &cached);
  EXPECT_TRUE(cached);
  EXPECT_EQ(ids_in(again, "xx alpha xx"), std::vector<unsigned>{1});

  const Database other = compile(two, HS_MODE_BLOCK, dir, &cached);
  EXPECT_FALSE(cached);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 2);
  // Plant the second set's file under the first set's name: now the first set's compile returns
  // a database matching "beta" — it came from the cache.
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path() != file_one)
      std::filesystem::copy_file(entry.path(), file_one,
                                 std::filesystem::copy_options::overwrite_existing);
  }
  const Database planted = compile(one, HS_MODE_BLOCK, dir, &cached);
  EXPECT_TRUE(cached);
  EXPECT_EQ(ids_in(planted, "alpha beta"), std::vector<unsigned>{2});
  // The mode is part of the key: a streaming database of the same patterns is compiled.
  compile(one, HS_MODE_STREAM, dir, &cached);
  EXPECT_FALSE(cached);

  // A truncated file is ignored, compiled over, and replaced by a good one.
  std::ofstream(file_one, std::ios::trunc) << "not a database";
  const Database rebuilt = compile(one, HS_MODE_BLOCK, dir, &cached);
  EXPECT_FALSE(cached);
  EXPECT_EQ(ids_in(rebuilt, "alpha"), std::vector<unsigned>{1});
  compile(one, HS_MODE_BLOCK, dir, &cached);
  EXPECT_TRUE(cached);
  std::filesystem::remove_all(dir);
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
// Each rule update leaves its databases behind: beyond detect.cache_max_bytes the least recently
// used ones go, never those of the rule set being built.
TEST(Hyperscan, TheCacheKeepsWithinItsSizeDroppingTheLeastRecentlyUsed) {
  namespace fs = std::filesystem;
  const std::string dir = ::testing::TempDir() + "sg-hs-prune-" + std::to_string(::getpid());
  fs::remove_all(dir);
  const Pattern sets[3][1] = {{{.expression = "alpha", .id = 1, .literal = true}},
                              {{.expression = "beta", .id = 2, .literal = true}},
                              {{.expression = "gamma", .id = 3, .literal = true}}};
  std::vector<fs::path> files;
  for (const auto& set : sets) {
    compile(set, HS_MODE_BLOCK, dir);
    for (const auto& e : fs::directory_iterator(dir)) {
      if (std::find(files.begin(), files.end(), e.path()) == files.end()) files.push_back(e.path());
    }
  }
  ASSERT_EQ(files.size(), 3u);
  // Ages: alpha used last (read back now), beta oldest.
  const auto now = fs::file_time_type::clock::now();
  fs::last_write_time(files[0], now - std::chrono::hours(2));
  fs::last_write_time(files[1], now - std::chrono::hours(3));
  fs::last_write_time(files[2], now - std::chrono::hours(1));
  bool cached = false;
  compile(sets[0], HS_MODE_BLOCK, dir, &cached);  // a hit renews alpha
  ASSERT_TRUE(cached);
  const uint64_t one = fs::file_size(files[0]);
  // Room for about two: beta (least recently used) goes, alpha and gamma stay.
  EXPECT_EQ(prune_cache(dir, 2 * one + one / 2, now), 1u);
  EXPECT_TRUE(fs::exists(files[0]));
  EXPECT_FALSE(fs::exists(files[1]));
  EXPECT_TRUE(fs::exists(files[2]));
  // Nothing used since `now` is ever removed, over the size or not: alpha stays.
  EXPECT_EQ(prune_cache(dir, 1, now), 1u);
  EXPECT_TRUE(fs::exists(files[0]));
  EXPECT_FALSE(fs::exists(files[2]));
  fs::remove_all(dir);
}

}  // namespace spanguard::detect::hyperscan
