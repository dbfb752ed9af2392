// Builds frames for tests and the capture generator: layers are stacked outermost first and
// serialised innermost first, so every length and checksum is right unless a test overrides it to
// make a malformed frame.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spanguard::testing {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;

inline constexpr Mac kClientMac = {0x02, 0, 0, 0, 0, 0x01};
inline constexpr Mac kServerMac = {0x02, 0, 0, 0, 0, 0x02};

struct Ipv4Fields {
  uint8_t ttl = 64;
  uint8_t tos = 0;
  uint16_t id = 1;
  bool dont_fragment = true;
  bool more_fragments = false;
  uint16_t fragment_offset = 0;        // bytes, a multiple of 8
  Bytes options{};                     // raw option bytes, padded to 4 by the builder
  std::optional<uint8_t> protocol{};   // default: from the next layer
  std::optional<uint8_t> ihl_words{};  // override to corrupt
  std::optional<uint16_t> total_length{};
  std::optional<uint16_t> checksum{};
};

struct Ipv6Extension {
  uint8_t type;  // 0 hop-by-hop, 43 routing, 44 fragment, 60 destination options, 51 AH
  Bytes body{};  // bytes after the next-header/length pair; the builder pads to the unit size
  std::optional<uint8_t> length_field{};  // override to corrupt
  // fragment header fields (type 44)
  uint16_t fragment_offset = 0;
  bool more_fragments = false;
  uint32_t identification = 0;
};

struct Ipv6Fields {
  uint8_t hop_limit = 64;
  uint32_t flow_label = 0;
  std::vector<Ipv6Extension> extensions{};
  std::optional<uint8_t> next_header{};  // after the extensions; default: from the next layer
  std::optional<uint16_t> payload_length{};
};

struct TcpFields {
  uint32_t seq = 1000;
  uint32_t ack = 0;
  uint8_t flags = 0x18;  // PSH|ACK
  uint16_t window = 64240;
  std::optional<uint16_t> mss{};
  std::optional<uint8_t> wscale{};
  bool sack_permitted = false;
  std::vector<std::pair<uint32_t, uint32_t>> sack_blocks{};
  std::optional<std::pair<uint32_t, uint32_t>> timestamps{};
  Bytes raw_options{};                         // appended after the options above
  std::optional<uint8_t> data_offset_words{};  // override to corrupt
  std::optional<uint16_t> checksum{};
};

struct GreFields {
  std::optional<uint32_t> key{};
  std::optional<uint32_t> sequence{};
  bool checksum = false;
  uint16_t version = 0;
  std::optional<uint16_t> protocol{};  // default: from the next layer
};

struct PppoeFields {
  uint16_t session = 1;
  uint8_t version_type = 0x11;       // override to corrupt
  uint8_t code = 0;                  // 0: session data
  std::optional<uint16_t> length{};  // default: the bytes that follow
};

struct PppFields {
  bool address_control = true;         // 0xff 0x03 in front (not on PPPoE)
  bool compress_protocol = false;      // one-byte protocol field when it fits (RFC 1661 §6.5)
  std::optional<uint16_t> protocol{};  // default: from the next layer (IPv4 0x0021, IPv6 0x0057)
};

// PPTP's enhanced GRE header (RFC 2637 §4.1, version 1).
struct PptpFields {
  uint16_t call_id = 0;
  std::optional<uint32_t> sequence = 1;  // absent: an acknowledgment-only packet
  std::optional<uint32_t> ack{};
  uint16_t version = 1;                      // override to corrupt
  std::optional<uint16_t> protocol{};        // default: from the next layer (0x880b for ppp())
  std::optional<uint16_t> payload_length{};  // default: the bytes that follow
};

class FrameBuilder {
 public:
  FrameBuilder& ethernet(Mac src = kClientMac, Mac dst = kServerMac);
  FrameBuilder& vlan(uint16_t id, uint16_t tpid = 0x8100, uint8_t priority = 0);
  FrameBuilder& sll();                           // Linux cooked v1 header
  FrameBuilder& sll2();                          // Linux cooked v2 header
  FrameBuilder& null_loop(uint32_t family = 2);  // BSD loopback, host byte order
  FrameBuilder& ipv4(std::string_view src, std::string_view dst, Ipv4Fields f = {});
  FrameBuilder& ipv6(std::string_view src, std::string_view dst, Ipv6Fields f = {});
  FrameBuilder& tcp(uint16_t sport, uint16_t dport, TcpFields f = {});
  FrameBuilder& udp(uint16_t sport, uint16_t dport, std::optional<uint16_t> length = {},
                    std::optional<uint16_t> checksum = {});
  FrameBuilder& icmp(uint8_t type, uint8_t code, uint32_t rest = 0);  // v4 or v6 by enclosing IP
  FrameBuilder& gre(GreFields f = {});
  FrameBuilder& erspan2(uint16_t session, uint16_t vlan = 0, uint32_t index = 0);
  FrameBuilder& erspan3(uint16_t session, bool platform_subheader = false, uint8_t version = 2);
  FrameBuilder& vxlan(uint32_t vni, uint8_t flags = 0x08);
  FrameBuilder& pppoe(PppoeFields f = {});           // PPPoE session header; then ppp()
  FrameBuilder& ppp(PppFields f = {});               // PPP header up to the protocol field
  FrameBuilder& cisco_hdlc(uint8_t address = 0x0f);  // Cisco HDLC: address, control, ethertype
  FrameBuilder& pptp(PptpFields f = {});             // enhanced GRE; then ppp()
  FrameBuilder& payload(std::string_view text);
  FrameBuilder& payload(const Bytes& bytes);

  Bytes build() const;

 private:
  enum class Kind {
    kEth,
    kVlan,
    kSll,
    kSll2,
    kNull,
    kIpv4,
    kIpv6,
    kTcp,
    kUdp,
    kIcmp,
    kGre,
    kErspan2,
    kErspan3,
    kVxlan,
    kPayload,
    kPppoe,
    kPpp,
    kCiscoHdlc,
    kPptp
  };
  struct Layer {
    Kind kind;
    Mac src_mac{}, dst_mac{};
    uint16_t a = 0, b = 0;  // vlan id/tpid, ports, session, ...
    uint32_t c = 0;         // vni, icmp rest, erspan index, null family
    bool flag = false;
    uint8_t small = 0;   // vlan priority, icmp type, vxlan flags, erspan version
    uint8_t small2 = 0;  // icmp code
    std::optional<uint16_t> opt16a, opt16b;  // udp length/checksum
    std::array<uint8_t, 16> src_ip{}, dst_ip{};
    Ipv4Fields v4;
    Ipv6Fields v6;
    TcpFields tcp;
    GreFields gre;
    Bytes data;
    PppoeFields pppoe;
    PppFields ppp;
    PptpFields pptp;
  };
  Layer& push(Kind kind);
  void serialise(size_t index, Bytes& inner) const;
  uint16_t ethertype_of(size_t index) const;  // of layer `index`, for the header in front of it
  uint8_t ip_proto_of(size_t index) const;
  uint16_t ppp_protocol_of(size_t index) const;
  uint32_t l4_checksum(size_t l4_index, const Bytes& segment, uint8_t proto) const;

  std::vector<Layer> layers_{};
};

// Bytes from a hex string ("de ad be ef" or "deadbeef").
Bytes hex(std::string_view text);

}  // namespace spanguard::testing
