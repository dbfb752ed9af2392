// Keywords that describe a rule rather than what it matches: msg, sid, rev, gid, priority,
// classtype, metadata, reference, requires, target.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "rule_builder.h"

namespace spanguard::rules::detail {

std::span<const RuleBuilder::Keyword> RuleBuilder::meta_keywords() {
  static constexpr Keyword kKeywords[] = {
      {"msg", &RuleBuilder::msg, true},
      {"sid", &RuleBuilder::sid, true},
      {"rev", &RuleBuilder::rev, true},
      {"gid", &RuleBuilder::gid, true},
      {"priority", &RuleBuilder::priority, true},
      {"classtype", &RuleBuilder::classtype, true},
      {"metadata", &RuleBuilder::metadata, true},
      {"reference", &RuleBuilder::reference, true},
      // Judged before the other options (RuleParser::parse_rule): a rule reaching here meets it.
      {"requires", &RuleBuilder::ignored, true},
      {"target", &RuleBuilder::target, true},
  };
  return kKeywords;
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
  std::string type(trim(v.substr(0, comma)));
  for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  rule_.references.push_back({std::move(type), std::string(trim(v.substr(comma + 1))), {}});
}

// target:src_ip|dest_ip (Suricata): names the attacked end for EVE's alert.source/target.
void RuleBuilder::target(std::string_view v, size_t at) {
  const std::string_view t = trim(v);
  if (t == "src_ip") {
    rule_.target = Target::kSrcIp;
  } else if (t == "dest_ip") {
    rule_.target = Target::kDestIp;
  } else {
    fail(at, "'target' expects src_ip or dest_ip, got '" + std::string(t) + "'",
         "'target' with a bad value");
  }
}

}  // namespace spanguard::rules::detail
