// Session table: hash lookup, creation with client/server inference, timer-wheel expiry, memory
// caps and emergency eviction.
#include "spanguard/flow/flow_table.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>
#include <random>

#include "spanguard/core/error.h"
#include "spanguard/core/log.h"

namespace spanguard::flow {

namespace {

namespace tf = decode::tcp_flag;
using std::chrono::duration_cast;

constexpr core::Param kOverrideFields[] = {
    {.name = "ports",
     .type = core::ParamType::kStringList,
     .default_value = "[]",
     .help = "ports or ranges (\"22\", \"5060:5070\") of either endpoint; empty: any"},
    {.name = "networks",
     .type = core::ParamType::kStringList,
     .default_value = "[]",
     .help = "CIDR networks holding either endpoint; empty: any"},
    {.name = "new",
     .type = core::ParamType::kDuration,
     .default_value = "",
     .help = "TCP before establishment"},
    {.name = "established",
     .type = core::ParamType::kDuration,
     .default_value = "",
     .help = "established TCP"},
    {.name = "closing",
     .type = core::ParamType::kDuration,
     .default_value = "",
     .help = "TCP after a FIN"},
    {.name = "closed",
     .type = core::ParamType::kDuration,
     .default_value = "",
     .help = "TCP after close"},
    {.name = "udp", .type = core::ParamType::kDuration, .default_value = "", .help = "UDP"},
    {.name = "icmp", .type = core::ParamType::kDuration, .default_value = "", .help = "ICMP"},
    {.name = "other",
     .type = core::ParamType::kDuration,
     .default_value = "",
     .help = "other protocols"},
    {.name = "idle_action",
     .type = core::ParamType::kEnum,
     .default_value = "none",
     .help = "at the idle timeout: none; report (a flow record with idle_action, even with "
             "flow.records off); reset (TCP: RST to both ends, then the record)",
     .choices = "none|report|reset"},
};

constexpr core::Param kParams[] = {
    {.name = "memcap",
     .type = core::ParamType::kBytes,
     .default_value = "1GiB",
     .help = "Memory the session table may use per worker (flow state; stream buffers have their "
             "own cap)",
     .min = 1 << 20},
    {.name = "max_flows",
     .type = core::ParamType::kInt,
     .default_value = "1000000",
     .help = "Concurrent flows per worker",
     .min = 16,
     .max = 100000000},
    {.name = "vlan_aware",
     .type = core::ParamType::kBool,
     .default_value = "true",
     .help = "Keep flows on different VLANs apart even when their addresses and ports match"},
    {.name = "records",
     .type = core::ParamType::kEnum,
     .default_value = "auto",
     .help = "Emit a flow record (EVE event_type flow) when each flow ends; auto: on for replay, "
             "off for live capture",
     .choices = "auto|yes|no"},
    {.name = "timeout.new",
     .type = core::ParamType::kDuration,
     .default_value = "30s",
     .help = "Idle timeout of TCP flows before the handshake completes",
     .min = 0.1},
    {.name = "timeout.established",
     .type = core::ParamType::kDuration,
     .default_value = "1h",
     .help = "Idle timeout of established TCP sessions",
     .min = 0.1},
    {.name = "timeout.closing",
     .type = core::ParamType::kDuration,
     .default_value = "2m",
     .help = "Idle timeout of TCP sessions after a FIN",
     .min = 0.1},
    {.name = "timeout.closed",
     .type = core::ParamType::kDuration,
     .default_value = "10s",
     .help = "How long a closed TCP session is kept (late retransmissions, kill watch)",
     .min = 0.1},
    {.name = "timeout.udp",
     .type = core::ParamType::kDuration,
     .default_value = "1m",
     .help = "Idle timeout of UDP flows",
     .min = 0.1},
    {.name = "timeout.icmp",
     .type = core::ParamType::kDuration,
     .default_value = "30s",
     .help = "Idle timeout of ICMP flows",
     .min = 0.1},
    {.name = "timeout.other",
     .type = core::ParamType::kDuration,
     .default_value = "1m",
     .help = "Idle timeout of flows of other IP protocols",
     .min = 0.1},
    {.name = "timeout_overrides",
     .type = core::ParamType::kRecordList,
     .default_value = "[]",
     .help = "Timeouts for flows to some ports and/or networks (first match wins), e.g. "
             "[{ports: [\"1521\"], networks: [\"198.51.100.0/24\"], established: 8h}]",
     .fields = kOverrideFields},
    {.name = "emergency.high_water",
     .type = core::ParamType::kInt,
     .default_value = "90",
     .help = "Enter emergency mode when the table is this full (percent of max_flows or memcap)",
     .min = 10,
     .max = 100},
    {.name = "emergency.low_water",
     .type = core::ParamType::kInt,
     .default_value = "70",
     .help = "Leave emergency mode below this fill (percent)",
     .min = 1,
     .max = 99},
    {.name = "emergency.timeout.new",
     .type = core::ParamType::kDuration,
     .default_value = "5s",
     .help = "Emergency timeout of TCP flows before establishment",
     .min = 0.1},
    {.name = "emergency.timeout.established",
     .type = core::ParamType::kDuration,
     .default_value = "5m",
     .help = "Emergency timeout of established TCP sessions",
     .min = 0.1},
    {.name = "emergency.timeout.closing",
     .type = core::ParamType::kDuration,
     .default_value = "10s",
     .help = "Emergency timeout of closing TCP sessions",
     .min = 0.1},
    {.name = "emergency.timeout.other",
     .type = core::ParamType::kDuration,
     .default_value = "5s",
     .help = "Emergency timeout of closed TCP, UDP, ICMP and other flows",
     .min = 0.1},
};

constexpr core::ParamSection kSection{"flow", "Session table", kParams};

constexpr core::CounterDef kCounterDefs[] = {
    {"created", "flows created"},
    {"active", "flows in the table"},
    {"ended.closed", "flows ended after a TCP close"},
    {"ended.timeout", "flows ended idle"},
    {"ended.reused", "TCP sessions ended by a new SYN on their 4-tuple"},
    {"ended.evicted", "flows evicted to make room"},
    {"ended.shutdown", "flows ended at the end of capture"},
    {"no_room", "packets of new flows not tracked: the table was full of established flows"},
    {"emergency.entered", "times the table entered emergency mode"},
    {"emergency.left", "times the table left emergency mode"},
    {"memory_bytes", "memory held by flows"},
    {"tcp.midstream", "TCP flows picked up mid-stream"},
    {"tcp.midstream_ignored", "TCP packets of unknown sessions ignored (stream.midstream off)"},
    {"tcp.invalid", "TCP segments far outside the window: not inspected"},
    {"tcp.rst_ignored", "RSTs outside the window: the session stays tracked"},
    {"tcp.ttl_evasion",
     "TCP segments whose TTL fell more than stream.ttl_limit below their sender's handshake TTL: "
     "they may not reach the receiver, so they are neither tracked nor reassembled"},
    {"tcp.paws_stale",
     "TCP segments with a timestamp older than their receiver recorded (RFC 7323 PAWS): the "
     "receiver drops them, so they are neither tracked nor reassembled"},
    {"tcp.unconfirmed",
     "TCP segments beyond the receiver's last window the mirror showed, in sequence with their "
     "sender (the mirror lost ACKs): reassembled once acknowledged"},
    {"not_tracked", "packets without a layer-4 header to key a flow on"},
};
static_assert(std::size(kCounterDefs) == static_cast<size_t>(FlowCounter::kCount));
constexpr core::CounterGroup kCounterGroup{"flow", kCounterDefs};

constexpr int64_t kTickNs = 100'000'000;  // 100 ms
constexpr size_t kWheelSlots = 1 << 16;   // ~109 minutes; longer expiries are re-filed on the way

int64_t tick_of(core::Timestamp t) { return core::to_ns(t) / kTickNs; }

Timeouts read_timeouts(const core::Config& c, const std::string& prefix) {
  Timeouts t;
  t.new_ = c.get(prefix + "new").as_duration();
  t.established = c.get(prefix + "established").as_duration();
  t.closing = c.get(prefix + "closing").as_duration();
  if (prefix == "flow.timeout.") {
    t.closed = c.get(prefix + "closed").as_duration();
    t.udp = c.get(prefix + "udp").as_duration();
    t.icmp = c.get(prefix + "icmp").as_duration();
    t.other = c.get(prefix + "other").as_duration();
  } else {
    t.closed = t.udp = t.icmp = t.other = c.get(prefix + "other").as_duration();
  }
  return t;
}

std::pair<uint16_t, uint16_t> parse_port_range(const std::string& text, const std::string& key) {
  auto number = [&](std::string_view s) {
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v > 65535) {
      throw core::ConfigError(key + ": '" + text +
                              "' is not a port or a port range (\"22\", "
                              "\"5060:5070\")");
    }
    return static_cast<uint16_t>(v);
  };
  const auto colon = text.find(':');
  if (colon == std::string::npos) {
    const uint16_t p = number(text);
    return {p, p};
  }
  const uint16_t lo = number(std::string_view(text).substr(0, colon));
  const uint16_t hi = number(std::string_view(text).substr(colon + 1));
  if (lo > hi) throw core::ConfigError(key + ": range '" + text + "' is empty");
  return {lo, hi};
}

}  // namespace

