// FTP, the two-session protocol, through `spanguard replay` on generated captures: the data
// connection a control session announces (PASV's 227 answer, or the client's PORT) is recognised
// as ftp-data whatever its ports and named in its flow record as the child of the control flow;
// `alert ftp-data` rules see it; ftpbounce (ET's GPL rule) fires on a PORT naming another host.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "capture_writer.h"
#include "frame_builder.h"
#include "process.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

constexpr char kClientIp[] = "198.51.100.1";
constexpr char kServerIp[] = "198.51.100.2";

void append(std::vector<Bytes>& to, const std::vector<Bytes>& more) {
  to.insert(to.end(), more.begin(), more.end());
}

struct Replay {
  RunResult run;
  std::vector<std::string> events;
};

Replay replay(const std::string& name, const std::vector<Bytes>& frames, const std::string& rules,
              const std::vector<std::string>& extra = {}) {
  const std::string pcap = temp_path(name + ".pcap");
  {
    CaptureWriter w(pcap);
    int64_t ts = 1'700'000'000'000'000'000;
    for (const Bytes& f : frames) w.write(f, ts += 1000);
  }
  const std::string rules_path = temp_path(name + ".rules");
  std::ofstream(rules_path) << rules << "\n";
  const std::string eve = temp_path(name + ".json");
  Replay out;
  std::vector<std::string> args = {spanguard_binary(),
                                   "replay",
                                   "--pcap",
                                   pcap,
                                   "--rules",
                                   rules_path,
                                   "--eve",
                                   eve,
                                   "--strict",
                                   "--set",
                                   "flow.records=yes",
                                   "--set",
                                   "rules.vars.address={HOME_NET: \"[198.51.100.2/32]\"}"};
  args.insert(args.end(), extra.begin(), extra.end());
  out.run = run(args);
  out.events = lines_of(eve);
  return out;
}

// The flow record whose server port is `port`, or "".
std::string flow_record_to_port(const Replay& r, uint16_t port) {
  for (const std::string& e : r.events) {
    if (e.find("\"event_type\":\"flow\"") != std::string::npos &&
        e.find("\"dest_port\":" + std::to_string(port) + ",") != std::string::npos)
      return e;
  }
  return "";
}

std::string field(const std::string& event, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(event, m, std::regex("\"" + name + "\":([0-9]+)"))) return "";
  return m[1];
}

// Events of `type` ("alert", "reset") naming the rule `sid`.
int events_of(const Replay& r, const std::string& type, uint32_t sid) {
  int n = 0;
  for (const std::string& e : r.events)
    n += e.find("\"event_type\":\"" + type + "\"") != std::string::npos &&
         e.find("\"signature_id\":" + std::to_string(sid) + ",") != std::string::npos;
  return n;
}
int alerts_of(const Replay& r, uint32_t sid) { return events_of(r, "alert", sid); }

const std::string kDataRule =
    R"(alert ftp-data any any -> any any (msg:"secret in an ftp-data session"; content:"TOP-SECRET-PAYLOAD"; sid:9001; rev:1;))";
// emerging-ftp.rules (GPL): PORT naming another host than the client.
const std::string k2103441 =
    R"RULE(alert tcp $EXTERNAL_NET any -> $HOME_NET 21 (msg:"GPL FTP PORT bounce attempt"; flow:to_server,established; content:"PORT"; nocase; ftpbounce; pcre:"/^PORT/smi"; classtype:misc-attack; sid:2103441; rev:2; metadata:created_at 2010_09_23, updated_at 2019_07_26;))RULE";

// A control session with one transfer: passive (PASV, the client connects to the announced port)
// or active (PORT, the server connects from port 20 to the client's announced port).
// `upload`: STOR, the client sends the file; else RETR, the server does.
std::vector<Bytes> ftp_session(bool passive, const std::string& port_address = "198,51,100,1",
                               bool upload = false) {
  TcpConversation control({kClientIp, 40000, kClientMac}, {kServerIp, 21, kServerMac});
  std::vector<Bytes> frames = control.handshake();
  append(frames, control.server_sends("220 (vsFTPd 3.0.3)\r\n"));
  append(frames, control.client_sends("USER anonymous\r\n"));
  append(frames, control.server_sends("331 Please specify the password.\r\n"));
  append(frames, control.client_sends("PASS guest@\r\n"));
  append(frames, control.server_sends("230 Login successful.\r\n"));
  if (passive) {
    append(frames, control.client_sends("PASV\r\n"));
    // Port 195 * 256 + 80 = 50000.
    append(frames, control.server_sends("227 Entering Passive Mode (198,51,100,2,195,80).\r\n"));
  } else {
    // Port 160 * 256 + 40 = 41000.
    append(frames, control.client_sends("PORT " + port_address + ",160,40\r\n"));
    append(frames, control.server_sends("200 PORT command successful.\r\n"));
  }
  append(frames, control.client_sends(upload ? "STOR report.txt\r\n" : "RETR report.txt\r\n"));
  append(frames, control.server_sends("150 Opening BINARY mode data connection.\r\n"));
  TcpConversation data =
      passive ? TcpConversation({kClientIp, 40001, kClientMac}, {kServerIp, 50000, kServerMac})
              : TcpConversation({kServerIp, 20, kServerMac}, {kClientIp, 41000, kClientMac});
  append(frames, data.handshake());
  const std::string file = "header\nTOP-SECRET-PAYLOAD\n" + std::string(3000, 'x');
  // The data connection's client is the FTP client (passive) or server (active).
  append(frames, passive == upload ? data.client_sends(file) : data.server_sends(file));
  append(frames, data.close());
  append(frames, control.server_sends("226 Transfer complete.\r\n"));
  append(frames, control.client_sends("QUIT\r\n"));
  append(frames, control.server_sends("221 Goodbye.\r\n"));
  append(frames, control.close());
  return frames;
}

