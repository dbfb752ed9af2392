// The rule grammar: header tokens, then `keyword[:value];` options. Each keyword has one entry in
// RuleBuilder::kKeywords (or the buffer table kBuffers); anything else is refused with a reason, so
// the coverage report of a rule set is a count of those reasons.
#include "spanguard/rules/parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <functional>
#include <sstream>

#include "app_keywords.h"
#include "spanguard/core/text.h"

namespace spanguard::rules {

// ---- names -----------------------------------------------------------------------------------

const char* to_string(Action a) {
  switch (a) {
    case Action::kAlert:
      return "alert";
    case Action::kPass:
      return "pass";
    case Action::kDrop:
      return "drop";
    case Action::kRejectSrc:
      return "rejectsrc";
    case Action::kRejectDst:
      return "rejectdst";
    case Action::kRejectBoth:
      return "rejectboth";
  }
  return "alert";
}

std::optional<Transform::Kind> transform_from_name(std::string_view name) {
  static constexpr std::pair<std::string_view, Transform::Kind> kNames[] = {
      {"dotprefix", Transform::Kind::kDotPrefix},
      {"to_lowercase", Transform::Kind::kToLowercase},
      {"to_uppercase", Transform::Kind::kToUppercase},
      {"strip_whitespace", Transform::Kind::kStripWhitespace},
      {"compress_whitespace", Transform::Kind::kCompressWhitespace},
      {"url_decode", Transform::Kind::kUrlDecode},
      {"to_md5", Transform::Kind::kToMd5},
      {"to_sha1", Transform::Kind::kToSha1},
      {"to_sha256", Transform::Kind::kToSha256},
      {"xor", Transform::Kind::kXor},
  };
  for (const auto& [n, kind] : kNames) {
    if (n == name) return kind;
  }
  return std::nullopt;
}

bool FlagsCondition::matches(uint8_t packet) const {
  const uint8_t p = packet & static_cast<uint8_t>(~ignored);
  switch (mode) {
    case Mode::kExact:
      return p == flags;
    case Mode::kAll:
      return (p & flags) == flags;
    case Mode::kAny:
      return (p & flags) != 0 || flags == 0;
    case Mode::kNone:
      return (p & flags) == 0;
  }
  return false;
}

bool SizeCondition::matches(uint32_t size) const {
  switch (op) {
    case Op::kEqual:
      return size == a;
    case Op::kNotEqual:
      return size != a;
    case Op::kLess:
      return size < a;
    case Op::kLessEqual:
      return size <= a;
    case Op::kGreater:
      return size > a;
    case Op::kGreaterEqual:
      return size >= a;
    case Op::kRange:
      return size > a && size < b;
  }
  return false;
}

std::string Diagnostic::to_string() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) +
         (severity == Severity::kError ? ": error: " : ": warning: ") + message;
}

