// Sequence arithmetic of resets.
#include "spanguard/respond/reset_plan.h"

namespace spanguard::respond {

namespace tf = decode::tcp_flag;
using flow::Direction;

const char* to_string(Mode m) { return m == Mode::kFin ? "fin" : "rst"; }

const char* to_string(ResetCause c) {
  switch (c) {
    case ResetCause::kFtpData:
      return "ftp_data";
    case ResetCause::kIdleTimeout:
      return "idle_timeout";
    case ResetCause::kRule:
      break;
  }
  return "rule";
}

Targets reset_targets(rules::Action action, Direction trigger_dir) {
  Targets t;
  switch (action) {
    case rules::Action::kRejectDst:
      t.order[t.count++] = trigger_dir;
      break;
    case rules::Action::kRejectSrc:
      t.order[t.count++] = flow::opposite(trigger_dir);
      break;
    case rules::Action::kRejectBoth:
    case rules::Action::kDrop:
      t.order[t.count++] = trigger_dir;
      t.order[t.count++] = flow::opposite(trigger_dir);
      break;
    case rules::Action::kAlert:
    case rules::Action::kPass:
      break;
  }
  return t;
}

namespace {

// The later of two sequence numbers, either of which may be unknown.
std::optional<uint32_t> later(std::optional<uint32_t> a, std::optional<uint32_t> b) {
  if (!a) return b;
  if (!b) return a;
  return flow::seq_gt(*b, *a) ? b : a;
}

}  // namespace

std::optional<PlannedSegment> plan_segment(const flow::TcpTracker& tcp, Direction dir, Mode mode) {
  const flow::TcpPeer& sender = tcp.peer(dir);
  const flow::TcpPeer& receiver = tcp.peer(flow::opposite(dir));
  const auto seen_next = [](const flow::TcpPeer& p) {
    return p.seen ? std::optional<uint32_t>(p.next_seq) : std::nullopt;
  };
  const auto acked = [](const flow::TcpPeer& p) {
    return p.ack_seen ? std::optional<uint32_t>(p.max_ack) : std::nullopt;
  };
  // What the receiver expects next from the sender, and what the sender expects from it.
  const std::optional<uint32_t> seq = later(seen_next(sender), acked(receiver));
  const std::optional<uint32_t> ack = later(seen_next(receiver), acked(sender));
  if (!seq) return std::nullopt;

  PlannedSegment s;
  s.dir = dir;
  s.seq = *seq;
  s.ack = ack.value_or(0);
  const uint8_t ack_flag = ack ? tf::kAck : 0;
  if (mode == Mode::kRst) {
    s.flags = tf::kRst | ack_flag;  // RST+ACK, as a stack resetting an established connection
    s.window = 0;
  } else {
    s.flags = tf::kFin | ack_flag;
    s.window = static_cast<uint16_t>(std::min<uint32_t>(sender.window >> sender.wscale, 0xffff));
  }
  return s;
}

std::optional<PlannedSegment> plan_follow_up(const decode::PacketView& v, Direction packet_dir) {
  if (!v.is_tcp() || !v.has_flag(tf::kAck) || v.has_flag(tf::kRst)) return std::nullopt;
  PlannedSegment s;
  s.dir = flow::opposite(packet_dir);
  s.seq = v.ack;
  s.ack = v.seq + v.payload_len + (v.has_flag(tf::kSyn) ? 1 : 0) + (v.has_flag(tf::kFin) ? 1 : 0);
  s.flags = tf::kRst | tf::kAck;
  return s;
}

}  // namespace spanguard::respond