const char* to_string(EndReason r) {
  switch (r) {
    case EndReason::kClosed:
      return "closed";
    case EndReason::kTimeout:
      return "timeout";
    case EndReason::kReused:
      return "reused";
    case EndReason::kEvicted:
      return "evicted";
    case EndReason::kShutdown:
      return "shutdown";
  }
  return "unknown";
}

const core::ParamSection& flow_params() { return kSection; }
const core::CounterGroup& FlowTable::counter_group() { return kCounterGroup; }

FlowOptions flow_options(const core::Config& c) {
  FlowOptions o;
  o.memcap = c.get("flow.memcap").as_bytes();
  o.max_flows = static_cast<uint32_t>(c.get("flow.max_flows").as_int());
  o.vlan_aware = c.get("flow.vlan_aware").as_bool();
  o.midstream = c.get("stream.midstream").as_bool();
  o.ttl_limit = static_cast<uint8_t>(c.get("stream.ttl_limit").as_int());
  o.timeouts = read_timeouts(c, "flow.timeout.");
  o.emergency_timeouts = read_timeouts(c, "flow.emergency.timeout.");
  o.emergency_high_percent = static_cast<uint32_t>(c.get("flow.emergency.high_water").as_int());
  o.emergency_low_percent = static_cast<uint32_t>(c.get("flow.emergency.low_water").as_int());
  if (o.emergency_low_percent >= o.emergency_high_percent) {
    throw core::ConfigError("flow.emergency.low_water: must be below flow.emergency.high_water (" +
                            std::to_string(o.emergency_high_percent) + ")");
  }
  const auto& records = c.get("flow.timeout_overrides").as_records();
  for (size_t i = 0; i < records.size(); ++i) {
    const core::ConfigRecord& r = records[i];
    const std::string key = "flow.timeout_overrides[" + std::to_string(i) + "]";
    TimeoutOverride ov;
    ov.timeouts = o.timeouts;
    if (r.has("ports")) {
      for (const std::string& p : r.get("ports").as_strings()) {
        ov.ports.push_back(parse_port_range(p, key + ".ports"));
      }
    }
    if (r.has("networks")) {
      for (const std::string& n : r.get("networks").as_strings()) {
        const auto net = core::IpNetwork::parse(n);
        if (!net) throw core::ConfigError(key + ".networks: '" + n + "' is not a CIDR network");
        ov.networks.push_back(*net);
      }
    }
    if (ov.ports.empty() && ov.networks.empty()) {
      throw core::ConfigError(key + ": give ports, networks or both");
    }
    const std::pair<const char*, core::Duration Timeouts::*> fields[] = {
        {"new", &Timeouts::new_},        {"established", &Timeouts::established},
        {"closing", &Timeouts::closing}, {"closed", &Timeouts::closed},
        {"udp", &Timeouts::udp},         {"icmp", &Timeouts::icmp},
        {"other", &Timeouts::other}};
    for (const auto& [name, member] : fields) {
      if (r.has(name)) ov.timeouts.*member = r.get(name).as_duration();
    }
    if (r.has("idle_action")) {
      const std::string& action = r.get("idle_action").as_string();
      ov.idle_action = action == "report"  ? IdleAction::kReport
                       : action == "reset" ? IdleAction::kReset
                                           : IdleAction::kNone;
    }
    o.overrides.push_back(std::move(ov));
  }
  if (o.overrides.size() > 254)
    throw core::ConfigError("flow.timeout_overrides: at most 254 entries");
  return o;
}

