// Hyperscan compile and allocation calls with their error paths spelled out.
#include "spanguard/detect/hyperscan.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "spanguard/core/log.h"

namespace spanguard::detect::hyperscan {

namespace {

struct CompileErrorFree {
  void operator()(hs_compile_error_t* e) const { hs_free_compile_error(e); }
};

// What decides a database's bytes: the cache file's name is the SHA-256 of it all. The platform
// (CPU features Hyperscan tuned for) and the library version are part of it, so a cache copied to
// another machine or kept across an upgrade is simply not used.
std::string cache_key(std::span<const Pattern> patterns, unsigned mode) {
  std::string text = "spanguard-hs-cache-1\n";
  text += hs_version();
  hs_platform_info_t platform{};
  if (hs_populate_platform(&platform) == HS_SUCCESS) {
    text.append(reinterpret_cast<const char*>(&platform), sizeof platform);
  }
  const auto add = [&text](unsigned long long v) {
    text.append(reinterpret_cast<const char*>(&v), sizeof v);
  };
  add(mode);
  for (const Pattern& p : patterns) {
    add(p.expression.size());
    text += p.expression;
    add(p.flags);
    add(p.id);
    add(p.literal ? 1 : 0);
    add(p.min_offset);
    add(p.max_offset);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name;
  for (unsigned i = 0; i < length; ++i) {
    name += kHex[digest[i] >> 4];
    name += kHex[digest[i] & 15];
  }
  return name + ".hsdb";
}

Database load_cached(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return nullptr;
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  hs_database_t* db = nullptr;
  if (bytes.empty() || hs_deserialize_database(bytes.data(), bytes.size(), &db) != HS_SUCCESS) {
    core::logger("detect")->warn("{}: unusable Hyperscan cache file, compiling again",
                                 file.string());
    return nullptr;
  }
  return Database(db);
}

// Written to a temporary name and renamed: a reader never sees half a file, and two sensors
// compiling the same rules at once just write the same bytes twice.
void store_cached(const std::filesystem::path& file, const hs_database_t* db) {
  char* bytes = nullptr;
  size_t length = 0;
  if (hs_serialize_database(db, &bytes, &length) != HS_SUCCESS) return;
  const std::unique_ptr<char, decltype(&std::free)> owned(bytes, &std::free);
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  const std::filesystem::path temp = file.string() + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(bytes, static_cast<std::streamsize>(length));
    if (!out) {
      core::logger("detect")->warn("{}: cannot write the Hyperscan cache", temp.string());
      std::filesystem::remove(temp, ec);
      return;
    }
  }
  // Stamped with the clock prune_cache() compares with (the file system's is coarser and may lag).
  std::filesystem::last_write_time(temp, std::filesystem::file_time_type::clock::now(), ec);
  std::filesystem::rename(temp, file, ec);
  if (ec) std::filesystem::remove(temp, ec);
}

Database compile_now(std::span<const Pattern> patterns, unsigned mode);

}  // namespace

Database compile(std::span<const Pattern> patterns, unsigned mode, const std::string& cache_dir,
                 bool* from_cache) {
  if (from_cache != nullptr) *from_cache = false;
  if (cache_dir.empty() || patterns.empty()) return compile_now(patterns, mode);
  const std::filesystem::path file = std::filesystem::path(cache_dir) / cache_key(patterns, mode);
  if (Database db = load_cached(file)) {
    if (from_cache != nullptr) *from_cache = true;
    std::error_code ec;  // used now: the last file prune_cache() would take
    std::filesystem::last_write_time(file, std::filesystem::file_time_type::clock::now(), ec);
    return db;
  }
  Database db = compile_now(patterns, mode);
  store_cached(file, db.get());
  return db;
}

size_t prune_cache(const std::string& cache_dir, uint64_t max_bytes,
                   std::filesystem::file_time_type in_use_since) {
  struct Entry {
    std::filesystem::path path;
    std::filesystem::file_time_type used;
    uint64_t bytes;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(cache_dir, ec)) {
    std::error_code ignored;
    if (e.path().extension() != ".hsdb" || !e.is_regular_file(ignored)) continue;
    const uint64_t bytes = e.file_size(ignored);
    entries.push_back({e.path(), e.last_write_time(ignored), bytes});
    total += bytes;
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.used < b.used; });
  size_t removed = 0;
  for (const Entry& e : entries) {
    if (total <= max_bytes || e.used >= in_use_since) break;
    if (std::filesystem::remove(e.path, ec)) {
      total -= e.bytes;
      ++removed;
    }
  }
  if (removed > 0) {
    core::logger("detect")->info(
        "{}: removed {} unused Hyperscan database(s) to stay within {} "
        "bytes (detect.cache_max_bytes)",
        cache_dir, removed, max_bytes);
  }
  if (total > max_bytes) {
    core::logger("detect")->warn(
        "{}: the rule set's Hyperscan databases alone take {} bytes, "
        "over detect.cache_max_bytes ({})",
        cache_dir, total, max_bytes);
  }
  return removed;
}

