// Keywords that read numbers and structures out of the payload: byte_test, byte_jump,
// byte_extract, byte_math, asn1, and base64_decode (which decodes a span for base64_data).
#include <algorithm>
#include <cctype>
#include <charconv>

#include "rule_builder.h"

namespace spanguard::rules::detail {

std::span<const RuleBuilder::Keyword> RuleBuilder::byte_keywords() {
  static constexpr Keyword kKeywords[] = {
      {"base64_decode", &RuleBuilder::base64_decode, false},
      {"byte_extract", &RuleBuilder::byte_extract, true},
      {"byte_test", &RuleBuilder::byte_test, true},
      {"byte_jump", &RuleBuilder::byte_jump, true},
      {"byte_math", &RuleBuilder::byte_math, true},
      {"asn1", &RuleBuilder::asn1, true},
  };
  return kKeywords;
}

namespace {

// A number argument of byte_test / byte_jump (`what`: "value", "offset") in [lo, hi]; a
// byte_extract variable's name is refused as such.
int64_t number_or_variable(std::string_view keyword, std::string_view what, std::string_view text,
                           size_t at, int64_t lo, int64_t hi) {
  int64_t v = 0;
  if (parse_number(text, v) && v >= lo && v <= hi) return v;
  const std::string k(keyword);
  if (!text.empty() && std::isalpha(static_cast<unsigned char>(text.front()))) {
    fail(at,
         "'" + k + "': '" + std::string(text) + "' is no byte_extract variable of this rule (a " +
             "variable must be extracted before it is used)",
         "'" + k + "' with an unknown variable");
  }
  fail(at, "'" + k + "': bad " + std::string(what) + " '" + std::string(text) + "'",
       "'" + k + "' with a bad " + std::string(what));
}

// BYTES of byte_test / byte_jump: 1..8 raw bytes, 1..20 ASCII digits, or for byte_test 0 with
// `string`: as many digits as there are (Suricata reads an unbounded number there).
uint8_t byte_count(std::string_view keyword, std::string_view text, NumberBase base, size_t at) {
  const bool digits = base != NumberBase::kBinary;
  const bool zero_ok = digits && keyword == "byte_test";
  const int64_t max = digits ? 20 : 8;
  int64_t n = 0;
  if (!parse_int(text, n) || n < (zero_ok ? 0 : 1) || n > max) {
    const std::string k(keyword);
    std::string range = (zero_ok ? "0.." : "1..") + std::to_string(max);
    if (keyword == "byte_test" && !digits) range += " (0, any number of digits, needs string)";
    fail(at, "'" + k + "': BYTES must be " + range + ", got '" + std::string(text) + "'",
         "'" + k + "' with a bad byte count");
  }
  return static_cast<uint8_t>(n);
}

}  // namespace

// base64_decode[:bytes N][,offset N][,relative] (Suricata's options, any order).
void RuleBuilder::base64_decode(std::string_view v, size_t at) {
  if (rule_.base64) fail(at, "'base64_decode' given twice", "'base64_decode' given twice");
  if (buffer_ == kBase64Buffer) {
    fail(at, "'base64_decode' cannot decode base64_data again", "'base64_decode' of base64_data");
  }
  Base64Decode d;
  d.buffer = buffer_;
  if (!trim(v).empty()) {
    for (const std::string_view arg : split_args(trim(v))) {
      const auto number = [&](std::string_view key, uint32_t& out) {
        int64_t n = 0;
        if (!parse_int(trim(arg.substr(key.size())), n) || n < 0 || n > 65535) {
          fail(at,
               "'base64_decode': '" + std::string(key) + "' expects 0..65535, got '" +
                   std::string(arg) + "'",
               "'base64_decode' with a bad value");
        }
        out = static_cast<uint32_t>(n);
      };
      if (arg == "relative") {
        d.relative = true;
      } else if (arg.substr(0, 5) == "bytes") {
        number("bytes", d.bytes);
      } else if (arg.substr(0, 6) == "offset") {
        number("offset", d.offset);
      } else {
        fail(at,
             "'base64_decode': unknown option '" + std::string(arg) +
                 "' (expected bytes N, offset N, relative)",
             "'base64_decode' with an unknown option");
      }
    }
  }
  rule_.base64 = d;
  rule_.matches.push_back({Match::Kind::kBase64Decode, 0});
}

namespace {

// The options byte_test and byte_jump share; true when `arg` was one of them.
template <typename T>
bool number_option(std::string_view arg, std::string_view next, bool& used_next, T& t) {
  used_next = false;
  if (arg == "relative") {
    t.relative = true;
  } else if (arg == "big") {
    t.little = false;
  } else if (arg == "little") {
    t.little = true;
  } else if (arg == "string") {
    t.base = NumberBase::kDec;  // the base follows, or decimal
    if (next == "hex" || next == "dec" || next == "oct") {
      t.base = next == "hex"   ? NumberBase::kHex
               : next == "oct" ? NumberBase::kOct
                               : NumberBase::kDec;
      used_next = true;
    }
  } else if (arg == "hex" || arg == "dec" || arg == "oct") {
    t.base = arg == "hex" ? NumberBase::kHex : arg == "oct" ? NumberBase::kOct : NumberBase::kDec;
  } else if (arg.substr(0, 7) == "bitmask") {
    int64_t m = 0;
    if (!parse_number(arg.substr(7), m) || m <= 0) return false;
    t.bitmask = static_cast<uint64_t>(m);
  } else {
    return false;
  }
  return true;
}

}  // namespace

int8_t RuleBuilder::new_variable(std::string_view keyword, std::string_view name, size_t at) {
  const std::string k(keyword);
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name.front())) ||
      name.find_first_of(" \t") != std::string_view::npos) {
    fail(at, "'" + k + "': bad variable name '" + std::string(name) + "' (a letter first)",
         "'" + k + "' with a bad name");
  }
  if (variable_of(name) != kNoVariable) {
    fail(at, "'" + k + "': variable '" + std::string(name) + "' is already set by this rule",
         "'" + k + "' variable given twice");
  }
  if (rule_.variables.size() == kMaxRuleVariables) {
    fail(at, "'" + k + "': more than " + std::to_string(kMaxRuleVariables) + " variables",
         "'" + k + "' with too many variables");
  }
  rule_.variables.emplace_back(name);
  return static_cast<int8_t>(rule_.variables.size() - 1);
}