std::vector<std::pair<std::string, size_t>> RuleSet::failures_by_reason() const {
  std::map<std::string, size_t> counts;
  for (const Diagnostic& d : diagnostics) {
    if (d.severity == Diagnostic::Severity::kError) ++counts[d.reason];
  }
  std::vector<std::pair<std::string, size_t>> out(counts.begin(), counts.end());
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

// ---- configuration ---------------------------------------------------------------------------

namespace {

constexpr core::Param kParams[] = {
    {.name = "files",
     .type = core::ParamType::kStringList,
     .default_value = "[]",
     .help = "Rule files loaded at start (--rules adds to these)"},
    {.name = "strict",
     .type = core::ParamType::kBool,
     .default_value = "false",
     .help = "Refuse to start when any rule has an error (otherwise bad rules are skipped and "
             "reported)"},
    {.name = "classification_file",
     .type = core::ParamType::kString,
     .default_value = "rules/classification.config",
     .help = "classtype definitions (classification.config format), relative to the working "
             "directory"},
    {.name = "threshold_file",
     .type = core::ParamType::kString,
     .default_value = "\"\"",
     .help = "Suricata threshold.config: threshold/event_filter and suppress lines applied to the "
             "loaded rules (rate_filter is reported and ignored); empty: none"},
    {.name = "vars.address",
     .type = core::ParamType::kStringMap,
     .default_value = "{}",
     .help = "Address variables, added to or replacing the built-in Suricata defaults (HOME_NET: "
             "RFC 1918 ranges, EXTERNAL_NET: !$HOME_NET, HTTP_SERVERS: $HOME_NET, ...), e.g. "
             "{HOME_NET: \"[198.51.100.0/24]\"}"},
    {.name = "vars.port",
     .type = core::ParamType::kStringMap,
     .default_value = "{}",
     .help = "Port variables, added to or replacing the built-in defaults (HTTP_PORTS: 80, "
             "SSH_PORTS: 22, ...)"},
};
constexpr core::ParamSection kSection{"rules", "Rule files and variables", kParams};

}  // namespace

const core::ParamSection& rules_params() { return kSection; }

Variables rule_variables(const core::Config& config) {
  Variables v = default_variables();
  for (const auto& [name, text] : config.get("rules.vars.address").as_map())
    v.addresses[name] = text;
  for (const auto& [name, text] : config.get("rules.vars.port").as_map()) v.ports[name] = text;
  return v;
}

// ---- parsing ---------------------------------------------------------------------------------

namespace {

using core::trim;

// The commands flowbits and xbits share.
std::optional<FlowbitOp::Cmd> bit_command(std::string_view name) {
  static constexpr std::pair<std::string_view, FlowbitOp::Cmd> kCmds[] = {
      {"set", FlowbitOp::Cmd::kSet},
      {"unset", FlowbitOp::Cmd::kUnset},
      {"toggle", FlowbitOp::Cmd::kToggle},
      {"isset", FlowbitOp::Cmd::kIsSet},
      {"isnotset", FlowbitOp::Cmd::kIsNotSet}};
  for (const auto& [n, c] : kCmds) {
    if (n == name) return c;
  }
  return std::nullopt;
}

// Thrown inside one rule's parse; caught per rule.
struct RuleError {
  size_t offset;  // in the rule's text
  std::string message;
  std::string reason;
};

[[noreturn]] void fail(size_t offset, std::string message, std::string reason = {}) {
  if (reason.empty()) reason = message;
  throw RuleError{offset, std::move(message), std::move(reason)};
}

bool parse_int(std::string_view text, int64_t& out) {
  text = trim(text);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// One rule's state while its options are read.
class RuleBuilder {
 public:
  RuleBuilder(Rule& rule, const Classifications* classifications, const Registry& registry,
              std::vector<std::pair<std::string, size_t>>& warnings)
      : rule_(rule), classifications_(classifications), registry_(registry), warnings_(warnings) {}

  void option(std::string_view name, std::optional<std::string_view> value, size_t at,
              size_t value_at);
  void finish(size_t end);
  size_t sid_offset() const { return sid_at_; }  // where the sid option is written

 private:
  using Handler = void (RuleBuilder::*)(std::string_view, size_t);
  struct Keyword {
    std::string_view name;
    Handler handler;
    bool takes_value;  // true: required; false: none allowed
  };
  static const Keyword kKeywords[];

  Content& last_content(std::string_view keyword, size_t at);
  int64_t number_arg(std::string_view keyword, std::string_view v, size_t at, int64_t lo,
                     int64_t hi);
  std::string quoted(std::string_view keyword, std::string_view v, size_t at, bool& negated,
                     bool keep_escapes = false);
  const Match* previous_in_buffer(Buffer b) const;

  void msg(std::string_view v, size_t at) {
    bool n;
    rule_.msg = quoted("msg", v, at, n);
  }
  void sid(std::string_view v, size_t at) {
    rule_.sid = static_cast<uint32_t>(number_arg("sid", v, at, 1, UINT32_MAX));
    sid_seen_ = true;
  }
  void rev(std::string_view v, size_t at) {
    rule_.rev = static_cast<uint32_t>(number_arg("rev", v, at, 0, UINT32_MAX));
  }
  void gid(std::string_view v, size_t at) {
    rule_.gid = static_cast<uint32_t>(number_arg("gid", v, at, 1, UINT32_MAX));
  }
  void priority(std::string_view v, size_t at) {
    rule_.priority = static_cast<uint32_t>(number_arg("priority", v, at, 1, 255));
    priority_seen_ = true;
  }
  void classtype(std::string_view v, size_t at);
  void metadata(std::string_view v, size_t at);
  void reference(std::string_view v, size_t at);
  void content(std::string_view v, size_t at);
  void nocase(std::string_view, size_t at) { last_content("nocase", at).nocase = true; }
  void rawbytes(std::string_view, size_t at) { last_content("rawbytes", at); }
  void offset(std::string_view v, size_t at);
  void depth(std::string_view v, size_t at);
  void distance(std::string_view v, size_t at);
  void within(std::string_view v, size_t at);
  void fast_pattern(std::string_view v, size_t at);
  void startswith(std::string_view, size_t at);
  void endswith(std::string_view, size_t at);
  void pcre(std::string_view v, size_t at);
  void flow(std::string_view v, size_t at);
  void flags(std::string_view v, size_t at);
  void dsize(std::string_view v, size_t at);
  void bsize(std::string_view v, size_t at);
  void stream_size(std::string_view v, size_t at);
  void header_test(HeaderTest::Field field, std::string_view keyword, std::string_view v,
                   size_t at);
  void ttl(std::string_view v, size_t at) { header_test(HeaderTest::Field::kTtl, "ttl", v, at); }
  void tos(std::string_view v, size_t at) { header_test(HeaderTest::Field::kTos, "tos", v, at); }
  void id(std::string_view v, size_t at) { header_test(HeaderTest::Field::kIpId, "id", v, at); }
  void ip_proto(std::string_view v, size_t at);
  void window(std::string_view v, size_t at) {
    header_test(HeaderTest::Field::kWindow, "window", v, at);
  }
  void seq(std::string_view v, size_t at) { header_test(HeaderTest::Field::kSeq, "seq", v, at); }
  void ack(std::string_view v, size_t at) { header_test(HeaderTest::Field::kAck, "ack", v, at); }
  void icmp_id(std::string_view v, size_t at) {
    header_test(HeaderTest::Field::kIcmpId, "icmp_id", v, at);
  }
  void icmp_seq(std::string_view v, size_t at) {
    header_test(HeaderTest::Field::kIcmpSeq, "icmp_seq", v, at);
  }
  void sameip(std::string_view, size_t) { rule_.sameip = true; }
  void ftpdata_command(std::string_view v, size_t at);
  void xbits(std::string_view v, size_t at);
  void flowint(std::string_view v, size_t at);
  void itype(std::string_view v, size_t at) { once("itype", rule_.itype, v, at); }
  void icode(std::string_view v, size_t at) { once("icode", rule_.icode, v, at); }
  void once(std::string_view keyword, std::optional<SizeCondition>& out, std::string_view v,
            size_t at) {
    if (out) {
      fail(at, "'" + std::string(keyword) + "' given twice (write a range, e.g. 1<>20)",
           "'" + std::string(keyword) + "' given twice");
    }
    out = size_condition(keyword, v, at);
  }
  void urilen(std::string_view v, size_t at);
  void app_layer_protocol(std::string_view v, size_t at);
  void flowbits(std::string_view v, size_t at);
  void isdataat(std::string_view v, size_t at);
  void base64_decode(std::string_view v, size_t at);
  void byte_extract(std::string_view v, size_t at);
  // The index of byte_extract variable `name` in this rule, or kNoVariable.
  int8_t variable_of(std::string_view name) const {
    for (size_t i = 0; i < rule_.variables.size(); ++i) {
      if (rule_.variables[i] == name) return static_cast<int8_t>(i);
    }
    return kNoVariable;
  }
  // A content modifier's value: a number in [lo, hi] into `number`, or a variable into `var`.
  void modifier_value(std::string_view keyword, std::string_view v, size_t at, int64_t lo,
                      int64_t hi, std::optional<int32_t>& number, int8_t& var) {
    if (const int8_t i = variable_of(trim(v)); i != kNoVariable) {
      number = 0;
      var = i;
      return;
    }
    number = static_cast<int32_t>(number_arg(keyword, v, at, lo, hi));
  }
  void threshold(std::string_view v, size_t at) { alert_rate("threshold", v, at); }
  void detection_filter(std::string_view v, size_t at) { alert_rate("detection_filter", v, at); }
  void alert_rate(std::string_view keyword, std::string_view v, size_t at);
  void byte_test(std::string_view v, size_t at);
  void byte_jump(std::string_view v, size_t at);
  void noalert(std::string_view, size_t) { rule_.noalert = true; }
  void transform(Transform::Kind kind, std::string_view name, std::optional<std::string_view> v,
                 size_t at);
  SizeCondition size_condition(std::string_view keyword, std::string_view v, size_t at) const;
  void ignored(std::string_view, size_t) {}

  Rule& rule_;
  const Classifications* classifications_;
  const Registry& registry_;
  std::vector<std::pair<std::string, size_t>>& warnings_;
  Buffer buffer_ = kPayloadBuffer;  // the current sticky buffer
  bool sid_seen_ = false;
  size_t sid_at_ = 0;
  bool priority_seen_ = false;
};

const RuleBuilder::Keyword RuleBuilder::kKeywords[] = {
    {"msg", &RuleBuilder::msg, true},
    {"sid", &RuleBuilder::sid, true},
    {"rev", &RuleBuilder::rev, true},
    {"gid", &RuleBuilder::gid, true},
    {"priority", &RuleBuilder::priority, true},
    {"classtype", &RuleBuilder::classtype, true},
    {"metadata", &RuleBuilder::metadata, true},
    {"reference", &RuleBuilder::reference, true},
    {"content", &RuleBuilder::content, true},
    {"uricontent", &RuleBuilder::content, true},  // content + http_uri (handled in content())
    {"nocase", &RuleBuilder::nocase, false},
    {"rawbytes", &RuleBuilder::rawbytes, false},
    {"offset", &RuleBuilder::offset, true},
    {"depth", &RuleBuilder::depth, true},
    {"distance", &RuleBuilder::distance, true},
    {"within", &RuleBuilder::within, true},
    {"fast_pattern", &RuleBuilder::fast_pattern, false},
    {"startswith", &RuleBuilder::startswith, false},
    {"endswith", &RuleBuilder::endswith, false},
    {"pcre", &RuleBuilder::pcre, true},
    {"flow", &RuleBuilder::flow, true},
    {"flags", &RuleBuilder::flags, true},
    {"dsize", &RuleBuilder::dsize, true},
    {"bsize", &RuleBuilder::bsize, true},
    {"stream_size", &RuleBuilder::stream_size, true},
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
    {"urilen", &RuleBuilder::urilen, true},
    {"app-layer-protocol", &RuleBuilder::app_layer_protocol, true},
    {"ftpdata_command", &RuleBuilder::ftpdata_command, true},
    {"flowbits", &RuleBuilder::flowbits, true},
    {"xbits", &RuleBuilder::xbits, true},
    {"flowint", &RuleBuilder::flowint, true},
    {"isdataat", &RuleBuilder::isdataat, true},
    {"base64_decode", &RuleBuilder::base64_decode, false},
    {"byte_extract", &RuleBuilder::byte_extract, true},
    {"threshold", &RuleBuilder::threshold, true},
    {"detection_filter", &RuleBuilder::detection_filter, true},
    {"byte_test", &RuleBuilder::byte_test, true},
    {"byte_jump", &RuleBuilder::byte_jump, true},
    {"noalert", &RuleBuilder::noalert, false},
};

// Keywords that change neither what matches nor what is reported as matching; loaded with a
// warning.
constexpr std::string_view kIgnoredWithWarning[] = {"target", "tag"};

// Content modifiers apply to the last content; isdataat and byte_* written between the content
// and its modifiers do not change which (Suricata looks up the last content the same way), a pcre
// does.
Content& RuleBuilder::last_content(std::string_view keyword, size_t at) {
  auto last = rule_.matches.rbegin();
  while (last != rule_.matches.rend() &&
         (last->kind == Match::Kind::kDataAt || last->kind == Match::Kind::kByteTest ||
          last->kind == Match::Kind::kByteJump || last->kind == Match::Kind::kByteExtract))
    ++last;
  if (rule_.contents.empty() || last == rule_.matches.rend() ||
      last->kind != Match::Kind::kContent) {
    fail(at, "'" + std::string(keyword) + "' needs a preceding content",
         "'" + std::string(keyword) + "' without a preceding content");
  }
  return rule_.contents.back();
}

int64_t RuleBuilder::number_arg(std::string_view keyword, std::string_view v, size_t at, int64_t lo,
                                int64_t hi) {
  int64_t n = 0;
  if (!parse_int(v, n)) {
    fail(at, "'" + std::string(keyword) + "' expects a number, got '" + std::string(trim(v)) + "'",
         "'" + std::string(keyword) + "' with a non-numeric value");
  }
  if (n < lo || n > hi) {
    fail(at,
         "'" + std::string(keyword) + "' value " + std::to_string(n) + " is out of range " +
             std::to_string(lo) + ".." + std::to_string(hi),
         "'" + std::string(keyword) + "' out of range");
  }
  return n;
}

std::string RuleBuilder::quoted(std::string_view keyword, std::string_view v, size_t at,
                                bool& negated, bool keep_escapes) {
  v = trim(v);
  negated = false;
  if (!v.empty() && v.front() == '!') {
    negated = true;
    v = trim(v.substr(1));
  }
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') {
    fail(at, "'" + std::string(keyword) + "' expects a quoted string",
         "'" + std::string(keyword) + "' without quotes");
  }
  std::string out;
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] == '\\' && i + 2 < v.size() && !keep_escapes) {
      ++i;  // \" \; \\ \: keep the character itself
    }
    out += v[i];
  }
  return out;
}

