// Reset sending, kill watches and outcomes.
#include "spanguard/respond/responder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <optional>
#include <random>

#include "spanguard/detect/engine.h"

namespace spanguard::respond {

namespace tf = decode::tcp_flag;
using flow::Direction;
using flow::index;
using flow::opposite;

namespace {

constexpr core::Param kParams[] = {
    {.name = "enabled",
     .type = core::ParamType::kBool,
     .default_value = "true",
     .help = "Answer reject/drop rules with resets (false: such rules only alert)"},
    {.name = "interface",
     .type = core::ParamType::kString,
     .default_value = "\"\"",
     .help = "Interface resets are sent from (--inject-interface overrides; empty: the first "
             "capture interface). Mirror destination ports are often receive-only"},
    {.name = "layer",
     .type = core::ParamType::kInt,
     .default_value = "2",
     .help = "2: Ethernet frames to the victim's observed MAC with the observed VLAN tags; 3: raw "
             "IP, routed by the kernel",
     .min = 2,
     .max = 3},
    {.name = "mode",
     .type = core::ParamType::kEnum,
     .default_value = "rst",
     .help = "rst: RST+ACK to each end; fin: FIN+ACK (a graceful close)",
     .choices = "rst|fin"},
    {.name = "src_mac",
     .type = core::ParamType::kEnum,
     .default_value = "own",
     .help = "Source MAC of layer-2 resets: own (the injection interface's) or spoof (the "
             "impersonated endpoint's: a learning switch then moves that host's forwarding entry "
             "to the sensor's port)",
     .choices = "own|spoof"},
    {.name = "vlan",
     .type = core::ParamType::kEnum,
     .default_value = "mirror",
     .help = "802.1Q/QinQ tags of layer-2 resets: mirror (those observed on the flow, for a trunk "
             "injection port) or none (an access port)",
     .choices = "mirror|none"},
    {.name = "drop",
     .type = core::ParamType::kEnum,
     .default_value = "reset",
     .help = "What a `drop` rule does on a passive sensor: reset (alert + reset both ends) or "
             "alert-only",
     .choices = "reset|alert-only"},
    {.name = "max_per_flow",
     .type = core::ParamType::kInt,
     .default_value = "8",
     .help = "Most packets sent for one flow, kill-watch follow-ups included",
     .min = 1,
     .max = 1000},
    {.name = "max_per_second",
     .type = core::ParamType::kInt,
     .default_value = "10000",
     .help = "Most packets injected per second by the whole sensor (excess is counted, not sent)",
     .min = 1,
     .max = 10000000},
    {.name = "kill_watch",
     .type = core::ParamType::kDuration,
     .default_value = "500ms",
     .help = "How long a reset flow is watched: later packets are answered and the outcome "
             "(reset, silent, still_flowing) is reported when it ends",
     .min = 0.001,
     .max = 60},
    {.name = "follow_ups",
     .type = core::ParamType::kBool,
     .default_value = "true",
     .help = "During the kill watch, answer every later packet from a reset end (its challenge "
             "ACK above all) with a RST at seq = that packet's ack"},
    {.name = "ftp_data",
     .type = core::ParamType::kString,
     .default_value = "follow",
     .help = "A reset FTP control session: also reset its open data sessions and those it "
             "announced that open later (follow), or leave them (ignore)",
     .choices = "follow|ignore"},
    {.name = "icmp",
     .type = core::ParamType::kBool,
     .default_value = "false",
     .help = "Answer rejected UDP/ICMP/other traffic with ICMP destination unreachable to its "
             "sender (port unreachable for UDP, administratively prohibited otherwise)"},
    {.name = "keep_warm",
     .type = core::ParamType::kDuration,
     .default_value = "1ms",
     .help = "Live runs, while a rule in use or an idle policy may ask for resets: send a frame "
             "every switch drops (multicast source MAC) when the send path has idled this long, "
             "so that a rare trigger does not pay a cold send (~27 us after 30 ms idle); 0 = off",
     .min = 0,
     .max = 10},
};
constexpr core::ParamSection kSection{"respond", "Reset injection for reject/drop rules", kParams};

constexpr core::CounterDef kCounterDefs[] = {
    {"rst_sent", "spoofed RST segments sent"},
    {"fin_sent", "spoofed FIN segments sent"},
    {"icmp_sent", "ICMP destination-unreachable messages sent"},
    {"follow_ups", "kill-watch answers to later packets of a reset flow"},
    {"send_errors", "frames the kernel refused to send"},
    {"flow_limit", "packets not sent: respond.max_per_flow reached"},
    {"rate_limited", "packets not sent: respond.max_per_second reached"},
    {"unplannable", "resets not sent: the flow's sequence numbers were unknown"},
    {"no_link_address", "layer-2 resets not sent: no MAC address observed for the victim"},
    {"not_applicable", "reject verdicts no packet can answer (e.g. rejectdst on UDP)"},
    {"own_packets_seen", "injected packets that came back on the mirror (ignored)"},
    {"watches", "kill watches started (flows reset)"},
    {"outcome_reset", "ends a kill watch found reset"},
    {"outcome_silent", "ends a kill watch could not confirm (traffic toward them unanswered)"},
    {"outcome_still_flowing", "ends that kept sending after the last reset"},
    {"warm_ups", "dry-run frames that kept the send path warm"},
    {"ftp_data_followed", "FTP data sessions reset because their control session was"},
    {"idle_resets",
     "TCP sessions reset at their idle timeout (flow.timeout_overrides idle_action)"},
};
static_assert(std::size(kCounterDefs) == static_cast<size_t>(RespondCounter::kCount));
constexpr core::CounterGroup kCounterGroup{"respond", kCounterDefs};

enum class LatencyCounter : uint16_t { kSamples, kP50, kP99, kMax, kCount };
constexpr core::CounterDef kLatencyDefs[] = {
    {"latency_samples", "sends whose trigger-to-send latency was measured"},
    {"latency_p50_ns", "median trigger-to-send latency (capture timestamp to send return), ns"},
    {"latency_p99_ns", "99th percentile trigger-to-send latency, ns"},
    {"latency_max_ns", "largest trigger-to-send latency, ns"},
};
static_assert(std::size(kLatencyDefs) == static_cast<size_t>(LatencyCounter::kCount));
constexpr core::CounterGroup kLatencyGroup{"respond", kLatencyDefs};

// Packets seen from an end within this long after our last segment toward it were on their way
// before it arrived: they prove nothing about the outcome (endpoints within a few ms of the
// mirror).
constexpr int64_t kInFlightGraceNs = 5'000'000;
// How long a sent frame is recognised when it comes back on the mirror.
constexpr int64_t kOwnMemoryNs = 2'000'000'000;

int64_t wall_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// FNV-1a over the addresses and the first 16 bytes of layer 4: what identifies a frame we built,
// whatever TTL or link header it comes back with.
uint64_t signature(const uint8_t* l3, int version, const uint8_t* l4) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  };
  if (version == 4) {
    mix(l3 + 12, 8);
  } else {
    mix(l3 + 8, 32);
  }
  mix(l4, 16);
  return h | 1;  // never 0: 0 marks a free entry
}

}  // namespace

