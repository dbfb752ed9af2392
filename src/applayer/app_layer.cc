// Protocol detection by content and the hand-off of parsed transactions to detection.
//
// Detection probes the first bytes of each direction, as Suricata's pattern-based detection does:
// a request method followed by a space (or an HTTP/0.9 "GET /") from one side, or an "HTTP/1.x"
// status line from the other, identifies HTTP on any port. The direction that probes as the
// request side is the request side, whatever the session table guessed (a flow picked up
// mid-stream may have its client wrong). A flow picked up mid-stream may start inside a message:
// its directions are probed again at the start of later deliveries, up to probe_depth bytes.
#include "spanguard/applayer/app_layer.h"

#include <algorithm>

#include "spanguard/applayer/http_buffers.h"

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
    {"flows.failed", "flows with payload whose protocol could not be identified"},
    {"probe_retries", "mid-stream directions probed again at a later segment"},
    {"parsers_released", "parsers dropped between transactions (idle keep-alive connections)"},
};
static_assert(std::size(kCounterDefs) == static_cast<size_t>(AppCounter::kCount));
constexpr core::CounterGroup kCounterGroup{"applayer", kCounterDefs};

constexpr size_t kProbeBytes = 24;  // enough for the longest method + SP + "/" or "HTTP/1.1 200"

}  // namespace

const core::ParamSection& applayer_params() { return kSection; }