bool flow_records_enabled(const core::Config& c, bool live_capture) {
  const std::string& mode = c.get("flow.records").as_string();
  return mode == "yes" || (mode == "auto" && !live_capture);
}

FlowTable::FlowTable(const FlowOptions& options, FlowEndHandler* on_end)
    : options_(options),
      on_end_(on_end),
      seed_(std::random_device{}() * 0x9e3779b97f4a7c15ULL ^ std::random_device{}()),
      counters_(kCounterGroup) {
  const size_t buckets = std::bit_ceil(std::max<size_t>(options_.max_flows, 1024));
  buckets_.assign(buckets, nullptr);
  bucket_mask_ = buckets - 1;
  wheel_.assign(kWheelSlots, nullptr);
}

FlowTable::~FlowTable() { flush_all(); }

Flow* FlowTable::allocate() {
  if (free_ == nullptr) {
    // Grow the pool in chunks: no allocation per flow in steady state, and freed flows are reused.
    constexpr size_t kChunk = 1024;
    pool_.push_back(std::make_unique<Flow[]>(kChunk));
    Flow* chunk = pool_.back().get();
    for (size_t i = 0; i < kChunk; ++i) {
      chunk[i].hash_next = free_;
      free_ = &chunk[i];
    }
    counters_.set(FlowCounter::kMemoryBytes, pool_.size() * kChunk * sizeof(Flow) +
                                                 buckets_.size() * sizeof(Flow*) +
                                                 wheel_.size() * sizeof(Flow*));
  }
  Flow* f = free_;
  free_ = f->hash_next;
  f->hash_next = nullptr;
  return f;
}

