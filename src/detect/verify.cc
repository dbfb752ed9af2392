// Rule verification: a depth-first search over the occurrences of each content/pcre in rule order,
// bounded by a step budget so that a hostile payload cannot make one packet cost seconds.
#include "spanguard/detect/verify.h"

#include <bit>
#include <cstring>
#include <stdexcept>

#include "spanguard/detect/asn1.h"

namespace spanguard::detect {

namespace {

constexpr uint64_t kNone = UINT64_MAX;

struct LowerTable {
  uint8_t map[256];
  constexpr LowerTable() : map() {
    for (int i = 0; i < 256; ++i)
      map[i] = static_cast<uint8_t>(i >= 'A' && i <= 'Z' ? i + ('a' - 'A') : i);
  }
};
constexpr LowerTable kLower;

uint32_t pcre_options(const std::string& flags) {
  uint32_t o = 0;
  for (const char f : flags) {
    switch (f) {
      case 'i':
        o |= PCRE2_CASELESS;
        break;
      case 's':
        o |= PCRE2_DOTALL;
        break;
      case 'm':
        o |= PCRE2_MULTILINE;
        break;
      case 'x':
        o |= PCRE2_EXTENDED;
        break;
      case 'A':
        o |= PCRE2_ANCHORED;
        break;
      case 'E':
        o |= PCRE2_DOLLAR_ENDONLY;
        break;
      case 'G':
        o |= PCRE2_UNGREEDY;
        break;
      default:
        break;
    }
  }
  return o;
}

}  // namespace

Pcre2Code compile_pcre(const rules::Pcre& p) {
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  Pcre2Code code(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.pattern.data()), p.pattern.size(),
                               pcre_options(p.pcre_flags), &error, &error_offset, nullptr));
  if (!code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    throw std::invalid_argument(std::string(reinterpret_cast<const char*>(message)) +
                                " at offset " + std::to_string(error_offset) + " of the pattern");
  }
  pcre2_jit_compile(code.get(), PCRE2_JIT_COMPLETE);  // the interpreter remains if JIT is absent
  return code;
}

void VerifyProgram::index_buffers() {
  buffers.clear();
  match_slot.clear();
  auto slot_of = [&](rules::Buffer b) {
    for (size_t i = 0; i < buffers.size(); ++i) {
      if (buffers[i] == b) return static_cast<uint8_t>(i);
    }
    if (buffers.size() == kMaxRuleBuffers) {
      throw std::invalid_argument("more than " + std::to_string(kMaxRuleBuffers) +
                                  " distinct buffers in one rule");
    }
    buffers.push_back(b);
    return static_cast<uint8_t>(buffers.size() - 1);
  };
  for (const rules::Match& m : rule->matches) {
    match_slot.push_back(slot_of(rule->buffer_of(m)));
  }
  for (const rules::BufferSize& s : rule->buffer_sizes) slot_of(s.buffer);
}

namespace {

// The number byte_test / byte_jump read at `p` (n bytes): binary in either byte order, or ASCII
// digits in a base (Suricata: as many leading digits as there are, at least one). False when the
// bytes are not a number.
bool read_number(const uint8_t* p, size_t n, rules::NumberBase base, bool little, uint64_t& out) {
  out = 0;
  if (base == rules::NumberBase::kBinary) {
    for (size_t k = 0; k < n; ++k) {
      const uint64_t byte = p[little ? n - 1 - k : k];
      out = out << 8 | byte;
    }
    return true;
  }
  const unsigned radix = base == rules::NumberBase::kHex   ? 16
                         : base == rules::NumberBase::kOct ? 8
                                                           : 10;
  size_t digits = 0;
  for (size_t k = 0; k < n; ++k) {
    const uint8_t c = p[k];
    unsigned d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      break;
    if (d >= radix) break;
    if (out > (UINT64_MAX - d) / radix) return false;  // overflow: not a number we can use
    out = out * radix + d;
    ++digits;
  }
  return digits > 0;
}

// RFC 4648 base64 from the start of `in` into `out`: quads of the alphabet, up to the first byte
// outside it or the padding (a final partial quad gives the whole bytes it holds); at most 64 KiB
// out, as Suricata caps it.
void decode_base64(std::span<const uint8_t> in, std::string& out) {
  static constexpr size_t kMaxDecoded = 65536;
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  for (const uint8_t c : in) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else
      break;  // '=' or anything else ends the data
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
      if (out.size() == kMaxDecoded) return;
    }
  }
}

