// A rule set compiled for matching: the Hyperscan databases that nominate candidate rules, and the
// rule table that verifies them. Built once, immutable, shared by every worker.
//
// How rules map onto Hyperscan — literal prefilter + verification, one pattern per rule:
//
//  * Every rule is given one scope. *Stream* rules (TCP, no packet-level keyword) inspect each
//    direction's reassembled byte stream; *packet* rules (`flow:no_stream`, `dsize`, `flags`, UDP,
//    ICMP, `ip`) inspect one packet's payload; *transaction* rules (any sticky buffer such as
//    http.uri) inspect the buffers an application-layer parser fills; *header* rules (no content or
//    pcre at all) are judged on headers alone.
//  * Each stream/packet/transaction rule contributes one pattern: its fast pattern (the content
//    marked `fast_pattern`, else its longest non-negated content) as an escaped literal
//    expression, caseless when `nocase`, with `hs_expr_ext.max_offset` when the content has an
//    absolute depth. A rule without a usable content contributes its first non-negated pcre with
//    HS_FLAG_PREFILTER (Hyperscan then over-approximates it, never misses), and a rule with neither
//    is verified on every inspection of its scope (counted as "unprefiltered"). Identical patterns
//    are shared between rules.
//  * Stream rules are scanned in Hyperscan streaming mode: one small stream state per flow
//    direction finds a fast pattern split across any number of segments. A fast-pattern hit makes
//    the rule a candidate; the verifier (verify.h) then checks every content and pcre over a
//    sliding window of the direction's most recent bytes (detect.stream_window, default 4 KiB,
//    plus the new segment), with offsets measured from the start of the stream.
//  * Why not one Hyperscan pattern per content with logical combinations: content chains depend on
//    positions (distance/within relative to the previous match, with backtracking), which
//    Hyperscan's logical combinations cannot express; per-content streams would also multiply the
//    patterns and the per-flow stream state. Offsets are enforced by the verifier, not by
//    min_offset, because a stream is restarted after a capture gap and Hyperscan's offsets then no
//    longer count from the stream's start; max_offset remains a safe (only ever permissive) filter.
//  * Absolute offsets and depths count from the start of the buffer inspected: for stream rules
//    that is the direction's first byte in the stream database, and — as Snort and Suricata apply
//    them to each packet's payload — the start of each chunk of stream data as it is delivered
//    (a segment, or the segments a late one made contiguous). A stream rule with an anchored
//    content is therefore also nominated by that content from a small block-mode "chunk"
//    database scanned over the first chunk_bound() bytes of every chunk, and verified against the
//    chunk alone; either way it alerts once per flow direction.
//  Measurements behind the choice are in bench/ (detect_bench) and the figures quoted in the
//  project's notes: compile time and database size for 1k/10k/30k rules, state per direction, and
//  replay throughput next to plain Hyperscan scanning the same bytes.
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <vector>

#include "spanguard/core/config.h"
#include "spanguard/detect/alert_rate.h"
#include "spanguard/detect/header_index.h"
#include "spanguard/detect/hyperscan.h"
#include "spanguard/detect/verify.h"
#include "spanguard/detect/xbits.h"
#include "spanguard/rules/parser.h"

