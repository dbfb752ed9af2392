// TLS handshake parser: record framing and handshake reassembly under every split, the hello and
// certificate fields, JA3/JA3S/JA4 against published and hand-derived values, TLS 1.3 encryption,
// resumption, limits, anomalies and the probe.
#include "spanguard/applayer/tls.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <cstdio>
#include <sstream>

#include "tls_messages.h"

namespace spanguard::applayer::tls {
namespace {

namespace build = spanguard::testing::tls;
using build::Bytes;

// ---- recording observer and a flow under test -------------------------------------------------

std::string describe(const Session& s) {
  std::ostringstream o;
  const auto list = [&o](const auto& v) {
    for (const auto x : v) o << unsigned{x} << '.';
    o << ' ';
  };
  o << "ch=" << s.client_hello << " v=" << s.client_version << " sid=" << s.client_session_id.size()
    << " sni=[" << s.sni << "]" << s.has_sni << " ciphers=";
  list(s.ciphers);
  o << "ext=";
  list(s.extensions);
  o << "groups=";
  list(s.groups);
  o << "pf=";
  list(s.point_formats);
  o << "sig=";
  list(s.sig_algs);
  o << "versions=";
  list(s.client_versions);
  o << "alpn=";
  for (const auto& a : s.alpn) o << a << ';';
  o << " ja3=" << s.ja3 << '/' << s.ja3_hash << " ja4=" << s.ja4 << "\nsh=" << s.server_hello
    << " hrr=" << s.hello_retry_request << " sv=" << s.server_version << " v=" << s.version
    << " cipher=" << s.cipher << " sext=";
  list(s.server_extensions);
  o << "salpn=" << s.server_alpn << " ja3s=" << s.ja3s << '/' << s.ja3s_hash
    << "\ncerts=" << s.certificates.size() << " done=" << s.certificates_done << '\n';
  for (const Certificate& c : s.certificates) {
    o << "  " << c.parsed << " [" << c.subject << "] [" << c.issuer << "] " << c.serial << ' '
      << c.fingerprint << ' ' << c.not_before << ' ' << c.not_after << ' ' << c.der.size() << '\n';
  }
  o << "rv=" << s.client_record_version << '/' << s.server_record_version
    << " enc=" << s.client_encrypted << s.server_encrypted << s.handshake_done
    << " resumed=" << s.resumed << " alert=" << s.alert << s.alert_in_clear << ':'
    << unsigned{s.alert_level} << '/' << unsigned{s.alert_description}
    << " anomalies=" << s.anomalies << '\n';
  return o.str();
}

std::string_view event_name(Event e) {
  switch (e) {
    case Event::kClientHello:
      return "client_hello";
    case Event::kServerHello:
      return "server_hello";
    case Event::kCertificate:
      return "certificate";
    case Event::kClientKeyExchange:
      return "client_key_exchange";
    case Event::kEncrypted:
      return "encrypted";
  }
  return "?";
}

class Recorder : public Observer {
 public:
  void on_tls(Session& session, Event event) override {
    events.push_back(event);
    trace += std::string(event_name(event)) + "\n" + describe(session);
  }
  std::vector<Event> events;
  std::string trace;  // the session as each event saw it
};

struct Flow {
  explicit Flow(const Limits& limits = {}, CertificateCache* cache = nullptr)
      : parser(limits, recorder, counters, cache) {}
  void client(const Bytes& b) { parser.parse(Side::kClient, b); }
  void server(const Bytes& b) { parser.parse(Side::kServer, b); }
  const Session& session() const { return parser.session(); }
  bool has(Anomaly a) const { return (session().anomalies & bit(a)) != 0; }
  uint64_t count(TlsCounter c) const { return counters.get(c); }

