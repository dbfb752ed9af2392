// Session-table and reassembly figures: memory per flow, RSS with a million concurrent flows, flow
// insert+expire rate, and reassembly throughput in order and heavily out of order.
// Usage: flow_bench [flows=1000000]
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "frame_builder.h"
#include "spanguard/applayer/app_layer.h"
#include "spanguard/applayer/registry.h"
#include "spanguard/core/log.h"
#include "spanguard/decode/decoder.h"
#include "spanguard/flow/flow_table.h"
#include "spanguard/stream/reassembler.h"

namespace {

using namespace spanguard;
namespace tf = decode::tcp_flag;

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

class NullConsumer : public stream::StreamConsumer, public flow::FlowEndHandler {
 public:
  void on_stream_data(flow::Flow&, flow::Direction, std::span<const uint8_t> d, uint64_t,
                      bool) override {
    bytes += d.size();
  }
  void on_stream_event(flow::Flow&, flow::Direction, stream::StreamEvent) override {}
  void on_flow_end(const flow::Flow& f, flow::EndReason) override {
    if (reassembler) reassembler->on_flow_end(const_cast<flow::Flow&>(f));
  }
  uint64_t bytes = 0;
  stream::Reassembler* reassembler = nullptr;
};

// A frame template whose addresses and ports are patched in place for each flow.
struct Template {
  testing::Bytes frame;
  size_t src_at, sport_at, seq_at, ack_at, flags_at;
  void set(uint32_t host, uint16_t sport, uint32_t seq, uint32_t ack, uint8_t flags) {
    frame[src_at + 2] = static_cast<uint8_t>(host >> 8);
    frame[src_at + 3] = static_cast<uint8_t>(host);
    frame[sport_at] = static_cast<uint8_t>(sport >> 8);
    frame[sport_at + 1] = static_cast<uint8_t>(sport);
    for (int i = 0; i < 4; ++i) {
      frame[seq_at + i] = static_cast<uint8_t>(seq >> (24 - 8 * i));
      frame[ack_at + i] = static_cast<uint8_t>(ack >> (24 - 8 * i));
    }
    frame[flags_at] = flags;
  }
};

// `from_server`: the frame goes from 198.51.100.2:80 to the patched client (set() then patches the
// destination address and port).
Template make_template(const std::string& payload, bool from_server = false) {
  Template t;
  t.frame = testing::FrameBuilder()
                .ethernet()
                .ipv4(from_server ? "198.51.100.2" : "198.51.100.1",
                      from_server ? "198.51.100.1" : "198.51.100.2")
                .tcp(from_server ? 80 : 1024, from_server ? 1024 : 80, {.seq = 1, .ack = 1})
                .payload(payload)
                .build();
  t.src_at = from_server ? 14 + 16 : 14 + 12;
  t.sport_at = from_server ? 36 : 34;
  t.seq_at = 38;
  t.ack_at = 42;
  t.flags_at = 47;
  return t;
}

// Transactions go nowhere: the application layer's state is what is measured.
struct NullTransactions : applayer::TransactionSink {
  void on_transaction(const applayer::TxInspection&) override { ++count; }
  uint64_t count = 0;
};

enum class AppState {
  kNone,      // no application layer
  kPending,   // identified and parsed as HTTP, the request seen, its response not yet
  kAnswered,  // request and response seen: an idle keep-alive connection between transactions
  kBrowser,   // as kPending, with the request a browser sends (418 bytes, eight fields)
};

// What a browser asks for a page: the realistic size of a request a server has not answered yet.
const std::string kBrowserRequest =
    "GET /catalog/items/view.php?id=48213&ref=home HTTP/1.1\r\n"
    "Host: shop.example.org\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://shop.example.org/\r\n"
    "Cookie: session=7f3a9c2e61b04d58a1e2; theme=dark\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

void million_flows(uint32_t n, AppState app_state) {
  const bool http = app_state != AppState::kNone;
  decode::Decoder decoder;  // checksums are not validated: the template is patched in place
  NullConsumer sink;
  NullTransactions transactions;
  applayer::AppLayer app(applayer::AppLayerOptions{}, applayer::rule_registry(), transactions);
  flow::FlowOptions o;
  o.max_flows = n + n / 8;
  o.memcap = 4ull << 30;
  malloc_trim(0);  // what an earlier run freed is given back, so that RSS measures this one
  const long before = rss_kib();
  flow::FlowTable table(o, &sink);
  std::vector<stream::StreamConsumer*> consumers{&sink};
  if (http) consumers.push_back(&app);
  stream::Reassembler reassembler(stream::StreamOptions{}, consumers);
  sink.reassembler = &reassembler;
  Template t = make_template(
      app_state == AppState::kBrowser ? kBrowserRequest : std::string("GET / HTTP/1.1\r\n\r\n"));
  Template r = make_template("HTTP/1.1 204 No Content\r\n\r\n", true);
  decode::PacketView v;
  const auto start = std::chrono::steady_clock::now();
  // One segment of `tpl`, patched for the flow of (host, port), through decode, flow and stream.
  auto feed = [&](Template& tpl, uint32_t host, uint16_t port, uint32_t seq, uint32_t ack,
                  int64_t ns) {
    tpl.set(host, port, seq, ack, tf::kAck | tf::kPsh);
    decoder.decode(decode::LinkType::kEthernet, tpl.frame.data(),
                   static_cast<uint32_t>(tpl.frame.size()), static_cast<uint32_t>(tpl.frame.size()),
                   core::timestamp_from_ns(ns), v);
    const flow::PacketFlow pf = table.process(v);
    if (pf.flow != nullptr && pf.tcp.deliver) {
      reassembler.on_segment(*pf.flow, pf.dir, pf.tcp.payload_seq, v.payload());
    }
  };
  for (uint32_t i = 0; i < n; ++i) {
    // A mid-stream request (the flow's first packet carries 18 bytes of data), then, answered,
    // the server's response.
    const uint32_t host = 1 + i / 60000;
    const auto port = static_cast<uint16_t>(1024 + i % 60000);
    feed(t, host, port, 1000, 5000, 1'000'000'000 + i);
    if (app_state == AppState::kAnswered) feed(r, host, port, 5000, 1018, 1'000'000'000 + i);
  }
  const double took = seconds_since(start);
  const long after = rss_kib();
  std::printf(
      "flows: %u concurrent (each with 18 stream bytes%s): RSS +%.1f MiB = %.0f bytes/flow; "
      "sizeof(Flow) %zu; created at %.2f M flows/s\n",
      static_cast<unsigned>(table.active()),
      app_state == AppState::kPending ? ", HTTP parsed, request awaiting its response"
      : app_state == AppState::kBrowser
          ? " (a browser's request instead: 418 bytes), HTTP parsed, request awaiting its response"
      : app_state == AppState::kAnswered ? " + 27 back, HTTP parsed, idle between transactions"
                                         : "",
      (after - before) / 1024.0, (after - before) * 1024.0 / n, sizeof(flow::Flow), n / took / 1e6);
  if (http) {
    std::printf("  HTTP transactions inspected: %lu\n",
                static_cast<unsigned long>(transactions.count));
  }
  table.flush_all();
}

void idle_flows(uint32_t n) {
  decode::Decoder decoder;
  NullConsumer sink;
  flow::FlowOptions o;
  o.max_flows = n + n / 8;
  o.memcap = 4ull << 30;
  const long before = rss_kib();
  flow::FlowTable table(o, &sink);
  Template t = make_template("");
  decode::PacketView v;
  for (uint32_t i = 0; i < n; ++i) {
    t.set(1 + i / 60000, static_cast<uint16_t>(1024 + i % 60000), 1000, 0, tf::kSyn);
    decoder.decode(decode::LinkType::kEthernet, t.frame.data(),
                   static_cast<uint32_t>(t.frame.size()), static_cast<uint32_t>(t.frame.size()),
                   core::timestamp_from_ns(1'000'000'000 + i), v);
    table.process(v);
  }
  const long after = rss_kib();
  std::printf("flows: %u concurrent idle (SYN only): RSS +%.1f MiB = %.0f bytes/flow\n",
              static_cast<unsigned>(table.active()), (after - before) / 1024.0,
              (after - before) * 1024.0 / n);
}

void insert_expire(uint32_t n) {
  decode::Decoder decoder;
  NullConsumer sink;
  flow::FlowOptions o;
  o.max_flows = 200000;
  o.timeouts.udp = std::chrono::seconds(1);
  flow::FlowTable table(o, &sink);
  testing::Bytes frame =
      testing::FrameBuilder().ethernet().ipv4("198.51.100.1", "198.51.100.2").udp(1024, 53).build();
  decode::PacketView v;
  const auto start = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < n; ++i) {
    frame[26 + 2] = static_cast<uint8_t>(i >> 24);
    frame[26 + 3] = static_cast<uint8_t>(i >> 16);
    frame[34] = static_cast<uint8_t>(i >> 8);
    frame[35] = static_cast<uint8_t>(i);
    // 100,000 new flows per second of packet time, each expiring after 1 s.
    decoder.decode(decode::LinkType::kEthernet, frame.data(), static_cast<uint32_t>(frame.size()),
                   static_cast<uint32_t>(frame.size()),
                   core::timestamp_from_ns(1'000'000'000 + int64_t{i} * 10'000), v);
    table.process(v);
  }
  const double took = seconds_since(start);
  std::printf(
      "insert+expire: %u UDP flows in %.3f s = %.2f M flows/s (%llu expired, %zu active)\n", n,
      took, n / took / 1e6,
      static_cast<unsigned long long>(table.counters().get(flow::FlowCounter::kEndedTimeout)),
      table.active());
}

void reassembly(bool shuffled) {
  decode::Decoder decoder;
  NullConsumer sink;
  flow::FlowTable table(flow::FlowOptions{}, &sink);
  stream::Reassembler reassembler(stream::StreamOptions{.depth = 0}, sink);
  sink.reassembler = &reassembler;
  constexpr uint32_t kSegment = 1448;
  constexpr uint32_t kSegments = 200000;  // ~290 MB through one flow
  Template t = make_template(std::string(kSegment, 'r'));
  decode::PacketView v;
  std::vector<uint32_t> order(kSegments);
  for (uint32_t i = 0; i < kSegments; ++i) order[i] = i;
  if (shuffled) {
    // Heavily out of order: every window of 32 segments after the first arrives in random order
    // (the first segment opens the flow mid-stream and fixes where its stream starts).
    std::mt19937_64 rng(1);
    for (uint32_t w = 32; w < kSegments; w += 32) {
      for (uint32_t i = w + 31; i > w; --i) std::swap(order[i], order[w + rng() % (i - w + 1)]);
    }
  }
  const auto start = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < kSegments; ++i) {
    t.set(7, 40000, 1000 + order[i] * kSegment, 5000, tf::kAck | tf::kPsh);
    decoder.decode(decode::LinkType::kEthernet, t.frame.data(),
                   static_cast<uint32_t>(t.frame.size()), static_cast<uint32_t>(t.frame.size()),
                   core::timestamp_from_ns(1'000'000'000 + i), v);
    const flow::PacketFlow pf = table.process(v);
    reassembler.on_segment(*pf.flow, pf.dir, pf.tcp.payload_seq, v.payload());
  }
  const double took = seconds_since(start);
  std::printf(
      "reassembly %-14s %.0f MB/s (%llu bytes delivered, %llu segments queued)\n",
      shuffled ? "out of order:" : "in order:", sink.bytes / took / 1e6,
      static_cast<unsigned long long>(sink.bytes),
      static_cast<unsigned long long>(reassembler.counters().get(stream::StreamCounter::kQueued)));
  table.flush_all();  // while the reassembler the flows' end reaches still exists
}

}  // namespace

int main(int argc, char** argv) {
  const uint32_t flows =
      argc > 1 ? static_cast<uint32_t>(std::strtoul(argv[1], nullptr, 10)) : 1000000;
  spanguard::core::set_log_level("warn");
  idle_flows(flows);
  million_flows(flows, AppState::kNone);
  million_flows(flows, AppState::kPending);
  million_flows(flows, AppState::kAnswered);
  million_flows(flows, AppState::kBrowser);
  insert_expire(2'000'000);
  reassembly(false);
  reassembly(true);
  return 0;
}
