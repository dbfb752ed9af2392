// Suricata's buffer transformations (dotprefix, to_lowercase, url_decode, to_sha256, xor, ...)
// applied to a sticky buffer's bytes before matching.
#pragma once

#include <span>
#include <string>

#include "spanguard/rules/rule.h"

namespace spanguard::detect {

// `out` becomes `in` through every transform of `chain`, in order; `scratch` is working space.
// Both keep their capacity across calls.
void apply_transforms(std::span<const rules::Transform> chain, std::span<const uint8_t> in,
                      std::string& out, std::string& scratch);

}  // namespace spanguard::detect
