// Response frames, byte by byte, in network order.
#include "spanguard/respond/frame_builder.h"

#include <algorithm>
#include <cstring>

namespace spanguard::respond {

namespace {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// Writes the link header; returns its length.
size_t put_link(const LinkHeader& link, uint16_t ether_type, uint8_t* p) {
  std::memcpy(p, link.dst.data(), 6);
  std::memcpy(p + 6, link.src.data(), 6);
  size_t at = 12;
  for (uint8_t i = 0; i < link.vlan_count && i < decode::kMaxVlanTags; ++i) {
    put16(p + at, link.vlan_tpids[i] != 0 ? link.vlan_tpids[i] : 0x8100);
    put16(p + at + 2, link.vlan_ids[i] & 0x0fff);  // priority 0, DEI 0
    at += 4;
  }
  put16(p + at, ether_type);
  return at + 2;
}

// The IPv4 or IPv6 header of a datagram carrying `l4_len` bytes of `proto`; returns its length.
size_t put_ip(const IpHeaderSpec& ip, uint8_t proto, size_t l4_len, uint8_t* p) {
  if (ip.src.is_v4()) {
    p[0] = 0x45;
    p[1] = 0;
    put16(p + 2, static_cast<uint16_t>(20 + l4_len));
    put16(p + 4, ip.ip_id);
    put16(p + 6, 0x4000);  // DF, as the endpoints' own segments carry
    p[8] = ip.ttl;
    p[9] = proto;
    put16(p + 10, 0);
    std::memcpy(p + 12, ip.src.bytes(), 4);
    std::memcpy(p + 16, ip.dst.bytes(), 4);
    put16(p + 10, checksum_fold(checksum_add(0, p, 20)));
    return 20;
  }
  put32(p, 0x60000000u);
  put16(p + 4, static_cast<uint16_t>(l4_len));
  p[6] = proto;
  p[7] = ip.ttl;
  std::memcpy(p + 8, ip.src.bytes(), 16);
  std::memcpy(p + 24, ip.dst.bytes(), 16);
  return 40;
}

// Pseudo-header sum (RFC 9293 §3.1, RFC 8200 §8.1).
uint32_t pseudo_sum(const IpHeaderSpec& ip, uint8_t proto, size_t l4_len) {
  uint32_t sum = checksum_add(0, ip.src.bytes(), ip.src.size());
  sum = checksum_add(sum, ip.dst.bytes(), ip.dst.size());
  return sum + proto + static_cast<uint32_t>(l4_len);
}

}  // namespace

uint32_t checksum_add(uint32_t sum, const uint8_t* bytes, size_t len) {
  size_t i = 0;
  for (; i + 1 < len; i += 2) sum += static_cast<uint32_t>(bytes[i] << 8 | bytes[i + 1]);
  if (i < len) sum += static_cast<uint32_t>(bytes[i] << 8);
  return sum;
}

uint16_t checksum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

size_t link_header_length(const LinkHeader* link) {
  return link == nullptr ? 0 : 14 + 4 * std::min<size_t>(link->vlan_count, decode::kMaxVlanTags);
}

size_t build_tcp(const LinkHeader* link, const TcpSegmentSpec& spec, std::span<uint8_t> out) {
  const bool v4 = spec.ip.src.is_v4();
  const size_t l2 = link_header_length(link);
  const size_t total = l2 + (v4 ? 20 : 40) + 20;
  if (out.size() < total || spec.ip.src.family() != spec.ip.dst.family() ||
      spec.ip.src.family() == 0) {
    return 0;
  }
  uint8_t* p = out.data();
  if (link != nullptr) put_link(*link, v4 ? kEtherIpv4 : kEtherIpv6, p);
  uint8_t* tcp = p + l2 + put_ip(spec.ip, decode::ip_proto::kTcp, 20, p + l2);
  put16(tcp, spec.src_port);
  put16(tcp + 2, spec.dst_port);
  put32(tcp + 4, spec.seq);
  put32(tcp + 8, spec.ack);
  tcp[12] = 5 << 4;
  tcp[13] = spec.flags;
  put16(tcp + 14, spec.window);
  put16(tcp + 16, 0);
  put16(tcp + 18, 0);
  const uint32_t sum = checksum_add(pseudo_sum(spec.ip, decode::ip_proto::kTcp, 20), tcp, 20);
  put16(tcp + 16, checksum_fold(sum));
  return total;
}

size_t build_icmp_unreachable(const LinkHeader* link, const decode::PacketView& offending,
                              uint8_t code, uint8_t ttl, uint16_t ip_id, std::span<uint8_t> out) {
  if (!offending.is_ip() || offending.l3_offset == decode::kAbsent) return 0;
  const bool v4 = offending.ip_version == 4;
  const size_t l2 = link_header_length(link);
  const size_t ip_len = v4 ? 20 : 40;
  // RFC 1812 §4.3.2.3 (v4, within 576 bytes) and RFC 4443 §3.1 (v6, within the minimum MTU).
  const size_t limit = v4 ? 576 - 20 - 8 : 1280 - 40 - 8;
  const size_t available =
      std::min<size_t>(offending.l3_len, offending.caplen - offending.l3_offset);
  const size_t quoted = std::min(limit, available);
  const size_t total = l2 + ip_len + 8 + quoted;
  if (out.size() < total) return 0;

  IpHeaderSpec ip;
  ip.src = offending.dst_ip();
  ip.dst = offending.src_ip();
  ip.ttl = ttl;
  ip.ip_id = ip_id;
  uint8_t* p = out.data();
  if (link != nullptr) put_link(*link, v4 ? kEtherIpv4 : kEtherIpv6, p);
  const uint8_t proto = v4 ? decode::ip_proto::kIcmp : decode::ip_proto::kIcmpv6;
  uint8_t* icmp = p + l2 + put_ip(ip, proto, 8 + quoted, p + l2);
  icmp[0] = v4 ? 3 : 1;  // destination unreachable
  icmp[1] = code;
  put16(icmp + 2, 0);
  put32(icmp + 4, 0);
  std::memcpy(icmp + 8, offending.data + offending.l3_offset, quoted);
  uint32_t sum = v4 ? 0 : pseudo_sum(ip, proto, 8 + quoted);  // ICMPv6 covers a pseudo-header
  sum = checksum_add(sum, icmp, 8 + quoted);
  put16(icmp + 2, checksum_fold(sum));
  return total;
}

}  // namespace spanguard::respond