// byte_extract:N,OFFSET,NAME[,options] (Suricata's options; dce needs DCE/RPC parsing).
void RuleBuilder::byte_extract(std::string_view v, size_t at) {
  ByteExtract e;
  const auto args = split_args(v);
  if (args.size() < 3) {
    fail(at, "'byte_extract' expects BYTES,OFFSET,NAME[,options]",
         "'byte_extract' with too few arguments");
  }
  e.offset = static_cast<int32_t>(number_arg("byte_extract", args[1], at, -65535, 65535));
  const std::string_view name = args[2];
  for (size_t i = 3; i < args.size(); ++i) {
    bool used_next = false;
    const std::string_view a = args[i];
    const std::string_view next = i + 1 < args.size() ? args[i + 1] : std::string_view();
    int64_t value = 0;
    if (a.substr(0, 10) == "multiplier") {
      if (!parse_number(a.substr(10), value) || value < 1 || value > 65535)
        fail(at, "'byte_extract': bad multiplier in '" + std::string(a) + "'",
             "'byte_extract' with a bad multiplier");
      e.multiplier = static_cast<uint32_t>(value);
    } else if (a.substr(0, 5) == "align") {
      if (!parse_number(a.substr(5), value) || (value != 2 && value != 4))
        fail(at, "'byte_extract': align must be 2 or 4, got '" + std::string(a) + "'",
             "'byte_extract' with a bad align");
      e.align = static_cast<uint8_t>(value);
    } else if (a == "dce") {
      fail(at, "'byte_extract': dce needs DCE/RPC parsing, which does not exist yet",
           "'byte_extract' with dce");
    } else if (!number_option(a, next, used_next, e)) {
      fail(at, "'byte_extract': unknown option '" + std::string(a) + "'",
           "'byte_extract' with an unknown option");
    }
    if (used_next) ++i;
  }
  e.bytes = byte_count("byte_extract", args[0], e.base, at);
  e.buffer = buffer_;
  e.variable = new_variable("byte_extract", name, at);
  rule_.byte_extracts.push_back(e);
  rule_.matches.push_back({Match::Kind::kByteExtract, rule_.byte_extracts.size() - 1});
}

