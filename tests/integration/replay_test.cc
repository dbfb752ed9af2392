// `spanguard replay` over generated captures: several files in order, pcapng, link types, the
// summary's figures, read errors, and determinism.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>

#include "capture_writer.h"
#include "frame_builder.h"
#include "process.h"
#include "summary_counters.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

// An HTTP-like TCP conversation: handshake, request, response, close (12 frames).
std::vector<Bytes> conversation(const std::string& client_ip, const std::string& server_ip) {
  TcpConversation c({client_ip, 40000, kClientMac}, {server_ip, 80, kServerMac});
  std::vector<Bytes> frames = c.handshake();
  for (auto* part : {&frames}) {
    for (auto& f : c.client_sends("GET / HTTP/1.1\r\n\r\n")) part->push_back(f);
    for (auto& f : c.server_sends(std::string(2000, 'r'))) part->push_back(f);
    for (auto& f : c.close()) part->push_back(f);
  }
  return frames;
}

std::string write_capture(const std::string& name, const std::vector<Bytes>& frames,
                          CaptureWriter::Format format = CaptureWriter::Format::kPcap,
                          int dlt = DLT_EN10MB) {
  const std::string path = temp_path(name);
  CaptureWriter w(path, format, dlt);
  int64_t ts = 1'700'000'000'000'000'000;
  for (const Bytes& f : frames) w.write(f, ts += 1000);
  return path;
}

TEST(Replay, SeveralFilesAreReplayedInOrder) {
  const std::string a = write_capture("a.pcap", conversation("198.51.100.1", "198.51.100.2"));
  const std::string b = write_capture("b.pcap", conversation("2001:db8::1", "2001:db8::2"));
  const RunResult r = run({spanguard_binary(), "replay", "--pcap", a, "--pcap", b});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("spanguard replay of 2 files"), std::string::npos) << r.err;
  EXPECT_EQ(summary_input_packets(r.err), 24u) << r.err;
  EXPECT_EQ(summary_counter(r.err, "network", "ipv4"), 12u) << r.err;
  EXPECT_EQ(summary_counter(r.err, "network", "ipv6"), 12u) << r.err;
  EXPECT_EQ(summary_counter(r.err, "transport", "tcp"), 24u) << r.err;
  EXPECT_NE(r.err.find("malformed  none"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Mbit/s"), std::string::npos) << r.err;
}

TEST(Replay, PcapngIsReadLikePcap) {
  const std::string path = write_capture("c.pcapng", conversation("198.51.100.1", "198.51.100.2"),
                                         CaptureWriter::Format::kPcapng);
  const RunResult r = run({spanguard_binary(), "replay", "--pcap", path});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(summary_input_packets(r.err), 12u) << r.err;
  EXPECT_EQ(summary_counter(r.err, "transport", "tcp"), 12u) << r.err;
}

TEST(Replay, CookedAndRawLinkTypes) {
  const Bytes sll2 = FrameBuilder().sll2().ipv4("198.51.100.1", "198.51.100.2").udp(1, 2).build();
  const Bytes raw = FrameBuilder().ipv6("2001:db8::1", "2001:db8::2").udp(1, 2).build();
  const std::string p1 =
      write_capture("sll2.pcap", {sll2, sll2}, CaptureWriter::Format::kPcap, DLT_LINUX_SLL2);
  const std::string p2 = write_capture("raw.pcap", {raw}, CaptureWriter::Format::kPcap, DLT_RAW);
  const RunResult r = run({spanguard_binary(), "replay", "--pcap", p1, "--pcap", p2});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(summary_counter(r.err, "transport", "udp"), 3u) << r.err;
  EXPECT_EQ(summary_counter(r.err, "link", "linux_sll"), 2u) << r.err;
}

TEST(Replay, UnsupportedLinkTypeNamesFileAndType) {
  const std::string path = write_capture("wifi.pcap", {Bytes(40, 0)}, CaptureWriter::Format::kPcap,
                                         DLT_IEEE802_11_RADIO);
  const RunResult r = run({spanguard_binary(), "replay", "--pcap", path});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(path + ": link type 127 (IEEE802_11_RADIO) is not supported"),
            std::string::npos)
      << r.err;
}

