// PacketView: what the decoder learned about one captured frame, as offsets into the frame and a
// few header fields in host byte order. It never copies payload; it is valid as long as the frame
// is.
#pragma once

#include <cstdint>
#include <span>

#include "spanguard/core/ip_address.h"
#include "spanguard/core/time.h"

namespace spanguard::decode {

// How a capture source frames its packets (mapped from pcap DLT values by the capture module).
enum class LinkType : uint8_t {
  kEthernet,   // DLT_EN10MB
  kLinuxSll,   // DLT_LINUX_SLL, `tcpdump -i any` (16-byte cooked header)
  kLinuxSll2,  // DLT_LINUX_SLL2 (20-byte cooked header)
  kRawIp,      // DLT_RAW / LINKTYPE_RAW: the version nibble tells IPv4 from IPv6
  kIpv4,       // DLT_IPV4
  kIpv6,       // DLT_IPV6
  kNull,       // DLT_NULL / DLT_LOOP: 4-byte address family (BSD loopback)
  kPpp,        // DLT_PPP: PPP protocol field, after 0xff 0x03 address/control when present
  kPppSerial,  // DLT_PPP_SERIAL: PPP in HDLC-like framing, or Cisco HDLC (first byte 0x0f/0x8f)
  kCiscoHdlc,  // DLT_C_HDLC: address (0x0f/0x8f), control 0x00, 2-byte ethertype
};

// The encapsulation the inspected packet arrived in: a remote mirror's (GRE, ERSPAN, VXLAN) or a
// tunnel the monitored hosts built themselves (GRE, PPTP, Teredo).
enum class Tunnel : uint8_t {
  kNone,
  kGre,
  kErspanI,
  kErspanII,
  kErspanIII,
  kVxlan,
  kPptp,
  kTeredo
};

namespace tcp_flag {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;
inline constexpr uint8_t kUrg = 0x20;
inline constexpr uint8_t kEce = 0x40;
inline constexpr uint8_t kCwr = 0x80;
}  // namespace tcp_flag

namespace ip_proto {
inline constexpr uint8_t kIcmp = 1;
inline constexpr uint8_t kTcp = 6;
inline constexpr uint8_t kUdp = 17;
inline constexpr uint8_t kGre = 47;
inline constexpr uint8_t kIcmpv6 = 58;
}  // namespace ip_proto

struct TcpOptions {
  bool has_mss = false;
  bool has_wscale = false;
  bool sack_permitted = false;
  bool has_timestamps = false;
  uint8_t wscale = 0;
  uint8_t sack_blocks = 0;  // SACK blocks carried (RFC 2018)
  uint16_t mss = 0;
  uint32_t ts_val = 0;
  uint32_t ts_ecr = 0;
};

inline constexpr uint32_t kAbsent = 0xffffffffu;
inline constexpr int kMaxVlanTags = 2;

struct PacketView {
  const uint8_t* data = nullptr;  // the frame as captured
  uint32_t caplen = 0;            // bytes captured
  uint32_t wirelen = 0;           // bytes on the wire
  core::Timestamp ts{};
  LinkType link = LinkType::kEthernet;

  // Layer 2 of the inspected packet (for a tunnel, the inner frame). kAbsent for cooked/raw links.
  uint32_t eth_offset = kAbsent;
  uint8_t vlan_count = 0;                  // tags in front of the inspected packet, outermost first
  uint16_t vlan_ids[kMaxVlanTags] = {};    // 12-bit VLAN ids
  uint16_t vlan_tpids[kMaxVlanTags] = {};  // 0x8100, 0x88a8 or 0x9100, as seen

  // Layer 3. l3_len is the IP datagram's own length (trailing link padding excluded).
  uint32_t l3_offset = kAbsent;
  uint32_t l3_len = 0;
  uint8_t ip_version = 0;  // 4, 6, or 0 for a non-IP frame
  uint8_t ip_proto = 0;    // upper-layer protocol after IPv6 extension headers
  uint8_t ttl = 0;         // IPv4 TTL or IPv6 hop limit
  uint16_t ip_id = 0;      // IPv4 identification

  // Fragmentation (IPv4 flags/offset, or the IPv6 fragment header).
  bool is_fragment = false;
  bool more_fragments = false;
  uint16_t frag_offset = 0;                // in bytes
  uint32_t frag_id = 0;                    // IPv4 id or IPv6 fragment identification
  uint32_t frag_header_offset = kAbsent;   // IPv6 fragment extension header
  uint32_t frag_payload_offset = kAbsent;  // where this fragment's data begins

  // Layer 4 (absent in non-first fragments).
  uint32_t l4_offset = kAbsent;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t payload_offset = kAbsent;
  uint32_t payload_len = 0;

  // The TCP/UDP/ICMP header is broken (counted malformed): only the IP layer is there.
  bool l4_invalid = false;
  // A checksum was wrong (validation on): the receiver drops such a packet.
  bool bad_checksum = false;

  // TCP
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint16_t window = 0;  // unscaled, as on the wire
  uint8_t tcp_flags = 0;
  TcpOptions tcp_options;

  // ICMP / ICMPv6
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;

  // The frame is a PPPoE session frame: its Ethernet addresses belong to the PPPoE peers, and a
  // plain IP frame sent to them would be ignored (no reset can be injected at layer 2).
  bool pppoe = false;

  // Outer headers of the outermost tunnel, kept for reporting.
  Tunnel tunnel = Tunnel::kNone;
  uint32_t tunnel_id = 0;  // GRE key, ERSPAN session id, VXLAN VNI or PPTP call id
  uint32_t outer_l3_offset = kAbsent;
  uint8_t outer_ip_version = 0;

  bool is_ip() const { return ip_version != 0; }
  bool is_tcp() const { return ip_proto == ip_proto::kTcp && l4_offset != kAbsent; }
  bool is_udp() const { return ip_proto == ip_proto::kUdp && l4_offset != kAbsent; }
  bool is_icmp() const {
    return (ip_proto == ip_proto::kIcmp || ip_proto == ip_proto::kIcmpv6) && l4_offset != kAbsent;
  }
  bool has_flag(uint8_t flag) const { return (tcp_flags & flag) != 0; }

  core::IpAddress src_ip() const { return address_at(ip_version == 4 ? 12 : 8); }
  core::IpAddress dst_ip() const { return address_at(ip_version == 4 ? 16 : 24); }
  core::IpAddress outer_src_ip() const;
  core::IpAddress outer_dst_ip() const;
  std::span<const uint8_t> payload() const {
    return payload_offset == kAbsent ? std::span<const uint8_t>()
                                     : std::span<const uint8_t>(data + payload_offset, payload_len);
  }

 private:
  core::IpAddress address_at(uint32_t header_pos) const {
    if (ip_version == 4) return core::IpAddress::v4(data + l3_offset + header_pos);
    if (ip_version == 6) return core::IpAddress::v6(data + l3_offset + header_pos);
    return {};
  }
};

inline core::IpAddress PacketView::outer_src_ip() const {
  if (outer_ip_version == 4) return core::IpAddress::v4(data + outer_l3_offset + 12);
  if (outer_ip_version == 6) return core::IpAddress::v6(data + outer_l3_offset + 8);
  return {};
}
inline core::IpAddress PacketView::outer_dst_ip() const {
  if (outer_ip_version == 4) return core::IpAddress::v4(data + outer_l3_offset + 16);
  if (outer_ip_version == 6) return core::IpAddress::v6(data + outer_l3_offset + 24);
  return {};
}

}  // namespace spanguard::decode