const core::ParamSection& respond_params() { return kSection; }

RespondOptions respond_options(const core::Config& config) {
  RespondOptions o;
  o.enabled = config.get("respond.enabled").as_bool();
  o.interface = config.get("respond.interface").as_string();
  o.layer = static_cast<int>(config.get("respond.layer").as_int());
  o.mode = config.get("respond.mode").as_string() == "fin" ? Mode::kFin : Mode::kRst;
  o.spoof_src_mac = config.get("respond.src_mac").as_string() == "spoof";
  o.reproduce_vlan = config.get("respond.vlan").as_string() == "mirror";
  o.drop_resets = config.get("respond.drop").as_string() == "reset";
  o.max_per_flow = static_cast<uint32_t>(config.get("respond.max_per_flow").as_int());
  o.max_per_second = static_cast<uint32_t>(config.get("respond.max_per_second").as_int());
  o.kill_watch = config.get("respond.kill_watch").as_duration();
  o.follow_ups = config.get("respond.follow_ups").as_bool();
  o.icmp = config.get("respond.icmp").as_bool();
  o.follow_ftp_data = config.get("respond.ftp_data").as_string() == "follow";
  o.keep_warm = config.get("respond.keep_warm").as_duration();
  return o;
}

bool responds_to(rules::Action action, const RespondOptions& options) {
  if (!options.enabled) return false;
  switch (action) {
    case rules::Action::kRejectSrc:
    case rules::Action::kRejectDst:
    case rules::Action::kRejectBoth:
      return true;
    case rules::Action::kDrop:
      return options.drop_resets;
    case rules::Action::kAlert:
    case rules::Action::kPass:
      return false;
  }
  return false;
}

