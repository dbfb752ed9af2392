// Frame decoding, outermost header first. Each step checks its header against the bytes that are
// left (captured bytes, then the enclosing IP/UDP length) before reading it, so no malformed or
// truncated frame can make the decoder read past the capture.
#include "spanguard/decode/decoder.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "spanguard/core/log.h"

namespace spanguard::decode {

namespace {

constexpr int kMaxTunnelDepth = 3;
constexpr int kMaxIpv6ExtHeaders = 8;

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;
constexpr uint16_t kEtherTypeQinq = 0x88a8;
constexpr uint16_t kEtherTypeQinqOld = 0x9100;
constexpr uint16_t kEtherTypeTeb = 0x6558;      // transparent Ethernet bridging (GRE)
constexpr uint16_t kEtherTypeErspanI = 0x88be;  // also type II, told apart by GRE's S bit
constexpr uint16_t kEtherTypeErspanIII = 0x22eb;
constexpr uint16_t kEtherTypePppoeSession = 0x8864;  // discovery (0x8863) carries no IP
constexpr uint16_t kGreProtocolPpp = 0x880b;

// PPP protocol numbers (RFC 1661 §2, RFC 5072 §2).
constexpr uint16_t kPppIpv4 = 0x0021;
constexpr uint16_t kPppIpv6 = 0x0057;

constexpr uint16_t kTeredoPort = 3544;  // RFC 4380 §4: the Teredo server's port

// Which UDP datagrams the decoder opens as tunnels (the dispatcher's quick hash defers those).
bool vxlan_ports(const DecoderOptions& o, uint16_t, uint16_t dport) {
  return o.decode_tunnels && dport == o.vxlan_port;
}
// Teredo: only the server's port is known; a client's traffic with a relay uses whatever ports
// their NATs map, and telling it apart would mean trying every UDP payload.
bool teredo_ports(const DecoderOptions& o, uint16_t sport, uint16_t dport) {
  return o.decode_tunnels && o.teredo && (sport == kTeredoPort || dport == kTeredoPort);
}
bool udp_tunnel(const DecoderOptions& o, uint16_t sport, uint16_t dport) {
  return vxlan_ports(o, sport, dport) || teredo_ports(o, sport, dport);
}

constexpr core::CounterDef kCounterDefs[] = {
    {"packets", "frames decoded"},
    {"bytes", "bytes on the wire of decoded frames"},
    {"ethernet", "Ethernet II frames"},
    {"vlan", "frames with at least one 802.1Q/802.1ad tag"},
    {"qinq", "frames with two VLAN tags"},
    {"pppoe", "PPPoE session frames (RFC 2516)"},
    {"linux_sll", "Linux cooked-capture frames (SLL/SLL2)"},
    {"raw_ip", "frames without a link header (raw IP, DLT_NULL)"},
    {"ppp", "PPP frames (PPP links, PPPoE, PPP over GRE and PPTP)"},
    {"cisco_hdlc", "Cisco HDLC frames"},
    {"ipv4", "IPv4 packets"},
    {"ipv6", "IPv6 packets"},
    {"tcp", "TCP segments"},
    {"udp", "UDP datagrams"},
    {"icmp", "ICMPv4 messages"},
    {"icmpv6", "ICMPv6 messages"},
    {"other_ip_proto", "IP packets of another upper-layer protocol"},
    {"fragments", "IP fragments (held for defragmentation)"},
    {"gre", "GRE-encapsulated packets"},
    {"erspan", "ERSPAN-encapsulated frames (remote SPAN)"},
    {"vxlan", "VXLAN-encapsulated frames (cloud traffic mirroring)"},
    {"pptp", "PPTP enhanced-GRE packets (RFC 2637)"},
    {"teredo", "Teredo-encapsulated IPv6 packets (RFC 4380, UDP port 3544)"},
    {"not_ip", "well-formed frames that carry no IP (ARP, LLDP, PPP control, ...): skipped"},
    {"malformed.link.truncated", "link header longer than the captured bytes"},
    {"malformed.link.unknown",
     "link-layer payload of unknown kind (raw IP version, Cisco HDLC address or control)"},
    {"malformed.vlan.truncated", "VLAN tag cut short"},
    {"malformed.vlan.too_many_tags", "more than two stacked VLAN tags"},
    {"malformed.pppoe.truncated",
     "PPPoE header or PPP protocol field cut short, or PPPoE length beyond the captured bytes"},
    {"malformed.pppoe.bad_header", "PPPoE session header with version/type not 0x11 or code not 0"},
    {"malformed.ipv4.truncated",
     "IPv4 header or datagram longer than the captured bytes or the PPP frame carrying it"},
    {"malformed.ipv4.bad_version", "IPv4 version field is not 4"},
    {"malformed.ipv4.bad_ihl", "IPv4 header length below 20 bytes or beyond the total length"},
    {"malformed.ipv4.bad_total_len", "IPv4 total length below 20 bytes"},
    {"malformed.ipv4.bad_option", "IPv4 option with an impossible length"},
    {"malformed.ipv4.bad_fragment", "IPv4 fragment reaching past 65535 bytes"},
    {"malformed.ipv6.truncated",
     "IPv6 header or payload longer than the captured bytes or the PPP frame carrying it"},
    {"malformed.ipv6.bad_version", "IPv6 version field is not 6"},
    {"malformed.ipv6.bad_ext_len", "IPv6 extension header reaching past the payload"},
    {"malformed.ipv6.too_many_ext", "IPv6 extension header chain longer than 8"},
    {"malformed.ipv6.hbh_not_first", "IPv6 hop-by-hop options not directly after the header"},
    {"malformed.ipv6.bad_fragment", "IPv6 fragment header cut short or reaching past 65535 bytes"},
    {"malformed.tcp.truncated", "TCP header longer than the IP payload (ip rules still run)"},
    {"malformed.tcp.bad_offset",
     "TCP data offset below 20 bytes or past the segment (ip rules still run)"},
    {"malformed.udp.truncated", "UDP header longer than the IP payload (ip rules still run)"},
    {"malformed.udp.bad_length",
     "UDP length below 8 or beyond the IP payload (ip rules still run)"},
    {"malformed.icmp.truncated", "ICMP message shorter than 8 bytes (ip rules still run)"},
    {"malformed.gre.truncated",
     "GRE header, PPTP payload or the PPP header in it longer than the IP payload"},
    {"malformed.gre.bad_version",
     "GRE version other than 0 or 1, a version 1 header not PPTP's (PPP, key, no checksum), or "
     "deprecated routing present"},
    {"malformed.erspan.truncated", "ERSPAN header longer than the GRE payload"},
    {"malformed.erspan.bad_version", "ERSPAN version field does not match its GRE type"},
    {"malformed.vxlan.truncated", "VXLAN header longer than the UDP payload"},
    {"malformed.vxlan.bad_flags", "VXLAN header without the I (valid VNI) flag"},
    {"malformed.tunnel.too_deep", "tunnels nested deeper than 3"},
    {"anomaly.tcp.bad_option_len", "TCP option with an impossible length (rest ignored)"},
    {"anomaly.snap_truncated", "frame cut by the capture snap length"},
    {"anomaly.ipv4.bad_checksum", "IPv4 header checksum wrong (validation on): still inspected"},
    {"anomaly.tcp.bad_checksum",
     "TCP checksum wrong (validation on): inspected as a packet, kept out of flow and stream "
     "tracking"},
    {"anomaly.udp.bad_checksum", "UDP checksum wrong (validation on): still inspected"},
    {"anomaly.icmp.bad_checksum", "ICMP checksum wrong (validation on): still inspected"},
    {"anomaly.checksum_offload",
     "checksum validation turned off: over 10% of the first 1,000 checksums were wrong "
     "(offloading)"},
    {"checksum_validation_kept",
     "checksum validation (auto) kept on: at most 10% of the first 1,000 checksums were wrong"},
};
static_assert(std::size(kCounterDefs) == static_cast<size_t>(DecodeCounter::kCount));

constexpr core::CounterGroup kCounterGroup{"decode", kCounterDefs};

constexpr core::Param kParams[] = {
    {.name = "checksum_validation",
     .type = core::ParamType::kEnum,
     .default_value = "auto",
     .help =
         "Check IP/TCP/UDP/ICMP checksums: a TCP segment with a wrong one is kept out of flow and "
         "stream tracking, as the receiving host drops it (it is still inspected as a packet); "
         "auto: on unless over 10% of the first 1,000 checksums are wrong, the mark of a copy "
         "taken where checksum offloading leaves them unfilled (files and live capture alike; "
         "yes rules out that traffic forged to look offloaded turns validation off)",
     .choices = "auto|yes|no"},
    {.name = "tunnels",
     .type = core::ParamType::kBool,
     .default_value = "true",
     .help = "Inspect the inner packet of GRE, ERSPAN and VXLAN remote-mirror encapsulation, and "
             "of PPTP and Teredo tunnels"},
    {.name = "vxlan_port",
     .type = core::ParamType::kInt,
     .default_value = "4789",
     .help = "UDP destination port that carries VXLAN",
     .min = 1,
     .max = 65535},
    {.name = "teredo",
     .type = core::ParamType::kBool,
     .default_value = "true",
     .help = "With tunnels: inspect the IPv6 packet in UDP to or from port 3544 (Teredo) when the "
             "payload is one; other traffic on that port stays plain UDP"},
};

constexpr core::ParamSection kSection{"decode", "Packet decoding", kParams};

inline uint16_t load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t load32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

// One's-complement sum of 16-bit big-endian words (RFC 1071), not yet folded.
// Adds the 16-bit big-endian words of p[0, len) (a lone last byte as the high half of a word) to
// `sum`; the caller folds. RFC 1071 §2: the one's complement sum does not depend on byte order and
// may be computed over wider words, folded at the end. So native 32-bit halves of 64-bit loads are
// summed into 64 bits (no carry lost below 2^32 words), folded to 16 bits, and swapped once into
// network order: ~8x fewer operations than a word at a time, on every checked segment.
uint32_t ones_sum(const uint8_t* p, uint32_t len, uint32_t sum) {
  uint64_t acc = 0;
  for (; len >= 32; p += 32, len -= 32) {
    uint64_t w[4];
    std::memcpy(w, p, sizeof w);
    acc += (w[0] & 0xffffffffu) + (w[0] >> 32) + (w[1] & 0xffffffffu) + (w[1] >> 32) +
           (w[2] & 0xffffffffu) + (w[2] >> 32) + (w[3] & 0xffffffffu) + (w[3] >> 32);
  }
  for (; len >= 4; p += 4, len -= 4) {
    uint32_t w;
    std::memcpy(&w, p, sizeof w);
    acc += w;
  }
  if (len >= 2) {
    uint16_t w;
    std::memcpy(&w, p, sizeof w);
    acc += w;
    p += 2;
    len -= 2;
  }
  if (len == 1) {
    // The high (first) byte of a big-endian word: where it lies in a native 16-bit word.
    acc += std::endian::native == std::endian::little ? p[0] : static_cast<uint32_t>(p[0]) << 8;
  }
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffff) + (acc >> 16);
  acc = (acc & 0xffff) + (acc >> 16);
  auto native16 = static_cast<uint16_t>(acc);
  if constexpr (std::endian::native == std::endian::little) {
    native16 = static_cast<uint16_t>(native16 >> 8 | native16 << 8);
  }
  return sum + native16;
}

uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

}  // namespace