TEST(FtpSessions, PassiveDataConnectionIsLinkedToItsControlSession) {
  const Replay r = replay("ftp-pasv", ftp_session(true), kDataRule);
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  const std::string control = flow_record_to_port(r, 21);
  const std::string data = flow_record_to_port(r, 50000);
  ASSERT_FALSE(control.empty());
  ASSERT_FALSE(data.empty());
  EXPECT_NE(control.find("\"app_proto\":\"ftp\""), std::string::npos) << control;
  EXPECT_NE(data.find("\"app_proto\":\"ftp-data\""), std::string::npos) << data;
  EXPECT_EQ(field(data, "parent_id"), field(control, "flow_id")) << data << "\n" << control;
  EXPECT_EQ(field(control, "parent_id"), "") << control;
  EXPECT_EQ(alerts_of(r, 9001), 1);
}

TEST(FtpSessions, ActiveDataConnectionFromPort20IsLinkedToItsControlSession) {
  const Replay r = replay("ftp-port", ftp_session(false), kDataRule);
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  const std::string control = flow_record_to_port(r, 21);
  const std::string data = flow_record_to_port(r, 41000);
  ASSERT_FALSE(data.empty());
  EXPECT_NE(data.find("\"app_proto\":\"ftp-data\""), std::string::npos) << data;
  EXPECT_EQ(field(data, "parent_id"), field(control, "flow_id")) << data << "\n" << control;
  EXPECT_EQ(alerts_of(r, 9001), 1);
}

TEST(FtpSessions, AConnectionToAnUnannouncedPortIsNoFtpData) {
  TcpConversation other({kClientIp, 40002, kClientMac}, {kServerIp, 50001, kServerMac});
  std::vector<Bytes> frames = ftp_session(true);
  append(frames, other.handshake());
  append(frames, other.server_sends("TOP-SECRET-PAYLOAD but not announced\n"));
  append(frames, other.close());
  const Replay r = replay("ftp-unannounced", frames, kDataRule);
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  const std::string stray = flow_record_to_port(r, 50001);
  ASSERT_FALSE(stray.empty());
  EXPECT_EQ(stray.find("ftp-data"), std::string::npos) << stray;
  EXPECT_EQ(field(stray, "parent_id"), "") << stray;
  EXPECT_EQ(alerts_of(r, 9001), 1);  // the announced one only
}

TEST(FtpSessions, FtpbounceFiresOnAPortNamingAnotherHostOnly) {
  const Replay own = replay("ftp-own-port", ftp_session(false), k2103441);
  ASSERT_EQ(own.run.status, 0) << own.run.err;
  EXPECT_EQ(alerts_of(own, 2103441), 0);
  const Replay bounce = replay("ftp-bounce", ftp_session(false, "198,51,100,99"), k2103441);
  ASSERT_EQ(bounce.run.status, 0) << bounce.run.err;
  EXPECT_EQ(alerts_of(bounce, 2103441), 1);
}

TEST(FtpSessions, FtpdataCommandTellsDownloadsFromUploads) {
  const std::string rules =
      R"(alert ftp-data any any -> any any (msg:"download"; ftpdata_command:retr; content:"TOP-SECRET"; sid:9201;))"
      "\n"
      R"(alert tcp any any -> any any (msg:"upload"; ftpdata_command:stor; content:"TOP-SECRET"; sid:9202;))";
  for (const bool passive : {true, false}) {
    const std::string mode = passive ? "-pasv" : "-port";
    const Replay download = replay("ftp-retr" + mode, ftp_session(passive), rules);
    ASSERT_EQ(download.run.status, 0) << download.run.err;
    EXPECT_EQ(alerts_of(download, 9201), 1) << "passive " << passive;
    EXPECT_EQ(alerts_of(download, 9202), 0) << "passive " << passive;
    const Replay upload =
        replay("ftp-stor" + mode, ftp_session(passive, "198,51,100,1", true), rules);
    ASSERT_EQ(upload.run.status, 0) << upload.run.err;
    EXPECT_EQ(alerts_of(upload, 9201), 0) << "passive " << passive;
    EXPECT_EQ(alerts_of(upload, 9202), 1) << "passive " << passive;
  }
}

