// Response frames decode back to exactly what was asked for, with checksums the decoder (and a
// Linux receiver) accepts.
#include "spanguard/respond/frame_builder.h"

#include <gtest/gtest.h>

#include "frame_builder.h"
#include "spanguard/decode/decoder.h"

namespace spanguard::respond {
namespace {

namespace tf = decode::tcp_flag;

core::IpAddress ip(const char* text) { return *core::IpAddress::parse(text); }

struct Decoded {
  decode::DecodeStatus status;
  decode::PacketView view;
};

Decoded decode_frame(std::span<const uint8_t> frame, bool link_layer) {
  decode::Decoder decoder(decode::DecoderOptions{.validate_checksums = true});
  Decoded d;
  d.status = decoder.decode(link_layer ? decode::LinkType::kEthernet : decode::LinkType::kRawIp,
                            frame.data(), static_cast<uint32_t>(frame.size()),
                            static_cast<uint32_t>(frame.size()), {}, d.view);
  // A wrong checksum is only flagged by the decoder; here it makes the frame one to reject.
  if (d.status == decode::DecodeStatus::kOk && d.view.bad_checksum)
    d.status = decode::DecodeStatus::kMalformed;
  return d;
}

TcpSegmentSpec rst_spec(const char* src, const char* dst) {
  TcpSegmentSpec s;
  s.ip.src = ip(src);
  s.ip.dst = ip(dst);
  s.ip.ttl = 57;
  s.ip.ip_id = 0x1234;
  s.src_port = 40000;
  s.dst_port = 80;
  s.seq = 0xfffffff0u;
  s.ack = 12345;
  s.flags = tf::kRst | tf::kAck;
  return s;
}

TEST(ResponseFrames, Ipv4RstDecodesWithValidChecksums) {
  LinkHeader link;
  link.dst = {0x02, 0, 0, 0, 0, 0x02};
  link.src = {0x02, 0, 0, 0, 0, 0x99};
  std::array<uint8_t, kMaxFrame> buf{};
  const size_t n = build_tcp(&link, rst_spec("198.51.100.1", "198.51.100.2"), buf);
  ASSERT_EQ(n, 54u);
  const Decoded d = decode_frame({buf.data(), n}, true);
  ASSERT_EQ(d.status, decode::DecodeStatus::kOk);
  const decode::PacketView& v = d.view;
  EXPECT_EQ(v.src_ip().to_string(), "198.51.100.1");
  EXPECT_EQ(v.dst_ip().to_string(), "198.51.100.2");
  EXPECT_EQ(v.src_port, 40000);
  EXPECT_EQ(v.dst_port, 80);
  EXPECT_EQ(v.seq, 0xfffffff0u);
  EXPECT_EQ(v.ack, 12345u);
  EXPECT_EQ(v.tcp_flags, tf::kRst | tf::kAck);
  EXPECT_EQ(v.ttl, 57);
  EXPECT_EQ(v.ip_id, 0x1234);
  EXPECT_EQ(v.payload_len, 0u);
  EXPECT_EQ(v.vlan_count, 0);
  EXPECT_EQ(0, std::memcmp(buf.data(), link.dst.data(), 6));
  EXPECT_EQ(0, std::memcmp(buf.data() + 6, link.src.data(), 6));
}

TEST(ResponseFrames, CorruptingAByteBreaksTheChecksum) {
  std::array<uint8_t, kMaxFrame> buf{};
  const size_t n = build_tcp(nullptr, rst_spec("198.51.100.1", "198.51.100.2"), buf);
  ASSERT_EQ(decode_frame({buf.data(), n}, false).status, decode::DecodeStatus::kOk);
  buf[20 + 7] ^= 0x01;  // a bit of the TCP sequence number
  EXPECT_NE(decode_frame({buf.data(), n}, false).status, decode::DecodeStatus::kOk);
}

TEST(ResponseFrames, Ipv6RstDecodesWithValidChecksums) {
  LinkHeader link;
  std::array<uint8_t, kMaxFrame> buf{};
  const size_t n = build_tcp(&link, rst_spec("2001:db8::1", "2001:db8::2"), buf);
  ASSERT_EQ(n, 14u + 40 + 20);
  const Decoded d = decode_frame({buf.data(), n}, true);
  ASSERT_EQ(d.status, decode::DecodeStatus::kOk);
  EXPECT_EQ(d.view.ip_version, 6);
  EXPECT_EQ(d.view.src_ip().to_string(), "2001:db8::1");
  EXPECT_EQ(d.view.ttl, 57);
  EXPECT_EQ(d.view.seq, 0xfffffff0u);
}

TEST(ResponseFrames, QinQTagsAreReproducedOutermostFirst) {
  LinkHeader link;
  link.vlan_count = 2;
  link.vlan_tpids[0] = 0x88a8;
  link.vlan_ids[0] = 300;
  link.vlan_tpids[1] = 0x8100;
  link.vlan_ids[1] = 42;
  std::array<uint8_t, kMaxFrame> buf{};
  const size_t n = build_tcp(&link, rst_spec("198.51.100.1", "198.51.100.2"), buf);
  ASSERT_EQ(n, 54u + 8);
  const Decoded d = decode_frame({buf.data(), n}, true);
  ASSERT_EQ(d.status, decode::DecodeStatus::kOk);
  ASSERT_EQ(d.view.vlan_count, 2);
  EXPECT_EQ(d.view.vlan_tpids[0], 0x88a8);
  EXPECT_EQ(d.view.vlan_ids[0], 300);
  EXPECT_EQ(d.view.vlan_tpids[1], 0x8100);
  EXPECT_EQ(d.view.vlan_ids[1], 42);
}

TEST(ResponseFrames, RefusesABufferTooSmallOrMixedFamilies) {
  std::array<uint8_t, 53> small{};
  LinkHeader link;
  EXPECT_EQ(build_tcp(&link, rst_spec("198.51.100.1", "198.51.100.2"), small), 0u);
  std::array<uint8_t, kMaxFrame> buf{};
  EXPECT_EQ(build_tcp(&link, rst_spec("198.51.100.1", "2001:db8::2"), buf), 0u);
}

TEST(ResponseFrames, IcmpPortUnreachableQuotesTheOffendingDatagram) {
  const testing::Bytes udp = testing::FrameBuilder()
                                 .ethernet()
                                 .ipv4("198.51.100.1", "198.51.100.2")
                                 .udp(5353, 53)
                                 .payload("query")
                                 .build();
  const Decoded offending = decode_frame(udp, true);
  ASSERT_EQ(offending.status, decode::DecodeStatus::kOk);
  LinkHeader link;
  std::array<uint8_t, kMaxFrame> buf{};
  const size_t n = build_icmp_unreachable(&link, offending.view, 3, 61, 7, buf);
  ASSERT_EQ(n, 14u + 20 + 8 + (20 + 8 + 5));
  const Decoded d = decode_frame({buf.data(), n}, true);
  ASSERT_EQ(d.status, decode::DecodeStatus::kOk);
  EXPECT_EQ(d.view.ip_proto, decode::ip_proto::kIcmp);
  EXPECT_EQ(d.view.icmp_type, 3);
  EXPECT_EQ(d.view.icmp_code, 3);
  EXPECT_EQ(d.view.src_ip().to_string(), "198.51.100.2");                 // from the destination
  EXPECT_EQ(d.view.dst_ip().to_string(), "198.51.100.1");                 // to the sender
  EXPECT_EQ(checksum_fold(checksum_add(0, buf.data() + 34, n - 34)), 0);  // ICMP checksum holds
  EXPECT_EQ(0, std::memcmp(buf.data() + 42, udp.data() + 14, 20 + 8 + 5));
}

TEST(ResponseFrames, Icmpv6UnreachableCarriesAValidPseudoHeaderChecksum) {
  const testing::Bytes udp = testing::FrameBuilder()
                                 .ethernet()
                                 .ipv6("2001:db8::1", "2001:db8::2")
                                 .udp(5353, 53)
                                 .payload("query")
                                 .build();
  const Decoded offending = decode_frame(udp, true);
  ASSERT_EQ(offending.status, decode::DecodeStatus::kOk);
  LinkHeader link;
  std::array<uint8_t, kMaxFrame> buf{};
  const size_t n = build_icmp_unreachable(&link, offending.view, 4, 64, 0, buf);
  ASSERT_GT(n, 0u);
  const Decoded d = decode_frame({buf.data(), n}, true);
  ASSERT_EQ(d.status, decode::DecodeStatus::kOk);
  EXPECT_EQ(d.view.ip_proto, decode::ip_proto::kIcmpv6);
  EXPECT_EQ(d.view.icmp_type, 1);
  EXPECT_EQ(d.view.icmp_code, 4);
  // RFC 4443 §2.3: the checksum covers the pseudo-header.
  uint32_t sum = checksum_add(0, buf.data() + 14 + 8, 32);
  sum += decode::ip_proto::kIcmpv6 + static_cast<uint32_t>(n - 54);
  EXPECT_EQ(checksum_fold(checksum_add(sum, buf.data() + 54, n - 54)), 0);
}

}  // namespace
}  // namespace spanguard::respond