const core::ParamSection& decode_params() { return kSection; }

DecoderOptions decoder_options(const core::Config& config, bool live_capture) {
  DecoderOptions o;
  const std::string& mode = config.get("decode.checksum_validation").as_string();
  // "auto" judges every kind of capture by its checksums. A live mirror port carries the frames
  // as they were on the wire, checksums filled in; the copies that do not (capture on a host
  // whose NIC computes them on transmit) show it plainly in the first checks, as an offloaded
  // capture file does.
  o.validate_checksums = mode == "yes" || mode == "auto";
  o.detect_offload = mode == "auto";
  o.live_capture = live_capture;
  o.decode_tunnels = config.get("decode.tunnels").as_bool();
  o.vxlan_port = static_cast<uint16_t>(config.get("decode.vxlan_port").as_int());
  o.teredo = config.get("decode.teredo").as_bool();
  return o;
}

const core::CounterGroup& Decoder::counter_group() { return kCounterGroup; }

Decoder::Decoder(DecoderOptions options) : options_(options), counters_(kCounterGroup) {}

DecodeStatus Decoder::malformed(DecodeCounter reason) {
  counters_.inc(reason);
  last_malformed_ = reason;
  return DecodeStatus::kMalformed;
}

DecodeStatus Decoder::l4_malformed(DecodeCounter reason, PacketView& v) {
  counters_.inc(reason);
  last_malformed_ = reason;
  v.l4_invalid = true;
  v.l4_offset = kAbsent;
  return DecodeStatus::kOk;
}

