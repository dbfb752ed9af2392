// The canonical flow key: both directions of a conversation map to the same key (the lower endpoint
// first), so one flow holds both. Hashed with a per-process random seed against hash flooding.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

#include "spanguard/core/ip_address.h"
#include "spanguard/decode/packet_view.h"

namespace spanguard::flow {

struct FlowKey {
  std::array<uint8_t, 16> addr[2]{};  // endpoint 0 is the lower (address, port) pair
  uint16_t port[2]{};
  uint16_t vlan = 0;  // outermost VLAN id when flow.vlan_aware, else 0
  uint8_t proto = 0;
  uint8_t family = 0;  // 4 or 6

  friend bool operator==(const FlowKey&, const FlowKey&) = default;
};

// The key of an IP packet whose layer 4 was decoded; `source_is_first` tells whether the packet
// travels from endpoint 0 to endpoint 1.
FlowKey make_flow_key(const decode::PacketView& v, bool vlan_aware, bool& source_is_first);

uint64_t hash_flow_key(const FlowKey& key, uint64_t seed);

// The address of endpoint 0 or 1.
core::IpAddress endpoint_address(const FlowKey& key, int endpoint);

}  // namespace spanguard::flow
