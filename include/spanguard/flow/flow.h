// A flow: one conversation (both directions) as the session table knows it, with what the later
// stages keep per flow hanging off typed slots so that an idle flow stays small.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

#include "spanguard/core/app_proto.h"
#include "spanguard/core/time.h"
#include "spanguard/flow/flow_key.h"
#include "spanguard/flow/tcp_tracker.h"

namespace spanguard::flow {

// Per-flow state of a later stage (stream reassembly, application layer, detection, response),
// allocated by that stage only once the flow needs it and destroyed with the flow.
class FlowData {
 public:
  virtual ~FlowData() = default;
};

// Slots for FlowData are handed out by name at start-up, like Snort 3's FlowData ids: a stage asks
// for its slot when it is built, the same name always gets the same id, and a flow carries one
// pointer per slot. The number of slots is fixed so that a flow stays one allocation.
inline constexpr size_t kMaxFlowSlots = 6;
// The slot id of `name`, registering it on first use (thread-safe; set-up time only). Throws
// std::length_error when more than kMaxFlowSlots names are registered.
uint8_t flow_slot_id(std::string_view name);

struct Flow;

// A typed handle on one slot: `SlotKey<StreamState> key("stream")` then `key.get(flow)`.
template <typename T>
class SlotKey {
 public:
  explicit SlotKey(std::string_view name) : id_(flow_slot_id(name)) {}
  uint8_t id() const { return id_; }
  T* get(const Flow& f) const;
  // The flow's T, constructed from `args` if the slot is still empty.
  template <typename... Args>
  T& get_or_create(Flow& f, Args&&... args) const;

 private:
  uint8_t id_;
};

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
  uint64_t flow_id = 0;  // stable id, below 2^49: printed as a JSON integer, kept exact
  core::Timestamp first_seen{};
  core::Timestamp last_seen{};
  uint64_t packets[2] = {0, 0};  // by Direction
  uint64_t bytes[2] = {0, 0};
  bool client_is_first = true;  // the client is key endpoint 0
  bool closed = false;          // TCP close seen: the closed-state timeout applies
  bool alerted = false;         // a rule alerted on it
  bool reset = false;           // a response tore it down: no more inspection or resets
  bool idle_reset = false;      // ... at its idle timeout (flow.timeout_overrides idle_action)
  core::AppProto app_proto = core::AppProto::kNone;  // what the application layer identified
  // Encrypted payload (applayer.tls.encryption_handling): the raw stream is no longer inspected;
  // bypassed: neither reassembled nor inspected at all, only its TCP state is tracked.
  bool raw_stream_done = false;
  bool bypassed = false;
  core::FtpDataCommand ftp_command = core::FtpDataCommand::kOther;  // an FTP data session's
  uint64_t parent_flow_id = 0;  // an FTP data session: its control session's flow_id
  uint8_t timeout_class = 0;    // cached index into the timeout table (see FlowTable)
  uint8_t icmp_type = 0;        // ICMP flows: the first packet's type and code (Community ID)
  uint8_t icmp_code = 0;
  uint8_t icmp_reply_type = 0;  // ICMP flows: the first answer's (EVE response_icmp_*)
  uint8_t icmp_reply_code = 0;
  uint8_t tcp_flags[2] = {0, 0};  // TCP flows: the flags seen, by Direction (EVE tcp object)
  uint8_t rule_generation = 0;    // the rule set its detection state belongs to (0: none yet)
  uint16_t gaps[2] = {0, 0};      // reassembly gaps (bytes the capture lost), by Direction
  TcpTracker tcp;                 // meaningful for TCP flows only
  EndpointTrace endpoint[2];      // by Direction of the endpoint's packets
  std::array<std::unique_ptr<FlowData>, kMaxFlowSlots> data;

  // Intrusive links: the hash chain and the expiry wheel.
  Flow* hash_next = nullptr;
  Flow* wheel_prev = nullptr;
  Flow* wheel_next = nullptr;
  int64_t wheel_tick = 0;  // the expiry tick it is filed under
  bool young = false;      // in the half-open list (evicted first under pressure)
  Flow* young_prev = nullptr;
  Flow* young_next = nullptr;

  bool is_tcp() const { return key.proto == decode::ip_proto::kTcp; }
};

// The key endpoint (0 or 1) whose packets travel in direction `d`, and its address.
inline int sender_endpoint(const Flow& f, Direction d) {
  return (d == Direction::kToServer) == f.client_is_first ? 0 : 1;
}
inline core::IpAddress sender_address(const Flow& f, Direction d) {
  return endpoint_address(f.key, sender_endpoint(f, d));
}

template <typename T>
T* SlotKey<T>::get(const Flow& f) const {
  return static_cast<T*>(f.data[id_].get());
}

template <typename T>
template <typename... Args>
T& SlotKey<T>::get_or_create(Flow& f, Args&&... args) const {
  if (FlowData* d = f.data[id_].get()) return *static_cast<T*>(d);
  auto fresh = std::make_unique<T>(std::forward<Args>(args)...);
  T& ref = *fresh;
  f.data[id_] = std::move(fresh);
  return ref;
}

}  // namespace spanguard::flow