// byte_test:N,[!]OP,VALUE,OFFSET[,options]
void RuleBuilder::byte_test(std::string_view v, size_t at) {
  ByteTest t;
  const auto args = split_args(v);
  if (args.size() < 4) {
    fail(at, "'byte_test' expects BYTES,OPERATOR,VALUE,OFFSET[,options]",
         "'byte_test' with too few arguments");
  }
  std::string_view op = args[1];
  if (!op.empty() && op.front() == '!') {
    t.negated = true;
    op = trim(op.substr(1));
  }
  static const std::pair<std::string_view, ByteTest::Op> kOps[] = {
      {"<", ByteTest::Op::kLess},
      {">", ByteTest::Op::kGreater},
      {"=", ByteTest::Op::kEqual},
      {"<=", ByteTest::Op::kLessEqual},
      {">=", ByteTest::Op::kGreaterEqual},
      {"&", ByteTest::Op::kAnd},
      {"^", ByteTest::Op::kXor}};
  bool known = false;
  for (const auto& [name, o] : kOps) {
    if (op == name) {
      t.op = o;
      known = true;
    }
  }
  if (!known) {
    fail(at,
         "'byte_test': unknown operator '" + std::string(args[1]) +
             "' (expected <, >, =, <=, >=, &, ^, optionally preceded by !)",
         "'byte_test' with an unknown operator");
  }
  t.value_var = variable_of(args[2]);
  if (t.value_var == kNoVariable) {
    t.value =
        static_cast<uint64_t>(number_or_variable("byte_test", "value", args[2], at, 0, INT64_MAX));
  }
  t.offset_var = variable_of(args[3]);
  if (t.offset_var == kNoVariable) {
    t.offset =
        static_cast<int32_t>(number_or_variable("byte_test", "offset", args[3], at, -65535, 65535));
  }
  for (size_t i = 4; i < args.size(); ++i) {
    bool used_next = false;
    const std::string_view next = i + 1 < args.size() ? args[i + 1] : std::string_view();
    if (args[i] == "dce")
      fail(at, "'byte_test': dce needs DCE/RPC parsing, which does not exist yet",
           "'byte_test' with dce");
    if (!number_option(args[i], next, used_next, t)) {
      fail(at, "'byte_test': unknown option '" + std::string(args[i]) + "'",
           "'byte_test' with an unknown option");
    }
    if (used_next) ++i;
  }
  t.bytes = byte_count("byte_test", args[0], t.base, at);
  t.buffer = buffer_;
  rule_.byte_tests.push_back(t);
  rule_.matches.push_back({Match::Kind::kByteTest, rule_.byte_tests.size() - 1});
}

// byte_jump:N,OFFSET[,options]
void RuleBuilder::byte_jump(std::string_view v, size_t at) {
  ByteJump j;
  const auto args = split_args(v);
  if (args.size() < 2) {
    fail(at, "'byte_jump' expects BYTES,OFFSET[,options]", "'byte_jump' with too few arguments");
  }
  j.offset_var = variable_of(args[1]);
  if (j.offset_var == kNoVariable) {
    j.offset =
        static_cast<int32_t>(number_or_variable("byte_jump", "offset", args[1], at, -65535, 65535));
  }
  for (size_t i = 2; i < args.size(); ++i) {
    bool used_next = false;
    const std::string_view a = args[i];
    const std::string_view next = i + 1 < args.size() ? args[i + 1] : std::string_view();
    int64_t value = 0;
    if (a == "align") {
      j.align = true;
    } else if (a == "from_beginning") {
      j.from_beginning = true;
    } else if (a == "from_end") {
      j.from_end = true;
    } else if (a.substr(0, 10) == "multiplier") {
      if (!parse_number(a.substr(10), value) || value < 1 || value > 65535)
        fail(at, "'byte_jump': bad multiplier in '" + std::string(a) + "'",
             "'byte_jump' with a bad multiplier");
      j.multiplier = static_cast<uint32_t>(value);
    } else if (a.substr(0, 11) == "post_offset") {
      if (!parse_number(a.substr(11), value) || value < -65535 || value > 65535)
        fail(at, "'byte_jump': bad post_offset in '" + std::string(a) + "'",
             "'byte_jump' with a bad post_offset");
      j.post_offset = static_cast<int32_t>(value);
    } else if (a == "dce") {
      fail(at, "'byte_jump': dce needs DCE/RPC parsing, which does not exist yet",
           "'byte_jump' with dce");
    } else if (!number_option(a, next, used_next, j)) {
      fail(at, "'byte_jump': unknown option '" + std::string(a) + "'",
           "'byte_jump' with an unknown option");
    }
    if (used_next) ++i;
  }
  if (j.from_beginning && j.from_end) {
    fail(at, "'byte_jump': from_beginning and from_end exclude each other",
         "'byte_jump' with both origins");
  }
  j.bytes = byte_count("byte_jump", args[0], j.base, at);
  j.buffer = buffer_;
  rule_.byte_jumps.push_back(j);
  rule_.matches.push_back({Match::Kind::kByteJump, rule_.byte_jumps.size() - 1});
}

