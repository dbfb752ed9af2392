// spanguard-pcapgen: writes deterministic capture files for the demo, the tests and the benchmarks.
// The same arguments always give byte-identical output (a fixed-seed std::mt19937_64 whose raw
// outputs are used directly; standard distributions differ between library implementations).
//
//   --profile sample   the bundled demo capture: a few HTTP sessions (IPv4, 802.1Q-tagged, IPv6),
//   one
//                      request split mid-pattern across TCP segments, requests the bundled rules
//                      flag (path traversal, sqlmap User-Agent, cmd.exe in a POST body), a DNS
//                      exchange and an ICMP echo pair. Hosts are in 198.51.100.0/24 and
//                      2001:db8::/32 only.
//   --profile http     N complete HTTP/1.1 sessions with varied requests and responses, a few in
//   flight
//                      at a time, for throughput benchmarks (50,000 sessions make ~250 MB).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "capture_writer.h"
#include "frame_builder.h"
#include "tcp_conversation.h"

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
  uint64_t below(uint64_t n) { return rng_() % n; }
  template <typename T, size_t N>
  const T& pick(const T (&items)[N]) {
    return items[below(N)];
  }

 private:
  std::mt19937_64 rng_;
};

void write_http(CaptureWriter& writer, uint64_t sessions, uint64_t seed, size_t response_bytes) {
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
    TcpConversation c(v4(client, port), v4(server, 80), static_cast<uint32_t>(dice.below(1u << 31)),
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
    for (auto* part : {&c}) {
      for (auto& f : part->handshake()) frames.push_back(std::move(f));
      for (auto& f : part->client_sends(request)) frames.push_back(std::move(f));
      for (auto& f : part->server_sends(http_response(200, body))) frames.push_back(std::move(f));
      for (auto& f : part->close()) frames.push_back(std::move(f));
    }
    active.push_back(std::move(frames));
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "spanguard-pcapgen: deterministic capture files for spanguard's demo, tests and "
      "benchmarks"};
  std::string profile = "sample", out, format = "pcap";
  uint64_t sessions = 1000, seed = 1;
  size_t response_bytes = 4096;
  app.add_option("--profile", profile, "sample (the demo capture) or http (benchmark traffic)")
      ->check(CLI::IsMember({"sample", "http"}));
  app.add_option("--out", out, "Capture file to write")->required();
  app.add_option("--format", format, "pcap or pcapng")->check(CLI::IsMember({"pcap", "pcapng"}));
  app.add_option("--sessions", sessions, "http: number of HTTP sessions");
  app.add_option("--seed", seed, "http: generator seed (same seed, same bytes)");
  app.add_option("--response-bytes", response_bytes, "http: bytes of each response body");
  CLI11_PARSE(app, argc, argv);
  try {
    CaptureWriter writer(
        out, format == "pcapng" ? CaptureWriter::Format::kPcapng : CaptureWriter::Format::kPcap);
    if (profile == "sample") {
      write_sample(writer);
    } else {
      write_http(writer, sessions, seed, response_bytes);
    }
    std::fprintf(stderr, "spanguard-pcapgen: wrote %llu frames to %s\n",
                 static_cast<unsigned long long>(writer.frames()), out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spanguard-pcapgen: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