namespace spanguard::detect {

struct DetectOptions {
  uint32_t stream_window = 4096;     // bytes of a direction's past kept for verification
  uint32_t backtrack_limit = 5000;   // verification steps per candidate rule
  uint32_t pcre_match_limit = 3500;  // PCRE2 match and depth limits
  uint32_t payload_excerpt = 256;    // bytes of the triggering data in an alert (0: none)
  bool profile_rules = false;        // per-rule checks, matches and verification time
  std::string cache_dir;             // compiled databases kept here across restarts ("": none)
  uint64_t cache_max_bytes = 256ull << 20;  // least recently used ones beyond it are removed
};
const core::ParamSection& detect_params();
DetectOptions detect_options(const core::Config& config);

enum class Scope : uint8_t { kStream, kPacket, kTransaction, kHeader, kCount };
const char* to_string(Scope s);

// Transaction rules run on the message (request, response) their buffers come from.
inline constexpr uint8_t kTxRequest = 1;
inline constexpr uint8_t kTxResponse = 2;

// A flowbits operation with the bit names resolved to the engine's dense ids.
struct CompiledFlowbit {
  rules::FlowbitOp::Cmd cmd;
  std::vector<uint16_t> bits;
  bool any = false;
};

// An xbits operation with its name resolved to the engine's dense id.
struct CompiledXbit {
  rules::FlowbitOp::Cmd cmd;
  uint16_t bit;
  rules::XbitOp::Track track;
  core::Duration lifetime;
};

// A flowint operation with its names resolved to the engine's dense ids (value_id: VALUE given as
// another flowint, else -1).
struct CompiledFlowint {
  rules::FlowintOp::Op op;
  uint16_t id;
  int32_t value_id = -1;
  uint32_t value = 0;
};

struct CompiledRule {
  VerifyProgram program;
  std::vector<CompiledFlowbit> flowbits;
  std::vector<CompiledXbit> xbits;
  std::vector<CompiledFlowint> flowints;
  bool sets_flowbits = false;  // flowbits or xbits set, unset or toggle: runs before the rules
                               // that check
  Scope scope = Scope::kStream;
  bool prefiltered = false;  // nominated by a Hyperscan pattern (else verified every time)
  uint8_t tx_sides = 0;      // transaction rules: kTxRequest and/or kTxResponse
  bool needs_body = false;   // transaction rules: waits for the message's body
  bool waiting = false;      // needs a parser that does not exist: cannot fire
  const rules::Rule& rule() const { return *program.rule; }
};

struct EngineStats {
  size_t rules = 0;
  size_t by_scope[static_cast<size_t>(Scope::kCount)] = {};
  size_t unprefiltered = 0;       // rules verified on every inspection of their scope
  size_t pcre_prefilters = 0;     // rules nominated by a pcre in prefilter mode
  size_t anchored = 0;            // stream rules also run per delivered chunk (anchored content)
  size_t waiting_for_app = 0;     // rules needing a protocol parser or buffer nobody fills
  size_t application = 0;         // rules restricted to an app-layer protocol or buffer, live
  size_t patterns = 0;            // distinct Hyperscan patterns
  size_t flowbits = 0;            // distinct flowbit names
  size_t database_bytes = 0;      // all databases
  size_t databases = 0;           // Hyperscan databases the rule set needs
  size_t cached_databases = 0;    // ... of which read from detect.cache_dir
  size_t stream_state_bytes = 0;  // Hyperscan state per open stream (per flow direction)
  std::chrono::duration<double> compile_time{};
};

class DetectionEngine {
 public:
  // Compiles `rules`. A rule the engine cannot compile (a pcre PCRE2 rejects, a pattern Hyperscan
  // rejects) is left out and reported in `diagnostics` as a file:line error.
  // `registry` is the one the rules were parsed with.
  DetectionEngine(std::vector<rules::Rule> rules, const DetectOptions& options,
                  std::vector<rules::Diagnostic>& diagnostics,
                  const rules::Registry& registry = rules::Registry::payload_only());
  DetectionEngine(const DetectionEngine&) = delete;
  DetectionEngine& operator=(const DetectionEngine&) = delete;

  const DetectOptions& options() const { return options_; }
  const EngineStats& stats() const { return stats_; }
  std::span<const CompiledRule> rules() const { return compiled_; }
  const CompiledRule& rule(uint32_t index) const { return compiled_[index]; }