const Match* RuleBuilder::previous_in_buffer(Buffer b) const {
  for (auto it = rule_.matches.rbegin(); it != rule_.matches.rend(); ++it) {
    if (rule_.buffer_of(*it) == b) return &*it;
  }
  return nullptr;
}

void RuleBuilder::classtype(std::string_view v, size_t at) {
  rule_.classtype = std::string(trim(v));
  const Classification* c =
      classifications_ != nullptr ? classifications_->find(rule_.classtype) : nullptr;
  if (c == nullptr) {
    fail(at, "unknown classtype '" + rule_.classtype + "' (not in the classification file)",
         "unknown classtype");
  }
  rule_.category = c->description;
  if (!priority_seen_) rule_.priority = c->priority;
}

void RuleBuilder::metadata(std::string_view v, size_t) {
  std::string_view rest = v;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (item.empty()) continue;
    const auto space = item.find(' ');
    rule_.metadata.emplace_back(std::string(item.substr(0, space)),
                                space == std::string_view::npos
                                    ? std::string()
                                    : std::string(trim(item.substr(space + 1))));
  }
}

void RuleBuilder::reference(std::string_view v, size_t at) {
  const auto comma = v.find(',');
  if (comma == std::string_view::npos) {
    fail(at, "'reference' expects TYPE,VALUE", "'reference' without a type");
  }
  rule_.references.push_back(
      {std::string(trim(v.substr(0, comma))), std::string(trim(v.substr(comma + 1)))});
}

void RuleBuilder::content(std::string_view v, size_t value_at) {
  Content c;
  v = trim(v);
  const char* origin = v.data();  // the character at value_at
  if (!v.empty() && v.front() == '!') {
    c.negated = true;
    v = trim(v.substr(1));
  }
  const size_t at = value_at + static_cast<size_t>(v.data() - origin);  // the opening quote
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') {
    fail(at, "'content' expects a quoted string, like content:\"abc|0d 0a|\"",
         "'content' without quotes");
  }
  // Escapes \" \; \\ (and \: for Snort compatibility); |41 42| hex blocks.
  for (size_t i = 1; i + 1 < v.size(); ++i) {
    const char ch = v[i];
    if (ch == '\\') {
      if (i + 2 >= v.size() ||
          (v[i + 1] != '"' && v[i + 1] != ';' && v[i + 1] != '\\' && v[i + 1] != ':')) {
        fail(at + i, "'content': invalid escape (only \\\" \\; \\\\ and \\: are allowed)",
             "'content' with an invalid escape");
      }
      c.bytes += v[++i];
    } else if (ch == '|') {
      const size_t close = v.find('|', i + 1);
      if (close == std::string_view::npos || close >= v.size() - 1) {
        fail(at + i, "'content': unterminated |hex| block",
             "'content' with an unterminated hex block");
      }
      int nibble = -1;
      for (size_t j = i + 1; j < close; ++j) {
        const char h = v[j];
        if (h == ' ') continue;
        const int d = std::isdigit(static_cast<unsigned char>(h)) ? h - '0'
                      : (h >= 'a' && h <= 'f')                    ? h - 'a' + 10
                      : (h >= 'A' && h <= 'F')                    ? h - 'A' + 10
                                                                  : -1;
        if (d < 0)
          fail(at + j, std::string("'content': '") + h + "' is not a hex digit",
               "'content' with a bad hex digit");
        if (nibble < 0) {
          nibble = d;
        } else {
          c.bytes += static_cast<char>(nibble << 4 | d);
          nibble = -1;
        }
      }
      if (nibble >= 0)
        fail(at + i, "'content': odd number of hex digits", "'content' with a bad hex digit");
      i = close;
    } else {
      c.bytes += ch;
    }
  }
  if (c.bytes.empty()) fail(at, "'content' is empty", "empty content");
  c.buffer = buffer_;
  rule_.contents.push_back(std::move(c));
  rule_.matches.push_back({Match::Kind::kContent, rule_.contents.size() - 1});
}

void RuleBuilder::offset(std::string_view v, size_t at) {
  Content& c = last_content("offset", at);
  modifier_value("offset", v, at, 0, 65535 * 16, c.offset, c.offset_var);
}

void RuleBuilder::depth(std::string_view v, size_t at) {
  Content& c = last_content("depth", at);
  modifier_value("depth", v, at, 1, 65535 * 16, c.depth, c.depth_var);
  if (c.depth_var == kNoVariable && *c.depth < static_cast<int32_t>(c.bytes.size())) {
    fail(at,
         "'depth' " + std::to_string(*c.depth) + " is shorter than the content (" +
             std::to_string(c.bytes.size()) + " bytes)",
         "'depth' shorter than its content");
  }
}

