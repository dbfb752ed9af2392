// Keywords about the sticky buffer itself: bsize, urilen, and the transforms that derive a new
// buffer from it (dotprefix, to_lowercase, url_decode, to_sha256, pcrexform, xor, ...).
#include <algorithm>
#include <cctype>
#include <charconv>

#include "rule_builder.h"

namespace spanguard::rules::detail {

std::span<const RuleBuilder::Keyword> RuleBuilder::buffer_keywords() {
  static constexpr Keyword kKeywords[] = {
      {"bsize", &RuleBuilder::bsize, true},
      {"urilen", &RuleBuilder::urilen, true},
  };
  return kKeywords;
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
  } else if (kind == Transform::Kind::kPcrexform) {
    bool negated = false;
    if (!v) {
      fail(at, "'pcrexform' needs a regex with a capture group (pcrexform:\"[a-z]+ (.*)\";)",
           "'pcrexform' without a regex");
    }
    t.key = quoted("pcrexform", *v, at, negated, /*keep_escapes=*/true);
    if (t.key.empty() || negated) {
      fail(at, "'pcrexform' needs a regex with a capture group", "'pcrexform' with a bad regex");
    }
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

}  // namespace spanguard::rules::detail
