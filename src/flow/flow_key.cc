// Canonical keys and their seeded hash.
#include "spanguard/flow/flow_key.h"

namespace spanguard::flow {

FlowKey make_flow_key(const decode::PacketView& v, bool vlan_aware, bool& source_is_first) {
  FlowKey k;
  k.family = v.ip_version;
  k.proto = v.ip_proto;
  k.vlan = vlan_aware && v.vlan_count > 0 ? v.vlan_ids[0] : 0;
  const size_t alen = v.ip_version == 4 ? 4 : 16;
  const uint8_t* src = v.data + v.l3_offset + (v.ip_version == 4 ? 12 : 8);
  const uint8_t* dst = src + alen;
  // Ports identify endpoints for TCP and UDP; other protocols pair addresses only.
  const bool ported = v.ip_proto == decode::ip_proto::kTcp || v.ip_proto == decode::ip_proto::kUdp;
  const uint16_t sport = ported ? v.src_port : 0;
  const uint16_t dport = ported ? v.dst_port : 0;
  const int c = std::memcmp(src, dst, alen);
  source_is_first = c < 0 || (c == 0 && sport <= dport);
  const uint8_t* first = source_is_first ? src : dst;
  const uint8_t* second = source_is_first ? dst : src;
  std::memcpy(k.addr[0].data(), first, alen);
  std::memcpy(k.addr[1].data(), second, alen);
  k.port[0] = source_is_first ? sport : dport;
  k.port[1] = source_is_first ? dport : sport;
  return k;
}

namespace {
inline uint64_t mix(uint64_t x) {
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  return x;
}
inline uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
}  // namespace

uint64_t hash_flow_key(const FlowKey& k, uint64_t seed) {
  uint64_t h = seed ^ (static_cast<uint64_t>(k.proto) << 56 |
                       static_cast<uint64_t>(k.family) << 48 | static_cast<uint64_t>(k.vlan) << 32 |
                       static_cast<uint64_t>(k.port[0]) << 16 | k.port[1]);
  h = mix(h ^ load64(k.addr[0].data()));
  h = mix(h ^ load64(k.addr[0].data() + 8));
  h = mix(h ^ load64(k.addr[1].data()));
  h = mix(h ^ load64(k.addr[1].data() + 8));
  return h;
}

core::IpAddress endpoint_address(const FlowKey& key, int endpoint) {
  const uint8_t* raw = key.addr[endpoint].data();
  return key.family == 4 ? core::IpAddress::v4(raw) : core::IpAddress::v6(raw);
}

}  // namespace spanguard::flow
