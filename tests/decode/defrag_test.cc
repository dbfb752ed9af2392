// Defragmentation: IPv4 and IPv6 datagrams rebuilt whatever the order, overlaps decided by policy,
// evasive shapes counted, incomplete datagrams expired, limits held.
#include "spanguard/decode/defrag.h"

#include <gtest/gtest.h>

#include <deque>

#include "frame_builder.h"
#include "spanguard/decode/decoder.h"

namespace spanguard::decode {
namespace {

using testing::Bytes;
using testing::FrameBuilder;

constexpr const char* kA = "198.51.100.1";
constexpr const char* kB = "198.51.100.2";
constexpr const char* kA6 = "2001:db8::1";
constexpr const char* kB6 = "2001:db8::2";

// The transport segment (TCP header + payload) of a packet between the given addresses, with a
// checksum valid for them.
Bytes tcp_segment(bool v6, const std::string& payload) {
  FrameBuilder b;
  v6 ? b.ipv6(kA6, kB6) : b.ipv4(kA, kB);
  const Bytes ip = b.tcp(40000, 80, {.seq = 1, .ack = 1}).payload(payload).build();
  return Bytes(ip.begin() + (v6 ? 40 : 20), ip.end());
}

Bytes fragment(bool v6, const Bytes& segment, size_t from, size_t to, bool more, uint32_t id = 7,
               std::optional<Bytes> replace = std::nullopt) {
  const Bytes piece = replace ? *replace
                              : Bytes(segment.begin() + static_cast<long>(from),
                                      segment.begin() + static_cast<long>(to));
  FrameBuilder b;
  b.ethernet();
  if (v6) {
    b.ipv6(kA6, kB6,
           {.extensions = {{.type = 0},  // a hop-by-hop header before the fragment header
                           {.type = 44,
                            .fragment_offset = static_cast<uint16_t>(from),
                            .more_fragments = more,
                            .identification = id}},
            .next_header = 6});
  } else {
    b.ipv4(kA, kB,
           {.id = static_cast<uint16_t>(id),
            .dont_fragment = false,
            .more_fragments = more,
            .fragment_offset = static_cast<uint16_t>(from),
            .protocol = 6});
  }
  return b.payload(piece).build();
}

class Harness {
 public:
  explicit Harness(DefragOptions o = {}) : defrag(o) {}
  // Feeds a fragment; returns the payload of the rebuilt TCP segment when a datagram completes.
  std::optional<std::string> feed(const Bytes& frame, int64_t ts_ns = 1'000'000'000) {
    frames_.push_back(frame);
    const Bytes& f = frames_.back();
    PacketView v;
    EXPECT_EQ(decoder.decode(LinkType::kEthernet, f.data(), static_cast<uint32_t>(f.size()),
                             static_cast<uint32_t>(f.size()), core::timestamp_from_ns(ts_ns), v),
              DecodeStatus::kOk);
    EXPECT_TRUE(v.is_fragment);
    const auto whole = defrag.add(v);
    if (!whole) return std::nullopt;
    // The rebuilt datagram decodes, checksums included, as an ordinary packet.
    if (decoder.decode_ip(whole->data(), static_cast<uint32_t>(whole->size()), v) !=
            DecodeStatus::kOk ||
        v.bad_checksum) {
      return "<undecodable>";
    }
    EXPECT_TRUE(v.is_tcp());
    EXPECT_FALSE(v.is_fragment);
    return std::string(v.payload().begin(), v.payload().end());
  }
  uint64_t count(DefragCounter c) const { return defrag.counters().get(c); }

  Decoder decoder{{.validate_checksums = true}};
  Defragmenter defrag;