bool Decoder::checksum_wrong(bool ok, DecodeCounter reason) {
  if (options_.detect_offload && checksums_checked_ < 1000) {
    ++checksums_checked_;
    checksums_wrong_ += ok ? 0 : 1;
    // Decided once, on the first 1,000 checks (per worker); until then, validation is on.
    const char* capture = options_.live_capture ? "live capture" : "capture";
    if (checksums_checked_ == 1000 && checksums_wrong_ * 10 > checksums_checked_) {
      options_.validate_checksums = false;
      counters_.inc(DecodeCounter::kChecksumOffload);
      core::logger("decode")->warn(
          "{} of the first 1000 checksums are wrong: the {} looks taken where checksums are "
          "offloaded; checksum validation is off from here (decode.checksum_validation: no to "
          "say so)",
          checksums_wrong_, capture);
    } else if (checksums_checked_ == 1000) {
      counters_.inc(DecodeCounter::kChecksumValidationKept);
      core::logger("decode")->info(
          "{} of the first 1000 checksums are wrong: no sign of checksum offloading in the {}; "
          "checksum validation stays on (decode.checksum_validation: auto)",
          checksums_wrong_, capture);
    }
  }
  if (ok) return false;
  counters_.inc(reason);
  return true;
}

DecodeStatus Decoder::decode(LinkType link, const uint8_t* data, uint32_t caplen, uint32_t wirelen,
                             core::Timestamp ts, PacketView& v) {
  // Copied from a constant rather than built on the stack: a temporary's fresh narrow stores,
  // read back in wide loads for the copy, stall store forwarding (~6% of decoding, measured).
  static const PacketView kFresh{};
  v = kFresh;
  v.data = data;
  v.caplen = caplen;
  v.wirelen = std::max(wirelen, caplen);
  v.ts = ts;
  v.link = link;
  counters_.inc(DecodeCounter::kPackets);
  counters_.inc(DecodeCounter::kBytes, v.wirelen);
  if (caplen < wirelen) counters_.inc(DecodeCounter::kSnapTruncated);

  switch (link) {
    case LinkType::kEthernet:
      return decode_ethernet(0, v, 0);
    case LinkType::kLinuxSll:
      // 16-byte cooked header: packet type, ARPHRD, address length, 8 address bytes, protocol.
      if (caplen < 16) return malformed(DecodeCounter::kLinkTruncated);
      counters_.inc(DecodeCounter::kLinuxSll);
      return decode_ethertype(load16(data + 14), 16, v, 0);
    case LinkType::kLinuxSll2:
      // 20-byte cooked header with the protocol first.
      if (caplen < 20) return malformed(DecodeCounter::kLinkTruncated);
      counters_.inc(DecodeCounter::kLinuxSll);
      return decode_ethertype(load16(data), 20, v, 0);
    case LinkType::kRawIp:
      if (caplen < 1) return malformed(DecodeCounter::kLinkTruncated);
      counters_.inc(DecodeCounter::kRawIp);
      if (data[0] >> 4 == 4) return decode_ipv4(0, caplen, v, 0);
      if (data[0] >> 4 == 6) return decode_ipv6(0, caplen, v, 0);
      return malformed(DecodeCounter::kLinkUnknown);
    case LinkType::kIpv4:
      counters_.inc(DecodeCounter::kRawIp);
      return decode_ipv4(0, caplen, v, 0);
    case LinkType::kIpv6:
      counters_.inc(DecodeCounter::kRawIp);
      return decode_ipv6(0, caplen, v, 0);
    case LinkType::kNull: {
      // 4-byte address family in the capturing host's byte order: accept either order.
      if (caplen < 4) return malformed(DecodeCounter::kLinkTruncated);
      counters_.inc(DecodeCounter::kRawIp);
      uint32_t family = 0;
      std::memcpy(&family, data, 4);
      const uint32_t swapped = __builtin_bswap32(family);
      const uint32_t af = family < 256 ? family : swapped;
      if (af == 2) return decode_ipv4(4, caplen, v, 0);
      if (af == 10 || af == 24 || af == 28 || af == 30) return decode_ipv6(4, caplen, v, 0);
      counters_.inc(DecodeCounter::kNotIp);
      return DecodeStatus::kNotIp;
    }
    case LinkType::kPpp:
      return decode_ppp(0, caplen, true, DecodeCounter::kLinkTruncated, v, 0);
    case LinkType::kPppSerial:
      // RFC 1662 framing starts with the all-stations address 0xff; a Cisco router's serial link
      // gives Cisco HDLC the same link type (RFC 1547 §4.3.1), told apart by its own addresses.
      if (caplen >= 1 && (data[0] == 0x0f || data[0] == 0x8f)) return decode_cisco_hdlc(0, v);
      return decode_ppp(0, caplen, true, DecodeCounter::kLinkTruncated, v, 0);
    case LinkType::kCiscoHdlc:
      return decode_cisco_hdlc(0, v);
  }
  return malformed(DecodeCounter::kLinkUnknown);
}

DecodeStatus Decoder::decode_ip(const uint8_t* data, uint32_t len, PacketView& v) {
  v.data = data;
  v.caplen = len;
  v.wirelen = len;
  v.eth_offset = kAbsent;
  v.l3_offset = kAbsent;
  v.l4_offset = kAbsent;
  v.payload_offset = kAbsent;
  v.payload_len = 0;
  v.is_fragment = v.more_fragments = false;
  v.frag_offset = 0;
  v.frag_header_offset = v.frag_payload_offset = kAbsent;
  v.src_port = v.dst_port = 0;
  v.tcp_flags = 0;
  v.tcp_options = {};
  v.l4_invalid = v.bad_checksum = false;
  if (v.tunnel != Tunnel::kNone) {
    // The outer headers lived in the original frame, which this buffer does not hold.
    v.outer_l3_offset = kAbsent;
    v.outer_ip_version = 0;
  }
  if (len < 1) return malformed(DecodeCounter::kIpv4Truncated);
  if (data[0] >> 4 == 4) return decode_ipv4(0, len, v, 0);
  if (data[0] >> 4 == 6) return decode_ipv6(0, len, v, 0);
  return malformed(DecodeCounter::kIpv4BadVersion);
}

