// TCP state tracking. The sensor sees copies, so it never refuses a segment the endpoints might
// accept; it only declines to inspect what no endpoint could accept (far outside the window), and
// honours an RST only inside the window, as RFC 5961 receivers do.
#include "spanguard/flow/tcp_tracker.h"

#include <algorithm>

namespace spanguard::flow {

namespace tf = decode::tcp_flag;

namespace {

// Windows move faster than the mirror shows them (lost window updates, scaling unknown mid-stream):
// a segment is only "far" outside when it misses the last known window twice over, or by a quarter
// of the sequence space when nothing is known of the receiver.
constexpr uint32_t kMinWindow = 65535;
constexpr uint32_t kUnknownWindowBound = 1u << 30;

uint32_t segment_length(const decode::PacketView& v) {
  return v.payload_len + (v.has_flag(tf::kSyn) ? 1 : 0) + (v.has_flag(tf::kFin) ? 1 : 0);
}

}  // namespace

const char* to_string(TcpState s) {
  switch (s) {
    case TcpState::kSynSent:
      return "syn_sent";
    case TcpState::kSynReceived:
      return "syn_recv";
    case TcpState::kEstablished:
      return "established";
    case TcpState::kClosing:
      return "closing";
    case TcpState::kClosed:
      return "closed";
  }
  return "unknown";
}

void TcpTracker::note_window(TcpPeer& p, const decode::PacketView& v) const {
  if (!v.has_flag(tf::kAck)) return;
  // RFC 7323 §2.2: the window field of a SYN is never scaled.
  const uint32_t shift = v.has_flag(tf::kSyn) ? 0 : (scaling_ ? p.wscale : (midstream_ ? 14 : 0));
  p.window = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{v.window} << shift, 1u << 30));
  if (!p.ack_seen || seq_gt(v.ack, p.max_ack)) p.max_ack = v.ack;
  p.ack_seen = true;
}

void TcpTracker::learn_ttl(TcpPeer& p, const decode::PacketView& v) {
  // An RST is never a baseline: a session must not be judged by a packet that may be forged.
  if (p.ttl_learned || v.has_flag(tf::kRst)) return;
  p.learned_ttl = v.ttl;
  p.ttl_learned = true;
}

void TcpTracker::start(const decode::PacketView& v, Direction dir) {
  TcpPeer& sender = peers_[index(dir)];
  TcpPeer& other = peers_[index(opposite(dir))];
  learn_ttl(sender, v);
  sender.seen = true;
  sender.isn = v.seq;
  sender.next_seq = v.seq + segment_length(v);
  sender.ts_offered = v.tcp_options.has_timestamps;
  note_timestamp(sender, other, v);
  if (v.has_flag(tf::kSyn)) {
    sender_had_syn_[index(dir)] = true;
    sender.wscale_offered = v.tcp_options.has_wscale;
    sender.wscale = v.tcp_options.wscale;
    if (v.has_flag(tf::kAck)) {
      // SYN-ACK first: the client's SYN was missed; its ISN is one below the acknowledgement.
      state_ = TcpState::kSynReceived;
      other.isn = v.ack - 1;
      other.next_seq = v.ack;
      sender_had_syn_[index(opposite(dir))] = true;
      other.wscale_offered = v.tcp_options.has_wscale;  // a SYN-ACK only scales if the SYN offered
    } else {
      state_ = TcpState::kSynSent;
    }
  } else {
    state_ = TcpState::kEstablished;
    midstream_ = true;
  }
  note_window(sender, v);
}

bool TcpTracker::in_window(const TcpPeer& sender, const TcpPeer& receiver, uint32_t seq,
                           uint32_t len) const {
  if (receiver.ack_seen) {
    const uint32_t w = std::max(receiver.window, kMinWindow);
    const uint64_t span = std::min<uint64_t>(uint64_t{w} * 2, kUnknownWindowBound);
    const uint32_t right = receiver.max_ack + static_cast<uint32_t>(span);
    const uint32_t left = receiver.max_ack - static_cast<uint32_t>(span);
    return seq_le(seq, right) && !seq_lt(seq + len, left);
  }
  if (sender.seen) {
    return seq_lt(seq, sender.next_seq + kUnknownWindowBound) &&
           seq_gt(seq + len, sender.next_seq - kUnknownWindowBound);
  }
  return true;
}

// Data past the right edge of the receiver's last known window (twice over, see in_window) that
// continues what its sender was seen sending: a sender only goes there once the receiver opened
// its window, so the mirror lost the ACKs that did. Far jumps stay invalid.
bool TcpTracker::beyond_window_in_sequence(const TcpPeer& sender, const TcpPeer& receiver,
                                           uint32_t seq, uint32_t len) {
  if (!receiver.ack_seen || !sender.seen || len == 0) return false;
  return seq_gt(seq, receiver.max_ack) && seq_le(seq, sender.next_seq) &&
         seq_lt(seq + len, receiver.max_ack + kUnknownWindowBound);
}

// RFC 7323 §5.3 R1, with Linux's tolerance of one tick (tcp_paws_discard): with timestamps on
// both ends, a non-RST segment whose TSval is older than the TS.Recent its receiver recorded is
// dropped by that receiver. An attacker's copy carrying an old TSval would otherwise put bytes in
// the sensor's stream that the endpoint never took.
bool TcpTracker::paws_stale(const TcpPeer& sender, const TcpPeer& receiver,
                            const decode::PacketView& v) const {
  if (!sender.ts_offered || !receiver.ts_offered || !sender.ts_recent_set) return false;
  if (v.has_flag(tf::kRst) || v.has_flag(tf::kSyn) || !v.tcp_options.has_timestamps) return false;
  return static_cast<int32_t>(sender.ts_recent - v.tcp_options.ts_val) > 1;
}

