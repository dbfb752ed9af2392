// HTTP/1.x on one flow: the parser's transactions handed to detection at the points where their
// buffers are complete (a message's line and headers when a body follows, then the whole message),
// and the parser dropped between transactions so that an idle keep-alive connection costs nothing.
#include <algorithm>
#include <list>

#include "session.h"

namespace spanguard::applayer {

namespace {

http::Side http_side(Side s) {
  return s == Side::kClient ? http::Side::kRequest : http::Side::kResponse;
}

// Whether a body follows the headers (RFC 9112 §6.3): a request has one only with Content-Length
// or Transfer-Encoding; a response has none to HEAD, with 1xx, 204 or 304, or Content-Length 0.
bool expects_body(const http::Transaction& tx, http::Side side) {
  const http::Message& m = side == http::Side::kRequest ? tx.request : tx.response();
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

class HttpSession final : public Session, public http::Observer {
 public:
  using Session::Session;

  size_t parse(Side side, std::span<const uint8_t> data) override {
    if (tunnel_) return data.size();
    parser().parse(http_side(side), data);
    release_if_idle();
    return data.size();
  }
  void on_gap(Side side) override {
    if (tunnel_) return;
    parser().on_gap(http_side(side));
    release_if_idle();
  }
  void on_end() override {
    if (parser_) parser_->on_end();  // (parked requests end unanswered: nothing to report)
    parser_.reset();
    parked_.clear();
  }
  Status status() const override { return tunnel_ ? Status::kDone : Status::kParsing; }

 private:
  // Between messages a connection holds nothing the parser would need again but the requests
  // waiting for their answers: the parser is dropped, those parked, and it is rebuilt with them,
  // numbering transactions on, when the next message starts.
  http::Parser& parser() {
    if (!parser_) {
      parser_ = std::make_unique<http::Parser>(ctx_.options.http, *this, ctx_.http);
      parser_->set_next_tx_id(next_tx_id_);
      if (!parked_.empty()) parser_->unpark(std::move(parked_));
      parked_.clear();
    }
    return *parser_;
  }
  void release_if_idle() {
    if (!parser_) return;
    if (parser_->tunnel()) {
      tunnel_ = true;
      parser_.reset();
    } else if (parser_->parkable()) {
      next_tx_id_ = parser_->next_tx_id();
      parked_ = parser_->park();
      parser_.reset();
      ctx_.counters.inc(AppCounter::kParsersReleased);
    }
  }

  void on_http(http::Transaction& tx, http::Side side, http::Event event) override;

  // Null between messages (see release_if_idle): then parked_ holds the requests that wait for
  // their answers, and next_tx_id_ where numbering resumes when the parser is rebuilt.
  std::unique_ptr<http::Parser> parser_;
  std::list<http::Transaction> parked_;
  uint64_t next_tx_id_ = 0;
  bool tunnel_ = false;                     // CONNECT or Upgrade accepted: nothing more to parse
  uint64_t headers_inspected_[2] = {0, 0};  // by side: 1 + id of the last message inspected early
  uint64_t body_inspected_[2] = {0, 0};     // by side: 1 + id of the last body final at its limit
};

void HttpSession::on_http(http::Transaction& tx, http::Side side, http::Event event) {
  // At the body limit what detection sees of the message is final: it is inspected whole then,
  // and its end only closes the transaction.
  const bool complete = event != http::Event::kHeaders;
  const http::Message& message = side == http::Side::kRequest ? tx.request : tx.response();
  const int s = side == http::Side::kRequest ? 0 : 1;
  uint64_t& early = headers_inspected_[s];
  if (!complete) {
    // Without a body to wait for, the complete message follows at once: inspect it once, then.
    if (message.complete || !expects_body(tx, side)) return;
    early = tx.id + 1;
  }
  const bool body_seen = event == http::Event::kComplete && body_inspected_[s] == tx.id + 1;
  if (event == http::Event::kBodyLimit) body_inspected_[s] = tx.id + 1;
  http::Buffers b;
  http::fill_buffers(tx, side, b);
  ctx_.begin();
  for (const auto& [id, field] : ctx_.http_map) {
    if (b.has(field)) ctx_.buffers[id] = b.get(field);
  }
  if (ctx_.file_data != rules::Registry::kNoBuffer && complete) {
    const auto body = side == http::Side::kRequest ? http::BufferField::kRequestBody
                                                   : http::BufferField::kResponseBody;
    if (b.has(body)) ctx_.buffers[ctx_.file_data] = b.get(body);
  }
  if (ctx_.options.payload) {
    ctx_.scratch.assign(message.line);
    ctx_.scratch += "\r\n";
    ctx_.scratch += message.headers_raw;
    if (complete) ctx_.scratch += message.body;
    ctx_.buffers[rules::kPayloadBuffer] = ctx_.scratch;
  }
  ctx_.set(rules::AppFact::kHttpRequestEvents, tx.request_anomalies);
  ctx_.set(rules::AppFact::kHttpResponseEvents, tx.anomalies & ~tx.request_anomalies);
  TxInspection inspection = this->inspection(
      core::AppProto::kHttp, side == http::Side::kRequest ? Side::kClient : Side::kServer, tx.id);
  inspection.complete = complete;
  inspection.headers_inspected = complete && early == tx.id + 1;
  inspection.body_inspected = body_seen;
  // Done when both messages are: a server may answer before the request's body has arrived.
  inspection.tx_done = event == http::Event::kComplete && tx.has_response &&
                       tx.response().complete && (!tx.has_request || tx.request.complete);
  inspection.http = &tx;
  ctx_.emit(inspection);
}

}  // namespace

std::unique_ptr<Session> make_http_session(AppLayer::Context& ctx, flow::Flow& flow,
                                           flow::Direction client_dir) {
  return std::make_unique<HttpSession>(ctx, flow, client_dir);
}

}  // namespace spanguard::applayer