DecodeStatus Decoder::decode_ethernet(uint32_t offset, PacketView& v, int depth) {
  if (v.caplen < offset + 14) return malformed(DecodeCounter::kLinkTruncated);
  counters_.inc(DecodeCounter::kEthernet);
  v.eth_offset = offset;
  const uint16_t type = load16(v.data + offset + 12);
  if (type < 0x0600) {  // IEEE 802.3 length field: LLC/SNAP (STP, CDP...), never IP on a mirror
    counters_.inc(DecodeCounter::kNotIp);
    return DecodeStatus::kNotIp;
  }
  return decode_ethertype(type, offset + 14, v, depth);
}

DecodeStatus Decoder::decode_ethertype(uint16_t type, uint32_t offset, PacketView& v, int depth) {
  while (type == kEtherTypeVlan || type == kEtherTypeQinq || type == kEtherTypeQinqOld) {
    if (v.caplen < offset + 4) return malformed(DecodeCounter::kVlanTruncated);
    if (v.vlan_count == kMaxVlanTags) return malformed(DecodeCounter::kVlanTooManyTags);
    v.vlan_tpids[v.vlan_count] = type;
    v.vlan_ids[v.vlan_count] = load16(v.data + offset) & 0x0fff;
    ++v.vlan_count;
    type = load16(v.data + offset + 2);
    offset += 4;
  }
  if (v.vlan_count > 0) counters_.inc(DecodeCounter::kVlan);
  if (v.vlan_count > 1) counters_.inc(DecodeCounter::kQinq);
  if (type == kEtherTypeIpv4) return decode_ipv4(offset, v.caplen, v, depth);
  if (type == kEtherTypeIpv6) return decode_ipv6(offset, v.caplen, v, depth);
  if (type == kEtherTypePppoeSession) return decode_pppoe(offset, v, depth);
  counters_.inc(DecodeCounter::kNotIp);
  return DecodeStatus::kNotIp;
}

DecodeStatus Decoder::decode_pppoe(uint32_t offset, PacketView& v, int depth) {
  // RFC 2516 §4: VER(4)=1 TYPE(4)=1 CODE(8)=0 SESSION_ID(16) LENGTH(16), then LENGTH bytes of PPP
  // frame (Ethernet padding may follow), which starts at its protocol field: PPPoE carries no
  // address/control pair.
  if (v.caplen - offset < 6) return malformed(DecodeCounter::kPppoeTruncated);
  const uint8_t* ph = v.data + offset;
  if (ph[0] != 0x11 || ph[1] != 0x00) return malformed(DecodeCounter::kPppoeBadHeader);
  const uint32_t length = load16(ph + 4);
  if (length > v.caplen - offset - 6) return malformed(DecodeCounter::kPppoeTruncated);
  counters_.inc(DecodeCounter::kPppoe);
  v.pppoe = true;
  return decode_ppp(offset + 6, offset + 6 + length, false, DecodeCounter::kPppoeTruncated, v,
                    depth);
}

namespace {

// Reads the PPP header at `pos` (an offset into `data`, below `end`): the address/control pair of
// HDLC-like framing (RFC 1662 §3.1) when `address_control` allows one and the all-stations
// address 0xff says it is there (address/control-field compression, RFC 1661 §6.6, leaves it
// out), then the protocol. Protocol numbers have an even first and an odd last octet, so an odd
// first octet is a protocol compressed to one octet (RFC 1661 §6.5). Leaves `pos` on the PPP
// payload; false when cut short. A control field other than UI (0x03: numbered mode, RFC 1663)
// gives protocol 0, which is nothing to inspect.
bool read_ppp_header(const uint8_t* data, uint32_t& pos, uint32_t end, bool address_control,
                     uint16_t& protocol) {
  if (address_control && end - pos >= 1 && data[pos] == 0xff) {
    if (end - pos < 2) return false;
    if (data[pos + 1] != 0x03) {
      protocol = 0;
      return true;
    }
    pos += 2;
  }
  if (end - pos < 1) return false;
  if (data[pos] & 1) {
    protocol = data[pos];
    pos += 1;
    return true;
  }
  if (end - pos < 2) return false;
  protocol = load16(data + pos);
  pos += 2;
  return true;
}

}  // namespace

DecodeStatus Decoder::decode_ppp(uint32_t offset, uint32_t end, bool address_control,
                                 DecodeCounter truncated, PacketView& v, int depth) {
  uint16_t protocol = 0;
  if (!read_ppp_header(v.data, offset, end, address_control, protocol)) return malformed(truncated);
  counters_.inc(DecodeCounter::kPpp);
  if (protocol == kPppIpv4) return decode_ipv4(offset, end, v, depth);
  if (protocol == kPppIpv6) return decode_ipv6(offset, end, v, depth);
  // LCP, the NCPs, authentication, compressed or encrypted data: PPP's own business.
  counters_.inc(DecodeCounter::kNotIp);
  return DecodeStatus::kNotIp;
}

DecodeStatus Decoder::decode_cisco_hdlc(uint32_t offset, PacketView& v) {
  // Address 0x0f (unicast) or 0x8f (broadcast), control 0x00, then an ethertype.
  if (v.caplen - offset < 4) return malformed(DecodeCounter::kLinkTruncated);
  const uint8_t* h = v.data + offset;
  if ((h[0] != 0x0f && h[0] != 0x8f) || h[1] != 0x00) {
    return malformed(DecodeCounter::kLinkUnknown);
  }
  counters_.inc(DecodeCounter::kCiscoHdlc);
  const uint16_t type = load16(h + 2);
  if (type == kEtherTypeIpv4) return decode_ipv4(offset + 4, v.caplen, v, 0);
  if (type == kEtherTypeIpv6) return decode_ipv6(offset + 4, v.caplen, v, 0);
  // SLARP keepalives (0x8035), CDP, ...
  counters_.inc(DecodeCounter::kNotIp);
  return DecodeStatus::kNotIp;
}

