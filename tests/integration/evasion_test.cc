// Insertion evasions (Ptacek & Newsham 1998) through `spanguard replay`: the attacker puts a
// segment on the wire that the sensor sees but the target drops — its TTL expires on the way, or
// its checksum is wrong — carrying junk at the sequence numbers of the real request, so that a
// sensor keeping the first bytes it reassembles never sees the trigger. Each defence is shown
// both ways: on, the real request alerts and the junk does not; off, the evasion works, which is
// what makes the defence worth having.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "frame_builder.h"
#include "rule_replay.h"
#include "summary_counters.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

constexpr uint8_t kAckPsh = 0x18;
constexpr uint8_t kRstFlag = 0x04;

const std::string kRules =
    "alert http any any -> any any (msg:\"real trigger\"; flow:to_server; http.uri; "
    "content:\"/attack-trigger\"; sid:1;)\n"
    "alert http any any -> any any (msg:\"inserted junk\"; flow:to_server; http.uri; "
    "content:\"/harmless-thing\"; sid:2;)\n";
// The same length: the junk covers the trigger byte for byte.
const std::string kReal = "GET /attack-trigger HTTP/1.1\r\nHost: www.example.com\r\n\r\n";
const std::string kJunk = "GET /harmless-thing HTTP/1.1\r\nHost: www.example.com\r\n\r\n";
const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

TcpConversation conversation() {
  return TcpConversation({"198.51.100.1", 40000, kClientMac}, {"198.51.100.2", 80, kServerMac});
}

void append(std::vector<Bytes>& to, const std::vector<Bytes>& frames) {
  to.insert(to.end(), frames.begin(), frames.end());
}

// `frame` (untagged Ethernet, IPv4) with TTL `ttl`, its header checksum recomputed.
Bytes with_ttl(Bytes frame, uint8_t ttl) {
  constexpr size_t kIp = 14;
  frame[kIp + 8] = ttl;
  frame[kIp + 10] = frame[kIp + 11] = 0;
  const size_t ihl = (frame[kIp] & 0x0f) * 4u;
  uint32_t sum = 0;
  for (size_t i = 0; i < ihl; i += 2) sum += frame[kIp + i] << 8 | frame[kIp + i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  frame[kIp + 10] = static_cast<uint8_t>(~sum >> 8);
  frame[kIp + 11] = static_cast<uint8_t>(~sum);
  return frame;
}

// `frame` (untagged Ethernet, IPv4 without options) with a wrong TCP checksum.
Bytes with_bad_tcp_checksum(Bytes frame) {
  frame[14 + 20 + 16] ^= 0x5a;
  return frame;
}

// Handshake at TTL 64, the junk segment as `insert` makes it, then the real request at the same
// sequence number, the response and the close.
template <typename Insert>
std::vector<Bytes> inserted_junk_session(Insert insert) {
  TcpConversation c = conversation();
  std::vector<Bytes> frames = c.handshake();
  frames.push_back(insert(c.segment(true, kAckPsh, c.client_next(), c.server_next(), kJunk)));
  append(frames, c.client_sends(kReal));
  append(frames, c.server_sends(kOk));
  append(frames, c.close());
  return frames;
}

std::string flow_counter(const Replay& r, const char* name) {
  const auto n = summary_counter_or_zero(r.run.err, "flow", name);
  return n ? std::to_string(*n) : "(no flow line)";
}

TEST(TtlEvasion, JunkWithATtlThatExpiresBeforeTheTargetIsNotReassembled) {
  const std::vector<Bytes> frames =
      inserted_junk_session([](Bytes junk) { return with_ttl(std::move(junk), 50); });
  const Replay on = replay("ttl-insertion", frames, kRules, "{}");
  ASSERT_EQ(on.run.status, 0) << on.run.err;
  EXPECT_EQ(alerts_of(on, 1), 1) << on.eve_text;
  EXPECT_EQ(alerts_of(on, 2), 0) << on.eve_text;
  EXPECT_EQ(flow_counter(on, "tcp.ttl_evasion"), "1") << on.run.err;
  // The defence off: the sensor reassembles the junk, takes the real request for a retransmission
  // of it, and misses the trigger the target received.
  const Replay off = replay("ttl-insertion-off", frames, kRules, "{}", {"stream.ttl_limit=0"});
  ASSERT_EQ(off.run.status, 0) << off.run.err;
  EXPECT_EQ(alerts_of(off, 1), 0) << off.eve_text;
  EXPECT_EQ(alerts_of(off, 2), 1) << off.eve_text;
}

TEST(TtlEvasion, LowTtlRstDoesNotEndTracking) {
  TcpConversation c = conversation();
  std::vector<Bytes> frames = c.handshake();
  // In the server's window, where a real RST would be: only its TTL gives it away.
  frames.push_back(with_ttl(c.segment(false, kRstFlag, c.server_next(), 0, ""), 40));
  append(frames, c.client_sends(kReal));
  append(frames, c.server_sends(kOk));  // no close: the session is still open at the end
  const Replay on = replay("ttl-rst", frames, kRules, "{}");
  ASSERT_EQ(on.run.status, 0) << on.run.err;
  EXPECT_EQ(alerts_of(on, 1), 1) << on.eve_text;
  EXPECT_EQ(flow_counter(on, "tcp.ttl_evasion"), "1") << on.run.err;
  EXPECT_EQ(flow_counter(on, "ended.closed"), "0") << on.run.err;
  EXPECT_EQ(flow_counter(on, "ended.shutdown"), "1") << on.run.err;
  // The defence off: the RST ends the session as far as the sensor knows.
  const Replay off = replay("ttl-rst-off", frames, kRules, "{}", {"stream.ttl_limit=0"});
  ASSERT_EQ(off.run.status, 0) << off.run.err;
  EXPECT_EQ(flow_counter(off, "ended.closed"), "1") << off.run.err;
}

TEST(TtlEvasion, SessionWhoseTtlDropsWithinTheLimitIsUnaffected) {
  TcpConversation c = conversation();
  std::vector<Bytes> frames = c.handshake();
  for (Bytes& f : c.client_sends(kReal)) frames.push_back(with_ttl(std::move(f), 60));  // 64 - 4
  append(frames, c.server_sends(kOk));
  append(frames, c.close());
  const Replay r = replay("ttl-within-limit", frames, kRules, "{}");
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_EQ(alerts_of(r, 1), 1) << r.eve_text;
  EXPECT_EQ(flow_counter(r, "tcp.ttl_evasion"), "0") << r.run.err;
}

TEST(ChecksumEvasion, JunkWithAWrongChecksumIsNotReassembled) {
  const std::vector<Bytes> frames = inserted_junk_session(with_bad_tcp_checksum);
  const Replay on = replay("checksum-insertion", frames, kRules, "{}");
  ASSERT_EQ(on.run.status, 0) << on.run.err;
  EXPECT_EQ(alerts_of(on, 1), 1) << on.eve_text;
  EXPECT_EQ(alerts_of(on, 2), 0) << on.eve_text;
  const Replay off =
      replay("checksum-insertion-off", frames, kRules, "{}", {"decode.checksum_validation=no"});
  ASSERT_EQ(off.run.status, 0) << off.run.err;
  EXPECT_EQ(alerts_of(off, 1), 0) << off.eve_text;
  EXPECT_EQ(alerts_of(off, 2), 1) << off.eve_text;
}

}  // namespace
}  // namespace spanguard::testing
