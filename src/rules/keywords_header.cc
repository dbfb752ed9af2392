// Packet header keywords: flags, dsize, ttl, tos, id, ip_proto, window, seq, ack, icmp_id,
// icmp_seq, itype, icode, sameip.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "rule_builder.h"

namespace spanguard::rules::detail {

std::span<const RuleBuilder::Keyword> RuleBuilder::header_keywords() {
  static constexpr Keyword kKeywords[] = {
      {"flags", &RuleBuilder::flags, true},
      {"dsize", &RuleBuilder::dsize, true},
      {"ttl", &RuleBuilder::ttl, true},
      {"tos", &RuleBuilder::tos, true},
      {"id", &RuleBuilder::id, true},
      {"ip_proto", &RuleBuilder::ip_proto, true},
      {"window", &RuleBuilder::window, true},
      {"seq", &RuleBuilder::seq, true},
      {"ack", &RuleBuilder::ack, true},
      {"icmp_id", &RuleBuilder::icmp_id, true},
      {"icmp_seq", &RuleBuilder::icmp_seq, true},
      {"sameip", &RuleBuilder::sameip, false},
      {"itype", &RuleBuilder::itype, true},
      {"icode", &RuleBuilder::icode, true},
  };
  return kKeywords;
}

void RuleBuilder::flags(std::string_view v, size_t at) {
  FlagsCondition f;
  v = trim(v);
  const auto comma = v.find(',');
  std::string_view set = trim(v.substr(0, comma));
  auto bits = [&](std::string_view s, uint8_t& out) {
    for (const char ch : s) {
      switch (ch) {
        case 'F':
          out |= 0x01;
          break;
        case 'S':
          out |= 0x02;
          break;
        case 'R':
          out |= 0x04;
          break;
        case 'P':
          out |= 0x08;
          break;
        case 'A':
          out |= 0x10;
          break;
        case 'U':
          out |= 0x20;
          break;
        case 'E':
        case '2':
          out |= 0x40;
          break;
        case 'C':
        case '1':
          out |= 0x80;
          break;
        case '0':
          break;
        default:
          fail(at,
               std::string("'flags': unknown flag '") + ch + "' (expected F S R P A U C E 1 2 0)",
               "'flags' with an unknown flag");
      }
    }
  };
  // The modifier may lead or trail the flags (Snort accepts both).
  for (int pass = 0; pass < 2 && !set.empty(); ++pass) {
    const char m = pass == 0 ? set.front() : set.back();
    const auto mode = m == '+'   ? FlagsCondition::Mode::kAll
                      : m == '*' ? FlagsCondition::Mode::kAny
                      : m == '!' ? FlagsCondition::Mode::kNone
                                 : FlagsCondition::Mode::kExact;
    if (mode == FlagsCondition::Mode::kExact) continue;
    f.mode = mode;
    set = pass == 0 ? set.substr(1) : set.substr(0, set.size() - 1);
    break;
  }
  if (set.empty()) fail(at, "'flags' needs at least one flag", "'flags' without flags");
  bits(set, f.flags);
  if (comma != std::string_view::npos) bits(trim(v.substr(comma + 1)), f.ignored);
  rule_.flags = f;
}

SizeCondition RuleBuilder::size_condition(std::string_view keyword, std::string_view v,
                                          size_t at) const {
  SizeCondition d;
  v = trim(v);
  int64_t a = 0, b = 0;
  const auto range = v.find("<>");
  bool ok;
  auto prefixed = [&](std::string_view prefix, SizeCondition::Op op) {
    if (v.substr(0, prefix.size()) != prefix) return false;
    d.op = op;
    ok = parse_int(v.substr(prefix.size()), a);
    return true;
  };
  if (range != std::string_view::npos) {
    d.op = SizeCondition::Op::kRange;
    ok = parse_int(v.substr(0, range), a) && parse_int(v.substr(range + 2), b) && a < b;
  } else if (!prefixed("<=", SizeCondition::Op::kLessEqual) &&
             !prefixed(">=", SizeCondition::Op::kGreaterEqual) &&
             !prefixed("<", SizeCondition::Op::kLess) &&
             !prefixed(">", SizeCondition::Op::kGreater) &&
             !prefixed("!", SizeCondition::Op::kNotEqual) &&
             !prefixed("=", SizeCondition::Op::kEqual)) {
    ok = parse_int(v, a);
  }
  const int64_t max = keyword == "dsize" || keyword == "id" || keyword == "window" ||
                              keyword == "icmp_id" || keyword == "icmp_seq"
                          ? 65535
                      : keyword == "itype" || keyword == "icode" || keyword == "ttl" ||
                              keyword == "tos" || keyword == "ip_proto"
                          ? 255
                          : UINT32_MAX;
  if (!ok || a < 0 || a > max || b < 0 || b > max) {
    fail(at,
         "'" + std::string(keyword) + "' expects N, !N, <N, <=N, >N, >=N or N<>M (0.." +
             std::to_string(max) + "), got '" + std::string(v) + "'",
         "'" + std::string(keyword) + "' with a bad value");
  }
  d.a = static_cast<uint32_t>(a);
  d.b = static_cast<uint32_t>(b);
  return d;
}

void RuleBuilder::dsize(std::string_view v, size_t at) {
  rule_.dsize = size_condition("dsize", v, at);
}

void RuleBuilder::header_test(HeaderTest::Field field, std::string_view keyword, std::string_view v,
                              size_t at) {
  std::string text(trim(v));
  // tos is often written in hex (tos:0x10); the integer forms take decimal.
  int64_t hex = 0;
  const bool negated = !text.empty() && text.front() == '!';
  if (parse_number(negated ? std::string_view(text).substr(1) : std::string_view(text), hex) &&
      text.find("0x") != std::string::npos) {
    text = (negated ? "!" : "") + std::to_string(hex);
  }
  rule_.header_tests.push_back({field, size_condition(keyword, text, at)});
}

// ip_proto:[!|<|>]N or a protocol name (tcp, udp, icmp, ipv6-icmp, gre, esp, ah, sctp, ...).
void RuleBuilder::ip_proto(std::string_view v, size_t at) {
  static const std::pair<std::string_view, int> kNames[] = {
      {"icmp", 1},    {"igmp", 2},  {"ipip", 4},  {"tcp", 6}, {"udp", 17},
      {"ipv6", 41},   {"gre", 47},  {"esp", 50},  {"ah", 51}, {"ipv6-icmp", 58},
      {"icmpv6", 58}, {"pim", 103}, {"sctp", 132}};
  std::string_view t = trim(v);
  std::string prefix;
  if (!t.empty() && (t.front() == '!' || t.front() == '<' || t.front() == '>')) {
    prefix = t.substr(0, 1);
    t = trim(t.substr(1));
  }
  for (const auto& [name, number] : kNames) {
    if (t == name) {
      header_test(HeaderTest::Field::kIpProto, "ip_proto", prefix + std::to_string(number), at);
      return;
    }
  }
  header_test(HeaderTest::Field::kIpProto, "ip_proto", prefix + std::string(t), at);
}

}  // namespace spanguard::rules::detail