TEST(Replay, MalformedFramesAreCountedByReasonAndTheRestInspected) {
  std::vector<Bytes> frames = conversation("198.51.100.1", "198.51.100.2");
  frames.push_back(
      FrameBuilder().ethernet().ipv4("198.51.100.1", "198.51.100.2", {.ihl_words = 3}).build());
  frames.push_back(FrameBuilder()
                       .ethernet()
                       .ipv4("198.51.100.1", "198.51.100.2")
                       .tcp(1, 2, {.data_offset_words = 2})
                       .build());
  frames.push_back(Bytes(10, 0xff));
  const std::string path = write_capture("bad.pcap", frames);
  const RunResult r = run({spanguard_binary(), "replay", "--pcap", path});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(summary_input_packets(r.err), 15u) << r.err;
  EXPECT_EQ(summary_counter(r.err, "malformed", "total"), 3u) << r.err;
  EXPECT_EQ(summary_counter(r.err, "malformed", "ipv4.bad_ihl"), 1u) << r.err;
  EXPECT_EQ(summary_counter(r.err, "malformed", "tcp.bad_offset"), 1u) << r.err;
  EXPECT_EQ(summary_counter(r.err, "malformed", "link.truncated"), 1u) << r.err;
  EXPECT_EQ(summary_counter(r.err, "transport", "tcp"), 12u) << r.err;
}

TEST(Replay, ChecksumValidationFollowsConfiguration) {
  std::vector<Bytes> frames = {FrameBuilder()
                                   .ethernet()
                                   .ipv4("198.51.100.1", "198.51.100.2")
                                   .tcp(1, 2, {.checksum = 1})
                                   .build()};
  const std::string path = write_capture("csum.pcap", frames);
  const RunResult on = run({spanguard_binary(), "replay", "--pcap", path});
  EXPECT_EQ(summary_counter(on.err, "anomalies", "tcp.bad_checksum"), 1u) << on.err;
  const RunResult off =
      run({spanguard_binary(), "replay", "--pcap", path, "--set", "decode.checksum_validation=no"});
  EXPECT_EQ(summary_counter(off.err, "transport", "tcp"), 1u) << off.err;
  EXPECT_NE(off.err.find("malformed  none"), std::string::npos) << off.err;
}

TEST(Replay, TruncatedLastRecordKeepsWhatWasReadWarnsAndFailsOnlyWhenStrict) {
  const std::string path = write_capture("cut.pcap", conversation("198.51.100.1", "198.51.100.2"));
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string cut = temp_path("cut2.pcap");
  std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<long>(bytes.size() - 30));
  const RunResult r = run({spanguard_binary(), "replay", "--pcap", cut});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find(cut + ": read error near byte "), std::string::npos) << r.err;
  EXPECT_EQ(summary_input_packets(r.err), 11u) << r.err;
  EXPECT_EQ(summary_counter(r.err, "capture", "read_errors"), 1u) << r.err;
  const RunResult strict = run({spanguard_binary(), "replay", "--pcap", cut, "--strict"});
  EXPECT_EQ(strict.status, 1) << strict.err;
  EXPECT_EQ(summary_input_packets(strict.err), 11u) << strict.err;
}

