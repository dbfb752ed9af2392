// Suricata's `asn1` keyword: decodes the BER objects found at an offset of a buffer and tells
// whether any of them shows one of the anomalies the rule asks about (a length over a bound, a BIT
// STRING claiming more unused bits than it has, a long decimal REAL). No value is kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "spanguard/rules/rule.h"

namespace spanguard::detect {

// Suricata's `asn1-max-frames` default (rust/src/asn1/parse_rules.rs): at most this many top-level
// objects are decoded, and objects nest at most this deep.
inline constexpr size_t kAsn1MaxFrames = 30;

// Object headers read per call. Every header takes at least two bytes, so no buffer of up to 64 KiB
// (a packet payload, which is all Suricata applies `asn1` to) reaches it: it only bounds the work
// done on larger buffers.
inline constexpr size_t kAsn1MaxNodes = 32768;

// The options of one `asn1:` keyword (rules::Asn1). The checks are ORed: the keyword matches when
// any enabled check fires on any decoded object.
using Asn1Check = rules::Asn1;

// Where decoding starts for `check` in a buffer of `buffer_size` bytes whose previous content match
// ended at `cursor`: the absolute offset, or cursor + relative offset. nullopt when that falls
// before the buffer or at/after its end (Suricata then does not match).
std::optional<size_t> asn1_start(const Asn1Check& check, size_t buffer_size, size_t cursor);

// Whether the BER objects starting at `start` (an index into `data`, resolved by the caller, e.g.
// with asn1_start) trip any enabled check of `check`. False when `start` is not inside `data`.
// Allocation-free, bounded by kAsn1MaxFrames and kAsn1MaxNodes, never reads outside `data`.
bool asn1_matches(const Asn1Check& check, std::span<const uint8_t> data, size_t start);

}  // namespace spanguard::detect