namespace {

Database compile_now(std::span<const Pattern> patterns, unsigned mode) {
  if (patterns.empty()) throw CompileFailure(-1, "no patterns to compile");
  const bool literal = patterns.front().literal;
  std::vector<const char*> expressions;
  std::vector<size_t> lengths;
  std::vector<unsigned> flags, ids;
  std::vector<hs_expr_ext_t> extensions(patterns.size());
  std::vector<const hs_expr_ext_t*> extension_ptrs;
  for (size_t i = 0; i < patterns.size(); ++i) {
    const Pattern& p = patterns[i];
    if (p.literal != literal) throw CompileFailure(static_cast<int>(i), "literal and regex mixed");
    expressions.push_back(p.expression.c_str());
    lengths.push_back(p.expression.size());
    flags.push_back(p.flags);
    ids.push_back(p.id);
    hs_expr_ext_t& ext = extensions[i];
    ext = {};
    if (p.min_offset != 0) {
      ext.flags |= HS_EXT_FLAG_MIN_OFFSET;
      ext.min_offset = p.min_offset;
    }
    if (p.max_offset != 0) {
      ext.flags |= HS_EXT_FLAG_MAX_OFFSET;
      ext.max_offset = p.max_offset;
    }
    extension_ptrs.push_back(ext.flags != 0 ? &ext : nullptr);
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* raw_error = nullptr;
  const auto count = static_cast<unsigned>(patterns.size());
  const hs_error_t rc =
      literal ? hs_compile_lit_multi(expressions.data(), flags.data(), ids.data(), lengths.data(),
                                     count, mode, nullptr, &db, &raw_error)
              : hs_compile_ext_multi(expressions.data(), flags.data(), ids.data(),
                                     extension_ptrs.data(), count, mode, nullptr, &db, &raw_error);
  std::unique_ptr<hs_compile_error_t, CompileErrorFree> error(raw_error);
  if (rc != HS_SUCCESS) {
    throw CompileFailure(
        error ? error->expression : -1,
        error ? error->message : "hs_compile failed with code " + std::to_string(rc));
  }
  return Database(db);
}

}  // namespace

void grow_scratch(Scratch& scratch, const hs_database_t* db) {
  hs_scratch_t* raw = scratch.release();
  if (hs_alloc_scratch(db, &raw) != HS_SUCCESS) {
    scratch.reset(raw);
    throw std::runtime_error("hs_alloc_scratch failed");
  }
  scratch.reset(raw);
}

size_t database_bytes(const hs_database_t* db) {
  size_t n = 0;
  return hs_database_size(db, &n) == HS_SUCCESS ? n : 0;
}

size_t stream_state_bytes(const hs_database_t* db) {
  size_t n = 0;
  return hs_stream_size(db, &n) == HS_SUCCESS ? n : 0;
}

}  // namespace spanguard::detect::hyperscan