// byte_math:bytes N,offset O,oper OP,rvalue V,result NAME[,relative][,endian big|little]
// [,string hex|dec|oct][,bitmask M] — named options in any order, each at most once (Suricata).
void RuleBuilder::byte_math(std::string_view v, size_t at) {
  ByteMath m;
  std::optional<std::string_view> bytes, offset, oper, rvalue, result;
  bool endian_seen = false, relative_seen = false, string_seen = false, bitmask_seen = false;
  auto once = [&](bool& seen, std::string_view what) {
    if (seen) {
      fail(at, "'byte_math': '" + std::string(what) + "' given twice",
           "'byte_math' with an option given twice");
    }
    seen = true;
  };
  auto set = [&](std::optional<std::string_view>& field, std::string_view what,
                 std::string_view value) {
    if (field) {
      fail(at, "'byte_math': '" + std::string(what) + "' given twice",
           "'byte_math' with an option given twice");
    }
    field = value;
  };
  for (const std::string_view arg : split_args(v)) {
    const auto space = arg.find_first_of(" \t");
    const std::string_view name = arg.substr(0, space);
    const std::string_view value =
        space == std::string_view::npos ? std::string_view() : trim(arg.substr(space));
    if (name == "bytes" || name == "offset" || name == "oper" || name == "rvalue" ||
        name == "result" || name == "endian" || name == "string" || name == "bitmask") {
      if (value.empty()) {
        fail(at, "'byte_math': '" + std::string(name) + "' needs a value",
             "'byte_math' option without a value");
      }
    }
    if (name == "bytes") {
      set(bytes, name, value);
    } else if (name == "offset") {
      set(offset, name, value);
    } else if (name == "oper") {
      set(oper, name, value);
    } else if (name == "rvalue") {
      set(rvalue, name, value);
    } else if (name == "result") {
      set(result, name, value);
    } else if (name == "relative" && value.empty()) {
      once(relative_seen, name);
      m.relative = true;
    } else if (name == "endian") {
      once(endian_seen, name);
      if (value == "dce") {
        fail(at, "'byte_math': endian dce needs DCE/RPC parsing, which does not exist yet",
             "'byte_math' with dce");
      }
      if (value != "big" && value != "little") {
        fail(at, "'byte_math': endian must be big or little, got '" + std::string(value) + "'",
             "'byte_math' with a bad endian");
      }
      m.little = value == "little";
    } else if (name == "dce" && value.empty()) {
      fail(at, "'byte_math': dce needs DCE/RPC parsing, which does not exist yet",
           "'byte_math' with dce");
    } else if (name == "string") {
      once(string_seen, name);
      if (value != "hex" && value != "dec" && value != "oct") {
        fail(at, "'byte_math': string must be hex, dec or oct, got '" + std::string(value) + "'",
             "'byte_math' with a bad string base");
      }
      m.base = value == "hex"   ? NumberBase::kHex
               : value == "oct" ? NumberBase::kOct
                                : NumberBase::kDec;
    } else if (name == "bitmask") {
      once(bitmask_seen, name);
      std::string_view hex = value;
      if (hex.size() > 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex.remove_prefix(2);
      uint64_t parsed = 0;
      const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), parsed, 16);
      if (hex.empty() || ec != std::errc() || end != hex.data() + hex.size() || parsed == 0 ||
          parsed > UINT32_MAX) {
        fail(at,
             "'byte_math': bitmask must be a non-zero 32-bit hex value, got '" +
                 std::string(value) + "'",
             "'byte_math' with a bad bitmask");
      }
      m.bitmask = parsed;
    } else {
      fail(at,
           "'byte_math': unknown option '" + std::string(arg) +
               "' (expected bytes, offset, oper, rvalue, result, relative, endian, string, "
               "bitmask)",
           "'byte_math' with an unknown option");
    }
  }
  for (const auto& [field, what] :
       {std::pair{&bytes, "bytes"}, std::pair{&offset, "offset"}, std::pair{&oper, "oper"},
        std::pair{&rvalue, "rvalue"}, std::pair{&result, "result"}}) {
    if (!*field) {
      fail(at,
           std::string("'byte_math' needs ") + what +
               " (bytes N, offset O, oper OP, rvalue V, result NAME)",
           "'byte_math' without " + std::string(what));
    }
  }
  static constexpr std::pair<std::string_view, ByteMath::Op> kOps[] = {
      {"+", ByteMath::Op::kAdd},        {"-", ByteMath::Op::kSubtract},
      {"*", ByteMath::Op::kMultiply},   {"/", ByteMath::Op::kDivide},
      {"<<", ByteMath::Op::kShiftLeft}, {">>", ByteMath::Op::kShiftRight}};
  const auto op = std::find_if(std::begin(kOps), std::end(kOps),
                               [&](const auto& o) { return o.first == *oper; });
  if (op == std::end(kOps)) {
    fail(at, "'byte_math': unknown oper '" + std::string(*oper) + "' (expected + - * / << >>)",
         "'byte_math' with an unknown oper");
  }
  m.op = op->second;
  if (variable_of(*bytes) != kNoVariable) {
    fail(at, "'byte_math': bytes from a variable is not supported; give a number",
         "'byte_math' with variable bytes");
  }
  const bool shift = m.op == ByteMath::Op::kShiftLeft || m.op == ByteMath::Op::kShiftRight;
  const int64_t max_bytes = shift ? 4 : m.base == NumberBase::kBinary ? 8 : 10;
  int64_t n = 0;
  if (!shift && m.base == NumberBase::kBinary && parse_int(*bytes, n) && (n == 9 || n == 10)) {
    fail(at,
         "'byte_math': bytes " + std::to_string(n) +
             " needs string (a binary number is at "
             "most 8 bytes)",
         "'byte_math' out of range");
  }
  n = number_arg("byte_math", *bytes, at, 1, max_bytes);
  m.bytes = static_cast<uint8_t>(n);
  m.offset = static_cast<int32_t>(number_arg("byte_math", *offset, at, -65535, 65535));
  m.rvalue_var = variable_of(*rvalue);
  if (m.rvalue_var == kNoVariable) {
    m.rvalue = static_cast<uint64_t>(
        number_or_variable("byte_math", "rvalue", *rvalue, at, 0, UINT32_MAX));
  }
  m.buffer = buffer_;
  m.variable = new_variable("byte_math", *result, at);
  rule_.byte_maths.push_back(m);
  rule_.matches.push_back({Match::Kind::kByteMath, rule_.byte_maths.size() - 1});
}

