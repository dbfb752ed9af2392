// Reset planning: the sequence and acknowledgement numbers of each spoofed segment, from the TCP
// tracker's view of both peers. Pure functions of the flow's state, so that every rule of the
// plan is unit-tested without a network.
//
// Conventions: a segment "in direction d" impersonates the sender of d's packets and travels to
// their receiver, so the segment that resets the server travels in Direction::kToServer.
#pragma once

#include <cstdint>
#include <optional>

#include "spanguard/flow/flow.h"
#include "spanguard/rules/rule.h"

namespace spanguard::respond {

enum class Mode : uint8_t { kRst, kFin };
// Why a flow is reset.
enum class ResetCause : uint8_t { kRule, kFtpData, kIdleTimeout };
const char* to_string(ResetCause c);  // "rule", "ftp_data", "idle_timeout"
const char* to_string(Mode m);

struct PlannedSegment {
  flow::Direction dir = flow::Direction::kToServer;  // direction of travel
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;  // as on the wire
};

// Which directions an action resets, in the order they must be sent: the trigger's receiver
// first (its RCV.NXT is known exactly from the trigger itself), then its sender.
struct Targets {
  flow::Direction order[2];
  uint8_t count = 0;
};
Targets reset_targets(rules::Action action, flow::Direction trigger_dir);

// The segment in direction `dir` from the tracker's current state (after the trigger), or nullopt
// when neither peer's traffic tells the numbers (nothing seen that direction and no ACK from the
// other). RFC 5961 §3.2: a RST resets only if its seq equals the receiver's RCV.NXT, which is the
// sender's next sequence number as the mirror saw it, or what the receiver acknowledged if that is
// later (bytes the capture missed).
std::optional<PlannedSegment> plan_segment(const flow::TcpTracker& tcp, flow::Direction dir,
                                           Mode mode);

// A follow-up to a packet from an endpoint under a kill watch: a RST toward that endpoint whose
// seq is the packet's own ack (exactly the RCV.NXT it just announced, as a challenge ACK does).
std::optional<PlannedSegment> plan_follow_up(const decode::PacketView& from_endpoint,
                                             flow::Direction packet_dir);

}  // namespace spanguard::respond
