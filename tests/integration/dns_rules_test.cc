// Real Emerging Threats Open DNS rules against generated DNS traffic, through `spanguard replay`:
// queries over UDP and over TCP (length-prefixed, split across segments), each rule firing on the
// name it is written for and silent on a near miss. dns.query is the query's name as dotted text
// (labels decoded, no trailing dot), so a plain content rule on the wire bytes could not stand in.
//
// The rules are copied verbatim from et-open (snapshot 2024-04-21).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "capture_writer.h"
#include "dns_messages.h"
#include "frame_builder.h"
#include "process.h"
#include "rule_replay.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

constexpr char kClientIp[] = "198.51.100.1";
constexpr char kResolverIp[] = "198.51.100.53";

Bytes udp_frame(bool from_client, const Bytes& message, uint16_t port = 53) {
  FrameBuilder b;
  if (from_client) {
    b.ethernet(kClientMac, kServerMac).ipv4(kClientIp, kResolverIp).udp(53001, port);
  } else {
    b.ethernet(kServerMac, kClientMac).ipv4(kResolverIp, kClientIp).udp(port, 53001);
  }
  return b.payload(message).build();
}

Bytes answer_to(uint16_t id, const std::string& name) {
  return DnsMessageBuilder(id, response_flags())
      .question(name, 1)
      .answer(rr_a(name, "198.51.100.80"))
      .compress()
      .build();
}

// A query and its answer over UDP.
std::vector<Bytes> udp_lookup(const std::string& name, uint16_t port = 53) {
  return {udp_frame(true, dns_query(0x4242, name, 1), port),
          udp_frame(false, answer_to(0x4242, name), port)};
}

// The same over TCP: each message after its length prefix, cut into `mss`-byte segments.
std::vector<Bytes> tcp_lookup(const std::string& name, size_t mss = 1448) {
  TcpConversation c({kClientIp, 53002, kClientMac}, {kResolverIp, 53, kServerMac});
  c.set_mss(mss);
  std::vector<Bytes> frames = c.handshake();
  auto add = [&](const std::vector<Bytes>& more) {
    frames.insert(frames.end(), more.begin(), more.end());
  };
  auto text = [](const Bytes& b) { return std::string(b.begin(), b.end()); };
  add(c.client_sends(text(tcp_frame(dns_query(0x5151, name, 1)))));
  add(c.server_sends(text(tcp_frame(answer_to(0x5151, name)))));
  add(c.close());
  return frames;
}

// $HOME_NET is the client.
Replay replay(const std::string& name, const std::vector<Bytes>& frames, const std::string& rules) {
  return testing::replay(name, frames, rules, "{HOME_NET: \"[198.51.100.1/32]\"}");
}

// ---- the rules ---------------------------------------------------------------------------------

// dotprefix puts a '.' before the name, so ".drp.su" + endswith matches the domain and every
// subdomain, never "xdrp.su".
const std::string k2037895 =
    R"RULE(alert dns $HOME_NET any -> any any (msg:"ET ADWARE_PUP Observed DNS Query to DriverPack Domain ( .drp .su)"; dns.query; dotprefix; content:".drp.su"; nocase; endswith; reference:md5,63181b2e347fbe0faf02e26085513a05; classtype:pup-activity; sid:2037895; rev:1; metadata:affected_product Windows_XP_Vista_7_8_10_Server_32_64_Bit, attack_target Client_Endpoint, created_at 2022_08_23, deployment Perimeter, former_category ADWARE_PUP, signature_severity Minor, updated_at 2022_08_23;))RULE";
const std::string k2039611 =
    R"RULE(alert dns $HOME_NET any -> any any (msg:"ET ADWARE_PUP DriverTurbo Domain (driverturbo .com) in DNS Lookup"; dns.query; dotprefix; content:".driverturbo.com"; nocase; endswith; reference:md5,9efc2525cb16545a4b731d8bc7497293; classtype:pup-activity; sid:2039611; rev:1; metadata:affected_product Windows_XP_Vista_7_8_10_Server_32_64_Bit, attack_target Client_Endpoint, created_at 2022_10_31, deployment Perimeter, former_category ADWARE_PUP, signature_severity Minor, updated_at 2022_10_31;))RULE";
