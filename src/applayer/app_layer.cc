// Protocol detection by content, and the dispatch of each flow's bytes to its protocol's session.
//
// Detection probes the first bytes of each direction, as Suricata's pattern-based detection does:
// a request method followed by a space (or an HTTP/0.9 "GET /") from one side, or an "HTTP/1.x"
// status line from the other, identifies HTTP on any port; a TLS handshake record, an "SSH-"
// banner, an FTP or SMTP greeting or command, a DNS message (length-prefixed over TCP) the other
// protocols. The direction that probes as the client side is the client side, whatever the session
// table guessed (a flow picked up mid-stream may have its client wrong). A flow picked up
// mid-stream may start inside a message: its directions are probed again at the start of later
// deliveries, up to probe_depth bytes.
#include "spanguard/applayer/app_layer.h"

#include <algorithm>

#include "session.h"
#include "spanguard/applayer/http_buffers.h"
#include "spanguard/applayer/smb_probe.h"

namespace spanguard::applayer {

namespace {

constexpr core::Param kParams[] = {
    {.name = "enabled",
     .type = core::ParamType::kBool,
     .default_value = "true",
     .help = "Identify application protocols and parse them (off: only stream and packet rules "
             "can fire)"},
    {.name = "probe_depth",
     .type = core::ParamType::kBytes,
     .default_value = "4KiB",
     .help = "Bytes of each direction searched for a known protocol before the flow is marked "
             "'failed'",
     .min = 16,
     .max = 1 << 20},
    {.name = "tls.encryption_handling",
     .type = core::ParamType::kEnum,
     .default_value = "bypass",
     .help = "Once TLS or SSH payload is encrypted: bypass (stop reassembling and inspecting the "
             "flow; TCP state is still tracked), track-only (stop inspecting its raw stream), full "
             "(stream rules keep scanning it)",
     .choices = "bypass|track-only|full"},
    {.name = "http.request_body_limit",
     .type = core::ParamType::kBytes,
     .default_value = "100KiB",
     .help = "Request body bytes (dechunked, decompressed) kept for http.request_body / file.data",
     .max = 64 << 20},
    {.name = "http.response_body_limit",
     .type = core::ParamType::kBytes,
     .default_value = "100KiB",
     .help = "Response body bytes (dechunked, decompressed) kept for http.response_body / "
             "file.data",
     .max = 64 << 20},
    {.name = "http.header_limit",
     .type = core::ParamType::kBytes,
     .default_value = "18KiB",
     .help = "Bytes of one message's start line and headers; longer header blocks are cut and "
             "counted as an anomaly",
     .min = 256,
     .max = 1 << 20},
    {.name = "http.max_transactions",
     .type = core::ParamType::kInt,
     .default_value = "512",
     .help = "Transactions held per flow (requests not yet answered); beyond it the oldest is "
             "dropped and an anomaly counted",
     .min = 1,
     .max = 65536},
    {.name = "http.decompress_limit",
     .type = core::ParamType::kBytes,
     .default_value = "1MiB",
     .help = "Decompressed bytes per gzip/deflate body (compression-bomb cap)",
     .max = 256 << 20},
    {.name = "http.decompress_ratio",
     .type = core::ParamType::kInt,
     .default_value = "2048",
     .help = "Largest decompressed/compressed ratio before decompression stops (an anomaly)",
     .min = 1,
     .max = 1 << 20},
};
constexpr core::ParamSection kSection{"applayer",
                                      "Application-layer protocol detection and parsing", kParams};

constexpr core::CounterDef kCounterDefs[] = {
    {"flows.http", "flows identified as HTTP"},
    {"flows.tls", "flows identified as TLS (STARTTLS upgrades included)"},
    {"flows.dns", "flows identified as DNS (UDP or TCP)"},
    {"flows.ftp", "flows identified as FTP control sessions"},
    {"flows.ftp_data", "flows recognised as FTP data sessions of a control session"},
    {"flows.ssh", "flows identified as SSH"},
    {"flows.smtp", "flows identified as SMTP"},
    {"flows.smb", "flows identified as SMB (rules run on their payload; not parsed)"},
    {"flows.dcerpc",
     "flows identified as DCE/RPC over TCP (rules run on their payload; not parsed)"},
    {"flows.failed", "flows with payload whose protocol could not be identified"},
    {"probe_retries", "mid-stream directions probed again at a later segment"},
    {"parsers_released", "parsers dropped between transactions (idle keep-alive connections)"},
    {"flows.bypassed", "flows no longer reassembled or inspected once their payload was encrypted"},
    {"flows.encrypted", "flows whose payload became encrypted (TLS application data, SSH keys)"},
};
static_assert(std::size(kCounterDefs) == static_cast<size_t>(AppCounter::kCount));
constexpr core::CounterGroup kCounterGroup{"applayer", kCounterDefs};

// Bytes of a direction kept for probing: the longest start any probe needs to decide (a DNS
// message over TCP with its first question name, an FTP/SMTP greeting line).
constexpr size_t kProbeBytes = 512;

AppCounter flows_counter(core::AppProto p) {
  switch (p) {
    case core::AppProto::kHttp:
      return AppCounter::kFlowsHttp;
    case core::AppProto::kTls:
      return AppCounter::kFlowsTls;
    case core::AppProto::kDns:
      return AppCounter::kFlowsDns;
    case core::AppProto::kFtp:
      return AppCounter::kFlowsFtp;
    case core::AppProto::kFtpData:
      return AppCounter::kFlowsFtpData;
    case core::AppProto::kSsh:
      return AppCounter::kFlowsSsh;
    case core::AppProto::kSmtp:
      return AppCounter::kFlowsSmtp;
    case core::AppProto::kSmb:
      return AppCounter::kFlowsSmb;
    case core::AppProto::kDcerpc:
      return AppCounter::kFlowsDcerpc;
    case core::AppProto::kNone:
    case core::AppProto::kFailed:
    case core::AppProto::kCount:
      break;
  }
  return AppCounter::kFlowsFailed;
}

std::span<const uint8_t> bytes_of(std::string_view s) {
  return std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// What the probes make of a direction's first bytes over TCP.
struct Verdict {
  Probe probe = Probe::kNo;
  core::AppProto proto = core::AppProto::kNone;
  bool client = true;  // the bytes were sent by the client
};

Verdict probe_stream(std::span<const uint8_t> first, bool toward_server) {
  bool need_more = false;
  auto consider = [&](Probe p, core::AppProto proto, bool client) -> std::optional<Verdict> {
    if (p == Probe::kYes) return Verdict{Probe::kYes, proto, client};
    need_more = need_more || p == Probe::kNeedMore;
    return std::nullopt;
  };
  auto from_http = [](http::Probe p) {
    return p == http::Probe::kYes        ? Probe::kYes
           : p == http::Probe::kNeedMore ? Probe::kNeedMore
                                         : Probe::kNo;
  };
  if (auto v = consider(from_http(http::probe_request(first)), core::AppProto::kHttp, true))
    return *v;
  if (auto v = consider(from_http(http::probe_response(first)), core::AppProto::kHttp, false))
    return *v;
  bool client_hello = false;
  if (auto v = consider(tls::probe(first, &client_hello), core::AppProto::kTls, true)) {
    v->client = client_hello;
    return *v;
  }
  // An SSH identification line: both ends send one; `toward_server` decides who is the client.
  if (const ProbeResult ssh = ssh::probe_ssh(first); ssh.probe == Probe::kYes) {
    return {Probe::kYes, core::AppProto::kSsh,
            ssh.side ? *ssh.side == Side::kClient : toward_server};
  } else {
    need_more = need_more || ssh.probe == Probe::kNeedMore;
  }
  // FTP and SMTP servers both greet with "220": a greeting that names neither waits for the
  // client's first command (USER, EHLO, ...), probed on the other direction.
  const ProbeResult ftp = ftp::probe_ftp(first);
  const ProbeResult smtp = smtp::probe_smtp(first);
  if (ftp.probe == Probe::kYes && smtp.probe != Probe::kYes)
    return {Probe::kYes, core::AppProto::kFtp, !ftp.side || *ftp.side == Side::kClient};
  if (smtp.probe == Probe::kYes && ftp.probe != Probe::kYes)
    return {Probe::kYes, core::AppProto::kSmtp, !smtp.side || *smtp.side == Side::kClient};
  need_more = need_more || ftp.probe != Probe::kNo || smtp.probe != Probe::kNo;
  for (const auto& [result, proto] : {std::pair{probe_smb(first), core::AppProto::kSmb},
                                      std::pair{probe_dcerpc(first), core::AppProto::kDcerpc}}) {
    if (result.probe == Probe::kYes) {
      return {Probe::kYes, proto, result.side ? *result.side == Side::kClient : toward_server};
    }
    need_more = need_more || result.probe == Probe::kNeedMore;
  }
  bool response = false;
  if (auto v = consider(dns::probe_tcp(first, &response), core::AppProto::kDns, true)) {
    v->client = !response;
    return *v;
  }
  return {need_more ? Probe::kNeedMore : Probe::kNo, core::AppProto::kNone, true};
}

}  // namespace

const core::ParamSection& applayer_params() { return kSection; }

AppLayerOptions applayer_options(const core::Config& c) {
  AppLayerOptions o;
  o.enabled = c.get("applayer.enabled").as_bool();
  o.probe_depth = static_cast<uint32_t>(c.get("applayer.probe_depth").as_bytes());
  const std::string& encryption = c.get("applayer.tls.encryption_handling").as_string();
  o.encryption = encryption == "full"         ? EncryptionHandling::kFull
                 : encryption == "track-only" ? EncryptionHandling::kTrackOnly
                                              : EncryptionHandling::kBypass;
  o.http.request_body_limit =
      static_cast<uint32_t>(c.get("applayer.http.request_body_limit").as_bytes());
  o.http.response_body_limit =
      static_cast<uint32_t>(c.get("applayer.http.response_body_limit").as_bytes());
  o.http.header_limit = static_cast<uint32_t>(c.get("applayer.http.header_limit").as_bytes());
  o.http.max_transactions = static_cast<uint32_t>(c.get("applayer.http.max_transactions").as_int());
  o.http.decompress_limit =
      static_cast<uint32_t>(c.get("applayer.http.decompress_limit").as_bytes());
  o.http.decompress_ratio = static_cast<uint32_t>(c.get("applayer.http.decompress_ratio").as_int());
  return o;
}

const core::CounterGroup& AppLayer::counter_group() { return kCounterGroup; }

void AppLayer::Context::limit_bodies(AppLayerOptions& o) {
  if (!o.request_bodies) o.http.request_body_limit = 0;
  if (!o.response_bodies) o.http.response_body_limit = 0;
}

AppLayer::Context::Context(const AppLayerOptions& o, const rules::Registry& r, TransactionSink& s)
    : options(o),
      registry(r),
      sink(s),
      buffers(r.buffer_count()),
      counters(kCounterGroup),
      http(http::http_counter_group()),
      tls(tls::tls_counter_group()),
      dns(dns::dns_counter_group()),
      ssh(ssh::ssh_counter_group()),
      ftp(ftp::ftp_counter_group()),
      smtp(smtp::smtp_counter_group()) {
  ids = {r.find_sticky("tls.sni"),
         r.find_sticky("tls.cert_subject"),
         r.find_sticky("tls.cert_issuer"),
         r.find_sticky("tls.cert_serial"),
         r.find_sticky("tls.cert_fingerprint"),
         r.find_sticky("tls.certs"),
         r.find_sticky("ja3.hash"),
         r.find_sticky("ja3.string"),
         r.find_sticky("ja3s.hash"),
         r.find_sticky("ja3s.string"),
         r.find_sticky("ja4.hash"),
         r.find_sticky("dns.query"),
         r.find_sticky("ssh.proto"),
         r.find_sticky("ssh.software"),
         r.find_sticky("ssh.hassh"),
         r.find_sticky("ssh.hassh.string"),
         r.find_sticky("ssh.hassh.server"),
         r.find_sticky("ssh.hassh.server.string"),
         r.find_sticky("smtp.helo"),
         r.find_sticky("smtp.mail_from"),
         r.find_sticky("smtp.rcpt_to")};
  limit_bodies(options);
  for (const HttpBufferDef& d : http_buffer_defs()) {
    const rules::BufferId id = r.find_sticky(d.def.name);
    if (id == rules::Registry::kNoBuffer) continue;  // a registry without HTTP (tests)
    if (d.member == nullptr)
      file_data = id;
    else
      http_map.emplace_back(id, http::field_of(d.member));
  }
}

void AppLayer::Context::begin() {
  std::fill(buffers.begin(), buffers.end(), std::nullopt);
  std::fill(std::begin(facts), std::end(facts), std::nullopt);
}

void AppLayer::Context::emit(TxInspection& tx) {
  tx.buffers = buffers;
  tx.facts = facts;
  sink.on_transaction(tx);
}

void DataExpectations::expect(const Expectation& x, core::Timestamp now) {
  std::lock_guard lock(mutex_);
  for (Expectation& d : list_) {
    if (d.parent_flow_id == x.parent_flow_id && d.port == x.port && d.address == x.address) {
      d = x;
      return;
    }
  }
  std::erase_if(list_, [&](const Expectation& d) { return d.expires < now; });
  if (list_.size() >= kMax) list_.erase(list_.begin());
  list_.push_back(x);
  size_.store(list_.size(), std::memory_order_relaxed);
}

std::optional<DataExpectations::Expectation> DataExpectations::fulfil(
    const core::IpAddress& responder, uint16_t port, core::Timestamp opened) {
  std::lock_guard lock(mutex_);
  for (auto it = list_.begin(); it != list_.end(); ++it) {
    if (it->port != port || !(it->address == responder)) continue;
    const Expectation found = *it;
    list_.erase(it);
    size_.store(list_.size(), std::memory_order_relaxed);
    if (opened > found.expires) return std::nullopt;
    return found;
  }
  return std::nullopt;
}

void AppLayer::Context::expect_data(const flow::Flow& control, flow::Direction client_dir,
                                    const ftp::Expectation& e) {
  DataExpectations::Expectation x;
  x.port = e.port;
  x.parent_flow_id = control.flow_id;
  x.expires = control.last_seen + kExpectationTimeout;
  if (e.address) {
    x.address = *e.address;
  } else {
    // EPSV names no address: the data connection goes to the control session's server.
    x.address = flow::sender_address(control, flow::opposite(client_dir));
  }
  if (const std::string_view c = ftp::ftpdata_command(e); c == "retr") {
    x.command = core::FtpDataCommand::kRetr;
  } else if (c == "stor") {
    x.command = core::FtpDataCommand::kStor;
  }
  expectations->expect(x, control.last_seen);
}

std::optional<DataExpectations::Expectation> AppLayer::Context::fulfil(const flow::Flow& f) {
  // The responder of the new connection: the endpoint its first packet was sent to.
  const int responder = flow::sender_endpoint(f, flow::Direction::kToClient);
  return expectations->fulfil(flow::endpoint_address(f.key, responder), f.key.port[responder],
                              f.first_seen);
}

// What the application layer keeps of one flow: the probes until its protocol is known, then that
// protocol's session.
class AppLayer::FlowState final : public flow::FlowData {
 public:
  // Until the protocol is known and the delivery that identified it is parsed; then freed: an
  // identified flow keeps only its session.
  struct Probing {
    struct Probe {
      std::string first;        // the direction's first bytes, until the protocol is known
      uint64_t probed = 0;      // bytes of this direction looked at
      uint64_t probed_end = 0;  // stream offset after the last delivery probed
      bool failed = false;      // its start is no known protocol
    };
    Probe probe[2];
    // Identified during the delivery that ends at held_end in direction held_dir: what the probes
    // held of both directions goes to the session before (and around) that delivery.
    bool holding = false;
    flow::Direction held_dir = flow::Direction::kToServer;
    uint64_t held_end = 0;
    std::string held[2];  // by direction: bytes of earlier deliveries, not yet parsed
  };

