// The sticky buffers and protocols the application layer provides to rules: one table per
// protocol, registered into the rules::Registry that the rule parser and the detection engine use.
#pragma once

#include "spanguard/rules/registry.h"

namespace spanguard::applayer {

// Payload plus every buffer the application layer defines (filled or declared for a parser still
// to come), and the protocols that have a parser. Built once, on first use; immutable after.
const rules::Registry& rule_registry();

}  // namespace spanguard::applayer
