// A flow: one conversation (both directions) as the session table knows it, with what the later
// stages keep per flow hanging off typed slots so that an idle flow stays small.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "spanguard/core/time.h"
#include "spanguard/flow/flow_key.h"
#include "spanguard/flow/tcp_tracker.h"

namespace spanguard::flow {

// Per-flow state of a later stage (stream reassembly, detection, response), allocated by that stage
// only once the flow needs it and destroyed with the flow.
class FlowData {
 public:
  virtual ~FlowData() = default;
};

enum class FlowSlot : uint8_t { kStream, kDetect, kApp, kRespond, kCount };

enum class EndReason : uint8_t {
  kClosed,    // FIN exchange or accepted RST, then the closed-state timeout
  kTimeout,   // idle past its timeout
  kReused,    // a new SYN on the 4-tuple of a closed or closing session
  kEvicted,   // removed to make room (memcap, max_flows, emergency mode)
  kShutdown,  // end of capture or sensor shutdown
};
const char* to_string(EndReason r);

// What was last seen of each endpoint, for responses that must look like it (MACs, VLAN tags, TTL).
struct EndpointTrace {
  std::array<uint8_t, 6> mac{};       // source MAC of its frames
  std::array<uint8_t, 6> peer_mac{};  // destination MAC of its frames
  uint16_t vlan_ids[decode::kMaxVlanTags] = {};
  uint16_t vlan_tpids[decode::kMaxVlanTags] = {};
  uint8_t vlan_count = 0;
  uint8_t ttl = 0;
  bool has_mac = false;
};

struct Flow {
  FlowKey key;
  uint64_t flow_id = 0;  // stable id, below 2^51 so that JSON readers keep it exact
  core::Timestamp first_seen{};
  core::Timestamp last_seen{};
  uint64_t packets[2] = {0, 0};  // by Direction
  uint64_t bytes[2] = {0, 0};
  bool client_is_first = true;  // the client is key endpoint 0
  bool closed = false;          // TCP close seen: the closed-state timeout applies
  bool alerted = false;         // a rule alerted on it
  bool reset = false;           // a response tore it down: no more inspection or resets
  uint8_t timeout_class = 0;    // cached index into the timeout table (see FlowTable)
  TcpTracker tcp;               // meaningful for TCP flows only
  EndpointTrace endpoint[2];    // by Direction of the endpoint's packets
  std::array<std::unique_ptr<FlowData>, static_cast<size_t>(FlowSlot::kCount)> data;

  // Intrusive links: the hash chain and the expiry wheel.
  Flow* hash_next = nullptr;
  Flow* wheel_prev = nullptr;
  Flow* wheel_next = nullptr;
  int64_t wheel_tick = 0;  // the expiry tick it is filed under
  bool young = false;      // in the half-open list (evicted first under pressure)
  Flow* young_prev = nullptr;
  Flow* young_next = nullptr;

  FlowData* get(FlowSlot s) const { return data[static_cast<size_t>(s)].get(); }
  void set(FlowSlot s, std::unique_ptr<FlowData> d) { data[static_cast<size_t>(s)] = std::move(d); }
  bool is_tcp() const { return key.proto == decode::ip_proto::kTcp; }
};

}  // namespace spanguard::flow