// bitmask: the masked value, shifted right by the mask's trailing zeros (Suricata).
uint64_t masked(uint64_t v, uint64_t mask) {
  if (mask == 0) return v;
  return (v & mask) >> std::countr_zero(mask);
}

// A field that is a number or, when `var` names one, a byte_extract variable's value.
template <typename Ends>
int64_t value(const Ends& ends, std::optional<int32_t> number, int8_t var) {
  if (var == rules::kNoVariable) return number.value_or(0);
  // A byte_math result may be any 64-bit number; as a position, anything past 2^40 is as far out
  // of every buffer (and keeps the sums positions take part in from overflowing).
  return static_cast<int64_t>(
      std::min<uint64_t>(ends[Verifier::kVariables + static_cast<size_t>(var)], uint64_t{1} << 40));
}
template <typename Ends>
int64_t value(const Ends& ends, int32_t number, int8_t var) {
  return value(ends, std::optional<int32_t>(number), var);
}

// The bitmask applied to the number as read (then shifted right by its trailing zeros): byte_math
// applies its own to the result of its operation instead (Suricata).
template <typename Field>
uint64_t read_mask(const Field& f) {
  return f.bitmask;
}
uint64_t read_mask(const rules::ByteMath&) { return 0; }

// The number a byte_test, byte_jump, byte_extract or byte_math `f` reads at `at` (its byte count —
// 0 with string: all digits there —, base, byte order and read_mask) and how many bytes it took;
// false when those bytes are not in the buffer or hold no number.
template <typename Field>
bool read_field(const Field& f, const InspectBuffer& b, int64_t at, uint64_t& v, int64_t& taken) {
  const auto begin = static_cast<int64_t>(b.base);
  const int64_t end = begin + static_cast<int64_t>(b.data.size());
  if (!b.present || at < begin) return false;
  taken = f.bytes == 0 ? end - at : f.bytes;
  if (taken <= 0 || at + taken > end) return false;
  if (!read_number(b.data.data() + (at - begin), static_cast<size_t>(taken), f.base, f.little, v))
    return false;
  v = masked(v, read_mask(f));
  return true;
}

}  // namespace

