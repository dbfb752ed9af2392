// RAII ownership of Hyperscan's C objects (databases, scratch, streams) and a compile call that
// names the pattern at fault. Everything else in detect talks to Hyperscan through these.
#pragma once

#include <hs/hs.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

namespace spanguard::detect::hyperscan {

struct DatabaseFree {
  void operator()(hs_database_t* db) const { hs_free_database(db); }
};
struct ScratchFree {
  void operator()(hs_scratch_t* s) const { hs_free_scratch(s); }
};
struct StreamClose {
  // Closing without scratch or callback discards end-of-stream matches; callers that want them call
  // close_stream() explicitly first.
  void operator()(hs_stream_t* s) const { hs_close_stream(s, nullptr, nullptr, nullptr); }
};

using Database = std::unique_ptr<hs_database_t, DatabaseFree>;
using Scratch = std::unique_ptr<hs_scratch_t, ScratchFree>;
using Stream = std::unique_ptr<hs_stream_t, StreamClose>;

struct Pattern {
  std::string expression;  // a regex, or raw bytes when `literal`
  unsigned flags = 0;      // HS_FLAG_*
  unsigned id = 0;
  bool literal = false;
  // hs_expr_ext bounds on the match's end offset (0 = unbounded); not allowed for literals.
  unsigned long long min_offset = 0;
  unsigned long long max_offset = 0;
};

// A pattern Hyperscan refused: which one (index into the span given to compile) and why.
class CompileFailure : public std::runtime_error {
 public:
  CompileFailure(int index, const std::string& message)
      : std::runtime_error(message), index_(index) {}
  int index() const { return index_; }  // -1 when the failure concerns the whole set

 private:
  int index_;
};

// Compiles `patterns` (all literals, or none) for `mode` (HS_MODE_BLOCK or HS_MODE_STREAM...).
// With a `cache_dir`, a database compiled before for the same patterns, mode, Hyperscan version
// and CPU is read back from there instead (hs_deserialize_database: milliseconds where ET Open
// takes seconds to compile), and a fresh one is written there; a cache file that cannot be read
// or used is ignored and replaced. `from_cache` (optional) says which happened.
Database compile(std::span<const Pattern> patterns, unsigned mode,
                 const std::string& cache_dir = {}, bool* from_cache = nullptr);
// Keeps `cache_dir` within `max_bytes`: removes its least recently used databases (by
// modification time, which compile() renews on every use) until the *.hsdb files there take at
// most that, never one used or written at or after `in_use_since` (the rule set being built).
// Each rule update leaves a new set of files behind; without this a daily ET Open update adds
// ~7 MB a day for ever. Returns how many files it removed.
size_t prune_cache(const std::string& cache_dir, uint64_t max_bytes,
                   std::filesystem::file_time_type in_use_since);
// Scratch sized for every database passed in turn (hs_alloc_scratch grows an existing one).
void grow_scratch(Scratch& scratch, const hs_database_t* db);

size_t database_bytes(const hs_database_t* db);
size_t stream_state_bytes(const hs_database_t* db);  // per open stream (0 for block databases)

}  // namespace spanguard::detect::hyperscan