Flow* FlowTable::lookup(const FlowKey& key, uint64_t hash) const {
  for (Flow* f = buckets_[hash & bucket_mask_]; f != nullptr; f = f->hash_next) {
    if (f->key == key) return f;
  }
  return nullptr;
}

void FlowTable::unlink_hash(Flow* f) {
  Flow** link = &buckets_[hash_flow_key(f->key, seed_) & bucket_mask_];
  while (*link != f) link = &(*link)->hash_next;
  *link = f->hash_next;
  f->hash_next = nullptr;
}

void FlowTable::wheel_insert(Flow* f, core::Timestamp expiry) {
  // Never the slot being processed (or one behind it): the earliest is the next tick.
  int64_t tick = std::max(tick_of(expiry), wheel_tick_ + 1);
  tick = std::min<int64_t>(tick, wheel_tick_ + static_cast<int64_t>(kWheelSlots) - 1);
  const auto slot = static_cast<size_t>(tick) & (kWheelSlots - 1);
  f->wheel_tick = tick;
  f->wheel_prev = nullptr;
  f->wheel_next = wheel_[slot];
  if (wheel_[slot]) wheel_[slot]->wheel_prev = f;
  wheel_[slot] = f;
}

void FlowTable::wheel_remove(Flow* f) {
  if (f->wheel_prev) {
    f->wheel_prev->wheel_next = f->wheel_next;
  } else {
    wheel_[static_cast<size_t>(f->wheel_tick) & (kWheelSlots - 1)] = f->wheel_next;
  }
  if (f->wheel_next) f->wheel_next->wheel_prev = f->wheel_prev;
  f->wheel_prev = f->wheel_next = nullptr;
}