void RuleBuilder::distance(std::string_view v, size_t at) {
  Content& c = last_content("distance", at);
  modifier_value("distance", v, at, -65535 * 16, 65535 * 16, c.distance, c.distance_var);
}

void RuleBuilder::within(std::string_view v, size_t at) {
  Content& c = last_content("within", at);
  modifier_value("within", v, at, 1, 65535 * 16, c.within, c.within_var);
  if (c.within_var == kNoVariable && *c.within < static_cast<int32_t>(c.bytes.size())) {
    fail(at,
         "'within' " + std::to_string(*c.within) + " is shorter than the content (" +
             std::to_string(c.bytes.size()) + " bytes)",
         "'within' shorter than its content");
  }
}

void RuleBuilder::fast_pattern(std::string_view, size_t at) {
  Content& c = last_content("fast_pattern", at);
  if (c.negated) fail(at, "'fast_pattern' cannot be a negated content", "negated fast_pattern");
  c.fast_pattern = true;
}

void RuleBuilder::startswith(std::string_view, size_t at) {
  last_content("startswith", at).startswith = true;
}
void RuleBuilder::endswith(std::string_view, size_t at) {
  last_content("endswith", at).endswith = true;
}

void RuleBuilder::pcre(std::string_view v, size_t at) {
  Pcre p;
  bool negated = false;
  // Backslashes belong to the regular expression: PCRE reads \; and \" as the characters
  // themselves.
  const std::string text = quoted("pcre", v, at, negated, /*keep_escapes=*/true);
  p.negated = negated;
  const auto first = text.find('/'), last = text.rfind('/');
  if (first != 0 || last == first) {
    fail(at, "'pcre' expects \"/pattern/flags\"", "'pcre' without /delimiters/");
  }
  p.pattern = text.substr(1, last - 1);
  p.buffer = buffer_;
  for (const char f : std::string_view(text).substr(last + 1)) {
    switch (f) {
      case 'i':
      case 's':
      case 'm':
      case 'x':
      case 'A':
      case 'E':
      case 'G':
        p.pcre_flags += f;
        break;
      case 'R':
        p.relative = true;
        break;
      case 'B':
      case 'O':
        break;  // rawbytes; match-limit override
      default:
        if (const Buffer b = registry_.find_pcre_flag(f); b != Registry::kNoBuffer) {
          p.buffer = b;  // U, I, H, P, ...: the buffer the application layer names by the flag
          break;
        }
        fail(at, std::string("'pcre': unknown modifier '") + f + "'",
             "'pcre' with an unknown modifier");
    }
  }
  if (p.relative && previous_in_buffer(p.buffer) == nullptr) {
    fail(at, "'pcre' with R (relative) needs a preceding content or pcre in the same buffer",
         "relative pcre without a preceding match");
  }
  rule_.pcres.push_back(std::move(p));
  rule_.matches.push_back({Match::Kind::kPcre, rule_.pcres.size() - 1});
}

void RuleBuilder::flow(std::string_view v, size_t at) {
  FlowCondition f;
  std::string_view rest = v;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (item == "established")
      f.established = true;
    else if (item == "not_established")
      f.not_established = true;
    else if (item == "stateless")
      f.stateless = true;
    else if (item == "to_server" || item == "from_client")
      f.to_server = true;
    else if (item == "to_client" || item == "from_server")
      f.to_client = true;
    else if (item == "only_stream")
      f.only_stream = true;
    else if (item == "no_stream")
      f.no_stream = true;
    else
      fail(at,
           "'flow': unknown option '" + std::string(item) +
               "' (expected established, "
               "not_established, stateless, to_server, to_client, from_server, from_client, "
               "only_stream, no_stream)",
           "'flow:" + std::string(item) + "'");
  }
  if (f.to_server && f.to_client)
    fail(at, "'flow': to_server and to_client exclude each other", "'flow' with both directions");
  if (f.established && f.not_established)
    fail(at, "'flow': established and not_established exclude each other",
         "'flow' with both states");
  if (f.only_stream && f.no_stream)
    fail(at, "'flow': only_stream and no_stream exclude each other",
         "'flow' with both stream options");
  rule_.flow = f;
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

// bsize: the size of the current sticky buffer (Suricata: only after a sticky buffer).
void RuleBuilder::bsize(std::string_view v, size_t at) {
  if (buffer_ == kPayloadBuffer) {
    fail(at, "'bsize' needs a sticky buffer before it (e.g. http.uri; bsize:>64;)",
         "'bsize' without a sticky buffer");
  }
  rule_.buffer_sizes.push_back({buffer_, size_condition("bsize", v, at)});
}

// urilen:[op]N[,norm|raw] — the length of the normalised (default) or raw request URI.
void RuleBuilder::urilen(std::string_view v, size_t at) {
  const auto comma = v.find(',');
  const std::string_view form =
      comma == std::string_view::npos ? "norm" : trim(v.substr(comma + 1));
  if (form != "norm" && form != "raw") {
    fail(at, "'urilen': expected 'norm' or 'raw' after the comma, got '" + std::string(form) + "'",
         "'urilen' with a bad form");
  }
  const Buffer b = registry_.find_sticky(form == "raw" ? "http.uri.raw" : "http.uri");
  if (b == Registry::kNoBuffer) fail(at, "'urilen' needs HTTP parsing", "'urilen' without HTTP");
  rule_.buffer_sizes.push_back({b, size_condition("urilen", v.substr(0, comma), at)});
}

// app-layer-protocol:[!]NAME[,MODE] — Suricata's modes (to_server, to_client, direction, final,
// original, either) all compare with the one protocol a flow is identified as here.
void RuleBuilder::app_layer_protocol(std::string_view v, size_t at) {
  AppLayerCondition c;
  v = trim(v.substr(0, v.find(',')));
  if (!v.empty() && v.front() == '!') {
    c.negated = true;
    v = trim(v.substr(1));
  }
  const auto proto = core::app_proto_from_name(v);
  if (!proto) {
    fail(at, "'app-layer-protocol': unknown protocol '" + std::string(v) + "'",
         "'app-layer-protocol:" + std::string(v) + "'");
  }
  c.proto = *proto;
  rule_.app_layer = c;
}

// ftpdata_command:retr|stor — an FTP data connection by the control session's command for it; as
// in Suricata it makes the rule an ftp-data rule.
void RuleBuilder::ftpdata_command(std::string_view v, size_t at) {
  v = trim(v);
  if (v == "retr") {
    rule_.ftpdata_command = core::FtpDataCommand::kRetr;
  } else if (v == "stor") {
    rule_.ftpdata_command = core::FtpDataCommand::kStor;
  } else {
    fail(at, "'ftpdata_command' expects retr or stor, got '" + std::string(v) + "'",
         "'ftpdata_command' with a bad value");
  }
  if (rule_.app_proto != AppProto::kNone && rule_.app_proto != AppProto::kFtpData) {
    fail(at,
         "'ftpdata_command' applies to ftp-data, but the rule is for " +
             std::string(core::to_string(rule_.app_proto)),
         "'ftpdata_command' outside ftp-data");
  }
  rule_.app_proto = AppProto::kFtpData;
}

