// Community ID v1 against the spec's published baselines, plus the ordering, one-way ICMP and
// port-less rules that the baselines only exercise indirectly.
#include "spanguard/core/community_id.h"

#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spanguard::core {
namespace {

IpAddress ip(std::string_view text) {
  const std::optional<IpAddress> address = IpAddress::parse(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address.value_or(IpAddress{});
}

struct Vector {
  uint8_t proto;
  std::string_view src;
  std::string_view dst;
  uint16_t src_port;  // ICMP/ICMPv6: message type
  uint16_t dst_port;  // ICMP/ICMPv6: message code
  uint16_t seed;
  std::string_view expected;
};

// Published test vectors. Sources, github.com/corelight/community-id-spec:
//  - baseline/README.md, tables "Default settings" (seed 0) and "A custom seed=1 value";
//  - baseline/baseline_deflt.json (seed 0; flows of pcaps/combined.pcap.gz). That file lists
//    ICMP flows by their port equivalents: (type, counterpart type) for request/reply types,
//    (type, code) otherwise; the codes of request/reply types do not enter the hash, so 0 is
//    passed for them here.
// Port-less protocols (RSVP, 46) have no ports in the sources; 0 is passed and must be ignored.
const std::vector<Vector>& published_vectors() {
  static const std::vector<Vector> vectors = {
      // baseline/README.md, default settings (seed 0)
      {6, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
      {6, "5.6.7.8", "1.2.3.4", 3344, 1122, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
      {17, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
      {17, "5.6.7.8", "1.2.3.4", 3344, 1122, 0, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
      {132, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="},
      {132, "5.6.7.8", "1.2.3.4", 3344, 1122, 0, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="},
      {1, "1.2.3.4", "5.6.7.8", 8, 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="},   // echo request
      {1, "5.6.7.8", "1.2.3.4", 0, 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="},   // echo reply
      {1, "1.2.3.4", "5.6.7.8", 11, 0, 0, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk="},  // time exceeded
      {58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",
       128, 0, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="},  // echo request
      {58, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
       129, 0, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="},  // echo reply
      {58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",
       146, 0, 0, "1:fYC8+pz24E+EhANP1EZhpX0Dw10="},  // unpaired type
      {46, "1.2.3.4", "5.6.7.8", 0, 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768="},
      {46, "5.6.7.8", "1.2.3.4", 0, 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768="},
      {46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 0,
       0, 0, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0="},
      {46, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", 0,
       0, 0, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0="},

      // baseline/README.md, seed 1
      {6, "1.2.3.4", "5.6.7.8", 1122, 3344, 1, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
      {6, "5.6.7.8", "1.2.3.4", 3344, 1122, 1, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
      {17, "1.2.3.4", "5.6.7.8", 1122, 3344, 1, "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
      {132, "5.6.7.8", "1.2.3.4", 3344, 1122, 1, "1:uitchpn5MMGAQKBJh7bIr/bAr7s="},
      {1, "1.2.3.4", "5.6.7.8", 8, 0, 1, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
      {1, "5.6.7.8", "1.2.3.4", 0, 0, 1, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
      {1, "1.2.3.4", "5.6.7.8", 11, 0, 1, "1:1DD7cWGC/Yg91YGsQeni8du3pIA="},
      {58, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
       129, 0, 1, "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
      {58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",
       146, 0, 1, "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s="},
      {46, "5.6.7.8", "1.2.3.4", 0, 0, 1, "1:/buhqeOmaRCopOZFy9HnoJd5XW8="},
      {46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 0,
       0, 1, "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="},

      // baseline/baseline_deflt.json (seed 0)
      {6, "128.232.110.120", "66.35.250.204", 34855, 80, 0, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
      {6, "66.35.250.204", "128.232.110.120", 80, 34855, 0, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
      {6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, 0,
       "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
      {6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, 0,
       "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
      {17, "192.168.1.52", "8.8.8.8", 54585, 53, 0, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
      {17, "8.8.8.8", "192.168.1.52", 53, 54585, 0, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
      {132, "192.168.170.8", "192.168.170.56", 7, 7, 0, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
      {132, "192.168.170.56", "192.168.170.8", 7, 7, 0, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
      {1, "192.168.0.89", "192.168.0.1", 8, 0, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
      {1, "192.168.0.1", "192.168.0.89", 0, 0, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
      {1, "10.0.0.1", "10.0.0.2", 11, 0, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM="},
      // neighbour solicitation / advertisement, both ways, then the other host soliciting
      {58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 0, 0,
       "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
      {58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 0, 0,
       "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
      {58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 0, 0,
       "1:zavyT/cezQr1fmImYCwYnMXbgck="},
      {58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 136, 0, 0,
       "1:zavyT/cezQr1fmImYCwYnMXbgck="},
      {58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0, 0,
       "1:2ObVBgIn28oZvibYZhZMBgh7WdQ="},  // time exceeded
      {58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4, 0,
       "1:hLZd0XGWojozrvxqE0dWB1iM6R0="},  // destination unreachable, port unreachable
      {58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 0, 0,
       "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="},
      {58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 0, 0,
       "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="},
      {58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 0, 0, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0="},
      {58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 0, 0, "1:pkvHqCL88/tg1k4cPigmZXUtL00="},
      {46, "10.1.12.1", "10.1.12.2", 0, 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
      {46, "10.1.12.2", "10.1.12.1", 0, 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
  };
  return vectors;
}

TEST(CommunityIdV1, MatchesPublishedBaselines) {
  for (const Vector& v : published_vectors()) {
    EXPECT_EQ(community_id_v1(ip(v.src), v.src_port, ip(v.dst), v.dst_port, v.proto, v.seed),
              v.expected)
        << "proto " << int{v.proto} << " " << v.src << ":" << v.src_port << " -> " << v.dst << ":"
        << v.dst_port << " seed " << v.seed;
  }
}

TEST(CommunityIdV1, FixedBufferFormMatchesStringForm) {
  for (const Vector& v : published_vectors()) {
    std::array<char, kCommunityIdV1Length> out;
    ASSERT_TRUE(
        community_id_v1(out, ip(v.src), v.src_port, ip(v.dst), v.dst_port, v.proto, v.seed));
    EXPECT_EQ(std::string_view(out.data(), out.size()), v.expected);
  }
}

TEST(CommunityIdV1, BothDirectionsOfAFlowShareOneId) {
  const IpAddress client = ip("198.51.100.7");
  const IpAddress server = ip("203.0.113.80");
  for (const uint8_t proto : {6, 17, 132}) {
    EXPECT_EQ(community_id_v1(client, 49152, server, 443, proto),
              community_id_v1(server, 443, client, 49152, proto));
  }
  // ICMP timestamp (13) / timestamp reply (14) is a request/reply pair like echo.
  EXPECT_EQ(community_id_v1(client, 13, server, 0, 1), community_id_v1(server, 14, client, 0, 1));
}

TEST(CommunityIdV1, EqualAddressesAreOrderedByPort) {
  const IpAddress host = ip("2001:db8::1");
  EXPECT_EQ(community_id_v1(host, 5000, host, 80, 6), community_id_v1(host, 80, host, 5000, 6));
  EXPECT_NE(community_id_v1(host, 5000, host, 80, 6), community_id_v1(host, 5000, host, 81, 6));
}

TEST(CommunityIdV1, UnpairedIcmpTypesKeepTheirDirection) {
  // The baseline only has the 1.2.3.4 -> 5.6.7.8 direction (1:f/YiSy...). Seen the other way, a
  // one-way type is hashed as seed 0 | 5.6.7.8 | 1.2.3.4 | 1 | 0 | 11 | 0, not reordered; the
  // expected value was computed from that byte layout with Python's hashlib (not published).
  EXPECT_EQ(community_id_v1(ip("5.6.7.8"), 11, ip("1.2.3.4"), 0, 1),
            "1:1Vae9INpTJ+fZaSmjhtK/hyOPac=");
  EXPECT_NE(community_id_v1(ip("5.6.7.8"), 11, ip("1.2.3.4"), 0, 1),
            community_id_v1(ip("1.2.3.4"), 11, ip("5.6.7.8"), 0, 1));
}

TEST(CommunityIdV1, IcmpCodeCountsOnlyForUnpairedTypes) {
  const IpAddress a = ip("192.0.2.1");
  const IpAddress b = ip("192.0.2.2");
  // Echo request: the counterpart type replaces the code.
  EXPECT_EQ(community_id_v1(a, 8, b, 0, 1), community_id_v1(a, 8, b, 5, 1));
  // Destination unreachable: the code is the second "port".
  EXPECT_NE(community_id_v1(a, 3, b, 1, 1), community_id_v1(a, 3, b, 3, 1));
}

TEST(CommunityIdV1, PortlessProtocolsIgnoreThePorts) {
  // GRE (47) hashes addresses and protocol only, so whatever the caller passes as ports is moot.
  const IpAddress a = ip("192.0.2.1");
  const IpAddress b = ip("192.0.2.2");
  EXPECT_EQ(community_id_v1(a, 0, b, 0, 47), community_id_v1(a, 1234, b, 80, 47));
  EXPECT_EQ(community_id_v1(ip("1.2.3.4"), 1122, ip("5.6.7.8"), 3344, 46),
            "1:ikv3kmf89luf73WPz1jOs49S768=");
}

TEST(CommunityIdV1, SeedChangesTheId) {
  const IpAddress a = ip("1.2.3.4");
  const IpAddress b = ip("5.6.7.8");
  EXPECT_NE(community_id_v1(a, 1122, b, 3344, 6, 0), community_id_v1(a, 1122, b, 3344, 6, 1));
  EXPECT_NE(community_id_v1(a, 1122, b, 3344, 6, 1), community_id_v1(a, 1122, b, 3344, 6, 256));
}

TEST(CommunityIdV1, RefusesUnsetOrMixedFamilyAddresses) {
  EXPECT_EQ(community_id_v1(ip("192.0.2.1"), 1, ip("2001:db8::1"), 2, 6), "");
  EXPECT_EQ(community_id_v1(IpAddress{}, 1, IpAddress{}, 2, 6), "");
  std::array<char, kCommunityIdV1Length> out;
  out.fill('x');
  EXPECT_FALSE(community_id_v1(out, ip("192.0.2.1"), 1, IpAddress{}, 2, 17));
  EXPECT_EQ(std::string_view(out.data(), out.size()), std::string(kCommunityIdV1Length, 'x'));
}

}  // namespace
}  // namespace spanguard::core