const std::string k2029107 =
    R"RULE(alert dns $HOME_NET any -> any any (msg:"ET ADWARE_PUP Observed DNS Query to OSX/Bundalore Domain"; dns.query; content:"appsdown.urbanvillager.xyz"; nocase; endswith; classtype:pup-activity; sid:2029107; rev:1; metadata:affected_product Mac_OSX, attack_target Client_Endpoint, created_at 2019_12_11, deployment Perimeter, former_category ADWARE_PUP, performance_impact Low, signature_severity Minor, updated_at 2019_12_11;))RULE";
const std::string k2025531 =
    R"RULE(alert dns $HOME_NET any -> any any (msg:"ET ADWARE_PUP Observed Win32/Foniad Domain (suggedin .info in DNS Lookup)"; dns.query; content:"suggedin.info"; nocase; endswith; reference:md5,dc2c0b6a8824f5ababf18913ad6d0793; classtype:pup-activity; sid:2025531; rev:4; metadata:affected_product Windows_XP_Vista_7_8_10_Server_32_64_Bit, attack_target Client_Endpoint, created_at 2018_04_16, deployment Perimeter, former_category ADWARE_PUP, performance_impact Moderate, signature_severity Major, updated_at 2020_09_16;))RULE";
// Legacy dns_query, and isdataat:!1,relative: nothing may follow the name.
const std::string k2031309 =
    R"RULE(alert dns $HOME_NET any -> any any (msg:"ET MOBILE_MALWARE Android.Trojan.Rana.A (wherisdomaintv .com in DNS Lookup)"; dns_query; content:"wherisdomaintv.com"; isdataat:!1,relative; reference:url,blog.reversinglabs.com/hubfs/Blog/rana_android_malware/; classtype:domain-c2; sid:2031309; rev:2; metadata:affected_product Android, attack_target Mobile_Client, created_at 2020_12_10, deployment Perimeter, former_category MOBILE_MALWARE, signature_severity Major, updated_at 2020_12_10;))RULE";
// pcre anchored at the start and end of the name.
const std::string k2031918 =
    R"RULE(alert dns $HOME_NET any -> any any (msg:"ET HUNTING Suspicious Glitch Hosted DNS Request - Possible Phishing Landing"; dns.query; content:".glitch.me"; pcre:"/^[a-z]+\-[a-z]+\-[a-z]+\.glitch\.me$/"; classtype:social-engineering; sid:2031918; rev:1; metadata:affected_product Web_Browsers, attack_target Client_Endpoint, created_at 2021_03_10, deployment Perimeter, former_category HUNTING, signature_severity Major, updated_at 2021_03_10;))RULE";
// bsize: the name's length exactly.
const std::string k2030014 =
    R"RULE(alert dns $HOME_NET any -> any any (msg:"ET ADWARE_PUP Observed DNS Query to Malvertising Related Domain"; dns.query; content:"gdprcountryrestriction.com"; nocase; bsize:26; reference:url,duo.com/labs/research/crxcavator-malvertising-2020; classtype:pup-activity; sid:2030014; rev:2; metadata:attack_target Client_Endpoint, created_at 2020_04_23, deployment Perimeter, former_category ADWARE_PUP, signature_severity Minor, updated_at 2020_04_23;))RULE";
// startswith and endswith in the same buffer.
const std::string k2036936 =
    R"RULE(alert dns $HOME_NET any -> any any (msg:"ET HUNTING File Sharing Related Domain in DNS Lookup (download .mediafire .com)"; dns.query; content:"download"; startswith; content:".mediafire.com"; endswith; classtype:bad-unknown; sid:2036936; rev:1; metadata:attack_target Client_Endpoint, created_at 2022_06_09, deployment Perimeter, former_category HUNTING, signature_severity Informational, updated_at 2022_06_09;))RULE";
// `alert dns` with contents on the message bytes: the TXT answer of a response.
const std::string k2026920 =
    R"RULE(alert dns any any -> $HOME_NET any (msg:"ET ATTACK_RESPONSE PowerShell Execution String Base64 Encoded New-Object (V3LU9) in DNS TXT Reponse"; content:!"v=DKIM"; content:"|00 00 10 00 01 c0 0c 00 10 00 01|"; content:"V3LU9"; fast_pattern; distance:0; reference:url,github.com/no0be/DNSlivery; classtype:bad-unknown; sid:2026920; rev:2; metadata:affected_product Windows_XP_Vista_7_8_10_Server_32_64_Bit, attack_target Client_Endpoint, created_at 2019_02_14, deployment Perimeter, former_category ATTACK_RESPONSE, signature_severity Major, updated_at 2020_08_27;))RULE";

