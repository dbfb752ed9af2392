// The decoder: turns a captured frame into a PacketView (Ethernet, 802.1Q/QinQ, PPPoE, Linux
// cooked, raw IP, PPP, Cisco HDLC, IPv4, IPv6 with extension headers, TCP, UDP, ICMP,
// GRE/ERSPAN/VXLAN remote-mirror tunnels, and PPTP and Teredo tunnels, whose inner packet is the
// one inspected). Every length is checked against the captured bytes; a malformed frame is counted
// by reason and reported as such, never read past its end.
#pragma once

#include <cstdint>
#include <optional>

#include "spanguard/core/config.h"
#include "spanguard/core/counters.h"
#include "spanguard/decode/packet_view.h"

namespace spanguard::decode {

// Decode counters: per-protocol totals, then malformed reasons (the frame was skipped), then
// anomalies (counted, the frame is still inspected). Names and help are in decoder.cc.
enum class DecodeCounter : uint16_t {
  kPackets,
  kBytes,
  kEthernet,
  kVlan,
  kQinq,
  kPppoe,
  kLinuxSll,
  kRawIp,
  kPpp,
  kCiscoHdlc,
  kIpv4,
  kIpv6,
  kTcp,
  kUdp,
  kIcmp,
  kIcmpv6,
  kOtherIpProto,
  kFragments,
  kGre,
  kErspan,
  kVxlan,
  kPptp,
  kTeredo,
  kNotIp,
  // malformed: skipped, except that a broken TCP/UDP/ICMP header leaves the IP layer to ip rules
  kLinkTruncated,
  kLinkUnknown,
  kVlanTruncated,
  kVlanTooManyTags,
  kPppoeTruncated,
  kPppoeBadHeader,
  kIpv4Truncated,
  kIpv4BadVersion,
  kIpv4BadIhl,
  kIpv4BadTotalLen,
  kIpv4BadOption,
  kIpv4BadFragment,
  kIpv6Truncated,
  kIpv6BadVersion,
  kIpv6BadExtLen,
  kIpv6TooManyExt,
  kIpv6HopByHopNotFirst,
  kIpv6BadFragment,
  kTcpTruncated,
  kTcpBadOffset,
  kUdpTruncated,
  kUdpBadLength,
  kIcmpTruncated,
  kGreTruncated,
  kGreBadVersion,
  kErspanTruncated,
  kErspanBadVersion,
  kVxlanTruncated,
  kVxlanBadFlags,
  kTunnelTooDeep,
  // anomalies: counted, still inspected
  kTcpBadOptionLen,
  kSnapTruncated,
  kIpv4BadChecksum,
  kTcpBadChecksum,
  kUdpBadChecksum,
  kIcmpBadChecksum,
  kChecksumOffload,
  kChecksumValidationKept,
  kCount
};

enum class DecodeStatus : uint8_t {
  kOk,         // an IP packet, fully decoded
  kNotIp,      // a well-formed frame with nothing to inspect (ARP, LLDP, ...): counted, skipped
  kMalformed,  // counted by reason, skipped
};

struct DecoderOptions {
  // Check IPv4/TCP/UDP/ICMP checksums. A wrong one is counted; a TCP segment with one is kept
  // out of flow and stream tracking (the receiver drops it) but still inspected as a packet.
  bool validate_checksums = false;  // mirror copies often carry unfilled (offloaded) checksums
  // Turn validation off when over 10% of the first 1,000 checksums are wrong: the capture (file
  // or live) was taken where offloading leaves them unfilled (as Suricata's pcap-file "auto").
  // Validation off would let a segment its receiver drops (a wrong checksum) into the stream.
  bool detect_offload = false;
  bool live_capture = false;   // only for what the decision's log line calls the capture
  bool decode_tunnels = true;  // inspect the inner packet of GRE/ERSPAN/VXLAN/PPTP/Teredo
  uint16_t vxlan_port = 4789;
  // With decode_tunnels: inspect the IPv6 packet a UDP datagram to or from port 3544 carries
  // (Teredo, RFC 4380) when its payload parses as one.
  bool teredo = true;
};

// The "decode" configuration section (checksum validation mode, tunnels, VXLAN port, Teredo).
const core::ParamSection& decode_params();
// Options for a capture kind. Checksum validation "auto" means on, for files and live capture
// alike, unless the first 1,000 checksums show offloading (then off, logged and counted).
DecoderOptions decoder_options(const core::Config& config, bool live_capture);

class Decoder {
 public:
  explicit Decoder(DecoderOptions options = {});

