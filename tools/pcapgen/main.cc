// spanguard-pcapgen: writes deterministic capture files for the demo, the tests and the benchmarks.
// The same arguments always give byte-identical output (a fixed-seed std::mt19937_64 whose raw
// outputs are used directly; standard distributions differ between library implementations).
//
//   --profile sample   the bundled demo capture: a few HTTP sessions (IPv4, 802.1Q-tagged,
//                      IPv6), one request split mid-pattern across TCP segments, requests the
//                      bundled rules flag (path traversal, sqlmap User-Agent, cmd.exe in a POST
//                      body), a DNS exchange and an ICMP echo pair. Hosts are in 198.51.100.0/24
//                      and 2001:db8::/32 only.
//   --profile http     N complete HTTP/1.1 sessions with varied requests and responses, a few
//                      in flight at a time, for throughput benchmarks (50,000 sessions make
//                      ~250 MB).
//   --profile mix      N sessions of a mirror port's usual mix, interleaved, mostly TLS by bytes:
//                      per 100, 55 TLS 1.2/1.3, 20 HTTP, 15 DNS over UDP, 2 over TCP, 3 SSH, 2 FTP
//                      (passive and active mode, with their data connections) and 3 SMTP.
#include <openssl/rand.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cstdio>
#include <deque>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "capture_writer.h"
#include "dns_messages.h"
#include "frame_builder.h"
#include "tcp_conversation.h"
#include "tls_messages.h"

