// Detection end to end on generated traffic: frames go through a worker (decode → flow → stream →
// detect) and the alerts are read back from the EVE lines it writes.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "frame_builder.h"
#include "sensor.h"
#include "spanguard/applayer/registry.h"
#include "spanguard/cli/config_schema.h"
#include "spanguard/detect/detector.h"
#include "spanguard/output/eve_writer.h"
#include "spanguard/pipeline/worker.h"
#include "spanguard/rules/parser.h"
#include "spanguard/v1/spanguard.pb.h"
#include "tcp_conversation.h"

namespace spanguard::detect {
namespace {

using testing::Bytes;
using testing::FrameBuilder;
using testing::TcpConversation;
namespace tf = decode::tcp_flag;

TcpConversation conversation(uint16_t client_port = 40000, uint16_t server_port = 80) {
  return TcpConversation({"198.51.100.10", client_port, testing::kClientMac},
                         {"198.51.100.20", server_port, testing::kServerMac});
}

// The client sends `data` in segments of `mss` bytes over a fresh connection; the server replies
// `reply`.
std::vector<uint32_t> sids_for(const std::string& rule_text, const std::string& data,
                               size_t mss = 1448, const std::string& reply = "") {
  Sensor s(rule_text);
  TcpConversation c = conversation();
  s.feed(c.handshake());
  c.set_mss(mss);
  s.feed(c.client_sends(data));
  if (!reply.empty()) s.feed(c.server_sends(reply));
  s.feed(c.close());
  return s.sids();
}

using Sids = std::vector<uint32_t>;

TEST(Detection, ContentSplitAcrossTwoThreeAndOneByteSegments) {
  const std::string rule =
      "alert tcp any any -> any 80 (msg:\"m\"; content:\"evilpattern\"; sid:1;)";
  const std::string data = "GET /x?q=evilpattern HTTP/1.1\r\n\r\n";
  EXPECT_EQ(sids_for(rule, data, 14), Sids{1});  // split in two: "…evil" + "pattern…"
  EXPECT_EQ(sids_for(rule, data, 3), Sids{1});
  EXPECT_EQ(sids_for(rule, data, 1), Sids{1});
  EXPECT_EQ(sids_for(rule, "GET /x?q=evilpatter HTTP/1.1\r\n\r\n", 1), Sids{});
}

TEST(Detection, OutOfOrderSegmentsMatchOnceReassembled) {
  Sensor s("alert tcp any any -> any 80 (msg:\"m\"; content:\"evilpattern\"; sid:1;)");
  TcpConversation c = conversation();
  s.feed(c.handshake());
  const uint32_t seq = c.client_next(), ack = c.server_next();
  // "xx evil" | "pat" | "tern xx", sent last part first.
  s.feed(c.segment(true, tf::kAck | tf::kPsh, seq + 10, ack, "tern xx"));
  s.feed(c.segment(true, tf::kAck | tf::kPsh, seq + 7, ack, "pat"));
  s.feed(c.segment(true, tf::kAck | tf::kPsh, seq, ack, "xx evil"));
  s.feed(c.segment(false, tf::kAck, ack, seq + 17, ""));
  EXPECT_EQ(s.sids(), Sids{1});
}

// The bytes behind a chunk come from the reassembler, which keeps detect.stream_window of them
// although the server acknowledged them: a rule whose contents straddle an acknowledged segment
// boundary still matches, within the window and not beyond it.
TEST(Detection, ContentsStraddlingAnAcknowledgedSegmentMatchWithinTheStreamWindow) {
  const std::string rule =
      "alert tcp any any -> any 80 (msg:\"m\"; content:\"first-part\"; content:\"second-part\"; "
      "distance:0; sid:1;)";
  for (const size_t filler : {0, 100, 3000, 5000}) {
    Sensor s(rule, {"detect.stream_window=4KiB"});
    TcpConversation c = conversation();
    s.feed(c.handshake());
    const uint32_t seq = c.client_next(), ack = c.server_next();
    const std::string one = "first-part" + std::string(filler, '.');
    s.feed(c.segment(true, tf::kAck | tf::kPsh, seq, ack, one));
    s.feed(c.segment(false, tf::kAck, ack, seq + static_cast<uint32_t>(one.size()), ""));
    s.feed(c.segment(true, tf::kAck | tf::kPsh, seq + static_cast<uint32_t>(one.size()), ack,
                     "second-part"));
    // Within 4 KiB behind the second segment's start the first content is found; 5000 bytes
    // back it is out of the window.
    EXPECT_EQ(s.sids(), filler < 4096 - 10 ? Sids{1} : Sids{}) << "filler " << filler;
  }
}

// The mirror loses the server's ACKs part-way through an upload the real server receives whole:
// the client's later data lies beyond the last window the sensor saw. It is held as unconfirmed,
// then inspected once more than stream.unconfirmed_limit waits, so a trigger further on alerts
// while the upload goes on.
TEST(Detection, TriggerAfterTheMirrorLostTheServersAcksIsSeen) {
  Sensor s("alert tcp any any -> any 80 (msg:\"m\"; content:\"evilpattern\"; sid:1;)");
  TcpConversation c = conversation();
  c.set_wscale(std::nullopt);  // a 64 KB window: the upload soon runs past what was acknowledged
  s.feed(c.handshake());
  const uint32_t seq = c.client_next(), ack = c.server_next();
  std::string upload(300'000, 'u');
  upload.replace(200'000, 11, "evilpattern");
  for (uint32_t at = 0; at < upload.size(); at += 1000) {
    s.feed(c.segment(true, tf::kAck | tf::kPsh, seq + at, ack, upload.substr(at, 1000)));
  }
  EXPECT_EQ(s.counter("detect.alerts"), 1u) << "not alerted while the session is live";
  EXPECT_EQ(s.counter("flow.tcp.invalid"), 0u);
  EXPECT_GT(s.counter("flow.tcp.unconfirmed"), 0u);
  EXPECT_GT(s.counter("stream.unconfirmed_forced"), 0u);
  EXPECT_EQ(s.sids(), Sids{1});
}

// Insertion through the same door: with the sensor's window knowledge current, a copy beyond it is
// one the server drops. It is held; the real bytes come once the window opens and alert; the held
// copy, acknowledged later, loses to them and never alerts.
TEST(Detection, CopyBeyondTheWindowDoesNotHideTheRealBytes) {
  Sensor s(
      "alert tcp any any -> any 80 (msg:\"real\"; content:\"evilpattern\"; sid:1;)\n"
      "alert tcp any any -> any 80 (msg:\"junk\"; content:\"JUNKJUNKJUN\"; sid:2;)");
  TcpConversation c = conversation();
  c.set_wscale(std::nullopt);
  s.feed(c.handshake());
  const uint32_t seq = c.client_next(), ack = c.server_next();
  const std::string kilobyte(1000, 'u');
  uint32_t at = 0;
  for (; at < 135'000; at += 1000) {
    s.feed(c.segment(true, tf::kAck | tf::kPsh, seq + at, ack, kilobyte));
  }
  s.feed(c.segment(true, tf::kAck | tf::kPsh, seq + at, ack, "xxJUNKJUNKJUNxx"));
  s.feed(c.segment(false, tf::kAck, ack, seq + at, ""));  // everything before it arrived
  s.feed(c.segment(true, tf::kAck | tf::kPsh, seq + at, ack, "xxevilpatternx"));
  s.feed(c.segment(false, tf::kAck, ack, seq + at + 14, ""));
  EXPECT_EQ(s.counter("stream.unconfirmed_replaced"), 1u);
  EXPECT_EQ(s.counter("stream.unconfirmed_forced"), 0u);
  EXPECT_EQ(s.sids(), Sids{1});
}

// PAWS (RFC 7323): a copy carrying a timestamp older than the one the server recorded is dropped
// by the server; it must not take the real bytes' place.
TEST(Detection, PawsStaleCopyDoesNotHideTheRealBytes) {
  Sensor s(
      "alert tcp any any -> any 80 (msg:\"real\"; content:\"evilpattern\"; sid:1;)\n"
      "alert tcp any any -> any 80 (msg:\"junk\"; content:\"JUNKJUNKJUN\"; sid:2;)");
  TcpConversation c = conversation();
  c.set_timestamps(true);
  s.feed(c.handshake());
  s.feed(c.client_sends("GET / HTTP/1.1\r\n"));
  const uint32_t seq = c.client_next(), ack = c.server_next();
  s.feed(c.segment(true, tf::kAck | tf::kPsh, seq, ack, "xxJUNKJUNKJUN", 5));
  s.feed(c.segment(true, tf::kAck | tf::kPsh, seq, ack, "xxevilpattern"));
  s.feed(c.segment(false, tf::kAck, ack, seq + 13, ""));
  EXPECT_EQ(s.counter("flow.tcp.paws_stale"), 1u);
  EXPECT_EQ(s.sids(), Sids{1});
}

TEST(Detection, MatchNeverSpansACaptureGap) {
  Sensor s(
      "alert tcp any any -> any 80 (msg:\"gap\"; content:\"evilpattern\"; sid:1;)\n"
      "alert tcp any any -> any 80 (msg:\"after\"; content:\"after-the-hole\"; sid:2;)");
  TcpConversation c = conversation();
  s.feed(c.handshake());
  const uint32_t seq = c.client_next(), ack = c.server_next();
  s.feed(c.segment(true, tf::kAck | tf::kPsh, seq, ack, "evilpat"));
  // seq + 7 .. seq + 8 ("Z") is lost to the capture; the server acknowledges it.
  s.feed(c.segment(true, tf::kAck | tf::kPsh, seq + 8, ack, "tern after-the-hole"));
  s.feed(c.segment(false, tf::kAck, ack, seq + 27, ""));
  EXPECT_EQ(s.sids(), Sids{2});
}

TEST(Detection, NocaseAndCaseSensitiveContents) {
  const std::string data = "GET / HTTP/1.1\r\nUser-Agent: SQLMap/1.7\r\n\r\n";
  EXPECT_EQ(sids_for("alert tcp any any -> any any (msg:\"m\"; content:\"sqlmap\"; nocase; sid:1;)",
                     data),
            Sids{1});
  EXPECT_EQ(sids_for("alert tcp any any -> any any (msg:\"m\"; content:\"sqlmap\"; sid:1;)", data),
            Sids{});
}

TEST(Detection, OffsetAndDepthCountFromTheStreamStart) {
  const std::string r =
      "alert tcp any any -> any any (msg:\"m\"; content:\"ABC\"; offset:5; depth:3; sid:1;)";
  EXPECT_EQ(sids_for(r, "01234ABC--"), Sids{1});  // exactly at offset 5, ends at the depth bound
  EXPECT_EQ(sids_for(r, "012345ABC-"), Sids{});   // one byte past the depth
  EXPECT_EQ(sids_for(r, "0123ABC---"), Sids{});   // one byte before the offset
  // Offsets count from the stream's first byte, not from the segment's.
  EXPECT_EQ(sids_for(r, "01234ABC--", 4), Sids{1});
  const std::string far =
      "alert tcp any any -> any any (msg:\"m\"; content:\"ABC\"; offset:3000; depth:3; sid:1;)";
  EXPECT_EQ(sids_for(far, std::string(3000, '.') + "ABC", 1000), Sids{1});
  EXPECT_EQ(sids_for(far, std::string(3001, '.') + "ABC", 1000), Sids{});
}

// As Snort and Suricata apply offset/depth to each packet's payload: a later message that starts a
// segment is anchored too, not only the stream's first bytes.
TEST(Detection, AnchoredContentAlsoHoldsForEachDeliveredSegment) {
  Sensor s(
      "alert tcp any 21 -> any any (msg:\"login ok\"; flow:from_server; content:\"230 \"; "
      "depth:4; sid:1;)\n"
      "alert tcp any any -> any 445 (msg:\"smb negotiate\"; content:\"|FF|SMB\"; offset:4; "
      "depth:4; content:\"|72|\"; distance:0; within:1; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"starts\"; flow:to_server; content:\"QUIT\"; "
      "startswith; sid:3;)");
  TcpConversation ftp = conversation(40001, 21);
  s.feed(ftp.handshake());
  s.feed(ftp.server_sends("220 ready\r\n"));
  s.feed(ftp.client_sends("USER a\r\n"));
  s.feed(ftp.server_sends("331 x 230 not at the start\r\n"));  // near miss: not anchored
  EXPECT_EQ(s.sids(), Sids{});
  s.feed(ftp.client_sends("PASS b\r\n"));
  s.feed(ftp.server_sends("230 Login successful.\r\n"));
  s.feed(ftp.client_sends("QUIT\r\n"));
  EXPECT_EQ(s.sids(), (Sids{1, 3}));

  TcpConversation smb = conversation(40002, 445);
  s.feed(smb.handshake());
  const std::string session_request("\x81\x00\x00\x44", 4);
  s.feed(smb.client_sends(session_request + std::string(0x44, 'n')));
  s.feed(smb.server_sends(std::string("\x82\x00\x00\x00", 4)));
  const std::string negotiate = std::string("\x00\x00\x00\x2f\xffSMB\x72", 9) + std::string(38, 0);
  s.feed(smb.client_sends(negotiate));
  EXPECT_EQ(s.sids(), (Sids{1, 3, 2}));
}

TEST(Detection, DistanceAndWithinCountFromThePreviousMatch) {
  // B must start 2..4 bytes after A ends (distance:2) and end within 3 bytes of that start.
  const std::string r =
      "alert tcp any any -> any any (msg:\"m\"; content:\"A\"; content:\"BB\"; distance:2; "
      "within:3; sid:1;)";
  EXPECT_EQ(sids_for(r, "xA..BBx"), Sids{1});   // starts exactly at distance
  EXPECT_EQ(sids_for(r, "xA...BBx"), Sids{1});  // ends exactly at the within bound
  EXPECT_EQ(sids_for(r, "xA.BBx"), Sids{});     // one byte short of the distance
  EXPECT_EQ(sids_for(r, "xA....BBx"), Sids{});  // one byte past within
  // Backtracking: the first A does not lead to a match, the second does.
  EXPECT_EQ(sids_for(r, "A.......A..BB"), Sids{1});
  // Negative distance reaches back over the previous match.
  EXPECT_EQ(sids_for("alert tcp any any -> any any (msg:\"m\"; content:\"CD\"; content:\"BC\"; "
                     "distance:-3; within:2; sid:1;)",
                     "ABCD"),
            Sids{1});
}

TEST(Detection, StartswithAndEndswith) {
  EXPECT_EQ(
      sids_for("alert udp any any -> any any (msg:\"m\"; content:\"GET\"; startswith; sid:1;)", ""),
      Sids{});
  Sensor s(
      "alert udp any any -> any any (msg:\"s\"; content:\"HEAD\"; startswith; sid:1;)\n"
      "alert udp any any -> any any (msg:\"e\"; content:\"TAIL\"; endswith; sid:2;)\n");
  auto udp = [](const std::string& payload, uint16_t sport) {
    return FrameBuilder()
        .ethernet()
        .ipv4("198.51.100.10", "198.51.100.20")
        .udp(sport, 9999)
        .payload(payload)
        .build();
  };
  s.feed(udp("HEAD and TAIL", 1000));    // both
  s.feed(udp("xHEAD and TAILx", 1001));  // neither
  EXPECT_EQ(s.sids(), (Sids{1, 2}));
}

TEST(Detection, PcreWithAndWithoutRelative) {
  const std::string data = "GET /a HTTP/1.1\r\nX-Id: 12345\r\n\r\n";
  EXPECT_EQ(
      sids_for("alert tcp any any -> any any (msg:\"m\"; pcre:\"/X-Id: \\d{5}\\r\\n/\"; sid:1;)",
               data, 5),
      Sids{1});
  // R: the pcre starts where the previous content ended, so ^ anchors there.
  EXPECT_EQ(sids_for("alert tcp any any -> any any (msg:\"m\"; content:\"X-Id: \"; "
                     "pcre:\"/^\\d{5}/R\"; sid:1;)",
                     data),
            Sids{1});
  EXPECT_EQ(sids_for("alert tcp any any -> any any (msg:\"m\"; content:\"GET \"; "
                     "pcre:\"/^\\d{5}/R\"; sid:1;)",
                     data),
            Sids{});
  // Flags: i makes it caseless.
  EXPECT_EQ(sids_for("alert tcp any any -> any any (msg:\"m\"; pcre:\"/x-id: 1/i\"; sid:1;)", data),
            Sids{1});
}

TEST(Detection, NegatedContentMustBeAbsent) {
  const std::string r =
      "alert tcp any any -> any any (msg:\"m\"; content:\"GET \"; content:!\"Mozilla\"; sid:1;)";
  EXPECT_EQ(sids_for(r, "GET / HTTP/1.1\r\nUser-Agent: curl/8\r\n\r\n"), Sids{1});
  EXPECT_EQ(sids_for(r, "GET / HTTP/1.1\r\nUser-Agent: Mozilla/5.0\r\n\r\n"), Sids{});
  // A rule with only a negated content has no fast pattern: it is verified every time.
  Sensor s("alert tcp any any -> any any (msg:\"m\"; content:!\"secret\"; sid:2;)");
  EXPECT_EQ(s.engine().stats().unprefiltered, 1u);
}

TEST(Detection, FlowDirectionKeywords) {
  const std::string to_client =
      "alert tcp any any -> any any (msg:\"m\"; flow:to_client; content:\"secret\"; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"m\"; flow:from_client,established; content:\"secret\"; "
      "sid:2;)";
  EXPECT_EQ(sids_for(to_client, "GET /", 1448, "HTTP/1.1 200 OK\r\n\r\nsecret"), Sids{1});
  EXPECT_EQ(sids_for(to_client, "GET /secret", 1448, "HTTP/1.1 200 OK\r\n\r\n"), Sids{2});
  // Header direction: only server-port-80 traffic toward the server matches `-> any 80`.
  EXPECT_EQ(sids_for("alert tcp any 80 -> any any (msg:\"m\"; content:\"secret\"; sid:3;)",
                     "GET /secret", 1448, "secret"),
            Sids{3});
  EXPECT_EQ(sids_for("alert tcp any any <> any 80 (msg:\"m\"; content:\"secret\"; sid:4;)",
                     "GET /secret", 1448, "secret"),
            (Sids{4, 4}));  // once per direction
}

// A broken TCP header (data offset past the segment) leaves an IP packet: ip rules see it
// (block lists, scanners' malformed probes), tcp rules do not, no flow is made of it.
TEST(Detection, ABrokenTransportHeaderLeavesTheIpLayerToIpRules) {
  Sensor s(
      "alert ip 198.51.100.66 any -> any any (msg:\"listed host\"; sid:1;)\n"
      "alert tcp 198.51.100.66 any -> any any (msg:\"tcp from listed host\"; sid:2;)\n");
  s.feed(FrameBuilder()
             .ethernet()
             .ipv4("198.51.100.66", "198.51.100.20")
             .tcp(40000, 80, {.data_offset_words = 15})
             .payload("abc")
             .build());
  EXPECT_EQ(s.sids(), Sids{1});
  EXPECT_EQ(s.counter("decode.malformed.tcp.bad_offset"), 1u);
  EXPECT_EQ(s.counter("flow.created"), 0u);
}

// The receiver drops a segment with a wrong checksum: it is inspected as a packet, but neither
// closes the flow (a forged RST) nor enters the stream (an inserted payload). Other protocols'
// packets with wrong checksums are inspected as usual (Suricata).
TEST(Detection, WrongChecksumsNeverMoveTheStreamYetPacketsAreInspected) {
  Sensor s(
      "alert tcp any any -> any 80 (msg:\"stream\"; content:\"evilpattern\"; sid:1;)\n"
      "alert tcp any any -> any 80 (msg:\"inserted\"; content:\"INSERTED\"; sid:2;)\n"
      "alert tcp any any -> any 80 (msg:\"packet\"; dsize:>0; content:\"INSERTED\"; sid:3;)\n"
      "alert udp any any -> any 53 (msg:\"udp\"; content:\"query\"; sid:4;)\n");
  const auto corrupt = [](Bytes frame) {
    frame[50] ^= 0x5a;  // TCP checksum (Ethernet 14 + IPv4 20 + 16)
    return frame;
  };
  TcpConversation c = conversation();
  s.feed(c.handshake());
  const uint32_t seq = c.client_next(), ack = c.server_next();
  s.feed(corrupt(c.segment(false, tf::kRst | tf::kAck, ack, seq, "")));  // forged RST
  s.feed(corrupt(c.segment(true, tf::kAck | tf::kPsh, seq, ack, "INSERTED...")));
  s.feed(c.segment(true, tf::kAck | tf::kPsh, seq, ack, "evilpattern"));  // the real bytes
  s.feed(c.segment(false, tf::kAck, ack, seq + 11, ""));
  Bytes udp = FrameBuilder()
                  .ethernet()
                  .ipv4("198.51.100.10", "198.51.100.53")
                  .udp(5353, 53, {}, uint16_t{0x1234})
                  .payload("query")
                  .build();
  s.feed(udp);
  EXPECT_EQ(s.sids(), (Sids{3, 1, 4}));
  EXPECT_EQ(s.counter("decode.anomaly.tcp.bad_checksum"), 2u);
  EXPECT_EQ(s.counter("decode.anomaly.udp.bad_checksum"), 1u);
}

// ET Open's Heartbleed rule (its classtype left out: the test has no classification file):
// byte_extract takes the TLS record length, byte_test compares the heartbeat's claimed payload
// length with it.
TEST(Detection, HeartbleedRequestIsToldFromAnHonestHeartbeat) {
  const std::string rule =
      R"RULE(alert tcp any any -> $HOME_NET !$HTTP_PORTS (msg:"ET EXPLOIT Malformed HeartBeat Request"; flow:established,to_server; content:"|18 03|"; depth:2; byte_test:1,<,4,2; content:"|01|"; offset:5; depth:1; byte_extract:2,3,record_len; byte_test:2,>,2,3; byte_test:2,>,record_len,6; threshold:type limit,track by_src,count 1,seconds 120; flowbits:set,ET.MalformedTLSHB; reference:cve,2014-0160; sid:2018372; rev:3;))RULE";
  const auto session = [&](const std::string& heartbeat) {
    Sensor s(rule, {"rules.vars.address={HOME_NET: \"[198.51.100.20/32]\"}"});
    TcpConversation c = conversation(40001, 4433);
    s.feed(c.handshake());
    s.feed(c.client_sends(heartbeat));
    return s.sids();
  };
  // Record of 3 bytes claiming a 16 KiB payload.
  EXPECT_EQ(session(std::string("\x18\x03\x02\x00\x03\x01\x40\x00", 8)), Sids{2018372});
  // Record of 19 bytes holding its 16-byte payload and padding.
  EXPECT_EQ(session(std::string("\x18\x03\x02\x00\x13\x01\x00\x10", 8) + std::string(16, 'p')),
            Sids{});
}

TEST(Detection, NotEstablishedAndFlags) {
  Sensor s(
      "alert tcp any any -> any 80 (msg:\"syn\"; flags:S; flow:not_established; sid:1;)\n"
      "alert tcp any any -> any 80 (msg:\"fin\"; flags:+F; sid:2;)\n"
      "alert tcp any any -> any 80 (msg:\"no urg\"; flags:!U; flow:established; sid:3;)\n");
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(c.client_sends("hello"));
  s.feed(c.close());
  const Sids got = s.sids();
  EXPECT_EQ(std::count(got.begin(), got.end(), 1u), 1);
  EXPECT_EQ(std::count(got.begin(), got.end(), 2u), 1);
  EXPECT_EQ(std::count(got.begin(), got.end(), 3u), 1);
}

TEST(Detection, DsizeOnPacketPayload) {
  Sensor s(
      "alert udp any any -> any any (msg:\"big\"; dsize:>100; sid:1;)\n"
      "alert udp any any -> any any (msg:\"range\"; dsize:4<>6; content:\"ab\"; sid:2;)\n");
  auto udp = [](size_t size, uint16_t sport) {
    return FrameBuilder()
        .ethernet()
        .ipv4("198.51.100.10", "198.51.100.20")
        .udp(sport, 9999)
        .payload(std::string(size, 'a') + (size >= 2 ? "" : ""))
        .build();
  };
  s.feed(udp(100, 1000));  // not > 100
  s.feed(udp(101, 1001));  // > 100
  s.feed(FrameBuilder()
             .ethernet()
             .ipv4("198.51.100.10", "198.51.100.20")
             .udp(1002, 9999)
             .payload("xxab6")
             .build());  // 5 bytes, strictly between 4 and 6
  s.feed(FrameBuilder()
             .ethernet()
             .ipv4("198.51.100.10", "198.51.100.20")
             .udp(1003, 9999)
             .payload("xxab")
             .build());  // 4: not strictly inside
  EXPECT_EQ(s.sids(), (Sids{1, 2}));
}

TEST(Detection, Ipv6AndVlanFlows) {
  Sensor s("alert tcp any any -> any 80 (msg:\"m\"; content:\"evilpattern\"; sid:1;)");
  TcpConversation v6({"2001:db8::10", 40000, testing::kClientMac},
                     {"2001:db8::20", 80, testing::kServerMac});
  s.feed(v6.handshake());
  v6.set_mss(5);
  s.feed(v6.client_sends("GET /evilpattern"));
  TcpConversation tagged = conversation(40001);
  tagged.set_vlans({100});
  s.feed(tagged.handshake());
  s.feed(tagged.client_sends("GET /evilpattern"));
  const auto alerts = s.alerts();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].src_ip(), "2001:db8::10");
  EXPECT_EQ(alerts[0].dest_port(), 80u);
  EXPECT_EQ(alerts[1].src_ip(), "198.51.100.10");
  ASSERT_EQ(alerts[1].vlan_size(), 1);
  EXPECT_EQ(alerts[1].vlan(0), 100u);
}

TEST(Detection, AlertsOncePerFlowAndDirectionWithEveFields) {
  Sensor s(
      "reject tcp any any -> any 80 (msg:\"Evil \\\"quoted\\\"\"; content:\"evil\"; "
      "classtype:web-application-attack; sid:7; rev:3;)");
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(c.client_sends("evil evil"));
  s.feed(c.client_sends("more evil"));
  const auto alerts = s.alerts();
  ASSERT_EQ(alerts.size(), 1u);
  const v1::Alert& a = alerts[0];
  EXPECT_EQ(a.event_type(), "alert");
  EXPECT_EQ(a.proto(), "TCP");
  EXPECT_EQ(a.src_port(), 40000u);
  EXPECT_EQ(a.alert().gid(), 1u);
  EXPECT_EQ(a.alert().rev(), 3u);
  EXPECT_EQ(a.alert().signature(), "Evil \"quoted\"");
  EXPECT_EQ(a.alert().category(), "Web Application Attack");
  EXPECT_EQ(a.alert().severity(), 1u);
  EXPECT_EQ(a.alert().action(), "allowed");  // nothing was sent: no responder here
  EXPECT_GT(a.flow_id(), 0);
  EXPECT_EQ(a.seq(), 1u);
}

TEST(Detection, PassRuleEndsInspectionOfItsFlow) {
  Sensor s(
      "pass tcp any any -> any 80 (msg:\"ok\"; content:\"trusted\"; sid:1;)\n"
      "alert tcp any any -> any 80 (msg:\"bad\"; content:\"evil\"; sid:2;)\n");
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(c.client_sends("trusted evil"));
  s.feed(c.client_sends("evil again"));
  TcpConversation other = conversation(40001);
  s.feed(other.handshake());
  s.feed(other.client_sends("evil"));
  EXPECT_EQ(s.sids(), Sids{2});  // only the flow without the pass
}

TEST(Detection, PcreOnlyRuleIsPrefilteredAcrossSegments) {
  Sensor s("alert tcp any any -> any any (msg:\"m\"; pcre:\"/ev[i1]l+pattern/\"; sid:1;)");
  EXPECT_EQ(s.engine().stats().pcre_prefilters, 1u);
  TcpConversation c = conversation();
  s.feed(c.handshake());
  c.set_mss(3);
  s.feed(c.client_sends("xx ev1lllpattern yy"));
  EXPECT_EQ(s.sids(), Sids{1});
}

TEST(Detection, HeaderOnlyRuleAlertsOncePerDirection) {
  Sensor s("alert icmp 198.51.100.0/24 any -> 198.51.100.20 any (msg:\"icmp\"; sid:1;)");
  for (int i = 0; i < 3; ++i) {
    s.feed(FrameBuilder()
               .ethernet()
               .ipv4("198.51.100.10", "198.51.100.20")
               .icmp(8, 0, 0x00010000u + static_cast<uint32_t>(i))
               .payload("ping")
               .build());
  }
  EXPECT_EQ(s.sids(), Sids{1});
}

TEST(Detection, TenThousandGeneratedRulesLoadAndMatchExactly) {
  std::string text;
  for (int i = 1; i <= 10000; ++i) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "alert tcp any any -> any any (msg:\"generated %d\"; content:\"tok%05dz\"; "
                  "%ssid:%d;)\n",
                  i, i, i % 3 == 0 ? "nocase; " : "", i);
    text += buf;
  }
  Sensor s(text);
  EXPECT_EQ(s.engine().stats().rules, 10000u);
  TcpConversation c = conversation();
  s.feed(c.handshake());
  c.set_mss(7);
  s.feed(c.client_sends("a tok00042z b TOK09999Z c TOK00043Z d tok10000z"));
  Sids got = s.sids();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (Sids{42, 9999, 10000}));  // 43 is case-sensitive
}