DecodeStatus Decoder::decode_ipv4(uint32_t offset, uint32_t limit, PacketView& v, int depth) {
  if (limit < offset + 20) return malformed(DecodeCounter::kIpv4Truncated);
  const uint8_t* ip = v.data + offset;
  if (ip[0] >> 4 != 4) return malformed(DecodeCounter::kIpv4BadVersion);
  const uint32_t ihl = (ip[0] & 0x0fu) * 4;
  const uint32_t total = load16(ip + 2);
  if (total < 20) return malformed(DecodeCounter::kIpv4BadTotalLen);
  if (ihl < 20 || ihl > total) return malformed(DecodeCounter::kIpv4BadIhl);
  if (limit - offset < total) return malformed(DecodeCounter::kIpv4Truncated);
  if (options_.validate_checksums &&
      checksum_wrong(fold(ones_sum(ip, ihl, 0)) == 0, DecodeCounter::kIpv4BadChecksum)) {
    v.bad_checksum = true;
  }
  // Options (RFC 791): EOL ends the list, NOP is one byte, every other option carries a length
  // >= 2.
  for (uint32_t i = 20; i < ihl;) {
    const uint8_t kind = ip[i];
    if (kind == 0) break;
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= ihl || ip[i + 1] < 2 || i + ip[i + 1] > ihl) {
      return malformed(DecodeCounter::kIpv4BadOption);
    }
    i += ip[i + 1];
  }
  const uint16_t frag = load16(ip + 6);
  const uint32_t frag_offset = (frag & 0x1fffu) * 8;
  const bool more = (frag & 0x2000) != 0;
  if (frag_offset + (total - ihl) > 65535) return malformed(DecodeCounter::kIpv4BadFragment);

  counters_.inc(DecodeCounter::kIpv4);
  v.ip_version = 4;
  v.l3_offset = offset;
  v.l3_len = total;
  v.ttl = ip[8];
  v.ip_proto = ip[9];
  v.ip_id = load16(ip + 4);
  if (more || frag_offset != 0) {
    counters_.inc(DecodeCounter::kFragments);
    v.is_fragment = true;
    v.more_fragments = more;
    v.frag_offset = static_cast<uint16_t>(frag_offset);
    v.frag_id = v.ip_id;
    v.frag_payload_offset = offset + ihl;
    return DecodeStatus::kOk;  // layer 4 is decoded after defragmentation
  }
  return decode_l4(offset + ihl, offset + total, v, depth);
}

DecodeStatus Decoder::decode_ipv6(uint32_t offset, uint32_t limit, PacketView& v, int depth) {
  if (limit < offset + 40) return malformed(DecodeCounter::kIpv6Truncated);
  const uint8_t* ip = v.data + offset;
  if (ip[0] >> 4 != 6) return malformed(DecodeCounter::kIpv6BadVersion);
  uint32_t payload_len = load16(ip + 4);
  if (payload_len == 0 && ip[6] != 59) {
    // A zero payload length with a next header is a jumbogram, or a GSO/BIG TCP super-frame as
    // captured on the sending host: the captured bytes are the payload.
    payload_len = limit - offset - 40;
  }
  const uint32_t end = offset + 40 + payload_len;
  if (end > limit) return malformed(DecodeCounter::kIpv6Truncated);

  uint8_t next = ip[6];
  uint32_t pos = offset + 40;
  int ext_count = 0;
  v.ttl = ip[7];
  for (;;) {
    if (next != 0 && next != 43 && next != 44 && next != 51 && next != 60) break;
    if (++ext_count > kMaxIpv6ExtHeaders) return malformed(DecodeCounter::kIpv6TooManyExt);
    // RFC 8200 §4.1: hop-by-hop options, when present, come first.
    if (next == 0 && ext_count != 1) return malformed(DecodeCounter::kIpv6HopByHopNotFirst);
    if (next == 44) {
      if (end - pos < 8) return malformed(DecodeCounter::kIpv6BadFragment);
      const uint8_t* fh = v.data + pos;
      const uint16_t off_flags = load16(fh + 2);
      const uint32_t frag_offset = off_flags & 0xfff8u;
      const bool more = (off_flags & 1) != 0;
      next = fh[0];
      if (frag_offset + (end - pos - 8) > 65535) return malformed(DecodeCounter::kIpv6BadFragment);
      if (frag_offset == 0 && !more) {  // RFC 6946 atomic fragment: a whole datagram
        pos += 8;
        continue;
      }
      counters_.inc(DecodeCounter::kIpv6);
      counters_.inc(DecodeCounter::kFragments);
      v.ip_version = 6;
      v.l3_offset = offset;
      v.l3_len = end - offset;
      v.ip_proto = next;
      v.is_fragment = true;
      v.more_fragments = more;
      v.frag_offset = static_cast<uint16_t>(frag_offset);
      v.frag_id = load32(fh + 4);
      v.frag_header_offset = pos;
      v.frag_payload_offset = pos + 8;
      return DecodeStatus::kOk;
    }
    if (end - pos < 8) return malformed(DecodeCounter::kIpv6BadExtLen);
    const uint8_t* eh = v.data + pos;
    // AH (RFC 4302) counts its length in 4-byte words minus 2, the others in 8-byte words minus 1.
    const uint32_t len = next == 51 ? (eh[1] + 2u) * 4 : (eh[1] + 1u) * 8;
    if (len > end - pos) return malformed(DecodeCounter::kIpv6BadExtLen);
    next = eh[0];
    pos += len;
  }
  counters_.inc(DecodeCounter::kIpv6);
  v.ip_version = 6;
  v.l3_offset = offset;
  v.l3_len = end - offset;
  v.ip_proto = next;
  return decode_l4(pos, end, v, depth);
}

DecodeStatus Decoder::decode_l4(uint32_t offset, uint32_t end, PacketView& v, int depth) {
  switch (v.ip_proto) {
    case ip_proto::kTcp:
      return decode_tcp(offset, end, v);
    case ip_proto::kUdp:
      return decode_udp(offset, end, v, depth);
    case ip_proto::kIcmp:
    case ip_proto::kIcmpv6:
      return decode_icmp(offset, end, v);
    case ip_proto::kGre:
      if (options_.decode_tunnels) return decode_gre(offset, end, v, depth);
      break;
    default:
      break;
  }
  // No transport header we understand: the IP payload is what there is to inspect.
  counters_.inc(DecodeCounter::kOtherIpProto);
  v.payload_offset = offset;
  v.payload_len = end - offset;
  return DecodeStatus::kOk;
}

uint32_t Decoder::l4_checksum(const PacketView& v, uint32_t offset, uint32_t length) const {
  // Pseudo-header (RFC 793 §3.1, RFC 8200 §8.1) then the segment.
  uint32_t sum = 0;
  const uint8_t* ip = v.data + v.l3_offset;
  if (v.ip_version == 4) {
    sum = ones_sum(ip + 12, 8, sum);
  } else {
    sum = ones_sum(ip + 8, 32, sum);
  }
  sum += v.ip_proto;
  sum += length & 0xffff;
  sum += length >> 16;
  sum = ones_sum(v.data + offset, length, sum);
  return fold(sum);
}