// A record whose captured length is impossible, half-way through: the records before it are
// replayed and counted, the run goes on with the next file.
TEST(Replay, CorruptRecordPartWayKeepsWhatCameBeforeAndTheNextFile) {
  const std::string path =
      write_capture("whole.pcap", conversation("198.51.100.1", "198.51.100.2"));
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // Records follow the 24-byte file header, each a 16-byte header (caplen at +8) and its data.
  size_t at = 24;
  for (int i = 0; i < 5; ++i) {
    uint32_t caplen;
    std::memcpy(&caplen, bytes.data() + at + 8, 4);
    at += 16 + caplen;
  }
  const uint32_t impossible = 0x7fffffff;
  std::memcpy(bytes.data() + at + 8, &impossible, 4);  // the sixth record
  const std::string corrupt = temp_path("corrupt.pcap");
  std::ofstream(corrupt, std::ios::binary).write(bytes.data(), static_cast<long>(bytes.size()));
  const std::string next = write_capture("next.pcap", conversation("198.51.100.3", "198.51.100.4"));
  const RunResult r = run({spanguard_binary(), "replay", "--pcap", corrupt, "--pcap", next});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find(corrupt + ": read error near byte "), std::string::npos) << r.err;
  EXPECT_EQ(summary_input_packets(r.err), 5u + 12u) << r.err;
  EXPECT_EQ(summary_counter(r.err, "capture", "read_errors"), 1u) << r.err;
}

TEST(Replay, SameInputGivesTheSameFiguresWithOneOrSeveralWorkers) {
  std::vector<Bytes> frames;
  for (int i = 0; i < 20; ++i) {
    const auto more = conversation("198.51.100." + std::to_string(10 + i), "198.51.100.2");
    frames.insert(frames.end(), more.begin(), more.end());
  }
  const std::string path = write_capture("many.pcap", frames);
  const RunResult one = run({spanguard_binary(), "replay", "--pcap", path});
  const RunResult three = run({spanguard_binary(), "replay", "--pcap", path, "--workers", "3"});
  ASSERT_EQ(one.status, 0);
  ASSERT_EQ(three.status, 0);
  EXPECT_EQ(summary_input_packets(one.err), 240u);
  EXPECT_EQ(summary_input_packets(three.err), 240u);
  const std::optional<uint64_t> tcp = summary_counter(one.err, "transport", "tcp");
  ASSERT_TRUE(tcp) << one.err;
  EXPECT_EQ(summary_counter(three.err, "transport", "tcp"), tcp) << three.err;
}

