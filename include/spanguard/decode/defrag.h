// IP defragmentation (IPv4 and IPv6) ahead of flow lookup: fragments are held per datagram until it
// is whole, overlaps are decided by a target-based policy (spanguard/core/segment_list.h), and what
// evasion looks like — tiny fragments, overlaps that change bytes — is counted.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "spanguard/core/config.h"
#include "spanguard/core/counters.h"
#include "spanguard/core/segment_list.h"
#include "spanguard/core/time.h"
#include "spanguard/decode/packet_view.h"

namespace spanguard::decode {

struct DefragOptions {
  core::OverlapPolicy policy = core::OverlapPolicy::kBsd;
  core::Duration timeout = std::chrono::seconds(30);
  uint64_t memcap = 32ull << 20;
  uint32_t max_fragments = 8192;  // per datagram: 8-byte pieces of 64 KiB, what hosts accept
};

const core::ParamSection& defrag_params();
DefragOptions defrag_options(const core::Config& config);

enum class DefragCounter : uint16_t {
  kFragments,
  kReassembled,
  kTimeouts,
  kOverlaps,
  kOverlapMismatch,
  kTiny,
  kTooManyFragments,
  kManyFragments,
  kMemcapDrops,
  kInvalid,
  kMemoryBytes,
  kTooLarge,
  kCount
};

class Defragmenter {
 public:
  explicit Defragmenter(const DefragOptions& options);

  // Takes a fragment (view.is_fragment). When it completes its datagram, returns the whole IP
  // datagram (header fixed up: lengths, no fragment fields) for Decoder::decode_ip; the bytes stay
  // valid until the next call.
  std::optional<std::span<const uint8_t>> add(const PacketView& view);
  // Drops datagrams whose fragments stopped arriving.
  void expire(core::Timestamp now);

  const core::Counters<DefragCounter>& counters() const { return counters_; }
  static const core::CounterGroup& counter_group();

 private:
  struct Key {
    uint8_t family;
    uint8_t proto;  // IPv4 only (IPv6 identifies by addresses and id)
    uint16_t vlan;
    uint32_t id;
    std::array<uint8_t, 16> src, dst;
    auto operator<=>(const Key&) const = default;
  };
  struct Datagram {
    explicit Datagram(core::SegmentStore& store) : data(store) {}
    std::vector<uint8_t>
        header;  // IPv4 header, or IPv6 header + extensions before the fragment header
    uint32_t next_header_at = 0;  // IPv6: where in `header` the field naming the fragment header is
    uint8_t next_header = 0;      // IPv6: the protocol after the fragment header
    core::SegmentList data;
    std::optional<uint64_t> total;  // known once the last fragment arrived
    uint32_t fragments = 0;
    core::Timestamp first_seen{};
    bool failed = false;  // refused (too many fragments, inconsistent): dropped when it expires
  };
  void release(std::map<Key, Datagram>::iterator it);
  std::span<const uint8_t> build(const Key& key, Datagram& d);

  DefragOptions options_;
  core::SegmentStore store_;  // before the datagrams, whose fragments it holds
  std::map<Key, Datagram> datagrams_;
  uint64_t memory_ = 0;
  core::Timestamp last_sweep_{};
  std::vector<uint8_t> output_;
  core::Counters<DefragCounter> counters_;
};

}  // namespace spanguard::decode