DecodeStatus Decoder::decode_tcp(uint32_t offset, uint32_t end, PacketView& v) {
  const uint32_t len = end - offset;
  if (len < 20) return l4_malformed(DecodeCounter::kTcpTruncated, v);
  const uint8_t* th = v.data + offset;
  const uint32_t data_offset = (th[12] >> 4) * 4u;
  if (data_offset < 20 || data_offset > len) return l4_malformed(DecodeCounter::kTcpBadOffset, v);
  if (options_.validate_checksums &&
      checksum_wrong(l4_checksum(v, offset, len) == 0, DecodeCounter::kTcpBadChecksum)) {
    v.bad_checksum = true;
  }
  counters_.inc(DecodeCounter::kTcp);
  v.l4_offset = offset;
  v.src_port = load16(th);
  v.dst_port = load16(th + 2);
  v.seq = load32(th + 4);
  v.ack = load32(th + 8);
  v.tcp_flags = th[13];
  v.window = load16(th + 14);
  v.payload_offset = offset + data_offset;
  v.payload_len = len - data_offset;

  // Options (RFC 9293 §3.2). Like the Linux stack, an option with an impossible length ends parsing
  // without discarding the segment, so such a segment is still inspected.
  TcpOptions& o = v.tcp_options;
  for (uint32_t i = 20; i < data_offset;) {
    const uint8_t kind = th[i];
    if (kind == 0) break;
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= data_offset || th[i + 1] < 2 || i + th[i + 1] > data_offset) {
      counters_.inc(DecodeCounter::kTcpBadOptionLen);
      break;
    }
    const uint8_t olen = th[i + 1];
    const uint8_t* od = th + i + 2;
    switch (kind) {
      case 2:
        if (olen == 4) {
          o.has_mss = true;
          o.mss = load16(od);
        }
        break;
      case 3:
        if (olen == 3) {
          o.has_wscale = true;
          o.wscale = std::min<uint8_t>(od[0], 14);  // RFC 7323 §2.3: larger shifts mean 14
        }
        break;
      case 4:
        if (olen == 2) o.sack_permitted = true;
        break;
      case 5:
        if (olen >= 10 && (olen - 2) % 8 == 0) o.sack_blocks = static_cast<uint8_t>((olen - 2) / 8);
        break;
      case 8:
        if (olen == 10) {
          o.has_timestamps = true;
          o.ts_val = load32(od);
          o.ts_ecr = load32(od + 4);
        }
        break;
      default:
        break;
    }
    i += olen;
  }
  return DecodeStatus::kOk;
}

DecodeStatus Decoder::decode_udp(uint32_t offset, uint32_t end, PacketView& v, int depth) {
  const uint32_t len = end - offset;
  if (len < 8) return l4_malformed(DecodeCounter::kUdpTruncated, v);
  const uint8_t* uh = v.data + offset;
  const uint32_t udp_len = load16(uh + 4);
  if (udp_len < 8 || udp_len > len) return l4_malformed(DecodeCounter::kUdpBadLength, v);
  const uint16_t checksum = load16(uh + 6);
  // A zero UDP checksum means "none" over IPv4; over IPv6 it is not allowed (RFC 8200 §8.1).
  if (options_.validate_checksums && (checksum != 0 || v.ip_version == 6) &&
      checksum_wrong(l4_checksum(v, offset, udp_len) == 0, DecodeCounter::kUdpBadChecksum)) {
    v.bad_checksum = true;
  }
  counters_.inc(DecodeCounter::kUdp);
  v.l4_offset = offset;
  v.src_port = load16(uh);
  v.dst_port = load16(uh + 2);
  v.payload_offset = offset + 8;
  v.payload_len = udp_len - 8;
  if (vxlan_ports(options_, v.src_port, v.dst_port)) {
    return decode_vxlan(v.payload_offset, offset + udp_len, v, depth);
  }
  if (teredo_ports(options_, v.src_port, v.dst_port)) {
    return decode_teredo(v.payload_offset, offset + udp_len, v, depth);
  }
  return DecodeStatus::kOk;
}

DecodeStatus Decoder::decode_icmp(uint32_t offset, uint32_t end, PacketView& v) {
  const uint32_t len = end - offset;
  if (len < 8) return l4_malformed(DecodeCounter::kIcmpTruncated, v);
  if (options_.validate_checksums) {
    // ICMPv4 sums the message alone; ICMPv6 includes the pseudo-header (RFC 4443 §2.3).
    const bool ok = v.ip_proto == ip_proto::kIcmp ? fold(ones_sum(v.data + offset, len, 0)) == 0
                                                  : l4_checksum(v, offset, len) == 0;
    if (checksum_wrong(ok, DecodeCounter::kIcmpBadChecksum)) v.bad_checksum = true;
  }
  counters_.inc(v.ip_proto == ip_proto::kIcmp ? DecodeCounter::kIcmp : DecodeCounter::kIcmpv6);
  v.l4_offset = offset;
  v.icmp_type = v.data[offset];
  v.icmp_code = v.data[offset + 1];
  v.payload_offset = offset + 8;
  v.payload_len = len - 8;
  return DecodeStatus::kOk;
}

DecodeStatus Decoder::enter_tunnel(Tunnel kind, uint32_t id, PacketView& v, int depth) {
  if (depth + 1 > kMaxTunnelDepth) return malformed(DecodeCounter::kTunnelTooDeep);
  if (v.tunnel == Tunnel::kNone) {  // report the outermost encapsulation: the one the mirror used
    v.tunnel = kind;
    v.tunnel_id = id;
    v.outer_l3_offset = v.l3_offset;
    v.outer_ip_version = v.ip_version;
  }
  // The inner packet replaces everything the outer headers described.
  v.eth_offset = kAbsent;
  v.vlan_count = 0;
  v.l4_offset = kAbsent;
  v.payload_offset = kAbsent;
  v.payload_len = 0;
  v.src_port = v.dst_port = 0;
  return DecodeStatus::kOk;
}

