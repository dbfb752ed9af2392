// Real Emerging Threats Open TLS rules against generated TLS conversations, through `spanguard
// replay`: each rule fires on a handshake built to match it by Suricata's documented buffer
// semantics (tls.sni, tls.cert_subject/issuer/serial, tls.certs, ja3/ja3s, tls.version, ssl_state,
// certificate validity) and stays silent on a near miss. Also: `alert tls` by content rather than
// port, TLS 1.3 (fingerprints visible, certificates encrypted), a handshake cut into 1-3 byte
// segments, and the bypass of encrypted flows (applayer.tls.encryption_handling).
//
// The rules are copied verbatim from et-open (snapshot 2024-04-21); rules ET ships commented out
// (disabled or in emerging-deleted.rules) lose only the leading '#'. Where ET gives only a hash,
// the handshake reproduces a fingerprint string whose MD5 is that hash (checked with md5sum).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "capture_writer.h"
#include "frame_builder.h"
#include "process.h"
#include "rule_replay.h"
#include "tcp_conversation.h"
#include "tls_messages.h"

namespace spanguard::testing {
namespace {

constexpr char kClientIp[] = "198.51.100.1";
constexpr char kServerIp[] = "198.51.100.2";

// Capture timestamps start here (2023-11-14): certificate validity is judged against them.
constexpr int64_t kCaptureSeconds = 1'700'000'000;

std::string_view view(const tls::Bytes& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
tls::Bytes bytes(std::string_view s) { return tls::Bytes(s.begin(), s.end()); }

// ---- building certificates ---------------------------------------------------------------------

const tls::KeyPair& server_key() {
  static const tls::KeyPair key;
  return key;
}

const tls::DistinguishedName kExampleCa = {
    {"C", "US"}, {"O", "Example Trust"}, {"CN", "Example Issuing CA"}};

// A certificate valid at capture time, issued by kExampleCa unless `issuer` says otherwise.
tls::Bytes certificate(tls::DistinguishedName subject, tls::DistinguishedName issuer = kExampleCa,
                       tls::Bytes serial = {0x01}) {
  return tls::make_certificate({.subject = std::move(subject),
                                .issuer = std::move(issuer),
                                .serial = std::move(serial),
                                .not_before = kCaptureSeconds - 86400 * 30,
                                .not_after = kCaptureSeconds + 86400 * 365},
                               server_key(), server_key());
}

tls::Bytes certificate_valid_between(int64_t not_before, int64_t not_after) {
  return tls::make_certificate({.subject = {{"CN", "www.example.com"}},
                                .issuer = kExampleCa,
                                .not_before = not_before,
                                .not_after = not_after},
                               server_key(), server_key());
}

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct X509NameFree {
  void operator()(X509_NAME* n) const { X509_NAME_free(n); }
};

// A self-signed certificate named like Sliver's and Havoc's (BishopFox sliver
// server/certs/subject.go): Go's crypto/x509 writes every attribute as a PrintableString, empty
// ones included. tls::make_certificate names with UTF8String and OpenSSL refuses empty values
// there, so the names are set here with the raw ASN.1 type and the certificate signed again.
tls::Bytes go_style_certificate(const std::vector<std::pair<std::string, std::string>>& name) {
  const tls::Bytes base = certificate({{"CN", "placeholder"}});
  const unsigned char* in = base.data();
  std::unique_ptr<X509, X509Free> x509(d2i_X509(nullptr, &in, static_cast<long>(base.size())));
  std::unique_ptr<X509_NAME, X509NameFree> dn(X509_NAME_new());
  if (!x509 || !dn) throw std::runtime_error("go_style_certificate: OpenSSL allocation");
  for (const auto& [field, value] : name) {
    if (X509_NAME_add_entry_by_txt(dn.get(), field.c_str(), V_ASN1_PRINTABLESTRING,
                                   reinterpret_cast<const unsigned char*>(value.c_str()),
                                   static_cast<int>(value.size()), -1, 0) != 1) {
      throw std::runtime_error("go_style_certificate: attribute " + field);
    }
  }
  if (X509_set_subject_name(x509.get(), dn.get()) != 1 ||
      X509_set_issuer_name(x509.get(), dn.get()) != 1 ||
      X509_sign(x509.get(), server_key().get(), EVP_sha256()) <= 0) {
    throw std::runtime_error("go_style_certificate: names or signature");
  }
  const int len = i2d_X509(x509.get(), nullptr);
  if (len <= 0) throw std::runtime_error("go_style_certificate: i2d_X509");
  tls::Bytes der(static_cast<size_t>(len));
  unsigned char* out = der.data();
  i2d_X509(x509.get(), &out);
  return der;
}

// subject.go: country US, empty province, locality and street, a 4-digit postal code, a CN and
// neither organization nor e-mail address.
const std::vector<std::pair<std::string, std::string>> kSliverName = {
    {"C", "US"},          {"ST", ""}, {"L", ""}, {"street", ""}, {"postalCode", "8472"},
    {"CN", "multiplayer"}};

// ---- building handshakes -----------------------------------------------------------------------

// A TLS 1.2 client hello like a library's: SNI (when given), groups, point formats, signature
// algorithms, extended master secret, renegotiation_info.
tls::ClientHelloSpec library_hello(std::string_view sni) {
  tls::ClientHelloSpec spec;
  if (!sni.empty()) spec.extensions.push_back(tls::server_name(sni));
  spec.extensions.push_back(tls::supported_groups({29, 23, 24}));
  spec.extensions.push_back(tls::ec_point_formats({0}));
  spec.extensions.push_back(tls::signature_algorithms({0x0403, 0x0804, 0x0401}));
  spec.extensions.push_back(tls::raw_extension(23));
  spec.extensions.push_back(tls::raw_extension(0xff01, {0x00}));
  return spec;
}

// Windows 7 Schannel's hello, the one ET's Cobalt Strike (no SNI: the beacon dials an address)
// and Tofsee (with SNI) fingerprints name: JA3 "771,49192-...-10-19,10-11-13-23-65281,23-24,0"
// without SNI (md5 eb88d0b3e1961a0562f006e5ce2a0b87), "...,0-10-11-13-23-65281,..." with it (md5
// 7dcce5b76c8b17472d024758970a406b).
tls::ClientHelloSpec schannel_hello(std::string_view sni) {
  tls::ClientHelloSpec spec;
  spec.ciphers = {49192, 49191, 49172, 49171, 159,   158,   57,    51,  157, 156, 61, 60, 53,
                  47,    49196, 49195, 49188, 49187, 49162, 49161, 106, 64,  56,  50, 10, 19};
  if (!sni.empty()) spec.extensions.push_back(tls::server_name(sni));
  spec.extensions.push_back(tls::supported_groups({23, 24}));
  spec.extensions.push_back(tls::ec_point_formats({0}));
  spec.extensions.push_back(tls::signature_algorithms({0x0401, 0x0501, 0x0201, 0x0403}));
  spec.extensions.push_back(tls::raw_extension(23));
  spec.extensions.push_back(tls::raw_extension(0xff01, {0x00}));
  return spec;
}

// JA3S "771,<cipher>,23-65281": md5 ae4edc6faf64d08308082ad26be60767 for cipher 49200.
tls::ServerHelloSpec server_hello_with(uint16_t cipher) {
  tls::ServerHelloSpec spec;
  spec.cipher = cipher;
  spec.extensions = {tls::raw_extension(23), tls::raw_extension(0xff01, {0x00})};
  return spec;
}

// The server's side of a TLS 1.3 handshake: supported_versions 1.3 and a key share.
tls::ServerHelloSpec tls13_server_hello() {
  tls::ServerHelloSpec spec;
  spec.cipher = 0x1301;
  spec.session_id = tls::Bytes(32, 0x33);
  tls::Bytes share = {0x00, 0x1d, 0x00, 0x20};
  share.resize(share.size() + 32, 0x44);
  spec.extensions = {tls::server_supported_versions(tls::kTls13),
                     tls::raw_extension(0x0033, share)};
  return spec;
}

struct Handshake {
  tls::ClientHelloSpec hello = library_hello("www.example.com");
  tls::ServerHelloSpec server_hello{};
  // The server's Certificate message (TLS <= 1.2); inside encrypted records with TLS 1.3.
  std::vector<tls::Bytes> chain = {certificate({{"CN", "www.example.com"}})};
  bool tls13 = false;
  uint16_t record_version = tls::kTls12;
  // Records after the handshake.
  tls::Bytes client_data = tls::application_data(96);
  tls::Bytes server_data = tls::application_data(512);
};

Handshake tls13_handshake(std::string_view sni) {
  Handshake h;
  h.hello = tls::browser_client_hello(sni);
  h.server_hello = tls13_server_hello();
  h.tls13 = true;
  return h;
}

// The records of a whole TLS session in order, each side's flight in one send.
struct Flight {
  bool from_client;
  tls::Bytes records;
};

std::vector<Flight> flights(const Handshake& h) {
  const uint16_t v = h.record_version;
  std::vector<Flight> out;
  out.push_back({true, tls::handshake_records({tls::client_hello(h.hello)}, v)});
  if (h.tls13) {
    // RFC 8446 §2: everything after the ServerHello is encrypted; the Certificate message travels
    // inside application-data records (here in clear inside them, which makes the test strict).
    tls::Bytes encrypted = tls::certificate_message(h.chain);
    encrypted.resize(encrypted.size() + 100, 0x6e);  // CertificateVerify, Finished
    out.push_back(
        {false, tls::concat({tls::handshake_records({tls::server_hello(h.server_hello)}, v),
                             tls::change_cipher_spec(v),
                             tls::record(tls::kApplicationData, v, encrypted)})});
    out.push_back({true, tls::concat({tls::change_cipher_spec(v), tls::application_data(53, v)})});
  } else {
    std::vector<tls::Bytes> messages = {tls::server_hello(h.server_hello)};
    if (!h.chain.empty()) messages.push_back(tls::certificate_message(h.chain));
    messages.push_back(tls::server_hello_done());
    out.push_back({false, tls::handshake_records(messages, v)});
    // RFC 5246 §7.3: ClientKeyExchange, then ChangeCipherSpec and the (encrypted) Finished.
    out.push_back({true, tls::concat({tls::handshake_records({tls::client_key_exchange()}, v),
                                      tls::change_cipher_spec(v),
                                      tls::record(tls::kHandshake, v, tls::Bytes(40, 0x5c))})});
    out.push_back({false, tls::concat({tls::change_cipher_spec(v),
                                       tls::record(tls::kHandshake, v, tls::Bytes(40, 0x5d))})});
  }
  out.push_back({true, h.client_data});
  out.push_back({false, h.server_data});
  return out;
}

void append(std::vector<Bytes>& to, const std::vector<Bytes>& more) {
  to.insert(to.end(), more.begin(), more.end());
}

// Handshake, the TLS session, FIN exchange.
std::vector<Bytes> conversation(const Handshake& h, uint16_t port = 443,
                                const std::string& client_ip = kClientIp,
                                const std::string& server_ip = kServerIp) {
  TcpConversation c({client_ip, 49733, kClientMac}, {server_ip, port, kServerMac});
  std::vector<Bytes> frames = c.handshake();
  for (const Flight& f : flights(h)) {
    append(frames,
           f.from_client ? c.client_sends(view(f.records)) : c.server_sends(view(f.records)));
  }
  append(frames, c.close());
  return frames;
}

// ---- running the sensor ------------------------------------------------------------------------

// Which side the rule's $HOME_NET is: the test sets it to that one host.
enum class Home { kClient, kServer };

std::string home_is(Home home) {
  return std::string("{HOME_NET: \"[") + (home == Home::kClient ? kClientIp : kServerIp) +
         "/32]\"}";
}

// ---- the rules ---------------------------------------------------------------------------------

// tls.sni is the ClientHello's host_name as sent; dotprefix puts a '.' before it, so that
// ".fortect.com" + endswith matches the domain and its subdomains but no longer name ending in it.
const std::string k2048948 =
    R"RULE(alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"ET ADWARE_PUP Observed PC Optimizer Software Domain (fortect .com in TLS SNI)"; flow:established,to_server; tls.sni; dotprefix; content:".fortect.com"; endswith; fast_pattern; reference:url,www.fortect.com/company; classtype:pup-activity; sid:2048948; rev:1; metadata:affected_product Windows_XP_Vista_7_8_10_Server_32_64_Bit, attack_target Client_Endpoint, created_at 2023_10_30, deployment Perimeter, malware_family PUP, signature_severity Informational, updated_at 2023_10_30, reviewed_at 2023_10_30;))RULE";
// endswith without dotprefix; nocase.
const std::string k2035949 =
    R"RULE(alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"ET POLICY IP Check Domain (iplogger .org in TLS SNI)"; flow:established,to_server; tls.sni; content:"iplogger.org"; endswith; nocase; classtype:policy-violation; sid:2035949; rev:4; metadata:created_at 2017_11_27, former_category POLICY, updated_at 2020_09_15;))RULE";
// bsize is the length of the SNI.
const std::string k2033900 =
    R"RULE(alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"ET ADWARE_PUP Observed Honeygain Domain (api .honeygain .com in TLS SNI)"; flow:established,to_server; tls.sni; content:"api.honeygain.com"; bsize:17; fast_pattern; reference:url,blog.talosintelligence.com/2021/08/proxyware-abuse.html; classtype:domain-c2; sid:2033900; rev:1; metadata:attack_target Client_Endpoint, created_at 2021_09_03, deployment Perimeter, former_category ADWARE_PUP, malware_family PUP, signature_severity Informational, updated_at 2021_09_03;))RULE";
// tls.cert_subject is the server certificate's subject as "C=.., O=.., CN=.." in the order of its
// RDNs (Suricata's formatting).
const std::string k2029322 =
    R"RULE(alert tls $EXTERNAL_NET any -> $HOME_NET any (msg:"ET HUNTING Telegram API Certificate Observed"; flow:established,to_client; tls.cert_subject; content:"CN=api.telegram.org"; fast_pattern; nocase; endswith; classtype:misc-activity; sid:2029322; rev:2; metadata:affected_product Windows_XP_Vista_7_8_10_Server_32_64_Bit, attack_target Client_Endpoint, created_at 2020_01_27, deployment Perimeter, former_category HUNTING, signature_severity Informational, updated_at 2020_10_27;))RULE";
// A whole subject, and TLS found on port 853 (DNS over TLS).
const std::string k2027918 =
    R"RULE(alert tls $EXTERNAL_NET 853 -> $HOME_NET any (msg:"ET POLICY Quad9 DNS Over TLS Certificate Inbound"; flow:established,to_client; tls.cert_subject; content:"C=US, ST=California, L=Berkeley, O=Quad9, CN=*.quad9.net"; endswith; fast_pattern; reference:md5,1e686b56ccbcb28667698389703bb13a; classtype:policy-violation; sid:2027918; rev:3; metadata:attack_target Client_Endpoint, created_at 2019_08_26, deployment Perimeter, former_category POLICY, performance_impact Low, signature_severity Informational, updated_at 2020_09_17;))RULE";
// Subject and issuer of the same certificate.
const std::string k2031230 =
    R"RULE(alert tls $EXTERNAL_NET any -> $HOME_NET any (msg:"ET INFO Observed ZeroSSL Certificate for Suspicious TLD (.top)"; flow:from_server,established; tls.cert_subject; content:".top"; endswith; tls.cert_issuer; content:"ZeroSSL"; classtype:bad-unknown; sid:2031230; rev:1; metadata:created_at 2020_11_23, updated_at 2020_11_23;))RULE";
// tls.cert_serial is the leaf certificate's serial: the INTEGER's content octets in upper-case
// hex joined by ':'.
const std::string k2024786 =
    R"RULE(alert tls $EXTERNAL_NET any -> $HOME_NET any (msg:"ET POLICY Request for Coinhive Browser Monero Miner M2"; flow:established,from_server; tls.cert_serial; content:"0A:E1:E6:BD:51:FB:3D:8F:06:BE:0D:B5:5E:BD:E9:DF"; classtype:policy-violation; sid:2024786; rev:3; metadata:affected_product Web_Browsers, attack_target Client_Endpoint, created_at 2017_09_29, deployment Perimeter, former_category POLICY, signature_severity Minor, updated_at 2020_08_20;))RULE";
// A serial whose high bit is set is encoded with a leading 00 octet, which the buffer shows.
const std::string k2024788 =
    R"RULE(alert tls $EXTERNAL_NET any -> $HOME_NET any (msg:"ET POLICY Request for Jsecoin Browser Miner M2"; flow:established,from_server; tls.cert_serial; content:"00:E7:F9:B6:DE:A6:57:93:E2:44:6A:3B:95:C6:B3:EC:DF"; classtype:policy-violation; sid:2024788; rev:3; metadata:affected_product Web_Browsers, attack_target Client_Endpoint, created_at 2017_09_29, deployment Perimeter, former_category POLICY, signature_severity Minor, updated_at 2020_08_20;))RULE";
// tls.certs is the DER of each certificate of the chain in turn.
const std::string k2037281 =
    R"RULE(alert tls $EXTERNAL_NET any -> $HOME_NET any (msg:"ET ATTACK_RESPONSE Havoc/Sliver Framework TLS Certificate Observed"; flow:established,to_client; tls.certs; content:"|31 0b 30 09 06 03 55 04 06 13 02|US|31 09 30 07 06 03 55 04 08 13 00 31 09 30 07 06 03 55 04 07 13 00 31 09 30 07 06 03 55 04 09 13 00 31 0d 30 0b 06 03 55 04 11 13 04|"; fast_pattern; pcre:"/^\d{4}[01]/R"; content:!"|06 03 55 04 0a|"; distance:0; content:"|06 03 55 04 03|"; distance:3; within:5; content:!"|2a 86 48 86 f7 0d 01 09 01|"; reference:url,github.com/BishopFox/sliver/blob/97d3da75b6e24defb3a2a97443a15a632b3a8448/server/certs/subject.go; classtype:trojan-activity; sid:2037281; rev:2; metadata:affected_product Any, attack_target Client_and_Server, created_at 2022_07_07, deployment Perimeter, former_category ATTACK_RESPONSE, malware_family Sliver, malware_family Havoc, performance_impact Low, signature_severity Major, updated_at 2024_01_03;))RULE";
// No buffer: content in the raw stream of a flow identified as TLS. A 13-byte DNS name in the
// certificate's DER is preceded by its length, 0x0d.
const std::string k2038602 =
    R"RULE(alert tls $EXTERNAL_NET any -> $HOME_NET any (msg:"ET ADWARE_PUP Observed PUA SSL/TLS Certificate (HoneyGain)"; flow:from_server,established; content:"|0d|honeygain.com"; fast_pattern; classtype:domain-c2; sid:2038602; rev:1; metadata:created_at 2022_08_24, former_category ADWARE_PUP, updated_at 2022_08_24;))RULE";
// ja3.hash / ja3.string of the ClientHello (GREASE removed); the rule only sets a flowbit.
const std::string k2028831 =
    R"RULE(alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"ET JA3 Hash - Suspected Cobalt Strike Malleable C2 M1 (set)"; flow:established,to_server; ja3.hash; content:"eb88d0b3e1961a0562f006e5ce2a0b87"; ja3.string; content:"771,49192-49191-49172-49171"; flowbits:set,ET.cobaltstrike.ja3; flowbits:noalert; classtype:command-and-control; sid:2028831; rev:1; metadata:affected_product Windows_XP_Vista_7_8_10_Server_32_64_Bit, attack_target Client_Endpoint, created_at 2019_10_15, deployment Perimeter, former_category JA3, malware_family Cobalt_Strike, confidence Low, signature_severity Major, updated_at 2019_10_15, mitre_tactic_id TA0011, mitre_tactic_name Command_And_Control, mitre_technique_id T1001, mitre_technique_name Data_Obfuscation;))RULE";
// ja3s.hash of the ServerHello, after 2028831 set its flowbit in the other direction.
const std::string k2033396 =
    R"RULE(alert tls $EXTERNAL_NET any -> $HOME_NET any (msg:"ET JA3 HASH - Possible Cobalt Strike Server"; flowbits:isset,ET.cobaltstrike.ja3; ja3s.hash; content:"ae4edc6faf64d08308082ad26be60767"; reference:url,thedfirreport.com/2021/07/19/icedid-and-cobalt-strike-vs-antivirus/; classtype:bad-unknown; sid:2033396; rev:1; metadata:attack_target Client_Endpoint, created_at 2021_07_23, deployment Perimeter, former_category JA3, malware_family Cobalt_Strike, confidence Low, signature_severity Major, updated_at 2021_07_23, mitre_tactic_id TA0011, mitre_tactic_name Command_And_Control, mitre_technique_id T1001, mitre_technique_name Data_Obfuscation;))RULE";
// emerging-deleted.rules: the legacy ja3_hash keyword.
const std::string k2028788 =
    R"RULE(alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"ET DELETED Hash - [Abuse.ch] Possible Tofsee"; ja3_hash; content:"7dcce5b76c8b17472d024758970a406b"; reference:url,sslbl.abuse.ch/ja3-fingerprints/; classtype:unknown; sid:2028788; rev:4; metadata:created_at 2019_10_14, former_category JA3, updated_at 2023_05_11;))RULE";
// Disabled in emerging-policy.rules: tls.version to the server is the client's version.
const std::string k2031490 =
    R"RULE(alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"ET POLICY TLSv1.1 Used in Session"; flow:established,to_server; tls.version:1.1; reference:url,github.com/nsacyber/Mitigating-Obsolete-TLS; classtype:misc-activity; sid:2031490; rev:2; metadata:created_at 2021_01_06, former_category POLICY, updated_at 2022_05_03;))RULE";
// Disabled in emerging-policy.rules: ssl_version.
const std::string k2031489 =
    R"RULE(alert tls $HOME_NET any -> $EXTERNAL_NET any (msg:"ET POLICY SSLv3 Used in Session"; flow:established,to_server; ssl_version:sslv3; reference:url,github.com/nsacyber/Mitigating-Obsolete-TLS; classtype:misc-activity; sid:2031489; rev:2; metadata:created_at 2021_01_06, former_category POLICY, updated_at 2022_05_03;))RULE";
// Disabled in emerging-policy.rules: an `alert tcp` rule with ssl_version, ssl_state and
// content at the start of the server's stream (the record header of its ServerHello).
const std::string k2019416 =
    R"RULE(alert tcp $EXTERNAL_NET [443,465,993,995,25] -> $HOME_NET any (msg:"ET POLICY SSLv3 outbound connection from client vulnerable to POODLE attack"; flow:established,from_server; ssl_version:sslv3; ssl_state:server_hello; content:"|16 03 00|"; depth:3; threshold: type limit, track by_src, seconds 300, count 1; reference:cve,2014-3566; reference:url,blog.fox-it.com/2014/10/15/poodle/; reference:url,www.openssl.org/~bodo/ssl-poodle.pdf; reference:url,askubuntu.com/questions/537196/how-do-i-patch-workaround-sslv3-poodle-vulnerability-cve-2014-3566; reference:url,www.imperialviolet.org/2014/10/14/poodle.html; classtype:policy-violation; sid:2019416; rev:4; metadata:created_at 2014_10_15, former_category POLICY, confidence High, updated_at 2022_11_23;))RULE";
// Disabled in emerging-exploit.rules: an `alert tcp` rule with tls.version and ssl_state on the
// ClientHello and raw content of the client's stream: CVE-2021-3449 is a renegotiation hello with
// signature_algorithms_cert (0x0032) and no signature_algorithms (0x000d).
const std::string k2032358 =
    R"RULE(alert tcp any any -> [$HTTP_SERVERS,$HOME_NET] any (msg:"ET EXPLOIT Possible OpenSSL TLSv1.2 DoS Inbound (CVE-2021-3449)"; flow:established,to_server; tls.version:1.2; ssl_state:client_hello; content:!"|00 0d|"; content:"|00 32 00|"; content:"|ff 01 00 01 00|"; distance:0; fast_pattern; reference:cve,2021-3449; classtype:denial-of-service; sid:2032358; rev:1; metadata:affected_product OpenSSL, created_at 2021_04_01, cve CVE_2021_3449, deployment Perimeter, deployment Internal, former_category EXPLOIT, signature_severity Major, updated_at 2021_04_01;))RULE";
// Not from ET (ET Open has no rule on these facts alone, or combines them with payload content):
// tls.version per direction, ssl_state, certificate validity, and the fingerprints of
// tls::browser_client_hello, whose JA3 string is
// "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,
// 27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23-24,0" (its md5sum is the hash below)
// and whose JA4 is FoxIO's documentation example.
const std::string kVersion12ToClient =
    R"RULE(alert tls any any -> any any (msg:"spanguard test: server chose TLS 1.2"; flow:established,to_client; tls.version:1.2; sid:1000001; rev:1;))RULE";
const std::string kVersion13ToClient =
    R"RULE(alert tls any any -> any any (msg:"spanguard test: server chose TLS 1.3"; flow:established,to_client; tls.version:1.3; sid:1000002; rev:1;))RULE";
// Suricata takes the client's version from supported_versions (its first non-GREASE entry) when
// the ClientHello has that extension, else from legacy_version.
const std::string kVersion13ToServer =
    R"RULE(alert tls any any -> any any (msg:"spanguard test: client offers TLS 1.3"; flow:established,to_server; tls.version:1.3; sid:1000003; rev:1;))RULE";
const std::string kClientHelloState =
    R"RULE(alert tls any any -> any any (msg:"spanguard test: client hello"; flow:established,to_server; ssl_state:client_hello; sid:1000004; rev:1;))RULE";
const std::string kServerHelloState =
    R"RULE(alert tls any any -> any any (msg:"spanguard test: server hello"; flow:established,to_client; ssl_state:server_hello; sid:1000005; rev:1;))RULE";
// ssl_state is the message just parsed (Suricata's current_flags), not every message so far: to
// the client it is never the ClientHello.
const std::string kClientHelloStateToClient =
    R"RULE(alert tls any any -> any any (msg:"spanguard test: client hello seen to the client"; flow:established,to_client; ssl_state:client_hello; sid:1000011; rev:1;))RULE";
// Suricata's ssl_state client_keyx: the client's ClientKeyExchange was parsed (TLS <= 1.2).
const std::string kClientKeyxState =
    R"RULE(alert tls any any -> any any (msg:"spanguard test: client key exchange"; flow:established,to_server; ssl_state:client_keyx; sid:1000006; rev:1;))RULE";
// tls.cert_expired / tls.cert_valid compare the leaf's validity with the packet's time.
const std::string kCertExpired =
    R"RULE(alert tls any any -> any any (msg:"spanguard test: expired certificate"; flow:established,to_client; tls.cert_expired; sid:1000007; rev:1;))RULE";
const std::string kCertValid =
    R"RULE(alert tls any any -> any any (msg:"spanguard test: valid certificate"; flow:established,to_client; tls.cert_valid; sid:1000008; rev:1;))RULE";
const std::string kJa3Browser =
    R"RULE(alert tls any any -> any any (msg:"spanguard test: JA3 of the browser-like hello"; flow:established,to_server; ja3.hash; content:"c000e2caf3a25423f9de6c8a4b12a975"; ja3.string; content:"771,4865-4866-4867-49195-"; startswith; sid:1000009; rev:1;))RULE";
const std::string kJa4Browser =
    R"RULE(alert tls any any -> any any (msg:"spanguard test: JA4 of the browser-like hello"; flow:established,to_server; ja4.hash; content:"t13d1516h2_8daaf6152771_e5627efa2ab1"; bsize:36; sid:1000010; rev:1;))RULE";

// ---- the cases ---------------------------------------------------------------------------------

// CVE-2021-3449's renegotiation hello: signature_algorithms_cert without signature_algorithms
// (unless `with_signature_algorithms`), renegotiation_info.
tls::ClientHelloSpec cve_2021_3449_hello(bool with_signature_algorithms) {
  tls::ClientHelloSpec spec;
  spec.ciphers = {0xc02f, 0xc030};
  spec.extensions = {tls::raw_extension(0x0032, {0x00, 0x04, 0x04, 0x03, 0x08, 0x04}),
                     tls::raw_extension(0xff01, {0x00})};
  if (with_signature_algorithms) spec.extensions.push_back(tls::signature_algorithms({0x0403}));
  return spec;
}

Handshake with_sni(std::string_view sni) {
  Handshake h;
  h.hello = library_hello(sni);
  return h;
}

Handshake with_chain(std::vector<tls::Bytes> chain) {
  Handshake h;
  h.chain = std::move(chain);
  return h;
}

// Hello, ServerHello and records all at `version` (SSL 3.0 .. TLS 1.2).
Handshake at_version(uint16_t version) {
  Handshake h;
  h.hello.version = version;
  h.server_hello.version = version;
  h.record_version = version;
  return h;
}

Handshake schannel(std::string_view sni, uint16_t server_cipher) {
  Handshake h;
  h.hello = schannel_hello(sni);
  h.server_hello = server_hello_with(server_cipher);
  return h;
}

struct RuleCase {
  std::string name;  // Sid<sid>_<what the traffic shows>
  std::string rules;
  Home home;
  Handshake handshake;
  AlertCounts expected;  // every alert the run raises
  uint16_t port = 443;
};

std::vector<RuleCase> rule_cases() {
  std::vector<RuleCase> c;
  auto add = [&](std::string name, const std::string& rule, Home home, Handshake h, bool fires,
                 uint16_t port = 443) {
    const uint32_t sid = sid_of(rule);
    c.push_back({"Sid" + std::to_string(sid) + "_" + std::move(name), rule, home, std::move(h),
                 fires ? AlertCounts{{sid, 1}} : AlertCounts{}, port});
  };
  const Home kC = Home::kClient, kS = Home::kServer;

  // tls.sni
  add("SubdomainOfTheDomain", k2048948, kC, with_sni("x.fortect.com"), true);
  add("TheDomainItselfThanksToDotprefix", k2048948, kC, with_sni("fortect.com"), true);
  add("NearMiss_NameOnlyEndingInTheDomain", k2048948, kC, with_sni("notfortect.com"), false);
  add("SniEndingInItInAnyCase", k2035949, kC, with_sni("IPLogger.org"), true);
  add("NearMiss_DomainNotAtTheEnd", k2035949, kC, with_sni("iplogger.org.example.net"), false);
  Handshake no_sni = with_chain({certificate({{"CN", "iplogger.org"}})});
  no_sni.hello = library_hello("");
  add("NearMiss_NameOnlyInTheCertificate", k2035949, kC, no_sni, false);
  add("SniOfTheRightLength", k2033900, kC, with_sni("api.honeygain.com"), true);
  add("NearMiss_TrailingDotMakesItLonger", k2033900, kC, with_sni("api.honeygain.com."), false);

  // tls.cert_subject, tls.cert_issuer
  add("SubjectEndingInItInAnyCase", k2029322, kC,
      with_chain({certificate({{"C", "GB"},
                               {"L", "London"},
                               {"O", "Telegram Messenger Inc"},
                               {"CN", "API.Telegram.org"}})}),
      true);
  add("NearMiss_NameOnlyInSni", k2029322, kC, with_sni("api.telegram.org"), false);
  add("NearMiss_SubjectGoesOn", k2029322, kC,
      with_chain({certificate({{"CN", "api.telegram.org.example.net"}})}), false);
  const tls::DistinguishedName quad9 = {
      {"C", "US"}, {"ST", "California"}, {"L", "Berkeley"}, {"O", "Quad9"}, {"CN", "*.quad9.net"}};
  add("WholeSubjectOnPort853", k2027918, kC, with_chain({certificate(quad9)}), true, 853);
  add("NearMiss_SameCertificateOnPort443", k2027918, kC, with_chain({certificate(quad9)}), false,
      443);
  add("NearMiss_NameIsTheIssuers", k2027918, kC,
      with_chain({certificate({{"CN", "dns.example.net"}}, quad9)}), false, 853);
  const tls::DistinguishedName zerossl = {
      {"C", "AT"}, {"O", "ZeroSSL"}, {"CN", "ZeroSSL RSA Domain Secure Site CA"}};
  add("SubjectAndIssuer", k2031230, kC, with_chain({certificate({{"CN", "shop.top"}}, zerossl)}),
      true);
  add("NearMiss_OtherIssuer", k2031230, kC,
      with_chain(
          {certificate({{"CN", "shop.top"}}, {{"C", "US"}, {"O", "Let's Encrypt"}, {"CN", "R3"}})}),
      false);
  add("NearMiss_TldNotAtTheEnd", k2031230, kC,
      with_chain({certificate({{"CN", "shop.top.example.com"}}, zerossl)}), false);

  // tls.cert_serial
  const tls::Bytes coinhive = {0x0a, 0xe1, 0xe6, 0xbd, 0x51, 0xfb, 0x3d, 0x8f,
                               0x06, 0xbe, 0x0d, 0xb5, 0x5e, 0xbd, 0xe9, 0xdf};
  add("LeafSerialInColonSeparatedHex", k2024786, kC,
      with_chain({certificate({{"CN", "coinhive.com"}}, kExampleCa, coinhive)}), true);
  add("NearMiss_SerialOfTheIntermediate", k2024786, kC,
      with_chain({certificate({{"CN", "coinhive.com"}}),
                  certificate(kExampleCa, {{"CN", "Example Root"}}, coinhive)}),
      false);
  tls::Bytes jsecoin = {0xe7, 0xf9, 0xb6, 0xde, 0xa6, 0x57, 0x93, 0xe2,
                        0x44, 0x6a, 0x3b, 0x95, 0xc6, 0xb3, 0xec, 0xdf};
  add("HighBitSerialShowsItsLeadingZeroOctet", k2024788, kC,
      with_chain({certificate({{"CN", "jsecoin.com"}}, kExampleCa, jsecoin)}), true);
  jsecoin[0] = 0x67;
  add("NearMiss_SerialWithoutTheHighBit", k2024788, kC,
      with_chain({certificate({{"CN", "jsecoin.com"}}, kExampleCa, jsecoin)}), false);

  // tls.certs
  add("SliverNamedLeaf", k2037281, kC, with_chain({go_style_certificate(kSliverName)}), true);
  add("SliverNamedCertificateLaterInTheChain", k2037281, kC,
      with_chain({certificate({{"CN", "www.example.com"}}), go_style_certificate(kSliverName)}),
      true);
  auto with_organization = kSliverName;
  with_organization.emplace_back("O", "Acme");
  add("NearMiss_OrganizationPresent", k2037281, kC,
      with_chain({go_style_certificate(with_organization)}), false);

  // Raw stream content of a TLS flow.
  add("ThirteenByteNameInTheServerCertificate", k2038602, kC,
      with_chain({certificate({{"CN", "honeygain.com"}})}), true);
  add("NearMiss_WildcardNameIsLonger", k2038602, kC,
      with_chain({certificate({{"CN", "*.honeygain.com"}})}), false);
  // The SNI carries the same bytes (a 2-byte length 00 0d, then the name), but from the client.
  add("NearMiss_SameBytesFromTheClient", k2038602, kC, with_sni("honeygain.com"), false);

  // ja3 / ja3s across directions with flowbits; the legacy ja3_hash.
  const std::string ja3_rules = k2028831 + "\n" + k2033396 + "\n" + k2028788;
  c.push_back({"Sid2028831_2033396_Ja3SetsTheFlowbitThatTheJa3sRuleChecks",
               ja3_rules,
               kC,
               schannel("", 0xc030),
               {{2033396, 1}}});
  c.push_back({"Sid2028831_2033396_NearMiss_ServerChoosesAnotherCipher",
               ja3_rules,
               kC,
               schannel("", 0xc028),
               {}});
  c.push_back({"Sid2028788_LegacyJa3HashOfTheHelloWithSni",
               ja3_rules,
               kC,
               schannel("update.example.org", 0xc030),
               {{2028788, 1}}});

  // tls.version, ssl_version, ssl_state
  add("ClientHelloVersion11", k2031490, kC, at_version(tls::kTls11), true);
  add("NearMiss_ClientHelloVersion12", k2031490, kC, at_version(tls::kTls12), false);
  add("Sslv3Hello", k2031489, kC, at_version(tls::kSsl30), true);
  add("NearMiss_Tls10Hello", k2031489, kC, at_version(tls::kTls10), false);
  add("Sslv3ServerHelloRecordOnPort443", k2019416, kC, at_version(tls::kSsl30), true);
  add("NearMiss_Tls10Server", k2019416, kC, at_version(tls::kTls10), false);
  Handshake cve;
  cve.hello = cve_2021_3449_hello(false);
  add("HelloWithoutSignatureAlgorithms", k2032358, kS, cve, true);
  cve.hello = cve_2021_3449_hello(true);
  add("NearMiss_HelloWithSignatureAlgorithms", k2032358, kS, cve, false);
  add("ServerChoseTls12", kVersion12ToClient, kC, Handshake{}, true);
  add("NearMiss_ServerChoseTls13", kVersion12ToClient, kC, tls13_handshake("www.example.com"),
      false);
  add("ServerChoseTls13InSupportedVersions", kVersion13ToClient, kC,
      tls13_handshake("www.example.com"), true);
  add("NearMiss_Tls12Server", kVersion13ToClient, kC, Handshake{}, false);
  add("ClientOffersTls13InSupportedVersions", kVersion13ToServer, kC,
      tls13_handshake("www.example.com"), true);
  add("NearMiss_Tls12OnlyClient", kVersion13ToServer, kC, Handshake{}, false);
  add("ClientHello", kClientHelloState, kC, Handshake{}, true);
  add("ServerHello", kServerHelloState, kC, Handshake{}, true);
  add("NearMiss_ClientHelloIsNotTheMessageToTheClient", kClientHelloStateToClient, kC, Handshake{},
      false);
  add("ClientKeyExchangeOfTls12", kClientKeyxState, kC, Handshake{}, true);
  add("NearMiss_Tls13HasNoClientKeyExchange", kClientKeyxState, kC,
      tls13_handshake("www.example.com"), false);

  // tls.cert_expired, tls.cert_valid
  add("ExpiredBeforeTheCapture", kCertExpired, kC,
      with_chain({certificate_valid_between(1'500'000'000, 1'600'000'000)}), true);
  add("NearMiss_ValidCertificate", kCertExpired, kC, Handshake{}, false);
  add("ValidAtCaptureTime", kCertValid, kC, Handshake{}, true);
  add("NearMiss_NotYetValid", kCertValid, kC,
      with_chain(
          {certificate_valid_between(kCaptureSeconds + 86400, kCaptureSeconds + 86400 * 365)}),
      false);
  return c;
}

// gtest prints a failing parameter with this instead of its bytes.
void PrintTo(const RuleCase& c, std::ostream* os) { *os << c.name; }

class TlsRule : public ::testing::TestWithParam<RuleCase> {};

TEST_P(TlsRule, AlertsOncePerMatchingSessionAndNeverOnTheNearMiss) {
  const RuleCase& t = GetParam();
  const Replay r = replay(t.name, conversation(t.handshake, t.port), t.rules, home_is(t.home));
  ASSERT_EQ(r.run.status, 0) << t.rules << "\n" << r.run.err;
  EXPECT_EQ(r.alerts, t.expected) << t.rules << "\nEVE:\n" << r.eve_text;
}

INSTANTIATE_TEST_SUITE_P(EtOpen, TlsRule, ::testing::ValuesIn(rule_cases()),
                         [](const ::testing::TestParamInfo<RuleCase>& param) {
                           return param.param.name;
                         });

// Guards the cases above: what the rule must (not) find is (not) in the bytes.
TEST(TlsRules, GeneratedHandshakesCarryTheBytesTheRulesLookFor) {
  const auto has = [](const tls::Bytes& haystack, std::string_view needle) {
    return view(haystack).find(needle) != std::string_view::npos;
  };
  // 2037281's fast pattern: the start of the Go-style name, PrintableStrings, empty values.
  EXPECT_TRUE(has(go_style_certificate(kSliverName),
                  std::string_view("\x31\x0b\x30\x09\x06\x03\x55\x04\x06\x13\x02US\x31\x09\x30\x07"
                                   "\x06\x03\x55\x04\x08\x13\x00",
                                   24)));
  EXPECT_TRUE(has(certificate({{"CN", "honeygain.com"}}), "\x0dhoneygain.com"));
  EXPECT_FALSE(has(certificate({{"CN", "*.honeygain.com"}}), "\x0dhoneygain.com"));
  const tls::Bytes cve = tls::handshake_records({tls::client_hello(cve_2021_3449_hello(false))});
  EXPECT_FALSE(has(cve, std::string_view("\x00\x0d", 2)));
  EXPECT_TRUE(has(cve, std::string_view("\x00\x32\x00", 3)));
}

// ---- protocol detection, TLS 1.3, tiny segments
// --------------------------------------------------

const std::string kAnyTls = R"(alert tls any any -> any any (msg:"any tls"; sid:1; rev:1;))";

// Protocol detection by content: the port is no hint either way.
TEST(TlsRules, AlertTlsFiresOnTlsToPorts8443And4433) {
  const Replay v4 =
      replay("any-tls-v4", conversation(Handshake{}, 8443), kAnyTls, home_is(Home::kClient));
  ASSERT_EQ(v4.run.status, 0) << v4.run.err;
  EXPECT_GE(alerts_of(v4, 1), 1) << v4.eve_text;

  const Replay v6 =
      replay("any-tls-v6", conversation(Handshake{}, 4433, "2001:db8::1", "2001:db8::2"), kAnyTls,
             "{HOME_NET: \"[2001:db8::1/128]\"}");
  ASSERT_EQ(v6.run.status, 0) << v6.run.err;
  EXPECT_GE(alerts_of(v6, 1), 1) << v6.eve_text;
}

TEST(TlsRules, AlertTlsStaysSilentOnOtherTcpToPort443) {
  const auto exchange = [](std::string_view request, std::string_view response) {
    TcpConversation c({kClientIp, 49733, kClientMac}, {kServerIp, 443, kServerMac});
    std::vector<Bytes> frames = c.handshake();
    append(frames, c.client_sends(request));
    append(frames, c.server_sends(response));
    append(frames, c.close());
    return frames;
  };
  const Replay http = replay("http-on-443",
                             exchange("GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
                                      "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
                             kAnyTls, home_is(Home::kClient));
  ASSERT_EQ(http.run.status, 0) << http.run.err;
  EXPECT_TRUE(http.alerts.empty()) << http.eve_text;

  // A handshake content type but no TLS version after it (DTLS 1.2's 0xfefd).
  tls::Bytes dtls_like = tls::handshake_records({tls::client_hello(library_hello("x.example"))});
  dtls_like[1] = 0xfe;
  dtls_like[2] = 0xfd;
  const Replay binary = replay("binary-on-443", exchange(view(dtls_like), std::string(64, '\x5a')),
                               kAnyTls, home_is(Home::kClient));
  ASSERT_EQ(binary.run.status, 0) << binary.run.err;
  EXPECT_TRUE(binary.alerts.empty()) << binary.eve_text;
}

// TLS 1.3: the ClientHello and ServerHello are in clear, everything after is encrypted, the
// server's certificate included (here a certificate that every certificate rule below would match,
// inside application-data records).
TEST(TlsRules, Tls13SniAndFingerprintsMatchButTheEncryptedCertificateDoesNot) {
  Handshake h = tls13_handshake("x.fortect.com");
  const tls::Bytes serial = {0x0a, 0xe1, 0xe6, 0xbd, 0x51, 0xfb, 0x3d, 0x8f,
                             0x06, 0xbe, 0x0d, 0xb5, 0x5e, 0xbd, 0xe9, 0xdf};
  h.chain = {certificate({{"CN", "api.telegram.org"}}, kExampleCa, serial),
             go_style_certificate(kSliverName)};
  const std::string rules = k2048948 + "\n" + kJa3Browser + "\n" + kJa4Browser + "\n" +
                            kVersion13ToClient + "\n" + k2029322 + "\n" + k2024786 + "\n" +
                            k2037281 + "\n" + kCertValid;
  const Replay r = replay("tls13", conversation(h), rules, home_is(Home::kClient));
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_EQ(r.alerts, (AlertCounts{{2048948, 1}, {1000009, 1}, {1000010, 1}, {1000002, 1}}))
      << r.eve_text;
}

TEST(TlsRules, HandshakeCutIntoOneToThreeByteSegmentsStillMatches) {
  Handshake h = with_chain({certificate({{"C", "GB"},
                                         {"L", "London"},
                                         {"O", "Telegram Messenger Inc"},
                                         {"CN", "api.telegram.org"}})});
  h.hello = tls::browser_client_hello("x.fortect.com");
  TcpConversation c({kClientIp, 49733, kClientMac}, {kServerIp, 443, kServerMac});
  c.set_mss(3);
  std::vector<Bytes> frames = c.handshake();
  // The client's segments are 1, 2, 3, 1, 2, 3 ... bytes, the server's 3, 2, 1, ...
  for (const Flight& f : flights(h)) {
    const std::string_view records = view(f.records);
    for (size_t at = 0, i = 0; at < records.size(); ++i) {
      const size_t len = f.from_client ? 1 + i % 3 : 3 - i % 3;
      append(frames, f.from_client ? c.client_sends(records.substr(at, len))
                                   : c.server_sends(records.substr(at, len)));
      at += len;
    }
  }
  append(frames, c.close());
  const std::string rules = k2048948 + "\n" + kJa3Browser + "\n" + kJa4Browser + "\n" + k2029322;
  const Replay r = replay("tiny-segments", frames, rules, home_is(Home::kClient));
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_EQ(r.alerts, (AlertCounts{{2048948, 1}, {1000009, 1}, {1000010, 1}, {2029322, 1}}))
      << r.eve_text;
}

// ---- encrypted flows ---------------------------------------------------------------------------

const std::string kSecretMarker =
    R"(alert tcp any any -> any any (msg:"spanguard test: marker in the stream"; content:"SECRETMARKER"; sid:1000050; rev:1;))";
// As deployed, next to TLS rules (2048948 does not match these sessions).
const std::string kMarkerAndTlsRules = kSecretMarker + "\n" + k2048948;

// A TLS 1.2 session whose application data, after both ChangeCipherSpecs, carries the marker in
// each direction.
Handshake marked_session(std::string_view sni = "www.example.com") {
  Handshake h = with_sni(sni);
  h.client_data = tls::record(tls::kApplicationData, tls::kTls12,
                              bytes("\x8a\x19 GET /?q=SECRETMARKER HTTP/1.1 \x03\xfe"));
  h.server_data = tls::record(tls::kApplicationData, tls::kTls12,
                              bytes(std::string(300, '\x42') + "SECRETMARKER"));
  return h;
}

void expect_bypassed(const Replay& r, const Handshake& h) {
  EXPECT_TRUE(r.alerts.empty()) << r.eve_text;
  EXPECT_EQ(counter_of(r, "applayer.flows.tls"), 1u) << r.run.err;
  EXPECT_EQ(counter_of(r, "applayer.flows.encrypted"), 1u) << r.run.err;
  EXPECT_EQ(counter_of(r, "applayer.flows.bypassed"), 1u) << r.run.err;
  // Both application-data records, headers included, went by unreassembled.
  EXPECT_GE(counter_of(r, "stream.bypassed_bytes"), h.client_data.size() + h.server_data.size())
      << r.run.err;
}

TEST(TlsRules, ApplicationDataIsNotInspectedOnceTheFlowIsEncryptedByDefault) {
  const Handshake h = marked_session();
  const Replay r = replay("bypass", conversation(h), kMarkerAndTlsRules, home_is(Home::kClient));
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  expect_bypassed(r, h);
}

// Suricata parses TLS whatever the rules; the default encryption handling does not depend on
// which rules are loaded.
TEST(TlsRules, EncryptedFlowIsBypassedEvenWithOnlyStreamRulesLoaded) {
  const Handshake h = marked_session();
  const Replay r =
      replay("bypass-stream-rules-only", conversation(h), kSecretMarker, home_is(Home::kClient));
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  expect_bypassed(r, h);
}

TEST(TlsRules, TheSameRuleSeesTheMarkerBeforeEncryption) {
  // Guards the tests above: in the (clear) SNI the default configuration finds it.
  const Replay r = replay("marker-in-sni", conversation(marked_session("SECRETMARKER.example.com")),
                          kMarkerAndTlsRules, home_is(Home::kClient));
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_EQ(r.alerts, (AlertCounts{{1000050, 1}})) << r.eve_text;
}

TEST(TlsRules, FullEncryptionHandlingKeepsScanningApplicationData) {
  const Replay r = replay("full", conversation(marked_session()), kMarkerAndTlsRules,
                          home_is(Home::kClient), {"applayer.tls.encryption_handling=full"});
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  // Once per direction.
  EXPECT_EQ(r.alerts, (AlertCounts{{1000050, 2}})) << r.eve_text;
  EXPECT_EQ(counter_of(r, "applayer.flows.encrypted"), 1u) << r.run.err;
  EXPECT_EQ(counter_of(r, "applayer.flows.bypassed"), 0u) << r.run.err;
  EXPECT_EQ(counter_of(r, "stream.bypassed_bytes"), 0u) << r.run.err;
}

TEST(TlsRules, TrackOnlyStopsStreamInspectionWithoutBypassingTheFlow) {
  const Replay r = replay("track-only", conversation(marked_session()), kMarkerAndTlsRules,
                          home_is(Home::kClient), {"applayer.tls.encryption_handling=track-only"});
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  EXPECT_TRUE(r.alerts.empty()) << r.eve_text;
  EXPECT_EQ(counter_of(r, "applayer.flows.encrypted"), 1u) << r.run.err;
  EXPECT_EQ(counter_of(r, "applayer.flows.bypassed"), 0u) << r.run.err;
  EXPECT_EQ(counter_of(r, "stream.bypassed_bytes"), 0u) << r.run.err;
}

// output.eve.tls: one event_type "tls" record per handshake, with Suricata's tls object.
TEST(TlsRules, OutputEveTlsWritesOneRecordPerHandshake) {
  Handshake h = marked_session("records.example.com");
  h.chain = {certificate({{"CN", "records.example.com"}}, kExampleCa, {0x01, 0x02})};
  const Replay off =
      replay("tls-records-off", conversation(h), kSecretMarker, home_is(Home::kClient));
  ASSERT_EQ(off.run.status, 0) << off.run.err;
  EXPECT_EQ(off.eve_text.find("\"event_type\":\"tls\""), std::string::npos) << off.eve_text;

  const Replay r = replay("tls-records", conversation(h), kSecretMarker, home_is(Home::kClient),
                          {"output.eve.tls=true"});
  ASSERT_EQ(r.run.status, 0) << r.run.err;
  const std::vector<std::string> records = events_of_type(r, "tls");
  ASSERT_EQ(records.size(), 1u) << r.eve_text;
  const std::string& t = records.front();
  for (const std::string& want :
       {std::string("\"src_ip\":\"") + kClientIp + "\"", std::string("\"dest_port\":443"),
        std::string("\"sni\":\"records.example.com\""),
        std::string("\"subject\":\"CN=records.example.com\""),
        std::string("\"version\":\"TLS 1.2\""), std::string("\"ja3\":{\"hash\":\""),
        std::string("\"ja3s\":{\"hash\":\"")}) {
    EXPECT_NE(t.find(want), std::string::npos) << want << " not in " << t;
  }
}

}  // namespace
}  // namespace spanguard::testing
