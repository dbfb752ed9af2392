// Fuzzes the rule path an analyst's file takes: any text parses into rules and diagnostics, the
// rules compile (PCRE2, Hyperscan) or are reported, and each compiled rule is verified against the
// input's own bytes as a payload — never a crash, a hang or an out-of-bounds read.
#include <cstdint>
#include <string_view>

#include "spanguard/applayer/registry.h"
#include "spanguard/detect/engine.h"
#include "spanguard/detect/verify.h"
#include "spanguard/rules/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spanguard;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  static const rules::Classifications* classes = [] {
    auto* c = new rules::Classifications;
    c->load_text("config classification: misc-activity,Misc activity,3\n", "fuzz.config");
    return c;
  }();
  const rules::Registry& registry = spanguard::applayer::rule_registry();
  rules::RuleParser parser(rules::default_variables(), classes, registry);
  parser.parse_text(text, "fuzz.rules");
  rules::RuleSet set = parser.take();
  for (const rules::Diagnostic& d : set.diagnostics) (void)d.to_string();
  if (set.rules.empty()) return 0;
  std::vector<rules::Diagnostic> diagnostics;
  const detect::DetectionEngine engine(std::move(set.rules), detect::DetectOptions{}, diagnostics,
                                       registry);
  detect::Verifier verifier(1000, 1000);
  std::vector<detect::InspectBuffer> buffers(registry.buffer_count(),
                                             detect::InspectBuffer{std::span(data, size), 0, true});
  for (const detect::CompiledRule& r : engine.rules()) (void)verifier.verify(r.program, buffers);
  return 0;
}
