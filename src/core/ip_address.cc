// Text conversion and prefix matching for IpAddress/IpNetwork.
#include "spanguard/core/ip_address.h"

#include <arpa/inet.h>

#include <charconv>

namespace spanguard::core {

IpAddress IpAddress::v4(const uint8_t* network_order_bytes) {
  IpAddress a;
  a.family_ = 4;
  std::memcpy(a.bytes_.data(), network_order_bytes, 4);
  return a;
}

IpAddress IpAddress::v6(const uint8_t* network_order_bytes) {
  IpAddress a;
  a.family_ = 6;
  std::memcpy(a.bytes_.data(), network_order_bytes, 16);
  return a;
}

IpAddress IpAddress::v4(uint32_t host_order) {
  const uint8_t b[4] = {static_cast<uint8_t>(host_order >> 24),
                        static_cast<uint8_t>(host_order >> 16),
                        static_cast<uint8_t>(host_order >> 8), static_cast<uint8_t>(host_order)};
  return v4(b);
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  uint8_t raw[16];
  if (inet_pton(AF_INET, buf, raw) == 1) return v4(raw);
  if (inet_pton(AF_INET6, buf, raw) == 1) return v6(raw);
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = "";
  if (family_ == 4) {
    // By hand: glibc's inet_ntop formats IPv4 through sprintf, the costliest part of an EVE
    // record's addresses.
    char* p = buf;
    for (int i = 0; i < 4; ++i) {
      if (i > 0) *p++ = '.';
      p = std::to_chars(p, buf + sizeof buf, bytes_[static_cast<size_t>(i)]).ptr;
    }
    return std::string(buf, static_cast<size_t>(p - buf));
  } else if (family_ == 6) {
    inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf);
  }
  return buf;
}

namespace {

IpAddress mask_host_bits(const IpAddress& a, int prefix_len) {
  uint8_t raw[16];
  std::memcpy(raw, a.bytes(), a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const int bits = prefix_len - static_cast<int>(i) * 8;
    if (bits >= 8) continue;
    raw[i] &= bits <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
  }
  return a.is_v4() ? IpAddress::v4(raw) : IpAddress::v6(raw);
}

}  // namespace

IpNetwork::IpNetwork(IpAddress base, int prefix_len)
    : base_(mask_host_bits(base, prefix_len)), prefix_len_(prefix_len) {}

std::optional<IpNetwork> IpNetwork::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  const int max_len = address->is_v4() ? 32 : 128;
  if (slash == std::string_view::npos) return IpNetwork(*address, max_len);
  const auto len_text = text.substr(slash + 1);
  int len = -1;
  const auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  if (ec != std::errc() || end != len_text.data() + len_text.size() || len < 0 || len > max_len) {
    return std::nullopt;
  }
  return IpNetwork(*address, len);
}

bool IpNetwork::contains(const IpAddress& address) const {
  if (address.family() != base_.family()) return false;
  const uint8_t* a = address.bytes();
  const uint8_t* b = base_.bytes();
  const int full = prefix_len_ / 8;
  if (std::memcmp(a, b, static_cast<size_t>(full)) != 0) return false;
  const int rest = prefix_len_ % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == b[full];
}

std::string IpNetwork::to_string() const {
  return base_.to_string() + "/" + std::to_string(prefix_len_);
}

}  // namespace spanguard::core