  std::unique_ptr<Probing> probing = std::make_unique<Probing>();
  std::unique_ptr<Session> session;

  Side side_of(flow::Direction d) const {
    return d == session->client_dir() ? Side::kClient : Side::kServer;
  }
};

namespace {
const flow::SlotKey<AppLayer::FlowState>& app_slot() {
  static const flow::SlotKey<AppLayer::FlowState> key("applayer");
  return key;
}
}  // namespace

AppLayer::AppLayer(const AppLayerOptions& options, const rules::Registry& registry,
                   TransactionSink& sink)
    : options_(options), context_(std::make_unique<Context>(options, registry, sink)) {
  app_slot();
}

AppLayer::~AppLayer() = default;

void AppLayer::share_expectations(DataExpectations* shared) {
  context_->expectations = shared != nullptr ? shared : &context_->own_expectations;
}

void AppLayer::update_options(const AppLayerOptions& options) {
  options_ = options;
  context_->options = options;
  Context::limit_bodies(context_->options);
}

const core::Counters<AppCounter>& AppLayer::counters() const { return context_->counters; }

void AppLayer::collect(core::CounterSnapshot& out) const {
  out.add(context_->counters.values());
  out.add(context_->http.values());
  out.add(context_->tls.values());
  out.add(context_->dns.values());
  out.add(context_->ssh.values());
  out.add(context_->ftp.values());
  out.add(context_->smtp.values());
}

void AppLayer::start_session(flow::Flow& f, FlowState& state, core::AppProto proto,
                             flow::Direction client_dir) {
  f.app_proto = proto;
  context_->counters.inc(flows_counter(proto));
  // Without consumers only the protocol is needed, except where parsing decides the fate of flows:
  // encrypted TLS and SSH flows are bypassed, FTP control sessions announce their data sessions.
  const bool for_bypass = (proto == core::AppProto::kTls || proto == core::AppProto::kSsh) &&
                          options_.encryption != EncryptionHandling::kFull;
  if (!options_.parse && !for_bypass && proto != core::AppProto::kFtp) return;
  switch (proto) {
    case core::AppProto::kHttp:
      state.session = make_http_session(*context_, f, client_dir);
      break;
    case core::AppProto::kTls:
      state.session = make_tls_session(*context_, f, client_dir);
      break;
    case core::AppProto::kDns:
      state.session = make_dns_session(*context_, f, client_dir);
      break;
    case core::AppProto::kSsh:
      state.session = make_ssh_session(*context_, f, client_dir);
      break;
    case core::AppProto::kFtp:
      state.session = make_ftp_session(*context_, f, client_dir);
      break;
    case core::AppProto::kSmtp:
      state.session = make_smtp_session(*context_, f, client_dir);
      break;
    default:
      break;
  }
}

void AppLayer::identify(flow::Flow& f, flow::Direction dir, std::span<const uint8_t> data,
                        uint64_t offset) {
  if (!options_.enabled || f.app_proto != core::AppProto::kNone || data.empty()) return;
  // An FTP data connection a control session announced: linked, not probed.
  if (!context_->expectations->empty() && f.is_tcp()) {
    if (const auto expected = context_->fulfil(f)) {
      f.app_proto = core::AppProto::kFtpData;
      f.parent_flow_id = expected->parent_flow_id;
      f.ftp_command = expected->command;
      context_->counters.inc(AppCounter::kFlowsFtpData);
      f.data[app_slot().id()].reset();
      context_->sink.on_data_flow(f);
      return;
    }
  }
  FlowState::Probing& state = *app_slot().get_or_create(f).probing;  // unknown protocol: probing
  FlowState::Probing::Probe& p = state.probe[flow::index(dir)];
  if (offset + data.size() <= p.probed_end && p.probed_end > 0) return;  // probed already
  p.probed_end = offset + data.size();
  // A direction that failed may be retried at a later delivery's start when the flow was picked
  // up mid-stream (the first bytes seen were inside a message).
  if (p.failed) {
    if (!(f.is_tcp() && f.tcp.midstream()) || p.probed >= options_.probe_depth) return;
    p.failed = false;
    p.first.clear();
    context_->counters.inc(AppCounter::kProbeRetries);
  }
  const size_t take = std::min(data.size(), kProbeBytes - p.first.size());
  p.first.append(reinterpret_cast<const char*>(data.data()), take);
  p.probed += data.size();
  const Verdict v = probe_stream(bytes_of(p.first), dir == flow::Direction::kToServer);
  if (v.probe == Probe::kYes) {
    const flow::Direction client_dir = v.client ? dir : flow::opposite(dir);
    FlowState& flow_state = *app_slot().get(f);
    start_session(f, flow_state, v.proto, client_dir);
    if (!flow_state.session) {
      f.data[app_slot().id()].reset();  // identified: nothing more to keep
      return;
    }
    // What the probes retained goes to the session with this delivery: this direction's bytes of
    // earlier deliveries, and the other direction's first bytes if it spoke first.
    state.holding = true;
    state.held_dir = dir;
    state.held_end = offset + data.size();
    state.held[flow::index(dir)] = p.first.substr(0, p.first.size() - take);
    FlowState::Probing::Probe& other = state.probe[flow::index(flow::opposite(dir))];
    if (!other.failed) state.held[flow::index(flow::opposite(dir))] = std::move(other.first);
    for (FlowState::Probing::Probe& q : state.probe) q.first = {};
    return;
  }
  if (v.probe == Probe::kNeedMore && p.first.size() < kProbeBytes &&
      p.probed < options_.probe_depth) {
    return;
  }
  p.failed = true;
  p.first = {};
  const FlowState::Probing::Probe& other = state.probe[flow::index(flow::opposite(dir))];
  const bool midstream = f.is_tcp() && f.tcp.midstream() && p.probed < options_.probe_depth;
  if (other.failed && !midstream) {
    f.app_proto = core::AppProto::kFailed;
    context_->counters.inc(AppCounter::kFlowsFailed);
    f.data[app_slot().id()].reset();  // nothing more to keep
  }
}

void AppLayer::on_stream_data(flow::Flow& f, flow::Direction dir, std::span<const uint8_t> data,
                              uint64_t offset, bool) {
  if (!options_.enabled || f.app_proto == core::AppProto::kFailed) return;
  if (f.app_proto == core::AppProto::kNone) identify(f, dir, data, offset);
  FlowState* state = app_slot().get(f);
  if (state == nullptr || !state->session) return;
  if (state->probing) {
    // The delivery that identified the flow: what the probes retained goes first, each
    // direction's before its newer bytes; the client's first (responses pair with requests),
    // except where the server speaks first: an FTP or SMTP greeting that named neither protocol
    // waited for the client's first command to decide, and must still answer nothing.
    const std::unique_ptr<FlowState::Probing> probing = std::move(state->probing);
    const bool identifying =
        probing->holding && probing->held_dir == dir && probing->held_end == offset + data.size();
    const flow::Direction client = state->session->client_dir();
    const bool server_first =
        f.app_proto == core::AppProto::kFtp || f.app_proto == core::AppProto::kSmtp;
    const flow::Direction first = server_first ? flow::opposite(client) : client;
    for (const flow::Direction d : {first, flow::opposite(first)}) {
      const std::string& held = probing->held[flow::index(d)];
      if (identifying && !held.empty() && state->session) {
        feed(f, *state, state->side_of(d), bytes_of(held));
      }
      if (d == dir && state->session) feed(f, *state, state->side_of(d), data);
    }
  } else {
    feed(f, *state, state->side_of(dir), data);
  }
  after_parse(f, *state);
}

// Gives `data` to the flow's session; at a protocol switch (STARTTLS, AUTH TLS) the new protocol's
// session takes over at the exact byte: the client's held bytes first, then the rest of `data`.
void AppLayer::feed(flow::Flow& f, FlowState& state, Side side, std::span<const uint8_t> data) {
  const size_t used = state.session->parse(side, data);
  const core::AppProto next = state.session->switch_to();
  if (next == core::AppProto::kNone) return;
  const std::string held = state.session->held_client_bytes();
  const flow::Direction client = state.session->client_dir();
  state.session->on_end();
  state.session.reset();
  start_session(f, state, next, client);
  if (!state.session) return;
  if (!held.empty()) state.session->parse(Side::kClient, bytes_of(held));
  if (used < data.size()) state.session->parse(side, data.subspan(used));
}

void AppLayer::after_parse(flow::Flow& f, FlowState& state) {
  if (!state.session) return;
  switch (state.session->status()) {
    case Session::Status::kParsing:
      return;
    case Session::Status::kEncrypted:
      context_->counters.inc(AppCounter::kFlowsEncrypted);
      if (options_.encryption == EncryptionHandling::kBypass) {
        f.bypassed = true;
        context_->counters.inc(AppCounter::kFlowsBypassed);
      }
      if (options_.encryption != EncryptionHandling::kFull) f.raw_stream_done = true;
      break;
    case Session::Status::kDone:
      break;
  }
  state.session.reset();
}

void AppLayer::on_stream_event(flow::Flow& f, flow::Direction dir, stream::StreamEvent event) {
  FlowState* state = app_slot().get(f);
  if (state == nullptr || !state->session || event != stream::StreamEvent::kGap) return;
  state->session->on_gap(state->side_of(dir));
  after_parse(f, *state);
}

// UDP: each direction's first datagram is probed; a DNS message identifies the flow (the sender
// of a query is the client), and every datagram of it is then parsed whole.
void AppLayer::on_packet(const decode::PacketView& packet, flow::Flow* f, flow::Direction dir) {
  if (!options_.enabled || f == nullptr || f->app_proto == core::AppProto::kFailed) return;
  const std::span<const uint8_t> payload = packet.payload();
  if (payload.empty()) return;
  FlowState& state = app_slot().get_or_create(*f);
  if (f->app_proto == core::AppProto::kNone) {
    FlowState::Probing::Probe* probes = state.probing->probe;
    FlowState::Probing::Probe& p = probes[flow::index(dir)];
    if (p.failed) return;
    bool response = false;
    if (dns::probe_udp(payload, &response) != Probe::kYes) {
      p.failed = true;
      if (probes[flow::index(flow::opposite(dir))].failed) {
        f->app_proto = core::AppProto::kFailed;
        context_->counters.inc(AppCounter::kFlowsFailed);
        f->data[app_slot().id()].reset();
      }
      return;
    }
    start_session(*f, state, core::AppProto::kDns, response ? flow::opposite(dir) : dir);
    if (!state.session) {
      f->data[app_slot().id()].reset();
      return;
    }
    state.probing.reset();
  }
  if (!state.session) return;
  feed(*f, state, state.side_of(dir), payload);
  after_parse(*f, state);
}

void AppLayer::on_flow_end(flow::Flow& f) {
  FlowState* state = app_slot().get(f);
  if (state == nullptr || !state->session) return;
  state->session->on_end();
  state->session.reset();
}

}  // namespace spanguard::applayer
