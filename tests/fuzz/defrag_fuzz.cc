// Fuzzes IP defragmentation on its own: IPv4 and IPv6 fragments of a few datagrams, at
// fuzzer-chosen offsets and lengths, in any order, under every overlap policy and small limits,
// decoded as a worker decodes them. A rebuilt datagram must decode as one whole, unfragmented IP
// datagram of exactly its own length; when every fragment carries the bytes its offsets stand
// for, the rebuilt data is exactly those bytes and no overlap is called a mismatch. Memory stays
// under the cap (plus the headers kept per datagram) and is all returned once datagrams expire.
// The worker a rebuilt datagram would be handed to under the flow fanout hash is a worker.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

#include "frame_builder.h"
#include "spanguard/capture/fanout.h"
#include "spanguard/decode/decoder.h"
#include "spanguard/decode/defrag.h"

namespace {

using namespace spanguard;
using decode::DefragCounter;

// Names the failed invariant: a crash report alone would not say which one.
#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "defrag_fuzz: %s failed at line %d\n", #cond, __LINE__); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

// Datagrams are told apart by family, id and which host sent them: 2 x 4 x 2.
constexpr uint64_t kDatagrams = 16;
constexpr uint64_t kLargestHeader = 60;  // IPv4 with options; IPv6 here has none besides fragment

// The byte a well-behaved sender puts at `offset` of datagram `datagram`'s data.
uint8_t byte_at(uint32_t datagram, uint64_t offset) {
  uint64_t h = (offset + 1) * 0x9e3779b97f4a7c15ull ^ datagram * 0xc2b2ae3d27d4eb4full;
  h ^= h >> 29;
  return static_cast<uint8_t>(h * 0x94d049bb133111ebull >> 56);
}

}  // namespace

// Input: a 4-byte header — [mode/policy][memcap][max_fragments][unused] — then records of
// [flags][offset, 2 bytes][length][time step] followed, unless the fragments are consistent, by the
// payload bytes. flags bit 0: IPv6; bits 1..2: the id; bit 3: sent by the second host; bit 4:
// more fragments; bit 5: length counts 64-byte units instead of 8-byte ones; bit 6: one odd byte
// more (not a multiple of 8, as only a last fragment may be). The offset is the 13-bit field.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const bool consistent = (data[0] & 0x80) != 0;
  decode::DefragOptions options;
  options.policy = static_cast<core::OverlapPolicy>(data[0] % 5);
  options.memcap = 1024 + uint64_t{data[1]} * 1024;
  options.max_fragments = 1 + data[2] % 64;
  decode::Defragmenter defrag(options);
  decode::Decoder decoder;
  std::deque<testing::Bytes> frames;  // a view's bytes must outlive it
  std::string payload;
  int64_t now = 1'700'000'000'000'000'000;
  uint64_t mismatches_before = 0;

  size_t at = 4;
  while (at + 5 <= size) {
    const uint8_t flags = data[at];
    const uint16_t offset_units =
        static_cast<uint16_t>((data[at + 1] << 8 | data[at + 2]) & 0x1fff);
    const size_t len = size_t{data[at + 3]} * ((flags & 0x20) ? 64 : 8) + ((flags & 0x40) ? 1 : 0);
    now += int64_t{data[at + 4]} * 100'000'000;  // up to 25.5 s a step: datagrams time out
    at += 5;
    const bool v6 = (flags & 1) != 0;
    const uint32_t id = (flags >> 1) & 3;
    const bool second = (flags & 8) != 0;
    const uint32_t datagram = (v6 ? 8u : 0u) | id << 1 | (second ? 1u : 0u);
    const uint64_t offset = uint64_t{offset_units} * 8;
    if (consistent) {
      payload.resize(len);
      for (size_t i = 0; i < len; ++i)
        payload[i] = static_cast<char>(byte_at(datagram, offset + i));
    } else {
      const size_t n = std::min(len, size - at);
      payload.assign(reinterpret_cast<const char*>(data + at), n);
      at += n;
    }

    testing::FrameBuilder b;
    b.ethernet();
    if (v6) {
      const char* a = "2001:db8::1";
      const char* z = "2001:db8::2";
      b.ipv6(second ? z : a, second ? a : z,
             {.extensions = {{.type = 44,
                              .fragment_offset = static_cast<uint16_t>(offset),
                              .more_fragments = (flags & 0x10) != 0,
                              .identification = 0x1000 + id}},
              .next_header = 17});
    } else {
      const char* a = "198.51.100.1";
      const char* z = "198.51.100.2";
      b.ipv4(second ? z : a, second ? a : z,
             {.id = static_cast<uint16_t>(0x1000 + id),
              .dont_fragment = false,
              .more_fragments = (flags & 0x10) != 0,
              .fragment_offset = static_cast<uint16_t>(offset),
              .protocol = 17});
    }
    b.payload(payload);
    frames.push_back(b.build());
    if (frames.size() > 4) frames.pop_front();
    const testing::Bytes& f = frames.back();

    decode::PacketView v;
    if (decoder.decode(decode::LinkType::kEthernet, f.data(), static_cast<uint32_t>(f.size()),
                       static_cast<uint32_t>(f.size()), core::timestamp_from_ns(now),
                       v) != decode::DecodeStatus::kOk ||
        !v.is_fragment) {
      continue;
    }
    const auto whole = defrag.add(v);
    const uint64_t memory = defrag.counters().get(DefragCounter::kMemoryBytes);
    CHECK(memory <= options.memcap + kDatagrams * kLargestHeader);
    const uint64_t mismatches = defrag.counters().get(DefragCounter::kOverlapMismatch);
    if (consistent) CHECK(mismatches == mismatches_before);
    mismatches_before = mismatches;
    if (!whole) continue;
    // The worker it would be handed to under the flow hash is one of the workers.
    CHECK(capture::fanout_member(*whole, capture::FanoutHash::kFlow, 3) < 3);

    // The rebuilt datagram is one whole IP datagram, as long as it says it is.
    decode::PacketView rebuilt;
    rebuilt.data = whole->data();
    CHECK(decoder.decode_ip(whole->data(), static_cast<uint32_t>(whole->size()), rebuilt) ==
          decode::DecodeStatus::kOk);
    CHECK(rebuilt.ip_version == (v6 ? 6 : 4));
    CHECK(!rebuilt.is_fragment);
    CHECK(rebuilt.ip_proto == 17);
    CHECK(rebuilt.l3_len == whole->size());
    if (consistent) {
      // Everything after the header is the datagram's data (the last fragment's end is its total).
      const size_t header = v6 ? 40 : 20;
      CHECK(whole->size() >= header);
      for (size_t i = header; i < whole->size(); ++i) {
        CHECK((*whole)[i] == byte_at(datagram, i - header));
      }
    }
  }
  // Every datagram still held is dropped once its fragments stop arriving, and its memory with it.
  defrag.expire(core::timestamp_from_ns(now + 3'600'000'000'000LL));
  CHECK(defrag.counters().get(DefragCounter::kMemoryBytes) == 0);
  return 0;
}
