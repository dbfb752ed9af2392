// Builds the frames a response sends: spoofed TCP segments (RST or FIN) and ICMP destination-
// unreachable messages, with the link header (MACs, 802.1Q/QinQ tags) and correct checksums,
// written into a caller's buffer without allocating.
//
// libnet's own builders are not used for the frame itself: libnet 1.1.6 can express one 802.1Q tag
// but not a QinQ stack, and its pblock chain is re-walked and re-checksummed on every write. A
// response frame is a few fixed headers; libnet keeps what it is good at (the injection sockets).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "spanguard/core/ip_address.h"
#include "spanguard/decode/packet_view.h"

namespace spanguard::respond {

// Largest frame a response builds: Ethernet + 2 tags + IPv6 + ICMPv6 header + quoted datagram.
inline constexpr size_t kMaxFrame = 14 + 8 + 40 + 8 + 1232;

struct LinkHeader {
  std::array<uint8_t, 6> dst{};
  std::array<uint8_t, 6> src{};
  uint8_t vlan_count = 0;  // outermost first, as decode::PacketView has them
  uint16_t vlan_tpids[decode::kMaxVlanTags] = {};
  uint16_t vlan_ids[decode::kMaxVlanTags] = {};
};

struct IpHeaderSpec {
  core::IpAddress src;
  core::IpAddress dst;  // same family as src
  uint8_t ttl = 64;     // IPv4 TTL or IPv6 hop limit
  uint16_t ip_id = 0;   // IPv4 only
};

struct TcpSegmentSpec {
  IpHeaderSpec ip;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;  // as on the wire (unscaled)
};

// Where the IP header starts in a built frame (0 without a link header).
size_t link_header_length(const LinkHeader* link);

// Writes the frame into `out` and returns its length, or 0 when `out` is too small. `link` null:
// the frame starts at the IP header (layer-3 injection).
size_t build_tcp(const LinkHeader* link, const TcpSegmentSpec& spec, std::span<uint8_t> out);

// ICMP (v4: type 3; v6: type 1) destination unreachable toward the sender of `offending`, spoofed
// from its destination, quoting as much of the offending datagram as RFC 792 / RFC 4443 §3.1 allow
// within kMaxFrame. `code` e.g. 3 (v4 port unreachable) or 4 (v6 port unreachable).
size_t build_icmp_unreachable(const LinkHeader* link, const decode::PacketView& offending,
                              uint8_t code, uint8_t ttl, uint16_t ip_id, std::span<uint8_t> out);

// RFC 1071 one's-complement sum (not yet folded/complemented) of `bytes`, added to `sum`.
uint32_t checksum_add(uint32_t sum, const uint8_t* bytes, size_t len);
uint16_t checksum_fold(uint32_t sum);

}  // namespace spanguard::respond
