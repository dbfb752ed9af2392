// IP addresses and CIDR networks.
#include "spanguard/core/ip_address.h"

#include <gtest/gtest.h>

namespace spanguard::core {
namespace {

TEST(IpAddress, ParsesAndFormatsBothFamilies) {
  EXPECT_EQ(IpAddress::parse("198.51.100.7")->to_string(), "198.51.100.7");
  EXPECT_EQ(IpAddress::parse("0.0.0.0")->to_string(), "0.0.0.0");
  EXPECT_EQ(IpAddress::parse("255.255.255.255")->to_string(), "255.255.255.255");
  EXPECT_EQ(IpAddress::parse("10.0.100.9")->to_string(), "10.0.100.9");
  EXPECT_TRUE(IpAddress::parse("198.51.100.7")->is_v4());
  EXPECT_EQ(IpAddress::parse("2001:db8:0::1")->to_string(), "2001:db8::1");
  EXPECT_TRUE(IpAddress::parse("2001:db8::1")->is_v6());
  EXPECT_FALSE(IpAddress::parse("198.51.100.256"));
  EXPECT_FALSE(IpAddress::parse(""));
  EXPECT_FALSE(IpAddress::parse("host.example"));
  EXPECT_EQ(IpAddress::v4(0xc6336407u).to_string(), "198.51.100.7");
}

TEST(IpAddress, OrdersAndComparesByFamilyThenBytes) {
  EXPECT_EQ(*IpAddress::parse("198.51.100.1"), *IpAddress::parse("198.51.100.1"));
  EXPECT_LT(*IpAddress::parse("198.51.100.1"), *IpAddress::parse("198.51.100.2"));
  EXPECT_NE(*IpAddress::parse("::ffff:198.51.100.1"), *IpAddress::parse("198.51.100.1"));
}

TEST(IpNetwork, ContainsRespectsPrefixAndFamily) {
  const IpNetwork net = *IpNetwork::parse("198.51.100.0/25");
  EXPECT_TRUE(net.contains(*IpAddress::parse("198.51.100.127")));
  EXPECT_FALSE(net.contains(*IpAddress::parse("198.51.100.128")));
  EXPECT_FALSE(net.contains(*IpAddress::parse("2001:db8::1")));
  const IpNetwork v6 = *IpNetwork::parse("2001:db8::/33");
  EXPECT_TRUE(v6.contains(*IpAddress::parse("2001:db8:7fff::1")));
  EXPECT_FALSE(v6.contains(*IpAddress::parse("2001:db8:8000::1")));
  EXPECT_TRUE(IpNetwork::parse("0.0.0.0/0")->contains(*IpAddress::parse("198.51.100.9")));
}

TEST(IpNetwork, ClearsHostBitsAndRejectsBadPrefixes) {
  EXPECT_EQ(IpNetwork::parse("198.51.100.77/24")->to_string(), "198.51.100.0/24");
  EXPECT_EQ(IpNetwork::parse("198.51.100.77")->to_string(), "198.51.100.77/32");
  EXPECT_FALSE(IpNetwork::parse("198.51.100.0/33"));
  EXPECT_FALSE(IpNetwork::parse("2001:db8::/129"));
  EXPECT_FALSE(IpNetwork::parse("198.51.100.0/"));
  EXPECT_FALSE(IpNetwork::parse("198.51.100.0/2x"));
}

}  // namespace
}  // namespace spanguard::core
