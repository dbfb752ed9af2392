// Reads rule files in Snort/Suricata syntax into Rules, with compiler-style diagnostics
// (file:line:col: error: ...). A bad rule is skipped with its reason; the others load.
#pragma once

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "spanguard/core/config.h"
#include "spanguard/rules/address.h"
#include "spanguard/rules/classification.h"
#include "spanguard/rules/rule.h"

namespace spanguard::rules {

struct Diagnostic {
  // kSkipped: the rule's `requires` does not hold here (not an error: rules for other engines and
  // versions are meant to be skipped).
  enum class Severity : uint8_t { kError, kWarning, kSkipped };
  Severity severity = Severity::kError;
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  std::string reason;             // short, groupable: "unsupported keyword 'byte_test'"
  std::string to_string() const;  // "file:line:col: error: message"
};

struct RuleSet {
  std::vector<Rule> rules;
  std::vector<Diagnostic> diagnostics;
  size_t failed = 0;
  size_t warnings = 0;
  size_t skipped = 0;  // by `requires`
  // Refused rules grouped by reason, most frequent first.
  std::vector<std::pair<std::string, size_t>> failures_by_reason() const;
};

// The Suricata version spanguard's rule language follows: what a rule's `requires: version ...`
// is compared with.
inline constexpr std::array<uint32_t, 3> kSuricataVersion = {8, 0, 0};

// The "rules" configuration section: files, strict mode, classification file, variables.
const core::ParamSection& rules_params();
// Built-in variable defaults overridden/extended by rules.vars.address and rules.vars.port.
Variables rule_variables(const core::Config& config);

class RuleParser {
 public:
  // `registry` names the sticky buffers and application protocols rules may use (the application
  // layer's: applayer::rule_registry()); it must outlive the parser.
  RuleParser(Variables vars, const Classifications* classifications,
             const Registry& registry = Registry::payload_only());

  // Reads one file; an unreadable file is one error diagnostic.
  void parse_file(const std::string& path);
  void parse_text(std::string_view text, const std::string& name);
  RuleSet take() { return std::move(set_); }
  const RuleSet& result() const { return set_; }

 private:
  void parse_rule(std::string_view text, const std::string& file,
                  const std::vector<std::pair<size_t, int>>& line_starts);

  Variables vars_;
  const Classifications* classifications_;
  const Registry& registry_;
  RuleSet set_;
  std::map<std::pair<uint32_t, uint32_t>, std::string> seen_;  // gid:sid -> file:line
};

}  // namespace spanguard::rules