struct RuleCase {
  std::string name;
  std::string rule;
  std::string hit;        // a name the rule is written for
  std::string near_miss;  // a name one step off
};

const RuleCase kCases[] = {
    {"Sid2037895_DotprefixSubdomain", k2037895, "update.drp.su", "xdrp.su"},
    {"Sid2037895_DotprefixApex", k2037895, "DRP.su", "drp.sux"},
    {"Sid2039611_Dotprefix", k2039611, "cdn.driverturbo.com", "driverturbo.com.evil"},
    {"Sid2029107_Endswith", k2029107, "appsdown.urbanvillager.xyz", "appsdown.urbanvillager.xy"},
    {"Sid2025531_EndswithNocase", k2025531, "x.SuggedIn.Info", "suggedin.info.example"},
    {"Sid2031309_NothingAfterTheName", k2031309, "wherisdomaintv.com", "wherisdomaintv.com.cn"},
    {"Sid2031918_PcreOverTheName", k2031918, "abc-def-ghi.glitch.me", "abc-def.glitch.me"},
    {"Sid2030014_Bsize", k2030014, "gdprcountryrestriction.com", "wgdprcountryrestriction.com"},
    {"Sid2036936_StartsAndEnds", k2036936, "download2.mediafire.com", "www.download.mediafire.com"},
};

class DnsRule : public ::testing::TestWithParam<RuleCase> {};

TEST_P(DnsRule, FiresOnTheQueryOverUdpAndTcpAndNeverOnTheNearMiss) {
  const RuleCase& c = GetParam();
  const uint32_t sid = sid_of(c.rule);
  const Replay udp = replay(c.name + "-udp", udp_lookup(c.hit), c.rule);
  ASSERT_EQ(udp.run.status, 0) << udp.run.err;
  EXPECT_EQ(alerts_of(udp, sid), 1) << udp.eve_text;
  const Replay tcp = replay(c.name + "-tcp", tcp_lookup(c.hit, 7), c.rule);
  ASSERT_EQ(tcp.run.status, 0) << tcp.run.err;
  EXPECT_EQ(alerts_of(tcp, sid), 1) << tcp.eve_text;
  const Replay miss = replay(c.name + "-miss", udp_lookup(c.near_miss), c.rule);
  ASSERT_EQ(miss.run.status, 0) << miss.run.err;
  EXPECT_EQ(alerts_of(miss, sid), 0) << miss.eve_text;
}

INSTANTIATE_TEST_SUITE_P(EtOpen, DnsRule, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<RuleCase>& p) { return p.param.name; });

TEST(DnsRules, AlertDnsContentMatchesTheTxtAnswerBytes) {
  const std::string name = "x.example";
  auto txt_response = [&](const std::string& text) {
    return DnsMessageBuilder(0x7777, response_flags())
        .question(name, 16)
        .answer(rr_txt(name, {text}))
        .compress()
        .build();
  };
  const std::vector<Bytes> hit = {udp_frame(true, dns_query(0x7777, name, 16)),
                                  udp_frame(false, txt_response("AAAAV3LU9AAAA"))};
  const Replay r = replay("txt-hit", hit, k2026920);
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_EQ(alerts_of(r, 2026920), 1) << r.eve_text;
  const std::vector<Bytes> dkim = {udp_frame(true, dns_query(0x7777, name, 16)),
                                   udp_frame(false, txt_response("v=DKIM1 V3LU9"))};
  const Replay miss = replay("txt-dkim", dkim, k2026920);
  ASSERT_EQ(miss.run.status, 0) << miss.run.err;
  EXPECT_EQ(alerts_of(miss, 2026920), 0) << miss.eve_text;
}