 private:
  std::deque<Bytes> frames_;
};

const std::string kPayload =
    "GET /a/very/long/path/that/needs/fragments HTTP/1.1\r\nHost: fragmented.example\r\n\r\n";

class Families : public ::testing::TestWithParam<bool> {};

TEST_P(Families, InOrderFragmentsRebuildTheDatagram) {
  const bool v6 = GetParam();
  const Bytes seg = tcp_segment(v6, kPayload);
  Harness h;
  EXPECT_FALSE(h.feed(fragment(v6, seg, 0, 32, true)));
  EXPECT_FALSE(h.feed(fragment(v6, seg, 32, 64, true)));
  const auto whole = h.feed(fragment(v6, seg, 64, seg.size(), false));
  ASSERT_TRUE(whole);
  EXPECT_EQ(*whole, kPayload);
  EXPECT_EQ(h.count(DefragCounter::kReassembled), 1u);
  EXPECT_EQ(h.count(DefragCounter::kMemoryBytes), 0u);
}

TEST_P(Families, OutOfOrderFragmentsRebuildTheDatagram) {
  const bool v6 = GetParam();
  const Bytes seg = tcp_segment(v6, kPayload);
  Harness h;
  EXPECT_FALSE(h.feed(fragment(v6, seg, 64, seg.size(), false)));
  EXPECT_FALSE(h.feed(fragment(v6, seg, 0, 32, true)));
  const auto whole = h.feed(fragment(v6, seg, 32, 64, true));
  ASSERT_TRUE(whole);
  EXPECT_EQ(*whole, kPayload);
}

TEST_P(Families, OverlapsAreDecidedByPolicyAndChangedBytesCounted) {
  const bool v6 = GetParam();
  const Bytes seg = tcp_segment(v6, kPayload);
  // The second fragment comes twice: the original, then a copy of bytes 32..64 rewritten to 'X'.
  Bytes forged(seg.begin() + 32, seg.begin() + 64);
  std::fill(forged.begin(), forged.end(), 'X');
  for (const auto policy : {core::OverlapPolicy::kFirst, core::OverlapPolicy::kLast}) {
    Harness h({.policy = policy});
    h.feed(fragment(v6, seg, 32, 64, true));
    h.feed(fragment(v6, seg, 32, 64, true, 7, forged));
    h.feed(fragment(v6, seg, 64, seg.size(), false));
    const auto whole = h.feed(fragment(v6, seg, 0, 32, true));
    EXPECT_EQ(h.count(DefragCounter::kOverlapMismatch), 1u);
    if (policy == core::OverlapPolicy::kFirst) {
      // The checksum covers the original bytes: the rebuilt segment is intact.
      ASSERT_TRUE(whole);
      EXPECT_EQ(*whole, kPayload);
    } else {
      // "last" keeps the forged bytes, as a last-wins host would: the TCP checksum no longer holds.
      ASSERT_TRUE(whole);
      EXPECT_EQ(*whole, "<undecodable>");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Ipv4AndIpv6, Families, ::testing::Values(false, true));

// Fragments may claim up to offset 65528 + their length, more than the 16-bit length fields of the
// datagram they add up to can say: such a datagram is counted and not rebuilt (its length would
// wrap), as no receiver accepts it.
TEST_P(Families, DatagramsLargerThanALengthFieldHoldsAreDropped) {
  const bool v6 = GetParam();
  const Bytes big(65528, 'x');
  Harness h;
  EXPECT_FALSE(h.feed(fragment(v6, big, 0, 32768, true)));
  EXPECT_FALSE(h.feed(fragment(v6, big, 32768, big.size(), false)));
  EXPECT_EQ(h.count(DefragCounter::kTooLarge), 1u);
  EXPECT_EQ(h.count(DefragCounter::kReassembled), 0u);
  EXPECT_EQ(h.count(DefragCounter::kMemoryBytes), 0u);
  // The largest datagram that fits is rebuilt.
  const size_t fits = v6 ? 65535 - 8 : 65535 - 20;  // hop-by-hop header / IPv4 header
  const Bytes seg = tcp_segment(v6, std::string(fits - 20, 'y'));
  ASSERT_EQ(seg.size(), fits);
  EXPECT_FALSE(h.feed(fragment(v6, seg, 0, 32768, true, 9)));
  const auto whole = h.feed(fragment(v6, seg, 32768, seg.size(), false, 9));
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->size(), fits - 20);
  EXPECT_EQ(h.count(DefragCounter::kTooLarge), 1u);
}

TEST(Defragmenter, TinyFragmentsAreCounted) {
  const Bytes seg = tcp_segment(false, kPayload);
  Harness h;
  h.feed(fragment(false, seg, 0, 16, true));  // splits the TCP header
  h.feed(fragment(false, seg, 16, 24, true));
  EXPECT_EQ(h.count(DefragCounter::kTiny), 2u);
}

TEST(Defragmenter, IncompleteDatagramsExpire) {
  const Bytes seg = tcp_segment(false, kPayload);
  Harness h({.timeout = std::chrono::seconds(5)});
  h.feed(fragment(false, seg, 0, 32, true), 1'000'000'000);
  EXPECT_GT(h.count(DefragCounter::kMemoryBytes), 0u);
  h.defrag.expire(core::timestamp_from_ns(7'000'000'000));
  EXPECT_EQ(h.count(DefragCounter::kTimeouts), 1u);
  EXPECT_EQ(h.count(DefragCounter::kMemoryBytes), 0u);
  // The rest of the datagram, late, cannot complete it.
  EXPECT_FALSE(h.feed(fragment(false, seg, 32, seg.size(), false), 7'000'000'000));
}

TEST(Defragmenter, DatagramsWithOtherIdsDoNotMix) {
  const Bytes seg = tcp_segment(false, kPayload);
  Harness h;
  EXPECT_FALSE(h.feed(fragment(false, seg, 0, 32, true, 1)));
  EXPECT_FALSE(h.feed(fragment(false, seg, 32, seg.size(), false, 2)));
  EXPECT_TRUE(h.feed(fragment(false, seg, 32, seg.size(), false, 1)));
}

TEST(Defragmenter, TooManyFragmentsGiveTheDatagramUp) {
  const Bytes seg = tcp_segment(false, std::string(400, 'p'));
  Harness h({.max_fragments = 4});
  for (size_t at = 0; at + 8 < seg.size(); at += 8) h.feed(fragment(false, seg, at, at + 8, true));
  EXPECT_EQ(h.count(DefragCounter::kTooManyFragments), 1u);
  EXPECT_FALSE(h.feed(fragment(false, seg, seg.size() / 8 * 8, seg.size(), false)));
}

// A datagram cut into 8-byte pieces (here 201, in reverse order) is reassembled as a host would,
// and counted: giving it up would let it through uninspected.
TEST(Defragmenter, ADatagramOfHundredsOfTinyFragmentsIsReassembledAndCounted) {
  const std::string payload(1588, 'q');
  const Bytes seg = tcp_segment(false, payload);
  Harness h;
  std::vector<Bytes> pieces;
  for (size_t at = 0; at < seg.size(); at += 8) {
    const size_t to = std::min(seg.size(), at + 8);
    pieces.push_back(fragment(false, seg, at, to, to < seg.size()));
  }
  ASSERT_GT(pieces.size(), 200u);
  std::optional<std::string> whole;
  for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) whole = h.feed(*it);
  ASSERT_TRUE(whole);
  EXPECT_EQ(*whole, payload);
  EXPECT_EQ(h.count(DefragCounter::kManyFragments), 1u);
  EXPECT_EQ(h.count(DefragCounter::kTooManyFragments), 0u);
}

TEST(Defragmenter, MemcapBoundsHeldBytes) {
  Harness h({.memcap = 65536});
  const Bytes seg = tcp_segment(false, std::string(1400, 'm'));
  for (uint32_t id = 0; id < 100; ++id) h.feed(fragment(false, seg, 0, 1000, true, id));
  EXPECT_LE(h.count(DefragCounter::kMemoryBytes), 65536u + 100 * 20);
  EXPECT_GT(h.count(DefragCounter::kMemcapDrops), 0u);
}

TEST(Defragmenter, NonFinalFragmentNotAMultipleOfEightIsInvalid) {
  const Bytes seg = tcp_segment(false, kPayload);
  Harness h;
  EXPECT_FALSE(h.feed(fragment(false, seg, 0, 30, true)));
  EXPECT_EQ(h.count(DefragCounter::kInvalid), 1u);
}

}  // namespace
}  // namespace spanguard::decode