// isdataat, byte_test, byte_jump, byte_extract, base64_decode: positions count from the buffer's
// first byte (for a stream, the direction's first byte, as content offsets do); bytes outside those
// at hand do not match.
bool Verifier::positional(const VerifyProgram& program, const InspectBuffers& buffers, size_t i,
                          Ends ends) {
  const rules::Rule& rule = *program.rule;
  const rules::Match& m = rule.matches[i];
  const size_t bi = program.match_slot[i];
  const InspectBuffer& b = buffer(buffers, rule.buffer_of(m));
  const int64_t begin = static_cast<int64_t>(b.base);
  const int64_t end = begin + static_cast<int64_t>(b.data.size());
  const int64_t cursor = static_cast<int64_t>(ends[bi]);
  switch (m.kind) {
    case rules::Match::Kind::kDataAt: {
      // Suricata: absolute, a byte at N exists; relative, N more bytes after the cursor.
      const rules::DataAt& d = rule.data_at[m.index];
      const int64_t n = value(ends, static_cast<int32_t>(d.n), d.n_var);
      const bool there = b.present && (d.relative ? cursor + n <= end : n < end);
      return there != d.negated && step(program, buffers, i + 1, ends);
    }
    case rules::Match::Kind::kByteTest: {
      const rules::ByteTest& t = rule.byte_tests[m.index];
      const int64_t at = (t.relative ? cursor : 0) + value(ends, t.offset, t.offset_var);
      const uint64_t against = t.value_var == rules::kNoVariable
                                   ? t.value
                                   : ends[kVariables + static_cast<size_t>(t.value_var)];
      uint64_t v = 0;
      int64_t taken = 0;
      if (!read_field(t, b, at, v, taken)) return false;
      bool holds = false;
      switch (t.op) {
        case rules::ByteTest::Op::kLess:
          holds = v < against;
          break;
        case rules::ByteTest::Op::kGreater:
          holds = v > against;
          break;
        case rules::ByteTest::Op::kEqual:
          holds = v == against;
          break;
        case rules::ByteTest::Op::kLessEqual:
          holds = v <= against;
          break;
        case rules::ByteTest::Op::kGreaterEqual:
          holds = v >= against;
          break;
        case rules::ByteTest::Op::kAnd:
          holds = (v & against) != 0;
          break;
        case rules::ByteTest::Op::kXor:
          holds = (v ^ against) != 0;
          break;
      }
      return holds != t.negated && step(program, buffers, i + 1, ends);
    }
    case rules::Match::Kind::kByteJump: {
      const rules::ByteJump& j = rule.byte_jumps[m.index];
      const int64_t at = (j.relative ? cursor : 0) + value(ends, j.offset, j.offset_var);
      uint64_t v = 0;
      int64_t taken = 0;
      if (!read_field(j, b, at, v, taken)) return false;
      if (v > (uint64_t{1} << 32)) return false;  // beyond any buffer
      int64_t jump = static_cast<int64_t>(v) * j.multiplier;
      if (j.align && jump % 4 != 0) jump += 4 - jump % 4;
      // From the end of the bytes read (Snort and Suricata), or from either end of the buffer.
      const int64_t origin = j.from_beginning ? 0 : j.from_end ? end : at + taken;
      const int64_t to = origin + jump + j.post_offset;
      if (to < begin || to > end) return false;
      Ends next = ends;
      next[bi] = static_cast<uint64_t>(to);
      return step(program, buffers, i + 1, next);
    }
    case rules::Match::Kind::kByteExtract: {
      // The number goes to the variable; the position moves past the bytes read (Suricata).
      const rules::ByteExtract& e = rule.byte_extracts[m.index];
      const int64_t at = (e.relative ? cursor : 0) + e.offset;
      uint64_t v = 0;
      int64_t taken = 0;
      if (!read_field(e, b, at, v, taken)) return false;
      if (v > (uint64_t{1} << 32)) return false;  // no offset or length is that large
      v *= e.multiplier;
      if (e.align != 0 && v % e.align != 0) v += e.align - v % e.align;
      Ends next = ends;
      next[kVariables + static_cast<size_t>(e.variable)] = v;
      next[bi] = static_cast<uint64_t>(at + taken);
      return step(program, buffers, i + 1, next);
    }
    case rules::Match::Kind::kByteMath: {
      // Suricata: the operation, then the bitmask (shifted right by its trailing zeros) on the
      // result; the position moves past the bytes read. Division by zero does not match.
      const rules::ByteMath& bm = rule.byte_maths[m.index];
      const int64_t at = (bm.relative ? cursor : 0) + bm.offset;
      uint64_t v = 0;
      int64_t taken = 0;
      if (!read_field(bm, b, at, v, taken)) return false;
      const uint64_t r = bm.rvalue_var == rules::kNoVariable
                             ? bm.rvalue
                             : ends[kVariables + static_cast<size_t>(bm.rvalue_var)];
      switch (bm.op) {
        case rules::ByteMath::Op::kAdd:
          v += r;
          break;
        case rules::ByteMath::Op::kSubtract:
          v -= r;
          break;
        case rules::ByteMath::Op::kMultiply:
          v *= r;
          break;
        case rules::ByteMath::Op::kDivide:
          if (r == 0) return false;
          v /= r;
          break;
        case rules::ByteMath::Op::kShiftLeft:
          v = r >= 64 ? 0 : v << r;
          break;
        case rules::ByteMath::Op::kShiftRight:
          v = r >= 64 ? 0 : v >> r;
          break;
      }
      v = masked(v, bm.bitmask);
      Ends next = ends;
      next[kVariables + static_cast<size_t>(bm.variable)] = v;
      next[bi] = static_cast<uint64_t>(at + taken);
      return step(program, buffers, i + 1, next);
    }
    case rules::Match::Kind::kAsn1: {
      // Suricata: from the absolute offset, or the previous match's end + the relative one; the
      // position stays.
      const rules::Asn1& a = rule.asn1s[m.index];
      if (!b.present || cursor < begin) return false;
      const std::optional<size_t> start =
          asn1_start(a, b.data.size(), static_cast<size_t>(cursor - begin));
      if (!start || !asn1_matches(a, b.data, *start)) return false;
      return step(program, buffers, i + 1, ends);
    }
    case rules::Match::Kind::kBase64Decode: {
      // Suricata: from OFFSET past the buffer's start, or past the previous match with relative.
      const rules::Base64Decode& d = *rule.base64;
      const int64_t at = (d.relative ? cursor : begin) + d.offset;
      if (!b.present || at < begin || at >= end) return false;
      const int64_t stop = d.bytes == 0 ? end : std::min<int64_t>(end, at + d.bytes);
      decode_base64(b.data.subspan(static_cast<size_t>(at - begin), static_cast<size_t>(stop - at)),
                    decoded_);
      if (decoded_.empty()) return false;
      base64_ = {std::span(reinterpret_cast<const uint8_t*>(decoded_.data()), decoded_.size()), 0,
                 true};
      return step(program, buffers, i + 1, ends);
    }
    case rules::Match::Kind::kContent:
    case rules::Match::Kind::kPcre:
      break;
  }
  return false;
}