// asn1:OPTION[,OPTION...] — options separated by commas or blanks (Suricata reads both):
// bitstring_overflow, double_overflow, oversize_length N, absolute_offset N, relative_offset N.
void RuleBuilder::asn1(std::string_view v, size_t at) {
  Asn1 a;
  std::vector<std::string_view> tokens;
  for (std::string_view rest = v; !rest.empty();) {
    const auto start = rest.find_first_not_of(" \t,");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const auto end = rest.find_first_of(" \t,");
    tokens.push_back(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  }
  bool offset_seen = false, any_check = false;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string_view t = tokens[i];
    if (t == "bitstring_overflow") {
      a.bitstring_overflow = any_check = true;
    } else if (t == "double_overflow") {
      a.double_overflow = any_check = true;
    } else if (t == "oversize_length" || t == "absolute_offset" || t == "relative_offset") {
      if (i + 1 == tokens.size()) {
        fail(at, "'asn1': '" + std::string(t) + "' needs a number", "'asn1' without a number");
      }
      const std::string_view n = tokens[++i];
      if (t == "oversize_length") {
        a.oversize_length = static_cast<uint32_t>(number_arg("asn1", n, at, 0, UINT32_MAX));
        any_check = true;
        continue;
      }
      if (offset_seen) {
        fail(at, "'asn1': give one of absolute_offset and relative_offset",
             "'asn1' with two offsets");
      }
      offset_seen = true;
      a.relative = t == "relative_offset";
      a.offset = static_cast<int32_t>(number_arg("asn1", n, at, a.relative ? -65535 : 0, 65535));
    } else {
      fail(at,
           "'asn1': unknown option '" + std::string(t) +
               "' (expected bitstring_overflow, double_overflow, oversize_length N, "
               "absolute_offset N, relative_offset N)",
           "'asn1' with an unknown option");
    }
  }
  if (!any_check) {
    fail(at, "'asn1' needs a check (bitstring_overflow, double_overflow or oversize_length)",
         "'asn1' without a check");
  }
  a.buffer = buffer_;
  rule_.asn1s.push_back(a);
  rule_.matches.push_back({Match::Kind::kAsn1, rule_.asn1s.size() - 1});
}

}  // namespace spanguard::rules::detail
