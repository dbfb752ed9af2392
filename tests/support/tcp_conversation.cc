// TCP conversation frames.
#include "tcp_conversation.h"

namespace spanguard::testing {

namespace {
constexpr uint8_t kFin = 0x01, kSyn = 0x02, kPsh = 0x08, kAck = 0x10;
}

TcpConversation::TcpConversation(TcpEndpoint client, TcpEndpoint server, uint32_t client_isn,
                                 uint32_t server_isn)
    : client_(std::move(client)),
      server_(std::move(server)),
      client_next_(client_isn),
      server_next_(server_isn) {}

Bytes TcpConversation::segment(bool from_client, uint8_t flags, uint32_t seq, uint32_t ack,
                               std::string_view payload, std::optional<uint32_t> ts_val) const {
  const TcpEndpoint& src = from_client ? client_ : server_;
  const TcpEndpoint& dst = from_client ? server_ : client_;
  FrameBuilder b;
  b.ethernet(src.mac, dst.mac);
  for (uint16_t vlan : vlans_) b.vlan(vlan);
  if (src.ip.find(':') != std::string::npos) {
    b.ipv6(src.ip, dst.ip);
  } else {
    b.ipv4(src.ip, dst.ip, {.id = ip_id_});
  }
  TcpFields t{.seq = seq, .ack = ack, .flags = flags};
  if (flags & kSyn) {
    t.mss = static_cast<uint16_t>(mss_);
    t.wscale = wscale_;
    t.sack_permitted = true;
  }
  if (timestamps_) t.timestamps = std::pair<uint32_t, uint32_t>{ts_val ? *ts_val : ++ts_clock_, 0};
  b.tcp(src.port, dst.port, t);
  if (!payload.empty()) b.payload(payload);
  return b.build();
}

std::vector<Bytes> TcpConversation::handshake() {
  std::vector<Bytes> out;
  out.push_back(segment(true, kSyn, client_next_, 0, {}));
  ++client_next_;
  out.push_back(segment(false, kSyn | kAck, server_next_, client_next_, {}));
  ++server_next_;
  out.push_back(segment(true, kAck, client_next_, server_next_, {}));
  ++ip_id_;
  return out;
}

std::vector<Bytes> TcpConversation::send(bool from_client, std::string_view data) {
  std::vector<Bytes> out;
  uint32_t& mine = from_client ? client_next_ : server_next_;
  const uint32_t& theirs = from_client ? server_next_ : client_next_;
  for (size_t at = 0; at < data.size(); at += mss_) {
    const std::string_view piece = data.substr(at, mss_);
    out.push_back(segment(from_client, kPsh | kAck, mine, theirs, piece));
    mine += static_cast<uint32_t>(piece.size());
    ++ip_id_;
    out.push_back(segment(!from_client, kAck, theirs, mine, {}));
  }
  return out;
}

std::vector<Bytes> TcpConversation::client_sends(std::string_view data) { return send(true, data); }
std::vector<Bytes> TcpConversation::server_sends(std::string_view data) {
  return send(false, data);
}

std::vector<Bytes> TcpConversation::close() {
  std::vector<Bytes> out;
  out.push_back(segment(true, kFin | kAck, client_next_, server_next_, {}));
  ++client_next_;
  out.push_back(segment(false, kFin | kAck, server_next_, client_next_, {}));
  ++server_next_;
  out.push_back(segment(true, kAck, client_next_, server_next_, {}));
  return out;
}

}  // namespace spanguard::testing