DecodeStatus Decoder::decode_gre(uint32_t offset, uint32_t end, PacketView& v, int depth) {
  // RFC 2784/2890: C, K and S flags each add a 4-byte field; version 0. Version 1 is PPTP's
  // enhanced GRE (RFC 2637 §4.1): protocol PPP, never a checksum, always a key (payload length in
  // the high 16 bits, call id in the low 16), the sequence number when S is set, then an
  // acknowledgment number when A (0x0080, reserved in version 0) is set.
  if (end - offset < 4) return malformed(DecodeCounter::kGreTruncated);
  const uint8_t* gh = v.data + offset;
  const uint16_t flags = load16(gh);
  const uint16_t protocol = load16(gh + 2);
  const uint16_t version = flags & 0x0007;
  const bool has_checksum = flags & 0x8000;
  const bool has_key = flags & 0x2000;
  const bool has_seq = flags & 0x1000;
  const bool pptp = version == 1;
  if (version > 1 || (flags & 0x4000) != 0 ||
      (pptp && (protocol != kGreProtocolPpp || !has_key || has_checksum))) {
    return malformed(DecodeCounter::kGreBadVersion);
  }
  const bool has_ack = pptp && (flags & 0x0080) != 0;
  const uint32_t header =
      4 + (has_checksum ? 4 : 0) + (has_key ? 4 : 0) + (has_seq ? 4 : 0) + (has_ack ? 4 : 0);
  if (end - offset < header) return malformed(DecodeCounter::kGreTruncated);
  const uint32_t key = has_key ? load32(gh + 4 + (has_checksum ? 4 : 0)) : 0;
  counters_.inc(DecodeCounter::kGre);
  uint32_t inner = offset + header;

  if (pptp) {
    counters_.inc(DecodeCounter::kPptp);
    const uint32_t payload_len = key >> 16;
    if (payload_len > end - inner) return malformed(DecodeCounter::kGreTruncated);
    if (has_seq && payload_len > 0) {
      return decode_gre_ppp(Tunnel::kPptp, key & 0xffff, inner, inner + payload_len, v, depth);
    }
    // Without S (or with an empty payload) the packet only acknowledges (RFC 2637 §4.1): no PPP
    // frame, the outer packet stands as it is.
    v.l4_offset = kAbsent;
    v.payload_offset = inner;
    v.payload_len = end - inner;
    return DecodeStatus::kOk;
  }

  switch (protocol) {
    case kEtherTypeIpv4:
    case kEtherTypeIpv6:
    case kEtherTypeTeb: {
      if (enter_tunnel(Tunnel::kGre, key, v, depth) != DecodeStatus::kOk) {
        return DecodeStatus::kMalformed;
      }
      if (protocol == kEtherTypeIpv4) return decode_ipv4(inner, v.caplen, v, depth + 1);
      if (protocol == kEtherTypeIpv6) return decode_ipv6(inner, v.caplen, v, depth + 1);
      return decode_ethernet(inner, v, depth + 1);
    }
    case kGreProtocolPpp:
      return decode_gre_ppp(Tunnel::kGre, key, inner, end, v, depth);
    case kEtherTypeErspanI: {
      counters_.inc(DecodeCounter::kErspan);
      if (!has_seq) {  // type I: no ERSPAN header, the mirrored frame follows GRE directly
        if (enter_tunnel(Tunnel::kErspanI, 0, v, depth) != DecodeStatus::kOk) {
          return DecodeStatus::kMalformed;
        }
        return decode_ethernet(inner, v, depth + 1);
      }
      // Type II: Ver(4)=1 VLAN(12) COS(3) En(2) T(1) SessionID(10) Reserved(12) Index(20).
      if (end - inner < 8) return malformed(DecodeCounter::kErspanTruncated);
      const uint8_t* eh = v.data + inner;
      if (eh[0] >> 4 != 1) return malformed(DecodeCounter::kErspanBadVersion);
      if (enter_tunnel(Tunnel::kErspanII, load16(eh + 2) & 0x03ffu, v, depth) !=
          DecodeStatus::kOk) {
        return DecodeStatus::kMalformed;
      }
      return decode_ethernet(inner + 8, v, depth + 1);
    }
    case kEtherTypeErspanIII: {
      // Type III: Ver(4)=2 VLAN COS BSO T SessionID(10) | Timestamp(32) |
      // SGT(16) P FT(5) HwID(6) D Gra(2) O, then an 8-byte platform sub-header when O is set.
      counters_.inc(DecodeCounter::kErspan);
      if (end - inner < 12) return malformed(DecodeCounter::kErspanTruncated);
      const uint8_t* eh = v.data + inner;
      if (eh[0] >> 4 != 2) return malformed(DecodeCounter::kErspanBadVersion);
      const uint32_t frame_type = (eh[10] >> 2) & 0x1f;
      if (frame_type != 0) return malformed(DecodeCounter::kErspanBadVersion);  // 0 = Ethernet
      const uint32_t header_len = (eh[11] & 0x01) ? 20 : 12;
      if (end - inner < header_len) return malformed(DecodeCounter::kErspanTruncated);
      if (enter_tunnel(Tunnel::kErspanIII, load16(eh + 2) & 0x03ffu, v, depth) !=
          DecodeStatus::kOk) {
        return DecodeStatus::kMalformed;
      }
      return decode_ethernet(inner + header_len, v, depth + 1);
    }
    default:
      // GRE carrying something we do not inspect (MPLS, ...): the outer packet stands as is.
      v.l4_offset = kAbsent;
      v.payload_offset = inner;
      v.payload_len = end - inner;
      return DecodeStatus::kOk;
  }
}

DecodeStatus Decoder::decode_gre_ppp(Tunnel kind, uint32_t id, uint32_t offset, uint32_t end,
                                     PacketView& v, int depth) {
  // The PPP frame keeps its address/control pair unless the peers negotiated it away.
  uint32_t pos = offset;
  uint16_t protocol = 0;
  if (!read_ppp_header(v.data, pos, end, true, protocol)) {
    return malformed(DecodeCounter::kGreTruncated);
  }
  counters_.inc(DecodeCounter::kPpp);
  if (protocol != kPppIpv4 && protocol != kPppIpv6) {
    // PPP control, or data MPPE encrypted (CCP, 0x00fd) as most PPTP is: nothing inside to
    // inspect, so the outer packet stands as it is, as for GRE carrying what we do not decode.
    v.l4_offset = kAbsent;
    v.payload_offset = offset;
    v.payload_len = end - offset;
    return DecodeStatus::kOk;
  }
  // PPTP is a user's VPN, not a mirror's encapsulation, but it is handled like plain GRE-in-IP:
  // the tunneled packet is the conversation, so it is the one inspected (the tunnel endpoints stay
  // in the outer fields), and entering a tunnel bounds the nesting and drops the outer Ethernet
  // header, whose addresses belong to the tunnel endpoints, not to the inner packet's hosts.
  if (enter_tunnel(kind, id, v, depth) != DecodeStatus::kOk) return DecodeStatus::kMalformed;
  if (protocol == kPppIpv4) return decode_ipv4(pos, end, v, depth + 1);
  return decode_ipv6(pos, end, v, depth + 1);
}

