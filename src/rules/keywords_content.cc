// content and its modifiers (nocase, offset, depth, distance, within, fast_pattern, startswith,
// endswith, rawbytes), pcre, and isdataat: the keywords that match or position within a buffer.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "rule_builder.h"

namespace spanguard::rules::detail {

std::span<const RuleBuilder::Keyword> RuleBuilder::content_keywords() {
  static constexpr Keyword kKeywords[] = {
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
      {"isdataat", &RuleBuilder::isdataat, true},
  };
  return kKeywords;
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
  d.n_var = variable_of(n);
  if (d.n_var == kNoVariable && (!parse_number(n, value) || value < 0 || value > 65535 * 16)) {
    fail(at,
         "'isdataat' expects [!]N with N from 0 to 1048560 or a byte_extract/byte_math "
         "variable, got '" +
             std::string(n) + "'",
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

}  // namespace spanguard::rules::detail