void FlowTable::young_remove(Flow* f) {
  if (!f->young) return;
  (f->young_prev ? f->young_prev->young_next : young_head_) = f->young_next;
  (f->young_next ? f->young_next->young_prev : young_tail_) = f->young_prev;
  f->young = false;
  f->young_prev = f->young_next = nullptr;
}

void FlowTable::release(Flow* f, EndReason reason) {
  if (on_end_) on_end_->on_flow_end(*f, reason);
  static constexpr FlowCounter kEnded[] = {FlowCounter::kEndedClosed, FlowCounter::kEndedTimeout,
                                           FlowCounter::kEndedReused, FlowCounter::kEndedEvicted,
                                           FlowCounter::kEndedShutdown};
  counters_.inc(kEnded[static_cast<size_t>(reason)]);
  unlink_hash(f);
  wheel_remove(f);
  young_remove(f);
  *f = Flow{};  // drops the later stages' per-flow state
  f->hash_next = free_;
  free_ = f;
  --active_;
  counters_.set(FlowCounter::kActive, active_);
  update_emergency();
}

bool FlowTable::expire_idle(Flow* f) {
  if (!f->closed && !emergency_ && f->is_tcp() && idle_action_of(*f) == IdleAction::kReset &&
      !f->reset && on_end_ != nullptr && on_end_->on_flow_idle_reset(*f)) {
    f->last_seen = now_;  // the closed-state timeout runs from the reset
    return false;
  }
  release(f, f->closed ? EndReason::kClosed : EndReason::kTimeout);
  return true;
}

core::Duration FlowTable::timeout_of(const Flow& f) const {
  const Timeouts& t =
      f.timeout_class == 0 ? options_.timeouts : options_.overrides[f.timeout_class - 1].timeouts;
  core::Duration d = t.other;
  switch (f.key.proto) {
    case decode::ip_proto::kTcp:
      switch (f.tcp.state()) {
        case TcpState::kSynSent:
        case TcpState::kSynReceived:
          d = t.new_;
          break;
        case TcpState::kEstablished:
          d = t.established;
          break;
        case TcpState::kClosing:
          d = t.closing;
          break;
        case TcpState::kClosed:
          d = t.closed;
          break;
      }
      break;
    case decode::ip_proto::kUdp:
      d = t.udp;
      break;
    case decode::ip_proto::kIcmp:
    case decode::ip_proto::kIcmpv6:
      d = t.icmp;
      break;
    default:
      d = t.other;
      break;
  }
  if (!emergency_) return d;
  const Timeouts& e = options_.emergency_timeouts;
  core::Duration cap = e.other;
  if (f.is_tcp()) {
    switch (f.tcp.state()) {
      case TcpState::kSynSent:
      case TcpState::kSynReceived:
        cap = e.new_;
        break;
      case TcpState::kEstablished:
        cap = e.established;
        break;
      case TcpState::kClosing:
        cap = e.closing;
        break;
      case TcpState::kClosed:
        cap = e.closed;
        break;
    }
  }
  return std::min(d, cap);
}

void FlowTable::update_emergency() {
  const uint64_t used_percent_flows = uint64_t{active_} * 100 / options_.max_flows;
  // The memory of flows in use, not memory_bytes: the pool never shrinks (freed flows are kept for
  // reuse), so a table that once filled its memcap would otherwise stay in emergency mode for good.
  const uint64_t in_use =
      (buckets_.size() + wheel_.size()) * sizeof(Flow*) + active_ * sizeof(Flow);
  const uint64_t used_percent_memory = in_use * 100 / std::max<uint64_t>(options_.memcap, 1);
  const uint64_t used = std::max(used_percent_flows, used_percent_memory);
  if (!emergency_ && used >= options_.emergency_high_percent) {
    emergency_ = true;
    refile_pending_ = true;
    counters_.inc(FlowCounter::kEmergencyEntered);
    // Rate-limited (with the line below): traffic hovering at the threshold would flap.
    core::log_limited("flow", spdlog::level::warn, "flow.emergency",
                      "session table {}% full ({} flows): emergency mode, shorter timeouts, "
                      "half-open flows evicted first",
                      used, active_);
  } else if (emergency_ && used < options_.emergency_low_percent) {
    emergency_ = false;
    counters_.inc(FlowCounter::kEmergencyLeft);
    core::log_limited("flow", spdlog::level::info, "flow.emergency",
                      "session table back to {}% ({} flows): emergency mode over", used, active_);
  }
}

