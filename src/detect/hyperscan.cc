// Hyperscan compile and allocation calls with their error paths spelled out.
#include "spanguard/detect/hyperscan.h"

#include <vector>

namespace spanguard::detect::hyperscan {

namespace {

struct CompileErrorFree {
  void operator()(hs_compile_error_t* e) const { hs_free_compile_error(e); }
};

}  // namespace

Database compile(std::span<const Pattern> patterns, unsigned mode) {
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
