#include "spanguard/detect/header_index.h"

#include <algorithm>
#include <cstring>
#include <optional>

namespace spanguard::detect {

namespace {

// How many addresses a network list may let through, as the host bits of its widest network
// (IPv6 counted from /64 down, the size of one site's subnet).
int host_bits(const std::vector<core::IpNetwork>& cover) {
  int widest = 0;
  for (const core::IpNetwork& n : cover) {
    const int bits = n.base().is_v4() ? 32 - n.prefix_len() : std::max(0, 64 - n.prefix_len());
    widest = std::max(widest, bits);
  }
  return widest;
}

size_t port_count(const std::vector<std::pair<uint16_t, uint16_t>>& cover) {
  size_t n = 0;
  for (const auto& [lo, hi] : cover) n += static_cast<size_t>(hi) - lo + 1;
  return n;
}

// An address list this narrow selects better than any port list; up to kWideHostBits it still
// selects better than nothing.
constexpr int kNarrowHostBits = 16;
constexpr int kWideHostBits = 24;
constexpr size_t kMaxIndexedPorts = 1024;

}  // namespace

size_t HeaderIndex::AddressIndex::Hash::operator()(const core::IpAddress& a) const {
  uint64_t lo = 0, hi = 0;
  std::memcpy(&lo, a.bytes(), std::min<size_t>(a.size(), 8));
  if (a.size() > 8) std::memcpy(&hi, a.bytes() + 8, 8);
  uint64_t h = (lo ^ (hi * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
  return static_cast<size_t>(h ^ (h >> 32));
}

void HeaderIndex::AddressIndex::add(const core::IpNetwork& network, uint32_t rule) {
  const int family = network.base().family();
  auto level = std::find_if(levels_.begin(), levels_.end(), [&](const Level& l) {
    return l.family == family && l.prefix_len == network.prefix_len();
  });
  if (level == levels_.end()) {
    levels_.push_back(Level{family, network.prefix_len(), {}});
    level = levels_.end() - 1;
  }
  std::vector<uint32_t>& list = level->rules[network.base()];
  if (list.empty() || list.back() != rule) list.push_back(rule);
}

void HeaderIndex::PortIndex::add(uint16_t port, uint32_t rule) {
  std::vector<uint32_t>& list = rules_[port];
  if (list.empty() || list.back() != rule) list.push_back(rule);
}

void HeaderIndex::add(uint32_t index, const rules::Rule& rule) {
  const Side src_side = rule.bidirectional ? kEither : kSrc;
  const Side dst_side = rule.bidirectional ? kEither : kDst;

  // The narrower address side, if either is bounded at all.
  std::optional<std::vector<core::IpNetwork>> addresses;
  Side address_side = kSrc;
  int address_bits = 0;
  for (const bool source : {true, false}) {
    auto cover = (source ? rule.src : rule.dst).cover();
    if (!cover) continue;
    const int bits = host_bits(*cover);
    if (!addresses || bits < address_bits) {
      addresses = std::move(cover);
      address_side = source ? src_side : dst_side;
      address_bits = bits;
    }
  }
  const auto file_by_address = [&] {
    for (const core::IpNetwork& n : *addresses) addresses_[address_side].add(n, index);
    ++stats_.by_address;
  };
  if (addresses && address_bits <= kNarrowHostBits) return file_by_address();

  // The port side with fewer ports.
  std::optional<std::vector<std::pair<uint16_t, uint16_t>>> ports;
  Side port_side = kDst;
  for (const bool destination : {true, false}) {
    auto cover = (destination ? rule.dst_ports : rule.src_ports).cover();
    if (!cover || port_count(*cover) > kMaxIndexedPorts) continue;
    if (!ports || port_count(*cover) < port_count(*ports)) {
      ports = std::move(cover);
      port_side = destination ? dst_side : src_side;
    }
  }
  if (ports) {
    for (const auto& [lo, hi] : *ports) {
      for (uint32_t p = lo; p <= hi; ++p) ports_[port_side].add(static_cast<uint16_t>(p), index);
    }
    ++stats_.by_port;
    return;
  }
  if (addresses && address_bits <= kWideHostBits) return file_by_address();
  generic_.push_back(index);
  ++stats_.generic;
}

}  // namespace spanguard::detect