namespace {

std::vector<std::string_view> split_args(std::string_view v) {
  std::vector<std::string_view> out;
  while (true) {
    const auto comma = v.find(',');
    out.push_back(trim(v.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    v = v.substr(comma + 1);
  }
  return out;
}

// A number as byte_test/byte_jump write them: decimal (optionally negative) or 0x hex.
bool parse_number(std::string_view t, int64_t& out) {
  t = trim(t);
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    uint64_t v = 0;
    const auto [end, ec] = std::from_chars(t.data() + 2, t.data() + t.size(), v, 16);
    if (ec != std::errc() || end != t.data() + t.size() || v > INT64_MAX) return false;
    out = static_cast<int64_t>(v);
    return true;
  }
  return parse_int(t, out);
}

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

// threshold:type limit|threshold|both, track by_src|by_dst|by_rule|by_both, count N, seconds T;
// detection_filter:track ..., count N, seconds T. The parts may come in any order.
void RuleBuilder::alert_rate(std::string_view keyword, std::string_view v, size_t at) {
  const std::string k(keyword);
  if (rule_.rate) {
    fail(at, "'" + k + "': a rule takes one threshold or detection_filter",
         "more than one threshold/detection_filter");
  }
  AlertRate r;
  const bool filter = keyword == "detection_filter";
  if (filter) r.kind = AlertRate::Kind::kDetectionFilter;
  bool type = filter, track = false, count = false, seconds = false;
  for (const std::string_view part : split_args(v)) {
    const auto space = part.find_first_of(" \t");
    const std::string_view name = part.substr(0, space);
    const std::string_view value =
        space == std::string_view::npos ? std::string_view() : trim(part.substr(space));
    int64_t n = 0;
    if (name == "type" && !filter) {
      if (value == "limit")
        r.kind = AlertRate::Kind::kLimit;
      else if (value == "threshold")
        r.kind = AlertRate::Kind::kThreshold;
      else if (value == "both")
        r.kind = AlertRate::Kind::kBoth;
      else
        fail(at,
             "'" + k + "': type must be limit, threshold or both, got '" + std::string(value) + "'",
             "'" + k + "' with a bad type");
      type = true;
    } else if (name == "track") {
      if (value == "by_src")
        r.track = AlertRate::Track::kBySrc;
      else if (value == "by_dst")
        r.track = AlertRate::Track::kByDst;
      else if (value == "by_rule")
        r.track = AlertRate::Track::kByRule;
      else if (value == "by_both")
        r.track = AlertRate::Track::kByBoth;
      else
        fail(at,
             "'" + k + "': track must be by_src, by_dst, by_rule or by_both, got '" +
                 std::string(value) + "'",
             "'" + k + "' with a bad track");
      track = true;
    } else if ((name == "count" || name == "seconds") && parse_int(value, n) && n >= 1 &&
               n <= UINT32_MAX) {
      (name == "count" ? r.count : r.seconds) = static_cast<uint32_t>(n);
      (name == "count" ? count : seconds) = true;
    } else {
      fail(at, "'" + k + "': unexpected '" + std::string(part) + "'",
           "'" + k + "' with a bad part");
    }
  }
  if (!type || !track || !count || !seconds) {
    fail(at,
         "'" + k + "' needs " + (filter ? "" : "type, ") + "track, count and seconds (e.g. " +
             (filter ? "track by_src, count 5, seconds 60"
                     : "type limit, track by_src, count 1, seconds 60") +
             ")",
         "'" + k + "' incomplete");
  }
  rule_.rate = r;
}

// stream_size:server|client|both|either,OPERATOR,N with OPERATOR one of < > = != <= >=.
void RuleBuilder::stream_size(std::string_view v, size_t at) {
  const auto args = split_args(v);
  if (args.size() != 3) {
    fail(at, "'stream_size' expects SIDE,OPERATOR,NUMBER (e.g. server,<,6)",
         "'stream_size' with a bad value");
  }
  StreamSize s;
  if (args[0] == "server")
    s.side = StreamSize::Side::kServer;
  else if (args[0] == "client")
    s.side = StreamSize::Side::kClient;
  else if (args[0] == "both")
    s.side = StreamSize::Side::kBoth;
  else if (args[0] == "either")
    s.side = StreamSize::Side::kEither;
  else
    fail(at,
         "'stream_size': side must be server, client, both or either, got '" +
             std::string(args[0]) + "'",
         "'stream_size' with a bad side");
  const std::string_view op = args[1];
  if (op != "<" && op != ">" && op != "=" && op != "!=" && op != "<=" && op != ">=") {
    fail(at, "'stream_size': operator must be <, >, =, !=, <= or >=, got '" + std::string(op) + "'",
         "'stream_size' with a bad operator");
  }
  // The same comparison as the integer keywords, written without the comma.
  s.size = size_condition("stream_size",
                          std::string(op == "="    ? ""
                                      : op == "!=" ? "!"
                                                   : op) +
                              std::string(args[2]),
                          at);
  rule_.stream_size = s;
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

// isdataat:[!]N[,relative][,rawbytes]
void RuleBuilder::isdataat(std::string_view v, size_t at) {
  DataAt d;
  auto args = split_args(v);
  std::string_view n = args[0];
  if (!n.empty() && n.front() == '!') {
    d.negated = true;
    n = trim(n.substr(1));
  }
  int64_t value = 0;
  if (!parse_number(n, value) || value < 0 || value > 65535 * 16) {
    fail(at, "'isdataat' expects [!]N with N from 0 to 1048560, got '" + std::string(n) + "'",
         "'isdataat' with a bad value");
  }
  d.n = static_cast<uint32_t>(value);
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "relative")
      d.relative = true;
    else if (args[i] != "rawbytes")
      fail(at, "'isdataat': unknown option '" + std::string(args[i]) + "'",
           "'isdataat' with an unknown option");
  }
  d.buffer = buffer_;
  rule_.data_at.push_back(d);
  rule_.matches.push_back({Match::Kind::kDataAt, rule_.data_at.size() - 1});
}

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
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name.front())) ||
      name.find_first_of(" \t") != std::string_view::npos) {
    fail(at, "'byte_extract': bad variable name '" + std::string(name) + "' (a letter first)",
         "'byte_extract' with a bad name");
  }
  if (variable_of(name) != kNoVariable) {
    fail(at, "'byte_extract': variable '" + std::string(name) + "' extracted twice",
         "'byte_extract' variable given twice");
  }
  if (rule_.variables.size() == kMaxRuleVariables) {
    fail(at, "'byte_extract': more than " + std::to_string(kMaxRuleVariables) + " variables",
         "'byte_extract' with too many variables");
  }
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
  e.variable = static_cast<int8_t>(rule_.variables.size());
  rule_.variables.emplace_back(name);
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

