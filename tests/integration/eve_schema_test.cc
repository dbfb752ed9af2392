// Every event type spanguard writes to EVE, checked against Suricata's EVE JSON schema (vendored in
// tests/data/eve): generated captures replayed through `spanguard replay`, and the same events as
// spanguard-collector writes them, validated line by line by eve_schema_check.py, which accepts
// only the fields of our own that it lists.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dns_messages.h"
#include "frame_builder.h"
#include "process.h"
#include "rule_replay.h"
#include "tcp_conversation.h"
#include "tls_messages.h"

namespace spanguard::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kClient[] = "198.51.100.1";
constexpr char kServer[] = "198.51.100.2";
constexpr char kResolver[] = "198.51.100.53";
constexpr char kClient6[] = "2001:db8::1";
constexpr char kServer6[] = "2001:db8::2";

void append(std::vector<Bytes>& to, const std::vector<Bytes>& more) {
  to.insert(to.end(), more.begin(), more.end());
}

std::string_view text(const Bytes& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// ---- the protocols capture ---------------------------------------------------------------------

// Two keep-alive transactions on a VLAN (Host with a port, user agent, referer; a 200 with a body
// and a 301 with a Location), then the FIN exchange.
std::vector<Bytes> http_on_vlan() {
  TcpConversation c({kClient, 40000, kClientMac}, {kServer, 8080, kServerMac});
  c.set_vlans({100});
  std::vector<Bytes> frames = c.handshake();
  append(frames, c.client_sends("GET /schema/item?id=7 HTTP/1.1\r\nHost: Shop.Example:8080\r\n"
                                "User-Agent: probe/1.0\r\nReferer: http://start.example/\r\n\r\n"));
  append(frames, c.server_sends("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                                "Content-Length: 11\r\n\r\nhello world"));
  append(frames, c.client_sends("GET /old HTTP/1.1\r\nHost: shop.example\r\n\r\n"));
  append(frames,
         c.server_sends("HTTP/1.1 301 Moved Permanently\r\nLocation: /new\r\nContent-Length: 0"
                        "\r\n\r\n"));
  append(frames, c.close());
  return frames;
}

std::vector<Bytes> http_over_ipv6() {
  TcpConversation c({kClient6, 40001, kClientMac}, {kServer6, 80, kServerMac});
  std::vector<Bytes> frames = c.handshake();
  append(frames, c.client_sends("GET /schema/item?v=6 HTTP/1.1\r\nHost: [2001:db8::2]\r\n\r\n"));
  append(frames, c.server_sends("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"));
  append(frames, c.close());
  return frames;
}

// A full TLS 1.2 handshake: SNI and ALPN, the server's certificate, then application data.
std::vector<Bytes> tls_session() {
  const tls::KeyPair key;
  const tls::Bytes certificate = tls::make_certificate(
      {.subject = {{"C", "US"}, {"O", "Example"}, {"CN", "schema.example.com"}},
       .issuer = {{"C", "US"}, {"CN", "Example Issuing CA"}},
       .serial = {0x0a, 0xe1, 0xe6},
       .not_before = 1'700'000'000 - 86'400 * 30,
       .not_after = 1'700'000'000 + 86'400 * 365},
      key, key);
  tls::ClientHelloSpec hello;
  hello.extensions = {tls::server_name("schema.example.com"), tls::supported_groups({29, 23}),
                      tls::ec_point_formats({0}), tls::signature_algorithms({0x0403, 0x0804}),
                      tls::alpn({"h2", "http/1.1"})};
  tls::ServerHelloSpec server_hello;
  server_hello.extensions = {tls::alpn({"h2"})};

  TcpConversation c({kClient, 49733, kClientMac}, {kServer, 443, kServerMac});
  std::vector<Bytes> frames = c.handshake();
  append(frames, c.client_sends(text(tls::handshake_records({tls::client_hello(hello)}))));
  append(frames, c.server_sends(text(tls::handshake_records(
                     {tls::server_hello(server_hello), tls::certificate_message({certificate}),
                      tls::server_hello_done()}))));
  // RFC 5246 §7.3: ClientKeyExchange, ChangeCipherSpec and the (encrypted) Finished each way.
  append(frames,
         c.client_sends(text(tls::concat(
             {tls::handshake_records({tls::client_key_exchange()}), tls::change_cipher_spec(),
              tls::record(tls::kHandshake, tls::kTls12, tls::Bytes(40, 0x5c))}))));
  append(frames, c.server_sends(text(tls::concat(
                     {tls::change_cipher_spec(),
                      tls::record(tls::kHandshake, tls::kTls12, tls::Bytes(40, 0x5d))}))));
  append(frames, c.client_sends(text(tls::application_data(96))));
  append(frames, c.server_sends(text(tls::application_data(512))));
  append(frames, c.close());
  return frames;
}

Bytes udp_frame(std::string_view src, uint16_t sport, std::string_view dst, uint16_t dport,
                const Bytes& payload, bool from_client = true) {
  return FrameBuilder()
      .ethernet(from_client ? kClientMac : kServerMac, from_client ? kServerMac : kClientMac)
      .ipv4(src, dst)
      .udp(sport, dport)
      .payload(payload)
      .build();
}

// A lookup answered with a CNAME chain, an address and a TXT record; a lookup that fails; the same
// names over TCP and IPv6 (length-prefixed messages).
std::vector<Bytes> dns_lookups() {
  const Bytes answer = DnsMessageBuilder(0x4242, response_flags())
                           .question("lookup.example.org", dns_type::kA)
                           .answer(rr_cname("lookup.example.org", "edge.example.org", 60))
                           .answer(rr_a("edge.example.org", "198.51.100.80"))
                           .answer(rr_txt("edge.example.org", {"v=schema", "check"}))
                           .compress()
                           .build();
  const Bytes nxdomain = DnsMessageBuilder(0x4343, response_flags(3))
                             .question("missing.example.org", dns_type::kAaaa)
                             .build();
  std::vector<Bytes> frames = {
      udp_frame(kClient, 53001, kResolver, 53, dns_query(0x4242, "lookup.example.org", 1)),
      udp_frame(kResolver, 53, kClient, 53001, answer, false),
      udp_frame(kClient, 53002, kResolver, 53,
                dns_query(0x4343, "missing.example.org", dns_type::kAaaa)),
      udp_frame(kResolver, 53, kClient, 53002, nxdomain, false),
  };
  TcpConversation c({kClient6, 53003, kClientMac}, {"2001:db8::53", 53, kServerMac});
  append(frames, c.handshake());
  append(frames, c.client_sends(text(tcp_frame(dns_query(0x5151, "lookup.example.org", 1)))));
  append(frames,
         c.server_sends(text(tcp_frame(DnsMessageBuilder(0x5151, response_flags())
                                           .question("lookup.example.org", dns_type::kA)
                                           .answer(rr_aaaa("lookup.example.org", "2001:db8::80"))
                                           .build()))));
  append(frames, c.close());
  return frames;
}

// Echo request and reply over ICMP and ICMPv6, and a syslog datagram (UDP, no app-layer).
std::vector<Bytes> datagrams() {
  const auto icmp = [](bool v6, bool request) {
    FrameBuilder b;
    b.ethernet(request ? kClientMac : kServerMac, request ? kServerMac : kClientMac);
    if (v6) {
      b.ipv6(request ? kClient6 : kServer6, request ? kServer6 : kClient6);
    } else {
      b.ipv4(request ? kClient : kServer, request ? kServer : kClient);
    }
    const uint8_t type = v6 ? (request ? 128 : 129) : (request ? 8 : 0);
    return b.icmp(type, 0, 0x00010001).payload("schema ping").build();
  };
  const std::string syslog = "<34>Nov 14 22:13:20 host app: SCHEMA-UDP message";
  return {icmp(false, true), icmp(false, false), icmp(true, true), icmp(true, false),
          udp_frame(kClient, 51514, kServer, 514, Bytes(syslog.begin(), syslog.end()))};
}

// A passive FTP transfer: the control session announces the data connection (its flow record
// names the control flow as parent_id).
std::vector<Bytes> ftp_transfer() {
  TcpConversation control({kClient, 40010, kClientMac}, {kServer, 21, kServerMac});
  std::vector<Bytes> frames = control.handshake();
  append(frames, control.server_sends("220 (vsFTPd 3.0.3)\r\n"));
  append(frames, control.client_sends("USER anonymous\r\n"));
  append(frames, control.server_sends("230 Login successful.\r\n"));
  append(frames, control.client_sends("PASV\r\n"));
  // Port 195 * 256 + 80 = 50000.
  append(frames, control.server_sends("227 Entering Passive Mode (198,51,100,2,195,80).\r\n"));
  append(frames, control.client_sends("RETR report.txt\r\n"));
  append(frames, control.server_sends("150 Opening BINARY mode data connection.\r\n"));
  TcpConversation data({kClient, 40011, kClientMac}, {kServer, 50000, kServerMac});
  append(frames, data.handshake());
  append(frames, data.server_sends("header\nSCHEMA-FTP-DATA\n" + std::string(2000, 'x')));
  append(frames, data.close());
  append(frames, control.server_sends("226 Transfer complete.\r\n"));
  append(frames, control.client_sends("QUIT\r\n"));
  append(frames, control.server_sends("221 Goodbye.\r\n"));
  append(frames, control.close());
  return frames;
}

// A connection attempt nobody answers: its flow record ends in state "new".
std::vector<Bytes> unanswered_syn() {
  TcpConversation c({kClient, 40020, kClientMac}, {kServer, 8443, kServerMac});
  std::vector<Bytes> handshake = c.handshake();
  return {handshake.front()};
}

std::vector<Bytes> protocols_capture() {
  std::vector<Bytes> frames;
  for (const auto& part : {http_on_vlan(), http_over_ipv6(), tls_session(), dns_lookups(),
                           datagrams(), ftp_transfer(), unanswered_syn()}) {
    append(frames, part);
  }
  return frames;
}

// Alerts on transactions (http, tls, dns objects), with metadata, references and target, on UDP
// and on ICMP by itype.
const std::string kProtocolRules =
    R"(alert http any any -> any any (msg:"EVE schema: http request"; flow:established,to_server; http.uri; content:"/schema/item"; metadata:attack_target Web_Server, signature_severity Major, created_at 2024_04_21; reference:url,example.com/advisory; reference:cve,2021-44228; classtype:web-application-attack; target:dest_ip; sid:7100001; rev:3;)
alert http any any -> any any (msg:"EVE schema: http redirect"; flow:to_client; http.stat_code; content:"301"; sid:7100002; rev:1;)
alert tls any any -> any any (msg:"EVE schema: tls sni"; flow:established,to_server; tls.sni; content:"schema.example.com"; classtype:policy-violation; sid:7100003; rev:1;)
alert dns any any -> any any (msg:"EVE schema: dns query"; dns.query; content:"lookup.example.org"; metadata:signature_severity Minor; target:src_ip; sid:7100004; rev:1;)
alert udp any any -> any 514 (msg:"EVE schema: udp"; content:"SCHEMA-UDP"; target:dest_ip; sid:7100005; rev:1;)
alert icmp any any -> any any (msg:"EVE schema: icmp echo request"; itype:8; classtype:misc-activity; sid:7100006; rev:1;)
alert icmp any any -> any any (msg:"EVE schema: icmpv6 echo reply"; itype:129; target:src_ip; sid:7100007; rev:1;)
alert ftp-data any any -> any any (msg:"EVE schema: ftp-data"; content:"SCHEMA-FTP-DATA"; sid:7100008; rev:1;))";

// ---- the resets capture ------------------------------------------------------------------------

// The trigger alone (its ACK dropped), then the server's instant reply and the client's ACK of
// it: what the kill watch sees after the resets.
std::vector<Bytes> triggered(TcpConversation& c, std::string_view request, std::string_view reply) {
  std::vector<Bytes> frames = c.handshake();
  frames.push_back(c.client_sends(request).front());
  append(frames, c.server_sends(reply));
  return frames;
}

std::vector<Bytes> resets_capture() {
  TcpConversation http({kClient, 40100, kClientMac}, {kServer, 80, kServerMac});
  TcpConversation tcp6({kClient6, 40101, kClientMac}, {kServer6, 8080, kServerMac});
  std::vector<Bytes> frames =
      triggered(http, "GET /admin/SCHEMA-EVIL HTTP/1.1\r\nHost: shop.example\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  append(frames, triggered(tcp6, "SCHEMA-KILL-ME\r\n", "220 ready\r\n"));
  const std::string datagram = "SCHEMA-REJECT-UDP";
  frames.push_back(
      udp_frame(kClient, 40102, kServer, 5000, Bytes(datagram.begin(), datagram.end())));
  TcpConversation dropped({kClient, 40103, kClientMac}, {kServer, 9000, kServerMac});
  append(frames, dropped.handshake());
  append(frames, dropped.client_sends("SCHEMA-DROP\r\n"));
  return frames;
}

// Reject on an HTTP transaction (the alert carries http and reset), rejectboth on IPv6, reject on
// UDP (answered with ICMP unreachable, no TCP reset), drop with respond.drop=alert-only (nothing
// sent).
const std::string kResetRules =
    R"(reject http any any -> any any (msg:"EVE schema: reject http"; flow:established,to_server; http.uri; content:"SCHEMA-EVIL"; reference:url,example.com/evil; sid:7100101; rev:1;)
rejectboth tcp any any -> any 8080 (msg:"EVE schema: rejectboth"; flow:established,to_server; content:"SCHEMA-KILL-ME"; metadata:signature_severity Critical; sid:7100102; rev:1;)
reject udp any any -> any 5000 (msg:"EVE schema: reject udp"; content:"SCHEMA-REJECT-UDP"; sid:7100103; rev:1;)
drop tcp any any -> any 9000 (msg:"EVE schema: drop, alert only"; flow:established,to_server; content:"SCHEMA-DROP"; sid:7100104; rev:1;))";

// ---- running the sensor, the collector and the check -------------------------------------------

// Replays a capture with flow records and the http, tls and dns records on (and `extra_args`).
ReplayRun replay_with_records(const std::string& name, const std::vector<Bytes>& frames,
                              const std::string& rules, std::vector<std::string> extra_args) {
  extra_args.insert(extra_args.begin(),
                    {"--set", "flow.records=yes", "--set", "output.eve.http=true", "--set",
                     "output.eve.tls=true", "--set", "output.eve.dns=true"});
  return replay_to_eve(name, frames, rules, extra_args);
}

struct Replays {
  ReplayRun protocols, resets;
};

// Both captures; `alerts_url`, when given, also sends their events to a collector.
Replays replay_both(const std::string& alerts_url = "") {
  std::vector<std::string> to_collector;
  if (!alerts_url.empty()) to_collector = {"--alerts", alerts_url};
  Replays r;
  r.protocols = replay_with_records("eve-schema-protocols", protocols_capture(), kProtocolRules,
                                    to_collector);
  std::vector<std::string> reset_args = {"--resets-pcap", temp_path("eve-schema-resets-out.pcap"),
                                         "--set",         "respond.icmp=true",
                                         "--set",         "respond.drop=alert-only",
                                         "--set",         "output.eve.packet=true"};
  reset_args.insert(reset_args.end(), to_collector.begin(), to_collector.end());
  r.resets = replay_with_records("eve-schema-resets", resets_capture(), kResetRules, reset_args);
  return r;
}

std::string source_path(const std::string& relative) {
  return std::string(SPANGUARD_SOURCE_DIR) + "/" + relative;
}

bool python3_available() { return run({"python3", "--version"}).status == 0; }

// eve_schema_check.py over `eve_files`: every line valid, every --expect met.
RunResult check(const std::vector<std::string>& eve_files, const std::vector<std::string>& expect) {
  std::vector<std::string> argv = {"python3", source_path("tests/integration/eve_schema_check.py"),
                                   "--schema",
                                   source_path("tests/data/eve/suricata-eve-schema.json")};
  for (const std::string& e : expect) {
    argv.push_back("--expect");
    argv.push_back(e);
  }
  argv.insert(argv.end(), eve_files.begin(), eve_files.end());
  return run(argv);
}

// What the captures are built to produce, each at least once.
const std::vector<std::string> kEventTypes = {"alert", "flow", "http", "tls", "dns", "reset"};
const std::vector<std::string> kSensorCoverage = {
    "alert:proto=TCP",
    "alert:proto=UDP",
    "alert:proto=ICMP",
    "alert:proto=IPv6-ICMP",
    "alert:http",
    "alert:tls",
    "alert:dns",
    "alert:alert.metadata",
    "alert:alert.references",
    "alert:alert.target",
    "alert:alert.source",
    "alert:vlan",
    "alert:payload",
    "alert:payload_printable",
    "alert:packet",
    "alert:packet_info.linktype",
    "alert:stream",
    "alert:direction=to_server",
    "alert:pkt_src=wire/pcap",
    "alert:flow.pkts_toserver",
    "alert:icmp_type",
    "alert:host",
    "alert:pcap_filename",
    "flow:host",
    "alert:reset",
    "alert:alert.action=blocked",
    "alert:tx_id",
    "alert:community_id",
    "alert:app_proto=ftp-data",
    "flow:proto=TCP",
    "flow:proto=UDP",
    "flow:proto=ICMP",
    "flow:proto=IPv6-ICMP",
    "flow:parent_id",
    "flow:app_proto=ftp",
    "flow:tcp.state",
    "flow:tcp.tcp_flags",
    "flow:tcp.syn",
    "flow:icmp_type",
    "flow:response_icmp_type",
    "flow:flow.state=new",
    "flow:vlan",
    "http:http.status",
    "http:http.redirect",
    "tls:tls.ja3.hash",
    "tls:tls.subject",
    "tls:tls.server_alpns",
    "dns:dns.type=request",
    "dns:dns.type=response",
    "dns:dns.answers",
    "dns:dns.rcode=NXDOMAIN",
    "reset:alert_seq",
    "reset:dest_ip=2001:db8::2",
};

std::vector<std::string> with_event_types(std::vector<std::string> coverage) {
  coverage.insert(coverage.begin(), kEventTypes.begin(), kEventTypes.end());
  return coverage;
}

TEST(EveSchema, EveryEventTypeTheSensorWritesMatchesSuricatasSchema) {
  if (!python3_available()) GTEST_SKIP() << "python3 not found";
  const Replays r = replay_both();
  ASSERT_EQ(r.protocols.run.status, 0) << r.protocols.run.err;
  ASSERT_EQ(r.resets.run.status, 0) << r.resets.run.err;
  const RunResult c = check({r.protocols.eve, r.resets.eve}, with_event_types(kSensorCoverage));
  if (c.status == 0) std::cout << c.out;  // the summary: events per type, coverage
  EXPECT_EQ(c.status, 0) << c.out << c.err;
}

TEST(EveSchema, EveryEventTypeTheCollectorWritesMatchesSuricatasSchema) {
  if (!python3_available()) GTEST_SKIP() << "python3 not found";
  const std::string out = temp_path("eve-schema-collected.json");
  std::filesystem::remove(out);
  Collector collector(out);
  ASSERT_FALSE(collector.url().empty()) << collector.log();
  const Replays r = replay_both(collector.url());
  ASSERT_EQ(r.protocols.run.status, 0) << r.protocols.run.err;
  ASSERT_EQ(r.resets.run.status, 0) << r.resets.run.err;
  // The replays waited for the acknowledgements: everything is already written.
  const RunResult c =
      check({out}, with_event_types({"alert:run_id", "alert:host", "flow:run_id", "reset:run_id"}));
  if (c.status == 0) std::cout << c.out;
  EXPECT_EQ(c.status, 0) << c.out << c.err << collector.log();
}

}  // namespace
}  // namespace spanguard::testing