// dns.query is the request's buffer: the same name in the response raises no second alert.
TEST(DnsRules, DnsQueryRulesAlertOncePerLookup) {
  const Replay r = replay("once", udp_lookup("download.mediafire.com"), k2036936);
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_EQ(alerts_of(r, 2036936), 1) << r.eve_text;
  // The alert carries EVE's dns object (version 3) of the query it was raised on.
  EXPECT_NE(r.eve_text.find(R"("dns":{"version":3,"type":"request","id":16962,)"),
            std::string::npos)
      << r.eve_text;
  EXPECT_NE(r.eve_text.find(R"("queries":[{"rrname":"download.mediafire.com","rrtype":"A"}])"),
            std::string::npos)
      << r.eve_text;
  EXPECT_NE(r.eve_text.find(R"("app_proto":"dns")"), std::string::npos) << r.eve_text;
}

TEST(DnsRules, DnsIsFoundByContentOnAnyPort) {
  const Replay r = replay("port-5353", udp_lookup("cdn.driverturbo.com", 5300), k2039611);
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_EQ(alerts_of(r, 2039611), 1) << r.eve_text;
}

TEST(DnsRules, OpcodeAndRrtypeCompareTheHeaderAndQuestion) {
  const std::string rules =
      R"(alert dns any any -> any any (msg:"not a standard query"; dns.opcode:!0; sid:1; rev:1;)
alert dns any any -> any any (msg:"TXT question"; flow:to_server; dns.rrtype:16; sid:2; rev:1;)
alert dns any any -> any any (msg:"standard query"; flow:to_server; dns.opcode:0; sid:3; rev:1;))";
  const Replay a = replay("opcode-a", udp_lookup("www.example.com"), rules);
  ASSERT_EQ(a.run.status, 0) << a.run.err;
  EXPECT_EQ(alerts_of(a, 1), 0) << a.eve_text;
  EXPECT_EQ(alerts_of(a, 2), 0) << a.eve_text;
  EXPECT_EQ(alerts_of(a, 3), 1) << a.eve_text;
  DnsFlags notify = query_flags();
  notify.opcode = 4;  // NOTIFY (RFC 1996)
  const std::vector<Bytes> frames = {
      udp_frame(true, DnsMessageBuilder(9, notify).question("example.com", 16).build())};
  const Replay b = replay("opcode-b", frames, rules);
  ASSERT_EQ(b.run.status, 0) << b.run.err;
  EXPECT_EQ(alerts_of(b, 1), 1) << b.eve_text;
  EXPECT_EQ(alerts_of(b, 2), 1) << b.eve_text;
  EXPECT_EQ(alerts_of(b, 3), 0) << b.eve_text;
}

// output.eve.dns: one event_type "dns" record per message, the query from the client and the
// response from the server, in Suricata's version 3 form.
TEST(DnsRules, OutputEveDnsWritesTheRequestAndTheResponse) {
  for (const bool tcp : {false, true}) {
    const std::string name = tcp ? "dns-records-tcp" : "dns-records-udp";
    const auto frames =
        tcp ? tcp_lookup("records.example.org", 7) : udp_lookup("records.example.org");
    const Replay r = testing::replay(name, frames, k2037895, "{HOME_NET: \"[198.51.100.1/32]\"}",
                                     {"output.eve.dns=true"});
    ASSERT_EQ(r.run.status, 0) << r.run.err;
    const std::vector<std::string> records = events_of_type(r, "dns");
    ASSERT_EQ(records.size(), 2u) << r.eve_text;
    EXPECT_NE(records[0].find("\"type\":\"request\""), std::string::npos) << records[0];
    EXPECT_NE(records[0].find(std::string("\"src_ip\":\"") + kClientIp), std::string::npos)
        << records[0];
    EXPECT_NE(records[0].find("\"rrname\":\"records.example.org\""), std::string::npos)
        << records[0];
    EXPECT_NE(records[1].find("\"type\":\"response\""), std::string::npos) << records[1];
    EXPECT_NE(records[1].find(std::string("\"src_ip\":\"") + kResolverIp), std::string::npos)
        << records[1];
    EXPECT_NE(records[1].find("\"rcode\":\"NOERROR\""), std::string::npos) << records[1];
    EXPECT_NE(records[1].find("\"answers\":["), std::string::npos) << records[1];
  }
}

}  // namespace
}  // namespace spanguard::testing