Verifier::Verifier(uint32_t backtrack_limit, uint32_t pcre_match_limit)
    : backtrack_limit_(backtrack_limit),
      match_data_(pcre2_match_data_create(1, nullptr)),
      match_context_(pcre2_match_context_create(nullptr)) {
  if (!match_data_ || !match_context_) throw std::bad_alloc();
  pcre2_set_match_limit(match_context_.get(), pcre_match_limit);
  pcre2_set_depth_limit(match_context_.get(), pcre_match_limit);
}

bool Verifier::verify(const VerifyProgram& program, const InspectBuffers& buffers) {
  // bsize / urilen: the buffer must be there, whole, with the size asked for.
  for (const rules::BufferSize& s : program.rule->buffer_sizes) {
    if (s.buffer >= buffers.size() || !buffers[s.buffer].present) return false;
    if (!s.size.matches(
            static_cast<uint32_t>(std::min<size_t>(buffers[s.buffer].data.size(), UINT32_MAX))))
      return false;
  }
  budget_ = backtrack_limit_;
  Ends ends{};
  fresh_ = 0;
  base64_ = {};  // until this rule's base64_decode runs
  for (size_t i = 0; i < program.buffers.size(); ++i) {
    const rules::Buffer b = program.buffers[i];
    ends[i] = b < buffers.size() ? buffers[b].base : 0;
    if (b < buffers.size()) fresh_ = std::max(fresh_, buffers[b].fresh);
  }
  const bool ok = step(program, buffers, 0, ends);
  if (!ok && budget_ == 0) ++limit_hits_;
  return ok;
}

uint64_t Verifier::find(const rules::Content& c, const std::string& folded, const InspectBuffer& b,
                        uint64_t from, uint64_t to) {
  const size_t len = folded.size();
  if (to < from || to - from < len) return kNone;
  const uint8_t* begin = b.data.data() + (from - b.base);
  const size_t span = static_cast<size_t>(to - from);
  if (!c.nocase) {
    const void* hit = memmem(begin, span, folded.data(), len);
    return hit == nullptr ? kNone
                          : from + static_cast<uint64_t>(static_cast<const uint8_t*>(hit) - begin);
  }
  const auto* pattern = reinterpret_cast<const uint8_t*>(folded.data());
  for (size_t i = 0; i + len <= span; ++i) {
    if (kLower.map[begin[i]] != pattern[0]) continue;
    size_t k = 1;
    while (k < len && kLower.map[begin[i + k]] == pattern[k]) ++k;
    if (k == len) return from + i;
  }
  return kNone;
}

