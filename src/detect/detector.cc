// Per-worker matching: Hyperscan nominates, header conditions filter, the verifier decides.
#include "spanguard/detect/detector.h"

#include <algorithm>
#include <optional>

#include "spanguard/core/time.h"
#include "spanguard/detect/transforms.h"

namespace spanguard::detect {

namespace {

constexpr core::CounterDef kCounterDefs[] = {
    {"packets", "packets inspected by packet and header rules"},
    {"stream_bytes", "reassembled stream bytes scanned"},
    {"candidates", "rules nominated by a fast pattern (or unprefiltered)"},
    {"verified", "candidates whose header held and that were verified"},
    {"alerts", "alerts raised"},
    {"noalert", "matches of noalert rules (flowbits set, no alert raised)"},
    {"thresholded", "matches whose alert threshold or detection_filter held back"},
    {"passed", "flows whose inspection a pass rule ended"},
    {"backtrack_limit", "verifications stopped by detect.backtrack_limit or PCRE2's limits"},
    {"scan_errors", "Hyperscan scan failures (the data was not inspected)"},
    {"streams", "Hyperscan streams opened (flow directions with payload)"},
    {"streams_released", "Hyperscan streams given back when their flow closed, was reset or ended"},
    {"streams_reused", "Hyperscan streams taken from the worker's pool instead of opened"},
    {"chunk_candidates", "anchored stream rules nominated on a delivered chunk of stream data"},
    {"suppressed", "matches a threshold.config suppress line kept from alerting"},
    {"rate_filtered", "matches whose action a threshold.config rate_filter changed"},
};
constexpr core::CounterGroup kCounterGroup{"detect", kCounterDefs};

// Detection state of one flow, in its "detect" slot.
class FlowDetect final : public flow::FlowData {
 public:
  struct DirectionState {
    hyperscan::Stream stream;
    std::vector<uint32_t> fired;  // rules that alerted in this direction
  };
  DirectionState dir[2];
  // Transaction rules that alerted, by (transaction, rule), until the transaction is done.
  std::vector<std::pair<uint64_t, uint32_t>> tx_fired;
  std::vector<uint16_t> flowbits;  // the flowbits set on this flow, by id, unordered
  std::vector<std::pair<uint16_t, uint32_t>> flowints;  // set flowints by id, unordered
  bool passed = false;
};

const flow::SlotKey<FlowDetect>& detect_slot() {
  static const flow::SlotKey<FlowDetect> key("detect");
  return key;
}

FlowDetect& flow_state(flow::Flow& f) { return detect_slot().get_or_create(f); }

FlowDetect* existing_state(const flow::Flow* f) {
  return f == nullptr ? nullptr : detect_slot().get(*f);
}

bool bit_set(const FlowDetect* state, uint16_t bit) {
  return state != nullptr &&
         std::find(state->flowbits.begin(), state->flowbits.end(), bit) != state->flowbits.end();
}

// isset / isnotset: every name (or, with '|', any of them) set / not set. A packet outside any
// flow has no flowbits.
bool flowbits_hold(const CompiledRule& cr, const FlowDetect* state) {
  for (const CompiledFlowbit& fb : cr.flowbits) {
    if (fb.cmd != rules::FlowbitOp::Cmd::kIsSet && fb.cmd != rules::FlowbitOp::Cmd::kIsNotSet)
      continue;
    const bool want = fb.cmd == rules::FlowbitOp::Cmd::kIsSet;
    bool any = false, all = true;
    for (const uint16_t bit : fb.bits) {
      const bool holds = bit_set(state, bit) == want;
      any = any || holds;
      all = all && holds;
    }
    if (!(fb.any ? any : all)) return false;
  }
  return true;
}

// set / unset / toggle, in rule order, once the rule matched.
void apply_flowbits(const CompiledRule& cr, FlowDetect& state) {
  for (const CompiledFlowbit& fb : cr.flowbits) {
    for (const uint16_t bit : fb.bits) {
      const auto it = std::find(state.flowbits.begin(), state.flowbits.end(), bit);
      const bool is_set = it != state.flowbits.end();
      const bool set = fb.cmd == rules::FlowbitOp::Cmd::kSet ||
                       (fb.cmd == rules::FlowbitOp::Cmd::kToggle && !is_set);
      const bool unset = fb.cmd == rules::FlowbitOp::Cmd::kUnset ||
                         (fb.cmd == rules::FlowbitOp::Cmd::kToggle && is_set);
      if (set && !is_set) state.flowbits.push_back(bit);
      if (unset && is_set) state.flowbits.erase(it);
    }
  }
}

// The store key an xbit refers to for a packet from `src` to `dst`.
XbitStore::Key xbit_key(const CompiledXbit& x, const core::IpAddress& src,
                        const core::IpAddress& dst) {
  switch (x.track) {
    case rules::XbitOp::Track::kIpSrc:
      return XbitStore::host(x.bit, src);
    case rules::XbitOp::Track::kIpDst:
      return XbitStore::host(x.bit, dst);
    case rules::XbitOp::Track::kIpPair:
      break;
  }
  return XbitStore::pair(x.bit, src, dst);
}

bool xbits_hold(const CompiledRule& cr, const XbitStore& store, const core::IpAddress& src,
                const core::IpAddress& dst, core::Timestamp now) {
  for (const CompiledXbit& x : cr.xbits) {
    if (x.cmd != rules::FlowbitOp::Cmd::kIsSet && x.cmd != rules::FlowbitOp::Cmd::kIsNotSet)
      continue;
    if (store.isset(xbit_key(x, src, dst), now) != (x.cmd == rules::FlowbitOp::Cmd::kIsSet))
      return false;
  }
  return true;
}

void apply_xbits(const CompiledRule& cr, XbitStore& store, const core::IpAddress& src,
                 const core::IpAddress& dst, core::Timestamp now) {
  for (const CompiledXbit& x : cr.xbits) {
    const XbitStore::Key k = xbit_key(x, src, dst);
    switch (x.cmd) {
      case rules::FlowbitOp::Cmd::kSet:
        store.set(k, now, x.lifetime);
        break;
      case rules::FlowbitOp::Cmd::kUnset:
        store.unset(k);
        break;
      case rules::FlowbitOp::Cmd::kToggle:
        store.toggle(k, now, x.lifetime);
        break;
      case rules::FlowbitOp::Cmd::kIsSet:
      case rules::FlowbitOp::Cmd::kIsNotSet:
        break;
    }
  }
}

bool suppressed(const rules::Rule& r, const core::IpAddress& src, const core::IpAddress& dst) {
  for (const rules::Suppression& s : r.suppressions) {
    switch (s.track) {
      case rules::Suppression::Track::kAll:
        return true;
      case rules::Suppression::Track::kSrc:
        if (s.addresses.contains(src)) return true;
        break;
      case rules::Suppression::Track::kDst:
        if (s.addresses.contains(dst)) return true;
        break;
      case rules::Suppression::Track::kEither:
        if (s.addresses.contains(src) || s.addresses.contains(dst)) return true;
        break;
    }
  }
  return false;
}

// The flowints of a rule that matched, in rule order: changes are made as they come, a comparison
// that fails ends the rule (what came before it stays done).
bool run_flowints(const CompiledRule& cr, FlowDetect& state) {
  const auto find = [&](uint16_t id) -> uint32_t* {
    for (auto& [k, v] : state.flowints) {
      if (k == id) return &v;
    }
    return nullptr;
  };
  for (const CompiledFlowint& f : cr.flowints) {
    uint32_t* var = find(f.id);
    if (f.op == rules::FlowintOp::Op::kIsSet || f.op == rules::FlowintOp::Op::kNotSet) {
      if ((var != nullptr) != (f.op == rules::FlowintOp::Op::kIsSet)) return false;
      continue;
    }
    uint32_t operand = f.value;
    if (f.value_id >= 0) {
      const uint32_t* other = find(static_cast<uint16_t>(f.value_id));
      if (other == nullptr) return false;  // an unset VALUE matches nothing
      operand = *other;
    }
    using Op = rules::FlowintOp::Op;
    switch (f.op) {
      case Op::kAdd:
      case Op::kSub:
      case Op::kSet: {
        if (var == nullptr) {
          state.flowints.emplace_back(f.id, 0);
          var = &state.flowints.back().second;
        }
        *var = f.op == Op::kSet ? operand : f.op == Op::kAdd ? *var + operand : *var - operand;
        break;
      }
      default: {
        if (var == nullptr) return false;
        const uint32_t x = *var;
        const bool holds = f.op == Op::kEq   ? x == operand
                           : f.op == Op::kNe ? x != operand
                           : f.op == Op::kLt ? x < operand
                           : f.op == Op::kLe ? x <= operand
                           : f.op == Op::kGt ? x > operand
                                             : x >= operand;
        if (!holds) return false;
      }
    }
  }
  return true;
}

constexpr uint64_t kMaxTxFired = 1024;

// The rule raised (or, noalert, would have raised) its alert: not again for this transaction, or
// for this flow direction.
void mark_fired(FlowDetect& state, const TransactionView* tx, flow::Direction dir, uint32_t rule) {
  if (tx != nullptr) {
    // Transactions end in order; one whose end was never seen (its response never came) is
    // forgotten once far behind, so that this list stays bounded.
    if (state.tx_fired.size() >= kMaxTxFired) {
      std::erase_if(state.tx_fired,
                    [&](const auto& e) { return e.first + kMaxTxFired < tx->tx_id; });
    }
    state.tx_fired.emplace_back(tx->tx_id, rule);
  } else
    state.dir[flow::index(dir)].fired.push_back(rule);
}

// ttl, tos, id, ip_proto, window, seq, ack, icmp_id, icmp_seq: fields of the packet at hand (a rule
// with any of them is a packet rule). A field the packet does not have does not match.
bool header_tests_hold(const rules::Rule& r, const decode::PacketView* p) {
  if (p == nullptr || !p->is_ip()) return false;
  for (const rules::HeaderTest& t : r.header_tests) {
    uint32_t v = 0;
    switch (t.field) {
      case rules::HeaderTest::Field::kTtl:
        v = p->ttl;
        break;
      case rules::HeaderTest::Field::kTos:
        // IPv4 TOS byte; IPv6 traffic class (4 bits of each of the first two bytes).
        v = p->ip_version == 4 ? p->data[p->l3_offset + 1]
                               : static_cast<uint32_t>((p->data[p->l3_offset] & 0x0f) << 4 |
                                                       p->data[p->l3_offset + 1] >> 4);
        break;
      case rules::HeaderTest::Field::kIpId:
        if (p->ip_version != 4) return false;
        v = p->ip_id;
        break;
      case rules::HeaderTest::Field::kIpProto:
        v = p->ip_proto;
        break;
      case rules::HeaderTest::Field::kWindow:
      case rules::HeaderTest::Field::kSeq:
      case rules::HeaderTest::Field::kAck:
        if (!p->is_tcp()) return false;
        v = t.field == rules::HeaderTest::Field::kWindow ? p->window
            : t.field == rules::HeaderTest::Field::kSeq  ? p->seq
                                                         : p->ack;
        break;
      case rules::HeaderTest::Field::kIcmpId:
      case rules::HeaderTest::Field::kIcmpSeq: {
        // Identifier and sequence number of echo requests and replies (ICMP and ICMPv6).
        const bool echo = p->is_icmp() && (p->ip_proto == decode::ip_proto::kIcmp
                                               ? p->icmp_type == 0 || p->icmp_type == 8
                                               : p->icmp_type == 128 || p->icmp_type == 129);
        if (!echo || p->l4_offset + 8 > p->caplen) return false;
        const uint8_t* f =
            p->data + p->l4_offset + (t.field == rules::HeaderTest::Field::kIcmpId ? 4 : 6);
        v = static_cast<uint32_t>(f[0] << 8 | f[1]);
        break;
      }
    }
    if (!t.value.matches(v)) return false;
  }
  return true;
}

// stream_size: sequence space each endpoint has sent (a TCP flow only).
bool stream_size_holds(const rules::StreamSize& s, const flow::Flow* f) {
  if (f == nullptr || !f->is_tcp()) return false;
  auto sent = [&](flow::Direction d) {
    const flow::TcpPeer& p = f->tcp.peer(d);
    return p.seen ? p.next_seq - p.isn : 0u;
  };
  const bool server = s.size.matches(sent(flow::Direction::kToClient));
  const bool client = s.size.matches(sent(flow::Direction::kToServer));
  switch (s.side) {
    case rules::StreamSize::Side::kServer:
      return server;
    case rules::StreamSize::Side::kClient:
      return client;
    case rules::StreamSize::Side::kBoth:
      return server && client;
    case rules::StreamSize::Side::kEither:
      return server || client;
  }
  return false;
}

bool transport_holds(rules::Transport t, uint8_t ip_proto) {
  switch (t) {
    case rules::Transport::kAny:
      return true;
    case rules::Transport::kTcp:
      return ip_proto == decode::ip_proto::kTcp;
    case rules::Transport::kUdp:
      return ip_proto == decode::ip_proto::kUdp;
    case rules::Transport::kIcmp:
      return ip_proto == decode::ip_proto::kIcmp || ip_proto == decode::ip_proto::kIcmpv6;
  }
  return false;
}

}  // namespace

// The sender and receiver of the inspected data, and what the flow knows of its state.
struct Detector::Header {
  core::IpAddress src, dst;
  uint16_t sport = 0, dport = 0;
  uint8_t ip_proto = 0;
  flow::Direction dir = flow::Direction::kToServer;
  bool established = false;
  rules::AppProto app = rules::AppProto::kNone;