  DecodeStatus decode(LinkType link, const uint8_t* data, uint32_t caplen, uint32_t wirelen,
                      core::Timestamp ts, PacketView& view);

  // Decodes a bare IP datagram (for instance one rebuilt from fragments) into `view`, replacing its
  // layer-3 and layer-4 fields; VLAN and tunnel fields are kept, eth_offset becomes kAbsent.
  DecodeStatus decode_ip(const uint8_t* data, uint32_t len, PacketView& view);

  const core::Counters<DecodeCounter>& counters() const { return counters_; }
  static const core::CounterGroup& counter_group();
  // The malformed reason of the last kMalformed result (for tests and fuzzing).
  DecodeCounter last_malformed() const { return last_malformed_; }

 private:
  DecodeStatus malformed(DecodeCounter reason);
  // A broken TCP/UDP/ICMP header: counted as malformed, the IP layer stays (ip rules see it).
  DecodeStatus l4_malformed(DecodeCounter reason, PacketView& v);
  // Whether a checksum checked (`ok` or not) counts against the packet, with auto detection of
  // offloaded captures.
  bool checksum_wrong(bool ok, DecodeCounter reason);
  DecodeStatus decode_ethertype(uint16_t ethertype, uint32_t offset, PacketView& v, int depth);
  DecodeStatus decode_ethernet(uint32_t offset, PacketView& v, int depth);
  DecodeStatus decode_pppoe(uint32_t offset, PacketView& v, int depth);
  // A PPP frame from its protocol field (after the address/control pair when `address_control`
  // allows one); a frame too short for its header is malformed as `truncated`.
  DecodeStatus decode_ppp(uint32_t offset, uint32_t end, bool address_control,
                          DecodeCounter truncated, PacketView& v, int depth);
  DecodeStatus decode_cisco_hdlc(uint32_t offset, PacketView& v);
  // `limit`: where the layer that carries the datagram ends (the captured bytes, or the end of a
  // PPP frame whose length its header gives); the datagram must fit before it.
  DecodeStatus decode_ipv4(uint32_t offset, uint32_t limit, PacketView& v, int depth);
  DecodeStatus decode_ipv6(uint32_t offset, uint32_t limit, PacketView& v, int depth);
  DecodeStatus decode_l4(uint32_t offset, uint32_t end, PacketView& v, int depth);
  DecodeStatus decode_tcp(uint32_t offset, uint32_t end, PacketView& v);
  DecodeStatus decode_udp(uint32_t offset, uint32_t end, PacketView& v, int depth);
  DecodeStatus decode_icmp(uint32_t offset, uint32_t end, PacketView& v);
  DecodeStatus decode_gre(uint32_t offset, uint32_t end, PacketView& v, int depth);
  // PPP over GRE (PPTP, or version 0 with protocol 0x880b): an IP packet inside becomes the
  // inspected one, anything else leaves the outer packet as it is.
  DecodeStatus decode_gre_ppp(Tunnel kind, uint32_t id, uint32_t offset, uint32_t end,
                              PacketView& v, int depth);
  DecodeStatus decode_vxlan(uint32_t offset, uint32_t end, PacketView& v, int depth);
  // Teredo: kOk with the UDP datagram left as it is when the payload is not an IPv6 packet.
  DecodeStatus decode_teredo(uint32_t offset, uint32_t end, PacketView& v, int depth);
  DecodeStatus enter_tunnel(Tunnel kind, uint32_t id, PacketView& v, int depth);
  uint32_t l4_checksum(const PacketView& v, uint32_t offset, uint32_t length) const;

  DecoderOptions options_;
  core::Counters<DecodeCounter> counters_;
  uint32_t checksums_checked_ = 0;  // for detect_offload
  uint32_t checksums_wrong_ = 0;
  DecodeCounter last_malformed_ = DecodeCounter::kCount;
};

// Symmetric hash of the packet's addresses (both directions and every fragment of a datagram land
// on the same worker), keyed with `seed` so crafted addresses cannot aim at one worker.
uint32_t worker_hash(const PacketView& view, uint64_t seed);
// worker_hash() of the frame without decoding it, for the common shapes (Ethernet with up to two
// VLAN tags or raw IP; IPv4 or IPv6 carrying TCP, UDP or ICMP, no fragment, no extension header,
// no tunnel the decoder would open with `options`); nullopt for the rest, which the caller decodes.
// Where it answers, the answer is worker_hash()'s.
std::optional<uint32_t> quick_worker_hash(LinkType link, const uint8_t* data, uint32_t caplen,
                                          const DecoderOptions& options, uint64_t seed);

}  // namespace spanguard::decode
