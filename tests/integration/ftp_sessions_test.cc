// FTP, the two-session protocol, through `spanguard replay` on generated captures: the data
// connection a control session announces (PASV's 227 answer, or the client's PORT) is recognised
// as ftp-data whatever its ports and named in its flow record as the child of the control flow;
// `alert ftp-data` rules see it; ftpbounce (ET's GPL rule) fires on a PORT naming another host.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <string>
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

Replay replay(const std::string& name, const std::vector<Bytes>& frames, const std::string& rules) {
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
  out.run = run({spanguard_binary(), "replay", "--pcap", pcap, "--rules", rules_path, "--eve", eve,
                 "--strict", "--set", "flow.records=yes", "--set",
                 "rules.vars.address={HOME_NET: \"[198.51.100.2/32]\"}"});
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

int alerts_of(const Replay& r, uint32_t sid) {
  int n = 0;
  for (const std::string& e : r.events)
    n += e.find("\"signature_id\":" + std::to_string(sid) + ",") != std::string::npos;
  return n;
}

const std::string kDataRule =
    R"(alert ftp-data any any -> any any (msg:"secret in an ftp-data session"; content:"TOP-SECRET-PAYLOAD"; sid:9001; rev:1;))";
// emerging-ftp.rules (GPL): PORT naming another host than the client.
const std::string k2103441 =
    R"RULE(alert tcp $EXTERNAL_NET any -> $HOME_NET 21 (msg:"GPL FTP PORT bounce attempt"; flow:to_server,established; content:"PORT"; nocase; ftpbounce; pcre:"/^PORT/smi"; classtype:misc-attack; sid:2103441; rev:2; metadata:created_at 2010_09_23, updated_at 2019_07_26;))RULE";

// A control session with one transfer: passive (PASV, the client connects to the announced port)
// or active (PORT, the server connects from port 20 to the client's announced port).
std::vector<Bytes> ftp_session(bool passive, const std::string& port_address = "198,51,100,1") {
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
  append(frames, control.client_sends("RETR report.txt\r\n"));
  append(frames, control.server_sends("150 Opening BINARY mode data connection.\r\n"));
  TcpConversation data =
      passive ? TcpConversation({kClientIp, 40001, kClientMac}, {kServerIp, 50000, kServerMac})
              : TcpConversation({kServerIp, 20, kServerMac}, {kClientIp, 41000, kClientMac});
  append(frames, data.handshake());
  const std::string file = "header\nTOP-SECRET-PAYLOAD\n" + std::string(3000, 'x');
  append(frames, passive ? data.server_sends(file) : data.client_sends(file));
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

}  // namespace
}  // namespace spanguard::testing
