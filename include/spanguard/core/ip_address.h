// An IPv4 or IPv6 address held in 16 bytes (IPv4 in the first four), comparable and hashable, and
// CIDR networks over it. Shared by flow keys, rule address sets and configuration.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace spanguard::core {

class IpAddress {
 public:
  IpAddress() = default;
  static IpAddress v4(const uint8_t* network_order_bytes);
  static IpAddress v6(const uint8_t* network_order_bytes);
  static IpAddress v4(uint32_t host_order);
  // Parses dotted-quad IPv4 or any RFC 4291 text form of IPv6; nullopt when it is neither.
  static std::optional<IpAddress> parse(std::string_view text);

  bool is_v4() const { return family_ == 4; }
  bool is_v6() const { return family_ == 6; }
  int family() const { return family_; }  // 4, 6, or 0 when unset
  const uint8_t* bytes() const { return bytes_.data(); }
  size_t size() const { return family_ == 4 ? 4 : 16; }
  std::string to_string() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  uint8_t family_ = 0;
  std::array<uint8_t, 16> bytes_{};
};

class IpNetwork {
 public:
  IpNetwork() = default;
  IpNetwork(IpAddress base, int prefix_len);
  // "198.51.100.0/24", "2001:db8::/32", or a bare address (a host network).
  static std::optional<IpNetwork> parse(std::string_view text);

  bool contains(const IpAddress& address) const;
  const IpAddress& base() const { return base_; }
  int prefix_len() const { return prefix_len_; }
  std::string to_string() const;

  friend bool operator==(const IpNetwork&, const IpNetwork&) = default;

 private:
  IpAddress base_;  // host bits cleared
  int prefix_len_ = 0;
};

}  // namespace spanguard::core
