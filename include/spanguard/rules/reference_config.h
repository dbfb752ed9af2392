// reference.config, Snort/Suricata's list of reference systems:
//   config reference: SYSTEM URL_PREFIX
// A rule's `reference:SYSTEM,VALUE` resolves to URL_PREFIX + VALUE, which EVE prints in
// alert.references (Suricata). Systems are case-insensitive; the first definition wins.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "spanguard/rules/parser.h"
#include "spanguard/rules/rule.h"

namespace spanguard::rules {

class ReferenceSystems {
 public:
  // Reads a reference.config; errors (file:line and why) are returned, good lines kept.
  std::vector<std::string> load_file(const std::string& path);
  std::vector<std::string> load_text(std::string_view text, const std::string& name);
  // The URL prefix of `system` (lowercase), or nullptr.
  const std::string* find(std::string_view system) const;
  size_t size() const { return prefixes_.size(); }

 private:
  std::map<std::string, std::string, std::less<>> prefixes_;
};

// Sets each reference's url; a system the file does not define keeps "system,value" as its url
// (nothing is lost from the alert) and is one warning per rule, naming the rule's file:line.
void resolve_references(const ReferenceSystems& systems, std::vector<Rule>& rules,
                        std::vector<Diagnostic>& diagnostics);

}  // namespace spanguard::rules
