// Suricata's buffer transformations (dotprefix, to_lowercase, url_decode, to_sha256, xor, ...)
// applied to a sticky buffer's bytes before matching.
#pragma once

#include <span>
#include <string>

#include "spanguard/detect/verify.h"
#include "spanguard/rules/rule.h"

namespace spanguard::detect {

// pcrexform's regex compiled (JIT when available); throws std::invalid_argument naming the PCRE2
// error, or when the regex has no capture group (Suricata requires one).
Pcre2Code compile_pcrexform(const std::string& regex);

// `out` becomes `in` through every transform of `chain`, in order; `scratch` is working space.
// Both keep their capacity across calls. `regexes` holds the compiled regex of each pcrexform of
// the chain, in order, and `match` the match data they use.
void apply_transforms(std::span<const rules::Transform> chain, std::span<const uint8_t> in,
                      std::string& out, std::string& scratch,
                      std::span<const Pcre2Code> regexes = {}, pcre2_match_data* match = nullptr);

}  // namespace spanguard::detect
