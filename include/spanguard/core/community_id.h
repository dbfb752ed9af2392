// Community ID flow hash, version 1 (Corelight's community-id-spec, as logged by Zeek and
// Suricata): a direction-free string naming a flow, so spanguard's records and alerts join
// against other monitors' logs by plain string comparison.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "spanguard/core/ip_address.h"

namespace spanguard::core {

// "1:" + base64 of a 20-byte SHA-1 digest (28 characters with padding).
inline constexpr size_t kCommunityIdV1Length = 30;

// Computes "1:" + base64(SHA1(seed | addr | addr | proto | 0 | port | port)), every field in
// network byte order, with the endpoints ordered so that both directions of a flow give the same
// ID (smaller address first; on equal addresses, smaller port first).
//
// Ports take part for TCP (6), UDP (17) and SCTP (132). For ICMP (1) and ICMPv6 (58) pass the
// message type as `port_a` and the code as `port_b`: request/reply types (echo, timestamp, router
// and neighbour discovery, ...) hash as (type, counterpart type) so both halves share one ID;
// other types hash as (type, code) in the given direction, without reordering. For every other
// protocol the ports are ignored and left out of the hash input.
//
// Writes exactly kCommunityIdV1Length characters (no terminator) and returns true. Returns false,
// leaving `out` untouched, when the addresses are unset or of different families (or, in theory,
// when OpenSSL fails). Never throws; allocates nothing itself (OpenSSL 3.0 still makes one small
// allocation per digest initialisation).
bool community_id_v1(std::span<char, kCommunityIdV1Length> out, const IpAddress& a, uint16_t port_a,
                     const IpAddress& b, uint16_t port_b, uint8_t proto, uint16_t seed = 0);

// The same as a string; empty when the ID cannot be computed (the spec allows an empty value for
// flows it does not cover).
std::string community_id_v1(const IpAddress& a, uint16_t port_a, const IpAddress& b,
                            uint16_t port_b, uint8_t proto, uint16_t seed = 0);

}  // namespace spanguard::core
