// Fuzzes the session table, TCP tracker, reassembler and defragmenter together with an arbitrary
// sequence of segments and fragments on one conversation: no crash, no leak, memory caps hold, and
// everything held is returned when the flow ends.
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>

#include "frame_builder.h"
#include "spanguard/core/log.h"
#include "spanguard/decode/decoder.h"
#include "spanguard/decode/defrag.h"
#include "spanguard/flow/flow_table.h"
#include "spanguard/stream/reassembler.h"

namespace {

using namespace spanguard;

constexpr uint64_t kStreamMemcap = 1 << 20;

class Sink : public stream::StreamConsumer, public flow::FlowEndHandler {
 public:
  void on_stream_data(flow::Flow& f, flow::Direction dir, std::span<const uint8_t> d,
                      uint64_t offset, bool after_gap) override {
    // Each direction of each session is delivered contiguously, or forward across a gap.
    uint64_t& end = ends[{f.flow_id, flow::index(dir)}];
    if (after_gap ? offset <= end && end != 0 : offset != end) std::abort();
    end = offset + d.size();
  }
  void on_stream_event(flow::Flow&, flow::Direction, stream::StreamEvent) override {}
  void on_flow_end(const flow::Flow& f, flow::EndReason) override {
    reassembler->on_flow_end(const_cast<flow::Flow&>(f));
  }
  stream::Reassembler* reassembler = nullptr;
  std::map<std::pair<uint64_t, int>, uint64_t> ends;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (core::set_log_level("off"), true);
  (void)quiet;
  Sink sink;
  const auto policy = static_cast<core::OverlapPolicy>(size > 0 ? data[0] % 5 : 0);
  stream::Reassembler reassembler(
      {.policy = policy, .depth = 4096, .memcap = kStreamMemcap, .max_queued = 8192, .retain = 512},
      sink);
  sink.reassembler = &reassembler;
  flow::FlowOptions options;
  options.max_flows = 64;
  {
    flow::FlowTable table(options, &sink);
    decode::Decoder decoder;
    decode::Defragmenter defrag({.policy = policy, .memcap = 65536, .max_fragments = 16});
    std::deque<testing::Bytes> frames;
    int64_t now = 1'000'000'000;
    // Each 8-byte record: flags, direction/fragment bits, seq delta, ack delta, payload length,
    // time step.
    for (size_t at = 1; at + 8 <= size; at += 8) {
      const uint8_t* r = data + at;
      const bool to_server = (r[1] & 1) != 0;
      const uint32_t seq = 1000 + static_cast<uint32_t>(static_cast<int16_t>(r[2] << 8 | r[3]));
      const uint32_t ack = 5000 + static_cast<uint32_t>(static_cast<int16_t>(r[4] << 8 | r[5]));
      const std::string payload(r[6] % 200, static_cast<char>('a' + r[6] % 26));
      now += r[7] * 50'000'000LL;
      testing::FrameBuilder b;
      b.ethernet();
      const char* client = "198.51.100.1";
      const char* server = "198.51.100.2";
      if (r[1] & 2) {
        // An IPv4 fragment of a TCP segment.
        b.ipv4(to_server ? client : server, to_server ? server : client,
               {.id = static_cast<uint16_t>(r[1] >> 4),
                .dont_fragment = false,
                .more_fragments = (r[1] & 4) != 0,
                .fragment_offset = static_cast<uint16_t>((r[3] % 64) * 8),
                .protocol = 6});
        b.payload(payload);
      } else {
        b.ipv4(to_server ? client : server, to_server ? server : client);
        b.tcp(to_server ? 40000 : 80, to_server ? 80 : 40000,
              {.seq = seq, .ack = ack, .flags = r[0], .window = 512});
        if (!payload.empty()) b.payload(payload);
      }
      frames.push_back(b.build());
      const testing::Bytes& f = frames.back();
      decode::PacketView v;
      if (decoder.decode(decode::LinkType::kEthernet, f.data(), static_cast<uint32_t>(f.size()),
                         static_cast<uint32_t>(f.size()), core::timestamp_from_ns(now),
                         v) != decode::DecodeStatus::kOk) {
        continue;
      }
      if (v.is_fragment) {
        const auto whole = defrag.add(v);
        if (!whole || decoder.decode_ip(whole->data(), static_cast<uint32_t>(whole->size()), v) !=
                          decode::DecodeStatus::kOk) {
          continue;
        }
      }
      const flow::PacketFlow pf = table.process(v);
      if (pf.flow == nullptr || !v.is_tcp()) continue;
      if (pf.tcp.deliver) {
        reassembler.on_segment(*pf.flow, pf.dir, pf.tcp.payload_seq, v.payload(),
                               pf.tcp.unconfirmed);
      }
      if (v.has_flag(decode::tcp_flag::kAck) && !pf.tcp.invalid && !pf.tcp.ttl_evasion &&
          !pf.tcp.paws_stale) {
        reassembler.on_ack(*pf.flow, pf.dir, v.ack);
      }
      if (reassembler.counters().get(stream::StreamCounter::kMemoryBytes) > kStreamMemcap)
        std::abort();
      if (defrag.counters().get(decode::DefragCounter::kMemoryBytes) > 65536 + 16 * 60)
        std::abort();
    }
    table.flush_all();
    if (table.active() != 0) std::abort();
  }
  // Every byte the flows held was returned when they ended.
  if (reassembler.counters().get(stream::StreamCounter::kMemoryBytes) != 0) std::abort();
  return 0;
}