// ---- respond.ftp_data: a reset control session takes its data sessions along -------------------

const std::string kRejectDele =
    R"(reject ftp any any -> any any (msg:"deleting the evidence"; content:"DELE audit.log"; sid:9100; rev:1;))";

// (source port, destination port) of every RST the sensor would have injected.
std::set<std::pair<uint16_t, uint16_t>> injected_rsts(const std::string& resets_pcap) {
  std::set<std::pair<uint16_t, uint16_t>> out;
  for (const CapturedFrame& f : read_capture(resets_pcap)) {
    // Ethernet, IPv4 without options, TCP.
    if (f.bytes.size() < 54 || f.bytes[23] != 6 || !(f.bytes[47] & 0x04)) continue;
    out.emplace(static_cast<uint16_t>(f.bytes[34] << 8 | f.bytes[35]),
                static_cast<uint16_t>(f.bytes[36] << 8 | f.bytes[37]));
  }
  return out;
}

// A passive transfer under way when the client sends the trigger on the control session, or
// (data_after_trigger) a data connection opened only after it.
std::vector<Bytes> ftp_session_with_trigger(bool data_after_trigger) {
  TcpConversation control({kClientIp, 40000, kClientMac}, {kServerIp, 21, kServerMac});
  TcpConversation data({kClientIp, 40001, kClientMac}, {kServerIp, 50000, kServerMac});
  std::vector<Bytes> frames = control.handshake();
  append(frames, control.server_sends("220 (vsFTPd 3.0.3)\r\n"));
  append(frames, control.client_sends("USER anonymous\r\n"));
  append(frames, control.server_sends("230 Login successful.\r\n"));
  append(frames, control.client_sends("PASV\r\n"));
  append(frames, control.server_sends("227 Entering Passive Mode (198,51,100,2,195,80).\r\n"));
  const auto transfer = [&] {
    append(frames, data.handshake());
    append(frames, data.server_sends(std::string(2000, 'x')));
  };
  if (!data_after_trigger) transfer();
  append(frames, control.client_sends("DELE audit.log\r\n"));
  if (data_after_trigger) transfer();
  append(frames, data.server_sends(std::string(2000, 'y')));
  return frames;
}

TEST(FtpSessions, AResetControlSessionTakesItsOpenDataSessionAlong) {
  const std::string resets = temp_path("ftp-follow-resets.pcap");
  const Replay r =
      replay("ftp-follow", ftp_session_with_trigger(false), kRejectDele, {"--resets-pcap", resets});
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_EQ(alerts_of(r, 9100), 1);
  EXPECT_EQ(events_of(r, "reset", 9100), 2);  // the outcome of each session's reset
  const auto sent = injected_rsts(resets);
  // Both ends of the control session and both ends of the transfer.
  EXPECT_TRUE(sent.count({40000, 21}) && sent.count({21, 40000})) << r.run.err;
  EXPECT_TRUE(sent.count({40001, 50000})) << "no RST to the data session's server";
  EXPECT_TRUE(sent.count({50000, 40001})) << "no RST to the data session's client";
}

TEST(FtpSessions, ADataSessionOpenedAfterItsControlSessionWasResetIsResetToo) {
  const std::string resets = temp_path("ftp-follow-late-resets.pcap");
  const Replay r = replay("ftp-follow-late", ftp_session_with_trigger(true), kRejectDele,
                          {"--resets-pcap", resets});
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  const auto sent = injected_rsts(resets);
  EXPECT_TRUE(sent.count({40001, 50000}) && sent.count({50000, 40001})) << r.run.err;
}

TEST(FtpSessions, IgnoreLeavesTheDataSessionAlone) {
  const std::string resets = temp_path("ftp-ignore-resets.pcap");
  const Replay r = replay("ftp-ignore", ftp_session_with_trigger(false), kRejectDele,
                          {"--resets-pcap", resets, "--set", "respond.ftp_data=ignore"});
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  const auto sent = injected_rsts(resets);
  EXPECT_TRUE(sent.count({40000, 21}) && sent.count({21, 40000})) << r.run.err;
  EXPECT_FALSE(sent.count({40001, 50000}) || sent.count({50000, 40001}));
}

}  // namespace
}  // namespace spanguard::testing