TEST(Detection, TransactionRulesInspectApplicationBuffers) {
  core::Config config(cli::config_schema());
  rules::Classifications classes;
  const rules::Registry& registry = applayer::rule_registry();
  rules::RuleParser parser(rules::default_variables(), &classes, registry);
  parser.parse_text(
      "alert http any any -> any any (msg:\"uri\"; http.uri; content:\"/etc/passwd\"; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"host\"; http.host; content:\"evil.test\"; "
      "http.uri; content:\"/x\"; sid:2;)\n",
      "t.rules");
  std::vector<rules::Diagnostic> diagnostics;
  DetectionEngine engine(parser.take().rules, detect_options(config), diagnostics, registry);
  EXPECT_EQ(engine.stats().by_scope[static_cast<size_t>(Scope::kTransaction)], 2u);
  struct Sink : AlertSink {
    std::vector<uint32_t> sids;
    void on_alert(const AlertEvent& a) override { sids.push_back(a.rule->rule().sid); }
  } sink;
  Detector detector(engine, sink);
  flow::Flow f;
  f.key.family = 4;
  f.key.proto = decode::ip_proto::kTcp;
  std::vector<InspectBuffer> buffers(registry.buffer_count());
  const std::string uri = "/cgi/../etc/passwd", host = "www.evil.test";
  auto set = [&](const char* name, const std::string& s) {
    buffers[registry.find_sticky(name)] = {
        std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()), 0, true};
  };
  set("http.uri", uri);
  set("http.host", host);
  TransactionView tx;
  tx.buffers = buffers;
  tx.complete = true;
  // Not yet identified as HTTP: the `alert http` rule does not apply; the tcp one needs "/x".
  detector.on_transaction(f, flow::Direction::kToServer, tx, nullptr);
  EXPECT_TRUE(sink.sids.empty());
  tx.app = rules::AppProto::kHttp;
  detector.on_transaction(f, flow::Direction::kToServer, tx, nullptr);
  EXPECT_EQ(sink.sids, Sids{1});
  // The same transaction again: each rule fires once per transaction.
  detector.on_transaction(f, flow::Direction::kToServer, tx, nullptr);
  EXPECT_EQ(sink.sids, Sids{1});
  const std::string uri2 = "/x/y";
  set("http.uri", uri2);
  tx.tx_id = 1;
  detector.on_transaction(f, flow::Direction::kToServer, tx, nullptr);
  EXPECT_EQ(sink.sids, (Sids{1, 2}));
}

}  // namespace
}  // namespace spanguard::detect

