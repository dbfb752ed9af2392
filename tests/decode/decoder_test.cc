// Decoder: every supported encapsulation decodes to the right offsets and fields, and every
// malformed frame is counted under its reason without a read past the captured bytes.
#include "spanguard/decode/decoder.h"

#include <gtest/gtest.h>

#include "frame_builder.h"

namespace spanguard::decode {
namespace {

using testing::Bytes;
using testing::FrameBuilder;

constexpr const char* kA = "198.51.100.1";
constexpr const char* kB = "198.51.100.2";
constexpr const char* kA6 = "2001:db8::1";
constexpr const char* kB6 = "2001:db8::2";

// Decodes `frame` (kept alive by the caller) with checksum validation on, as for capture files.
DecodeStatus run(Decoder& d, const Bytes& frame, PacketView& v,
                 LinkType link = LinkType::kEthernet) {
  return d.decode(link, frame.data(), static_cast<uint32_t>(frame.size()),
                  static_cast<uint32_t>(frame.size()), core::timestamp_from_ns(1), v);
}

// Every offset the view reports lies inside the frame.
void expect_inside(const PacketView& v) {
  auto inside = [&](uint32_t off, uint32_t len) {
    if (off == kAbsent) return;
    EXPECT_LE(off, v.caplen);
    EXPECT_LE(len, v.caplen - off);
  };
  inside(v.eth_offset, 14);
  inside(v.l3_offset, v.l3_len);
  inside(v.l4_offset, 0);
  inside(v.payload_offset, v.payload_len);
  inside(v.frag_payload_offset, 0);
}

TEST(Decoder, EthernetIpv4TcpWithOptions) {
  const Bytes f = FrameBuilder()
                      .ethernet()
                      .ipv4(kA, kB, {.ttl = 57, .id = 4242})
                      .tcp(40000, 80,
                           {.seq = 111,
                            .ack = 222,
                            .flags = 0x12,
                            .window = 29200,
                            .mss = 1460,
                            .wscale = 7,
                            .sack_permitted = true,
                            .sack_blocks = {{5, 9}},
                            .timestamps = std::make_pair(77u, 88u)})
                      .payload("hello")
                      .build();
  Decoder d({.validate_checksums = true});
  PacketView v;
  ASSERT_EQ(run(d, f, v), DecodeStatus::kOk);
  EXPECT_EQ(v.eth_offset, 0u);
  EXPECT_EQ(v.l3_offset, 14u);
  EXPECT_EQ(v.ip_version, 4);
  EXPECT_EQ(v.src_ip().to_string(), kA);
  EXPECT_EQ(v.dst_ip().to_string(), kB);
  EXPECT_EQ(v.ttl, 57);
  EXPECT_EQ(v.ip_id, 4242);
  ASSERT_TRUE(v.is_tcp());
  EXPECT_EQ(v.src_port, 40000);
  EXPECT_EQ(v.dst_port, 80);
  EXPECT_EQ(v.seq, 111u);
  EXPECT_EQ(v.ack, 222u);
  EXPECT_EQ(v.tcp_flags, 0x12);
  EXPECT_EQ(v.window, 29200);
  EXPECT_TRUE(v.tcp_options.has_mss);
  EXPECT_EQ(v.tcp_options.mss, 1460);
  EXPECT_TRUE(v.tcp_options.has_wscale);
  EXPECT_EQ(v.tcp_options.wscale, 7);
  EXPECT_TRUE(v.tcp_options.sack_permitted);
  EXPECT_EQ(v.tcp_options.sack_blocks, 1);
  EXPECT_TRUE(v.tcp_options.has_timestamps);
  EXPECT_EQ(v.tcp_options.ts_val, 77u);
  EXPECT_EQ(v.tcp_options.ts_ecr, 88u);
  EXPECT_EQ(std::string(v.payload().begin(), v.payload().end()), "hello");
  EXPECT_EQ(d.counters().get(DecodeCounter::kTcp), 1u);
  expect_inside(v);
}

TEST(Decoder, WindowScaleAboveFourteenIsClamped) {
  const Bytes f =
      FrameBuilder().ethernet().ipv4(kA, kB).tcp(1, 2, {.flags = 0x02, .wscale = 20}).build();
  Decoder d;
  PacketView v;
  ASSERT_EQ(run(d, f, v), DecodeStatus::kOk);
  EXPECT_EQ(v.tcp_options.wscale, 14);  // RFC 7323 §2.3
}

TEST(Decoder, VlanAndQinqWithEveryTpid) {
  for (uint16_t outer : {0x8100, 0x88a8, 0x9100}) {
    const Bytes f = FrameBuilder()
                        .ethernet()
                        .vlan(100, outer)
                        .vlan(200, 0x8100)
                        .ipv4(kA, kB)
                        .udp(53, 53)
                        .payload("q")
                        .build();
    Decoder d({.validate_checksums = true});
    PacketView v;
    ASSERT_EQ(run(d, f, v), DecodeStatus::kOk) << std::hex << outer;
    ASSERT_EQ(v.vlan_count, 2);
    EXPECT_EQ(v.vlan_ids[0], 100);
    EXPECT_EQ(v.vlan_ids[1], 200);
    EXPECT_EQ(v.vlan_tpids[0], outer);
    EXPECT_EQ(v.l3_offset, 22u);
    EXPECT_TRUE(v.is_udp());
    EXPECT_EQ(d.counters().get(DecodeCounter::kQinq), 1u);
  }
}

// The checksum is summed in wide words: every payload length (odd ones, lengths around the 4- and
// 32-byte strides) over IPv4 and IPv6, TCP and UDP, must check out, and a single changed byte
// anywhere, including a lone last one, must not.
TEST(Decoder, TransportChecksumsOfEveryLengthAndEveryChangedByte) {
  for (const bool v6 : {false, true}) {
    for (const bool tcp : {false, true}) {
      for (size_t len = 0; len <= 70; ++len) {
        std::string payload(len, '\0');
        for (size_t i = 0; i < len; ++i) payload[i] = static_cast<char>(0xff - i * 37);
        FrameBuilder b;
        b.ethernet();
        v6 ? b.ipv6(kA6, kB6) : b.ipv4(kA, kB);
        tcp ? b.tcp(40000, 80) : b.udp(40000, 53);
        const Bytes good = b.payload(payload).build();
        Decoder d({.validate_checksums = true});
        PacketView v;
        ASSERT_EQ(run(d, good, v), DecodeStatus::kOk);
        ASSERT_FALSE(v.bad_checksum) << "v6 " << v6 << " tcp " << tcp << " len " << len;
        for (size_t at = 0; at < len; ++at) {
          Bytes bad = good;
          bad[bad.size() - len + at] ^= 0x5a;
          PacketView w;
          ASSERT_EQ(run(d, bad, w), DecodeStatus::kOk);
          ASSERT_TRUE(w.bad_checksum)
              << "v6 " << v6 << " tcp " << tcp << " len " << len << " byte " << at;
        }
      }
    }
  }
}

TEST(Decoder, ThreeVlanTagsAreMalformed) {
  const Bytes f = FrameBuilder().ethernet().vlan(1).vlan(2).vlan(3).ipv4(kA, kB).udp(1, 2).build();
  Decoder d;
  PacketView v;
  EXPECT_EQ(run(d, f, v), DecodeStatus::kMalformed);
  EXPECT_EQ(d.last_malformed(), DecodeCounter::kVlanTooManyTags);
}

TEST(Decoder, LinuxCookedCaptureV1AndV2) {
  for (bool v2 : {false, true}) {
    FrameBuilder b;
    v2 ? b.sll2() : b.sll();
    const Bytes f = b.ipv6(kA6, kB6).tcp(5, 6).payload("x").build();
    Decoder d({.validate_checksums = true});
    PacketView v;
    ASSERT_EQ(run(d, f, v, v2 ? LinkType::kLinuxSll2 : LinkType::kLinuxSll), DecodeStatus::kOk);
    EXPECT_EQ(v.l3_offset, v2 ? 20u : 16u);
    EXPECT_EQ(v.eth_offset, kAbsent);
    EXPECT_EQ(v.src_ip().to_string(), kA6);
    EXPECT_TRUE(v.is_tcp());
  }
}

TEST(Decoder, RawIpAndNullLinkTypes) {
  const Bytes raw4 = FrameBuilder().ipv4(kA, kB).udp(1, 2).build();
  const Bytes raw6 = FrameBuilder().ipv6(kA6, kB6).udp(1, 2).build();
  Decoder d({.validate_checksums = true});
  PacketView v;
  EXPECT_EQ(run(d, raw4, v, LinkType::kRawIp), DecodeStatus::kOk);
  EXPECT_EQ(v.ip_version, 4);
  EXPECT_EQ(run(d, raw6, v, LinkType::kRawIp), DecodeStatus::kOk);
  EXPECT_EQ(v.ip_version, 6);
  EXPECT_EQ(run(d, raw4, v, LinkType::kIpv4), DecodeStatus::kOk);
  EXPECT_EQ(run(d, raw6, v, LinkType::kIpv6), DecodeStatus::kOk);
  const Bytes null4 = FrameBuilder().null_loop(2).ipv4(kA, kB).udp(1, 2).build();
  EXPECT_EQ(run(d, null4, v, LinkType::kNull), DecodeStatus::kOk);
  EXPECT_EQ(v.l3_offset, 4u);
  for (uint32_t family : {10u, 24u, 28u, 30u, __builtin_bswap32(24u)}) {
    const Bytes null6 = FrameBuilder().null_loop(family).ipv6(kA6, kB6).udp(1, 2).build();
    EXPECT_EQ(run(d, null6, v, LinkType::kNull), DecodeStatus::kOk) << family;
    EXPECT_EQ(v.ip_version, 6);
  }
}

TEST(Decoder, Ipv4OptionsAreWalkedAndBadOnesRejected) {
  const Bytes good = FrameBuilder()
                         .ethernet()
                         .ipv4(kA, kB, {.options = {0x01, 0x07, 0x07, 0x04, 0, 0, 0, 0, 0}})
                         .tcp(1, 2)
                         .build();
  Decoder d({.validate_checksums = true});
  PacketView v;
  ASSERT_EQ(run(d, good, v), DecodeStatus::kOk);  // NOP, record-route(7), EOL
  EXPECT_EQ(v.l4_offset, 14u + 32u);
  const Bytes bad =
      FrameBuilder().ethernet().ipv4(kA, kB, {.options = {0x07, 0x0f, 0, 0}}).tcp(1, 2).build();
  EXPECT_EQ(run(d, bad, v), DecodeStatus::kMalformed);
  EXPECT_EQ(d.last_malformed(), DecodeCounter::kIpv4BadOption);
}

TEST(Decoder, Ipv6ExtensionHeaderChain) {
  const Bytes f = FrameBuilder()
                      .ethernet()
                      .ipv6(kA6, kB6,
                            {.hop_limit = 33,
                             .extensions = {{.type = 0, .body = {}},
                                            {.type = 60, .body = {0x01, 0x02, 0, 0}},
                                            {.type = 43, .body = {0, 0, 0, 0, 0, 0}},
                                            {.type = 51, .body = {}},
                                            {.type = 60, .body = {}}}})
                      .tcp(1000, 443)
                      .payload("tls")
                      .build();
  Decoder d({.validate_checksums = true});
  PacketView v;
  ASSERT_EQ(run(d, f, v), DecodeStatus::kOk);
  EXPECT_EQ(v.ip_proto, ip_proto::kTcp);
  EXPECT_EQ(v.ttl, 33);
  EXPECT_EQ(v.dst_port, 443);
  EXPECT_EQ(v.l4_offset, 14u + 40u + 8 + 8 + 8 + 12 + 8);
  EXPECT_EQ(v.payload_len, 3u);
  expect_inside(v);
}

TEST(Decoder, Ipv6ChainErrors) {
  Decoder d;
  PacketView v;
  std::vector<testing::Ipv6Extension> nine(9, {.type = 60});
  EXPECT_EQ(
      run(d, FrameBuilder().ethernet().ipv6(kA6, kB6, {.extensions = nine}).tcp(1, 2).build(), v),
      DecodeStatus::kMalformed);
  EXPECT_EQ(d.last_malformed(), DecodeCounter::kIpv6TooManyExt);

  EXPECT_EQ(run(d,
                FrameBuilder()
                    .ethernet()
                    .ipv6(kA6, kB6, {.extensions = {{.type = 60}, {.type = 0}}})
                    .tcp(1, 2)
                    .build(),
                v),
            DecodeStatus::kMalformed);
  EXPECT_EQ(d.last_malformed(), DecodeCounter::kIpv6HopByHopNotFirst);

  EXPECT_EQ(run(d,
                FrameBuilder()
                    .ethernet()
                    .ipv6(kA6, kB6, {.extensions = {{.type = 60, .length_field = 200}}})
                    .tcp(1, 2)
                    .build(),
                v),
            DecodeStatus::kMalformed);
  EXPECT_EQ(d.last_malformed(), DecodeCounter::kIpv6BadExtLen);
}

TEST(Decoder, Ipv4FragmentsStopAtLayerThree) {
  Decoder d({.validate_checksums = true});
  PacketView v;
  const Bytes first = FrameBuilder()
                          .ethernet()
                          .ipv4(kA, kB, {.id = 77, .dont_fragment = false, .more_fragments = true})
                          .payload(std::string(16, 'a'))
                          .build();
  ASSERT_EQ(run(d, first, v), DecodeStatus::kOk);
  EXPECT_TRUE(v.is_fragment);
  EXPECT_TRUE(v.more_fragments);
  EXPECT_EQ(v.frag_offset, 0);
  EXPECT_EQ(v.frag_id, 77u);
  EXPECT_EQ(v.l4_offset, kAbsent);
  EXPECT_EQ(v.frag_payload_offset, 34u);
  const Bytes last =
      FrameBuilder()
          .ethernet()
          .ipv4(kA, kB, {.id = 77, .dont_fragment = false, .fragment_offset = 16, .protocol = 6})
          .payload(std::string(8, 'b'))
          .build();
  ASSERT_EQ(run(d, last, v), DecodeStatus::kOk);
  EXPECT_TRUE(v.is_fragment);
  EXPECT_FALSE(v.more_fragments);
  EXPECT_EQ(v.frag_offset, 16);
  EXPECT_EQ(v.ip_proto, 6);
  EXPECT_EQ(d.counters().get(DecodeCounter::kFragments), 2u);
  const Bytes too_far = FrameBuilder()
                            .ethernet()
                            .ipv4(kA, kB, {.dont_fragment = false, .fragment_offset = 65528})
                            .payload(std::string(16, 'c'))
                            .build();
  EXPECT_EQ(run(d, too_far, v), DecodeStatus::kMalformed);
  EXPECT_EQ(d.last_malformed(), DecodeCounter::kIpv4BadFragment);
}

TEST(Decoder, Ipv6FragmentHeader) {
  Decoder d;
  PacketView v;
  const Bytes f = FrameBuilder()
                      .ethernet()
                      .ipv6(kA6, kB6,
                            {.extensions = {{.type = 44,
                                             .fragment_offset = 1232,
                                             .more_fragments = true,
                                             .identification = 0xabcdef}},
                             .next_header = 6})
                      .payload(std::string(24, 'z'))
                      .build();
  ASSERT_EQ(run(d, f, v), DecodeStatus::kOk);
  EXPECT_TRUE(v.is_fragment);
  EXPECT_EQ(v.frag_offset, 1232);
  EXPECT_EQ(v.frag_id, 0xabcdefu);
  EXPECT_EQ(v.ip_proto, 6);
  EXPECT_EQ(v.frag_header_offset, 54u);
  EXPECT_EQ(v.frag_payload_offset, 62u);
  // An atomic fragment (offset 0, no more) is a whole datagram (RFC 6946).
  const Bytes atomic =
      FrameBuilder().ethernet().ipv6(kA6, kB6, {.extensions = {{.type = 44}}}).tcp(1, 2).build();
  ASSERT_EQ(run(d, atomic, v), DecodeStatus::kOk);
  EXPECT_FALSE(v.is_fragment);
  EXPECT_TRUE(v.is_tcp());
}

TEST(Decoder, IcmpV4AndV6) {
  Decoder d({.validate_checksums = true});
  PacketView v;
  ASSERT_EQ(run(d, FrameBuilder().ethernet().ipv4(kA, kB).icmp(8, 0, 1).payload("ping").build(), v),
            DecodeStatus::kOk);
  EXPECT_TRUE(v.is_icmp());
  EXPECT_EQ(v.icmp_type, 8);
  EXPECT_EQ(v.payload_len, 4u);
  ASSERT_EQ(
      run(d, FrameBuilder().ethernet().ipv6(kA6, kB6).icmp(128, 0, 1).payload("ping").build(), v),
      DecodeStatus::kOk);
  EXPECT_EQ(v.ip_proto, ip_proto::kIcmpv6);
  EXPECT_EQ(v.icmp_type, 128);
  EXPECT_EQ(d.counters().get(DecodeCounter::kIcmpv6), 1u);
}

TEST(Decoder, NonIpFramesAreSkippedNotMalformed) {
  Bytes arp = FrameBuilder().ethernet().build();
  arp[12] = 0x08;
  arp[13] = 0x06;
  arp.resize(42);
  Decoder d;
  PacketView v;
  EXPECT_EQ(run(d, arp, v), DecodeStatus::kNotIp);
  Bytes llc = arp;
  llc[12] = 0x00;
  llc[13] = 0x26;  // 802.3 length field
  EXPECT_EQ(run(d, llc, v), DecodeStatus::kNotIp);
  EXPECT_EQ(d.counters().get(DecodeCounter::kNotIp), 2u);
}

TEST(Decoder, GreKeepsOuterHeadersAndInspectsInner) {
  const Bytes f = FrameBuilder()
                      .ethernet()
                      .ipv4("198.51.100.100", "198.51.100.200")
                      .gre({.key = 0x42, .checksum = true})
                      .ipv4(kA, kB)
                      .tcp(1234, 80)
                      .payload("inner")
                      .build();
  Decoder d({.validate_checksums = true});
  PacketView v;
  ASSERT_EQ(run(d, f, v), DecodeStatus::kOk);
  EXPECT_EQ(v.tunnel, Tunnel::kGre);
  EXPECT_EQ(v.tunnel_id, 0x42u);
  EXPECT_EQ(v.outer_src_ip().to_string(), "198.51.100.100");
  EXPECT_EQ(v.outer_dst_ip().to_string(), "198.51.100.200");
  EXPECT_EQ(v.src_ip().to_string(), kA);
  EXPECT_EQ(v.dst_port, 80);
  EXPECT_EQ(std::string(v.payload().begin(), v.payload().end()), "inner");
}

TEST(Decoder, ErspanTypeTwoCarriesAnEthernetFrame) {
  const Bytes f = FrameBuilder()
                      .ethernet()
                      .ipv4("198.51.100.100", "198.51.100.200")
                      .gre()
                      .erspan2(321, 10)
                      .ethernet()
                      .vlan(30)
                      .ipv6(kA6, kB6)
                      .tcp(5555, 443)
                      .payload("mirrored")
                      .build();
  Decoder d({.validate_checksums = true});
  PacketView v;
  ASSERT_EQ(run(d, f, v), DecodeStatus::kOk);
  EXPECT_EQ(v.tunnel, Tunnel::kErspanII);
  EXPECT_EQ(v.tunnel_id, 321u);
  EXPECT_EQ(v.outer_ip_version, 4);
  EXPECT_EQ(v.vlan_count, 1);
  EXPECT_EQ(v.vlan_ids[0], 30);
  EXPECT_EQ(v.ip_version, 6);
  EXPECT_EQ(v.dst_port, 443);
  EXPECT_EQ(d.counters().get(DecodeCounter::kErspan), 1u);
}

TEST(Decoder, ErspanTypeThreeWithAndWithoutPlatformSubheader) {
  for (bool sub : {false, true}) {
    const Bytes f = FrameBuilder()
                        .ethernet()
                        .ipv6("2001:db8::100", "2001:db8::200")
                        .gre()
                        .erspan3(700, sub)
                        .ethernet()
                        .ipv4(kA, kB)
                        .udp(1, 2)
                        .payload("x")
                        .build();
    Decoder d({.validate_checksums = true});
    PacketView v;
    ASSERT_EQ(run(d, f, v), DecodeStatus::kOk) << sub;
    EXPECT_EQ(v.tunnel, Tunnel::kErspanIII);
    EXPECT_EQ(v.tunnel_id, 700u);
    EXPECT_EQ(v.outer_src_ip().to_string(), "2001:db8::100");
    EXPECT_EQ(v.eth_offset, 14u + 40u + 4u + (sub ? 20u : 12u));
    EXPECT_TRUE(v.is_udp());
  }
  const Bytes bad = FrameBuilder()
                        .ethernet()
                        .ipv4("198.51.100.100", "198.51.100.200")
                        .gre()
                        .erspan3(1, false, 3)
                        .ethernet()
                        .ipv4(kA, kB)
                        .udp(1, 2)
                        .build();
  Decoder d;
  PacketView v;
  EXPECT_EQ(run(d, bad, v), DecodeStatus::kMalformed);
  EXPECT_EQ(d.last_malformed(), DecodeCounter::kErspanBadVersion);
}

TEST(Decoder, ErspanTypeOneHasNoHeader) {
  const Bytes f = FrameBuilder()
                      .ethernet()
                      .ipv4("198.51.100.100", "198.51.100.200")
                      .gre({.protocol = 0x88be})
                      .ethernet()
                      .ipv4(kA, kB)
                      .udp(1, 2)
                      .build();
  Decoder d;
  PacketView v;
  ASSERT_EQ(run(d, f, v), DecodeStatus::kOk);
  EXPECT_EQ(v.tunnel, Tunnel::kErspanI);
  EXPECT_TRUE(v.is_udp());
}

TEST(Decoder, VxlanInnerFrameIsInspected) {
  const Bytes f = FrameBuilder()
                      .ethernet()
                      .ipv4("198.51.100.100", "198.51.100.200")
                      .udp(49152, 4789)
                      .vxlan(0x123456)
                      .ethernet()
                      .ipv4(kA, kB)
                      .tcp(2000, 22)
                      .payload("SSH-2.0")
                      .build();
  Decoder d({.validate_checksums = true});
  PacketView v;
  ASSERT_EQ(run(d, f, v), DecodeStatus::kOk);
  EXPECT_EQ(v.tunnel, Tunnel::kVxlan);
  EXPECT_EQ(v.tunnel_id, 0x123456u);
  EXPECT_EQ(v.dst_port, 22);
  EXPECT_EQ(v.src_ip().to_string(), kA);
  EXPECT_EQ(v.outer_dst_ip().to_string(), "198.51.100.200");

  Bytes no_i = FrameBuilder()
                   .ethernet()
                   .ipv4("198.51.100.100", "198.51.100.200")
                   .udp(49152, 4789)
                   .vxlan(1, 0x00)
                   .ethernet()
                   .ipv4(kA, kB)
                   .build();
  EXPECT_EQ(run(d, no_i, v), DecodeStatus::kMalformed);
  EXPECT_EQ(d.last_malformed(), DecodeCounter::kVxlanBadFlags);
}

TEST(Decoder, TunnelsCanBeLeftUndecoded) {
  const Bytes f = FrameBuilder()
                      .ethernet()
                      .ipv4("198.51.100.100", "198.51.100.200")
                      .udp(49152, 4789)
                      .vxlan(7)
                      .ethernet()
                      .ipv4(kA, kB)
                      .udp(1, 2)
                      .build();
  Decoder d({.decode_tunnels = false});
  PacketView v;
  ASSERT_EQ(run(d, f, v), DecodeStatus::kOk);
  EXPECT_EQ(v.tunnel, Tunnel::kNone);
  EXPECT_EQ(v.dst_port, 4789);
}

TEST(Decoder, TunnelsNestedTooDeepAreMalformed) {
  FrameBuilder b;
  b.ethernet();
  for (int i = 0; i < 4; ++i) b.ipv4(kA, kB).gre();
  const Bytes f = b.ipv4(kA, kB).udp(1, 2).build();
  Decoder d;
  PacketView v;
  EXPECT_EQ(run(d, f, v), DecodeStatus::kMalformed);
  EXPECT_EQ(d.last_malformed(), DecodeCounter::kTunnelTooDeep);
}

// ---- PPPoE, PPP and Cisco HDLC links, PPP over GRE and PPTP, Teredo ----

TEST(Decoder, PppoeSessionCarriesIpv4AndIpv6) {
  const Bytes v4 = FrameBuilder()
                       .ethernet()
                       .vlan(40)
                       .pppoe({.session = 0x1234})
                       .ppp({.address_control = false})
                       .ipv4(kA, kB)
                       .tcp(40000, 443)
                       .payload("over pppoe")
                       .build();
  Decoder d({.validate_checksums = true});
  PacketView v;
  ASSERT_EQ(run(d, v4, v), DecodeStatus::kOk);
  EXPECT_EQ(v.eth_offset, 0u);  // the subscriber's Ethernet header is the link layer
  ASSERT_EQ(v.vlan_count, 1);
  EXPECT_EQ(v.vlan_ids[0], 40);
  EXPECT_EQ(v.l3_offset, 14u + 4u + 6u + 2u);
  EXPECT_EQ(v.tunnel, Tunnel::kNone);
  EXPECT_EQ(v.src_ip().to_string(), kA);
  EXPECT_EQ(v.dst_ip().to_string(), kB);
  ASSERT_TRUE(v.is_tcp());
  EXPECT_EQ(v.src_port, 40000);
  EXPECT_EQ(v.dst_port, 443);
  EXPECT_EQ(std::string(v.payload().begin(), v.payload().end()), "over pppoe");
  EXPECT_FALSE(v.bad_checksum);
  expect_inside(v);

  // Padded to the Ethernet minimum: the padding is neither PPP nor IP.
  Bytes v6 = FrameBuilder()
                 .ethernet()
                 .pppoe()
                 .ppp({.address_control = false})
                 .ipv6(kA6, kB6)
                 .udp(5000, 53)
                 .payload("q")
                 .build();
  v6.resize(v6.size() + 30, 0);
  ASSERT_EQ(run(d, v6, v), DecodeStatus::kOk);
  EXPECT_EQ(v.ip_version, 6);
  EXPECT_EQ(v.l3_offset, 14u + 6u + 2u);
  EXPECT_EQ(v.src_ip().to_string(), kA6);
  EXPECT_EQ(v.dst_ip().to_string(), kB6);
  ASSERT_TRUE(v.is_udp());
  EXPECT_EQ(v.dst_port, 53);
  EXPECT_EQ(v.payload_len, 1u);
  EXPECT_FALSE(v.bad_checksum);
  EXPECT_EQ(d.counters().get(DecodeCounter::kPppoe), 2u);
  EXPECT_EQ(d.counters().get(DecodeCounter::kPpp), 2u);
  EXPECT_EQ(d.counters().get(DecodeCounter::kIpv6), 1u);
}

TEST(Decoder, PppoeControlAndDiscoveryAreNotIp) {
  Decoder d;
  PacketView v;
  const Bytes lcp = FrameBuilder()
                        .ethernet()
                        .pppoe()
                        .ppp({.address_control = false, .protocol = 0xc021})
                        .payload(testing::hex("01 01 00 04"))
                        .build();
  EXPECT_EQ(run(d, lcp, v), DecodeStatus::kNotIp);
  const Bytes ipcp = FrameBuilder()
                         .ethernet()
                         .pppoe()
                         .ppp({.address_control = false, .protocol = 0x8021})
                         .payload(testing::hex("01 01 00 04"))
                         .build();
  EXPECT_EQ(run(d, ipcp, v), DecodeStatus::kNotIp);
  // PADI: discovery has its own ethertype, and code 0x09.
  Bytes padi = FrameBuilder()
                   .ethernet()
                   .pppoe({.session = 0, .code = 0x09})
                   .payload(testing::hex("01 01 00 00"))
                   .build();
  padi[13] = 0x63;  // 0x8863
  EXPECT_EQ(run(d, padi, v), DecodeStatus::kNotIp);
  EXPECT_EQ(d.counters().get(DecodeCounter::kNotIp), 3u);
  EXPECT_EQ(d.counters().get(DecodeCounter::kPppoe), 2u);
  EXPECT_EQ(d.last_malformed(), DecodeCounter::kCount);  // nothing malformed
}

TEST(Decoder, BrokenPppoeIsCountedByReason) {
  const auto frame = [](testing::PppoeFields f) {
    return FrameBuilder()
        .ethernet()
        .pppoe(f)
        .ppp({.address_control = false})
        .ipv4(kA, kB)
        .tcp(1, 2)
        .build();
  };
  const Bytes whole = frame({});
  struct Case {
    const char* name;
    Bytes frame;
    DecodeCounter reason;
  };
  const Case cases[] = {
      {"header cut short", Bytes(whole.begin(), whole.begin() + 14 + 5),
       DecodeCounter::kPppoeTruncated},
      {"protocol cut short", Bytes(whole.begin(), whole.begin() + 14 + 7),
       DecodeCounter::kPppoeTruncated},
      {"length beyond the frame", frame({.length = 200}), DecodeCounter::kPppoeTruncated},
      {"length too short for the protocol", frame({.length = 1}), DecodeCounter::kPppoeTruncated},
      {"version 2", frame({.version_type = 0x21}), DecodeCounter::kPppoeBadHeader},
      {"discovery code on the session type", frame({.code = 0x09}), DecodeCounter::kPppoeBadHeader},
      // The receiving PPPoE stack trims the frame to its length: the datagram must fit in it.
      {"ip datagram beyond the pppoe length", frame({.length = 30}), DecodeCounter::kIpv4Truncated},
  };
  for (const Case& c : cases) {
    Decoder d;
    PacketView v;
    EXPECT_EQ(run(d, c.frame, v), DecodeStatus::kMalformed) << c.name;
    EXPECT_EQ(d.last_malformed(), c.reason) << c.name;
    EXPECT_EQ(d.counters().get(c.reason), 1u) << c.name;
  }
}

TEST(Decoder, PppLinkTypes) {
  Decoder d({.validate_checksums = true});
  PacketView v;
  // HDLC-like framing (0xff 0x03), then IPv4.
  const Bytes framed = FrameBuilder().ppp().ipv4(kA, kB).tcp(1234, 80).payload("GET").build();
  for (LinkType link : {LinkType::kPpp, LinkType::kPppSerial}) {
    ASSERT_EQ(run(d, framed, v, link), DecodeStatus::kOk);
    EXPECT_EQ(v.eth_offset, kAbsent);
    EXPECT_EQ(v.l3_offset, 4u);
    EXPECT_EQ(v.src_ip().to_string(), kA);
    EXPECT_EQ(v.dst_ip().to_string(), kB);
    ASSERT_TRUE(v.is_tcp());
    EXPECT_EQ(v.dst_port, 80);
    EXPECT_EQ(std::string(v.payload().begin(), v.payload().end()), "GET");
  }
  // Address and control compressed away (RFC 1661 §6.6), then IPv6.
  const Bytes bare =
      FrameBuilder().ppp({.address_control = false}).ipv6(kA6, kB6).udp(53, 5353).build();
  ASSERT_EQ(run(d, bare, v, LinkType::kPpp), DecodeStatus::kOk);
  EXPECT_EQ(v.l3_offset, 2u);
  EXPECT_EQ(v.src_ip().to_string(), kA6);
  ASSERT_TRUE(v.is_udp());
  EXPECT_EQ(v.src_port, 53);
  EXPECT_EQ(v.dst_port, 5353);
  // Protocol field compressed to one octet (RFC 1661 §6.5), with and without address/control.
  for (bool address_control : {true, false}) {
    const Bytes pfc = FrameBuilder()
                          .ppp({.address_control = address_control, .compress_protocol = true})
                          .ipv4(kB, kA)
                          .udp(7, 9)
                          .build();
    ASSERT_EQ(run(d, pfc, v, LinkType::kPpp), DecodeStatus::kOk) << address_control;
    EXPECT_EQ(v.l3_offset, address_control ? 3u : 1u);
    EXPECT_EQ(v.src_ip().to_string(), kB);
    EXPECT_EQ(v.dst_port, 9);
  }
  EXPECT_EQ(d.counters().get(DecodeCounter::kPpp), 5u);
  EXPECT_FALSE(v.bad_checksum);

  // LCP is PPP's own: not IP.
  const Bytes lcp = FrameBuilder()
                        .ppp({.protocol = 0xc021})
                        .payload(testing::hex("09 01 00 08 00 00 00 00"))
                        .build();
  EXPECT_EQ(run(d, lcp, v, LinkType::kPpp), DecodeStatus::kNotIp);
  // Numbered mode (RFC 1663): a control field other than UI, nothing to inspect.
  Bytes numbered = framed;
  numbered[1] = 0x21;
  EXPECT_EQ(run(d, numbered, v, LinkType::kPpp), DecodeStatus::kNotIp);
  EXPECT_EQ(d.counters().get(DecodeCounter::kNotIp), 2u);

  // Cut short before the protocol field ends.
  for (const Bytes& cut : {Bytes{}, testing::hex("ff"), testing::hex("ff 03"),
                           testing::hex("ff 03 00"), testing::hex("00")}) {
    Decoder fresh;
    EXPECT_EQ(run(fresh, cut, v, LinkType::kPpp), DecodeStatus::kMalformed) << cut.size();
    EXPECT_EQ(fresh.last_malformed(), DecodeCounter::kLinkTruncated);
    EXPECT_EQ(fresh.counters().get(DecodeCounter::kLinkTruncated), 1u);
  }
}

TEST(Decoder, CiscoHdlcLinks) {
  Decoder d({.validate_checksums = true});
  PacketView v;
  const Bytes unicast = FrameBuilder().cisco_hdlc(0x0f).ipv4(kA, kB).tcp(2000, 25).build();
  ASSERT_EQ(run(d, unicast, v, LinkType::kCiscoHdlc), DecodeStatus::kOk);
  EXPECT_EQ(v.eth_offset, kAbsent);
  EXPECT_EQ(v.l3_offset, 4u);
  EXPECT_EQ(v.dst_ip().to_string(), kB);
  EXPECT_TRUE(v.is_tcp());
  EXPECT_EQ(v.dst_port, 25);
  const Bytes broadcast =
      FrameBuilder().cisco_hdlc(0x8f).ipv6(kA6, kB6).udp(1, 2).payload("x").build();
  ASSERT_EQ(run(d, broadcast, v, LinkType::kCiscoHdlc), DecodeStatus::kOk);
  EXPECT_EQ(v.src_ip().to_string(), kA6);
  EXPECT_EQ(v.payload_len, 1u);
  // DLT_PPP_SERIAL carries Cisco HDLC too, told apart by its address byte.
  ASSERT_EQ(run(d, unicast, v, LinkType::kPppSerial), DecodeStatus::kOk);
  EXPECT_EQ(v.src_ip().to_string(), kA);
  EXPECT_EQ(d.counters().get(DecodeCounter::kCiscoHdlc), 3u);
  EXPECT_EQ(d.counters().get(DecodeCounter::kPpp), 0u);

  // SLARP keepalive: well formed, not IP.
  const Bytes slarp = testing::hex("8f 00 80 35 00 00 00 02 00 00 00 01 00 00 00 00 ff ff");
  EXPECT_EQ(run(d, slarp, v, LinkType::kCiscoHdlc), DecodeStatus::kNotIp);
  EXPECT_EQ(d.counters().get(DecodeCounter::kNotIp), 1u);

  Bytes bad_address = unicast;
  bad_address[0] = 0x42;
  EXPECT_EQ(run(d, bad_address, v, LinkType::kCiscoHdlc), DecodeStatus::kMalformed);
  EXPECT_EQ(d.last_malformed(), DecodeCounter::kLinkUnknown);
  Bytes bad_control = unicast;
  bad_control[1] = 0x03;
  EXPECT_EQ(run(d, bad_control, v, LinkType::kCiscoHdlc), DecodeStatus::kMalformed);
  EXPECT_EQ(d.last_malformed(), DecodeCounter::kLinkUnknown);
  const Bytes cut(unicast.begin(), unicast.begin() + 3);
  EXPECT_EQ(run(d, cut, v, LinkType::kCiscoHdlc), DecodeStatus::kMalformed);
  EXPECT_EQ(d.last_malformed(), DecodeCounter::kLinkTruncated);
}

TEST(Decoder, PptpInnerPacketIsInspected) {
  const Bytes v4 = FrameBuilder()
                       .ethernet()
                       .ipv4("198.51.100.100", "198.51.100.200")
                       .pptp({.call_id = 0x4242, .sequence = 7, .ack = 3})
                       .ppp()
                       .ipv4(kA, kB)
                       .tcp(3389, 50000)
                       .payload("rdp")
                       .build();
  Decoder d({.validate_checksums = true});
  PacketView v;
  ASSERT_EQ(run(d, v4, v), DecodeStatus::kOk);
  EXPECT_EQ(v.tunnel, Tunnel::kPptp);
  EXPECT_EQ(v.tunnel_id, 0x4242u);
  EXPECT_EQ(v.outer_src_ip().to_string(), "198.51.100.100");
  EXPECT_EQ(v.outer_dst_ip().to_string(), "198.51.100.200");
  EXPECT_EQ(v.eth_offset, kAbsent);  // the outer MACs are the tunnel endpoints'
  EXPECT_EQ(v.l3_offset, 14u + 20u + 16u + 4u);
  EXPECT_EQ(v.src_ip().to_string(), kA);
  EXPECT_EQ(v.dst_ip().to_string(), kB);
  ASSERT_TRUE(v.is_tcp());
  EXPECT_EQ(v.src_port, 3389);
  EXPECT_EQ(v.dst_port, 50000);
  EXPECT_EQ(std::string(v.payload().begin(), v.payload().end()), "rdp");
  EXPECT_FALSE(v.bad_checksum);

  // No acknowledgment number, address/control compressed, IPv6 over an IPv6 outer header.
  const Bytes v6 = FrameBuilder()
                       .ethernet()
                       .ipv6("2001:db8::100", "2001:db8::200")
                       .pptp({.call_id = 9})
                       .ppp({.address_control = false})
                       .ipv6(kA6, kB6)
                       .udp(4500, 500)
                       .payload("ike")
                       .build();
  ASSERT_EQ(run(d, v6, v), DecodeStatus::kOk);
  EXPECT_EQ(v.tunnel, Tunnel::kPptp);
  EXPECT_EQ(v.tunnel_id, 9u);
  EXPECT_EQ(v.outer_src_ip().to_string(), "2001:db8::100");
  EXPECT_EQ(v.l3_offset, 14u + 40u + 12u + 2u);
  EXPECT_EQ(v.src_ip().to_string(), kA6);
  ASSERT_TRUE(v.is_udp());
  EXPECT_EQ(v.dst_port, 500);
  EXPECT_EQ(std::string(v.payload().begin(), v.payload().end()), "ike");
  EXPECT_EQ(d.counters().get(DecodeCounter::kGre), 2u);
  EXPECT_EQ(d.counters().get(DecodeCounter::kPptp), 2u);
  EXPECT_EQ(d.counters().get(DecodeCounter::kPpp), 2u);
}

TEST(Decoder, PppOverVersionZeroGre) {
  const Bytes f = FrameBuilder()
                      .ethernet()
                      .ipv4("198.51.100.100", "198.51.100.200")
                      .gre({.key = 5})
                      .ppp()
                      .ipv4(kA, kB)
                      .udp(1000, 2000)
                      .build();
  Decoder d({.validate_checksums = true});
  PacketView v;
  ASSERT_EQ(run(d, f, v), DecodeStatus::kOk);
  EXPECT_EQ(v.tunnel, Tunnel::kGre);
  EXPECT_EQ(v.tunnel_id, 5u);
  EXPECT_EQ(v.src_ip().to_string(), kA);
  EXPECT_EQ(v.dst_port, 2000);
  EXPECT_EQ(d.counters().get(DecodeCounter::kPpp), 1u);
  EXPECT_EQ(d.counters().get(DecodeCounter::kPptp), 0u);
}

// Encrypted (MPPE) or control PPP, and acknowledgment-only packets, carry nothing to inspect: the
// outer packet stands, as for GRE carrying what is not decoded.
TEST(Decoder, PptpWithoutInnerIpLeavesTheOuterPacket) {
  const Bytes mppe = FrameBuilder()
                         .ethernet()
                         .ipv4("198.51.100.100", "198.51.100.200")
                         .pptp({.call_id = 1})
                         .ppp({.protocol = 0x00fd})
                         .payload(testing::hex("90 01 de ad be ef"))
                         .build();
  const Bytes ack_only =
      FrameBuilder()
          .ethernet()
          .ipv4("198.51.100.100", "198.51.100.200")
          .pptp({.call_id = 1, .sequence = std::nullopt, .ack = 77, .protocol = 0x880b})
          .build();
  for (const Bytes* f : {&mppe, &ack_only}) {
    Decoder d;
    PacketView v;
    ASSERT_EQ(run(d, *f, v), DecodeStatus::kOk);
    EXPECT_EQ(v.tunnel, Tunnel::kNone);
    EXPECT_EQ(v.eth_offset, 0u);
    EXPECT_EQ(v.ip_proto, ip_proto::kGre);
    EXPECT_EQ(v.src_ip().to_string(), "198.51.100.100");
    EXPECT_EQ(v.l4_offset, kAbsent);
    EXPECT_EQ(d.counters().get(DecodeCounter::kPptp), 1u);
    EXPECT_EQ(d.counters().get(DecodeCounter::kNotIp), 0u);
    expect_inside(v);
  }
}

TEST(Decoder, BrokenPptpIsCountedByReason) {
  const auto outer = [] {
    FrameBuilder b;
    b.ethernet().ipv4("198.51.100.100", "198.51.100.200");
    return b;
  };
  struct Case {
    const char* name;
    Bytes frame;
    DecodeCounter reason;
  };
  const Case cases[] = {
      {"version 1 carrying IPv4, not PPP",
       outer().pptp({.protocol = 0x0800}).ipv4(kA, kB).udp(1, 2).build(),
       DecodeCounter::kGreBadVersion},
      {"version 2", outer().pptp({.version = 2}).ppp().ipv4(kA, kB).udp(1, 2).build(),
       DecodeCounter::kGreBadVersion},
      {"version 1 without the key",
       outer().gre({.sequence = 1, .version = 1}).ppp().ipv4(kA, kB).udp(1, 2).build(),
       DecodeCounter::kGreBadVersion},
      {"version 1 with a checksum",
       outer()
           .gre({.key = 0x00300001, .sequence = 1, .checksum = true, .version = 1})
           .ppp()
           .ipv4(kA, kB)
           .udp(1, 2)
           .build(),
       DecodeCounter::kGreBadVersion},
      {"payload length beyond the packet",
       outer().pptp({.payload_length = 500}).ppp().ipv4(kA, kB).udp(1, 2).build(),
       DecodeCounter::kGreTruncated},
      {"ppp protocol cut short by the payload length",
       outer().pptp({.payload_length = 1}).ppp({.address_control = false}).ipv4(kA, kB).build(),
       DecodeCounter::kGreTruncated},
      {"ip datagram beyond the payload length",
       outer().pptp({.payload_length = 30}).ppp().ipv4(kA, kB).tcp(1, 2).build(),
       DecodeCounter::kIpv4Truncated},
  };
  for (const Case& c : cases) {
    Decoder d;
    PacketView v;
    EXPECT_EQ(run(d, c.frame, v), DecodeStatus::kMalformed) << c.name;
    EXPECT_EQ(d.last_malformed(), c.reason) << c.name;
    EXPECT_EQ(d.counters().get(c.reason), 1u) << c.name;
  }
}

TEST(Decoder, TeredoInnerIpv6IsInspected) {
  // Authentication indicator (client id "ab", 3-byte value, nonce, confirmation), origin
  // indication.
  const Bytes auth = testing::hex("00 01 02 03  61 62  01 02 03  11 22 33 44 55 66 77 88  00");
  const Bytes origin = testing::hex("00 00  f2 27  3c cc 9b fe");
  const Bytes both = [&] {
    Bytes b = auth;
    b.insert(b.end(), origin.begin(), origin.end());
    return b;
  }();
  const Bytes none;
  for (const Bytes* prefix : {&none, &origin, &auth, &both}) {
    for (bool to_server : {true, false}) {
      FrameBuilder b;
      b.ethernet().ipv4("198.51.100.100", "198.51.100.200");
      to_server ? b.udp(40000, 3544) : b.udp(3544, 40000);
      if (!prefix->empty()) b.payload(*prefix);
      const Bytes f = b.ipv6(kA6, kB6).tcp(49152, 80).payload("teredo").build();
      Decoder d({.validate_checksums = true});
      PacketView v;
      ASSERT_EQ(run(d, f, v), DecodeStatus::kOk) << prefix->size() << " " << to_server;
      EXPECT_EQ(v.tunnel, Tunnel::kTeredo);
      EXPECT_EQ(v.outer_src_ip().to_string(), "198.51.100.100");
      EXPECT_EQ(v.eth_offset, kAbsent);
      EXPECT_EQ(v.l3_offset, 14u + 20u + 8u + prefix->size());
      EXPECT_EQ(v.ip_version, 6);
      EXPECT_EQ(v.src_ip().to_string(), kA6);
      EXPECT_EQ(v.dst_ip().to_string(), kB6);
      ASSERT_TRUE(v.is_tcp());
      EXPECT_EQ(v.src_port, 49152);
      EXPECT_EQ(v.dst_port, 80);
      EXPECT_EQ(std::string(v.payload().begin(), v.payload().end()), "teredo");
      EXPECT_FALSE(v.bad_checksum);
      EXPECT_EQ(d.counters().get(DecodeCounter::kTeredo), 1u);
      EXPECT_EQ(d.counters().get(DecodeCounter::kTcp), 1u);
      EXPECT_EQ(d.counters().get(DecodeCounter::kUdp), 1u);
      expect_inside(v);
    }
  }
  // A bubble, as a server relays it: origin indication, then a bare IPv6 header (next header 59).
  const Bytes bubble = FrameBuilder()
                           .ethernet()
                           .ipv4("198.51.100.100", "198.51.100.200")
                           .udp(3544, 61000)
                           .payload(origin)
                           .ipv6(kA6, kB6)
                           .build();
  Decoder d;
  PacketView v;
  ASSERT_EQ(run(d, bubble, v), DecodeStatus::kOk);
  EXPECT_EQ(v.tunnel, Tunnel::kTeredo);
  EXPECT_EQ(v.ip_proto, 59);
  EXPECT_EQ(v.payload_len, 0u);
}

TEST(Decoder, TeredoPortTrafficThatIsNotIpv6StaysUdp) {
  const auto udp = [](const Bytes& payload, uint16_t sport = 40000, uint16_t dport = 3544) {
    return FrameBuilder()
        .ethernet()
        .ipv4("198.51.100.100", "198.51.100.200")
        .udp(sport, dport)
        .payload(payload)
        .build();
  };
  const Bytes ipv6_inside =
      FrameBuilder().ipv6(kA6, kB6).udp(1, 2).payload("x").build();  // a real Teredo payload
  Bytes wrong_length = ipv6_inside;
  wrong_length[5] += 1;  // payload length one more than there is
  Bytes padded = ipv6_inside;
  padded.push_back(0);  // one byte after the IPv6 packet
  Bytes bubble_with_next_header = FrameBuilder().ipv6(kA6, kB6, {.next_header = 6}).build();
  const Bytes ipv4_inside = FrameBuilder().ipv4(kA, kB).udp(1, 2).build();
  Bytes auth_cut = testing::hex("00 01 20 20 00 00");  // lengths beyond the datagram
  const struct {
    const char* name;
    Bytes frame;
  } cases[] = {
      {"text", udp(Bytes{'h', 'e', 'l', 'l', 'o'})},
      {"empty", udp({})},
      {"ipv6 payload length beyond", udp(wrong_length)},
      {"ipv6 payload length short", udp(padded)},
      {"zero payload length with a next header", udp(bubble_with_next_header)},
      {"ipv4 inside", udp(ipv4_inside)},
      {"authentication cut short", udp(auth_cut)},
      {"ipv6 header cut short", udp(Bytes(ipv6_inside.begin(), ipv6_inside.begin() + 39))},
  };
  for (const auto& c : cases) {
    Decoder d({.validate_checksums = true});
    PacketView v;
    ASSERT_EQ(run(d, c.frame, v), DecodeStatus::kOk) << c.name;
    EXPECT_EQ(v.tunnel, Tunnel::kNone) << c.name;
    EXPECT_EQ(v.ip_version, 4) << c.name;
    ASSERT_TRUE(v.is_udp()) << c.name;
    EXPECT_EQ(v.src_port, 40000) << c.name;
    EXPECT_EQ(v.dst_port, 3544) << c.name;
    EXPECT_EQ(v.payload_offset, 14u + 20u + 8u) << c.name;
    EXPECT_EQ(d.counters().get(DecodeCounter::kTeredo), 0u) << c.name;
    EXPECT_EQ(d.last_malformed(), DecodeCounter::kCount) << c.name;
  }

  // Switched off, by decode.teredo or by decode.tunnels: the Teredo packet is plain UDP.
  const Bytes teredo = udp(ipv6_inside);
  for (DecoderOptions o :
       {DecoderOptions{.teredo = false}, DecoderOptions{.decode_tunnels = false}}) {
    Decoder d(o);
    PacketView v;
    ASSERT_EQ(run(d, teredo, v), DecodeStatus::kOk);
    EXPECT_EQ(v.tunnel, Tunnel::kNone);
    EXPECT_EQ(v.ip_version, 4);
    EXPECT_EQ(v.dst_port, 3544);
    EXPECT_EQ(d.counters().get(DecodeCounter::kTeredo), 0u);
  }
  Decoder on;
  PacketView v;
  ASSERT_EQ(run(on, teredo, v), DecodeStatus::kOk);
  EXPECT_EQ(v.tunnel, Tunnel::kTeredo);
  EXPECT_EQ(v.ip_version, 6);
}

TEST(Decoder, TeredoCanBeSwitchedOffInTheConfiguration) {
  core::Config config({&decode_params()});
  EXPECT_TRUE(decoder_options(config, false).teredo);
  config.set("decode.teredo=false");
  EXPECT_FALSE(decoder_options(config, false).teredo);
}

// Every prefix of a frame in each new encapsulation is malformed under exactly one reason.
TEST(Decoder, EveryPrefixOfTheNewEncapsulationsIsMalformed) {
  const struct {
    const char* name;
    LinkType link;
    Bytes frame;
  } frames[] = {
      {"pppoe", LinkType::kEthernet,
       FrameBuilder()
           .ethernet()
           .vlan(3)
           .pppoe()
           .ppp({.address_control = false})
           .ipv4(kA, kB)
           .tcp(1, 2)
           .payload("data")
           .build()},
      {"ppp", LinkType::kPpp,
       FrameBuilder().ppp().ipv6(kA6, kB6).tcp(1, 2).payload("data").build()},
      {"cisco hdlc", LinkType::kCiscoHdlc,
       FrameBuilder().cisco_hdlc().ipv4(kA, kB).tcp(1, 2).payload("data").build()},
      {"pptp", LinkType::kEthernet,
       FrameBuilder()
           .ethernet()
           .ipv4("198.51.100.100", "198.51.100.200")
           .pptp({.ack = 1})
           .ppp()
           .ipv4(kA, kB)
           .tcp(1, 2)
           .payload("data")
           .build()},
      {"teredo", LinkType::kEthernet,
       FrameBuilder()
           .ethernet()
           .ipv4("198.51.100.100", "198.51.100.200")
           .udp(40000, 3544)
           .ipv6(kA6, kB6)
           .tcp(1, 2)
           .payload("data")
           .build()},
  };
  for (const auto& f : frames) {
    for (size_t len = 0; len < f.frame.size() - 4; ++len) {
      Decoder d;
      PacketView v;
      const DecodeStatus s = d.decode(f.link, f.frame.data(), static_cast<uint32_t>(len),
                                      static_cast<uint32_t>(len), {}, v);
      EXPECT_EQ(s, DecodeStatus::kMalformed) << f.name << " prefix " << len;
      uint64_t malformed = 0;
      for (size_t i = static_cast<size_t>(DecodeCounter::kLinkTruncated);
           i < static_cast<size_t>(DecodeCounter::kTcpBadOptionLen); ++i) {
        malformed += d.counters().get(static_cast<DecodeCounter>(i));
      }
      EXPECT_EQ(malformed, 1u) << f.name << " prefix " << len;
    }
  }
}

TEST(Decoder, BadHeaderFieldsAreCountedByReason) {
  struct Case {
    const char* name;
    Bytes frame;
    DecodeCounter reason;
    bool ip_layer_kept = false;  // a broken transport header: the IP layer is still there
  };
  const Case cases[] = {
      {"ihl below 5", FrameBuilder().ethernet().ipv4(kA, kB, {.ihl_words = 4}).tcp(1, 2).build(),
       DecodeCounter::kIpv4BadIhl},
      {"ihl beyond total",
       FrameBuilder().ethernet().ipv4(kA, kB, {.ihl_words = 15, .total_length = 40}).build(),
       DecodeCounter::kIpv4BadIhl},
      {"total below 20",
       FrameBuilder().ethernet().ipv4(kA, kB, {.total_length = 19}).tcp(1, 2).build(),
       DecodeCounter::kIpv4BadTotalLen},
      {"total beyond capture",
       FrameBuilder().ethernet().ipv4(kA, kB, {.total_length = 1500}).tcp(1, 2).build(),
       DecodeCounter::kIpv4Truncated},
      {"tcp offset below 5",
       FrameBuilder().ethernet().ipv4(kA, kB).tcp(1, 2, {.data_offset_words = 4}).build(),
       DecodeCounter::kTcpBadOffset, true},
      {"tcp offset past segment",
       FrameBuilder()
           .ethernet()
           .ipv4(kA, kB)
           .tcp(1, 2, {.data_offset_words = 15})
           .payload("abc")
           .build(),
       DecodeCounter::kTcpBadOffset, true},
      {"udp length below 8",
       FrameBuilder().ethernet().ipv4(kA, kB).udp(1, 2, uint16_t{7}).payload("abc").build(),
       DecodeCounter::kUdpBadLength, true},
      {"udp length beyond ip",
       FrameBuilder().ethernet().ipv4(kA, kB).udp(1, 2, uint16_t{100}).payload("abc").build(),
       DecodeCounter::kUdpBadLength, true},
      {"ipv6 payload beyond capture",
       FrameBuilder().ethernet().ipv6(kA6, kB6, {.payload_length = 1000}).tcp(1, 2).build(),
       DecodeCounter::kIpv6Truncated},
      {"gre version 1",
       FrameBuilder().ethernet().ipv4(kA, kB).gre({.version = 1}).ipv4(kA, kB).build(),
       DecodeCounter::kGreBadVersion},
  };
  for (const Case& c : cases) {
    Decoder d;
    PacketView v;
    EXPECT_EQ(run(d, c.frame, v), c.ip_layer_kept ? DecodeStatus::kOk : DecodeStatus::kMalformed)
        << c.name;
    EXPECT_EQ(d.last_malformed(), c.reason) << c.name;
    EXPECT_EQ(d.counters().get(c.reason), 1u) << c.name;
    if (c.ip_layer_kept) {
      EXPECT_TRUE(v.is_ip() && v.l4_invalid) << c.name;
      EXPECT_FALSE(v.is_tcp() || v.is_udp()) << c.name;  // no ports, no flow
      EXPECT_EQ(v.payload_len, 0u) << c.name;
    }
  }
}

TEST(Decoder, WrongVersionNibbles) {
  Bytes v4 = FrameBuilder().ethernet().ipv4(kA, kB).tcp(1, 2).build();
  v4[14] = 0x55;
  Decoder d;
  PacketView v;
  EXPECT_EQ(run(d, v4, v), DecodeStatus::kMalformed);
  EXPECT_EQ(d.last_malformed(), DecodeCounter::kIpv4BadVersion);
  Bytes v6 = FrameBuilder().ethernet().ipv6(kA6, kB6).tcp(1, 2).build();
  v6[14] = 0x40;
  EXPECT_EQ(run(d, v6, v), DecodeStatus::kMalformed);
  EXPECT_EQ(d.last_malformed(), DecodeCounter::kIpv6BadVersion);
}

// As Suricata: a wrong checksum drops nothing. It is counted, and flagged so that a TCP segment
// can be kept out of flow and stream tracking.
TEST(Decoder, WrongChecksumsAreCountedAndFlaggedWhenValidating) {
  const Bytes bad_tcp =
      FrameBuilder().ethernet().ipv4(kA, kB).tcp(1, 2, {.checksum = 0xbeef}).build();
  const Bytes bad_ip =
      FrameBuilder().ethernet().ipv4(kA, kB, {.checksum = 0x1234}).tcp(1, 2).build();
  const Bytes bad_udp =
      FrameBuilder().ethernet().ipv6(kA6, kB6).udp(1, 2, {}, uint16_t{0x4321}).build();
  const Bytes zero_udp6 =
      FrameBuilder().ethernet().ipv6(kA6, kB6).udp(1, 2, {}, uint16_t{0}).build();
  const Bytes zero_udp4 = FrameBuilder().ethernet().ipv4(kA, kB).udp(1, 2, {}, uint16_t{0}).build();
  Bytes bad_icmp = FrameBuilder().ethernet().ipv4(kA, kB).icmp(8, 0).build();
  bad_icmp.back() ^= 0xff;
  Decoder strict({.validate_checksums = true});
  Decoder lax({.validate_checksums = false});
  PacketView v;
  const std::pair<const Bytes*, DecodeCounter> wrong[] = {
      {&bad_tcp, DecodeCounter::kTcpBadChecksum},
      {&bad_ip, DecodeCounter::kIpv4BadChecksum},
      {&bad_udp, DecodeCounter::kUdpBadChecksum},
      {&zero_udp6, DecodeCounter::kUdpBadChecksum},  // RFC 8200 §8.1: none is not allowed
      {&bad_icmp, DecodeCounter::kIcmpBadChecksum}};
  for (const auto& [frame, counter] : wrong) {
    const uint64_t before = strict.counters().get(counter);
    EXPECT_EQ(run(strict, *frame, v), DecodeStatus::kOk);
    EXPECT_TRUE(v.bad_checksum);
    EXPECT_EQ(strict.counters().get(counter), before + 1);
    EXPECT_EQ(run(lax, *frame, v), DecodeStatus::kOk);
    EXPECT_FALSE(v.bad_checksum);
  }
  EXPECT_EQ(run(strict, zero_udp4, v), DecodeStatus::kOk);  // "no checksum" over IPv4
  EXPECT_FALSE(v.bad_checksum);
  EXPECT_TRUE(run(strict, bad_tcp, v) == DecodeStatus::kOk && v.is_tcp());  // fully decoded
}

// Suricata's "auto": a capture whose checksums are mostly wrong was taken where the NIC fills them
// in later; validating it would throw every TCP segment out of stream tracking.
TEST(Decoder, AutoTurnsValidationOffWhenTheCaptureShowsOffloading) {
  const Bytes good = FrameBuilder().ethernet().ipv4(kA, kB).tcp(1, 2).build();
  const Bytes bad = FrameBuilder().ethernet().ipv4(kA, kB).tcp(1, 2, {.checksum = 0xbeef}).build();
  PacketView v;
  // 5% wrong: a few corrupt packets, validation stays on.
  Decoder few({.validate_checksums = true, .detect_offload = true});
  for (int i = 0; i < 1000; ++i) run(few, i % 20 == 0 ? bad : good, v);
  EXPECT_EQ(run(few, bad, v), DecodeStatus::kOk);
  EXPECT_TRUE(v.bad_checksum);
  EXPECT_EQ(few.counters().get(DecodeCounter::kChecksumOffload), 0u);
  // Half wrong (IPv4 header and TCP are both checked: 1,000 checks after 500 packets).
  Decoder offloaded({.validate_checksums = true, .detect_offload = true});
  for (int i = 0; i < 1000; ++i) run(offloaded, i % 2 == 0 ? bad : good, v);
  EXPECT_EQ(offloaded.counters().get(DecodeCounter::kChecksumOffload), 1u);
  EXPECT_EQ(run(offloaded, bad, v), DecodeStatus::kOk);
  EXPECT_FALSE(v.bad_checksum);
  // Without auto, validation stays whatever the capture looks like.
  Decoder forced({.validate_checksums = true});
  for (int i = 0; i < 1000; ++i) run(forced, bad, v);
  EXPECT_TRUE(v.bad_checksum);
}

// Live capture judges its checksums as files do: a mirror port's copies carry them filled in,
// so validation stays on and an inserted segment with a wrong one (its receiver drops it) is
// flagged for the worker to keep out of the stream; a host whose NIC fills them in on transmit
// shows it within the first 1,000 checks, and validation turns itself off.
TEST(Decoder, AutoJudgesLiveCaptureByItsChecksumsAsFilesAre) {
  core::Config config({&decode_params()});
  const DecoderOptions live = decoder_options(config, true);
  EXPECT_TRUE(live.validate_checksums);
  EXPECT_TRUE(live.detect_offload);
  const Bytes good = FrameBuilder().ethernet().ipv4(kA, kB).tcp(40000, 80).payload("GET /").build();
  const Bytes inserted = FrameBuilder()
                             .ethernet()
                             .ipv4(kA, kB)
                             .tcp(40000, 80, {.checksum = 0xbeef})
                             .payload("GET /fake-trigger")
                             .build();
  // Unfilled: what the stack leaves for the NIC (here simply zero).
  const Bytes unfilled =
      FrameBuilder().ethernet().ipv4(kA, kB).tcp(40000, 80, {.checksum = 0}).build();
  PacketView v;
  Decoder mirror(live);
  for (int i = 0; i < 600; ++i) run(mirror, i == 300 ? inserted : good, v);
  EXPECT_EQ(mirror.counters().get(DecodeCounter::kChecksumValidationKept), 1u);
  EXPECT_EQ(mirror.counters().get(DecodeCounter::kChecksumOffload), 0u);
  ASSERT_EQ(run(mirror, inserted, v), DecodeStatus::kOk);
  EXPECT_TRUE(v.bad_checksum);  // kept out of flow and stream tracking by the worker
  EXPECT_TRUE(v.is_tcp());

  Decoder host(live);
  for (int i = 0; i < 600; ++i) run(host, i % 3 == 0 ? good : unfilled, v);
  EXPECT_EQ(host.counters().get(DecodeCounter::kChecksumOffload), 1u);
  EXPECT_EQ(host.counters().get(DecodeCounter::kChecksumValidationKept), 0u);
  ASSERT_EQ(run(host, inserted, v), DecodeStatus::kOk);
  EXPECT_FALSE(v.bad_checksum);

  config.set("decode.checksum_validation=no");
  EXPECT_FALSE(decoder_options(config, true).validate_checksums);
  config.set("decode.checksum_validation=yes");
  EXPECT_FALSE(decoder_options(config, true).detect_offload);
}

TEST(Decoder, BadTcpOptionLengthIsAnAnomalyNotADrop) {
  const Bytes f = FrameBuilder()
                      .ethernet()
                      .ipv4(kA, kB)
                      .tcp(1, 2, {.raw_options = {8, 40, 0, 0}})
                      .payload("still inspected")
                      .build();
  Decoder d({.validate_checksums = true});
  PacketView v;
  ASSERT_EQ(run(d, f, v), DecodeStatus::kOk);
  EXPECT_EQ(d.counters().get(DecodeCounter::kTcpBadOptionLen), 1u);
  EXPECT_EQ(v.payload_len, 15u);
}

TEST(Decoder, OversizedGsoFrameDecodes) {
  const Bytes f =
      FrameBuilder().ethernet().ipv4(kA, kB).tcp(1, 2).payload(std::string(60000, 'g')).build();
  Decoder d;
  PacketView v;
  ASSERT_EQ(run(d, f, v), DecodeStatus::kOk);
  EXPECT_EQ(v.payload_len, 60000u);
}

TEST(Decoder, EthernetPaddingIsNotPayload) {
  Bytes f = FrameBuilder().ethernet().ipv4(kA, kB).tcp(1, 2).build();  // 54 bytes
  f.resize(60, 0);                                                     // minimum frame padding
  Decoder d({.validate_checksums = true});
  PacketView v;
  ASSERT_EQ(run(d, f, v), DecodeStatus::kOk);
  EXPECT_EQ(v.payload_len, 0u);
  EXPECT_EQ(v.l3_len, 40u);
}

TEST(Decoder, SnapTruncatedFrameIsCountedAndSkipped) {
  const Bytes f =
      FrameBuilder().ethernet().ipv4(kA, kB).tcp(1, 2).payload(std::string(500, 'p')).build();
  Decoder d;
  PacketView v;
  EXPECT_EQ(d.decode(LinkType::kEthernet, f.data(), 100, static_cast<uint32_t>(f.size()), {}, v),
            DecodeStatus::kMalformed);
  EXPECT_EQ(d.counters().get(DecodeCounter::kSnapTruncated), 1u);
  EXPECT_EQ(d.last_malformed(), DecodeCounter::kIpv4Truncated);
}

// Every prefix of a valid frame: malformed (or, for an empty link header, malformed too), never a
// crash, never offsets past the prefix.
class TruncationMatrix : public ::testing::TestWithParam<int> {};

TEST_P(TruncationMatrix, EveryPrefixIsMalformedAndCounted) {
  const bool v6 = GetParam() == 6;
  FrameBuilder b;
  b.ethernet().vlan(5);
  v6 ? b.ipv6(kA6, kB6, {.extensions = {{.type = 0}, {.type = 60}}})
     : b.ipv4(kA, kB, {.options = {1, 1, 1, 0}});
  const Bytes full =
      b.tcp(1, 2, {.mss = 1460, .timestamps = std::make_pair(1u, 2u)}).payload("data").build();
  for (size_t len = 0; len < full.size() - 4; ++len) {  // cut anywhere before the payload ends
    const Bytes prefix(full.begin(), full.begin() + static_cast<long>(len));
    Decoder d;
    PacketView v;
    const DecodeStatus s = d.decode(LinkType::kEthernet, prefix.data(), static_cast<uint32_t>(len),
                                    static_cast<uint32_t>(len), {}, v);
    EXPECT_EQ(s, DecodeStatus::kMalformed) << "prefix " << len;
    uint64_t malformed = 0;
    for (size_t i = static_cast<size_t>(DecodeCounter::kLinkTruncated);
         i < static_cast<size_t>(DecodeCounter::kTcpBadOptionLen); ++i) {
      malformed += d.counters().get(static_cast<DecodeCounter>(i));
    }
    EXPECT_EQ(malformed, 1u) << "prefix " << len;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, TruncationMatrix, ::testing::Values(4, 6));

TEST(Decoder, DecodeIpReplacesLayerThreeAndKeepsVlans) {
  const Bytes outer = FrameBuilder().ethernet().vlan(9).ipv4(kA, kB).udp(1, 2).build();
  const Bytes datagram = FrameBuilder().ipv4(kB, kA).tcp(80, 5000).payload("whole").build();
  Decoder d({.validate_checksums = true});
  PacketView v;
  ASSERT_EQ(run(d, outer, v), DecodeStatus::kOk);
  ASSERT_EQ(d.decode_ip(datagram.data(), static_cast<uint32_t>(datagram.size()), v),
            DecodeStatus::kOk);
  EXPECT_EQ(v.vlan_count, 1);
  EXPECT_EQ(v.vlan_ids[0], 9);
  EXPECT_EQ(v.eth_offset, kAbsent);
  EXPECT_EQ(v.l3_offset, 0u);
  EXPECT_TRUE(v.is_tcp());
  EXPECT_EQ(v.src_port, 80);
  EXPECT_EQ(std::string(v.payload().begin(), v.payload().end()), "whole");
}

TEST(Decoder, WorkerHashIsSymmetricAndSeeded) {
  const Bytes ab = FrameBuilder().ethernet().ipv4(kA, kB).tcp(1000, 80).build();
  const Bytes ba = FrameBuilder().ethernet().ipv4(kB, kA).tcp(80, 1000).build();
  const Bytes frag = FrameBuilder()
                         .ethernet()
                         .ipv4(kA, kB, {.dont_fragment = false, .fragment_offset = 8})
                         .payload("x")
                         .build();
  Decoder d;
  PacketView v1, v2, v3;
  run(d, ab, v1);
  run(d, ba, v2);
  run(d, frag, v3);
  EXPECT_EQ(worker_hash(v1, 1), worker_hash(v2, 1));
  EXPECT_EQ(worker_hash(v1, 1), worker_hash(v3, 1));
  EXPECT_NE(worker_hash(v1, 1), worker_hash(v1, 2));
}

}  // namespace
// The dispatcher hashes the common shapes of frame without decoding them: where the quick hash
// answers it must be worker_hash()'s answer (a flow whose frames took both paths would otherwise
// be split), and it must leave to the decoder every frame whose hash the decoder takes from
// elsewhere (a tunnel's inner packet) or could not vouch for.
TEST(Decoder, QuickWorkerHashIsWorkerHashOrDefers) {
  const DecoderOptions options;
  struct Case {
    const char* what;
    Bytes frame;
    LinkType link;
    bool quick;
  };
  const std::vector<Case> cases = {
      {"tcp", FrameBuilder().ethernet().ipv4(kA, kB).tcp(1000, 80).payload("x").build(),
       LinkType::kEthernet, true},
      {"udp", FrameBuilder().ethernet().ipv4(kB, kA).udp(53, 40000).payload("q").build(),
       LinkType::kEthernet, true},
      {"icmp", FrameBuilder().ethernet().ipv4(kA, kB).icmp(8, 0).build(), LinkType::kEthernet,
       true},
      {"vlan", FrameBuilder().ethernet().vlan(10).ipv4(kA, kB).tcp(1, 2).build(),
       LinkType::kEthernet, true},
      {"qinq", FrameBuilder().ethernet().vlan(10, 0x88a8).vlan(20).ipv6(kA6, kB6).tcp(1, 2).build(),
       LinkType::kEthernet, true},
      {"ipv6 icmp", FrameBuilder().ethernet().ipv6(kB6, kA6).icmp(128, 0).build(),
       LinkType::kEthernet, true},
      {"raw", FrameBuilder().ipv4(kA, kB).tcp(1, 2).build(), LinkType::kRawIp, true},
      {"fragment",
       FrameBuilder()
           .ethernet()
           .ipv4(kA, kB, {.dont_fragment = false, .fragment_offset = 8})
           .payload("x")
           .build(),
       LinkType::kEthernet, false},
      {"ipv6 extension",
       FrameBuilder().ethernet().ipv6(kA6, kB6, {.extensions = {{.type = 0}}}).tcp(1, 2).build(),
       LinkType::kEthernet, false},
      {"vxlan",
       FrameBuilder()
           .ethernet()
           .ipv4(kA, kB)
           .udp(50000, 4789)
           .vxlan(7)
           .ethernet()
           .ipv4("198.51.100.7", "198.51.100.8")
           .tcp(1, 2)
           .build(),
       LinkType::kEthernet, false},
      {"gre", FrameBuilder().ethernet().ipv4(kA, kB).gre().ipv4(kB, kA).tcp(1, 2).build(),
       LinkType::kEthernet, false},
      {"cooked", FrameBuilder().sll().ipv4(kA, kB).tcp(1, 2).build(), LinkType::kLinuxSll, false},
      {"truncated",
       [] {
         Bytes f = FrameBuilder().ethernet().ipv4(kA, kB).tcp(1, 2).build();
         f.resize(30);
         return f;
       }(),
       LinkType::kEthernet, false},
  };
  for (const Case& c : cases) {
    const std::optional<uint32_t> quick = quick_worker_hash(
        c.link, c.frame.data(), static_cast<uint32_t>(c.frame.size()), options, 7);
    EXPECT_EQ(quick.has_value(), c.quick) << c.what;
    if (!quick) continue;
    Decoder d(options);
    PacketView v;
    ASSERT_EQ(run(d, c.frame, v, c.link), DecodeStatus::kOk) << c.what;
    EXPECT_EQ(*quick, worker_hash(v, 7)) << c.what;
  }
}

}  // namespace spanguard::decode
