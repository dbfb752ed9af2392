// Verification of a candidate rule against the bytes it inspects: every content and pcre, in rule
// order, with offset/depth/distance/within/startswith/endswith and negation, backtracking over
// earlier matches the way Snort and Suricata do. Hyperscan only nominates candidates; this decides.
#pragma once

// 8-bit code units: rules inspect bytes.
#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "spanguard/rules/rule.h"

namespace spanguard::detect {

struct Pcre2CodeFree {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
struct Pcre2MatchDataFree {
  void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};
struct Pcre2MatchContextFree {
  void operator()(pcre2_match_context* m) const { pcre2_match_context_free(m); }
};
using Pcre2Code = std::unique_ptr<pcre2_code, Pcre2CodeFree>;
using Pcre2MatchData = std::unique_ptr<pcre2_match_data, Pcre2MatchDataFree>;
using Pcre2MatchContext = std::unique_ptr<pcre2_match_context, Pcre2MatchContextFree>;

// Compiles a rule's pcre (JIT when available); throws std::invalid_argument with PCRE2's message
// and the offset in the pattern.
Pcre2Code compile_pcre(const rules::Pcre& p);

// Bytes one buffer holds for this inspection. `base` is the position of data[0] in the buffer as a
// whole: for a TCP stream the direction's stream offset of the oldest byte still in the window (so
// offset/depth are relative to the stream's first byte), 0 for a packet payload or an app-layer
// buffer. `complete` says data ends where the buffer ends (endswith is judged against it).
//
// `fresh`: positions before it were inspected already (a stream window's retained bytes): a match
// counts only if some content or pcre of it ends past it, so that bytes seen before do not match
// again for a rule that did not alert on them (threshold, detection_filter). 0: all is new.
struct InspectBuffer {
  std::span<const uint8_t> data;
  uint64_t base = 0;
  bool present = false;
  uint64_t fresh = 0;
};
// Every buffer of one inspection, by rules::BufferId (a buffer absent here is absent).
using InspectBuffers = std::span<const InspectBuffer>;

// Distinct buffers one rule may use (contents, pcres and bsize together).
inline constexpr size_t kMaxRuleBuffers = 8;

// A rule as the verifier needs it: the parsed rule and its compiled pcres (same indexes).
struct VerifyProgram {
  const rules::Rule* rule = nullptr;
  std::vector<Pcre2Code> pcres;
  std::vector<std::string> folded;  // contents lowercased (nocase), else as written
  // The rule's buffers, and for each match (rule order) the index of its buffer in that list:
  // relative positions are tracked per buffer, in a fixed array.
  std::vector<rules::Buffer> buffers;
  std::vector<uint8_t> match_slot;
  // Builds `buffers` and `match_slot`; throws std::invalid_argument past kMaxRuleBuffers.
  void index_buffers();
};

// Per-thread verification resources.
class Verifier {
 public:
  Verifier(uint32_t backtrack_limit, uint32_t pcre_match_limit);

  // True when the whole rule holds on `buffers` (header conditions are the caller's).
  bool verify(const VerifyProgram& program, const InspectBuffers& buffers);
  // Searches exhausted by the backtrack limit since construction (counted as not matching).
  uint64_t limit_hits() const { return limit_hits_; }

  // What a verification carries along a rule's matches: per rule buffer where the last match
  // ended; at kReach the furthest end of any match in a buffer with fresh data; from kVariables
  // the values of the rule's byte_extract variables.
  static constexpr size_t kReach = kMaxRuleBuffers;
  static constexpr size_t kVariables = kReach + 1;
  using Ends = std::array<uint64_t, kVariables + rules::kMaxRuleVariables>;

 private:
  bool step(const VerifyProgram& program, const InspectBuffers& buffers, size_t i, Ends ends);
  bool positional(const VerifyProgram& program, const InspectBuffers& buffers, size_t i, Ends ends);
  // The next occurrence of content `c` starting at or after `from` and ending by `to` (absolute
  // positions), or UINT64_MAX.
  static uint64_t find(const rules::Content& c, const std::string& folded, const InspectBuffer& b,
                       uint64_t from, uint64_t to);

  uint32_t backtrack_limit_;
  uint32_t budget_ = 0;
  uint64_t fresh_ = 0;    // this verification's InspectBuffer::fresh (the furthest of its buffers)
  std::string decoded_;   // base64_data's bytes, while a rule with base64_decode is verified
  InspectBuffer base64_;  // ... as the buffer its matches read
  const InspectBuffer& buffer(const InspectBuffers& buffers, rules::Buffer id) const {
    if (id == rules::kBase64Buffer) return base64_;
    static const InspectBuffer absent{};
    return id < buffers.size() ? buffers[id] : absent;
  }
  uint64_t limit_hits_ = 0;
  Pcre2MatchData match_data_;
  Pcre2MatchContext match_context_;
};

}  // namespace spanguard::detect