// flowbits:set|unset|toggle|isset|isnotset,NAME[|NAME...|&NAME...]; flowbits:noalert.
void RuleBuilder::flowbits(std::string_view v, size_t at) {
  v = trim(v);
  const auto comma = v.find(',');
  const std::string_view cmd = trim(v.substr(0, comma));
  if (cmd == "noalert") {
    if (comma != std::string_view::npos)
      fail(at, "'flowbits:noalert' takes no name", "'flowbits:noalert' with a name");
    rule_.noalert = true;
    return;
  }
  FlowbitOp op;
  if (const auto c = bit_command(cmd)) {
    op.cmd = *c;
  } else {
    fail(at,
         "'flowbits': unknown command '" + std::string(cmd) +
             "' (expected set, unset, toggle, isset, isnotset or noalert)",
         "'flowbits' with an unknown command");
  }
  const std::string_view names = comma == std::string_view::npos ? "" : trim(v.substr(comma + 1));
  if (names.empty()) {
    fail(at, "'flowbits:" + std::string(cmd) + "' needs a flowbit name",
         "'flowbits' without a name");
  }
  const bool has_or = names.find('|') != std::string_view::npos;
  if (has_or && names.find('&') != std::string_view::npos) {
    fail(at, "'flowbits': '|' and '&' cannot be mixed", "'flowbits' mixing | and &");
  }
  if (has_or && !op.is_condition()) {
    fail(at, "'flowbits': '|' (any of) is only for isset and isnotset",
         "'flowbits' with | outside isset/isnotset");
  }
  op.any = has_or;
  const char sep = has_or ? '|' : '&';
  std::string_view rest = names;
  while (true) {
    const auto at_sep = rest.find(sep);
    const std::string_view name = trim(rest.substr(0, at_sep));
    if (name.empty() || name.find_first_of(" \t,") != std::string_view::npos) {
      fail(at, "'flowbits': bad flowbit name '" + std::string(name) + "'",
           "'flowbits' with a bad name");
    }
    op.names.emplace_back(name);
    if (at_sep == std::string_view::npos) break;
    rest = rest.substr(at_sep + 1);
  }
  rule_.flowbits.push_back(std::move(op));
}

// flowint:NAME,OP,VALUE or flowint:NAME,isset|notset|isnotset (Suricata's syntax).
void RuleBuilder::flowint(std::string_view v, size_t at) {
  const std::vector<std::string_view> args = split_args(trim(v));
  const auto bad = [&](const std::string& why) {
    fail(at, "'flowint': " + why, "'flowint' malformed");
  };
  FlowintOp op;
  if (args.size() < 2 || args.size() > 3 || args[0].empty()) {
    bad("expects NAME,OPERATOR,VALUE or NAME,isset|notset, got '" + std::string(v) + "'");
  }
  op.name = std::string(args[0]);
  static const std::pair<std::string_view, FlowintOp::Op> kOps[] = {
      {"+", FlowintOp::Op::kAdd},         {"-", FlowintOp::Op::kSub},
      {"=", FlowintOp::Op::kSet},         {"==", FlowintOp::Op::kEq},
      {"!=", FlowintOp::Op::kNe},         {"<", FlowintOp::Op::kLt},
      {"<=", FlowintOp::Op::kLe},         {">", FlowintOp::Op::kGt},
      {">=", FlowintOp::Op::kGe},         {"isset", FlowintOp::Op::kIsSet},
      {"notset", FlowintOp::Op::kNotSet}, {"isnotset", FlowintOp::Op::kNotSet}};
  const auto found = std::find_if(std::begin(kOps), std::end(kOps),
                                  [&](const auto& o) { return o.first == args[1]; });
  if (found == std::end(kOps)) {
    bad("unknown operator '" + std::string(args[1]) +
        "' (expected +, -, =, ==, !=, <, <=, >, >=, isset or notset)");
  }
  op.op = found->second;
  const bool takes_value = op.op != FlowintOp::Op::kIsSet && op.op != FlowintOp::Op::kNotSet;
  if (takes_value != (args.size() == 3)) {
    bad(takes_value ? "'" + std::string(args[1]) + "' needs a value"
                    : "'" + std::string(args[1]) + "' takes no value");
  }
  if (takes_value) {
    const std::string_view value = args[2];
    int64_t n = 0;
    if (!value.empty() && std::isalpha(static_cast<unsigned char>(value.front()))) {
      op.value_name = std::string(value);
    } else if (parse_int(value, n) && n >= 0 && n <= UINT32_MAX) {
      op.value = static_cast<uint32_t>(n);
    } else {
      bad("value must be 0.." + std::to_string(UINT32_MAX) + " or a flowint name, got '" +
          std::string(value) + "'");
    }
  }
  rule_.flowints.push_back(std::move(op));
}

// xbits:CMD,NAME,track ip_src|ip_dst|ip_pair[,expire N] (Suricata's syntax; `noalert` alone as
// for flowbits).
void RuleBuilder::xbits(std::string_view v, size_t at) {
  const std::vector<std::string_view> args = split_args(trim(v));
  if (args.size() == 1 && args[0] == "noalert") {
    rule_.noalert = true;
    return;
  }
  const auto bad = [&](const std::string& why) {
    fail(at, "'xbits': " + why, "'xbits' malformed");
  };
  if (args.size() < 3 || args.size() > 4) {
    bad("expects CMD,NAME,track ip_src|ip_dst|ip_pair[,expire SECONDS], got '" + std::string(v) +
        "'");
  }
  XbitOp op;
  const auto cmd = bit_command(args[0]);
  if (!cmd) {
    bad("unknown command '" + std::string(args[0]) +
        "' (expected set, unset, toggle, isset, isnotset or noalert)");
  }
  op.cmd = *cmd;
  if (args[1].empty() || args[1].find_first_of(" \t|&") != std::string_view::npos) {
    bad("bad name '" + std::string(args[1]) + "'");
  }
  op.name = std::string(args[1]);
  const auto value_of = [&](std::string_view arg, std::string_view key) -> std::string_view {
    if (arg.substr(0, key.size()) != key || arg.size() == key.size() ||
        !std::isspace(static_cast<unsigned char>(arg[key.size()]))) {
      return {};
    }
    return trim(arg.substr(key.size()));
  };
  const std::string_view track = value_of(args[2], "track");
  if (track == "ip_src") {
    op.track = XbitOp::Track::kIpSrc;
  } else if (track == "ip_dst") {
    op.track = XbitOp::Track::kIpDst;
  } else if (track == "ip_pair") {
    op.track = XbitOp::Track::kIpPair;
  } else {
    bad("expects 'track ip_src', 'track ip_dst' or 'track ip_pair', got '" + std::string(args[2]) +
        "'");
  }
  if (args.size() == 4) {
    int64_t seconds = 0;
    if (!parse_int(value_of(args[3], "expire"), seconds) || seconds < 1 || seconds > UINT32_MAX) {
      bad("expects 'expire SECONDS' (1 or more), got '" + std::string(args[3]) + "'");
    }
    op.expire = static_cast<uint32_t>(seconds);
  }
  rule_.xbits.push_back(std::move(op));
}

// A transform applies to the current sticky buffer from here on: the rule's later matches on it
// see the transformed bytes (Suricata: transforms follow the sticky buffer, before its contents).
void RuleBuilder::transform(Transform::Kind kind, std::string_view name,
                            std::optional<std::string_view> v, size_t at) {
  if (buffer_ == kPayloadBuffer) {
    fail(at,
         "'" + std::string(name) +
             "' transforms a sticky buffer: name one before it (e.g. "
             "dns.query; " +
             std::string(name) + ";)",
         "transform without a sticky buffer");
  }
  Transform t;
  t.kind = kind;
  if (kind == Transform::Kind::kXor) {
    bool negated = false;
    if (!v) fail(at, "'xor' needs a key (xor:\"0d0ac8ff\";)", "'xor' without a key");
    const std::string hex = quoted("xor", *v, at, negated);
    if (hex.empty() || hex.size() % 2 != 0 || negated ||
        hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      fail(at, "'xor' key must be an even number of hex digits, got '" + hex + "'",
           "'xor' with a bad key");
    }
    for (size_t i = 0; i < hex.size(); i += 2)
      t.key.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  } else if (v) {
    fail(at, "'" + std::string(name) + "' takes no value",
         "'" + std::string(name) + "' with a value");
  }
  const size_t registry_count = registry_.buffer_count();
  const bool derived = buffer_ >= registry_count;
  // Extend the current transformed buffer while nothing has matched on it yet; otherwise start
  // a new one (the matches before keep what they saw).
  bool used = false;
  for (const Match& m : rule_.matches) used = used || rule_.buffer_of(m) == buffer_;
  if (derived && !used) {
    rule_.transformed[buffer_ - registry_count].chain.push_back(std::move(t));
    return;
  }
  TransformedBuffer tb;
  tb.base = derived ? rule_.transformed[buffer_ - registry_count].base : buffer_;
  if (derived) tb.chain = rule_.transformed[buffer_ - registry_count].chain;
  tb.chain.push_back(std::move(t));
  rule_.transformed.push_back(std::move(tb));
  buffer_ = static_cast<Buffer>(registry_count + rule_.transformed.size() - 1);
}

