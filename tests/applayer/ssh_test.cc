// SSH parser: identification lines, KEXINIT and hassh (against the hassh project's published
// example), NEWKEYS and encryption, limits and anomalies, and that every split of the bytes gives
// the same events.
#include "spanguard/applayer/ssh.h"

#include <gtest/gtest.h>

#include <sstream>
#include <vector>

namespace spanguard::applayer::ssh {
namespace {

using Bytes = std::span<const uint8_t>;
Bytes bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// ---- packets built in the test ---------------------------------------------------------------

void put32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

// RFC 4253 §6: packet_length, padding_length, payload, padding (4+ bytes, total a multiple of 8).
std::string packet(std::string_view payload) {
  size_t padding = 8 - (5 + payload.size()) % 8;
  if (padding < 4) padding += 8;
  std::string out;
  put32(out, static_cast<uint32_t>(1 + payload.size() + padding));
  out.push_back(static_cast<char>(padding));
  out.append(payload);
  out.append(padding, '\0');
  return out;
}

struct Algorithms {
  std::string kex, host_key, enc_c2s, enc_s2c, mac_c2s, mac_s2c, comp_c2s, comp_s2c;
};

// RFC 4253 §7.1 SSH_MSG_KEXINIT.
std::string kexinit(const Algorithms& a) {
  std::string p(1, '\x14');
  p.append(16, '\x5a');  // cookie
  for (const std::string* list : {&a.kex, &a.host_key, &a.enc_c2s, &a.enc_s2c, &a.mac_c2s,
                                  &a.mac_s2c, &a.comp_c2s, &a.comp_s2c}) {
    put32(p, static_cast<uint32_t>(list->size()));
    p.append(*list);
  }
  put32(p, 0);        // languages client to server
  put32(p, 0);        // languages server to client
  p.push_back('\0');  // first_kex_packet_follows
  put32(p, 0);        // reserved
  return packet(p);
}

std::string newkeys() { return packet(std::string(1, '\x15')); }

// The hassh README's examples (github.com/salesforce/hassh): the Cyberduck 6.7.1 client, whose
// published hassh is 8a8ae540028bf433cd68356c1b9e8d5b, and an OpenSSH 5.3 server.
const Algorithms kCyberduck = {
    "curve25519-sha256@libssh.org,diffie-hellman-group-exchange-sha256,ecdh-sha2-nistp521,"
    "ecdh-sha2-nistp384,ecdh-sha2-nistp256,diffie-hellman-group-exchange-sha1,"
    "diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,diffie-hellman-group14-sha256,"
    "diffie-hellman-group15-sha512,diffie-hellman-group16-sha512,diffie-hellman-group17-sha512,"
    "diffie-hellman-group18-sha512,diffie-hellman-group14-sha256@ssh.com,"
    "diffie-hellman-group15-sha256,diffie-hellman-group15-sha256@ssh.com,"
    "diffie-hellman-group15-sha384@ssh.com,diffie-hellman-group16-sha256,"
    "diffie-hellman-group16-sha384@ssh.com,diffie-hellman-group16-sha512@ssh.com,"
    "diffie-hellman-group18-sha512@ssh.com",
    "ssh-rsa",
    "aes128-cbc,aes128-ctr,aes192-cbc,aes192-ctr,aes256-cbc,aes256-ctr,blowfish-cbc,blowfish-ctr,"
    "cast128-cbc,cast128-ctr,idea-cbc,idea-ctr,serpent128-cbc,serpent128-ctr,serpent192-cbc,"
    "serpent192-ctr,serpent256-cbc,serpent256-ctr,3des-cbc,3des-ctr,twofish128-cbc,"
    "twofish128-ctr,twofish192-cbc,twofish192-ctr,twofish256-cbc,twofish256-ctr,twofish-cbc,"
    "arcfour,arcfour128,arcfour256",
    "aes256-ctr",
    "hmac-sha1,hmac-sha1-96,hmac-md5,hmac-md5-96,hmac-sha2-256,hmac-sha2-512",
    "hmac-sha1",
    "zlib@openssh.com,zlib,none",
    "none",
};
const Algorithms kOpenSsh53Server = {
    "diffie-hellman-group-exchange-sha256,diffie-hellman-group-exchange-sha1,"
    "diffie-hellman-group14-sha1,diffie-hellman-group1-sha1",
    "ssh-rsa,ssh-dss",
    "aes128-ctr",
    "aes128-ctr,aes192-ctr,aes256-ctr,arcfour256,arcfour128,aes128-cbc,3des-cbc,blowfish-cbc,"
    "cast128-cbc,aes192-cbc,aes256-cbc,arcfour,rijndael-cbc@lysator.liu.se",
    "hmac-sha1",
    "hmac-md5,hmac-sha1,umac-64@openssh.com,hmac-ripemd160,hmac-ripemd160@openssh.com,"
    "hmac-sha1-96,hmac-md5-96",
    "zlib",
    "none,zlib@openssh.com",
};

// ---- recording observer ----------------------------------------------------------------------

std::string describe(const Endpoint& e) {
  std::ostringstream o;
  o << "banner=[" << e.banner << "] proto=[" << e.proto_version << "] sw=[" << e.software_version
    << "] kex=" << e.kexinit_done << " hassh=[" << e.hassh << "] str=[" << e.hassh_string
    << "] newkeys=" << e.new_keys << " anomalies=" << e.anomalies;
  return o.str();
}

class Recorder : public Observer {
 public:
  void on_ssh(const Session& s, Side side, Event event) override {
    std::ostringstream o;
    o << (side == Side::kClient ? "client " : "server ") << static_cast<int>(event) << " "
      << describe(s.endpoint(side)) << " encrypted=" << s.encrypted;
    log.push_back(o.str());
    events.emplace_back(side, event);
  }
  std::vector<std::string> log;
  std::vector<std::pair<Side, Event>> events;
};

struct Harness {
  explicit Harness(const Limits& limits = {})
      : counters(ssh_counter_group()), parser(limits, recorder, counters) {}
  void feed(Side side, std::string_view data) { parser.parse(side, bytes(data)); }
  uint64_t count(SshCounter c) const { return counters.get(c); }