bool FlowTable::make_room() {
  const auto full = [&] {
    return active_ >= options_.max_flows ||
           (free_ == nullptr &&
            counters_.get(FlowCounter::kMemoryBytes) + 1024 * sizeof(Flow) > options_.memcap);
  };
  if (!full()) return true;
  // Half-open flows go first, oldest first: a SYN flood displaces itself, not established sessions.
  while (full() && young_head_ != nullptr) release(young_head_, EndReason::kEvicted);
  return !full();
}

uint8_t FlowTable::timeout_class_of(const FlowKey& key) const {
  for (size_t i = 0; i < options_.overrides.size(); ++i) {
    const TimeoutOverride& o = options_.overrides[i];
    bool port_ok = o.ports.empty();
    for (const auto& [lo, hi] : o.ports) {
      port_ok = port_ok || (key.port[0] >= lo && key.port[0] <= hi) ||
                (key.port[1] >= lo && key.port[1] <= hi);
    }
    bool net_ok = o.networks.empty();
    for (const core::IpNetwork& n : o.networks) {
      for (const auto& addr : key.addr) {
        const core::IpAddress a =
            key.family == 4 ? core::IpAddress::v4(addr.data()) : core::IpAddress::v6(addr.data());
        net_ok = net_ok || n.contains(a);
      }
    }
    if (port_ok && net_ok) return static_cast<uint8_t>(i + 1);
  }
  return 0;
}

Flow* FlowTable::create(const FlowKey& key, uint64_t hash, const decode::PacketView& v,
                        bool source_is_first, Direction& dir) {
  if (!make_room()) {
    counters_.inc(FlowCounter::kNoRoom);
    return nullptr;
  }
  Flow* f = allocate();
  f->key = key;
  f->first_seen = f->last_seen = v.ts;
  // Deterministic across runs (same capture, same ids), distinct for sessions reusing a 4-tuple
  // even within one clock tick, and below 2^49 (< 10^15): JSON readers keep it exact, and a
  // shortest-round-trip printer writes it with at most 15 digits, never in exponent form
  // (Suricata's EVE parsers read flow_id as an integer).
  f->flow_id = (hash_flow_key(key, 0x5bd1e9955bd1e995ULL) ^
                static_cast<uint64_t>(core::to_ns(v.ts)) * 0x9e3779b97f4a7c15ULL ^
                ++flows_created_ * 0xc2b2ae3d27d4eb4fULL) &
               ((uint64_t{1} << 49) - 1);
  // Who is the client: the SYN's sender; the SYN-ACK's receiver; mid-stream, the side on the
  // ephemeral port when the other is a well-known one; otherwise whoever spoke first.
  bool sender_is_client = true;
  if (key.proto == decode::ip_proto::kTcp) {
    if (v.has_flag(tf::kSyn)) {
      sender_is_client = !v.has_flag(tf::kAck);
    } else if (v.src_port < 1024 && v.dst_port >= 1024) {
      sender_is_client = false;
    }
  }
  dir = sender_is_client ? Direction::kToServer : Direction::kToClient;
  f->client_is_first = source_is_first == sender_is_client;
  f->timeout_class = timeout_class_of(key);
  if (v.is_icmp()) {
    f->icmp_type = v.icmp_type;
    f->icmp_code = v.icmp_code;
  }
  if (f->is_tcp()) {
    f->tcp.start(v, dir);
    if (f->tcp.midstream()) counters_.inc(FlowCounter::kTcpMidstream);
  }
  if (!f->is_tcp() || f->tcp.state() != TcpState::kEstablished) {
    f->young = true;
    f->young_prev = young_tail_;
    (young_tail_ ? young_tail_->young_next : young_head_) = f;
    young_tail_ = f;
  }
  f->hash_next = buckets_[hash & bucket_mask_];
  buckets_[hash & bucket_mask_] = f;
  ++active_;
  counters_.inc(FlowCounter::kCreated);
  counters_.set(FlowCounter::kActive, active_);
  wheel_insert(f, v.ts + timeout_of(*f));
  update_emergency();
  return f;
}