namespace spanguard::detect {
namespace {

TEST(Detection, ScanStateIsFreedWhenTheConnectionClosesNotWhenTheFlowExpires) {
  Sensor s("alert tcp any any -> any 80 (msg:\"m\"; content:\"never-there\"; sid:1;)");
  TcpConversation c = conversation();
  s.feed(c.handshake());
  s.feed(c.client_sends("GET / HTTP/1.1\r\n\r\n"));
  s.feed(c.server_sends("HTTP/1.1 200 OK\r\n\r\n"));
  EXPECT_EQ(s.counter("detect.streams"), 2u);
  EXPECT_EQ(s.counter("detect.streams_released"), 0u);
  s.feed(c.close());  // the flow lingers for the closed-state timeout; its streams do not
  EXPECT_EQ(s.counter("detect.streams_released"), 2u);
  EXPECT_EQ(s.counter("flow.active"), 1u);
}

// Released streams are reset and pooled: the next connections take them instead of opening new
// ones, and a pooled stream carries nothing of its last flow into the next.
TEST(Detection, ReleasedStreamsAreReusedAndStartClean) {
  Sensor s("alert tcp any any -> any 80 (msg:\"m\"; content:\"split-pattern\"; sid:1;)");
  TcpConversation first({"198.51.100.1", 40000, testing::kClientMac},
                        {"198.51.100.2", 80, testing::kServerMac});
  s.feed(first.handshake());
  s.feed(first.client_sends("GET /split-"));  // the first half of the pattern, then the close
  s.feed(first.close());
  EXPECT_EQ(s.counter("detect.streams"), 1u);
  TcpConversation second({"198.51.100.1", 40001, testing::kClientMac},
                         {"198.51.100.2", 80, testing::kServerMac});
  s.feed(second.handshake());
  s.feed(second.client_sends("pattern HTTP/1.1\r\n\r\n"));  // the second half alone: no match
  EXPECT_EQ(s.counter("detect.streams"), 1u);
  EXPECT_EQ(s.counter("detect.streams_reused"), 1u);
  EXPECT_EQ(s.counter("detect.alerts"), 0u);
  s.feed(second.client_sends("split-pattern"));
  EXPECT_EQ(s.counter("detect.alerts"), 1u);
}

}  // namespace
}  // namespace spanguard::detect