DecodeStatus Decoder::decode_vxlan(uint32_t offset, uint32_t end, PacketView& v, int depth) {
  // RFC 7348 §5: flags(8, I = 0x08) reserved(24) VNI(24) reserved(8).
  if (end - offset < 8) return malformed(DecodeCounter::kVxlanTruncated);
  const uint8_t* xh = v.data + offset;
  if ((xh[0] & 0x08) == 0) return malformed(DecodeCounter::kVxlanBadFlags);
  const uint32_t vni = load32(xh + 4) >> 8;
  counters_.inc(DecodeCounter::kVxlan);
  if (enter_tunnel(Tunnel::kVxlan, vni, v, depth) != DecodeStatus::kOk) {
    return DecodeStatus::kMalformed;
  }
  return decode_ethernet(offset + 8, v, depth + 1);
}

DecodeStatus Decoder::decode_teredo(uint32_t offset, uint32_t end, PacketView& v, int depth) {
  // RFC 4380 §5.1.1: an authentication indicator (0x0001, client id length, authentication value
  // length, client id, authentication value, 8-byte nonce, confirmation byte) and then an origin
  // indication (0x0000, obfuscated port and IPv4 address) may precede the IPv6 packet, whose
  // first byte (version 6) can never be zero.
  uint32_t pos = offset;
  const uint8_t* p = v.data;
  if (end - pos >= 4 && p[pos] == 0x00 && p[pos + 1] == 0x01) {
    const uint32_t auth = 4u + p[pos + 2] + p[pos + 3] + 8 + 1;
    if (end - pos < auth) return DecodeStatus::kOk;
    pos += auth;
  }
  if (end - pos >= 8 && p[pos] == 0x00 && p[pos + 1] == 0x00) pos += 8;
  // Port 3544 carries other things too: only a plausible IPv6 packet is taken for Teredo, and
  // anything else stays the UDP datagram it is. Plausible: version 6, and a payload length that
  // accounts for exactly the rest of the datagram; zero only with no next header (59), as in the
  // bubbles that open NAT mappings (a UDP datagram holds no jumbogram).
  if (end - pos < 40) return DecodeStatus::kOk;
  const uint8_t* ip = p + pos;
  const uint32_t payload_len = load16(ip + 4);
  if (ip[0] >> 4 != 6 || end - pos - 40 != payload_len || (payload_len == 0 && ip[6] != 59)) {
    return DecodeStatus::kOk;
  }
  counters_.inc(DecodeCounter::kTeredo);
  // Like VXLAN's inner frame, the IPv6 packet is the one inspected: it is the conversation, the
  // UDP datagram only carries it across IPv4 NATs.
  if (enter_tunnel(Tunnel::kTeredo, 0, v, depth) != DecodeStatus::kOk) {
    return DecodeStatus::kMalformed;
  }
  return decode_ipv6(pos, end, v, depth + 1);
}

namespace {

inline uint64_t mix64(uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

uint64_t hash_address(const core::IpAddress& a, uint64_t seed) {
  uint64_t words[2] = {};
  std::memcpy(words, a.bytes(), a.size());
  return mix64(mix64(words[0] ^ seed) ^ words[1] ^ static_cast<uint64_t>(a.family()));
}

// Addresses only, combined commutatively: both directions and all fragments of a datagram agree.
uint32_t pair_hash(const core::IpAddress& src, const core::IpAddress& dst, uint64_t seed) {
  const uint64_t a = hash_address(src, seed);
  const uint64_t b = hash_address(dst, seed);
  return static_cast<uint32_t>(mix64((a + b) ^ (a * b) ^ seed) >> 32);
}

}  // namespace

uint32_t worker_hash(const PacketView& view, uint64_t seed) {
  if (!view.is_ip()) return 0;
  return pair_hash(view.src_ip(), view.dst_ip(), seed);
}

std::optional<uint32_t> quick_worker_hash(LinkType link, const uint8_t* data, uint32_t caplen,
                                          const DecoderOptions& options, uint64_t seed) {
  uint32_t at = 0;
  uint16_t type = 0;
  if (link == LinkType::kEthernet) {
    if (caplen < 14) return std::nullopt;
    type = load16(data + 12);
    at = 14;
    for (int tags = 0; type == 0x8100 || type == 0x88a8 || type == 0x9100; ++tags) {
      if (tags == kMaxVlanTags || caplen < at + 4) return std::nullopt;
      type = load16(data + at + 2);
      at += 4;
    }
  } else if (link == LinkType::kRawIp && caplen > 0) {
    type = (data[0] >> 4) == 6 ? 0x86dd : 0x0800;
  } else {
    return std::nullopt;
  }
  const uint8_t* ip = data + at;
  const uint32_t left = caplen - at;
  if (type == 0x0800) {
    if (left < 20 || (ip[0] >> 4) != 4) return std::nullopt;
    const uint32_t ihl = (ip[0] & 0x0f) * 4u;
    const bool fragment = (load16(ip + 6) & 0x3fff) != 0;
    const uint8_t proto = ip[9];
    const uint32_t total = load16(ip + 2);
    if (ihl < 20 || fragment || total < ihl || total > left) return std::nullopt;
    if (proto == ip_proto::kUdp) {
      if (left < ihl + 4 || udp_tunnel(options, load16(ip + ihl), load16(ip + ihl + 2)))
        return std::nullopt;
    } else if (proto != ip_proto::kTcp && proto != ip_proto::kIcmp) {
      return std::nullopt;
    }
    return pair_hash(core::IpAddress::v4(ip + 12), core::IpAddress::v4(ip + 16), seed);
  }
  if (type == 0x86dd) {
    if (left < 40 || (ip[0] >> 4) != 6 || load16(ip + 4) > left - 40) return std::nullopt;
    const uint8_t next = ip[6];
    if (next == ip_proto::kUdp) {
      if (left < 44 || udp_tunnel(options, load16(ip + 40), load16(ip + 42))) return std::nullopt;
    } else if (next != ip_proto::kTcp && next != ip_proto::kIcmpv6) {
      return std::nullopt;  // extension headers, tunnels: the decoder decides
    }
    return pair_hash(core::IpAddress::v6(ip + 8), core::IpAddress::v6(ip + 24), seed);
  }
  return std::nullopt;
}

}  // namespace spanguard::decode
