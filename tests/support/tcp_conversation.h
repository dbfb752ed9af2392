// Emits a TCP conversation between two endpoints as Ethernet frames with correct sequence and
// acknowledgement numbers: handshake, data either way (split into segments), teardown.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frame_builder.h"

namespace spanguard::testing {

struct TcpEndpoint {
  std::string ip;  // IPv4 or IPv6 literal; both endpoints of one family
  uint16_t port;
  Mac mac;
};

class TcpConversation {
 public:
  TcpConversation(TcpEndpoint client, TcpEndpoint server, uint32_t client_isn = 1000,
                  uint32_t server_isn = 5000);

  // Wraps every frame in these 802.1Q tags (outermost first).
  void set_vlans(std::vector<uint16_t> vlans) { vlans_ = std::move(vlans); }
  void set_mss(size_t mss) { mss_ = mss; }
  // The window scale both SYNs offer (default 7); nullopt: none, windows count in bytes.
  void set_wscale(std::optional<uint8_t> wscale) { wscale_ = wscale; }
  // RFC 7323 timestamps on every segment from now on (offered in the SYNs): each segment's TSval
  // is the conversation's clock, which moves on by one per segment made.
  void set_timestamps(bool on) { timestamps_ = on; }
  uint32_t ts_clock() const { return ts_clock_; }

  std::vector<Bytes> handshake();
  // Data from one side in segments of at most mss bytes, each acknowledged by the other side.
  std::vector<Bytes> client_sends(std::string_view data);
  std::vector<Bytes> server_sends(std::string_view data);
  // FIN from the client, FIN from the server, final ACK.
  std::vector<Bytes> close();

  // One segment with explicit fields, not advancing any state (for crafted tests); `ts_val`
  // (with timestamps on) instead of the clock's next value.
  Bytes segment(bool from_client, uint8_t flags, uint32_t seq, uint32_t ack,
                std::string_view payload, std::optional<uint32_t> ts_val = std::nullopt) const;
  uint32_t client_next() const { return client_next_; }
  uint32_t server_next() const { return server_next_; }

 private:
  std::vector<Bytes> send(bool from_client, std::string_view data);

  TcpEndpoint client_, server_;
  uint32_t client_next_, server_next_;
  std::vector<uint16_t> vlans_;
  size_t mss_ = 1448;
  uint16_t ip_id_ = 1;
  std::optional<uint8_t> wscale_ = 7;
  bool timestamps_ = false;
  mutable uint32_t ts_clock_ = 1000;
};

}  // namespace spanguard::testing