// SIEM parsers written for Suricata's EVE read flow_id as an integer: never "1.6e+15".
TEST(Replay, FlowIdsArePlainIntegersInEve) {
  std::vector<Bytes> frames;
  for (int i = 0; i < 40; ++i) {
    const auto more = conversation("198.51.100." + std::to_string(10 + i), "198.51.100.2");
    frames.insert(frames.end(), more.begin(), more.end());
  }
  const std::string path = write_capture("ids.pcap", frames);
  const std::string eve = temp_path("ids.json");
  // (No stats event at the end: every line is a flow record.)
  const RunResult r = run({spanguard_binary(), "replay", "--pcap", path, "--eve", eve, "--set",
                           "output.eve.stats_interval=0"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::ifstream in(eve);
  const std::regex integer("\"flow_id\":[0-9]{1,15}[,}]");
  int checked = 0;
  for (std::string line; std::getline(in, line); ++checked) {
    EXPECT_TRUE(std::regex_search(line, integer)) << line;
  }
  EXPECT_EQ(checked, 40);
}

// The EVE file ends with a stats event holding every counter's final value (zeros included), as
// the sensor's summary in a form scripts read; output.eve.stats_interval: 0 leaves it out.
TEST(Replay, EveEndsWithTheFinalStats) {
  const std::string path =
      write_capture("stats.pcap", conversation("198.51.100.1", "198.51.100.2"));
  const std::string eve = temp_path("stats.json");
  std::filesystem::remove(eve);
  const RunResult r = run({spanguard_binary(), "replay", "--pcap", path, "--eve", eve});
  ASSERT_EQ(r.status, 0) << r.err;
  std::ifstream in(eve);
  std::string last;
  for (std::string line; std::getline(in, line);) last = line;
  EXPECT_NE(last.find("\"event_type\":\"stats\""), std::string::npos) << last;
  EXPECT_NE(last.find("\"decode.packets\":12,"), std::string::npos) << last;
  EXPECT_NE(last.find("\"stream.gaps\":0,"), std::string::npos) << last;
  EXPECT_NE(last.find("\"decoder\":{\"pkts\":12,"), std::string::npos) << last;
}

TEST(Replay, EveFlowRecordsDescribeEveryFlow) {
  std::vector<Bytes> frames = conversation("198.51.100.1", "198.51.100.2");
  const auto v6 = conversation("2001:db8::1", "2001:db8::2");
  frames.insert(frames.end(), v6.begin(), v6.end());
  frames.push_back(FrameBuilder()
                       .ethernet()
                       .ipv4("198.51.100.3", "198.51.100.53")
                       .udp(5353, 53)
                       .payload("query")
                       .build());
  const std::string path = write_capture("eve.pcap", frames);
  const std::string eve = temp_path("eve.json");
  const RunResult r = run({spanguard_binary(), "replay", "--pcap", path, "--eve", eve, "--set",
                           "output.eve.stats_interval=0"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(summary_counter(r.err, "flow", "created"), 3u) << r.err;
  std::ifstream in(eve);
  std::string line, all;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    all += line + "\n";
    EXPECT_NE(line.find("\"event_type\":\"flow\""), std::string::npos) << line;
  }
  EXPECT_EQ(lines, 3) << all;
  // The TCP conversation: client first, both directions counted, closed by its FIN exchange.
  EXPECT_NE(all.find("\"src_ip\":\"198.51.100.1\",\"src_port\":40000,\"dest_ip\":\"198.51.100.2\","
                     "\"dest_port\":80,\"proto\":\"TCP\""),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("\"pkts_toserver\":7,\"pkts_toclient\":5"), std::string::npos) << all;
  EXPECT_NE(all.find("\"end_reason\":\"closed\""), std::string::npos) << all;
  EXPECT_NE(all.find("\"src_ip\":\"2001:db8::1\""), std::string::npos) << all;
  EXPECT_NE(all.find("\"proto\":\"UDP\""), std::string::npos) << all;
}

TEST(Replay, FragmentedSegmentsAreReassembledIntoTheirFlow) {
  // A TCP data segment sent as three IPv4 fragments, the middle one last.
  const Bytes ip = FrameBuilder()
                       .ipv4("198.51.100.1", "198.51.100.2")
                       .tcp(40000, 80, {.seq = 1001, .ack = 5001})
                       .payload(std::string(100, 'f'))
                       .build();
  const Bytes segment(ip.begin() + 20, ip.end());
  auto piece = [&](size_t from, size_t to, bool more) {
    return FrameBuilder()
        .ethernet()
        .ipv4("198.51.100.1", "198.51.100.2",
              {.id = 99,
               .dont_fragment = false,
               .more_fragments = more,
               .fragment_offset = static_cast<uint16_t>(from),
               .protocol = 6})
        .payload(Bytes(segment.begin() + static_cast<long>(from),
                       segment.begin() + static_cast<long>(to)))
        .build();
  };
  const std::string path = write_capture(
      "frag.pcap", {piece(0, 48, true), piece(96, segment.size(), false), piece(48, 96, true)});
  const RunResult r = run({spanguard_binary(), "replay", "--pcap", path});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(summary_counter(r.err, "network", "fragments"), 3u) << r.err;
  EXPECT_EQ(summary_counter(r.err, "defrag", "reassembled"), 1u) << r.err;
  EXPECT_EQ(summary_counter(r.err, "stream", "bytes"), 100u)
      << r.err;  // stream bytes of the rebuilt segment
  EXPECT_EQ(summary_counter(r.err, "flow", "created"), 1u) << r.err;
}

}  // namespace
}  // namespace spanguard::testing
