// The HTTP/1.x parser: one state machine per direction over the reassembled bytes (RFC 7230 §3:
// start line, header fields, message body framed by §3.3.3), transactions pairing responses with
// requests in order, and the anomalies and limits an IDS needs on hostile input.
#include "spanguard/applayer/http.h"

#include <algorithm>
#include <cstring>

#include "spanguard/applayer/http_decompress.h"
#include "spanguard/applayer/http_normalize.h"
#include "spanguard/applayer/http_sticky_buffers.h"
#include "spanguard/core/heap.h"

namespace spanguard::applayer::http {

namespace {

using HC = HttpCounter;

constexpr core::CounterDef kCounterDefs[] = {
    {"requests", "HTTP requests parsed (request lines)"},
    {"requests.http09", "HTTP/0.9 simple requests"},
    {"responses", "final HTTP responses parsed"},
    {"responses.interim", "1xx interim responses skipped (100 Continue, ...)"},
    {"transactions", "HTTP transactions created"},
    {"tunnels", "flows that became tunnels (CONNECT accepted, 101 Switching Protocols)"},
    {"gaps", "capture gaps in HTTP flows"},
    {"body_bytes", "HTTP body bytes kept for inspection"},
    {"decompressed_bytes", "bytes produced by Content-Encoding decoding"},
    {"anomaly.invalid_request_line", "request lines that are not method SP target [SP protocol]"},
    {"anomaly.invalid_response_line", "responses without an HTTP/ status line"},
    {"anomaly.invalid_protocol", "protocol versions other than HTTP/1.0 and HTTP/1.1"},
    {"anomaly.invalid_status_code", "status codes that are not three digits"},
    {"anomaly.invalid_header", "header lines without a colon or with a non-token name"},
    {"anomaly.folded_header", "obs-fold header continuation lines"},
    {"anomaly.header_limit", "messages whose line and headers went over the header limit"},
    {"anomaly.invalid_content_length", "Content-Length values that are not numbers"},
    {"anomaly.conflicting_content_length", "repeated Content-Length fields that differ"},
    {"anomaly.content_length_with_chunked", "messages with both Content-Length and chunked"},
    {"anomaly.unknown_transfer_encoding", "Transfer-Encoding without chunked"},
    {"anomaly.invalid_chunk_size", "chunk size lines that are not hexadecimal"},
    {"anomaly.invalid_chunk_end", "chunk data not followed by CRLF"},
    {"anomaly.unknown_content_encoding", "Content-Encoding values not decoded"},
    {"anomaly.decompression_failed", "bodies with invalid compressed data"},
    {"anomaly.compression_bomb", "bodies whose decoding stopped at the bomb limits"},
    {"anomaly.too_many_transactions", "transactions dropped at the per-flow limit"},
    {"anomaly.response_without_request", "responses with no request to pair with"},
    {"anomaly.gap", "messages cut short by a capture gap"},
    {"anomaly.truncated", "messages cut short by the end of the flow"},
    {"anomaly.invalid_uri_encoding", "request targets with invalid %-encoding"},
    {"anomaly.uri_nul", "request paths with a NUL byte"},
    {"anomaly.host_missing", "HTTP/1.1 requests without Host"},
    {"anomaly.host_mismatch", "absolute-form targets whose host differs from Host"},
    {"anomaly.data_after_http09", "bytes after an HTTP/0.9 request"},
    {"anomaly.connect_data_dropped",
     "client bytes after CONNECT dropped while awaiting the answer"},
};
static_assert(std::size(kCounterDefs) == static_cast<size_t>(HC::kCount));
constexpr core::CounterGroup kCounterGroup{"http", kCounterDefs};

constexpr size_t kMaxFields = 1024;       // per header block, as Suricata's headers-limit
constexpr size_t kMaxChunkLine = 1024;    // chunk-size line with extensions
constexpr size_t kProbeBytes = 24;        // enough to decide probe_request / probe_response
constexpr size_t kResyncWindow = 256;     // line tail searched for a start line after a gap
constexpr uint32_t kMinTransactions = 4;  // referenced at once: request, response, CONNECT (+1)

// Methods recognised at the start of a flow (RFC 9110 §9, WebDAV RFC 4918, RFC 3253, RFC 5789).
constexpr std::string_view kMethods[] = {
    "GET",
    "POST",
    "HEAD",
    "PUT",
    "DELETE",
    "OPTIONS",
    "TRACE",
    "CONNECT",
    "PATCH",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "SEARCH",
    "REPORT",
    "CHECKOUT",
    "CHECKIN",
    "UNCHECKOUT",
    "MKWORKSPACE",
    "UPDATE",
    "LABEL",
    "MERGE",
    "MKACTIVITY",
    "MKCALENDAR",
    "ACL",
    "BIND",
    "UNBIND",
    "REBIND",
    "ORDERPATCH",
    "VERSION-CONTROL",
    "BASELINE-CONTROL",
};

constexpr std::string_view kAnomalyNames[] = {
    "invalid_request_line",
    "invalid_response_line",
    "invalid_protocol",
    "invalid_status_code",
    "invalid_header",
    "folded_header",
    "header_limit",
    "invalid_content_length",
    "conflicting_content_length",
    "content_length_with_chunked",
    "unknown_transfer_encoding",
    "invalid_chunk_size",
    "invalid_chunk_end",
    "unknown_content_encoding",
    "decompression_failed",
    "compression_bomb",
    "too_many_transactions",
    "response_without_request",
    "gap",
    "truncated",
    "invalid_uri_encoding",
    "uri_nul",
    "host_missing",
    "host_mismatch",
    "data_after_http09",
    "connect_data_dropped",
};
static_assert(std::size(kAnomalyNames) == static_cast<size_t>(Anomaly::kCount));

constexpr size_t kKeptLineCapacity = 1024;  // a line buffer larger than this is freed when idle

bool is_space(char c) { return c == ' ' || c == '\t'; }

// Frees the buffer (assigning an empty string keeps the capacity).
using core::release;

std::string_view as_view(const uint8_t* p, size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

// Splits off the next run of non-space bytes; skips the spaces after it.
std::string_view next_word(std::string_view& s) {
  size_t end = 0;
  while (end < s.size() && !is_space(s[end])) ++end;
  std::string_view word = s.substr(0, end);
  while (end < s.size() && is_space(s[end])) ++end;
  s.remove_prefix(end);
  return word;
}

bool valid_protocol(std::string_view p) { return iequals(p, "HTTP/1.1") || iequals(p, "HTTP/1.0"); }

std::string_view strip_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

size_t message_bytes(const Message& m) {
  size_t n = m.line.capacity() + m.method.capacity() + m.uri_raw.capacity() +
             m.protocol.capacity() + m.status_code.capacity() + m.status_msg.capacity() +
             m.headers_raw.capacity() + m.body.capacity() + m.start_buf.capacity() +
             m.header_buf.capacity() + m.header_names_buf.capacity();
  for (const Header& h : m.headers) n += sizeof h + h.name.capacity() + h.value.capacity();
  for (const Header& h : m.merged) n += sizeof h + h.name.capacity() + h.value.capacity();
  return n;
}

}  // namespace

std::string_view anomaly_name(Anomaly a) {
  return a < Anomaly::kCount ? kAnomalyNames[static_cast<size_t>(a)] : std::string_view{};
}

const core::CounterGroup& http_counter_group() { return kCounterGroup; }

Probe probe_request(std::span<const uint8_t> first_bytes) {
  const std::string_view s = as_view(first_bytes.data(), first_bytes.size());
  bool need_more = false;
  for (const std::string_view m : kMethods) {
    if (s.size() > m.size()) {
      if (s.starts_with(m) && is_space(s[m.size()])) return Probe::kYes;
    } else if (m.starts_with(s)) {
      need_more = true;
    }
  }
  return need_more ? Probe::kNeedMore : Probe::kNo;
}

Probe probe_response(std::span<const uint8_t> first_bytes) {
  constexpr std::string_view kPrefix = "HTTP/";
  const std::string_view s = as_view(first_bytes.data(), first_bytes.size());
  if (s.size() <= kPrefix.size()) return kPrefix.starts_with(s) ? Probe::kNeedMore : Probe::kNo;
  return s.starts_with(kPrefix) && s[5] >= '0' && s[5] <= '9' ? Probe::kYes : Probe::kNo;
}

Parser::Parser(const Limits& limits, Observer& observer, core::Counters<HttpCounter>& counters)
    : limits_(limits), observer_(observer), counters_(counters) {}

Parser::~Parser() = default;

bool Parser::idle() const { return txs_.empty() && parkable(); }

bool Parser::parkable() const {
  if (orphaned_ != 0 || connect_tx_ != nullptr || tunnel_ || ended_) return false;
  for (const Stream* s : {&req_, &res_}) {
    if (s->state != State::kStart || !s->line.empty() || s->line_dropped != 0 || !s->held.empty() ||
        s->detached || s->decoder || s->tx != nullptr)
      return false;
  }
  return std::all_of(txs_.begin(), txs_.end(), [](const Transaction& tx) {
    return tx.has_request && tx.request.complete && !tx.has_response;
  });
}

std::list<Transaction> Parser::park() {
  std::list<Transaction> parked;
  parked.splice(parked.end(), txs_);
  return parked;
}

void Parser::unpark(std::list<Transaction> txs) { txs_.splice(txs_.begin(), txs); }

void Parser::flag(Transaction* tx, Anomaly a) {
  if (tx != nullptr) {
    if (tx->anomalies & bit(a)) return;  // counted once per transaction
    tx->anomalies |= bit(a);
    if (reading_ == Side::kRequest) tx->request_anomalies |= bit(a);
  }
  counters_.inc(anomaly_counter(a));
}

void Parser::parse(Side side, std::span<const uint8_t> data) {
  if (tunnel_ || ended_ || data.empty()) return;
  feed(side, data.data(), data.data() + data.size());
}

void Parser::feed(Side side, const uint8_t* p, const uint8_t* end) {
  reading_ = side;
  Stream& s = stream(side);
  while (p < end && !tunnel_) {
    switch (s.state) {
      case State::kStart:
        start_line(side, s, p, end);
        break;
      case State::kHeaders:
      case State::kTrailers:
        header_line(side, s, p, end);
        break;
      case State::kBodyLength:
      case State::kChunkData:
      case State::kBodyClose:
        body_bytes(side, s, p, end);
        break;
      case State::kChunkSize:
        chunk_size(side, s, p, end);
        break;
      case State::kChunkDataEnd:
        chunk_data_end(side, s, p, end);
        break;
      case State::kConnectWait:
        hold(s, p, end);
        break;
      case State::kResync:
        resync(side, s, p, end);
        break;
      case State::kIgnore:
        ignore(s, p, end);
        break;
    }
  }
}

// Moves the bytes up to the next LF into s.line (the LF itself is consumed, not kept). At most
// `cap` bytes of a line are kept: the rest is counted in s.line_dropped. True when the line ended.
bool Parser::take_line(Stream& s, const uint8_t*& p, const uint8_t* end, size_t cap) {
  const auto* lf = static_cast<const uint8_t*>(std::memchr(p, '\n', end - p));
  const uint8_t* stop = lf != nullptr ? lf : end;
  const size_t n = stop - p;
  const size_t room = cap > s.line.size() ? cap - s.line.size() : 0;
  const size_t keep = std::min(n, room);
  s.line.append(reinterpret_cast<const char*>(p), keep);
  if (n > keep) {
    s.line_dropped +=
        static_cast<uint32_t>(std::min<size_t>(n - keep, UINT32_MAX - s.line_dropped));
    s.line_last = stop[-1];
  }
  p = lf != nullptr ? lf + 1 : end;
  return lf != nullptr;
}

void Parser::reset_line(Stream& s) {
  s.line.clear();
  s.line_dropped = 0;
  s.line_last = 0;
}

void Parser::start_line(Side side, Stream& s, const uint8_t*& p, const uint8_t* end) {
  if (side == Side::kResponse && s.line.empty() && s.line_dropped == 0 && orphaned_ == 0) {
    // RFC 1945 §4.1: the answer to a simple request is the entity alone, up to the close.
    for (Transaction& tx : txs_) {
      if (!tx.has_request || tx.has_response) continue;
      if (tx.http09) {
        counters_.inc(HC::kResponses);
        tx.has_response = true;
        tx.writable_response().headers_done = true;
        s.tx = &tx;
        s.state = State::kBodyClose;
        notify(tx, Side::kResponse, Event::kHeaders);
        return;
      }
      break;
    }
  }
  if (!take_line(s, p, end, limits_.header_limit)) return;
  const bool over = s.line_dropped > 0;
  const std::string_view raw = s.line;
  const std::string_view line = strip_cr(raw);
  if (line.empty() && !over) {  // RFC 7230 §3.5: empty lines before a start line are ignored
    reset_line(s);
    return;
  }
  s.header_bytes =
      static_cast<uint32_t>(std::min<uint64_t>(s.line.size() + s.line_dropped + 1, UINT32_MAX));
  if (side == Side::kRequest) {
    request_line(s, line, over);
  } else {
    status_line(s, raw, line, over);
  }
  reset_line(s);
}

void Parser::request_line(Stream& s, std::string_view line, bool over) {
  std::string_view rest = line;
  while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
  const std::string_view method = next_word(rest);
  const std::string_view target = next_word(rest);
  const std::string_view protocol = rest;  // the rest: "GET /a b HTTP/1.1" has "b HTTP/1.1"
  if (!is_token(method) || target.empty()) {
    flag(nullptr, Anomaly::kInvalidRequestLine);
    s.state = State::kResync;
    s.header_bytes = 0;
    return;
  }
  Transaction& tx = new_transaction();
  counters_.inc(HC::kRequests);
  tx.has_request = true;
  Message& m = tx.request;
  m.line = line;
  m.method = method;
  m.uri_raw = target;
  m.protocol = std::string(trim_lws(protocol));
  const bool connect = iequals(m.method, "CONNECT");
  uint32_t uri_anomalies = 0;
  tx.uri = normalize_uri(m.uri_raw, connect, uri_anomalies);
  for (size_t a = 0; a < static_cast<size_t>(Anomaly::kCount); ++a) {
    if (uri_anomalies & bit(static_cast<Anomaly>(a))) flag(&tx, static_cast<Anomaly>(a));
  }
  if (over) {
    flag(&tx, Anomaly::kHeaderLimit);
    s.over_limit = true;
  }
  if (m.protocol.empty()) {
    // HTTP/0.9 simple request (RFC 1945 §4.1): no headers, and no further requests.
    counters_.inc(HC::kRequestsHttp09);
    tx.http09 = true;
    s.tx = &tx;
    prepare_headers(Side::kRequest, tx);
    notify(tx, Side::kRequest, Event::kHeaders);
    complete_message(Side::kRequest, s, State::kIgnore);
    return;
  }
  if (!valid_protocol(m.protocol)) flag(&tx, Anomaly::kInvalidProtocol);
  s.tx = &tx;
  s.state = State::kHeaders;
}

void Parser::status_line(Stream& s, std::string_view raw, std::string_view line, bool over) {
  if (line.size() < 5 || !iequals(line.substr(0, 5), "HTTP/")) {
    // Not a status line: like libhtp, take the response to be a body running to the close.
    Transaction& tx = pair_response(s);
    flag(&tx, Anomaly::kInvalidResponseLine);
    counters_.inc(HC::kResponses);
    tx.has_response = true;
    tx.writable_response().headers_done = true;
    s.tx = &tx;
    s.header_bytes = 0;
    notify(tx, Side::kResponse, Event::kHeaders);
    start_body(Side::kResponse, s, Framing::kClose, 0);
    std::string first(raw);
    if (!over) first += '\n';
    deliver_body(Side::kResponse, s, reinterpret_cast<const uint8_t*>(first.data()), first.size());
    return;
  }
  std::string_view rest = line;
  const std::string_view protocol = next_word(rest);
  const std::string_view code = next_word(rest);
  const bool digits =
      code.size() == 3 &&
      std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
      code[0] != '0';
  // RFC 7231 §6.2: a 1xx response is interim, the final one follows (101 ends HTTP here).
  const bool interim = digits && code[0] == '1' && code != "101";
  Transaction* tx;
  if (interim) {
    counters_.inc(HC::kInterimResponses);
    s.detached = std::make_unique<Transaction>();
    s.interim = true;
    tx = s.detached.get();
  } else {
    tx = &pair_response(s);
    counters_.inc(HC::kResponses);
  }
  tx->has_response = true;
  Message& m = tx->writable_response();
  m.line = line;
  m.protocol = protocol;
  m.status_code = code;
  m.status_msg = trim_lws(rest);
  if (!digits) flag(tx, Anomaly::kInvalidStatusCode);
  if (!valid_protocol(m.protocol)) flag(tx, Anomaly::kInvalidProtocol);
  if (over) {
    flag(tx, Anomaly::kHeaderLimit);
    s.over_limit = true;
  }
  s.tx = tx;
  s.state = State::kHeaders;
}

void Parser::header_line(Side side, Stream& s, const uint8_t*& p, const uint8_t* end) {
  const size_t budget =
      limits_.header_limit > s.header_bytes ? limits_.header_limit - s.header_bytes : 0;
  if (!take_line(s, p, end, s.over_limit ? 0 : budget)) return;
  const uint64_t line_bytes = uint64_t{s.line.size()} + s.line_dropped + 1;
  s.header_bytes =
      static_cast<uint32_t>(std::min<uint64_t>(s.header_bytes + line_bytes, UINT32_MAX));
  Transaction& tx = *s.tx;
  Message& m = message(side, tx);
  const bool dropped = s.line_dropped > 0;
  const bool empty = dropped ? (s.line.empty() && s.line_dropped == 1 && s.line_last == '\r')
                             : strip_cr(s.line).empty();
  if (empty) {
    // The empty line closing a trailer block is raw header data only if there were trailers.
    if (!dropped && (s.state == State::kHeaders || s.trailers_seen)) {
      m.headers_raw.append(s.line).append("\n");
    }
    reset_line(s);
    if (s.state == State::kTrailers) {
      derive_header_buffers(m, side);
      complete_message(side, s, State::kStart);
    } else {
      finish_headers(side, s);
    }
    return;
  }
  if (dropped || s.over_limit || m.headers.size() >= kMaxFields) {
    if (!s.over_limit) {
      flag(&tx, Anomaly::kHeaderLimit);
      s.over_limit = true;
    }
    reset_line(s);
    return;
  }
  m.headers_raw.append(s.line).append("\n");
  if (s.state == State::kTrailers) s.trailers_seen = true;
  add_field(tx, m, strip_cr(s.line));
  reset_line(s);
}

void Parser::add_field(Transaction& tx, Message& m, std::string_view line) {
  if (is_space(line.front())) {
    // obs-fold (RFC 7230 §3.2.4): the line continues the previous field's value.
    flag(&tx, Anomaly::kFoldedHeader);
    const std::string_view more = trim_lws(line);
    if (!m.headers.empty()) {
      if (!more.empty()) {
        std::string& value = m.headers.back().value;
        if (!value.empty()) value += ' ';
        value += more;
      }
      return;
    }
    line = more;  // nothing to continue: a field of its own
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    // libhtp keeps such a line as a value without a name.
    flag(&tx, Anomaly::kInvalidHeader);
    m.headers.push_back({std::string(), std::string(trim_lws(line))});
    return;
  }
  std::string_view name = line.substr(0, colon);
  // "Name : value" is kept as "Name" (as libhtp does) but flagged: servers differ on it.
  const std::string_view trimmed = trim_lws(name);
  if (trimmed.size() != name.size() || !is_token(trimmed)) flag(&tx, Anomaly::kInvalidHeader);
  name = trimmed;
  m.headers.push_back({std::string(name), std::string(trim_lws(line.substr(colon + 1)))});
}

// Header-derived state of a message whose header block is over (or cut short).
void Parser::prepare_headers(Side side, Transaction& tx) {
  Message& m = message(side, tx);
  m.headers_done = true;
  derive_header_buffers(m, side);
  if (side != Side::kRequest) return;
  const bool connect = iequals(m.method, "CONNECT");
  const Header* host = m.field("Host");
  std::string_view uri_host;
  uint32_t uri_anomalies = 0;
  if (connect) {
    std::string_view port;
    split_host_port(m.uri_raw, uri_host, port);
  } else {
    const UriParts u = split_uri(m.uri_raw);
    if (u.has_authority) uri_host = u.host;
  }
  if (!uri_host.empty()) {
    // libhtp: the target's host (%-decoded) wins over Host.
    tx.host = normalize_host(url_decode(uri_host, true, uri_anomalies));
    tx.host_from_uri = true;
    if (host != nullptr && normalize_host(host->value) != tx.host) {
      flag(&tx, Anomaly::kHostMismatch);
    }
  } else if (host != nullptr) {
    tx.host = normalize_host(host->value);
    tx.host_from_uri = false;
  } else if (iequals(m.protocol, "HTTP/1.1")) {
    flag(&tx, Anomaly::kHostMissing);
  }
}

Parser::Framing Parser::framing(Side side, Transaction& tx, uint64_t& length) {
  Message& m = message(side, tx);
  length = 0;
  if (side == Side::kResponse) {
    const std::string_view code = m.status_code;
    const bool connect = tx.has_request && iequals(tx.request.method, "CONNECT");
    if (code == "101" || (connect && code.size() == 3 && code[0] == '2')) return Framing::kTunnel;
    // RFC 7230 §3.3.3 item 1: no body after HEAD, nor with 1xx, 204 and 304.
    if ((tx.has_request && iequals(tx.request.method, "HEAD")) || code == "204" || code == "304" ||
        code.starts_with('1')) {
      return Framing::kNone;
    }
  } else if (iequals(m.method, "CONNECT")) {
    return Framing::kNone;  // what follows is for the tunnel, or the next request
  }

  // Repeated Content-Length: the first counts; a differing one is a smuggling sign.
  const Header* cl = nullptr;
  for (const Header& h : m.headers) {
    if (!iequals(h.name, "Content-Length")) continue;
    if (cl == nullptr) {
      cl = &h;
    } else if (parse_content_length(h.value) != parse_content_length(cl->value)) {
      flag(&tx, Anomaly::kConflictingContentLength);
    }
  }
  if (const Header* te = m.field("Transfer-Encoding")) {
    // Anything but one "chunked" is anomalous, "chunked, chunked" (a smuggling trick that splits
    // front ends from back ends) included, though the body is still read as chunked.
    if (!iequals(te->value, "chunked")) flag(&tx, Anomaly::kUnknownTransferEncoding);
    if (has_token(te->value, "chunked")) {
      if (cl != nullptr) flag(&tx, Anomaly::kContentLengthWithChunked);
      return Framing::kChunked;
    }
    // RFC 7230 §3.3.3 item 3: a response without final chunked runs to the close.
    if (side == Side::kResponse) return Framing::kClose;
  }
  if (cl != nullptr) {
    const std::optional<uint64_t> n = parse_content_length(cl->value);
    if (!n) {
      flag(&tx, Anomaly::kInvalidContentLength);
      return side == Side::kResponse ? Framing::kClose : Framing::kNone;
    }
    length = *n;
    return length == 0 ? Framing::kNone : Framing::kLength;
  }
  // RFC 7230 §3.3.3 items 6 and 7: requests without framing have no body.
  return side == Side::kResponse ? Framing::kClose : Framing::kNone;
}

void Parser::finish_headers(Side side, Stream& s) {
  Transaction& tx = *s.tx;
  s.over_limit = false;
  if (s.interim) {  // a 1xx interim response: nothing of it is kept
    s.detached.reset();
    s.interim = false;
    s.tx = nullptr;
    s.header_bytes = 0;
    s.state = State::kStart;
    return;
  }
  prepare_headers(side, tx);
  uint64_t length = 0;
  const Framing f = framing(side, tx, length);
  notify(tx, side, Event::kHeaders);
  if (f == Framing::kTunnel) {
    counters_.inc(HC::kTunnels);
    tunnel_ = true;
    connect_tx_ = nullptr;
    release(req_.held);
    complete_message(side, s, State::kIgnore);
    return;
  }
  const bool answers_connect = side == Side::kResponse && &tx == connect_tx_;
  if (answers_connect) connect_tx_ = nullptr;
  if (side == Side::kRequest && iequals(tx.request.method, "CONNECT")) {
    // Until the answer is known, what the client sends next is either tunnel bytes or requests.
    const bool answered = tx.has_response && tx.response().headers_done;
    if (!answered) connect_tx_ = &tx;
    complete_message(side, s, answered ? State::kStart : State::kConnectWait);
    return;
  }
  start_body(side, s, f, length);
  if (f == Framing::kNone) complete_message(side, s, State::kStart);
  // The CONNECT was refused: what the client sent meanwhile was more HTTP.
  if (answers_connect) resume_requests();
}

void Parser::start_body(Side side, Stream& s, Framing f, uint64_t length) {
  s.body_done = false;
  s.header_bytes = 0;
  switch (f) {
    case Framing::kLength:
      s.remaining = length;
      s.state = State::kBodyLength;
      break;
    case Framing::kChunked:
      s.state = State::kChunkSize;
      break;
    case Framing::kClose:
      s.state = State::kBodyClose;
      break;
    case Framing::kNone:
    case Framing::kTunnel:
      return;
  }
  // Content-Encoding: decoded for responses and (as Suricata enables) requests.
  Transaction& tx = *s.tx;
  const Header* ce = message(side, tx).field("Content-Encoding");
  if (ce == nullptr) return;
  std::vector<Coding> codings;
  bool unknown = false;
  std::string_view list = ce->value;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view token = trim_lws(list.substr(0, comma));
    if (iequals(token, "gzip") || iequals(token, "x-gzip")) {
      codings.push_back(Coding::kGzip);
    } else if (iequals(token, "deflate") || iequals(token, "x-deflate")) {
      codings.push_back(Coding::kDeflate);
    } else if (!token.empty() && !iequals(token, "identity")) {
      unknown = true;
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  if (unknown || codings.size() > BodyDecoder::kMaxLayers) {
    flag(&tx, Anomaly::kUnknownContentEncoding);  // kept as it came
    return;
  }
  if (!codings.empty()) {
    s.decoder =
        std::make_unique<BodyDecoder>(codings, limits_.decompress_limit, limits_.decompress_ratio);
    s.decoded_reported = 0;
  }
}

void Parser::body_bytes(Side side, Stream& s, const uint8_t*& p, const uint8_t* end) {
  size_t n = end - p;
  if (s.state != State::kBodyClose) n = static_cast<size_t>(std::min<uint64_t>(n, s.remaining));
  deliver_body(side, s, p, n);
  p += n;
  if (s.state == State::kBodyClose) return;
  s.remaining -= n;
  if (s.remaining > 0) return;
  if (s.state == State::kChunkData) {
    s.state = State::kChunkDataEnd;
  } else {
    complete_message(side, s, State::kStart);
  }
}

void Parser::chunk_size(Side side, Stream& s, const uint8_t*& p, const uint8_t* end) {
  if (!take_line(s, p, end, kMaxChunkLine)) return;
  std::string_view line = trim_lws(strip_cr(s.line));
  const bool over = s.line_dropped > 0;
  if (line.empty() && !over) {  // a stray empty line before the size: tolerated
    reset_line(s);
    return;
  }
  // chunk-size [ chunk-ext ] (RFC 7230 §4.1); at most 15 hex digits (no wrap-around).
  uint64_t size = 0;
  size_t digits = 0;
  while (digits < line.size() && digits < 16) {
    const char c = line[digits];
    const int v = (c >= '0' && c <= '9')   ? c - '0'
                  : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                           : -1;
    if (v < 0) break;
    size = size * 16 + static_cast<uint64_t>(v);
    ++digits;
  }
  const std::string_view after = trim_lws(line.substr(digits));
  const bool valid = digits > 0 && digits <= 15 && (after.empty() || after.front() == ';') && !over;
  reset_line(s);
  Transaction& tx = *s.tx;
  if (!valid) {
    flag(&tx, Anomaly::kInvalidChunkSize);
    message(side, tx).truncated = true;
    complete_message(side, s, State::kResync);
    return;
  }
  if (size == 0) {
    s.header_bytes = 0;  // trailers get a header block's budget of their own
    s.trailers_seen = false;
    s.state = State::kTrailers;
    return;
  }
  s.remaining = size;
  s.state = State::kChunkData;
}

void Parser::chunk_data_end(Side side, Stream& s, const uint8_t*& p, const uint8_t* end) {
  if (!take_line(s, p, end, kMaxChunkLine)) return;
  if (s.line_dropped > 0 || !strip_cr(s.line).empty()) flag(s.tx, Anomaly::kInvalidChunkEnd);
  (void)side;
  reset_line(s);
  s.state = State::kChunkSize;
}

void Parser::deliver_body(Side side, Stream& s, const uint8_t* data, size_t n) {
  Message& m = message(side, *s.tx);
  m.body_bytes += n;
  if (n == 0) return;
  if (s.body_done) {
    m.body_truncated = true;
    return;
  }
  const size_t before = m.body.size();
  if (s.decoder) {
    decoded(side, s, s.decoder->decode({data, n}, m.body, body_limit(side)));
  } else {
    const size_t limit = body_limit(side);
    const size_t keep = std::min(n, limit > before ? limit - before : 0);
    m.body.append(reinterpret_cast<const char*>(data), keep);
    if (keep < n) {
      m.body_truncated = true;
      s.body_done = true;
    }
  }
  counters_.inc(HC::kBodyBytes, m.body.size() - before);
  // What is kept of the body is final: inspection need not wait for the rest of the message.
  if (s.body_done && !m.complete) notify(*s.tx, side, Event::kBodyLimit);
}

// After the decoder ran: counts its output, flags what it met, stops it when it is done.
void Parser::decoded(Side side, Stream& s, BodyDecoder::Result r) {
  Message& m = message(side, *s.tx);
  counters_.inc(HC::kDecompressedBytes, s.decoder->produced() - s.decoded_reported);
  s.decoded_reported = s.decoder->produced();
  if (s.decoder->failed()) flag(s.tx, Anomaly::kDecompressionFailed);
  if (r != BodyDecoder::Result::kOk) {
    if (r == BodyDecoder::Result::kBomb) flag(s.tx, Anomaly::kCompressionBomb);
    m.body_truncated = true;
    s.body_done = true;
    s.decoder.reset();
  }
}

// The body ended: the decoder gives what it still holds.
void Parser::flush_body(Side side, Stream& s) {
  if (!s.decoder) return;
  Message& m = message(side, *s.tx);
  const size_t before = m.body.size();
  decoded(side, s, s.decoder->finish(m.body, body_limit(side)));
  counters_.inc(HC::kBodyBytes, m.body.size() - before);
  s.decoder.reset();
}

void Parser::complete_message(Side side, Stream& s, State next) {
  flush_body(side, s);
  Transaction& tx = *s.tx;
  Message& m = message(side, tx);
  m.complete = true;
  s.tx = nullptr;
  s.state = next;
  s.over_limit = false;
  s.body_done = false;
  s.remaining = 0;
  s.decoded_reported = 0;
  s.header_bytes = 0;
  s.trailers_seen = false;
  s.probed = false;
  reset_line(s);
  if (s.line.capacity() > kKeptLineCapacity) release(s.line);  // idle flows stay small
  notify(tx, side, Event::kComplete);
  // A request inspected for the last time that waits for its answer keeps only what the answer's
  // inspections and the transaction's record read.
  if (side == Side::kRequest && !(tx.has_response && tx.response().complete)) {
    release_request_stage(tx.request);
  }
  if (&tx == s.detached.get()) {
    s.detached.reset();
  } else {
    maybe_release(tx);
  }
}

// A message cut short (gap, flow end): what it has is reported, as truncated.
void Parser::finish_truncated(Side side, Stream& s, Anomaly why, State next) {
  if (s.interim) {
    s.detached.reset();
    s.interim = false;
    s.tx = nullptr;
  }
  if (s.tx == nullptr) {
    reset_line(s);
    s.state = next;
    return;
  }
  Transaction& tx = *s.tx;
  Message& m = message(side, tx);
  flag(&tx, why);
  m.truncated = true;
  if (!m.headers_done) {
    prepare_headers(side, tx);
    notify(tx, side, Event::kHeaders);
  } else if (s.state == State::kTrailers) {
    derive_header_buffers(m, side);
  }
  complete_message(side, s, next);
}

void Parser::hold(Stream& s, const uint8_t*& p, const uint8_t* end) {
  const size_t n = end - p;
  const size_t room =
      limits_.header_limit > s.held.size() ? limits_.header_limit - s.held.size() : 0;
  s.held.append(reinterpret_cast<const char*>(p), std::min(n, room));
  if (n > room && !s.held_lost) {
    s.held_lost = true;
    flag(connect_tx_, Anomaly::kConnectDataDropped);
  }
  p = end;
}

void Parser::resume_requests() {
  Transaction* waited = connect_tx_;
  connect_tx_ = nullptr;
  if (waited != nullptr) maybe_release(*waited);
  if (req_.state != State::kConnectWait) return;
  std::string held;
  held.swap(req_.held);
  req_.state = req_.held_lost ? State::kResync : State::kStart;
  req_.held_lost = false;
  if (!held.empty()) {
    const auto* p = reinterpret_cast<const uint8_t*>(held.data());
    feed(Side::kRequest, p, p + held.size());
  }
}

// After a gap or an unparseable message, parsing resumes at a plausible start line: a line that
// starts like a request (status line), or - decided when the line ends, from its last
// kResyncWindow bytes - one glued after lost bytes, as the next request after a body cut by a gap
// is ("...ody bytesGET /b HTTP/1.1").
void Parser::resync(Side side, Stream& s, const uint8_t*& p, const uint8_t* end) {
  while (p < end) {
    const auto* lf = static_cast<const uint8_t*>(std::memchr(p, '\n', end - p));
    const uint8_t* stop = lf != nullptr ? lf : end;
    if (!s.probed) {
      const size_t take = std::min<size_t>(kProbeBytes - s.line.size(), stop - p);
      s.line.append(reinterpret_cast<const char*>(p), take);
      p += take;
      if (s.line.size() < kProbeBytes && p != lf) return;  // p == end: wait for more
      const std::string_view head = p == lf ? strip_cr(s.line) : std::string_view(s.line);
      const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(head.data()),
                                           head.size());
      if ((side == Side::kRequest ? probe_request(bytes) : probe_response(bytes)) == Probe::kYes) {
        s.state = State::kStart;  // s.line holds the start of the line; its LF is still ahead
        return;
      }
      s.probed = true;
      continue;
    }
    s.line.append(reinterpret_cast<const char*>(p), stop - p);
    if (s.line.size() > kResyncWindow) s.line.erase(0, s.line.size() - kResyncWindow);
    p = stop;
    if (lf == nullptr) return;
    ++p;
    resync_within(side, s);
    if (s.state != State::kResync) return;
  }
}

// A start line ending the line in s.line (a window of its last bytes): parsed if found.
void Parser::resync_within(Side side, Stream& s) {
  const std::string window = std::move(s.line);
  const std::string_view line = strip_cr(window);
  reset_line(s);
  s.probed = false;
  size_t start = std::string_view::npos;
  if (side == Side::kRequest) {
    // "... METHOD SP target SP HTTP/1.x" at the end of the line.
    if (line.size() < 9) return;
    const std::string_view version = line.substr(line.size() - 9);
    if (!iequals(version, " HTTP/1.1") && !iequals(version, " HTTP/1.0")) return;
    size_t t = line.size() - 9;  // the target runs back to a space
    while (t > 0 && !is_space(line[t - 1])) --t;
    if (t == line.size() - 9 || t < 2 || !is_space(line[t - 1])) return;
    size_t m = t - 1;  // the method: the longest known one ending right before that space
    while (m > 0 && is_space(line[m - 1])) --m;
    const size_t method_end = m;
    while (m > 0 && ((line[m - 1] >= 'A' && line[m - 1] <= 'Z') || line[m - 1] == '-')) --m;
    for (size_t i = m; i < method_end && start == std::string_view::npos; ++i) {
      const std::string_view cand = line.substr(i, method_end - i);
      if (std::find(std::begin(kMethods), std::end(kMethods), cand) != std::end(kMethods)) {
        start = i;
      }
    }
  } else {
    // "HTTP/1.x ddd" anywhere in the line: the first one.
    for (size_t at = line.find("HTTP/1."); at != std::string_view::npos;
         at = line.find("HTTP/1.", at + 1)) {
      const std::string_view c = line.substr(at);
      if (c.size() >= 12 && (c[7] == '0' || c[7] == '1') && c[8] == ' ' && c[9] >= '1' &&
          c[9] <= '9' && c[10] >= '0' && c[10] <= '9' && c[11] >= '0' && c[11] <= '9') {
        start = at;
        break;
      }
    }
  }
  if (start == std::string_view::npos) return;
  const std::string_view found = line.substr(start);
  s.header_bytes = static_cast<uint32_t>(found.size() + 2);
  if (side == Side::kRequest) {
    request_line(s, found, false);
  } else {
    status_line(s, found, found, false);
  }
  if (s.state == State::kResync) s.header_bytes = 0;
}

void Parser::ignore(Stream& s, const uint8_t*& p, const uint8_t* end) {
  for (; p < end; ++p) {
    if (*p != '\r' && *p != '\n' && *p != ' ' && *p != '\t') {
      if (!s.ignored_data) {
        s.ignored_data = true;
        flag(nullptr, Anomaly::kDataAfterHttp09);
      }
      p = end;
      return;
    }
  }
}

Transaction& Parser::new_transaction() {
  const size_t cap = std::max(limits_.max_transactions, kMinTransactions);
  bool evicted = false;
  while (txs_.size() >= cap) {
    // Drop the oldest transaction no direction is working on. An unanswered request leaves an
    // orphan: the next response is its answer, not the next request's.
    auto it = txs_.begin();
    while (it != txs_.end() && (&*it == req_.tx || &*it == res_.tx || &*it == connect_tx_)) ++it;
    if (it == txs_.end()) break;
    if (it->has_request && !it->has_response) ++orphaned_;
    txs_.erase(it);
    counters_.inc(anomaly_counter(Anomaly::kTooManyTransactions));  // one per dropped transaction
    evicted = true;
  }
  Transaction& tx = txs_.emplace_back();
  tx.id = next_id_++;
  counters_.inc(HC::kTransactions);
  if (evicted) tx.anomalies |= bit(Anomaly::kTooManyTransactions);
  return tx;
}

Transaction& Parser::pair_response(Stream& s) {
  if (orphaned_ > 0) {
    // The answer to a request dropped by max_transactions: reported on a transaction of its own,
    // held by the stream so that it pushes out no other.
    --orphaned_;
    s.detached = std::make_unique<Transaction>();
    Transaction& tx = *s.detached;
    tx.id = next_id_++;
    counters_.inc(HC::kTransactions);
    tx.anomalies |= bit(Anomaly::kTooManyTransactions);
    return tx;
  }
  for (Transaction& tx : txs_) {
    if (tx.has_request && !tx.has_response) return tx;
  }
  Transaction& tx = new_transaction();
  flag(&tx, Anomaly::kResponseWithoutRequest);
  return tx;
}

void Parser::maybe_release(Transaction& tx) {
  if (&tx == req_.tx || &tx == res_.tx || &tx == connect_tx_) return;
  if ((tx.has_request && !tx.request.complete) || !tx.response().complete) return;
  for (auto it = txs_.begin(); it != txs_.end(); ++it) {
    if (&*it == &tx) {
      txs_.erase(it);
      return;
    }
  }
}

void Parser::on_gap(Side side) {
  if (tunnel_ || ended_) return;
  counters_.inc(HC::kGaps);
  Stream& s = stream(side);
  if (s.state == State::kConnectWait) {  // the held bytes no longer follow on
    release(s.held);
    s.held_lost = true;
    return;
  }
  if (s.state == State::kIgnore) return;
  s.probed = false;
  finish_truncated(side, s, Anomaly::kGap, State::kResync);
  s.state = State::kResync;
  // The answer to a pending CONNECT may be among the lost bytes.
  if (side == Side::kResponse && connect_tx_ != nullptr) {
    req_.held_lost = true;
    resume_requests();
  }
}

void Parser::on_end() {
  if (ended_) return;
  if (!tunnel_) {
    for (const Side side : {Side::kRequest, Side::kResponse}) {
      Stream& s = stream(side);
      if (s.tx != nullptr && s.state == State::kBodyClose && !s.interim) {
        complete_message(side, s, State::kIgnore);  // RFC 7230 §3.3.3 item 7: the close ends it
      } else {
        finish_truncated(side, s, Anomaly::kTruncated, State::kIgnore);
      }
    }
  }
  ended_ = true;
  connect_tx_ = nullptr;
  txs_.clear();
  for (Stream* s : {&req_, &res_}) {
    release(s->line);
    release(s->held);
    *s = Stream();
  }
}

size_t Parser::memory_bytes() const {
  size_t n = sizeof *this;
  for (const Transaction& tx : txs_) {
    n += sizeof tx + 2 * sizeof(void*) + message_bytes(tx.request) + message_bytes(tx.response()) +
         tx.uri.capacity() + tx.host.capacity();
  }
  for (const Stream* s : {&req_, &res_}) {
    n += s->line.capacity() + s->held.capacity();
    if (s->decoder) n += s->decoder->memory_bytes();
    if (s->detached) {
      n += sizeof(Transaction) + message_bytes(s->detached->request) +
           message_bytes(s->detached->response());
    }
  }
  return n;
}

}  // namespace spanguard::applayer::http
