// `spanguard replay --resets-pcap`: the frames a live sensor would have injected for a generated
// capture, compared field by field with frames this test builds independently.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <fstream>

#include "capture_writer.h"
#include "frame_builder.h"
#include "process.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

namespace tf {
constexpr uint8_t kRst = 0x04, kAck = 0x10, kPsh = 0x08;
}

constexpr Mac kPlaceholderMac = {0x02, 0, 0, 0, 0, 0};  // no injection interface named offline

// RFC 1071 over the IPv4 header: zero when the checksum in it is right.
uint16_t ipv4_header_sum(const Bytes& frame) {
  uint32_t sum = 0;
  for (size_t i = 14; i < 34; i += 2) sum += static_cast<uint32_t>(frame[i] << 8 | frame[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// The IPv4 id is the sensor's choice (varied so as not to fingerprint it): the expected frame takes
// the sent one's id, and every other byte, the header checksum included, must match.
Bytes expected_rst(bool to_server, uint32_t seq, uint32_t ack, uint16_t id) {
  return FrameBuilder()
      .ethernet(kPlaceholderMac, to_server ? kServerMac : kClientMac)
      .ipv4(to_server ? "198.51.100.1" : "198.51.100.2",
            to_server ? "198.51.100.2" : "198.51.100.1", Ipv4Fields{.ttl = 64, .id = id})
      .tcp(to_server ? 40000 : 80, to_server ? 80 : 40000,
           TcpFields{.seq = seq, .ack = ack, .flags = tf::kRst | tf::kAck, .window = 0})
      .build();
}

TEST(ResetsPcap, HoldsExactlyTheFramesALiveSensorWouldSend) {
  TcpConversation c({"198.51.100.1", 40000, kClientMac}, {"198.51.100.2", 80, kServerMac}, 1000,
                    5000);
  std::vector<Bytes> frames = c.handshake();
  auto request = c.client_sends("GET /EVIL HTTP/1.1\r\n\r\n");
  request.pop_back();  // the trigger alone; the server's reply comes next
  frames.push_back(request.front());
  const uint32_t client_after = c.client_next(), server_before = c.server_next();
  // The server's instant reply (it won the race on this capture), then the client's ACK of it.
  for (const Bytes& f : c.server_sends("HTTP/1.1 200 OK\r\n\r\n")) frames.push_back(f);
  const uint32_t server_after = c.server_next();

  const std::string in = temp_path("resets-in.pcap");
  const std::string out = temp_path("resets-out.pcap");
  const std::string rules = temp_path("resets.rules");
  std::ofstream(rules) << "rejectboth tcp any any -> any 80 (msg:\"evil\"; content:\"EVIL\"; "
                          "sid:1;)\n";
  const int64_t t0 = 1'700'000'000'000'000'000;
  {
    CaptureWriter w(in);
    for (size_t i = 0; i < frames.size(); ++i) w.write(frames[i], t0 + int64_t(i) * 1'000'000);
  }
  const int64_t trigger_ts = t0 + 3 * 1'000'000;  // handshake is frames 0..2
  const RunResult r = run({spanguard_binary(), "replay", "--pcap", in, "--rules", rules,
                           "--resets-pcap", out, "--set", "flow.records=no"});
  ASSERT_EQ(r.status, 0) << r.err;

  const std::vector<CapturedFrame> sent = read_capture(out);
  ASSERT_EQ(sent.size(), 3u) << r.err;
  struct Want {
    bool to_server;
    uint32_t seq, ack;
    int64_t ts;
  };
  const Want want[] = {
      // The trigger's receiver first, then its sender, both stamped with the trigger.
      {true, client_after, server_before, trigger_ts},
      {false, server_before, client_after, trigger_ts},
      // Kill watch: the server's reply repeats the ack our RST used a moment ago (no copy); the
      // client's ACK of that reply shows its RCV.NXT moved past our RST: answered at its ack.
      {false, server_after, client_after, trigger_ts + 2'000'000},
  };
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE("frame " + std::to_string(i));
    const CapturedFrame& f = sent[i];
    ASSERT_EQ(f.bytes.size(), 54u);
    EXPECT_EQ(ipv4_header_sum(f.bytes), 0);
    const uint16_t id = static_cast<uint16_t>(f.bytes[18] << 8 | f.bytes[19]);
    EXPECT_EQ(f.bytes, expected_rst(want[i].to_server, want[i].seq, want[i].ack, id));
    EXPECT_EQ(f.ts_ns, want[i].ts);
  }
  EXPECT_NE(sent[0].bytes[18] << 8 | sent[0].bytes[19], sent[1].bytes[18] << 8 | sent[1].bytes[19]);

  // Deterministic: the same capture gives byte-identical resets.
  const std::string again = temp_path("resets-again.pcap");
  ASSERT_EQ(run({spanguard_binary(), "replay", "--pcap", in, "--rules", rules, "--resets-pcap",
                 again, "--set", "flow.records=no"})
                .status,
            0);
  const std::vector<CapturedFrame> second = read_capture(again);
  ASSERT_EQ(second.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(second[i].bytes, sent[i].bytes);
}

TEST(ResetsPcap, UnwritablePathIsARuntimeErrorNamingIt) {
  const std::string in = temp_path("resets-empty.pcap");
  { CaptureWriter w(in); }
  const RunResult r = run(
      {spanguard_binary(), "replay", "--pcap", in, "--resets-pcap", "/nonexistent-dir/out.pcap"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("/nonexistent-dir/out.pcap"), std::string::npos) << r.err;
}

TEST(ResetsPcap, RunRefusesIt) {
  const RunResult r =
      run({spanguard_binary(), "run", "--interface", "lo", "--resets-pcap", temp_path("x.pcap")});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--resets-pcap"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace spanguard::testing
