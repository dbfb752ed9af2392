// TCP connection tracking for one flow, from copies of both directions (or only one, on asymmetric
// paths): handshake and teardown state, each peer's sequence space and window, and the checks that
// keep forged or far-off segments (blind RSTs above all) from steering the sensor.
#pragma once

#include <cstdint>

#include "spanguard/decode/packet_view.h"

namespace spanguard::flow {

// Direction of a packet relative to the connection's client (the SYN's sender, or a guess).
enum class Direction : uint8_t { kToServer = 0, kToClient = 1 };
inline Direction opposite(Direction d) {
  return d == Direction::kToServer ? Direction::kToClient : Direction::kToServer;
}
inline int index(Direction d) { return static_cast<int>(d); }

enum class TcpState : uint8_t {
  kSynSent,      // client SYN seen
  kSynReceived,  // server SYN-ACK seen
  kEstablished,  // handshake completed, or picked up mid-stream
  kClosing,      // a FIN seen from at least one side
  kClosed,       // both FINs acknowledged, or an accepted RST
};
const char* to_string(TcpState s);

// Modular sequence-number comparisons (RFC 9293 §3.4).
inline bool seq_lt(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }
inline bool seq_le(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) <= 0; }
inline bool seq_gt(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) > 0; }

// What one endpoint has sent, as seen on the mirror. Indexed by the direction of its packets:
// peer(kToServer) is the client.
struct TcpPeer {
  uint32_t isn = 0;        // initial sequence number (or first seen, mid-stream)
  uint32_t next_seq = 0;   // one past the highest sequence number sent (SYN and FIN count)
  uint32_t max_ack = 0;    // highest acknowledgement sent: what it has received
  uint32_t window = 0;     // last advertised receive window, scaled
  uint32_t fin_seq = 0;    // sequence number of its FIN
  uint32_t ts_recent = 0;  // TS.Recent (see ts_offered); fields ordered to pack: a million flows
  uint8_t wscale = 0;      // shift applied to its window fields
  // IPv4 TTL / IPv6 hop limit its packets reach the mirror with, learned from its SYN (SYN-ACK),
  // or mid-stream from its first packet; never from later packets, whose TTL an inserting
  // attacker chooses (see TcpTracker::track).
  uint8_t learned_ttl = 0;
  bool ttl_learned = false;
  // RFC 7323 timestamps: its first packet carried one (both ends' did: PAWS applies), and the
  // newest TSval the receiver will have recorded (TS.Recent, §4.3).
  bool ts_offered = false;
  bool ts_recent_set = false;
  bool seen = false;      // any packet from it
  bool ack_seen = false;  // max_ack/window are meaningful
  bool wscale_offered = false;
  bool fin = false;
  bool rst = false;
};

struct TcpTrackResult {
  bool deliver = false;      // the payload may go to stream reassembly
  bool invalid = false;      // far outside the window: counted, not delivered
  bool rst_ignored = false;  // an RST whose sequence number is not in window
  bool closed = false;       // this packet closed the connection (FIN exchange or RST)
  // Its TTL is lower than its sender's learned one by more than the limit: it may expire before
  // the receiver, so it is not tracked (nor reassembled, nor allowed to close the session).
  bool ttl_evasion = false;
  // Beyond the receiver's last window the mirror showed, in sequence with its sender: the mirror
  // lost the receiver's ACKs. Delivered, to be held until acknowledged (stream::Reassembler).
  bool unconfirmed = false;
  // RFC 7323 §5 PAWS: its timestamp is older than the one the receiver last recorded, so the
  // receiver drops it: not tracked, not reassembled (inspected as a packet).
  bool paws_stale = false;
  uint32_t payload_seq = 0;  // sequence number of the payload's first byte
};

class TcpTracker {
 public:
  // `first` opens the flow: a SYN, a SYN-ACK (the SYN was missed), or any segment mid-stream.
  void start(const decode::PacketView& first, Direction dir);
  // `ttl_limit` (stream.ttl_limit; 0: off): how far below its sender's learned TTL a segment's
  // may be and still count as having reached the receiver.
  TcpTrackResult track(const decode::PacketView& v, Direction dir, uint8_t ttl_limit = 0);

  TcpState state() const { return state_; }
  bool midstream() const { return midstream_; }
  bool window_scaling() const { return scaling_; }
  const TcpPeer& peer(Direction sender) const { return peers_[index(sender)]; }
  // Where each sender's byte stream starts (the sequence number of its first data byte).
  uint32_t stream_base(Direction sender) const {
    return peers_[index(sender)].isn + syn_bytes(sender);
  }

 private:
  uint32_t syn_bytes(Direction sender) const { return sender_had_syn_[index(sender)] ? 1 : 0; }
  bool in_window(const TcpPeer& sender, const TcpPeer& receiver, uint32_t seq, uint32_t len) const;
  static bool beyond_window_in_sequence(const TcpPeer& sender, const TcpPeer& receiver,
                                        uint32_t seq, uint32_t len);
  bool paws_stale(const TcpPeer& sender, const TcpPeer& receiver,
                  const decode::PacketView& v) const;
  static void note_timestamp(TcpPeer& sender, const TcpPeer& receiver, const decode::PacketView& v);
  void note_window(TcpPeer& p, const decode::PacketView& v) const;
  static void learn_ttl(TcpPeer& p, const decode::PacketView& v);

  TcpPeer peers_[2];
  bool sender_had_syn_[2] = {false, false};
  TcpState state_ = TcpState::kSynSent;
  bool midstream_ = false;
  bool scaling_ = false;
};

}  // namespace spanguard::flow