bool Verifier::step(const VerifyProgram& program, const InspectBuffers& buffers, size_t i,
                    Ends ends) {
  const rules::Rule& rule = *program.rule;
  if (i == rule.matches.size()) return fresh_ == 0 || ends[kReach] > fresh_;
  if (budget_ == 0) return false;
  --budget_;
  const rules::Match& m = rule.matches[i];

  switch (m.kind) {
    case rules::Match::Kind::kDataAt:
    case rules::Match::Kind::kByteTest:
    case rules::Match::Kind::kByteJump:
    case rules::Match::Kind::kBase64Decode:
    case rules::Match::Kind::kByteExtract:
    case rules::Match::Kind::kByteMath:
    case rules::Match::Kind::kAsn1:
      return positional(program, buffers, i, ends);
    case rules::Match::Kind::kContent:
    case rules::Match::Kind::kPcre:
      break;
  }

  if (m.kind == rules::Match::Kind::kContent) {
    const rules::Content& c = rule.contents[m.index];
    const std::string& folded = program.folded[m.index];
    const size_t bi = program.match_slot[i];
    const InspectBuffer& b = buffer(buffers, c.buffer);
    if (!b.present) return c.negated && step(program, buffers, i + 1, ends);
    const uint64_t data_begin = b.base, data_end = b.base + b.data.size();
    const uint64_t len = folded.size();
    // The window [lo, hi) the whole content must lie in, in buffer positions.
    int64_t lo = 0, hi = INT64_MAX;
    if (c.startswith) {
      hi = static_cast<int64_t>(len);
    } else if (c.relative()) {
      lo = static_cast<int64_t>(ends[bi]) + value(ends, c.distance, c.distance_var);
      if (c.within) hi = lo + value(ends, c.within, c.within_var);
      lo = std::max<int64_t>(lo, 0);
    } else {
      lo = value(ends, c.offset, c.offset_var);
      if (c.depth) hi = lo + value(ends, c.depth, c.depth_var);
    }
    uint64_t from = std::max<uint64_t>(static_cast<uint64_t>(lo), data_begin);
    uint64_t to =
        hi == INT64_MAX ? data_end : std::min<uint64_t>(static_cast<uint64_t>(hi), data_end);
    if (c.endswith) {
      if (data_end < len || data_end - len < from || data_end > to) {
        return c.negated && step(program, buffers, i + 1, ends);
      }
      from = data_end - len;
      to = data_end;
    }
    uint64_t at = find(c, folded, b, from, to);
    if (c.negated) return at == kNone && step(program, buffers, i + 1, ends);
    while (at != kNone) {
      Ends next = ends;
      next[bi] = at + len;
      if (b.fresh != 0) next[kReach] = std::max(next[kReach], next[bi]);
      if (step(program, buffers, i + 1, next)) return true;
      if (budget_ == 0) return false;
      --budget_;
      at = find(c, folded, b, at + 1, to);
    }
    return false;
  }

  const rules::Pcre& p = rule.pcres[m.index];
  const size_t bi = program.match_slot[i];
  const InspectBuffer& b = buffer(buffers, p.buffer);
  if (!b.present) return p.negated && step(program, buffers, i + 1, ends);
  const pcre2_code* code = program.pcres[m.index].get();
  // A relative pcre sees the buffer from the previous match's end on, as its own subject: ^
  // anchors there (as in Snort and Suricata).
  const size_t origin = p.relative ? static_cast<size_t>(std::min<uint64_t>(
                                         std::max(ends[bi], b.base) - b.base, b.data.size()))
                                   : 0;
  const auto subject = reinterpret_cast<PCRE2_SPTR>(b.data.data() + origin);
  const size_t length = b.data.size() - origin;
  PCRE2_SIZE start = 0;
  for (;;) {
    if (start > length) return p.negated && step(program, buffers, i + 1, ends);
    const int rc =
        pcre2_match(code, subject, length, start, 0, match_data_.get(), match_context_.get());
    if (rc < 0) {
      // No match, or PCRE2's own match/depth limit: either way the pcre does not hold.
      if (rc != PCRE2_ERROR_NOMATCH) budget_ = 0;
      return p.negated && rc == PCRE2_ERROR_NOMATCH && step(program, buffers, i + 1, ends);
    }
    if (p.negated) return false;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match_data_.get());
    const PCRE2_SIZE match_start = ov[0], match_end = ov[1];
    Ends next = ends;
    next[bi] = b.base + origin + match_end;
    if (b.fresh != 0) next[kReach] = std::max(next[kReach], next[bi]);
    if (step(program, buffers, i + 1, next)) return true;
    if (budget_ == 0) return false;
    --budget_;
    start = match_start + 1;  // a later match may satisfy what follows
  }
}

}  // namespace spanguard::detect