// §4.3: the receiver records TSval when the segment covers the left edge of its window (it starts
// at or before what the receiver last acknowledged); a mirror that lost that ACK makes the sensor
// record less often, so it errs towards accepting.
void TcpTracker::note_timestamp(TcpPeer& sender, const TcpPeer& receiver,
                                const decode::PacketView& v) {
  if (!v.tcp_options.has_timestamps) return;
  if (receiver.ack_seen && seq_gt(v.seq, receiver.max_ack)) return;
  if (sender.ts_recent_set && static_cast<int32_t>(v.tcp_options.ts_val - sender.ts_recent) < 0)
    return;
  sender.ts_recent = v.tcp_options.ts_val;
  sender.ts_recent_set = true;
}

TcpTrackResult TcpTracker::track(const decode::PacketView& v, Direction dir, uint8_t ttl_limit) {
  TcpTrackResult r;
  TcpPeer& sender = peers_[index(dir)];
  TcpPeer& receiver = peers_[index(opposite(dir))];
  const uint32_t len = segment_length(v);
  r.payload_seq = v.seq + (v.has_flag(tf::kSyn) ? 1 : 0);

  // TTL insertion (Ptacek & Newsham, 1998): a segment sent with a TTL that reaches the
  // mirror but expires on the hops between it and the receiver puts bytes into the sensor's
  // stream that the receiver never gets (junk first, so the real bytes after it look like a
  // retransmission), or an RST that ends tracking while the session lives on. Snort's stream
  // ttl_limit is the model: the sender's packets reach the mirror with the TTL of its handshake;
  // one lower by more than the limit may not arrive, and is kept out of the session's state.
  // Suricata has no equivalent. The cost is a route change of more hops than the limit in the
  // middle of a session: its rest is seen as packets only (counted as flow.tcp.ttl_evasion).
  learn_ttl(sender, v);
  if (ttl_limit > 0 && sender.ttl_learned && sender.learned_ttl > v.ttl &&
      sender.learned_ttl - v.ttl > ttl_limit) {
    r.ttl_evasion = true;
    return r;
  }
  if (paws_stale(sender, receiver, v)) {
    r.paws_stale = true;
    return r;
  }

  if (v.has_flag(tf::kRst)) {
    // RFC 5961 §3: only an RST inside the receiver's window can tear the connection down.
    const uint32_t expected = receiver.ack_seen ? receiver.max_ack : sender.next_seq;
    const uint32_t w = std::max(receiver.ack_seen ? receiver.window : 0u, kMinWindow);
    const bool known = receiver.ack_seen || sender.seen;
    if (known && !(seq_le(expected - 1, v.seq) && seq_lt(v.seq, expected + w))) {
      r.rst_ignored = true;
      return r;
    }
    sender.seen = true;
    sender.rst = true;
    r.closed = state_ != TcpState::kClosed;
    state_ = TcpState::kClosed;
    return r;
  }

  if (!sender.seen) {
    // First packet from this side (the other side opened the flow).
    sender.seen = true;
    sender.isn = v.seq;
    sender.next_seq = v.seq;
    sender.ts_offered = v.tcp_options.has_timestamps;
    if (v.has_flag(tf::kSyn)) sender_had_syn_[index(dir)] = true;
  } else if (!in_window(sender, receiver, v.seq, len)) {
    if (!beyond_window_in_sequence(sender, receiver, v.seq, len)) {
      r.invalid = true;
      return r;
    }
    r.unconfirmed = true;
  }

  if (v.has_flag(tf::kSyn)) {
    if (v.has_flag(tf::kAck) && dir == Direction::kToClient && state_ == TcpState::kSynSent) {
      sender.isn = v.seq;
      sender.wscale_offered = v.tcp_options.has_wscale;
      sender.wscale = v.tcp_options.wscale;
      scaling_ = sender.wscale_offered && receiver.wscale_offered;  // RFC 7323 §2.2
      if (!scaling_) receiver.wscale = sender.wscale = 0;
      state_ = TcpState::kSynReceived;
    }
  } else if (state_ == TcpState::kSynReceived && dir == Direction::kToServer &&
             v.has_flag(tf::kAck)) {
    state_ = TcpState::kEstablished;
  } else if (state_ == TcpState::kSynSent && dir == Direction::kToServer && v.has_flag(tf::kAck)) {
    state_ = TcpState::kEstablished;  // the SYN-ACK was not mirrored
  }

  if (seq_gt(v.seq + len, sender.next_seq)) sender.next_seq = v.seq + len;
  note_window(sender, v);
  note_timestamp(sender, receiver, v);

  if (v.has_flag(tf::kFin) && !sender.fin) {
    sender.fin = true;
    sender.fin_seq = v.seq + v.payload_len;
    if (state_ != TcpState::kClosed) state_ = TcpState::kClosing;
  }
  // Closed once both FINs are in and the later one is acknowledged.
  if (state_ == TcpState::kClosing && sender.fin && receiver.fin && v.has_flag(tf::kAck)) {
    if (seq_gt(v.ack, receiver.fin_seq) && seq_le(sender.fin_seq + 1, receiver.max_ack)) {
      state_ = TcpState::kClosed;
      r.closed = true;
    }
  }
  r.deliver = v.payload_len > 0;
  return r;
}

}  // namespace spanguard::flow