bool any_rule_responds(const detect::DetectionEngine* engine, const RespondOptions& options) {
  if (engine == nullptr) return false;
  for (const detect::CompiledRule& r : engine->rules()) {
    if (responds_to(r.rule().action, options)) return true;
    const auto& filter = r.rule().rate_filter;  // a rate_filter may turn an alert into a reset
    if (filter && responds_to(filter->new_action, options)) return true;
  }
  return false;
}

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::kNotAttempted:
      return "not_attempted";
    case Outcome::kPending:
      return "pending";
    case Outcome::kReset:
      return "reset";
    case Outcome::kSilent:
      return "silent";
    case Outcome::kStillFlowing:
      return "still_flowing";
  }
  return "unknown";
}

// ---- LatencyHistogram ----

int LatencyHistogram::bucket(int64_t ns) {
  if (ns < 0) ns = 0;
  if (ns < 100'000) return static_cast<int>(ns / 100);
  if (ns < 10'000'000) return kFine + static_cast<int>((ns - 100'000) / 10'000);
  return kFine + kCoarse;
}

int64_t LatencyHistogram::upper_edge(int b) {
  if (b < kFine) return static_cast<int64_t>(b + 1) * 100;
  if (b < kFine + kCoarse) return 100'000 + static_cast<int64_t>(b - kFine + 1) * 10'000;
  return -1;  // overflow: the caller reports max()
}

void LatencyHistogram::record(int64_t ns) {
  buckets_[bucket(ns)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(ns, 0)), std::memory_order_relaxed);
  int64_t seen = max_.load(std::memory_order_relaxed);
  while (ns > seen && !max_.compare_exchange_weak(seen, ns, std::memory_order_relaxed)) {
  }
}

uint64_t LatencyHistogram::count_at_most(int64_t ns) const {
  uint64_t n = 0;
  for (int b = 0; b < kFine + kCoarse && upper_edge(b) <= ns; ++b) {
    n += buckets_[b].load(std::memory_order_relaxed);
  }
  return n;
}

int64_t LatencyHistogram::percentile(double p) const {
  const uint64_t n = count();
  if (n == 0) return 0;
  const auto rank = static_cast<uint64_t>(std::ceil(p * static_cast<double>(n)));
  uint64_t cumulative = 0;
  for (int b = 0; b < static_cast<int>(buckets_.size()); ++b) {
    cumulative += buckets_[b].load(std::memory_order_relaxed);
    if (cumulative >= std::max<uint64_t>(rank, 1)) {
      const int64_t edge = upper_edge(b);
      return edge < 0 ? max() : std::min(edge, max());
    }
  }
  return max();
}

// ---- RateLimiter ----

RateLimiter::RateLimiter(uint32_t per_second, uint32_t burst)
    : interval_ns_(1'000'000'000 / std::max<uint32_t>(per_second, 1)),
      tolerance_ns_(interval_ns_ * static_cast<int64_t>(std::max<uint32_t>(burst, 1) - 1)) {}

bool RateLimiter::allow(int64_t now_ns) {
  int64_t tat = theoretical_arrival_.load(std::memory_order_relaxed);
  for (;;) {
    const int64_t start = std::max(tat, now_ns);
    if (start - now_ns > tolerance_ns_) return false;
    if (theoretical_arrival_.compare_exchange_weak(tat, start + interval_ns_,
                                                   std::memory_order_relaxed)) {
      return true;
    }
  }
}

// ---- ResponseContext ----

ResponseContext::ResponseContext(RespondOptions options, InjectorFactory make_injector)
    : options_(std::move(options)),
      make_injector_(std::move(make_injector)),
      limiter_(options_.max_per_second, std::min<uint32_t>(options_.max_per_second, 64)) {}

void ResponseContext::collect(core::CounterSnapshot& out) const {
  core::Counters<LatencyCounter> c(kLatencyGroup);
  c.set(LatencyCounter::kSamples, latency_.count());
  c.set(LatencyCounter::kP50, static_cast<uint64_t>(latency_.percentile(0.50)));
  c.set(LatencyCounter::kP99, static_cast<uint64_t>(latency_.percentile(0.99)));
  c.set(LatencyCounter::kMax, static_cast<uint64_t>(latency_.max()));
  out.add(c.values());
}

// ---- Responder ----

struct Responder::Watch final : flow::FlowData {
  flow::Flow* flow = nullptr;
  const detect::CompiledRule* rule = nullptr;
  Direction trigger_dir = Direction::kToServer;
  uint64_t alert_seq = 0;
  core::Timestamp trigger_ts{};
  core::Timestamp deadline{};
  ResetSummary summary;
  // By direction of travel toward the end (index 0: the server).
  bool targeted[2] = {false, false};
  bool closed_by_end[2] = {false, false};      // it sent an RST (or, in FIN mode, a FIN) since
  bool unanswered[2] = {false, false};         // it sent after our last segment and got no answer
  bool toward_unanswered[2] = {false, false};  // data reached it after our last segment, no reply
  int64_t last_sent_ns[2] = {0, 0};            // packet time of our last segment toward it
  uint32_t last_seq[2] = {0, 0};               // and its sequence number
  uint32_t sent_total = 0;
  bool second_pending = false;
  Direction second_dir = Direction::kToServer;
  // Kill-watch answers due at the next flush, by end: one per end and batch, with the newest ack.
  std::optional<PlannedSegment> due[2];
  core::Timestamp due_cause[2]{};
  bool queued = false;  // in pending_
  bool running = false;
  Watch* prev = nullptr;
  Watch* next = nullptr;
};

const flow::SlotKey<Responder::Watch>& Responder::watch_slot() {
  static const flow::SlotKey<Watch> key("respond");
  return key;
}

Responder::Responder(ResponseContext& context, ResponseSink& sink)
    : context_(context),
      options_(context.options()),
      sink_(sink),
      injector_(context.make_injector()),
      // Offline runs are deterministic (the same capture gives the same resets pcap).
      id_state_(injector_->live()
                    ? (uint64_t{std::random_device{}()} << 32 | std::random_device{}()) | 1
                    : 0x9e3779b97f4a7c15ULL),
      counters_(kCounterGroup) {
  watch_slot();  // registered while stages are built
}

Responder::~Responder() = default;

const core::CounterGroup& Responder::counter_group() { return kCounterGroup; }

uint16_t Responder::next_ip_id() {
  // xorshift64: IPv4 ids that vary like a host's rather than a constant that fingerprints us.
  id_state_ ^= id_state_ << 13;
  id_state_ ^= id_state_ >> 7;
  id_state_ ^= id_state_ << 17;
  return static_cast<uint16_t>(id_state_ >> 24);
}

bool Responder::is_own(const decode::PacketView& v) {
  if (own_live_ == 0 || v.l4_offset == decode::kAbsent || v.l4_offset + 16 > v.caplen) return false;
  if (v.is_tcp()) {
    if (!v.has_flag(tf::kRst) && !v.has_flag(tf::kFin)) return false;
  } else if (!v.is_icmp()) {
    return false;
  }
  const uint64_t sig = signature(v.data + v.l3_offset, v.ip_version, v.data + v.l4_offset);
  const int64_t now = core::to_ns(v.ts);
  for (size_t i = 0; i < 4; ++i) {
    const OwnEntry& e = own_[(sig + i) & (own_.size() - 1)];
    if (e.signature == sig && e.expires_ns >= now) {
      counters_.inc(RespondCounter::kOwnPacketsSeen);
      return true;
    }
  }
  return false;
}

void Responder::remember_own(const uint8_t* l3, size_t l3_len, core::Timestamp cause) {
  const int version = l3[0] >> 4;
  const size_t ip_len = version == 4 ? 20 : 40;
  if (l3_len < ip_len + 16) return;
  const uint64_t sig = signature(l3, version, l3 + ip_len);
  const int64_t expires = core::to_ns(cause) + kOwnMemoryNs;
  // Four-way probe; the oldest entry of the four gives way.
  size_t victim = sig & (own_.size() - 1);
  for (size_t i = 0; i < 4; ++i) {
    const size_t at = (sig + i) & (own_.size() - 1);
    if (own_[at].signature == 0 || own_[at].expires_ns < own_[victim].expires_ns) victim = at;
  }
  if (own_[victim].signature == 0) ++own_live_;
  own_[victim] = {sig, expires};
}

bool Responder::build_link(const flow::Flow& f, Direction dir, LinkHeader& link) const {
  // The impersonated sender's frames carry the victim's MAC as their destination, and the tags
  // the victim's segment is on; failing that (one-sided flow), the victim's own frames.
  const flow::EndpointTrace& sender = f.endpoint[index(dir)];
  const flow::EndpointTrace& victim = f.endpoint[index(opposite(dir))];
  const flow::EndpointTrace* tags = nullptr;
  if (sender.has_mac) {
    link.dst = sender.peer_mac;
    link.src = options_.spoof_src_mac ? sender.mac : injector_->own_mac();
    tags = &sender;
  } else if (victim.has_mac) {
    link.dst = victim.mac;
    link.src = options_.spoof_src_mac ? victim.peer_mac : injector_->own_mac();
    tags = &victim;
  } else {
    return false;
  }
  link.vlan_count = 0;
  if (options_.reproduce_vlan) {
    link.vlan_count = tags->vlan_count;
    std::copy(std::begin(tags->vlan_ids), std::end(tags->vlan_ids), link.vlan_ids);
    std::copy(std::begin(tags->vlan_tpids), std::end(tags->vlan_tpids), link.vlan_tpids);
  }
  return true;
}

void Responder::record_latency(core::Timestamp cause) {
  if (!injector_->live()) return;
  context_.latency().record(wall_ns() - core::to_ns(cause));
}

bool Responder::admit(Watch& watch, core::Timestamp now) {
  if (watch.sent_total >= options_.max_per_flow) {
    counters_.inc(RespondCounter::kFlowLimit);
    return false;
  }
  if (!context_.rate_limiter().allow(core::to_ns(now))) {
    counters_.inc(RespondCounter::kRateLimited);
    return false;
  }
  return true;
}

bool Responder::send_segment(flow::Flow& f, const PlannedSegment& seg, core::Timestamp cause,
                             Watch& watch, bool follow_up) {
  if (!admit(watch, cause)) return false;
  LinkHeader link;
  const LinkHeader* link_ptr = nullptr;
  if (injector_->link_layer()) {
    if (!build_link(f, seg.dir, link)) {
      counters_.inc(RespondCounter::kNoLinkAddress);
      return false;
    }
    link_ptr = &link;
  }
  const int from = (seg.dir == Direction::kToServer) == f.client_is_first ? 0 : 1;
  TcpSegmentSpec spec;
  const auto address = [&f](int endpoint) {
    return f.key.family == 4 ? core::IpAddress::v4(f.key.addr[endpoint].data())
                             : core::IpAddress::v6(f.key.addr[endpoint].data());
  };
  spec.ip.src = address(from);
  spec.ip.dst = address(1 - from);
  const uint8_t ttl = f.endpoint[index(seg.dir)].ttl;
  spec.ip.ttl = ttl != 0 ? ttl : 64;
  spec.ip.ip_id = next_ip_id();
  spec.src_port = f.key.port[from];
  spec.dst_port = f.key.port[1 - from];
  spec.seq = seg.seq;
  spec.ack = seg.ack;
  spec.flags = seg.flags;
  spec.window = seg.window;
  const size_t n = build_tcp(link_ptr, spec, frame_);
  if (n == 0 || !injector_->send({frame_.data(), n}, cause)) {
    counters_.inc(RespondCounter::kSendErrors);
    return false;
  }
  // Latency is the race's figure: the first segment and every answer, not the deferred side.
  if (follow_up || watch.sent_total == 0) record_latency(cause);
  last_send_ns_ = wall_ns();
  const size_t l2 = link_header_length(link_ptr);
  remember_own(frame_.data() + l2, n - l2, cause);
  counters_.inc((seg.flags & tf::kRst) != 0 ? RespondCounter::kRstSent : RespondCounter::kFinSent);
  const int side = index(seg.dir);
  ++watch.sent_total;
  ++watch.summary.side[side].packets;
  if (follow_up) {
    ++watch.summary.side[side].follow_ups;
    counters_.inc(RespondCounter::kFollowUps);
  }
  watch.summary.attempted = true;
  watch.last_sent_ns[side] = core::to_ns(cause);
  watch.last_seq[side] = seg.seq;
  // Whatever reached this end is fresher than the deferred plan: the deferred one is moot.
  if (watch.second_pending && watch.second_dir == seg.dir) watch.second_pending = false;
  watch.unanswered[side] = false;
  watch.toward_unanswered[side] = false;
  return true;
}

bool Responder::send_icmp(const detect::AlertEvent& alert) {
  const decode::PacketView& v = *alert.packet;
  if (!v.is_ip()) return false;
  const flow::Flow* f = alert.flow;
  LinkHeader link;
  const LinkHeader* link_ptr = nullptr;
  if (injector_->link_layer()) {
    // Toward the offending packet's sender: its own MAC, its tags.
    if (v.eth_offset == decode::kAbsent) {
      counters_.inc(RespondCounter::kNoLinkAddress);
      return false;
    }
    std::memcpy(link.dst.data(), v.data + v.eth_offset + 6, 6);
    if (options_.spoof_src_mac) {
      std::memcpy(link.src.data(), v.data + v.eth_offset, 6);
    } else {
      link.src = injector_->own_mac();
    }
    if (options_.reproduce_vlan) {
      link.vlan_count = v.vlan_count;
      std::copy(std::begin(v.vlan_ids), std::end(v.vlan_ids), link.vlan_ids);
      std::copy(std::begin(v.vlan_tpids), std::end(v.vlan_tpids), link.vlan_tpids);
    }
    link_ptr = &link;
  }
  const bool udp = v.is_udp();
  const uint8_t code = v.ip_version == 4 ? (udp ? 3 : 13) : (udp ? 4 : 1);
  uint8_t ttl = 64;
  if (f != nullptr && f->endpoint[index(opposite(alert.dir))].ttl != 0) {
    ttl = f->endpoint[index(opposite(alert.dir))].ttl;
  }
  if (!context_.rate_limiter().allow(core::to_ns(v.ts))) {
    counters_.inc(RespondCounter::kRateLimited);
    return false;
  }
  const size_t n = build_icmp_unreachable(link_ptr, v, code, ttl, next_ip_id(), frame_);
  if (n == 0 || !injector_->send({frame_.data(), n}, v.ts)) {
    counters_.inc(RespondCounter::kSendErrors);
    return false;
  }
  record_latency(v.ts);
  last_send_ns_ = wall_ns();
  const size_t l2 = link_header_length(link_ptr);
  remember_own(frame_.data() + l2, n - l2, v.ts);
  counters_.inc(RespondCounter::kIcmpSent);
  return true;
}

std::optional<ResetSummary> Responder::respond(const detect::AlertEvent& alert) {
  if (alert.rule == nullptr || !responds_to(alert.action, options_)) return std::nullopt;
  if (alert.flow != nullptr && alert.flow->reset) return std::nullopt;  // one reset per flow
  const rules::Action action = alert.action;
  ResetSummary none;
  none.mode = options_.mode;

  if (alert.flow == nullptr || !alert.flow->is_tcp()) {
    none.tcp = false;
    if (!options_.icmp || alert.packet == nullptr) return none;
    if (action == rules::Action::kRejectDst) {
      counters_.inc(RespondCounter::kNotApplicable);  // an ICMP error goes to a sender only
      return none;
    }
    none.attempted = send_icmp(alert);
    return none;
  }

  auto& f = const_cast<flow::Flow&>(*alert.flow);
  const core::Timestamp cause = alert.packet != nullptr ? alert.packet->ts : f.last_seen;
  return start_reset(f, alert.rule, alert.dir, reset_targets(action, alert.dir), cause);
}

std::optional<ResetSummary> Responder::follow(flow::Flow& data, const detect::CompiledRule* rule,
                                              core::Timestamp cause) {
  if (!options_.enabled || !options_.follow_ftp_data || data.reset || !data.is_tcp()) {
    return std::nullopt;
  }
  counters_.inc(RespondCounter::kFtpDataFollowed);
  // The transfer dies whole, whichever end the control session's verdict named.
  return start_reset(data, rule, flow::Direction::kToServer,
                     reset_targets(rules::Action::kRejectBoth, flow::Direction::kToServer), cause,
                     ResetCause::kFtpData);
}

std::optional<ResetSummary> Responder::reset_idle(flow::Flow& f, core::Timestamp now) {
  if (!options_.enabled || f.reset || !f.is_tcp()) return std::nullopt;
  counters_.inc(RespondCounter::kIdleResets);
  return start_reset(f, nullptr, flow::Direction::kToServer,
                     reset_targets(rules::Action::kRejectBoth, flow::Direction::kToServer), now,
                     ResetCause::kIdleTimeout);
}

ResetSummary Responder::start_reset(flow::Flow& f, const detect::CompiledRule* rule,
                                    flow::Direction trigger_dir, const Targets& targets,
                                    core::Timestamp cause, ResetCause why) {
  f.data[watch_slot().id()] = std::make_unique<Watch>();
  Watch& w = *watch_slot().get(f);
  f.reset = true;
  counters_.inc(RespondCounter::kWatches);
  w.flow = &f;
  w.rule = rule;
  w.trigger_dir = trigger_dir;
  w.trigger_ts = cause;
  w.summary.mode = options_.mode;
  w.summary.cause = why;

  for (uint8_t i = 0; i < targets.count; ++i) {
    const int side = index(targets.order[i]);
    w.targeted[side] = true;
    w.summary.side[side].outcome = Outcome::kPending;
  }
  // The trigger's receiver (or the only target) now; the other end after flush(). A FIN close
  // goes to both ends at once, from the trigger's state: later state would already reflect the
  // ends' reactions to our first FIN (their own FIN, their ACK of ours).
  if (const auto seg = plan_segment(f.tcp, targets.order[0], options_.mode)) {
    send_segment(f, *seg, cause, w, false);
  } else {
    counters_.inc(RespondCounter::kUnplannable);
  }
  if (targets.count > 1 && options_.mode == Mode::kFin) {
    if (const auto seg = plan_segment(f.tcp, targets.order[1], options_.mode)) {
      send_segment(f, *seg, cause, w, false);
    } else {
      counters_.inc(RespondCounter::kUnplannable);
    }
  } else if (targets.count > 1) {
    w.second_pending = true;
    w.second_dir = targets.order[1];
    w.queued = true;
    pending_.push_back(&w);
  }
  w.deadline = cause + options_.kill_watch;
  w.running = true;
  w.prev = watch_tail_;
  if (watch_tail_ != nullptr) {
    watch_tail_->next = &w;
  } else {
    watch_head_ = &w;
  }
  watch_tail_ = &w;
  return w.summary;  // the deferred side shows as pending with no packets yet
}

void Responder::set_alert_seq(const flow::Flow& f, uint64_t seq) {
  if (auto* w = watch_slot().get(f); w != nullptr) {
    if (w->alert_seq == 0) w->alert_seq = seq;
  }
}

std::optional<ResetSummary> Responder::summary(const flow::Flow& f) const {
  const auto* w = watch_slot().get(f);
  if (w == nullptr) return std::nullopt;
  return w->summary;
}

void Responder::flush() {
  for (Watch* w : pending_) {
    if (w->queued) flush_one(*w);
  }
  pending_.clear();
}

void Responder::flush_one(Watch& w) {
  w.queued = false;
  int deferred_end = -1;
  if (w.second_pending) {
    w.second_pending = false;
    if (const auto seg = plan_segment(w.flow->tcp, w.second_dir, options_.mode)) {
      if (send_segment(*w.flow, *seg, w.trigger_ts, w, false)) deferred_end = index(seg->dir);
    } else {
      counters_.inc(RespondCounter::kUnplannable);
    }
  }
  for (int end = 0; end < 2; ++end) {
    if (!w.due[end]) continue;
    const PlannedSegment seg = *w.due[end];
    w.due[end].reset();
    if (end == deferred_end && seg.seq == w.last_seq[end]) continue;  // the same, sent just now
    if (!send_segment(*w.flow, seg, w.due_cause[end], w, true)) w.unanswered[end] = true;
  }
}

void Responder::on_packet(const decode::PacketView& v, flow::Flow* f, Direction dir) {
  if (watch_head_ != nullptr && watch_head_->deadline <= v.ts) expire(v.ts);
  if (f == nullptr || !f->reset || !v.is_tcp()) return;
  auto* w = watch_slot().get(*f);
  if (w == nullptr || !w->running) return;
  // The packet comes from the end that segments in opposite(dir) travel toward.
  const int end = index(opposite(dir));
  const int other = index(dir);
  const bool data = v.payload_len > 0 || v.has_flag(tf::kFin) || v.has_flag(tf::kSyn);
  if (v.has_flag(tf::kRst) || (options_.mode == Mode::kFin && v.has_flag(tf::kFin))) {
    w->closed_by_end[end] = true;
    return;
  }
  // A live end acknowledges data and a dead one resets: silence after data proves nothing.
  if (data && w->targeted[other] && w->summary.side[other].packets > 0) {
    w->toward_unanswered[other] = true;
  }
  w->toward_unanswered[end] = false;  // it answered what reached it
  if (!w->targeted[end]) return;
  // Sent before our last segment reached it (or in the same moment): proves nothing yet.
  const bool settled = core::to_ns(v.ts) - w->last_sent_ns[end] > kInFlightGraceNs;
  // In FIN mode the end's ACK of our FIN is the graceful close going as planned.
  const bool answer = options_.follow_ups && (options_.mode == Mode::kRst || data);
  if (answer) {
    if (const auto seg = plan_follow_up(v, dir)) {
      // Its ack is the seq we have just used: that RST is on its way, and a copy would only eat
      // respond.max_per_flow (a burst queued behind the trigger repeats the same ack).
      if (!settled && w->summary.side[end].packets > 0 && seg->seq == w->last_seq[end]) return;
      // Answered at the next flush, once per end and batch, at the newest RCV.NXT it announced:
      // a sensor that fell behind must not spend its budget on acks already overtaken.
      if (!w->due[end] || flow::seq_gt(seg->seq, w->due[end]->seq)) {
        w->due[end] = seg;
        w->due_cause[end] = v.ts;
      }
      if (!w->queued) {
        w->queued = true;
        pending_.push_back(w);
      }
      return;
    }
  }
  // An ack beyond the seq of our last RST toward it proves that RST was stale (RCV.NXT never moves
  // back), however soon after it the packet came.
  const bool stale = w->summary.side[end].packets > 0 && v.has_flag(tf::kAck) &&
                     flow::seq_gt(v.ack, w->last_seq[end]);
  if ((settled || stale) && (options_.mode == Mode::kRst || data)) w->unanswered[end] = true;
}

void Responder::end_watch(Watch& w, core::Timestamp now) {
  if (!w.running) return;
  w.running = false;
  (w.prev != nullptr ? w.prev->next : watch_head_) = w.next;
  (w.next != nullptr ? w.next->prev : watch_tail_) = w.prev;
  w.prev = w.next = nullptr;
  for (int side = 0; side < 2; ++side) {
    SideReport& r = w.summary.side[side];
    if (!w.targeted[side] || r.packets == 0) {
      r.outcome = Outcome::kNotAttempted;
    } else if (w.closed_by_end[side]) {
      r.outcome = Outcome::kReset;
    } else if (w.unanswered[side]) {
      r.outcome = Outcome::kStillFlowing;
    } else if (w.toward_unanswered[side]) {
      r.outcome = Outcome::kSilent;
    } else {
      r.outcome = Outcome::kReset;  // an exact RST, and nothing from it since
    }
    switch (r.outcome) {
      case Outcome::kReset:
        counters_.inc(RespondCounter::kOutcomeReset);
        break;
      case Outcome::kSilent:
        counters_.inc(RespondCounter::kOutcomeSilent);
        break;
      case Outcome::kStillFlowing:
        counters_.inc(RespondCounter::kOutcomeStillFlowing);
        break;
      default:
        break;
    }
  }
  ResetOutcomeEvent event;
  event.flow = w.flow;
  event.rule = w.rule;
  event.trigger_dir = w.trigger_dir;
  event.alert_seq = w.alert_seq;
  event.ts = now;
  event.summary = w.summary;
  sink_.on_reset_outcome(event);
}

void Responder::expire(core::Timestamp now) {
  while (watch_head_ != nullptr && watch_head_->deadline <= now) end_watch(*watch_head_, now);
}

void Responder::on_idle(core::Timestamp now) {
  flush();
  expire(now);
  if (armed_ && options_.keep_warm.count() > 0 && injector_->live()) {
    const int64_t t = wall_ns();
    if (t - last_send_ns_ >= options_.keep_warm.count()) {
      injector_->keep_warm();
      last_send_ns_ = t;
      counters_.inc(RespondCounter::kWarmUps);
    }
  }
}

void Responder::on_flow_end(const flow::Flow& f) {
  auto* w = watch_slot().get(f);
  if (w == nullptr) return;
  if (w->queued) {
    flush_one(*w);  // what was due goes out now, from the last state this flow will have
    std::erase(pending_, w);
  }
  end_watch(*w, f.last_seen);
}

void Responder::finish(core::Timestamp now) {
  flush();
  while (watch_head_ != nullptr) end_watch(*watch_head_, now);
}

}  // namespace spanguard::respond