void RuleBuilder::option(std::string_view name, std::optional<std::string_view> value, size_t at,
                         size_t value_at) {
  if (const Buffer b = registry_.find_sticky(name); b != Registry::kNoBuffer) {
    if (value) {
      fail(at, "sticky buffer '" + std::string(name) + "' takes no value",
           "sticky buffer with a value");
    }
    if (b == kBase64Buffer && !rule_.base64) {
      fail(at, "'base64_data' needs a base64_decode before it",
           "'base64_data' without base64_decode");
    }
    buffer_ = b;  // sticky: applies to the contents and pcres that follow
    return;
  }
  if (const Buffer b = registry_.find_legacy(name); b != Registry::kNoBuffer) {
    last_content(name, at).buffer = b;  // legacy modifier: applies to the content before it
    return;
  }
  for (const Keyword& k : kKeywords) {
    if (name != k.name) continue;
    // fast_pattern:only; is common; base64_decode takes options or none.
    if (!k.takes_value && value && name != "fast_pattern" && name != "base64_decode") {
      fail(at, "'" + std::string(name) + "' takes no value (write '" + std::string(name) + ";')",
           "'" + std::string(name) + "' with a value");
    }
    if (name == "sid") sid_at_ = at;
    if (k.takes_value && !value) {
      fail(at, "'" + std::string(name) + "' needs a value ('" + std::string(name) + ":...;')",
           "'" + std::string(name) + "' without a value");
    }
    (this->*k.handler)(value.value_or(""), value ? value_at : at);
    if (name == "uricontent") {
      const Buffer uri = registry_.find_sticky("http.uri");
      if (uri == Registry::kNoBuffer) fail(at, "'uricontent' needs HTTP parsing", "uricontent");
      rule_.contents.back().buffer = uri;
    }
    return;
  }
  if (const auto kind = transform_from_name(name)) {
    transform(*kind, name, value, value ? value_at : at);
    return;
  }
  if (const AppFactKeyword* k = find_app_fact_keyword(name)) {
    if (k->takes_value && !value) {
      fail(at, "'" + std::string(name) + "' needs a value ('" + std::string(name) + ":...;')",
           "'" + std::string(name) + "' without a value");
    }
    if (!k->takes_value && value) {
      fail(at, "'" + std::string(name) + "' takes no value (write '" + std::string(name) + ";')",
           "'" + std::string(name) + "' with a value");
    }
    try {
      rule_.app_tests.push_back(parse_app_fact(*k, value.value_or("")));
    } catch (const KeywordError& e) {
      fail(value ? value_at : at, e.message, e.reason);
    }
    return;
  }
  for (const std::string_view w : kIgnoredWithWarning) {
    if (name == w) {
      warnings_.emplace_back(
          "'" + std::string(name) + "' is ignored (it does not change what matches)", at);
      return;
    }
  }
  fail(at, "unsupported keyword '" + std::string(name) + "'",
       "unsupported keyword '" + std::string(name) + "'");
}

void RuleBuilder::finish(size_t end) {
  if (!sid_seen_) fail(end, "sid is required", "missing sid");
  if (rule_.msg.empty()) warnings_.emplace_back("rule has no msg", end);
  // distance/within refer to the previous match in the same buffer.
  for (size_t i = 0; i < rule_.matches.size(); ++i) {
    const Match m = rule_.matches[i];
    if (m.kind != Match::Kind::kContent || !rule_.contents[m.index].relative()) continue;
    const Buffer b = rule_.contents[m.index].buffer;
    bool has_previous = false;
    for (size_t j = 0; j < i; ++j) {
      const Match& p = rule_.matches[j];
      has_previous = has_previous || rule_.buffer_of(p) == b;
    }
    if (!has_previous) {
      // First match of its buffer: relative to the buffer's start, as Suricata reads it.
      // distance:D; within:W covers bytes [D, D + W) of the buffer, clipped at its start.
      Content& c = rule_.contents[m.index];
      const int32_t start = c.distance.value_or(0);
      const int32_t from = std::max(start, 0);
      if (c.within) c.depth = start + *c.within - from;
      if (from > 0) c.offset = from;
      c.distance.reset();
      c.within.reset();
    }
  }
  for (const Content& c : rule_.contents) {
    if (c.startswith && (c.offset || c.depth || c.distance || c.within)) {
      fail(end, "'startswith' cannot be combined with offset, depth, distance or within",
           "'startswith' with a position modifier");
    }
  }
}

}  // namespace

// ---- files and rules -------------------------------------------------------------------------

RuleParser::RuleParser(Variables vars, const Classifications* classifications,
                       const Registry& registry)
    : vars_(std::move(vars)), classifications_(classifications), registry_(registry) {}

void RuleParser::parse_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    set_.diagnostics.push_back(
        {Diagnostic::Severity::kError, path, 0, 0, "cannot read rule file", "unreadable file"});
    ++set_.failed;
    return;
  }
  std::stringstream text;
  text << in.rdbuf();
  parse_text(text.str(), path);
}

void RuleParser::parse_text(std::string_view text, const std::string& name) {
  int line_no = 0;
  std::string joined;
  std::vector<std::pair<size_t, int>> starts;  // offset in `joined` where each physical line begins
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (joined.empty()) {
      const std::string_view t = trim(line);
      if (t.empty() || t.front() == '#') continue;  // blank, comment, or disabled rule
    }
    starts.emplace_back(joined.size(), line_no);
    std::string_view content = line;
    while (!content.empty() && std::isspace(static_cast<unsigned char>(content.back()))) {
      content.remove_suffix(1);
    }
    if (!content.empty() && content.back() == '\\') {  // continues on the next line
      content.remove_suffix(1);
      joined.append(content);
      if (!text.empty()) continue;
    } else {
      joined.append(line);
    }
    parse_rule(joined, name, starts);
    joined.clear();
    starts.clear();
  }
}

namespace {

// Splits the header into whitespace-separated tokens (brackets may hold spaces) up to '('.
std::vector<std::pair<std::string_view, size_t>> header_tokens(std::string_view text,
                                                               size_t& open) {
  std::vector<std::pair<std::string_view, size_t>> tokens;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size() || text[i] == '(') break;
    const size_t start = i;
    int depth = 0;
    while (i < text.size() &&
           (depth > 0 || (!std::isspace(static_cast<unsigned char>(text[i])) && text[i] != '('))) {
      if (text[i] == '[') ++depth;
      if (text[i] == ']') --depth;
      ++i;
    }
    tokens.emplace_back(text.substr(start, i - start), start);
  }
  open = i;
  return tokens;
}

}  // namespace

