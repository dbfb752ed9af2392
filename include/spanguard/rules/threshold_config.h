// threshold.config, Suricata's global thresholds file, applied to a loaded rule set:
//
//   threshold gen_id G, sig_id S, type limit|threshold|both, track by_src|by_dst|by_rule|by_both,
//             count N, seconds T          (event_filter: the same)
//   suppress gen_id G, sig_id S[, track by_src|by_dst|by_either, ip ADDRESSES]
//   rate_filter gen_id G, sig_id S, track by_src|by_dst|by_rule|by_both, count N, seconds T,
//               new_action alert|pass|drop|reject|rejectsrc|rejectdst|rejectboth, timeout T
//
// A threshold for one rule replaces the rule's own threshold/detection_filter; with sig_id 0 (of a
// gen_id, or of all with gen_id 0) it applies to the rules that have none. A rate_filter is
// ignored (with a warning) for a rule with its own threshold or detection_filter, as in Suricata.
// A suppress without track keeps the rule from alerting at all; with track, when the packet's
// source, destination or either address is in ADDRESSES (a Snort/Suricata address spec: lists,
// negation, $VARIABLES). Suppressed rules still act (flowbits, xbits). Comments (#) and blank lines
// are ignored, a line may continue after a trailing backslash.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "spanguard/rules/address.h"
#include "spanguard/rules/parser.h"
#include "spanguard/rules/rule.h"

namespace spanguard::rules {

// Applies `text` (named `name` in diagnostics) to `rules`; each problem is a diagnostic naming
// name:line: a malformed line is an error (it is ignored), a line naming no loaded rule is a
// warning.
void apply_threshold_config(std::string_view text, const std::string& name, const Variables& vars,
                            std::vector<Rule>& rules, std::vector<Diagnostic>& diagnostics);

// The same from a file; an unreadable file is one error diagnostic (line 0).
void apply_threshold_file(const std::string& path, const Variables& vars, std::vector<Rule>& rules,
                          std::vector<Diagnostic>& diagnostics);

}  // namespace spanguard::rules