  Recorder recorder;
  core::Counters<TlsCounter> counters{tls_counter_group()};
  Parser parser;
};

std::string sha1_hex_colons(const Bytes& der) {  // independent of the parser's digest code
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(der.data(), der.size(), md);
  std::string out;
  char buf[4];
  for (size_t i = 0; i < sizeof(md); ++i) {
    std::snprintf(buf, sizeof(buf), i == 0 ? "%02x" : ":%02x", md[i]);
    out += buf;
  }
  return out;
}

// ---- shared traffic ----------------------------------------------------------------------------

Bytes browser_hello_record() {
  return build::handshake_records({build::client_hello(build::browser_client_hello("example.com"))},
                                  build::kTls10);
}

Bytes tls13_server_hello() {
  build::ServerHelloSpec sh;
  sh.session_id = Bytes(32, 0x33);
  sh.cipher = 0x1301;
  sh.extensions = {build::server_supported_versions(build::kTls13),
                   build::raw_extension(0x0033, Bytes(36, 0x44))};
  return build::server_hello(sh);
}

struct Chain {
  build::KeyPair root_key, leaf_key;
  Bytes root, leaf;
};

Chain make_chain() {
  Chain c;
  build::CertificateSpec root;
  root.subject = {{"C", "US"}, {"O", "Example CA"}, {"CN", "Example Root"}};
  root.serial = {0x01};
  root.not_before = 1600000000;
  root.not_after = 1900000000;
  c.root = build::self_signed_certificate(root, c.root_key);
  build::CertificateSpec leaf;
  leaf.subject = {{"C", "US"}, {"ST", "California"}, {"O", "Example"}, {"CN", "host.example"}};
  leaf.issuer = root.subject;
  leaf.serial = {0x8f, 0x01, 0x02};  // high bit: DER adds a 00 octet, which Suricata prints
  leaf.not_before = 1700000000;
  leaf.not_after = 1731536000;
  c.leaf = build::make_certificate(leaf, c.leaf_key, c.root_key);
  return c;
}

// ---- framing and reassembly --------------------------------------------------------------------

TEST(TlsParser, ClientHelloGivesSameSessionAtEverySplitPoint) {
  const Bytes hello = browser_hello_record();
  Flow whole;
  whole.client(hello);
  ASSERT_TRUE(whole.session().client_hello);
  ASSERT_EQ(whole.session().anomalies, 0u);
  for (size_t cut = 0; cut <= hello.size(); ++cut) {
    Flow split;
    split.client({hello.begin(), hello.begin() + static_cast<long>(cut)});
    split.client({hello.begin() + static_cast<long>(cut), hello.end()});
    ASSERT_EQ(describe(split.session()), describe(whole.session())) << "cut at " << cut;
    ASSERT_EQ(split.recorder.trace, whole.recorder.trace) << "cut at " << cut;
  }
}

TEST(TlsParser, FullHandshakeByteAtATimeMatchesWholeRecords) {
  const Chain chain = make_chain();
  const Bytes client = build::concat(
      {browser_hello_record(), build::handshake_records({build::client_key_exchange()}),
       build::change_cipher_spec(), build::record(22, 0x0303, Bytes(40, 7))});
  const Bytes server =
      build::concat({build::handshake_records({build::server_hello({}),
                                               build::certificate_message({chain.leaf, chain.root}),
                                               build::server_hello_done()}),
                     build::change_cipher_spec(), build::record(22, 0x0303, Bytes(40, 9))});
  Flow whole;
  whole.client(client);
  whole.server(server);
  Flow bytewise;
  for (const uint8_t b : client) bytewise.client({b});
  for (const uint8_t b : server) bytewise.server({b});
  EXPECT_EQ(describe(bytewise.session()), describe(whole.session()));
  EXPECT_EQ(bytewise.recorder.trace, whole.recorder.trace);
  EXPECT_TRUE(whole.session().handshake_done);
}

TEST(TlsParser, MessageFragmentedAcrossRecordsIsReassembled) {
  const Bytes message = build::client_hello(build::browser_client_hello("example.com"));
  Flow whole;
  whole.client(build::handshake_records({message}));
  for (const size_t fragment : {1u, 3u, 4u, 5u, 64u}) {
    Flow fragmented;
    fragmented.client(build::handshake_records({message}, build::kTls12, fragment));
    EXPECT_EQ(describe(fragmented.session()), describe(whole.session())) << fragment;
    EXPECT_EQ(fragmented.recorder.events, std::vector<Event>{Event::kClientHello});
  }
}

TEST(TlsParser, SeveralHandshakeMessagesInOneRecordAreAllParsed) {
  const Chain chain = make_chain();
  Flow f;
  f.client(browser_hello_record());
  const Bytes record =
      build::handshake_records({build::server_hello({}), build::certificate_message({chain.leaf}),
                                build::server_hello_done()});
  ASSERT_EQ(f.count(TlsCounter::kRecords), 1u);
  f.server(record);
  EXPECT_EQ(f.count(TlsCounter::kRecords), 2u);
  EXPECT_EQ(f.count(TlsCounter::kHandshakeMessages), 4u);
  EXPECT_TRUE(f.session().server_hello);
  EXPECT_TRUE(f.session().certificates_done);
  EXPECT_EQ(f.recorder.events,
            (std::vector<Event>{Event::kClientHello, Event::kServerHello, Event::kCertificate}));
}

TEST(TlsParser, HandshakeMessageInterruptedByAnotherRecordTypeIsAnAnomaly) {
  const Bytes message = build::client_hello(build::browser_client_hello("example.com"));
  const Bytes first(message.begin(), message.begin() + 20);
  const Bytes rest(message.begin() + 20, message.end());
  Flow f;
  f.client(build::concat(
      {build::record(22, 0x0303, first), build::alert(1, 0), build::record(22, 0x0303, rest)}));
  EXPECT_TRUE(f.has(Anomaly::kInvalidHandshake));
  EXPECT_FALSE(f.session().client_hello);
}

// ---- hello fields and fingerprints ------------------------------------------------------------

TEST(TlsParser, ParsesSniAlpnVersionsCiphersAndExtensions) {
  Flow f;
  f.client(browser_hello_record());
  const Session& s = f.session();
  EXPECT_TRUE(s.client_hello);
  EXPECT_EQ(s.client_version, build::kTls12);
  EXPECT_EQ(s.client_record_version, build::kTls10);
  EXPECT_EQ(s.sni, "example.com");
  EXPECT_TRUE(s.has_sni);
  EXPECT_EQ(s.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(s.client_versions, (std::vector<uint16_t>{0x2a2a, 0x0304, 0x0303}));
  EXPECT_EQ(s.ciphers.size(), 16u);  // GREASE kept in the raw list
  EXPECT_EQ(s.ciphers[0], 0x0a0a);
  EXPECT_EQ(s.ciphers[1], 0x1301);
  EXPECT_EQ(s.extensions.size(), 18u);
  EXPECT_EQ(s.groups, (std::vector<uint16_t>{0x3a3a, 0x001d, 0x0017, 0x0018}));
  EXPECT_EQ(s.point_formats, (std::vector<uint8_t>{0}));
  EXPECT_EQ(s.sig_algs.size(), 8u);
  EXPECT_EQ(s.client_session_id.size(), 32u);
  EXPECT_EQ(s.anomalies, 0u);
}

TEST(TlsParser, Ja3MatchesSalesforceExampleWithGreaseRemoved) {
  // https://github.com/salesforce/ja3 README: the string and its MD5.
  build::ClientHelloSpec spec;
  spec.version = build::kTls10;
  spec.ciphers = {0x0a0a, 47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4};
  spec.extensions = {build::grease_extension(5), build::server_name("a.example"),
                     build::supported_groups({0x1a1a, 23, 24, 25}), build::ec_point_formats({0})};
  Flow f;
  f.client(build::handshake_records({build::client_hello(spec)}));
  EXPECT_EQ(f.session().ja3,
            "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0");
  EXPECT_EQ(f.session().ja3_hash, "ada70206e40642a3e4461f35503241d5");
}

TEST(TlsParser, Ja3WithoutExtensionsLeavesTheirFieldsEmpty) {
  build::ClientHelloSpec spec;
  spec.version = build::kTls10;
  spec.ciphers = {4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99};
  spec.omit_extensions = true;
  Flow f;
  f.client(build::handshake_records({build::client_hello(spec)}, build::kSsl30));
  EXPECT_EQ(f.session().ja3, "769,4-5-10-9-100-98-3-6-19-18-99,,,");
  EXPECT_EQ(f.session().ja3_hash, "de350869b8c85de67a350c8d186f11e6");  // the README's value
  EXPECT_EQ(f.session().anomalies, 0u);
}

TEST(TlsParser, Ja4MatchesFoxIoDocumentationExample) {
  // FoxIO technical_details/JA4.md: same ciphers, extensions and signature algorithms.
  Flow f;
  f.client(browser_hello_record());
  EXPECT_EQ(f.session().ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
}

TEST(TlsParser, Ja4WithoutSignatureAlgorithmsHashesExtensionsAlone) {
  build::ClientHelloSpec spec = build::browser_client_hello("example.com");
  for (build::Extension& e : spec.extensions) {
    if (e.type == 13) e = build::signature_algorithms({});
  }
  Flow f;
  f.client(build::handshake_records({build::client_hello(spec)}));
  EXPECT_EQ(f.session().ja4, "t13d1516h2_8daaf6152771_6d807ffa2a79");  // JA4.md's value
}

TEST(TlsParser, Ja3AndJa4OfTls12HelloWithoutSniOrAlpn) {
  // Hand-derived: JA4_b = sha256("002f,009c,c02b,c02f"), JA4_c = sha256("000a,000b,000d_0403,0804")
  // and JA3 = md5 of the string below, computed with sha256sum/md5sum.
  build::ClientHelloSpec spec;
  spec.extensions = {build::ec_point_formats({0}), build::supported_groups({23, 24}),
                     build::signature_algorithms({0x0403, 0x0804})};
  Flow f;
  f.client(build::handshake_records({build::client_hello(spec)}));
  EXPECT_EQ(f.session().ja4, "t12i040300_ec7724f63c6c_876bcc86782c");
  EXPECT_EQ(f.session().ja3, "771,49195-49199-156-47,11-10-13,23-24,0");
  EXPECT_EQ(f.session().ja3_hash, "ecfd11139c780ba3d52ac2f806c3dfee");
  EXPECT_FALSE(f.session().has_sni);
}

TEST(TlsParser, Ja4AlpnUsesHexDigitsForNonAlphanumericEnds) {
  const auto ja4_alpn = [](std::vector<std::string> protocols) {
    build::ClientHelloSpec spec;
    spec.extensions = {build::alpn(protocols)};
    Flow f;
    f.client(build::handshake_records({build::client_hello(spec)}));
    return f.session().ja4.substr(8, 2);
  };
  EXPECT_EQ(ja4_alpn({"http/1.1", "h2"}), "h1");
  EXPECT_EQ(ja4_alpn({"x"}), "xx");
  EXPECT_EQ(ja4_alpn({"\xab"}), "ab");
  EXPECT_EQ(ja4_alpn({"\xab\xcd"}), "ad");
  EXPECT_EQ(ja4_alpn({"0\xab"}), "3b");
  EXPECT_EQ(ja4_alpn({}), "00");
}

TEST(TlsParser, Ja4CountsCapAt99AndEmptyCipherListHashesToZeros) {
  build::ClientHelloSpec spec;
  spec.ciphers.clear();
  for (uint16_t c = 1; c <= 120; ++c) spec.extensions.push_back(build::raw_extension(0x1000 + c));
  Flow f;
  f.client(build::handshake_records({build::client_hello(spec)}));
  EXPECT_EQ(f.session().ja4.substr(0, 23), "t12i009900_000000000000");
}

TEST(TlsParser, ServerHelloAndJa3sParsed) {
  build::ServerHelloSpec sh;
  sh.cipher = 0xc02f;
  sh.extensions = {build::raw_extension(0xff01, {0}), build::raw_extension(0x0017),
                   build::ec_point_formats({0})};
  Flow f;
  f.client(browser_hello_record());
  f.server(build::handshake_records({build::server_hello(sh)}));
  const Session& s = f.session();
  EXPECT_TRUE(s.server_hello);
  EXPECT_EQ(s.version, build::kTls12);
  EXPECT_EQ(s.cipher, 0xc02f);
  EXPECT_EQ(s.ja3s, "771,49199,65281-23-11");
  EXPECT_EQ(s.ja3s_hash, "31664de10b10b9eac390e9757a087b29");  // md5sum of the string
  EXPECT_FALSE(s.server_encrypted);
}

// ---- certificates ------------------------------------------------------------------------------

TEST(TlsParser, Tls12FullHandshakeParsesTwoCertificateChain) {
  const Chain chain = make_chain();
  Flow f;
  f.client(browser_hello_record());
  f.server(build::handshake_records({build::server_hello({}),
                                     build::certificate_message({chain.leaf, chain.root}),
                                     build::server_hello_done()}));
  const Session& s = f.session();
  ASSERT_TRUE(s.certificates_done);
  ASSERT_EQ(s.certificates.size(), 2u);
  const Certificate& leaf = s.certificates[0];
  EXPECT_TRUE(leaf.parsed);
  EXPECT_EQ(leaf.subject, "C=US, ST=California, O=Example, CN=host.example");
  EXPECT_EQ(leaf.issuer, "C=US, O=Example CA, CN=Example Root");
  EXPECT_EQ(leaf.serial, "00:8F:01:02");
  EXPECT_EQ(leaf.fingerprint, sha1_hex_colons(chain.leaf));
  EXPECT_EQ(leaf.not_before, 1700000000);
  EXPECT_EQ(leaf.not_after, 1731536000);
  EXPECT_EQ(leaf.der, chain.leaf);
  const Certificate& root = s.certificates[1];
  EXPECT_EQ(root.subject, "C=US, O=Example CA, CN=Example Root");
  EXPECT_EQ(root.issuer, root.subject);
  EXPECT_EQ(root.serial, "01");
  EXPECT_EQ(root.fingerprint, sha1_hex_colons(chain.root));
  EXPECT_EQ(root.der, chain.root);
  EXPECT_EQ(f.count(TlsCounter::kCertificates), 2u);

  // Client and server finish: CCS then encrypted Finished, then application data.
  f.client(build::concat({build::handshake_records({build::client_key_exchange()}),
                          build::change_cipher_spec(), build::record(22, 0x0303, Bytes(40, 1))}));
  EXPECT_TRUE(s.client_encrypted);
  EXPECT_FALSE(s.handshake_done);
  f.server(build::concat({build::change_cipher_spec(), build::record(22, 0x0303, Bytes(40, 2))}));
  EXPECT_TRUE(s.handshake_done);
  EXPECT_FALSE(s.resumed);
  EXPECT_EQ(f.recorder.events,
            (std::vector<Event>{Event::kClientHello, Event::kServerHello, Event::kCertificate,
                                Event::kClientKeyExchange, Event::kEncrypted}));
  EXPECT_EQ(s.anomalies, 0u);
}

TEST(TlsParser, SubjectPrintsMultiValuedRdnsAndEmail) {
  build::KeyPair key;
  build::CertificateSpec spec;
  spec.subject = {{"DC", "example"},
                  {"OU", "Ops"},
                  {"CN", "a", false},
                  {"CN", "b", true},
                  {"emailAddress", "ops@example.com"},
                  {"L", "Paris"}};
  const Bytes der = build::self_signed_certificate(spec, key);
  Flow f;
  f.server(build::handshake_records({build::server_hello({}), build::certificate_message({der})}));
  ASSERT_EQ(f.session().certificates.size(), 1u);
  EXPECT_EQ(f.session().certificates[0].subject,
            "DC=example, OU=Ops, CN=a + CN=b, Email=ops@example.com, L=Paris");
}

TEST(TlsParser, CertificateOpenSslRejectsIsKeptAsDerOnly) {
  const Chain chain = make_chain();
  const Bytes junk = {0x30, 0x03, 0x02, 0x01, 0x05};
  Flow f;
  f.server(build::handshake_records(
      {build::server_hello({}), build::certificate_message({junk, chain.leaf})}));
  const Session& s = f.session();
  ASSERT_EQ(s.certificates.size(), 2u);
  EXPECT_FALSE(s.certificates[0].parsed);
  EXPECT_EQ(s.certificates[0].der, junk);
  EXPECT_TRUE(s.certificates[0].subject.empty());
  EXPECT_TRUE(s.certificates[1].parsed);
  EXPECT_TRUE(f.has(Anomaly::kBadCertificate));
  EXPECT_EQ(f.count(TlsCounter::kAnomalyBadCertificate), 1u);
}

// Decoded fields every way a certificate can be obtained must be the same.
std::string fields(const Certificate& c) {
  return std::to_string(c.parsed) + "|" + c.subject + "|" + c.issuer + "|" + c.serial + "|" +
         c.fingerprint + "|" + std::to_string(c.not_before) + "|" + std::to_string(c.not_after);
}

TEST(TlsParser, CertificateCacheGivesTheSameFieldsAndDecodesEachChainOnce) {
  const Chain chain = make_chain();
  const Bytes server_flight = build::handshake_records(
      {build::server_hello({}), build::certificate_message({chain.leaf, chain.root})});
  Flow uncached;
  uncached.server(server_flight);
  ASSERT_EQ(uncached.session().certificates.size(), 2u);

  CertificateCache cache;
  Flow first({}, &cache), second({}, &cache);
  first.server(server_flight);
  second.server(server_flight);
  for (size_t i = 0; i < 2; ++i) {
    const std::string want = fields(uncached.session().certificates[i]);
    EXPECT_EQ(fields(first.session().certificates[i]), want);
    EXPECT_EQ(fields(second.session().certificates[i]), want);
    EXPECT_EQ(second.session().certificates[i].der, uncached.session().certificates[i].der);
  }
  EXPECT_EQ(first.count(TlsCounter::kCertificateCacheHits), 0u);
  EXPECT_EQ(second.count(TlsCounter::kCertificateCacheHits), 2u);
  EXPECT_EQ(second.count(TlsCounter::kCertificates), 2u);
}

TEST(TlsParser, CertificateCacheSlotsHoldOnlyEqualBytesAndNeverABadCertificate) {
  const Chain chain = make_chain();
  const Bytes junk = {0x30, 0x03, 0x02, 0x01, 0x05};
  CertificateCache one_slot(1);  // every certificate collides
  for (int round = 0; round < 2; ++round) {
    Flow f({}, &one_slot);
    f.server(build::handshake_records(
        {build::server_hello({}), build::certificate_message({chain.leaf, junk, chain.root})}));
    const auto& certs = f.session().certificates;
    ASSERT_EQ(certs.size(), 3u);
    EXPECT_EQ(certs[0].subject, "C=US, ST=California, O=Example, CN=host.example");
    EXPECT_FALSE(certs[1].parsed);
    EXPECT_TRUE(certs[1].subject.empty());
    EXPECT_EQ(certs[2].subject, "C=US, O=Example CA, CN=Example Root");
    EXPECT_EQ(f.count(TlsCounter::kAnomalyBadCertificate), 1u);
    // Leaf and root evict each other from the one slot (a hit needs equal bytes), and the junk
    // that OpenSSL refuses is never stored: no round has a hit.
    EXPECT_EQ(f.count(TlsCounter::kCertificateCacheHits), 0u);
  }
}

TEST(TlsParser, TruncatedCertificateListKeepsWhatFitsWithoutCrashing) {
  const Chain chain = make_chain();
  Bytes message = build::certificate_message({chain.leaf, chain.root});
  // Cut the message inside the second certificate and fix up the handshake length only: the
  // certificate_list and the second ASN.1Cert lengths now overrun the message.
  message.resize(message.size() - 50);
  const size_t body = message.size() - 4;
  message[1] = static_cast<uint8_t>(body >> 16);
  message[2] = static_cast<uint8_t>(body >> 8);
  message[3] = static_cast<uint8_t>(body);
  Flow f;
  f.server(build::handshake_records({build::server_hello({}), message}));
  EXPECT_TRUE(f.session().certificates_done);
  ASSERT_EQ(f.session().certificates.size(), 1u);
  EXPECT_EQ(f.session().certificates[0].der, chain.leaf);
  EXPECT_TRUE(f.has(Anomaly::kInvalidHandshake));
}

TEST(TlsParser, CertificateListLongerThanLimitIsCapped) {
  const Chain chain = make_chain();
  Limits limits;
  limits.max_certificates = 2;
  Flow f(limits);
  f.server(build::handshake_records(
      {build::server_hello({}), build::certificate_message({chain.leaf, chain.root, chain.root})}));
  EXPECT_EQ(f.session().certificates.size(), 2u);
  EXPECT_TRUE(f.has(Anomaly::kTooManyCertificates));
  EXPECT_EQ(f.count(TlsCounter::kAnomalyTooManyCertificates), 1u);
}

TEST(TlsParser, HandshakeMessageOverLimitIsSkippedAndParsingContinues) {
  const Chain chain = make_chain();
  Limits limits;
  limits.max_handshake_bytes = 200;
  Flow f(limits);
  f.server(build::handshake_records(
      {build::server_hello({}), build::certificate_message({chain.leaf, chain.root}),
       build::server_hello_done()},
      build::kTls12, 100));
  EXPECT_TRUE(f.has(Anomaly::kHandshakeTooLong));
  EXPECT_FALSE(f.session().certificates_done);
  EXPECT_EQ(f.count(TlsCounter::kHandshakeMessages), 2u);  // ServerHello, ServerHelloDone
  EXPECT_LE(f.parser.buffered_bytes(), 200u);
  f.server(build::change_cipher_spec());
  EXPECT_FALSE(f.session().resumed);  // ServerHelloDone was seen: a full handshake
}

// ---- TLS 1.3, HelloRetryRequest, resumption -----------------------------------------------------

TEST(TlsParser, Tls13IsEncryptedAfterServerHelloAndNothingMoreIsParsed) {
  const Chain chain = make_chain();
  Flow f;
  f.client(browser_hello_record());
  // The ServerHello's record also carries bytes after it, and a later handshake record holds a
  // clear Certificate message: both are encrypted data in TLS 1.3 and must not be parsed.
  Bytes stream = build::concat({tls13_server_hello(), Bytes{0x0b, 0xff, 0xff}});
  f.server(build::concat({build::record(22, 0x0303, stream), build::change_cipher_spec(),
                          build::handshake_records({build::certificate_message({chain.leaf})}),
                          build::application_data(300)}));
  const Session& s = f.session();
  EXPECT_EQ(s.version, build::kTls13);
  EXPECT_EQ(s.server_version, build::kTls12);
  EXPECT_TRUE(s.server_encrypted);
  EXPECT_FALSE(s.certificates_done);
  EXPECT_TRUE(s.certificates.empty());
  EXPECT_EQ(s.anomalies, 0u);
  EXPECT_EQ(f.count(TlsCounter::kHandshakeMessages), 2u);  // the two hellos
  EXPECT_FALSE(s.handshake_done);
  EXPECT_EQ(f.parser.buffered_bytes(), 0u);

  f.client(build::concat({build::change_cipher_spec(), build::application_data(80)}));
  EXPECT_TRUE(s.client_encrypted);
  EXPECT_TRUE(s.handshake_done);
  EXPECT_EQ(f.recorder.events,
            (std::vector<Event>{Event::kClientHello, Event::kServerHello, Event::kEncrypted}));
  EXPECT_EQ(s.ja4, "t13d1516h2_8daaf6152771_e5627efa2ab1");
  EXPECT_EQ(s.sni, "example.com");
  EXPECT_EQ(f.count(TlsCounter::kEncryptedSessions), 1u);
  EXPECT_FALSE(s.resumed);
}

TEST(TlsParser, HelloRetryRequestKeepsHandshakeInClearUntilRealServerHello) {
  Flow f;
  f.client(browser_hello_record());
  build::ServerHelloSpec hrr;
  hrr.hello_retry_request = true;
  hrr.cipher = 0x1301;
  hrr.extensions = {build::server_supported_versions(build::kTls13)};
  // RFC 8446 §D.4: the server's dummy CCS after the HRR, the client's before its retry.
  f.server(build::concat(
      {build::handshake_records({build::server_hello(hrr)}), build::change_cipher_spec()}));
  EXPECT_TRUE(f.session().hello_retry_request);
  EXPECT_FALSE(f.session().server_hello);
  EXPECT_FALSE(f.session().server_encrypted);
  f.client(build::concat({build::change_cipher_spec(),
                          build::handshake_records(
                              {build::client_hello(build::browser_client_hello("example.com"))})}));
  EXPECT_FALSE(f.session().client_encrypted);
  EXPECT_EQ(f.count(TlsCounter::kClientHellos), 2u);
  f.server(build::handshake_records({tls13_server_hello()}));
  EXPECT_TRUE(f.session().server_hello);
  EXPECT_TRUE(f.session().server_encrypted);
  f.client(build::application_data(50));
  EXPECT_TRUE(f.session().handshake_done);
  EXPECT_EQ(f.session().anomalies, 0u);
  EXPECT_EQ(f.recorder.events,
            (std::vector<Event>{Event::kClientHello, Event::kServerHello, Event::kEncrypted}));
}

TEST(TlsParser, EchoedSessionIdIsResumption) {
  build::ClientHelloSpec ch;
  ch.session_id = Bytes(32, 0x77);
  build::ServerHelloSpec sh;
  sh.session_id = ch.session_id;
  Flow f;
  f.client(build::handshake_records({build::client_hello(ch)}));
  f.server(build::concat({build::handshake_records({build::server_hello(sh)}),
                          build::change_cipher_spec(), build::record(22, 0x0303, Bytes(40, 3))}));
  EXPECT_TRUE(f.session().resumed);
  EXPECT_EQ(f.count(TlsCounter::kResumedSessions), 1u);
}

TEST(TlsParser, TicketResumptionIsCcsWithoutFullServerFlight) {
  Flow f;
  f.client(build::handshake_records({build::client_hello({})}));
  f.server(
      build::concat({build::handshake_records(
                         {build::server_hello({}),
                          build::handshake_message(build::kNewSessionTicketType, Bytes(20, 1))}),
                     build::change_cipher_spec()}));
  EXPECT_TRUE(f.session().resumed);
  EXPECT_TRUE(f.session().server_encrypted);
}

TEST(TlsParser, Tls13PreSharedKeyIsResumption) {
  build::ServerHelloSpec sh;
  sh.extensions = {build::server_supported_versions(build::kTls13),
                   build::raw_extension(41, {0x00, 0x00})};
  Flow f;
  f.client(browser_hello_record());
  f.server(build::handshake_records({build::server_hello(sh)}));
  EXPECT_TRUE(f.session().resumed);
}

// ---- alerts ------------------------------------------------------------------------------------

TEST(TlsParser, ClearAlertIsReadAndEncryptedAlertOnlyFlagged) {
  Flow clear;
  clear.client(browser_hello_record());
  clear.server(build::alert(2, 40));  // fatal handshake_failure
  EXPECT_TRUE(clear.session().alert);
  EXPECT_TRUE(clear.session().alert_in_clear);
  EXPECT_EQ(clear.session().alert_level, 2);
  EXPECT_EQ(clear.session().alert_description, 40);

  Flow encrypted;
  encrypted.client(build::concat({browser_hello_record(), build::change_cipher_spec(),
                                  build::record(21, 0x0303, Bytes(26, 0xee))}));
  EXPECT_TRUE(encrypted.session().alert);
  EXPECT_FALSE(encrypted.session().alert_in_clear);
  EXPECT_EQ(encrypted.count(TlsCounter::kAlerts), 1u);
}

// ---- malformed input, gaps, limits
// ---------------------------------------------------------------

TEST(TlsParser, GarbageRecordStopsThatDirectionOnly) {
  Flow f;
  f.client(Bytes{'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P', '/', '1', '.', '1'});
  EXPECT_TRUE(f.has(Anomaly::kInvalidRecord));
  EXPECT_TRUE(f.parser.stopped(Side::kClient));
  f.client(browser_hello_record());
  EXPECT_FALSE(f.session().client_hello);
  f.server(build::handshake_records({build::server_hello({})}));
  EXPECT_TRUE(f.session().server_hello);
  EXPECT_EQ(f.count(TlsCounter::kAnomalyInvalidRecord), 1u);
}

TEST(TlsParser, RecordVersionOutsideSsl3ToTls13IsInvalid) {
  Flow f;
  f.client(build::record(22, 0x0305, Bytes(10, 0)));
  EXPECT_TRUE(f.has(Anomaly::kInvalidRecord));
}

TEST(TlsParser, OversizeRecordIsCountedAndStopsDirection) {
  Flow f;
  f.server(Bytes{22, 3, 3, 0x48, 0x01});  // 2^14 + 2048 + 1
  EXPECT_TRUE(f.has(Anomaly::kRecordTooLong));
  EXPECT_TRUE(f.parser.stopped(Side::kServer));
  EXPECT_EQ(f.count(TlsCounter::kAnomalyRecordTooLong), 1u);
}

TEST(TlsParser, GapBeforeEncryptionStopsDirectionAndIsCounted) {
  const Bytes hello = browser_hello_record();
  Flow f;
  f.client({hello.begin(), hello.begin() + 30});
  EXPECT_GT(f.parser.buffered_bytes(), 0u);
  f.parser.on_gap(Side::kClient);
  EXPECT_TRUE(f.has(Anomaly::kGap));
  EXPECT_TRUE(f.parser.stopped(Side::kClient));
  EXPECT_EQ(f.parser.buffered_bytes(), 0u);
  f.client(browser_hello_record());
  EXPECT_FALSE(f.session().client_hello);
  f.server(build::handshake_records({build::server_hello({})}));
  EXPECT_TRUE(f.session().server_hello);
  EXPECT_EQ(f.count(TlsCounter::kGaps), 1u);
}

TEST(TlsParser, GapAfterEncryptionIsNotAnAnomaly) {
  Flow f;
  f.client(build::concat({browser_hello_record(), build::application_data(10)}));
  f.parser.on_gap(Side::kClient);
  EXPECT_FALSE(f.has(Anomaly::kGap));
  EXPECT_TRUE(f.session().client_encrypted);
  EXPECT_EQ(f.count(TlsCounter::kGaps), 1u);
}

TEST(TlsParser, Sslv2ClientHelloIsFlagged) {
  Flow f;
  f.client(Bytes{0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10});
  EXPECT_TRUE(f.has(Anomaly::kSslv2Hello));
  EXPECT_TRUE(f.parser.stopped(Side::kClient));
}

TEST(TlsParser, HelloFromWrongSideIsUnexpected) {
  Flow f;
  f.client(build::handshake_records({build::server_hello({})}));
  f.server(build::handshake_records({build::client_hello({})}));
  EXPECT_TRUE(f.has(Anomaly::kUnexpectedMessage));
  EXPECT_FALSE(f.session().client_hello);
  EXPECT_FALSE(f.session().server_hello);
  EXPECT_EQ(f.count(TlsCounter::kAnomalyUnexpectedMessage), 2u);
}

TEST(TlsParser, MalformedHelloExtensionsAreCountedAndHelloStillReported) {
  const Bytes message = build::client_hello(build::browser_client_hello("example.com"));
  Bytes body(message.begin() + 4, message.end());
  body.push_back(0x00);  // a byte after the extensions block
  Flow f;
  f.client(build::handshake_records({build::handshake_message(1, body)}));
  EXPECT_TRUE(f.session().client_hello);
  EXPECT_TRUE(f.has(Anomaly::kInvalidHandshake));

  build::ClientHelloSpec bad_sni;  // server_name whose list length overruns the extension
  bad_sni.extensions = {build::raw_extension(0, {0x00, 0x09, 0x00}), build::alpn({"h2"})};
  Flow g;
  g.client(build::handshake_records({build::client_hello(bad_sni)}));
  EXPECT_TRUE(g.has(Anomaly::kInvalidHandshake));
  EXPECT_TRUE(g.session().has_sni);
  EXPECT_EQ(g.session().alpn, std::vector<std::string>{"h2"});  // later extensions still read

  Flow short_hello;
  short_hello.client(build::handshake_records({build::handshake_message(1, Bytes(20, 3))}));
  EXPECT_FALSE(short_hello.session().client_hello);
  EXPECT_TRUE(short_hello.has(Anomaly::kInvalidHandshake));
}

TEST(TlsParser, FlowEndInsideRecordIsTruncated) {
  const Bytes hello = browser_hello_record();
  Flow f;
  f.client({hello.begin(), hello.end() - 1});
  f.parser.on_end();
  EXPECT_TRUE(f.has(Anomaly::kTruncated));
  EXPECT_EQ(f.parser.buffered_bytes(), 0u);
  f.parser.on_end();  // idempotent
  EXPECT_EQ(f.count(TlsCounter::kAnomalyTruncated), 1u);
}

TEST(TlsParser, MemoryIsReleasedAfterEncryption) {
  const Chain chain = make_chain();
  const Bytes server = build::handshake_records(
      {build::server_hello({}), build::certificate_message({chain.leaf, chain.root}),
       build::server_hello_done()},
      build::kTls12, 64);
  Flow f;
  f.client(browser_hello_record());
  f.server({server.begin(), server.begin() + 200});  // inside the Certificate message
  EXPECT_GT(f.parser.buffered_bytes(), 0u);
  f.server({server.begin() + 200, server.end()});
  f.client(build::concat({build::handshake_records({build::client_key_exchange()}),
                          build::change_cipher_spec(), build::record(22, 0x0303, Bytes(40, 1))}));
  f.server(build::concat({build::change_cipher_spec(), build::record(22, 0x0303, Bytes(40, 2))}));
  ASSERT_TRUE(f.session().handshake_done);
  EXPECT_EQ(f.parser.buffered_bytes(), 0u);
  const size_t after = f.parser.memory_bytes();
  const uint64_t records = f.count(TlsCounter::kRecords);
  for (int i = 0; i < 50; ++i) {
    f.client(build::application_data(16000));
    f.server(build::application_data(16000));
  }
  EXPECT_EQ(f.parser.memory_bytes(), after);  // encrypted records are framed, never buffered
  EXPECT_EQ(f.count(TlsCounter::kRecords), records + 100);
}

// ---- probe and registry
// --------------------------------------------------------------------------

TEST(TlsProbe, RecognisesHellosAndTellsWhichSideIsClient) {
  const Bytes ch = browser_hello_record();
  bool client = false;
  EXPECT_EQ(probe(ch, &client), Probe::kYes);
  EXPECT_TRUE(client);
  const Bytes sh = build::handshake_records({build::server_hello({})}, build::kSsl30);
  EXPECT_EQ(probe(sh, &client), Probe::kYes);
  EXPECT_FALSE(client);
  for (size_t n = 0; n < 11; ++n) {
    EXPECT_EQ(probe({ch.data(), n}), Probe::kNeedMore) << n;
  }
}

TEST(TlsProbe, RejectsOtherProtocolsAndOtherRecords) {
  const std::string http = "GET / HTTP/1.1\r\n";
  EXPECT_EQ(probe({reinterpret_cast<const uint8_t*>(http.data()), http.size()}), Probe::kNo);
  EXPECT_EQ(probe(build::application_data(40)), Probe::kNo);
  EXPECT_EQ(probe(build::handshake_records({build::server_hello_done()})), Probe::kNo);
  EXPECT_EQ(probe(Bytes{22, 3, 5}), Probe::kNo);
  EXPECT_EQ(probe(Bytes{22, 3, 3, 0x48, 0x01}), Probe::kNo);
}

TEST(TlsCounters, GroupHasOneNamedCounterPerEnumValue) {
  const core::CounterGroup& g = tls_counter_group();
  EXPECT_EQ(g.module, "tls");
  EXPECT_EQ(g.defs.size(), static_cast<size_t>(TlsCounter::kCount));
  EXPECT_EQ(g.defs[static_cast<size_t>(anomaly_counter(Anomaly::kGap))].name, "anomaly.gap");
  EXPECT_EQ(anomaly_name(Anomaly::kSslv2Hello), "sslv2_hello");
}

TEST(TlsGrease, RecognisesAllSixteenValuesOnly) {
  int count = 0;
  for (uint32_t v = 0; v <= 0xffff; ++v) count += is_grease(static_cast<uint16_t>(v));
  EXPECT_EQ(count, 16);
  EXPECT_TRUE(is_grease(0xfafa));
  EXPECT_FALSE(is_grease(0x0a1a));
}

}  // namespace
}  // namespace spanguard::applayer::tls