void RuleParser::parse_rule(std::string_view text, const std::string& file,
                            const std::vector<std::pair<size_t, int>>& starts) {
  auto locate = [&](size_t offset, int& line, int& column) {
    auto it = std::upper_bound(starts.begin(), starts.end(), offset,
                               [](size_t o, const auto& s) { return o < s.first; });
    if (it != starts.begin()) --it;
    line = it->second;
    column = static_cast<int>(offset - it->first) + 1;
  };
  Rule rule;
  rule.file = file;
  rule.text = std::string(trim(text));
  std::vector<std::pair<std::string, size_t>> warnings;
  try {
    size_t open = 0;
    const auto tokens = header_tokens(text, open);
    if (tokens.size() < 7) {
      fail(open,
           "incomplete rule header: expected 'action protocol source port direction "
           "destination port (options)'",
           "incomplete header");
    }
    if (tokens.size() > 7)
      fail(tokens[7].second, "unexpected '" + std::string(tokens[7].first) + "' after the header",
           "extra header token");
    if (open >= text.size())
      fail(open, "expected '(' to start the rule options", "missing options");
    // Action
    static const std::pair<std::string_view, Action> kActions[] = {
        {"alert", Action::kAlert},
        {"pass", Action::kPass},
        {"drop", Action::kDrop},
        {"reject", Action::kRejectBoth},
        {"rejectboth", Action::kRejectBoth},
        {"rejectsrc", Action::kRejectSrc},
        {"rejectdst", Action::kRejectDst}};
    bool known = false;
    for (const auto& [name, action] : kActions) {
      if (tokens[0].first == name) {
        rule.action = action;
        known = true;
      }
    }
    if (!known)
      fail(tokens[0].second,
           "unknown action '" + std::string(tokens[0].first) +
               "' (expected alert, pass, drop, reject, rejectsrc, rejectdst, rejectboth)",
           "unknown action");
    // Protocol
    const std::string_view proto = tokens[1].first;
    FlowCondition implied;
    bool stream_implied = false;
    if (proto == "ip")
      rule.transport = Transport::kAny;
    else if (proto == "tcp")
      rule.transport = Transport::kTcp;
    else if (proto == "udp")
      rule.transport = Transport::kUdp;
    else if (proto == "icmp")
      rule.transport = Transport::kIcmp;
    else if (const auto app = core::app_proto_from_name(proto); app && *app != AppProto::kFailed) {
      // An application protocol implies its transport: DNS runs over UDP and TCP.
      rule.transport = *app == AppProto::kDns ? Transport::kAny : Transport::kTcp;
      rule.app_proto = *app;
    } else if (proto == "tcp-pkt") {
      rule.transport = Transport::kTcp;
      implied.no_stream = true;
      stream_implied = true;
    } else if (proto == "tcp-stream") {
      rule.transport = Transport::kTcp;
      implied.only_stream = true;
      stream_implied = true;
    } else
      fail(tokens[1].second,
           "unsupported protocol '" + std::string(proto) +
               "' (supported: ip, tcp, udp, icmp, tcp-pkt, tcp-stream, http, http1, tls, dns, "
               "ftp, ftp-data, ssh, smtp)",
           "unsupported protocol '" + std::string(proto) + "'");
    // Addresses, ports, direction
    auto address = [&](const std::pair<std::string_view, size_t>& t, AddressSet& out) {
      SpecError e;
      auto s = AddressSet::parse(t.first, vars_, e);
      if (!s)
        fail(t.second + e.column, "source/destination address: " + e.message,
             "bad address: " + e.message.substr(0, e.message.find('\'')));
      out = std::move(*s);
    };
    auto ports = [&](const std::pair<std::string_view, size_t>& t, PortSet& out) {
      SpecError e;
      auto s = PortSet::parse(t.first, vars_, e);
      if (!s)
        fail(t.second + e.column, "port: " + e.message,
             "bad port: " + e.message.substr(0, e.message.find('\'')));
      out = std::move(*s);
    };
    address(tokens[2], rule.src);
    ports(tokens[3], rule.src_ports);
    if (tokens[4].first == "<>")
      rule.bidirectional = true;
    else if (tokens[4].first != "->")
      fail(tokens[4].second,
           "expected direction '->' or '<>', got '" + std::string(tokens[4].first) + "'",
           "bad direction");
    address(tokens[5], rule.dst);
    ports(tokens[6], rule.dst_ports);

    // Options
    RuleBuilder builder(rule, classifications_, registry_, warnings);
    size_t i = open + 1;
    for (;;) {
      while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      if (i >= text.size())
        fail(text.size(), "expected ')' at the end of the rule", "unterminated options");
      if (text[i] == ')') break;
      const size_t name_at = i;
      while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) ||
                                 text[i] == '_' || text[i] == '.' || text[i] == '-')) {
        ++i;
      }
      const std::string_view name = text.substr(name_at, i - name_at);
      if (name.empty())
        fail(name_at, std::string("expected an option keyword, got '") + text[name_at] + "'",
             "bad option syntax");
      while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
      std::optional<std::string_view> value;
      size_t value_at = i;
      if (i < text.size() && text[i] == ':') {
        ++i;
        value_at = i;
        // As in Suricata, a value ends at the first unescaped ';' (quotes do not protect it).
        while (i < text.size() && text[i] != ';') {
          i += text[i] == '\\' && i + 1 < text.size() ? 2 : 1;
        }
        value = text.substr(value_at, i - value_at);
        while (value_at < text.size() && text[value_at] == ' ') ++value_at;
      }
      if (i >= text.size() || text[i] != ';') {
        fail(i, "expected ';' after option '" + std::string(name) + "'", "missing ';'");
      }
      builder.option(name, value, name_at, value_at);
      ++i;
    }
    if (const std::string_view rest = text.substr(i + 1); !trim(rest).empty()) {
      const size_t junk = i + 1 + rest.find_first_not_of(" \t");
      fail(junk, "unexpected text after the closing ')'", "text after ')'");
    }
    builder.finish(i);
    if (stream_implied) {
      if (!rule.flow) rule.flow = implied;
      rule.flow->no_stream = rule.flow->no_stream || implied.no_stream;
      rule.flow->only_stream = rule.flow->only_stream || implied.only_stream;
    }
    int line = 0, column = 0;
    locate(0, line, column);
    rule.line = line;
    const auto key = std::make_pair(rule.gid, rule.sid);
    const std::string where = file + ":" + std::to_string(line);
    if (const auto [it, inserted] = seen_.emplace(key, where); !inserted) {
      const size_t sid_at = builder.sid_offset();
      fail(sid_at == std::string_view::npos ? 0 : sid_at,
           "duplicate rule gid:" + std::to_string(rule.gid) + " sid:" + std::to_string(rule.sid) +
               " (first defined at " + it->second + ")",
           "duplicate gid:sid");
    }
  } catch (const RuleError& e) {
    Diagnostic d;
    d.severity = Diagnostic::Severity::kError;
    d.file = file;
    locate(std::min(e.offset, text.size() ? text.size() - 1 : 0), d.line, d.column);
    d.message = e.message;
    d.reason = e.reason;
    set_.diagnostics.push_back(std::move(d));
    ++set_.failed;
    return;
  }
  for (const auto& [message, offset] : warnings) {
    Diagnostic d;
    d.severity = Diagnostic::Severity::kWarning;
    d.file = file;
    locate(offset, d.line, d.column);
    d.message = message;
    d.reason = message;
    set_.diagnostics.push_back(std::move(d));
    ++set_.warnings;
  }
  set_.rules.push_back(std::move(rule));
}

}  // namespace spanguard::rules
