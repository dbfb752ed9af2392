// The rule grammar: header tokens, then `keyword[:value];` options. Each keyword has one entry in
// its family's table (keywords_<family>.cc), or is a sticky buffer of the registry or a transform;
// anything else is refused with a reason, so the coverage report of a rule set is a count of those
// reasons.
#include "spanguard/rules/parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <functional>
#include <sstream>

#include "app_keywords.h"
#include "rule_builder.h"
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
      {"pcrexform", Transform::Kind::kPcrexform},
      {"header_lowercase", Transform::Kind::kHeaderLowercase},
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
         (severity == Severity::kError     ? ": error: "
          : severity == Severity::kSkipped ? ": skipped: "
                                           : ": warning: ") +
         message;
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
    {.name = "reference_file",
     .type = core::ParamType::kString,
     .default_value = "rules/reference.config",
     .help = "Reference systems (reference.config format) turning a rule's reference:cve,... into "
             "the URL EVE prints in alert.references, relative to the working directory"},
    {.name = "threshold_file",
     .type = core::ParamType::kString,
     .default_value = "\"\"",
     .help = "Suricata threshold.config: threshold/event_filter, suppress and rate_filter lines "
             "applied to the loaded rules; empty: none"},
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

namespace detail {

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

[[noreturn]] void fail(size_t offset, std::string message, std::string reason) {
  if (reason.empty()) reason = message;
  throw RuleError{offset, std::move(message), std::move(reason)};
}

bool parse_int(std::string_view text, int64_t& out) {
  text = trim(text);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

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

// Keywords that change neither what matches nor what is reported as matching; loaded with a
// warning.
constexpr std::string_view kIgnoredWithWarning[] = {"tag"};

// Content modifiers apply to the last content; isdataat and byte_* written between the content
// and its modifiers do not change which (Suricata looks up the last content the same way), a pcre
// does.
Content& RuleBuilder::last_content(std::string_view keyword, size_t at) {
  auto last = rule_.matches.rbegin();
  while (last != rule_.matches.rend() &&
         (last->kind == Match::Kind::kDataAt || last->kind == Match::Kind::kByteTest ||
          last->kind == Match::Kind::kByteJump || last->kind == Match::Kind::kByteExtract ||
          last->kind == Match::Kind::kByteMath || last->kind == Match::Kind::kAsn1))
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

bool RuleBuilder::knows(std::string_view name, const Registry& registry) {
  if (registry.find_sticky(name) != Registry::kNoBuffer ||
      registry.find_legacy(name) != Registry::kNoBuffer || transform_from_name(name) ||
      find_app_fact_keyword(name) != nullptr) {
    return true;
  }
  for (const auto family : {meta_keywords, content_keywords, header_keywords, flow_keywords,
                            buffer_keywords, byte_keywords}) {
    for (const Keyword& k : family()) {
      if (k.name == name) return true;
    }
  }
  return std::find(std::begin(kIgnoredWithWarning), std::end(kIgnoredWithWarning), name) !=
         std::end(kIgnoredWithWarning);
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
  for (const auto family : {meta_keywords, content_keywords, header_keywords, flow_keywords,
                            buffer_keywords, byte_keywords}) {
    for (const Keyword& k : family()) {
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

}  // namespace detail

using detail::fail;
using detail::parse_int;
using detail::RuleBuilder;
using detail::RuleError;
using detail::split_args;
using detail::trim;

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

struct RuleOption {
  std::string_view name;
  std::optional<std::string_view> value;
  size_t name_at, value_at;
};

using Version = std::array<uint32_t, 3>;

// "7", "7.0", "7.0.3": missing parts are 0 (Suricata).
Version parse_version(std::string_view text, size_t at) {
  Version v{0, 0, 0};
  size_t part = 0;
  std::string_view rest = text;
  while (true) {
    const auto dot = rest.find('.');
    const std::string_view digits = rest.substr(0, dot);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v[part]);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || part > 2) {
      fail(at, "'requires': bad version '" + std::string(text) + "' (expected e.g. 7.0.3)",
           "'requires' with a bad version");
    }
    ++part;
    if (dot == std::string_view::npos) break;
    rest = rest.substr(dot + 1);
    if (part == 3)
      fail(at, "'requires': bad version '" + std::string(text) + "'",
           "'requires' with a bad version");
  }
  return v;
}

// `version >= 7.0.3 < 8 | >= 8.0.1`: alternatives split by '|', each a conjunction of
// OPERATOR VERSION terms (>=, >, <=, <).
bool version_holds(std::string_view expr, size_t at) {
  bool any = false;
  while (true) {
    const auto bar = expr.find('|');
    std::string_view alt = trim(expr.substr(0, bar));
    bool all = true;
    size_t terms = 0;
    while (!alt.empty()) {
      size_t op_len = 0;
      while (op_len < alt.size() &&
             (alt[op_len] == '<' || alt[op_len] == '>' || alt[op_len] == '=')) {
        ++op_len;
      }
      const std::string_view op = alt.substr(0, op_len);
      alt = trim(alt.substr(op_len));
      const auto space = alt.find_first_of(" \t");
      const Version v = parse_version(alt.substr(0, space), at);
      alt = space == std::string_view::npos ? std::string_view() : trim(alt.substr(space));
      const Version& we = kSuricataVersion;
      if (op == ">=") {
        all = all && we >= v;
      } else if (op == ">") {
        all = all && we > v;
      } else if (op == "<=") {
        all = all && we <= v;
      } else if (op == "<") {
        all = all && we < v;
      } else {
        fail(at, "'requires': version needs an operator (>=, >, <=, <) before each version",
             "'requires' with a bad version");
      }
      ++terms;
    }
    if (terms == 0) {
      fail(at, "'requires': empty version expression", "'requires' with a bad version");
    }
    any = any || all;
    if (bar == std::string_view::npos) break;
    expr = expr.substr(bar + 1);
  }
  return any;
}

// Why a rule's `requires` does not hold here (nullopt: it holds); a malformed value fails the
// rule. `feature NAME`: spanguard registers none of Suricata's optional features (file-store,
// Lua, GeoIP...); `keyword NAME`: a keyword this parser knows; `version EXPR`: compared with
// kSuricataVersion. An unknown requirement does not hold (Suricata, for forward compatibility).
std::optional<std::string> unmet_requirement(std::string_view value, size_t at,
                                             const Registry& registry) {
  bool version_seen = false;
  std::optional<std::string> unmet;
  for (std::string_view item : split_args(value)) {
    const auto space = item.find_first_of(" \t");
    const std::string_view kind = item.substr(0, space);
    const std::string_view arg =
        space == std::string_view::npos ? std::string_view() : trim(item.substr(space));
    if (arg.empty()) {
      fail(at,
           "'requires': '" + std::string(item) +
               "' needs a value (feature NAME, keyword "
               "NAME or version EXPRESSION)",
           "'requires' without a value");
    }
    std::optional<std::string> why;
    if (kind == "version") {
      if (version_seen) fail(at, "'requires': version given twice", "'requires' with two versions");
      version_seen = true;
      if (!version_holds(arg, at)) {
        why = "version: the rule wants Suricata " + std::string(arg) +
              "; spanguard's rule language follows " + std::to_string(kSuricataVersion[0]) + "." +
              std::to_string(kSuricataVersion[1]) + "." + std::to_string(kSuricataVersion[2]);
      }
    } else if (kind == "feature") {
      why = "feature: '" + std::string(arg) + "' is not available in spanguard";
    } else if (kind == "keyword") {
      if (!RuleBuilder::knows(arg, registry)) {
        why = "keyword: '" + std::string(arg) + "' is not supported by spanguard";
      }
    } else {
      why = "unknown requirement: '" + std::string(kind) + "'";
    }
    if (why && !unmet) unmet = std::move(why);
  }
  return unmet;
}

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
    // Options, read first: a rule whose `requires` does not hold is skipped whatever else it
    // holds (Suricata reads requires before the rest, so rules for newer versions load quietly).
    std::vector<RuleOption> options;
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
      options.push_back({name, value, name_at, value_at});
      ++i;
    }
    for (const RuleOption& o : options) {
      if (o.name != "requires") continue;
      if (!o.value) fail(o.name_at, "'requires' needs a value", "'requires' without a value");
      if (std::optional<std::string> unmet = unmet_requirement(*o.value, o.value_at, registry_)) {
        Diagnostic d;
        d.severity = Diagnostic::Severity::kSkipped;
        d.file = file;
        locate(o.name_at, d.line, d.column);
        d.message = "rule skipped: " + *unmet;
        d.reason = "requires " + unmet->substr(0, unmet->find(':'));
        set_.diagnostics.push_back(std::move(d));
        ++set_.skipped;
        return;
      }
    }
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
               "ftp, ftp-data, ssh, smtp, smb, dcerpc)",
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
    for (const RuleOption& o : options) builder.option(o.name, o.value, o.name_at, o.value_at);
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