  // The database of a scope (null when no rule of it has a pattern); for transactions, of a buffer.
  const hs_database_t* database(Scope s) const { return databases_[static_cast<size_t>(s)].get(); }
  const hs_database_t* buffer_database(rules::Buffer b) const {
    return b < buffer_databases_.size() ? buffer_databases_[b].get() : nullptr;
  }
  // Anchored stream rules, scanned on each chunk of stream data as it is delivered (block mode);
  // no anchored pattern can match past chunk_bound() bytes into a chunk.
  const hs_database_t* chunk_database() const { return chunk_database_.get(); }
  size_t chunk_bound() const { return chunk_bound_; }
  const rules::Registry& registry() const { return registry_; }
  // Buffer ids: the registry's, then the transformed buffers rules use (ids from
  // registry().buffer_count() on).
  size_t buffer_count() const { return registry_.buffer_count() + transformed_.size(); }
  std::span<const rules::TransformedBuffer> transformed() const { return transformed_; }
  // The compiled pcrexform regexes of transformed buffer `i`'s chain, in order.
  std::span<const Pcre2Code> transform_regexes(size_t i) const { return transform_regexes_[i]; }
  rules::Buffer base_of(rules::Buffer b) const {
    return b < registry_.buffer_count() ? b : transformed_[b - registry_.buffer_count()].base;
  }
  // Some transaction rule has contents without a sticky buffer (the whole message is then
  // inspected as the payload of a transaction).
  bool transaction_payload() const { return transaction_payload_; }
  // Some rule inspects transactions at all; the messages (kTxRequest, kTxResponse) whose bodies
  // some rule inspects.
  bool has_transaction_rules() const {
    return stats_.by_scope[static_cast<size_t>(Scope::kTransaction)] > 0;
  }
  uint8_t body_sides() const { return body_sides_; }
  // Rules nominated by a pattern id (ids are global across databases).
  std::span<const uint32_t> rules_of_pattern(unsigned id) const { return pattern_rules_[id]; }
  // The host and host-pair bits of xbits rules: the one part of the engine that changes, shared by
  // every worker and internally locked.
  XbitStore& xbits() const { return xbits_; }
  // threshold, detection_filter and rate_filter state: shared by the workers (a source's flows may
  // be on any of them, and Suricata counts per host, not per thread); locked inside, touched only
  // by rules that threshold.
  AlertRateTracker& rates() const { return rates_; }
  // Number of distinct flowbit names (ids 0..n-1).
  size_t flowbit_count() const { return flowbit_names_.size(); }
  const std::string& flowbit_name(uint16_t id) const { return flowbit_names_[id]; }
  // Rules of a scope verified on every inspection (no pattern).
  std::span<const uint32_t> unprefiltered(Scope s) const {
    return unprefiltered_[static_cast<size_t>(s)];
  }
  // Header rules (no content, no pcre), grouped by the address or port that selects them.
  const HeaderIndex& header_rules() const { return header_rules_; }
  // The order candidates are judged in: pass rules, then rules that change flowbits, then the rest.
  uint8_t judge_rank(uint32_t index) const { return judge_rank_[index]; }

 private:
  void classify_application(const rules::Rule& r, CompiledRule& cr);
  void number_transformed(rules::Rule& r);

  DetectOptions options_;
  const rules::Registry& registry_;
  bool transaction_payload_ = false;
  uint8_t body_sides_ = 0;
  std::vector<rules::Rule> rules_;                         // owned; CompiledRule points into it
  std::vector<rules::TransformedBuffer> transformed_;      // by buffer id - registry size
  std::vector<std::vector<Pcre2Code>> transform_regexes_;  // parallel to transformed_
  std::vector<std::string> flowbit_names_;
  mutable XbitStore xbits_;
  mutable AlertRateTracker rates_;
  std::vector<CompiledRule> compiled_;
  std::vector<std::vector<uint32_t>> pattern_rules_;
  std::vector<uint32_t> unprefiltered_[static_cast<size_t>(Scope::kCount)];
  HeaderIndex header_rules_;
  std::vector<uint8_t> judge_rank_;  // by rule
  hyperscan::Database databases_[static_cast<size_t>(Scope::kCount)];
  std::vector<hyperscan::Database> buffer_databases_;  // by buffer id
  hyperscan::Database chunk_database_;
  size_t chunk_bound_ = 0;
  EngineStats stats_;
};

}  // namespace spanguard::detect