PacketFlow FlowTable::process(const decode::PacketView& v) {
  PacketFlow r;
  if (!v.is_ip() || v.is_fragment) {
    counters_.inc(FlowCounter::kNotTracked);
    return r;
  }
  advance_time(v.ts);
  bool source_is_first = true;
  const FlowKey key = make_flow_key(v, options_.vlan_aware, source_is_first);
  const uint64_t hash = hash_flow_key(key, seed_);
  Flow* f = lookup(key, hash);
  const bool tcp = v.is_tcp();
  const bool syn_only = tcp && v.has_flag(tf::kSyn) && !v.has_flag(tf::kAck);

  if (f != nullptr) {
    // Idle past its timeout (not yet reached by the wheel): it ends here, exactly on time.
    if (v.ts - f->last_seen >= timeout_of(*f)) {
      if (expire_idle(f)) f = nullptr;
    } else if (syn_only && f->is_tcp() &&
               (f->tcp.state() == TcpState::kClosed || f->tcp.state() == TcpState::kClosing)) {
      // Ephemeral ports recur within seconds: a new SYN on a finished 4-tuple is a new session.
      release(f, EndReason::kReused);
      f = nullptr;
    }
  }
  if (f == nullptr) {
    if (tcp && !v.has_flag(tf::kSyn) && !options_.midstream) {
      counters_.inc(FlowCounter::kTcpMidstreamIgnored);
      return r;
    }
    Direction dir;
    f = create(key, hash, v, source_is_first, dir);
    if (f == nullptr) return r;
    r.created = true;
    r.dir = dir;
  } else {
    r.dir = (source_is_first == f->client_is_first) ? Direction::kToServer : Direction::kToClient;
  }
  r.flow = f;

  const int d = index(r.dir);
  f->last_seen = v.ts;
  ++f->packets[d];
  f->bytes[d] += v.wirelen;
  if (v.ip_proto == decode::ip_proto::kTcp) {
    f->tcp_flags[d] |= v.tcp_flags;
  } else if (d == 1 && f->packets[1] == 1 && v.is_icmp()) {
    f->icmp_reply_type = v.icmp_type;
    f->icmp_reply_code = v.icmp_code;
  }
  EndpointTrace& trace = f->endpoint[d];
  // A PPPoE frame's addresses are no use for injecting a plain IP frame (see PacketView::pppoe).
  if (v.eth_offset != decode::kAbsent && !v.pppoe) {
    std::memcpy(trace.peer_mac.data(), v.data + v.eth_offset, 6);
    std::memcpy(trace.mac.data(), v.data + v.eth_offset + 6, 6);
    trace.has_mac = true;
  }
  trace.vlan_count = v.vlan_count;
  std::copy(std::begin(v.vlan_ids), std::end(v.vlan_ids), trace.vlan_ids);
  std::copy(std::begin(v.vlan_tpids), std::end(v.vlan_tpids), trace.vlan_tpids);

  if (f->is_tcp() && tcp) {
    if (r.created) {
      r.tcp.deliver = v.payload_len > 0;
      r.tcp.payload_seq = v.seq + (v.has_flag(tf::kSyn) ? 1 : 0);
    } else {
      r.tcp = f->tcp.track(v, r.dir, options_.ttl_limit);
    }
    if (r.tcp.invalid) counters_.inc(FlowCounter::kTcpInvalid);
    if (r.tcp.rst_ignored) counters_.inc(FlowCounter::kTcpRstIgnored);
    if (r.tcp.paws_stale) counters_.inc(FlowCounter::kTcpPawsStale);
    if (r.tcp.unconfirmed) counters_.inc(FlowCounter::kTcpUnconfirmed);
    if (r.tcp.ttl_evasion) {
      counters_.inc(FlowCounter::kTcpTtlEvasion);
      core::log_limited("flow", spdlog::level::warn, "ttl-evasion",
                        "TCP segment with TTL {} where its sender's handshake had {} (limit "
                        "stream.ttl_limit {}): it may expire before its receiver; not reassembled "
                        "(TTL insertion evasion, or a route change)",
                        v.ttl, f->tcp.peer(r.dir).learned_ttl, options_.ttl_limit);
    }
    if (r.tcp.closed) f->closed = true;
    if (f->young && f->tcp.state() >= TcpState::kEstablished) young_remove(f);
  } else if (f->young && f->packets[0] > 0 && f->packets[1] > 0) {
    young_remove(f);  // a reply came: no longer half-open
  }
  // The responder's resets copy the endpoint's TTL: never one an inserting attacker chose.
  if (!r.tcp.ttl_evasion && !r.tcp.paws_stale) trace.ttl = v.ttl;
  refile_if_due_earlier(f);
  return r;
}

