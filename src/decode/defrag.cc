// Fragment reassembly per datagram, keyed as the receiving host keys it (RFC 791 §3.2: addresses,
// protocol and identification; RFC 8200 §4.5: addresses and identification).
#include "spanguard/decode/defrag.h"

#include <algorithm>
#include <cstring>

namespace spanguard::decode {

namespace {

constexpr core::Param kParams[] = {
    {.name = "overlap_policy",
     .type = core::ParamType::kEnum,
     .default_value = "bsd",
     .help = "Which bytes win when fragments overlap, as the protected hosts would decide; see "
             "include/spanguard/core/segment_list.h",
     .choices = core::kOverlapPolicyChoices},
    {.name = "timeout",
     .type = core::ParamType::kDuration,
     .default_value = "30s",
     .help = "How long the fragments of an incomplete datagram are kept",
     .min = 0.1,
     .max = 600},
    {.name = "memcap",
     .type = core::ParamType::kBytes,
     .default_value = "32MiB",
     .help = "Fragment bytes held per worker",
     .min = 65536},
    {.name = "max_fragments",
     .type = core::ParamType::kInt,
     .default_value = "8192",
     .help = "Fragments accepted per datagram; a datagram with more is given up uninspected. The "
             "default never gives up one a host would reassemble (8-byte pieces of 64 KiB): a "
             "lower limit is a way around detection",
     .min = 2,
     .max = 8192},
};
constexpr core::ParamSection kSection{"defrag", "IP defragmentation", kParams};

constexpr core::CounterDef kCounterDefs[] = {
    {"fragments", "IP fragments received"},
    {"reassembled", "datagrams rebuilt from fragments"},
    {"timeouts", "incomplete datagrams dropped after defrag.timeout"},
    {"overlaps", "fragments overlapping others of their datagram"},
    {"overlap_mismatch", "overlapping fragments carrying different bytes (evasion)"},
    {"tiny", "non-final fragments under 64 bytes, or first fragments splitting the TCP/UDP header"},
    {"too_many_fragments", "datagrams given up for exceeding defrag.max_fragments"},
    {"many_fragments",
     "datagrams of more than 128 fragments, reassembled and inspected (no stack sends them: an "
     "evasion attempt)"},
    {"memcap_drops", "fragments not kept because defrag.memcap was reached"},
    {"invalid", "fragments contradicting their datagram (length, end)"},
    {"memory_bytes", "fragment bytes held"},
    {"too_large",
     "datagrams whose fragments add up to more than an IP length field holds: no host rebuilds "
     "them, so neither does the sensor"},
};
static_assert(std::size(kCounterDefs) == static_cast<size_t>(DefragCounter::kCount));
constexpr core::CounterGroup kCounterGroup{"defrag", kCounterDefs};

constexpr uint32_t kTinyFragment = 64;
constexpr uint32_t kManyFragments = 128;

}  // namespace

const core::ParamSection& defrag_params() { return kSection; }
const core::CounterGroup& Defragmenter::counter_group() { return kCounterGroup; }

DefragOptions defrag_options(const core::Config& c) {
  DefragOptions o;
  o.policy = *core::parse_overlap_policy(c.get("defrag.overlap_policy").as_string());
  o.timeout = c.get("defrag.timeout").as_duration();
  o.memcap = c.get("defrag.memcap").as_bytes();
  o.max_fragments = static_cast<uint32_t>(c.get("defrag.max_fragments").as_int());
  return o;
}

Defragmenter::Defragmenter(const DefragOptions& options)
    : options_(options), counters_(kCounterGroup) {}

void Defragmenter::release(std::map<Key, Datagram>::iterator it) {
  memory_ -= std::min(memory_, it->second.data.memory() + it->second.header.size());
  counters_.set(DefragCounter::kMemoryBytes, memory_);
  datagrams_.erase(it);
}

void Defragmenter::expire(core::Timestamp now) {
  for (auto it = datagrams_.begin(); it != datagrams_.end();) {
    auto current = it++;
    if (now - current->second.first_seen >= options_.timeout) {
      if (!current->second.failed) counters_.inc(DefragCounter::kTimeouts);
      release(current);
    }
  }
}

std::optional<std::span<const uint8_t>> Defragmenter::add(const PacketView& v) {
  counters_.inc(DefragCounter::kFragments);
  // Incomplete datagrams are swept at most once a second of packet time, not per fragment.
  if (v.ts - last_sweep_ >= std::chrono::seconds(1)) {
    last_sweep_ = v.ts;
    expire(v.ts);
  }
  Key key{};
  key.family = v.ip_version;
  key.proto = v.ip_version == 4 ? v.ip_proto : 0;
  key.vlan = v.vlan_count > 0 ? v.vlan_ids[0] : 0;
  key.id = v.frag_id;
  const size_t alen = v.ip_version == 4 ? 4 : 16;
  const uint8_t* src = v.data + v.l3_offset + (v.ip_version == 4 ? 12 : 8);
  std::memcpy(key.src.data(), src, alen);
  std::memcpy(key.dst.data(), src + alen, alen);

  const uint32_t end = v.l3_offset + v.l3_len;
  const std::span<const uint8_t> bytes(v.data + v.frag_payload_offset, end - v.frag_payload_offset);
  if (v.more_fragments) {
    // RFC 791/8200: every fragment but the last carries a multiple of 8 bytes.
    if (bytes.size() % 8 != 0) {
      counters_.inc(DefragCounter::kInvalid);
      return std::nullopt;
    }
    const uint32_t transport_header = v.ip_proto == ip_proto::kTcp   ? 20
                                      : v.ip_proto == ip_proto::kUdp ? 8
                                                                     : 0;
    if (bytes.size() < kTinyFragment || (v.frag_offset == 0 && bytes.size() < transport_header)) {
      counters_.inc(DefragCounter::kTiny);
    }
  }

  auto [it, created] = datagrams_.try_emplace(key, store_);
  Datagram& d = it->second;
  if (created) d.first_seen = v.ts;
  if (d.failed) return std::nullopt;
  if (++d.fragments == kManyFragments + 1) counters_.inc(DefragCounter::kManyFragments);
  if (d.fragments > options_.max_fragments) {
    counters_.inc(DefragCounter::kTooManyFragments);
    memory_ -= std::min(memory_, d.data.memory());
    d.data.clear();
    d.failed = true;  // later fragments are ignored until the datagram times out
    return std::nullopt;
  }
  if (v.frag_offset == 0 && d.header.empty()) {
    const uint32_t header_end = v.ip_version == 4 ? v.frag_payload_offset : v.frag_header_offset;
    d.header.assign(v.data + v.l3_offset, v.data + header_end);
    memory_ += d.header.size();
    if (v.ip_version == 6) {
      // Find the field that names the fragment header, to splice it out of the chain.
      const uint32_t frag_at = v.frag_header_offset - v.l3_offset;
      uint8_t type = d.header[6];
      uint32_t field = 6, pos = 40;
      while (pos < frag_at) {
        const uint32_t len =
            type == 51 ? (d.header[pos + 1] + 2u) * 4 : (d.header[pos + 1] + 1u) * 8;
        field = pos;
        type = d.header[pos];
        pos += len;
      }
      d.next_header_at = field;
      d.next_header = v.ip_proto;
    }
  }
  const uint64_t start = v.frag_offset;
  if (!v.more_fragments) {
    const uint64_t total = start + bytes.size();
    if ((d.total && *d.total != total) || (!d.data.empty() && d.data.back().end > total)) {
      counters_.inc(DefragCounter::kInvalid);
      return std::nullopt;
    }
    d.total = total;
  } else if (d.total && start + bytes.size() > *d.total) {
    counters_.inc(DefragCounter::kInvalid);
    return std::nullopt;
  }
  const uint64_t before = d.data.memory();
  const core::SegmentList::InsertResult r = d.data.insert(
      start, bytes, options_.policy, options_.memcap - std::min(options_.memcap, memory_));
  memory_ = memory_ + d.data.memory() - before;
  counters_.set(DefragCounter::kMemoryBytes, memory_);
  if (r.overlapped) counters_.inc(DefragCounter::kOverlaps);
  if (r.mismatch) counters_.inc(DefragCounter::kOverlapMismatch);
  if (r.refused > 0) counters_.inc(DefragCounter::kMemcapDrops);

  if (!d.total || d.header.empty() || d.data.contiguous_end(0) < *d.total) return std::nullopt;
  // IPv4's total length counts the header, IPv6's payload length the extension headers: either
  // is 16 bits, and a datagram beyond it is dropped by its receiver (Suricata's
  // FRAG_PKT_TOO_LARGE). Rebuilding it would wrap the length field.
  const uint64_t length_field =
      key.family == 4 ? d.header.size() + *d.total : d.header.size() - 40 + *d.total;
  if (length_field > 0xffff) {
    counters_.inc(DefragCounter::kTooLarge);
    release(it);
    return std::nullopt;
  }
  const std::span<const uint8_t> whole = build(key, d);
  counters_.inc(DefragCounter::kReassembled);
  release(it);
  return whole;
}

std::span<const uint8_t> Defragmenter::build(const Key& key, Datagram& d) {
  const uint64_t total = *d.total;
  output_.assign(d.header.begin(), d.header.end());
  output_.resize(d.header.size() + total);
  d.data.read(0, std::span(output_).subspan(d.header.size()));
  uint8_t* ip = output_.data();
  if (key.family == 4) {
    const auto length = static_cast<uint16_t>(output_.size());
    ip[2] = static_cast<uint8_t>(length >> 8);
    ip[3] = static_cast<uint8_t>(length);
    ip[6] &= 0x40;  // keep DF, clear MF and the offset
    ip[7] = 0;
    ip[10] = ip[11] = 0;
    uint32_t sum = 0;
    for (size_t i = 0; i < d.header.size(); i += 2)
      sum += static_cast<uint32_t>(ip[i] << 8 | ip[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    ip[10] = static_cast<uint8_t>(~sum >> 8);
    ip[11] = static_cast<uint8_t>(~sum);
  } else {
    const auto payload = static_cast<uint16_t>(output_.size() - 40);
    ip[4] = static_cast<uint8_t>(payload >> 8);
    ip[5] = static_cast<uint8_t>(payload);
    ip[d.next_header_at] = d.next_header;
  }
  return output_;
}

}  // namespace spanguard::decode