namespace {

using spanguard::testing::Bytes;
using spanguard::testing::CaptureWriter;
using spanguard::testing::FrameBuilder;
using spanguard::testing::Mac;
using spanguard::testing::TcpConversation;
using spanguard::testing::TcpEndpoint;

constexpr int64_t kStartNs = 1'700'000'000'000'000'000;  // 2023-11-14T22:13:20Z

Mac host_mac(int host) { return {0x02, 0x00, 0x5e, 0x00, 0x00, static_cast<uint8_t>(host)}; }

struct Output {
  CaptureWriter& writer;
  int64_t now = kStartNs;
  void frames(const std::vector<Bytes>& list, int64_t gap_ns = 40'000) {
    for (const Bytes& f : list) {
      writer.write(f, now);
      now += gap_ns;
    }
  }
};

std::string http_response(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Not Found") +
         "\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

void http_session(Output& out, TcpEndpoint client, TcpEndpoint server, const std::string& request,
                  const std::string& response, size_t mss = 1448,
                  std::vector<uint16_t> vlans = {}) {
  TcpConversation c(std::move(client), std::move(server),
                    0x1000 + static_cast<uint32_t>(out.now % 9973), 0x7000);
  c.set_mss(mss);
  c.set_vlans(std::move(vlans));
  out.frames(c.handshake());
  out.frames(c.client_sends(request));
  c.set_mss(1448);
  out.frames(c.server_sends(response));
  out.frames(c.close());
}

TcpEndpoint v4(int host, uint16_t port) {
  return {"198.51.100." + std::to_string(host), port, host_mac(host)};
}

void write_sample(CaptureWriter& writer) {
  Output out{writer};
  const std::string page = "<html><body><h1>It works</h1></body></html>\n";
  http_session(out, v4(10, 40001), v4(20, 80),
               "GET /index.html HTTP/1.1\r\nHost: www.example.test\r\nUser-Agent: Mozilla/5.0\r\n"
               "Accept: */*\r\n\r\n",
               http_response(200, page));
  // Path traversal, split into 24-byte segments so "/etc/passwd" straddles two of them.
  http_session(out, v4(11, 40002), v4(20, 80),
               "GET /cgi-bin/../../etc/passwd HTTP/1.1\r\nHost: www.example.test\r\n"
               "User-Agent: curl/8.4.0\r\n\r\n",
               http_response(404, "not found\n"), 24);
  http_session(
      out, v4(12, 40003), v4(20, 80),
      "GET /products.php?id=1%27%20OR%20%271%27=%271 HTTP/1.1\r\nHost: shop.example.test\r\n"
      "User-Agent: sqlmap/1.7#stable (https://sqlmap.org)\r\n\r\n",
      http_response(200, page));
  const std::string body = "action=run&command=cmd.exe /c whoami";
  http_session(
      out, v4(13, 40004), v4(20, 80),
      "POST /upload.php HTTP/1.1\r\nHost: www.example.test\r\nUser-Agent: python-requests/2.31"
      "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body,
      http_response(200, "ok\n"));
  http_session(out, v4(14, 40005), v4(21, 8080),
               "GET /status HTTP/1.1\r\nHost: intranet.example.test\r\n\r\n",
               http_response(200, "all good\n"), 1448, {100});
  http_session(out, {"2001:db8::10", 40006, host_mac(30)}, {"2001:db8::20", 80, host_mac(31)},
               "GET / HTTP/1.1\r\nHost: v6.example.test\r\nUser-Agent: Mozilla/5.0\r\n\r\n",
               http_response(200, page));
  // DNS query and answer for www.example.test (A record).
  const Bytes query = spanguard::testing::hex(
      "1234 0100 0001 0000 0000 0000 03 777777 07 6578616d706c65 04 74657374 00 0001 0001");
  Bytes answer = query;
  answer[2] = 0x81;
  answer[3] = 0x80;
  answer[7] = 1;
  const Bytes rr = spanguard::testing::hex("c00c 0001 0001 0000012c 0004 c6336414");
  answer.insert(answer.end(), rr.begin(), rr.end());
  out.frames({FrameBuilder()
                  .ethernet(host_mac(10), host_mac(53))
                  .ipv4("198.51.100.10", "198.51.100.53")
                  .udp(53000, 53)
                  .payload(query)
                  .build(),
              FrameBuilder()
                  .ethernet(host_mac(53), host_mac(10))
                  .ipv4("198.51.100.53", "198.51.100.10")
                  .udp(53, 53000)
                  .payload(answer)
                  .build()});
  // ICMP echo request and reply.
  out.frames({FrameBuilder()
                  .ethernet(host_mac(10), host_mac(20))
                  .ipv4("198.51.100.10", "198.51.100.20")
                  .icmp(8, 0, 0x00010001)
                  .payload("spanguard ping")
                  .build(),
              FrameBuilder()
                  .ethernet(host_mac(20), host_mac(10))
                  .ipv4("198.51.100.20", "198.51.100.10")
                  .icmp(0, 0, 0x00010001)
                  .payload("spanguard ping")
                  .build()});
}

// Deterministic choices from raw generator outputs.
class Dice {
 public:
  explicit Dice(uint64_t seed) : rng_(seed) {}
  uint64_t next() { return rng_(); }
  uint64_t below(uint64_t n) { return rng_() % n; }
  uint64_t between(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }  // inclusive
  Bytes bytes(size_t n) {
    Bytes out(n);
    for (size_t i = 0; i < n; i += 8) {
      const uint64_t r = rng_();
      for (size_t k = 0; k < 8 && i + k < n; ++k) out[i + k] = static_cast<uint8_t>(r >> (8 * k));
    }
    return out;
  }
  template <typename T, size_t N>
  const T& pick(const T (&items)[N]) {
    return items[below(N)];
  }

 private:
  std::mt19937_64 rng_;
};

// One HTTP/1.1 session (handshake, a request with its 200 response, FIN close) with varied
// method, path, agent and body words.
std::deque<Bytes> http_exchange(Dice& dice, TcpEndpoint client, TcpEndpoint server,
                                size_t response_bytes) {
  static const char* const kMethods[] = {"GET", "GET", "GET", "POST", "HEAD"};
  static const char* const kPaths[] = {"/",
                                       "/index.html",
                                       "/api/v1/items",
                                       "/search",
                                       "/login",
                                       "/static/app.js",
                                       "/images/logo.png",
                                       "/account/settings",
                                       "/products/view",
                                       "/news/2024/04/21/story.html"};
  static const char* const kAgents[] = {
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/123.0 Safari/537.36",
      "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0", "curl/8.4.0",
      "python-requests/2.31.0", "okhttp/4.12.0"};
  static const char* const kHosts[] = {"www.example.test", "api.example.test", "cdn.example.test",
                                       "shop.example.test"};
  static const char* const kWords[] = {"lorem", "ipsum",  "dolor",      "sit", "amet",
                                       "data",  "value",  "table",      "row", "item",
                                       "<div>", "</div>", "class=\"x\""};
  TcpConversation c(std::move(client), std::move(server),
                    static_cast<uint32_t>(dice.below(1u << 31)),
                    static_cast<uint32_t>(dice.below(1u << 31)));
  std::string request = std::string(dice.pick(kMethods)) + " " + dice.pick(kPaths) +
                        "?id=" + std::to_string(dice.below(1000000)) +
                        " HTTP/1.1\r\nHost: " + dice.pick(kHosts) +
                        "\r\nUser-Agent: " + dice.pick(kAgents) +
                        "\r\nAccept: text/html,application/json;q=0.9,*/*;q=0.8\r\n"
                        "Accept-Language: en-US,en;q=0.5\r\nCookie: session=" +
                        std::to_string(dice.below(1ull << 40)) + "\r\n\r\n";
  std::string body;
  while (body.size() < response_bytes) {
    body += dice.pick(kWords);
    body += ' ';
  }
  body.resize(response_bytes);
  std::deque<Bytes> frames;
  for (auto& f : c.handshake()) frames.push_back(std::move(f));
  for (auto& f : c.client_sends(request)) frames.push_back(std::move(f));
  for (auto& f : c.server_sends(http_response(200, body))) frames.push_back(std::move(f));
  for (auto& f : c.close()) frames.push_back(std::move(f));
  return frames;
}

void write_http(CaptureWriter& writer, uint64_t sessions, uint64_t seed, size_t response_bytes) {
  Dice dice(seed);
  CaptureWriter* w = &writer;
  Output out{*w};
  // A few sessions in flight: their frames interleave on the wire as on a real mirror port.
  constexpr size_t kInFlight = 8;
  std::deque<std::deque<Bytes>> active;
  uint64_t started = 0;
  auto start_session = [&] {
    const uint64_t i = started++;
    const int client = 10 + static_cast<int>(i % 200);
    const int server = 220 + static_cast<int>(dice.below(30));
    const auto port = static_cast<uint16_t>(1024 + (i / 200) % 60000);
    active.push_back(http_exchange(dice, v4(client, port), v4(server, 80), response_bytes));
  };
  while (started < sessions || !active.empty()) {
    while (active.size() < kInFlight && started < sessions) start_session();
    const size_t pick = dice.below(active.size());
    auto& frames = active[pick];
    writer.write(frames.front(), out.now);
    out.now += 2'000;
    frames.pop_front();
    if (frames.empty()) active.erase(active.begin() + static_cast<long>(pick));
  }
}

// ---- mix profile -------------------------------------------------------------------------------

namespace tls = spanguard::testing::tls;
using spanguard::testing::append;
using spanguard::testing::DnsMessageBuilder;
using spanguard::testing::put_u16;
using spanguard::testing::put_u32;
using Frames = std::deque<Bytes>;

std::string_view text_of(const Bytes& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

void add(Frames& to, std::vector<Bytes> from) {
  for (Bytes& f : from) to.push_back(std::move(f));
}

// OpenSSL draws key pairs and ECDSA nonces through its RAND_METHOD. While the certificate chain is
// made, a generator seeded from --seed stands in for it, so that the chain (and so the capture) is
// the same on every run. RAND_METHOD is deprecated in OpenSSL 3 but still honoured by
// RAND_bytes_ex / RAND_priv_bytes_ex, which key generation and signing use.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
class SeededOpenSslRandom {
 public:
  explicit SeededOpenSslRandom(uint64_t seed) {
    engine() = std::mt19937_64(seed);
    if (RAND_set_rand_method(&kMethod) != 1) throw std::runtime_error("RAND_set_rand_method");
  }
  ~SeededOpenSslRandom() { RAND_set_rand_method(RAND_OpenSSL()); }
  SeededOpenSslRandom(const SeededOpenSslRandom&) = delete;
  SeededOpenSslRandom& operator=(const SeededOpenSslRandom&) = delete;

 private:
  static std::mt19937_64& engine() {
    static std::mt19937_64 e;
    return e;
  }
  static int fill(unsigned char* buf, int num) {
    for (int i = 0; i < num; ++i) buf[i] = static_cast<unsigned char>(engine()());
    return 1;
  }
  static int seed_ignored(const void*, int) { return 1; }
  static int add_ignored(const void*, int, double) { return 1; }
  static int ready() { return 1; }
  static constexpr RAND_METHOD kMethod = {seed_ignored, fill, nullptr, add_ignored, fill, ready};
};
#pragma GCC diagnostic pop

// A 2-certificate chain (leaf, issuing CA) for every TLS 1.2 server, made once: EC P-256 keys and
// ECDSA signatures, as a CDN's chain would be. The root CA's certificate is not sent.
std::vector<Bytes> make_chain(uint64_t seed) {
  SeededOpenSslRandom random(seed);
  const tls::KeyPair root_key, ca_key, leaf_key;
  const tls::DistinguishedName root = {
      {"C", "US"}, {"O", "Example Trust Services"}, {"CN", "Example Root CA X1"}};
  const tls::DistinguishedName ca = {
      {"C", "US"}, {"O", "Example Trust Services"}, {"CN", "Example TLS Issuing CA R3"}};
  const tls::DistinguishedName leaf = {{"C", "US"},
                                       {"ST", "California"},
                                       {"L", "San Francisco"},
                                       {"O", "Example Edge Networks, Inc."},
                                       {"CN", "*.example.com"}};
  Dice dice(seed);
  const Bytes ca_der = tls::make_certificate({.subject = ca,
                                              .issuer = root,
                                              .serial = dice.bytes(16),
                                              .not_before = 1600000000,
                                              .not_after = 1900000000},
                                             ca_key, root_key);
  const Bytes leaf_der = tls::make_certificate({.subject = leaf,
                                                .issuer = ca,
                                                .serial = dice.bytes(16),
                                                .not_before = 1695000000,
                                                .not_after = 1727000000},
                                               leaf_key, ca_key);
  return {leaf_der, ca_der};
}

// SNI names (RFC 2606 domains); the server of kTlsHosts[i] is 198.51.100.(kTlsServerBase + i), and
// DNS answers say so.
constexpr const char* kTlsHosts[] = {
    "www.example.com",    "api.example.com",    "login.example.com",     "cdn.example.net",
    "static.example.net", "img.example.net",    "mail.example.org",      "calendar.example.org",
    "docs.example.org",   "update.example.com", "telemetry.example.com", "auth.example.net",
    "video.example.net",  "news.example.org",   "shop.example.com",      "pay.example.com",
    "chat.example.org",   "files.example.net",  "ads.example.com",       "metrics.example.org"};
constexpr int kTlsServerBase = 160;   // .160-.179
constexpr int kHttpServerBase = 200;  // .200-.219
constexpr int kSshServerBase = 230;   // .230-.233
constexpr int kFtpServerBase = 240;   // .240-.241
constexpr int kSmtpServerBase = 250;  // .250-.251
constexpr int kResolverBase = 2;      // .2-.3
constexpr int kClientBase = 10;       // .10-.159
constexpr int kClients = 150;

enum class MixKind : uint8_t { kTls13, kTls12, kHttp, kDnsUdp, kDnsTcp, kSsh, kFtp, kSmtp, kCount };
struct MixShare {
  MixKind kind;
  const char* name;
  int per_100;
};
constexpr MixShare kMixShares[] = {
    {MixKind::kTls13, "tls1.3", 33},  {MixKind::kTls12, "tls1.2", 22},
    {MixKind::kHttp, "http", 20},     {MixKind::kDnsUdp, "dns/udp", 15},
    {MixKind::kDnsTcp, "dns/tcp", 2}, {MixKind::kSsh, "ssh", 3},
    {MixKind::kFtp, "ftp", 2},        {MixKind::kSmtp, "smtp", 3}};
static_assert(std::size(kMixShares) == static_cast<size_t>(MixKind::kCount));

std::string base64(const Bytes& in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    const uint32_t n = uint32_t{in[i]} << 16 | (i + 1 < in.size() ? uint32_t{in[i + 1]} << 8 : 0) |
                       (i + 2 < in.size() ? in[i + 2] : 0);
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += i + 1 < in.size() ? kAlphabet[n >> 6 & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

// Builds each kind of session as its frames in wire order; the caller interleaves sessions.
class MixSessions {
 public:
  MixSessions(uint64_t seed, std::vector<Bytes> chain) : dice_(seed), chain_(std::move(chain)) {
    for (uint16_t& p : next_port_) p = static_cast<uint16_t>(dice_.between(32768, 60999));
  }
  Dice& dice() { return dice_; }

  Frames build(MixKind kind) {
    switch (kind) {
      case MixKind::kTls13:
        return tls_session(true);
      case MixKind::kTls12:
        return tls_session(false);
      case MixKind::kHttp: {
        const int server = kHttpServerBase + static_cast<int>(dice_.below(20));
        return http_exchange(dice_, client(), v4(server, 80), dice_.between(512, 16384));
      }
      case MixKind::kDnsUdp:
        return dns_udp();
      case MixKind::kDnsTcp:
        return dns_tcp();
      case MixKind::kSsh:
        return ssh_session();
      case MixKind::kFtp:
        return ftp_session(ftp_sessions_++ % 2 == 1);
      case MixKind::kSmtp:
        return smtp_session();
      case MixKind::kCount:
        break;
    }
    return {};
  }

 private:
  // A client host and its next ephemeral port (Linux's default range, 32768-60999).
  TcpEndpoint client() {
    const int host = static_cast<int>(dice_.below(kClients));
    return v4(kClientBase + host, ephemeral(host));
  }
  uint16_t ephemeral(int host) {
    uint16_t& p = next_port_[static_cast<size_t>(host)];
    p = p >= 60999 ? 32768 : static_cast<uint16_t>(p + 1);
    return p;
  }
  TcpConversation conversation(TcpEndpoint c, TcpEndpoint s) {
    return TcpConversation(std::move(c), std::move(s), static_cast<uint32_t>(dice_.next()),
                           static_cast<uint32_t>(dice_.next()));
  }

  // ---- TLS ----

  // Records of `plain` application bytes (at most 2^14 per record) as AEAD ciphertext: TLS 1.3
  // adds the inner content type and a 16-byte tag (RFC 8446 §5.2), TLS 1.2 AES-GCM an 8-byte
  // explicit nonce and the tag (RFC 5288 §3).
  Bytes app_records(size_t plain, bool tls13) {
    Bytes out;
    while (plain > 0) {
      const size_t n = std::min<size_t>(plain, 16384);
      append(out,
             tls::record(tls::kApplicationData, tls::kTls12, dice_.bytes(n + (tls13 ? 17 : 24))));
      plain -= n;
    }
    return out;
  }

  tls::ClientHelloSpec legacy_client_hello(std::string_view host) {
    // A TLS 1.2-only client (OpenSSL 1.1.1 without 1.3, as old agents and libraries send it).
    tls::ClientHelloSpec spec;
    spec.ciphers = {0xc02c, 0xc02b, 0xc030, 0xc02f, 0xcca9, 0xcca8, 0xc024, 0xc023, 0xc028,
                    0xc027, 0x009d, 0x009c, 0x003d, 0x003c, 0x0035, 0x002f, 0x00ff};
    spec.extensions = {tls::server_name(host),
                       tls::ec_point_formats({0, 1, 2}),
                       tls::supported_groups({0x001d, 0x0017, 0x001e, 0x0019, 0x0018}),
                       tls::raw_extension(0x0023),  // session_ticket
                       tls::raw_extension(0x0016),  // encrypt_then_mac
                       tls::raw_extension(0x0017),  // extended_master_secret
                       tls::signature_algorithms({0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804,
                                                  0x0805, 0x0806, 0x0401, 0x0501, 0x0601}),
                       tls::alpn({"http/1.1"})};
    return spec;
  }

  Frames tls_session(bool tls13) {
    const auto host = static_cast<size_t>(dice_.below(std::size(kTlsHosts)));
    TcpConversation c = conversation(client(), v4(kTlsServerBase + static_cast<int>(host), 443));
    const bool browser = tls13 || dice_.below(2) == 0;
    tls::ClientHelloSpec hello =
        browser ? tls::browser_client_hello(kTlsHosts[host]) : legacy_client_hello(kTlsHosts[host]);
    hello.random = dice_.bytes(32);
    if (browser) hello.session_id = dice_.bytes(32);
    Frames f;
    add(f, c.handshake());
    add(f,
        c.client_sends(text_of(tls::handshake_records({tls::client_hello(hello)}, tls::kTls10))));
    tls::ServerHelloSpec server{.random = dice_.bytes(32), .session_id = hello.session_id};
    if (tls13) {
      // RFC 8446: the server's key share, then (middlebox compatibility, §D.4) a CCS, then
      // EncryptedExtensions..Finished as opaque application data records.
      server.cipher = dice_.below(3) == 0 ? 0x1302 : 0x1301;
      Bytes share = {0x00, 0x1d, 0x00, 0x20};  // x25519, 32 bytes
      append(share, dice_.bytes(32));
      server.extensions = {tls::server_supported_versions(tls::kTls13),
                           tls::raw_extension(0x0033, share)};
      add(f, c.server_sends(text_of(tls::concat(
                 {tls::handshake_records({tls::server_hello(server)}), tls::change_cipher_spec(),
                  app_records(dice_.between(2200, 4200), true)}))));
      add(f,
          c.client_sends(text_of(tls::concat({tls::change_cipher_spec(), app_records(36, true)}))));
      add(f, c.server_sends(text_of(app_records(dice_.between(180, 260), true))));  // tickets
    } else {
      server.session_id = dice_.bytes(32);
      server.cipher = browser ? 0xc02b : 0xc02c;  // ECDHE-ECDSA with AES-GCM: the chain is EC
      server.extensions = {tls::raw_extension(0xff01, {0x00}), tls::raw_extension(0x0017),
                           tls::ec_point_formats({0}), tls::raw_extension(0x0023),
                           tls::alpn({browser ? "h2" : "http/1.1"})};
      // ServerKeyExchange (RFC 8422 §5.4): named_curve x25519, its point, an ECDSA signature.
      Bytes ske = {0x03, 0x00, 0x1d, 0x20};
      append(ske, dice_.bytes(32));
      put_u16(ske, 0x0403);
      put_u16(ske, 71);
      append(ske, dice_.bytes(71));
      add(f, c.server_sends(text_of(tls::handshake_records(
                 {tls::server_hello(server), tls::certificate_message(chain_),
                  tls::handshake_message(tls::kServerKeyExchangeType, ske),
                  tls::server_hello_done()}))));
      // Finished is sent encrypted: explicit nonce, 16 bytes of verify_data record, tag.
      add(f, c.client_sends(text_of(tls::concat(
                 {tls::handshake_records({tls::client_key_exchange(33)}), tls::change_cipher_spec(),
                  tls::record(tls::kHandshake, tls::kTls12, dice_.bytes(40))}))));
      Bytes ticket;
      put_u32(ticket, 7200);  // lifetime hint (RFC 5077 §3.3)
      put_u16(ticket, 192);
      append(ticket, dice_.bytes(192));
      add(f,
          c.server_sends(text_of(tls::concat(
              {tls::handshake_records({tls::handshake_message(tls::kNewSessionTicketType, ticket)}),
               tls::change_cipher_spec(),
               tls::record(tls::kHandshake, tls::kTls12, dice_.bytes(40))}))));
    }
    // 4-64 KiB of application data: a few requests, each answered by a larger response.
    size_t left = dice_.between(4096, 65536);
    const auto rounds = static_cast<size_t>(dice_.between(1, 4));
    for (size_t r = 0; r < rounds && left > 0; ++r) {
      const size_t up = std::min<size_t>(left, dice_.between(120, 1400));
      left -= up;
      add(f, c.client_sends(text_of(app_records(up, tls13))));
      const size_t down = r + 1 == rounds ? left : left / (rounds - r);
      left -= down;
      if (down > 0) add(f, c.server_sends(text_of(app_records(down, tls13))));
    }
    // close_notify, encrypted (an application data record in TLS 1.3).
    add(f, c.client_sends(
               text_of(tls13 ? tls::record(tls::kApplicationData, tls::kTls12, dice_.bytes(19))
                             : tls::record(tls::kAlert, tls::kTls12, dice_.bytes(26)))));
    add(f, c.close());
    return f;
  }

  // ---- DNS ----

  // A lookup of one of the TLS names (A, or AAAA), sometimes through a CNAME, rarely NXDOMAIN.
  std::pair<Bytes, Bytes> dns_lookup() {
    const auto id = static_cast<uint16_t>(dice_.next());
    const auto host = static_cast<size_t>(dice_.below(std::size(kTlsHosts)));
    const bool aaaa = dice_.below(4) == 0;
    const uint16_t type =
        aaaa ? spanguard::testing::dns_type::kAaaa : spanguard::testing::dns_type::kA;
    const std::string name =
        dice_.below(20) == 0 ? std::string("wwww.example.com") : kTlsHosts[host];
    const Bytes query = DnsMessageBuilder(id)
                            .question(name, type)
                            .additional(spanguard::testing::rr_opt(1232))
                            .build();
    DnsMessageBuilder answer(id, spanguard::testing::response_flags());
    answer.question(name, type).compress();
    if (name == "wwww.example.com") {
      answer
          .flags(spanguard::testing::response_flags(3))  // NXDOMAIN (RFC 1035 §4.1.1)
          .authority(spanguard::testing::rr_soa(
              "example.com",
              {.mname = "ns1.example.com", .rname = "hostmaster.example.com", .serial = 2023111401},
              900));
    } else {
      std::string owner = name;
      if (dice_.below(3) == 0) {
        const std::string edge = "edge-" + std::to_string(dice_.below(64)) + ".cdn.example.net";
        answer.answer(spanguard::testing::rr_cname(owner, edge, 3600));
        owner = edge;
      }
      const int server = kTlsServerBase + static_cast<int>(host);
      const auto ttl = static_cast<uint32_t>(dice_.between(30, 600));
      answer.answer(
          aaaa ? spanguard::testing::rr_aaaa(owner, "2001:db8:1::" + std::to_string(server), ttl)
               : spanguard::testing::rr_a(owner, "198.51.100." + std::to_string(server), ttl));
    }
    answer.additional(spanguard::testing::rr_opt(1232));
    return {query, answer.build()};
  }

  Frames dns_udp() {
    const int host = static_cast<int>(dice_.below(kClients));
    const int client = kClientBase + host;
    const int resolver = kResolverBase + static_cast<int>(dice_.below(2));
    const uint16_t port = ephemeral(host);
    const auto [query, answer] = dns_lookup();
    auto datagram = [&](int from, int to, uint16_t sport, uint16_t dport, const Bytes& payload) {
      return FrameBuilder()
          .ethernet(host_mac(from), host_mac(to))
          .ipv4("198.51.100." + std::to_string(from), "198.51.100." + std::to_string(to),
                {.id = static_cast<uint16_t>(dice_.next()), .dont_fragment = false})
          .udp(sport, dport)
          .payload(payload)
          .build();
    };
    Frames f;
    f.push_back(datagram(client, resolver, port, 53, query));
    f.push_back(datagram(resolver, client, 53, port, answer));
    return f;
  }

  // Over TCP (RFC 1035 §4.2.2, RFC 7766): a TXT lookup whose answer is too long for 512 bytes.
  Frames dns_tcp() {
    const auto id = static_cast<uint16_t>(dice_.next());
    static const char* const kZones[] = {"example.com", "example.net", "example.org"};
    const std::string zone = dice_.pick(kZones);
    const Bytes query = spanguard::testing::dns_query(id, zone, spanguard::testing::dns_type::kTxt);
    DnsMessageBuilder answer(id, spanguard::testing::response_flags());
    answer.question(zone, spanguard::testing::dns_type::kTxt).compress();
    answer.answer(spanguard::testing::rr_txt(
        zone, {"v=spf1 ip4:198.51.100.0/24 ip6:2001:db8::/32 include:_spf.example.net ~all"}));
    for (int i = 0; i < 8; ++i) {
      std::string token;
      for (const uint8_t b : dice_.bytes(24)) token += "0123456789abcdef"[b & 15];
      answer.answer(spanguard::testing::rr_txt(zone, {"site-verification=" + token + token}));
    }
    TcpConversation c =
        conversation(client(), v4(kResolverBase + static_cast<int>(dice_.below(2)), 53));
    Frames f;
    add(f, c.handshake());
    add(f, c.client_sends(text_of(spanguard::testing::tcp_frame(query))));
    add(f, c.server_sends(text_of(spanguard::testing::tcp_frame(answer.build()))));
    add(f, c.close());
    return f;
  }

  // ---- SSH ----

  // RFC 4253 §6: uint32 packet_length, byte padding_length, payload, random padding; the whole a
  // multiple of 8 (the clear-text block size) with at least 4 bytes of padding.
  Bytes ssh_packet(const Bytes& payload) {
    size_t padding = 8 - (5 + payload.size()) % 8;
    if (padding < 4) padding += 8;
    Bytes p;
    put_u32(p, static_cast<uint32_t>(1 + payload.size() + padding));
    p.push_back(static_cast<uint8_t>(padding));
    append(p, payload);
    append(p, dice_.bytes(padding));
    return p;
  }
  static void put_string(Bytes& out, std::string_view s) {
    put_u32(out, static_cast<uint32_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  }
  static void put_string(Bytes& out, const Bytes& b) {
    put_u32(out, static_cast<uint32_t>(b.size()));
    append(out, b);
  }
  // SSH_MSG_KEXINIT (RFC 4253 §7.1) with OpenSSH 9.2p1's lists (Debian's +deb12u2 adds strict
  // key exchange, CVE-2023-48795).
  Bytes kexinit(bool client) {
    const std::string ciphers =
        "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,"
        "aes256-gcm@openssh.com";
    const std::string macs =
        "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,"
        "hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,"
        "umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1";
    const std::string compression = "none,zlib@openssh.com";
    const std::string kex =
        "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,"
        "ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"
        "diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,"
        "diffie-hellman-group18-sha512,diffie-hellman-group14-sha256" +
        std::string(client ? ",ext-info-c,kex-strict-c-v00@openssh.com"
                           : ",kex-strict-s-v00@openssh.com");
    const std::string host_keys =
        client
            ? "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,"
              "ecdsa-sha2-nistp384-cert-v01@openssh.com,ecdsa-sha2-nistp521-cert-v01@openssh.com,"
              "sk-ssh-ed25519-cert-v01@openssh.com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,"
              "rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,ssh-ed25519,"
              "ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
              "sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,"
              "rsa-sha2-256"
            : "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519";
    Bytes payload = {20};              // SSH_MSG_KEXINIT
    append(payload, dice_.bytes(16));  // cookie
    for (const std::string* list :
         {&kex, &host_keys, &ciphers, &ciphers, &macs, &macs, &compression, &compression}) {
      put_string(payload, *list);
    }
    put_string(payload, std::string_view());  // languages client to server
    put_string(payload, std::string_view());  // languages server to client
    payload.push_back(0);                     // first_kex_packet_follows
    put_u32(payload, 0);                      // reserved
    return ssh_packet(payload);
  }

  Frames ssh_session() {
    TcpConversation c =
        conversation(client(), v4(kSshServerBase + static_cast<int>(dice_.below(4)), 22));
    const std::string_view banner = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2\r\n";
    Frames f;
    add(f, c.handshake());
    add(f, c.server_sends(banner));
    add(f, c.client_sends(banner));
    add(f, c.client_sends(text_of(kexinit(true))));
    add(f, c.server_sends(text_of(kexinit(false))));
    // RFC 5656 §4 / RFC 8731: the client's ephemeral key; the server's host key, ephemeral key
    // and signature, followed by its NEWKEYS (RFC 4253 §7.3).
    Bytes init = {30};
    put_string(init, dice_.bytes(32));
    add(f, c.client_sends(text_of(ssh_packet(init))));
    Bytes host_key, signature, reply = {31};
    put_string(host_key, std::string_view("ssh-ed25519"));
    put_string(host_key, dice_.bytes(32));
    put_string(signature, std::string_view("ssh-ed25519"));
    put_string(signature, dice_.bytes(64));
    put_string(reply, host_key);
    put_string(reply, dice_.bytes(32));
    put_string(reply, signature);
    add(f, c.server_sends(text_of(tls::concat({ssh_packet(reply), ssh_packet({21})}))));
    add(f, c.client_sends(text_of(ssh_packet({21}))));
    // Encrypted from here (chacha20-poly1305: encrypted length, payload, 16-byte tag): service
    // request and authentication, then an interactive session; some sessions copy a file.
    const auto rounds = dice_.between(6, 30);
    for (uint64_t r = 0; r < rounds; ++r) {
      add(f, c.client_sends(text_of(dice_.bytes(36 + 16 * dice_.below(4)))));
      add(f, c.server_sends(text_of(dice_.bytes(36 + dice_.below(1400)))));
    }
    if (dice_.below(4) == 0)
      add(f, c.server_sends(text_of(dice_.bytes(dice_.between(8192, 32768)))));
    add(f, c.close());
    return f;
  }

  // ---- FTP ----

  // RFC 959: login, a binary RETR over a data connection the client opens to the port the PASV
  // reply announces, or (active mode) the server opens from port 20 to the one PORT announced.
  Frames ftp_session(bool active) {
    const int host = static_cast<int>(dice_.below(kClients));
    const int client_host = kClientBase + host;
    const int server_host = kFtpServerBase + static_cast<int>(dice_.below(2));
    TcpConversation c = conversation(v4(client_host, ephemeral(host)), v4(server_host, 21));
    static const char* const kFiles[] = {"/pub/README", "/pub/releases/tool-2.4.1.tar.gz",
                                         "/pub/mirror/ls-lR.gz", "/outgoing/report-2023-11.csv"};
    const std::string file = dice_.pick(kFiles);
    const Bytes content = dice_.bytes(dice_.between(2048, 8192));
    Frames f;
    auto say = [&](std::string_view client_line, std::string_view reply) {
      add(f, c.client_sends(client_line));
      add(f, c.server_sends(reply));
    };
    add(f, c.handshake());
    add(f, c.server_sends("220 (vsFTPd 3.0.3)\r\n"));
    const bool anonymous = dice_.below(2) == 0;
    say(anonymous ? "USER anonymous\r\n" : "USER backup\r\n",
        "331 Please specify the password.\r\n");
    say(anonymous ? "PASS guest@example.org\r\n" : "PASS s3cr3t-backup\r\n",
        "230 Login successful.\r\n");
    say("SYST\r\n", "215 UNIX Type: L8\r\n");
    say("TYPE I\r\n", "200 Switching to Binary mode.\r\n");
    const std::string retr = "RETR " + file + "\r\n";
    const std::string opening = "150 Opening BINARY mode data connection for " + file + " (" +
                                std::to_string(content.size()) + " bytes).\r\n";
    if (!active) {
      const auto port = static_cast<uint16_t>(dice_.between(30000, 31000));
      say("PASV\r\n", "227 Entering Passive Mode (198,51,100," + std::to_string(server_host) + "," +
                          std::to_string(port >> 8) + "," + std::to_string(port & 0xff) + ").\r\n");
      TcpConversation data = conversation(v4(client_host, ephemeral(host)), v4(server_host, port));
      add(f, data.handshake());
      say(retr, opening);
      add(f, data.server_sends(text_of(content)));
      add(f, data.close());
    } else {
      const uint16_t port = ephemeral(host);
      say("PORT 198,51,100," + std::to_string(client_host) + "," + std::to_string(port >> 8) + "," +
              std::to_string(port & 0xff) + "\r\n",
          "200 PORT command successful. Consider using PASV.\r\n");
      add(f, c.client_sends(retr));
      TcpConversation data = conversation(v4(server_host, 20), v4(client_host, port));
      add(f, data.handshake());
      add(f, c.server_sends(opening));
      add(f, data.client_sends(text_of(content)));
      add(f, data.close());
    }
    add(f, c.server_sends("226 Transfer complete.\r\n"));
    say("QUIT\r\n", "221 Goodbye.\r\n");
    add(f, c.close());
    return f;
  }

  // ---- SMTP ----

  // RFC 5321: a client submitting one mail (RFC 2045 MIME, a base64 attachment) to a relay.
  Frames smtp_session() {
    static const char* const kSenders[] = {"alice@example.org", "billing@example.net",
                                           "carol@example.org", "noreply@example.com"};
    static const char* const kRecipients[] = {"bob@example.com", "dave@example.com",
                                              "ops@example.com", "erin@example.com"};
    static const char* const kSubjects[] = {"Quarterly report", "Invoice 2023-1187",
                                            "Meeting notes", "Updated schedule"};
    const int server_host = kSmtpServerBase + static_cast<int>(dice_.below(2));
    const std::string server_name =
        server_host == kSmtpServerBase ? "mx1.example.com" : "mx2.example.com";
    TcpConversation c = conversation(client(), v4(server_host, 25));
    const std::string from = dice_.pick(kSenders), to = dice_.pick(kRecipients);
    const std::string queue_id =
        std::to_string(100000 + dice_.below(900000)) + "A" + std::to_string(dice_.below(1000));
    Bytes attachment = {'%', 'P', 'D', 'F', '-', '1', '.', '7', '\n'};
    append(attachment, dice_.bytes(dice_.between(1024, 4096)));
    const std::string encoded = base64(attachment);
    std::string mail = "From: <" + from + ">\r\nTo: <" + to +
                       ">\r\nSubject: " + dice_.pick(kSubjects) +
                       "\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <" + queue_id +
                       "@example.org>\r\nMIME-Version: 1.0\r\n"
                       "Content-Type: multipart/mixed; boundary=\"=_part_0\"\r\n\r\n"
                       "--=_part_0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                       "Content-Transfer-Encoding: 7bit\r\n\r\n"
                       "Hello,\r\n\r\nplease find the document attached.\r\n\r\nRegards\r\n\r\n"
                       "--=_part_0\r\nContent-Type: application/pdf; name=\"document.pdf\"\r\n"
                       "Content-Disposition: attachment; filename=\"document.pdf\"\r\n"
                       "Content-Transfer-Encoding: base64\r\n\r\n";
    for (size_t at = 0; at < encoded.size(); at += 76) mail += encoded.substr(at, 76) + "\r\n";
    mail += "--=_part_0--\r\n.\r\n";
    Frames f;
    auto say = [&](std::string_view client_line, std::string_view reply) {
      add(f, c.client_sends(client_line));
      add(f, c.server_sends(reply));
    };
    add(f, c.handshake());
    add(f, c.server_sends("220 " + server_name + " ESMTP Postfix (Debian/GNU)\r\n"));
    say("EHLO ws" + std::to_string(dice_.below(100)) + ".example.org\r\n",
        "250-" + server_name +
            "\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
            "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n"
            "250 CHUNKING\r\n");
    say("MAIL FROM:<" + from + ">\r\n", "250 2.1.0 Ok\r\n");
    say("RCPT TO:<" + to + ">\r\n", "250 2.1.5 Ok\r\n");
    say("DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
    say(mail, "250 2.0.0 Ok: queued as " + queue_id + "\r\n");
    say("QUIT\r\n", "221 2.0.0 Bye\r\n");
    add(f, c.close());
    return f;
  }

  Dice dice_;
  std::vector<Bytes> chain_;
  std::array<uint16_t, kClients> next_port_{};
  uint64_t ftp_sessions_ = 0;
};

void write_mix(CaptureWriter& writer, uint64_t sessions, uint64_t seed) {
  MixSessions mix(seed, make_chain(seed));
  Dice& dice = mix.dice();
  Output out{writer};
  struct Tally {
    uint64_t sessions = 0, bytes = 0;
  };
  std::array<Tally, static_cast<size_t>(MixKind::kCount)> tally{};
  // Each block of 100 sessions holds every kind its share of times, in shuffled order.
  std::vector<MixKind> block;
  for (const MixShare& s : kMixShares)
    block.insert(block.end(), static_cast<size_t>(s.per_100), s.kind);
  // More sessions in flight than the http profile: the mix has many short ones (DNS).
  constexpr size_t kInFlight = 16;
  std::deque<Frames> active;
  uint64_t started = 0;
  auto start_session = [&] {
    const size_t slot = started++ % block.size();
    if (slot == 0) {
      for (size_t i = block.size() - 1; i > 0; --i) std::swap(block[i], block[dice.below(i + 1)]);
    }
    const MixKind kind = block[slot];
    Frames frames = mix.build(kind);
    Tally& t = tally[static_cast<size_t>(kind)];
    ++t.sessions;
    for (const Bytes& f : frames) t.bytes += f.size();
    active.push_back(std::move(frames));
  };
  while (started < sessions || !active.empty()) {
    while (active.size() < kInFlight && started < sessions) start_session();
    const size_t pick = dice.below(active.size());
    auto& frames = active[pick];
    writer.write(frames.front(), out.now);
    out.now += static_cast<int64_t>(dice.between(1'000, 9'000));
    frames.pop_front();
    if (frames.empty()) active.erase(active.begin() + static_cast<long>(pick));
  }
  uint64_t total = 0;
  for (const Tally& t : tally) total += t.bytes;
  std::string line;
  for (const MixShare& s : kMixShares) {
    const Tally& t = tally[static_cast<size_t>(s.kind)];
    char part[96];
    std::snprintf(
        part, sizeof part, "%s%s %llu (%.1f%%)", line.empty() ? "" : ", ", s.name,
        static_cast<unsigned long long>(t.sessions),
        total == 0 ? 0.0 : 100.0 * static_cast<double>(t.bytes) / static_cast<double>(total));
    line += part;
  }
  std::fprintf(stderr,
               "spanguard-pcapgen: mix: %llu sessions, %llu bytes; sessions (share of bytes): %s\n",
               static_cast<unsigned long long>(sessions), static_cast<unsigned long long>(total),
               line.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "spanguard-pcapgen: deterministic capture files for spanguard's demo, tests and "
      "benchmarks"};
  std::string profile = "sample", out, format = "pcap";
  uint64_t sessions = 1000, seed = 1;
  size_t response_bytes = 4096;
  app.add_option("--profile", profile,
                 "sample (the demo capture), http (benchmark traffic) or mix (a mirror port's "
                 "protocol mix, mostly TLS)")
      ->check(CLI::IsMember({"sample", "http", "mix"}));
  app.add_option("--out", out, "Capture file to write")->required();
  app.add_option("--format", format, "pcap or pcapng")->check(CLI::IsMember({"pcap", "pcapng"}));
  app.add_option("--sessions", sessions, "http, mix: number of sessions");
  app.add_option("--seed", seed, "http, mix: generator seed (same seed, same bytes)");
  app.add_option("--response-bytes", response_bytes, "http: bytes of each response body");
  CLI11_PARSE(app, argc, argv);
  try {
    CaptureWriter writer(
        out, format == "pcapng" ? CaptureWriter::Format::kPcapng : CaptureWriter::Format::kPcap);
    if (profile == "sample") {
      write_sample(writer);
    } else if (profile == "http") {
      write_http(writer, sessions, seed, response_bytes);
    } else {
      write_mix(writer, sessions, seed);
    }
    std::fprintf(stderr, "spanguard-pcapgen: wrote %llu frames to %s\n",
                 static_cast<unsigned long long>(writer.frames()), out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spanguard-pcapgen: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