void FlowTable::refile_if_due_earlier(Flow* f) {
  // Filing is lazy while timeouts only grow; a shorter one (a close, an override, emergency mode)
  // must move the flow forward or it would outstay its timeout.
  const core::Timestamp expiry = f->last_seen + timeout_of(*f);
  if (tick_of(expiry) < f->wheel_tick) {
    wheel_remove(f);
    wheel_insert(f, expiry);
  }
}

void FlowTable::refile_all() {
  refile_pending_ = false;
  std::vector<Flow*> all;
  all.reserve(active_);
  for (Flow* head : wheel_) {
    for (Flow* f = head; f != nullptr; f = f->wheel_next) all.push_back(f);
  }
  for (Flow* f : all) refile_if_due_earlier(f);
}

void FlowTable::advance_time(core::Timestamp now) {
  if (refile_pending_) refile_all();
  if (now > now_) now_ = now;
  const int64_t target = tick_of(now_);
  if (wheel_tick_ < 0) {
    wheel_tick_ = target;
    return;
  }
  // A long quiet gap (or a jump in capture time) visits every slot once, not every tick.
  if (target - wheel_tick_ > static_cast<int64_t>(kWheelSlots)) {
    wheel_tick_ = target - static_cast<int64_t>(kWheelSlots);
  }
  while (wheel_tick_ < target) {
    ++wheel_tick_;
    const size_t slot = static_cast<size_t>(wheel_tick_) & (kWheelSlots - 1);
    Flow* f = wheel_[slot];
    wheel_[slot] = nullptr;
    while (f != nullptr) {
      Flow* next = f->wheel_next;
      f->wheel_prev = f->wheel_next = nullptr;
      const core::Timestamp expiry = f->last_seen + timeout_of(*f);
      if (expiry <= now_) {
        f->wheel_tick = wheel_tick_;  // detached: release() must not unlink it
        wheel_[slot] = f;
        if (!expire_idle(f)) {
          wheel_[slot] = nullptr;  // kept: refiled under its closed-state timeout
          wheel_insert(f, now_ + timeout_of(*f));
        }
      } else {
        wheel_insert(f, expiry);
      }
      f = next;
    }
  }
}

void FlowTable::flush_all() {
  for (size_t slot = 0; slot < wheel_.size(); ++slot) {
    while (wheel_[slot] != nullptr) {
      Flow* f = wheel_[slot];
      release(f, f->closed ? EndReason::kClosed : EndReason::kShutdown);
    }
  }
}

}  // namespace spanguard::flow