  static Header of(const flow::Flow* f, flow::Direction dir, const decode::PacketView* v) {
    Header h;
    h.dir = dir;
    if (f != nullptr) {
      const int sender = flow::sender_endpoint(*f, dir);
      h.src = flow::endpoint_address(f->key, sender);
      h.dst = flow::endpoint_address(f->key, 1 - sender);
      h.sport = f->key.port[sender];
      h.dport = f->key.port[1 - sender];
      h.ip_proto = f->key.proto;
      h.app = f->app_proto;
      if (f->is_tcp()) {
        const flow::TcpState s = f->tcp.state();
        h.established = s == flow::TcpState::kEstablished || s == flow::TcpState::kClosing;
      } else {
        h.established = f->packets[0] > 0 && f->packets[1] > 0;
      }
    } else if (v != nullptr) {
      h.src = v->src_ip();
      h.dst = v->dst_ip();
      h.sport = v->src_port;
      h.dport = v->dst_port;
      h.ip_proto = v->ip_proto;
    }
    return h;
  }
};

namespace {

// Every comparison keyword holds for the facts the inspected message states; a fact the message
// does not state fails the comparison.
bool facts_hold(const rules::Rule& r, std::span<const std::optional<uint32_t>> facts) {
  for (const rules::AppFactTest& t : r.app_tests) {
    const auto i = static_cast<size_t>(t.fact);
    if (i >= facts.size() || !facts[i] || !t.holds(*facts[i])) return false;
  }
  return true;
}

}  // namespace

const core::CounterGroup& Detector::counter_group() { return kCounterGroup; }

Detector::Detector(const DetectionEngine& engine, AlertSink& sink)
    : engine_(engine),
      sink_(sink),
      verifier_(engine.options().backtrack_limit, engine.options().pcre_match_limit),
      seen_(engine.rules().size(), 0),
      payload_only_(engine.buffer_count()),
      tx_buffers_(engine.buffer_count()),
      transformed_(engine.transformed().size()),
      counters_(kCounterGroup) {
  if (engine.options().profile_rules) profile_.resize(engine.rules().size());
  if (!engine.transformed().empty()) {
    transform_match_.reset(pcre2_match_data_create(16, nullptr));
    if (!transform_match_) throw std::bad_alloc();
  }
  detect_slot();  // registered while stages are built
  for (size_t s = 0; s < static_cast<size_t>(Scope::kCount); ++s) {
    if (const hs_database_t* db = engine.database(static_cast<Scope>(s)))
      hyperscan::grow_scratch(scratch_, db);
  }
  for (size_t b = 0; b < engine.buffer_count(); ++b) {
    if (const hs_database_t* db = engine.buffer_database(static_cast<rules::Buffer>(b)))
      hyperscan::grow_scratch(scratch_, db);
  }
  if (const hs_database_t* db = engine.chunk_database()) hyperscan::grow_scratch(scratch_, db);
  window_.reserve(engine.options().stream_window + 65536);
}

size_t Detector::direction_state_bytes() const {
  return engine_.stats().stream_state_bytes + sizeof(FlowDetect::DirectionState);
}

int Detector::on_match(unsigned id, unsigned long long, unsigned long long, unsigned, void* ctx) {
  static_cast<Detector*>(ctx)->nominate(static_cast<Detector*>(ctx)->engine_.rules_of_pattern(id));
  return 0;
}

void Detector::begin_nomination() {
  candidates_.clear();
  if (++generation_ == 0) {  // wrapped: old marks could collide with the new generation
    std::fill(seen_.begin(), seen_.end(), 0);
    generation_ = 1;
  }
}

void Detector::nominate(std::span<const uint32_t> rules) {
  for (const uint32_t r : rules) {
    if (seen_[r] == generation_) continue;
    seen_[r] = generation_;
    candidates_.push_back(r);
  }
}

void Detector::order_candidates() {
  // pass rules first (Suricata's default action order): a flow they pass raises nothing more.
  // Then the rules that set, unset or toggle flowbits, so that a rule checking a bit sees what
  // the same data set (Suricata orders rules by flowbit dependency the same way). Stable, and
  // without allocating: most candidate lists need no reordering at all.
  bool ordered = true;
  uint8_t last = 0;
  for (const uint32_t r : candidates_) {
    const uint8_t rank = engine_.judge_rank(r);
    if (rank < last) {
      ordered = false;
      break;
    }
    last = rank;
  }
  if (ordered) return;
  ordered_.clear();
  for (uint8_t rank = 0; rank < 3; ++rank) {
    for (const uint32_t r : candidates_) {
      if (engine_.judge_rank(r) == rank) ordered_.push_back(r);
    }
  }
  candidates_.swap(ordered_);
}

bool Detector::header_holds(const CompiledRule& cr, const Header& h,
                            const decode::PacketView* packet, const flow::Flow* flow) const {
  const rules::Rule& r = cr.rule();
  if (!transport_holds(r.transport, h.ip_proto)) return false;
  // Without a valid transport header only ip rules apply (Suricata: not a TCP/UDP packet).
  if (packet != nullptr && packet->l4_invalid && r.transport != rules::Transport::kAny)
    return false;
  if (r.app_proto != rules::AppProto::kNone && r.app_proto != h.app) return false;
  if (r.app_layer && (r.app_layer->proto == h.app) == r.app_layer->negated) return false;
  if (r.flow) {
    const rules::FlowCondition& f = *r.flow;
    if (f.to_server && h.dir != flow::Direction::kToServer) return false;
    if (f.to_client && h.dir != flow::Direction::kToClient) return false;
    if (f.established && !h.established) return false;
    if (f.not_established && h.established) return false;
    if (f.only_stream && cr.scope != Scope::kStream) return false;
  }
  if (r.flags) {
    if (packet == nullptr || packet->ip_proto != decode::ip_proto::kTcp) return false;
    if (!r.flags->matches(packet->tcp_flags)) return false;
  }
  if (r.dsize && (packet == nullptr || !r.dsize->matches(packet->payload_len))) return false;
  if (r.stream_size && !stream_size_holds(*r.stream_size, flow)) return false;
  if (!r.header_tests.empty() && !header_tests_hold(r, packet)) return false;
  if (r.sameip && h.src != h.dst) return false;
  if (r.ftpdata_command && (flow == nullptr || flow->ftp_command != *r.ftpdata_command)) {
    return false;
  }
  if ((r.itype || r.icode) && (packet == nullptr || !packet->is_icmp())) return false;
  if (r.itype && !r.itype->matches(packet->icmp_type)) return false;
  if (r.icode && !r.icode->matches(packet->icmp_code)) return false;
  // Ports first: a range test is cheaper than walking an address list.
  const bool forward = r.src_ports.contains(h.sport) && r.dst_ports.contains(h.dport) &&
                       r.src.contains(h.src) && r.dst.contains(h.dst);
  if (forward) return true;
  return r.bidirectional && r.src_ports.contains(h.dport) && r.dst_ports.contains(h.sport) &&
         r.src.contains(h.dst) && r.dst.contains(h.src);
}

bool Detector::profiled_verify(uint32_t index, const CompiledRule& cr, InspectBuffers buffers) {
  const int64_t start = core::monotonic_ns();
  const bool matched = verifier_.verify(cr.program, buffers);
  const auto ns = static_cast<uint64_t>(core::monotonic_ns() - start);
  RuleProfile& p = profile_[index];
  ++p.checks;
  p.ns += ns;
  p.ns_max = std::max(p.ns_max, ns);
  if (matched) {
    ++p.matches;
    p.ns_match += ns;
  }
  return matched;
}

void Detector::judge(const Header& h, flow::Flow* flow, flow::Direction dir, InspectBuffers buffers,
                     const decode::PacketView* packet, std::span<const uint8_t> excerpt,
                     const TransactionView* tx) {
  counters_.inc(DetectCounter::kCandidates, candidates_.size());
  order_candidates();
  FlowDetect* state = existing_state(flow);
  const uint64_t limit_hits = verifier_.limit_hits();
  const core::Timestamp now = packet != nullptr ? packet->ts
                              : flow != nullptr ? flow->last_seen
                                                : core::Timestamp{};
  for (const uint32_t index : candidates_) {
    const CompiledRule& cr = engine_.rule(index);
    if (tx != nullptr) {
      // The message this rule runs on, and its body when it needs one; what ran on the headers
      // of this message does not run again.
      if (cr.scope != Scope::kTransaction || cr.waiting) continue;
      if (!(cr.tx_sides & (tx->response ? kTxResponse : kTxRequest))) continue;
      if (cr.needs_body ? !tx->complete : tx->headers_inspected) continue;
      if (state != nullptr) {
        const auto& fired = state->tx_fired;
        if (std::find(fired.begin(), fired.end(), std::make_pair(tx->tx_id, index)) != fired.end())
          continue;
      }
    } else if (state != nullptr) {
      const auto& fired = state->dir[flow::index(dir)].fired;
      if (std::find(fired.begin(), fired.end(), index) != fired.end()) continue;
    }
    if (!header_holds(cr, h, packet, flow)) continue;
    if (!cr.rule().app_tests.empty() && (tx == nullptr || !facts_hold(cr.rule(), tx->facts)))
      continue;
    if (!cr.flowbits.empty() && !flowbits_hold(cr, state)) continue;
    if (!cr.xbits.empty() && !xbits_hold(cr, engine_.xbits(), h.src, h.dst, now)) continue;
    counters_.inc(DetectCounter::kVerified);
    if (!profile_.empty() ? !profiled_verify(index, cr, buffers)
                          : !verifier_.verify(cr.program, buffers))
      continue;
    if (flow != nullptr && state == nullptr) state = &flow_state(*flow);
    if (!cr.flowints.empty() && (state == nullptr || !run_flowints(cr, *state))) continue;
    if (cr.sets_flowbits && state != nullptr) apply_flowbits(cr, *state);
    if (!cr.xbits.empty()) apply_xbits(cr, engine_.xbits(), h.src, h.dst, now);
    if (cr.rule().action == rules::Action::kPass) {
      if (state != nullptr) {
        state->passed = true;
        for (auto& d : state->dir) d.stream.reset();  // nothing more to scan
      }
      counters_.inc(DetectCounter::kPassed);
      break;
    }
    if (cr.rule().noalert) {
      counters_.inc(DetectCounter::kNoAlert);
      // A counting rule (flowint) must see every later match; others act once per direction.
      if (state != nullptr && cr.flowints.empty()) mark_fired(*state, tx, dir, index);
      continue;
    }
    // threshold.config suppress: the rule acted (above), it raises no alert for these addresses.
    if (!cr.rule().suppressions.empty() && suppressed(cr.rule(), h.src, h.dst)) {
      counters_.inc(DetectCounter::kSuppressed);
      if (state != nullptr) mark_fired(*state, tx, dir, index);
      continue;
    }
    // threshold / detection_filter: a match that raises no alert is not remembered as fired, so
    // that later matches on the same flow still count.
    if (cr.rule().rate && !engine_.rates().admit(index, *cr.rule().rate, h.src, h.dst, now)) {
      counters_.inc(DetectCounter::kThresholded);
      continue;
    }
    // threshold.config rate_filter: over the rate, the match takes the filter's action.
    rules::Action action = cr.rule().action;
    if (cr.rule().rate_filter) {
      if (const auto changed =
              engine_.rates().rate_filter(index, *cr.rule().rate_filter, h.src, h.dst, now)) {
        action = *changed;
        counters_.inc(DetectCounter::kRateFiltered);
        if (action == rules::Action::kPass) continue;  // passed: no alert
      }
    }
    if (state != nullptr) mark_fired(*state, tx, dir, index);
    counters_.inc(DetectCounter::kAlerts);
    if (!profile_.empty()) ++profile_[index].alerts;
    AlertEvent alert;
    alert.rule = &cr;
    alert.action = action;
    alert.flow = flow;
    alert.dir = dir;
    alert.packet = packet;
    alert.excerpt =
        excerpt.first(std::min<size_t>(excerpt.size(), engine_.options().payload_excerpt));
    if (tx != nullptr) {
      alert.in_transaction = true;
      alert.tx_id = tx->tx_id;
    }
    sink_.on_alert(alert);
  }
  counters_.inc(DetectCounter::kBacktrackLimit, verifier_.limit_hits() - limit_hits);
}

void Detector::on_packet(const decode::PacketView& v, flow::Flow* flow, flow::Direction dir) {
  const FlowDetect* state = existing_state(flow);
  if (state != nullptr && state->passed) return;
  counters_.inc(DetectCounter::kPacketsInspected);
  begin_nomination();
  std::optional<Header> header;  // built once something needs it
  if (!engine_.header_rules().empty()) {
    header = Header::of(flow, dir, &v);
    engine_.header_rules().visit(header->src, header->dst, header->sport, header->dport,
                                 [this](std::span<const uint32_t> rules) { nominate(rules); });
  }
  const std::span<const uint8_t> payload = v.payload();
  if (!payload.empty()) {
    if (const hs_database_t* db = engine_.database(Scope::kPacket)) {
      const hs_error_t rc = hs_scan(db, reinterpret_cast<const char*>(payload.data()),
                                    static_cast<unsigned>(payload.size()), 0, scratch_.get(),
                                    &Detector::on_match, this);
      if (rc != HS_SUCCESS) counters_.inc(DetectCounter::kScanErrors);
    }
    nominate(engine_.unprefiltered(Scope::kPacket));
  }
  if (candidates_.empty()) return;
  if (!header) header = Header::of(flow, dir, &v);
  payload_only_[rules::kPayloadBuffer] = {payload, 0, true};
  judge(*header, flow, dir, payload_only_, &v, payload);
}

void Detector::on_stream_data(flow::Flow& flow, flow::Direction dir, std::span<const uint8_t> data,
                              uint64_t offset, bool after_gap, const decode::PacketView* packet,
                              const StreamHistory& history) {
  const hs_database_t* db = engine_.database(Scope::kStream);
  const hs_database_t* chunk_db = engine_.chunk_database();
  const std::span<const uint32_t> always = engine_.unprefiltered(Scope::kStream);
  if (data.empty() || (db == nullptr && chunk_db == nullptr && always.empty())) return;
  FlowDetect& state = flow_state(flow);
  if (state.passed) return;
  FlowDetect::DirectionState& ds = state.dir[flow::index(dir)];
  if (after_gap && ds.stream) {
    // A match must not span the hole (the history behind the chunk is empty too).
    hs_reset_stream(ds.stream.get(), 0, nullptr, nullptr, nullptr);
  }
  std::optional<Header> header;  // built once a judgement needs it
  begin_nomination();
  if (db != nullptr) {
    if (!ds.stream) {
      if (!stream_pool_.empty()) {
        ds.stream = std::move(stream_pool_.back());  // reset when it was given back
        stream_pool_.pop_back();
        counters_.inc(DetectCounter::kStreamsReused);
      } else {
        hs_stream_t* s = nullptr;
        if (hs_open_stream(db, 0, &s) != HS_SUCCESS) {
          counters_.inc(DetectCounter::kScanErrors);
          return;
        }
        ds.stream.reset(s);
        counters_.inc(DetectCounter::kStreamsOpened);
      }
    }
    const hs_error_t rc = hs_scan_stream(
        ds.stream.get(), reinterpret_cast<const char*>(data.data()),
        static_cast<unsigned>(data.size()), 0, scratch_.get(), &Detector::on_match, this);
    if (rc != HS_SUCCESS) counters_.inc(DetectCounter::kScanErrors);
  }
  nominate(always);
  counters_.inc(DetectCounter::kStreamBytesScanned, data.size());

  if (!candidates_.empty()) {
    // The window: up to stream_window bytes of the direction's history, then the chunk. Copied
    // only here, for the few chunks with candidates; the stream's one copy is the reassembler's.
    std::span<const uint8_t> window = data;
    uint64_t base = offset;
    const size_t behind =
        std::min<size_t>(history[0].size() + history[1].size(), engine_.options().stream_window);
    if (behind > 0 && !after_gap) {
      window_.clear();
      size_t skip = history[0].size() + history[1].size() - behind;
      for (const std::span<const uint8_t> part : history) {
        const size_t from = std::min(skip, part.size());
        window_.insert(window_.end(), part.begin() + static_cast<long>(from), part.end());
        skip -= from;
      }
      window_.insert(window_.end(), data.begin(), data.end());
      window = window_;
      base = offset - behind;
    }
    // What the history holds was inspected with the chunks before: a match must reach the new data.
    payload_only_[rules::kPayloadBuffer] = {window, base, true, base == offset ? 0 : offset};
    header = Header::of(&flow, dir, packet);
    judge(*header, &flow, dir, payload_only_, packet, data);
    if (state.passed) return;
  }

  // Anchored rules on this chunk alone, positions from its first byte.
  if (chunk_db != nullptr) {
    begin_nomination();
    const size_t scanned = std::min(data.size(), engine_.chunk_bound());
    const hs_error_t rc =
        hs_scan(chunk_db, reinterpret_cast<const char*>(data.data()),
                static_cast<unsigned>(scanned), 0, scratch_.get(), &Detector::on_match, this);
    if (rc != HS_SUCCESS) counters_.inc(DetectCounter::kScanErrors);
    if (!candidates_.empty()) {
      counters_.inc(DetectCounter::kChunkCandidates, candidates_.size());
      payload_only_[rules::kPayloadBuffer] = {data, 0, true};
      if (!header) header = Header::of(&flow, dir, packet);
      judge(*header, &flow, dir, payload_only_, packet, data);
      if (state.passed) return;
    }
  }
}

void Detector::release_streams(flow::Flow& flow) {
  FlowDetect* state = detect_slot().get(flow);
  if (state == nullptr) return;
  for (FlowDetect::DirectionState& d : state->dir) {
    if (d.stream) {
      counters_.inc(DetectCounter::kStreamsReleased);
      // Pooled rather than closed: the next flow takes it, reset, without an allocation
      // (hs_open_stream mallocs the stream state; reset only clears it).
      if (stream_pool_.size() < kStreamPoolSize &&
          hs_reset_stream(d.stream.get(), 0, nullptr, nullptr, nullptr) == HS_SUCCESS) {
        stream_pool_.push_back(std::move(d.stream));
      }
      d.stream.reset();
    }
  }
}

void Detector::on_transaction(flow::Flow& flow, flow::Direction dir, const TransactionView& tx,
                              const decode::PacketView* packet) {
  FlowDetect* state = existing_state(&flow);
  if (state != nullptr && state->passed) return;
  if (tx.nothing_new) {
    if (tx.tx_done && state != nullptr)
      std::erase_if(state->tx_fired, [&](const auto& e) { return e.first == tx.tx_id; });
    return;
  }
  InspectBuffers buffers = tx.buffers;
  if (!transformed_.empty()) {
    // The transformed buffers rules use, computed from this inspection's buffers.
    const size_t n = std::min(tx.buffers.size(), engine_.registry().buffer_count());
    std::copy_n(tx.buffers.begin(), n, tx_buffers_.begin());
    std::fill(tx_buffers_.begin() + static_cast<ptrdiff_t>(n), tx_buffers_.end(), InspectBuffer{});
    const auto transformed = engine_.transformed();
    for (size_t i = 0; i < transformed.size(); ++i) {
      const InspectBuffer& base = tx_buffers_[transformed[i].base];
      if (!base.present) continue;
      apply_transforms(transformed[i].chain, base.data, transformed_[i], transform_scratch_,
                       engine_.transform_regexes(i), transform_match_.get());
      tx_buffers_[engine_.registry().buffer_count() + i] = {
          std::span(reinterpret_cast<const uint8_t*>(transformed_[i].data()),
                    transformed_[i].size()),
          0, true};
    }
    buffers = tx_buffers_;
  }
  begin_nomination();
  for (size_t b = 0; b < buffers.size(); ++b) {
    const InspectBuffer& buffer = buffers[b];
    const hs_database_t* db = engine_.buffer_database(static_cast<rules::Buffer>(b));
    if (!buffer.present || db == nullptr || buffer.data.empty()) continue;
    const hs_error_t rc = hs_scan(db, reinterpret_cast<const char*>(buffer.data.data()),
                                  static_cast<unsigned>(buffer.data.size()), 0, scratch_.get(),
                                  &Detector::on_match, this);
    if (rc != HS_SUCCESS) counters_.inc(DetectCounter::kScanErrors);
  }
  nominate(engine_.unprefiltered(Scope::kTransaction));
  if (!candidates_.empty()) {
    Header header = Header::of(&flow, dir, packet);
    header.app = tx.app;
    const std::span<const uint8_t> excerpt = tx.buffers.size() > rules::kPayloadBuffer
                                                 ? tx.buffers[rules::kPayloadBuffer].data
                                                 : std::span<const uint8_t>();
    judge(header, &flow, dir, buffers, packet, excerpt, &tx);
    state = existing_state(&flow);
  }
  if (tx.tx_done && state != nullptr) {
    std::erase_if(state->tx_fired, [&](const auto& e) { return e.first == tx.tx_id; });
  }
}

}  // namespace spanguard::detect