AppLayerOptions applayer_options(const core::Config& c) {
  AppLayerOptions o;
  o.enabled = c.get("applayer.enabled").as_bool();
  o.probe_depth = static_cast<uint32_t>(c.get("applayer.probe_depth").as_bytes());
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

// What the application layer keeps of one flow.
class AppLayer::FlowState final : public flow::FlowData, public http::Observer {
 public:
  FlowState(AppLayer& owner, flow::Flow& f) : owner_(owner), flow_(f) {}

  void on_http(http::Transaction& tx, http::Side side, http::Event event) override {
    owner_.inspect(*this, tx, side, event);
  }

  struct Probe {
    std::string first;    // the direction's first bytes, until the protocol is known
    uint64_t probed = 0;  // bytes of this direction looked at
    bool failed = false;  // its start is no known protocol
  };

  AppLayer& owner_;
  flow::Flow& flow_;
  Probe probe[2];
  flow::Direction request_dir = flow::Direction::kToServer;
  std::unique_ptr<http::Parser> http;      // null between transactions (see release_if_idle)
  uint64_t next_tx_id = 0;                 // where numbering resumes when the parser is rebuilt
  bool parsing = false;                    // HTTP, and not (yet) a tunnel
  uint64_t headers_inspected[2] = {0, 0};  // by side: 1 + id of the last message inspected early
  uint64_t body_inspected[2] = {0, 0};     // by side: 1 + id of the last body final at its limit

  http::Side side_of(flow::Direction d) const {
    return d == request_dir ? http::Side::kRequest : http::Side::kResponse;
  }
  flow::Direction dir_of(http::Side s) const {
    return s == http::Side::kRequest ? request_dir : flow::opposite(request_dir);
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
    : options_(options),
      sink_(sink),
      buffers_(registry.buffer_count()),
      counters_(kCounterGroup),
      http_counters_(http::http_counter_group()) {
  app_slot();
  if (!options_.request_bodies) options_.http.request_body_limit = 0;
  if (!options_.response_bodies) options_.http.response_body_limit = 0;
  for (const HttpBufferDef& d : http_buffer_defs()) {
    const rules::BufferId id = registry.find_sticky(d.def.name);
    if (id == rules::Registry::kNoBuffer) continue;  // a registry without HTTP (tests)
    if (d.member == nullptr)
      file_data_ = id;
    else
      http_map_.emplace_back(id, http::field_of(d.member));
  }
}

AppLayer::~AppLayer() = default;

void AppLayer::collect(core::CounterSnapshot& out) const {
  out.add(counters_.values());
  out.add(http_counters_.values());
}

void AppLayer::on_stream_data(flow::Flow& f, flow::Direction dir, std::span<const uint8_t> data,
                              uint64_t, bool) {
  if (!options_.enabled || f.app_proto == core::AppProto::kFailed) return;
  FlowState& state = app_slot().get_or_create(f, *this, f);
  if (f.app_proto == core::AppProto::kNone) {
    detect_protocol(f, state, dir, data);
    return;
  }
  if (!state.parsing) return;  // a tunnel: nothing more to parse
  parser(state).parse(state.side_of(dir), data);
  release_if_idle(state);
}

// Between transactions a keep-alive connection holds nothing the parser would need again: the
// parser is dropped and rebuilt, numbering transactions on, when the next message starts.
http::Parser& AppLayer::parser(FlowState& state) {
  if (!state.http) {
    state.http = std::make_unique<http::Parser>(options_.http, state, http_counters_);
    state.http->set_next_tx_id(state.next_tx_id);
  }
  return *state.http;
}

void AppLayer::release_if_idle(FlowState& state) {
  if (!state.http) return;
  if (state.http->tunnel()) {
    state.parsing = false;
    state.http.reset();
  } else if (state.http->idle()) {
    state.next_tx_id = state.http->next_tx_id();
    state.http.reset();
    counters_.inc(AppCounter::kParsersReleased);
  }
}

void AppLayer::detect_protocol(flow::Flow& f, FlowState& state, flow::Direction dir,
                               std::span<const uint8_t> data) {
  FlowState::Probe& p = state.probe[flow::index(dir)];
  // A direction that failed may be retried at a later delivery's start when the flow was picked
  // up mid-stream (the first bytes seen were inside a message).
  if (p.failed) {
    if (!(f.is_tcp() && f.tcp.midstream()) || p.probed >= options_.probe_depth) return;
    p.failed = false;
    p.first.clear();
    counters_.inc(AppCounter::kProbeRetries);
  }
  const size_t take = std::min(data.size(), kProbeBytes - p.first.size());
  p.first.append(reinterpret_cast<const char*>(data.data()), take);
  p.probed += data.size();
  const auto bytes = std::span(reinterpret_cast<const uint8_t*>(p.first.data()), p.first.size());
  const http::Probe request = http::probe_request(bytes);
  const http::Probe response = http::probe_response(bytes);
  if (request == http::Probe::kYes || response == http::Probe::kYes) {
    f.app_proto = core::AppProto::kHttp;
    counters_.inc(AppCounter::kFlowsHttp);
    if (!options_.parse) {
      f.data[app_slot().id()].reset();  // identified: nothing more is needed of this flow
      return;
    }
    state.request_dir = request == http::Probe::kYes ? dir : flow::opposite(dir);
    state.parsing = true;
    parser(state);
    // The bytes of this delivery from where the probe started: what came before in this
    // direction was retained only as far as the probe needed.
    const std::string first = std::move(p.first);
    const size_t before = first.size() - take;  // bytes of earlier deliveries
    if (before > 0)
      state.http->parse(state.side_of(dir),
                        std::span(reinterpret_cast<const uint8_t*>(first.data()), before));
    state.http->parse(state.side_of(dir), data);
    // The other direction's first bytes, if it spoke first and has not been parsed.
    FlowState::Probe& other = state.probe[flow::index(flow::opposite(dir))];
    if (!other.first.empty() && !other.failed) {
      state.http->parse(
          state.side_of(flow::opposite(dir)),
          std::span(reinterpret_cast<const uint8_t*>(other.first.data()), other.first.size()));
    }
    for (FlowState::Probe& q : state.probe) q.first = {};
    release_if_idle(state);
    return;
  }
  if (request == http::Probe::kNeedMore || response == http::Probe::kNeedMore) {
    if (p.probed < options_.probe_depth) return;
  }
  p.failed = true;
  p.first = {};
  const FlowState::Probe& other = state.probe[flow::index(flow::opposite(dir))];
  const bool midstream = f.is_tcp() && f.tcp.midstream() && p.probed < options_.probe_depth;
  if (other.failed && !midstream) {
    f.app_proto = core::AppProto::kFailed;
    counters_.inc(AppCounter::kFlowsFailed);
    f.data[app_slot().id()].reset();  // nothing more to keep
  }
}

void AppLayer::on_stream_event(flow::Flow& f, flow::Direction dir, stream::StreamEvent event) {
  FlowState* state = app_slot().get(f);
  if (state == nullptr || !state->parsing || event != stream::StreamEvent::kGap) return;
  parser(*state).on_gap(state->side_of(dir));
  release_if_idle(*state);
}

void AppLayer::on_packet(const decode::PacketView&, flow::Flow*, flow::Direction) {
  // Datagram parsers hook in here; none is registered yet, so there is nothing to run.
}

void AppLayer::on_flow_end(flow::Flow& f) {
  FlowState* state = app_slot().get(f);
  if (state != nullptr && state->http) state->http->on_end();
  if (state != nullptr) state->http.reset();
}

namespace {

// Whether a body follows the headers (RFC 9112 §6.3): a request has one only with Content-Length
// or Transfer-Encoding; a response has none to HEAD, with 1xx, 204 or 304, or Content-Length 0.
bool expects_body(const http::Transaction& tx, http::Side side) {
  const http::Message& m = side == http::Side::kRequest ? tx.request : tx.response;
  const http::Header* length = m.find("Content-Length");
  const bool zero_length =
      length != nullptr && length->value.find_first_not_of("0 \t") == std::string::npos;
  if (side == http::Side::kRequest) {
    return m.find("Transfer-Encoding") != nullptr || (length != nullptr && !zero_length);
  }
  if (tx.has_request && tx.request.method == "HEAD") return false;
  const std::string& code = m.status_code;
  if (code == "204" || code == "304" || (!code.empty() && code[0] == '1')) return false;
  return m.find("Transfer-Encoding") != nullptr || !zero_length;
}

}  // namespace

void AppLayer::inspect(FlowState& state, http::Transaction& tx, http::Side side,
                       http::Event event) {
  // At the body limit what detection sees of the message is final: it is inspected whole then,
  // and its end only closes the transaction.
  const bool complete = event != http::Event::kHeaders;
  const http::Message& message = side == http::Side::kRequest ? tx.request : tx.response;
  const int s = side == http::Side::kRequest ? 0 : 1;
  uint64_t& early = state.headers_inspected[s];
  if (!complete) {
    // Without a body to wait for, the complete message follows at once: inspect it once, then.
    if (message.complete || !expects_body(tx, side)) return;
    early = tx.id + 1;
  }
  const bool body_seen = event == http::Event::kComplete && state.body_inspected[s] == tx.id + 1;
  if (event == http::Event::kBodyLimit) state.body_inspected[s] = tx.id + 1;
  http::Buffers b;
  http::fill_buffers(tx, side, b);
  std::fill(buffers_.begin(), buffers_.end(), std::nullopt);
  for (const auto& [id, field] : http_map_) {
    if (b.has(field)) buffers_[id] = b.get(field);
  }
  if (file_data_ != rules::Registry::kNoBuffer && complete) {
    const auto body = side == http::Side::kRequest ? http::BufferField::kRequestBody
                                                   : http::BufferField::kResponseBody;
    if (b.has(body)) buffers_[file_data_] = b.get(body);
  }
  if (options_.payload) {
    payload_.assign(message.line);
    payload_ += "\r\n";
    payload_ += message.headers_raw;
    if (complete) payload_ += message.body;
    buffers_[rules::kPayloadBuffer] = payload_;
  }
  TxInspection inspection;
  inspection.flow = &state.flow_;
  inspection.dir = state.dir_of(side);
  inspection.proto = core::AppProto::kHttp;
  inspection.tx_id = tx.id;
  inspection.request_dir = state.request_dir;
  inspection.complete = complete;
  inspection.headers_inspected = complete && early == tx.id + 1;
  inspection.body_inspected = body_seen;
  // Done when both messages are: a server may answer before the request's body has arrived.
  inspection.tx_done = event == http::Event::kComplete && tx.has_response && tx.response.complete &&
                       (!tx.has_request || tx.request.complete);
  inspection.buffers = buffers_;
  inspection.http = &tx;
  sink_.on_transaction(inspection);
}

}  // namespace spanguard::applayer