  Recorder recorder;
  core::Counters<SshCounter> counters;
  Parser parser;
};

// A whole exchange: identification lines (the server's after a line of text), both KEXINITs, and
// both NEWKEYS followed by encrypted bytes.
struct Exchange {
  std::string client = "SSH-2.0-Cyberduck/6.7.1.28683 (Mac OS X/10.13.6) (x86_64)\r\n" +
                       kexinit(kCyberduck) + newkeys() + std::string("\x01\x02\x03\xff\xfe", 5);
  std::string server = "Welcome\r\nSSH-1.99-OpenSSH_5.3 comments here\r\n" +
                       kexinit(kOpenSsh53Server) + newkeys() + std::string(40, '\xee');
};

// Feeds client then server, each cut into the given pieces.
std::vector<std::string> run(const std::vector<std::string_view>& client,
                             const std::vector<std::string_view>& server) {
  Harness h;
  for (std::string_view piece : client) h.feed(Side::kClient, piece);
  for (std::string_view piece : server) h.feed(Side::kServer, piece);
  h.parser.on_end();
  return h.recorder.log;
}

TEST(SshParser, ParsesBannersKexInitsAndNewKeysOfBothSides) {
  Exchange x;
  Harness h;
  h.feed(Side::kClient, x.client);
  h.feed(Side::kServer, x.server);
  const Session& s = h.parser.session();
  EXPECT_EQ(s.client.proto_version, "2.0");
  EXPECT_EQ(s.client.software_version, "Cyberduck/6.7.1.28683");
  EXPECT_EQ(s.client.banner, "SSH-2.0-Cyberduck/6.7.1.28683 (Mac OS X/10.13.6) (x86_64)");
  EXPECT_EQ(s.server.proto_version, "1.99");
  EXPECT_EQ(s.server.software_version, "OpenSSH_5.3");
  EXPECT_TRUE(s.client.new_keys && s.server.new_keys && s.encrypted);
  EXPECT_TRUE(h.parser.done());
  EXPECT_EQ(s.client.anomalies, 0u);
  EXPECT_EQ(s.server.anomalies, 0u);  // lines before the banner are the server's right
  const std::vector<std::pair<Side, Event>> expected = {
      {Side::kClient, Event::kBanner},   {Side::kClient, Event::kKexInit},
      {Side::kClient, Event::kNewKeys},  {Side::kServer, Event::kBanner},
      {Side::kServer, Event::kKexInit},  {Side::kServer, Event::kNewKeys},
      {Side::kServer, Event::kEncrypted}};
  EXPECT_EQ(h.recorder.events, expected);
  EXPECT_EQ(h.count(SshCounter::kBanners), 2u);
  EXPECT_EQ(h.count(SshCounter::kKexInits), 2u);
  EXPECT_EQ(h.count(SshCounter::kNewKeys), 2u);
  EXPECT_EQ(h.count(SshCounter::kEncrypted), 1u);
  EXPECT_EQ(h.count(SshCounter::kPackets), 4u);
}

TEST(SshParser, HasshMatchesThePublishedCyberduckFingerprint) {
  Exchange x;
  Harness h;
  h.feed(Side::kClient, x.client);
  const Endpoint& c = h.parser.session().client;
  EXPECT_EQ(c.hassh, "8a8ae540028bf433cd68356c1b9e8d5b");
  EXPECT_EQ(c.hassh_string, kCyberduck.kex + ";" + kCyberduck.enc_c2s + ";" + kCyberduck.mac_c2s +
                                ";" + kCyberduck.comp_c2s);
}

TEST(SshParser, HasshServerUsesTheServerToClientLists) {
  Exchange x;
  Harness h;
  h.feed(Side::kServer, x.server);
  const Endpoint& s = h.parser.session().server;
  EXPECT_EQ(s.hassh_string, kOpenSsh53Server.kex + ";" + kOpenSsh53Server.enc_s2c + ";" +
                                kOpenSsh53Server.mac_s2c + ";" + kOpenSsh53Server.comp_s2c);
  // MD5 of that string computed with coreutils md5sum (the hassh README's hasshServerAlgorithms).
  EXPECT_EQ(s.hassh, "b1c6c0d56317555b85c7005a3de29325");
}

TEST(SshParser, Md5HexMatchesRfc1321TestSuite) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(md5_hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
}

TEST(SshParser, EverySplitOfBannersAndKexInitsGivesTheSameEvents) {
  Exchange x;
  const std::vector<std::string> whole = run({x.client}, {x.server});
  ASSERT_EQ(whole.size(), 7u);
  for (size_t cut = 0; cut <= x.client.size(); ++cut) {
    const std::string_view c = x.client;
    ASSERT_EQ(run({c.substr(0, cut), c.substr(cut)}, {x.server}), whole) << "client cut " << cut;
  }
  for (size_t cut = 0; cut <= x.server.size(); ++cut) {
    const std::string_view s = x.server;
    ASSERT_EQ(run({x.client}, {s.substr(0, cut), s.substr(cut)}), whole) << "server cut " << cut;
  }
  std::vector<std::string_view> client_bytes, server_bytes;
  for (size_t i = 0; i < x.client.size(); ++i) client_bytes.push_back({x.client.data() + i, 1});
  for (size_t i = 0; i < x.server.size(); ++i) server_bytes.push_back({x.server.data() + i, 1});
  EXPECT_EQ(run(client_bytes, server_bytes), whole);
}

TEST(SshParser, SoftwareVersionStopsAtTheFirstSpaceAndMayBeEmpty) {
  Harness h;
  h.feed(Side::kClient, "SSH-2.0-\r\n");
  h.feed(Side::kServer, "SSH-2.0-dropbear_2016.74 extra words\n");  // a lone LF ends it too
  EXPECT_EQ(h.parser.session().client.software_version, "");
  EXPECT_TRUE(h.parser.session().client.banner_done);
  EXPECT_EQ(h.parser.session().server.software_version, "dropbear_2016.74");
}

TEST(SshParser, ClientLinesBeforeTheBannerAreFlagged) {
  Harness h;
  h.feed(Side::kClient, "hello\r\nSSH-2.0-x\r\n");
  EXPECT_TRUE(h.parser.session().client.banner_done);
  EXPECT_TRUE(h.parser.session().client.anomalies & bit(Anomaly::kLineBeforeBanner));
  EXPECT_EQ(h.count(SshCounter::kAnomalyLineBeforeBanner), 1u);
}

TEST(SshParser, TooManyLinesBeforeTheBannerGiveTheSideUp) {
  Limits limits;
  limits.max_lines_before_banner = 3;
  Harness h(limits);
  h.feed(Side::kServer, "a\r\nb\r\nc\r\nd\r\nSSH-2.0-late\r\n");
  EXPECT_FALSE(h.parser.session().server.banner_done);
  EXPECT_EQ(h.count(SshCounter::kAnomalyTooManyLines), 1u);
}

TEST(SshParser, OverlongBannerIsKeptTruncatedAndFlagged) {
  Harness h;
  const std::string line = "SSH-2.0-" + std::string(300, 'A');
  h.feed(Side::kClient, line + "\r\n");
  const Endpoint& c = h.parser.session().client;
  EXPECT_TRUE(c.banner_done);
  EXPECT_EQ(c.banner, line.substr(0, 255));
  EXPECT_TRUE(c.anomalies & bit(Anomaly::kBannerTooLong));
  EXPECT_EQ(h.count(SshCounter::kAnomalyBannerTooLong), 1u);
}

TEST(SshParser, BannerOfExactly255BytesWithCrLfIsWithinTheLimit) {
  Harness h;
  const std::string line = "SSH-2.0-" + std::string(255 - 2 - 8, 'B');
  h.feed(Side::kClient, line + "\r\n");
  EXPECT_EQ(h.parser.session().client.banner, line);
  EXPECT_EQ(h.parser.session().client.anomalies, 0u);
  Harness longer;
  longer.feed(Side::kClient, line + "B\r\n");
  EXPECT_TRUE(longer.parser.session().client.anomalies & bit(Anomaly::kBannerTooLong));
}

TEST(SshParser, BannerWithoutSoftwareDashIsInvalid) {
  Harness h;
  h.feed(Side::kClient, "SSH-2.0\r\n");
  h.feed(Side::kServer, "SSH--x\r\n");
  EXPECT_FALSE(h.parser.session().client.banner_done);
  EXPECT_FALSE(h.parser.session().server.banner_done);
  EXPECT_EQ(h.count(SshCounter::kAnomalyInvalidBanner), 2u);
}

TEST(SshParser, Protocol1IsIdentifiedButItsPacketsAreNotParsed) {
  Harness h;
  h.feed(Side::kClient, "SSH-1.5-old\r\n" + std::string(64, '\x07'));
  EXPECT_EQ(h.parser.session().client.proto_version, "1.5");
  EXPECT_EQ(h.count(SshCounter::kProtocol1), 1u);
  EXPECT_EQ(h.count(SshCounter::kPackets), 0u);
}

TEST(SshParser, ImpossiblePacketLengthGivesTheSideUp) {
  for (const std::string& header :
       {std::string("\x00\x00\x00\x01\x00\x14", 6), std::string("\x7f\xff\xff\xff\x04\x14", 6),
        std::string("\x00\x00\x00\x08\x07\x14", 6)}) {
    Harness h;
    h.feed(Side::kClient, "SSH-2.0-x\r\n" + header + kexinit(kCyberduck));
    EXPECT_EQ(h.count(SshCounter::kAnomalyInvalidPacketLength), 1u);
    EXPECT_FALSE(h.parser.session().client.kexinit_done);
  }
}

TEST(SshParser, KexInitOverTheLimitIsSkippedAndNewKeysStillSeen) {
  Limits limits;
  limits.max_kexinit_length = 100;
  Harness h(limits);
  h.feed(Side::kClient, "SSH-2.0-x\r\n" + kexinit(kCyberduck) + newkeys());
  const Endpoint& c = h.parser.session().client;
  EXPECT_FALSE(c.kexinit_done);
  EXPECT_TRUE(c.hassh.empty());
  EXPECT_TRUE(c.new_keys);
  EXPECT_EQ(h.count(SshCounter::kAnomalyKexInitTooLong), 1u);
}

TEST(SshParser, KexInitWhoseListsOverrunThePacketIsInvalid) {
  std::string payload(1, '\x14');
  payload.append(16, 'c');
  put32(payload, 1000);  // a name-list longer than what follows
  payload.append("abc");
  Harness h;
  h.feed(Side::kClient, "SSH-2.0-x\r\n" + packet(payload) + newkeys());
  EXPECT_TRUE(h.parser.session().client.anomalies & bit(Anomaly::kInvalidKexInit));
  EXPECT_TRUE(h.parser.session().client.hassh.empty());
  EXPECT_TRUE(h.parser.session().client.new_keys);  // packet framing was intact
}

TEST(SshParser, OnlyTheFirstKexInitIsHashed) {
  Algorithms other = kCyberduck;
  other.kex = "other";
  Harness h;
  h.feed(Side::kClient, "SSH-2.0-x\r\n" + kexinit(kCyberduck) + kexinit(other));
  EXPECT_EQ(h.parser.session().client.hassh, "8a8ae540028bf433cd68356c1b9e8d5b");
  EXPECT_EQ(h.count(SshCounter::kKexInits), 1u);
}

TEST(SshParser, EncryptedOnlyWhenBothSidesSentNewKeys) {
  Harness h;
  h.feed(Side::kClient, "SSH-2.0-x\r\n" + kexinit(kCyberduck) + newkeys());
  EXPECT_FALSE(h.parser.session().encrypted);
  EXPECT_FALSE(h.parser.done());
  h.feed(Side::kServer, "SSH-2.0-y\r\n" + newkeys() + std::string(1000, '\xab'));
  EXPECT_TRUE(h.parser.session().encrypted);
  EXPECT_TRUE(h.parser.done());
  EXPECT_EQ(h.count(SshCounter::kPackets), 3u);  // nothing parsed after NEWKEYS
}

TEST(SshParser, GapGivesTheSideUp) {
  Harness h;
  h.feed(Side::kClient, "SSH-2.0-x\r\n");
  h.parser.on_gap(Side::kClient);
  h.feed(Side::kClient, kexinit(kCyberduck));
  EXPECT_FALSE(h.parser.session().client.kexinit_done);
  EXPECT_TRUE(h.parser.session().client.anomalies & bit(Anomaly::kGap));
  EXPECT_EQ(h.count(SshCounter::kGaps), 1u);
  h.parser.on_gap(Side::kClient);  // a given-up side counts no more gaps
  EXPECT_EQ(h.count(SshCounter::kGaps), 1u);
}

TEST(SshParser, FlowEndInsideAPacketIsTruncated) {
  Harness h;
  const std::string k = kexinit(kCyberduck);
  h.feed(Side::kClient, "SSH-2.0-x\r\n" + k.substr(0, k.size() / 2));
  h.feed(Side::kServer, "SSH-2.0-y\r\n");
  h.parser.on_end();
  EXPECT_TRUE(h.parser.session().client.anomalies & bit(Anomaly::kTruncated));
  EXPECT_FALSE(h.parser.session().server.anomalies & bit(Anomaly::kTruncated));
  EXPECT_LE(h.parser.memory_bytes(), sizeof(Parser) + 512);
}

TEST(SshParser, GarbageIsBoundedAndNeverCrashes) {
  Harness h;
  std::string garbage;
  uint32_t x = 12345;
  for (int i = 0; i < 200000; ++i) {
    x = x * 1103515245 + 12345;
    garbage.push_back(static_cast<char>(x >> 16));
  }
  h.feed(Side::kClient, garbage);
  h.feed(Side::kServer, "SSH-2.0-x\r\n" + garbage);
  EXPECT_LE(h.parser.memory_bytes(), sizeof(Parser) + 2 * 255 + 64 * 1024 + 1024);
  h.parser.on_end();
}

TEST(SshProbe, RecognisesTheIdentificationPrefix) {
  EXPECT_EQ(probe_ssh(bytes("SSH-2.0-OpenSSH")).probe, Probe::kYes);
  EXPECT_FALSE(probe_ssh(bytes("SSH-2.0-OpenSSH")).side.has_value());
  EXPECT_EQ(probe_ssh(bytes("SSH")).probe, Probe::kNeedMore);
  EXPECT_EQ(probe_ssh(bytes("")).probe, Probe::kNeedMore);
  EXPECT_EQ(probe_ssh(bytes("SSX-")).probe, Probe::kNo);
  EXPECT_EQ(probe_ssh(bytes("GET / HTTP/1.1")).probe, Probe::kNo);
}

TEST(SshCounters, OneNamePerCounter) {
  const core::CounterGroup& g = ssh_counter_group();
  EXPECT_EQ(g.module, "ssh");
  EXPECT_EQ(g.defs.size(), static_cast<size_t>(SshCounter::kCount));
  EXPECT_EQ(anomaly_name(Anomaly::kInvalidKexInit), "invalid_kexinit");
}

}  // namespace
}  // namespace spanguard::applayer::ssh
