// DNS on one flow, over UDP (a message per datagram) or TCP (length-prefixed messages, RFC 1035
// §4.2.2): each query and each response is one inspection, paired into a transaction by the
// message id; dns.query is inspected once per question, with the dns.opcode and dns.rrtype facts.
#include <algorithm>

#include "session.h"
#include "spanguard/applayer/dns.h"

namespace spanguard::applayer {

namespace {

// Queries waiting for their response, per flow: beyond this the oldest is forgotten (its
// response then starts a transaction of its own).
constexpr size_t kMaxPending = 64;

class DnsSession final : public Session {
 public:
  DnsSession(AppLayer::Context& ctx, flow::Flow& flow, flow::Direction client_dir)
      : Session(ctx, flow, client_dir), framer_{dns::TcpFramer(ctx.dns), dns::TcpFramer(ctx.dns)} {}

  size_t parse(Side side, std::span<const uint8_t> data) override {
    if (!flow_.is_tcp()) {
      message(side, data);
      return data.size();
    }
    framer_[static_cast<int>(side)].feed(data,
                                         [&](std::span<const uint8_t> m) { message(side, m); });
    return data.size();
  }
  void on_gap(Side side) override { framer_[static_cast<int>(side)].on_gap(); }
  void on_end() override {}
  Status status() const override { return Status::kParsing; }

 private:
  void message(Side side, std::span<const uint8_t> wire);
  uint64_t transaction_of(const dns::Header& h);

  dns::TcpFramer framer_[2];
  std::vector<std::pair<uint16_t, uint64_t>> pending_;  // query id -> transaction
  uint64_t next_tx_ = 0;
};

uint64_t DnsSession::transaction_of(const dns::Header& h) {
  if (!h.qr) {
    if (pending_.size() >= kMaxPending) pending_.erase(pending_.begin());
    pending_.emplace_back(h.id, next_tx_);
    return next_tx_++;
  }
  const auto it = std::find_if(pending_.begin(), pending_.end(),
                               [&](const auto& p) { return p.first == h.id; });
  if (it == pending_.end()) return next_tx_++;  // a response to a query not seen
  const uint64_t tx = it->second;
  pending_.erase(it);
  return tx;
}

void DnsSession::message(Side side, std::span<const uint8_t> wire) {
  AppLayer::Context& c = ctx_;
  dns::Message& m = c.dns_message;
  dns::parse_message(wire, m);
  dns::count_message(m, c.dns);
  if (!m.header_ok) return;
  const uint64_t tx_id = transaction_of(m.header);
  // The message's own direction decides the inspection's; QR says whether it is the request.
  const flow::Direction dir = dir_of(side);
  const flow::Direction request_dir = m.header.qr ? flow::opposite(dir) : dir;
  const auto bytes = m.wire();
  auto emit = [&](const dns::Question* q, bool last) {
    c.begin();
    c.set(rules::kPayloadBuffer,
          std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    c.set(rules::AppFact::kDnsOpcode, m.header.opcode);
    c.set(rules::AppFact::kDnsEvents, m.anomalies);
    if (q != nullptr) {
      // dns.query is the request's question name (Suricata: to_server only).
      if (!m.header.qr) c.set(c.ids.dns_query, q->name);
      c.set(rules::AppFact::kDnsRrtype, q->type);
    }
    TxInspection tx = inspection(core::AppProto::kDns, side, tx_id);
    tx.dir = dir;
    tx.request_dir = request_dir;
    tx.tx_done = m.header.qr && last;
    tx.dns = &m;
    c.emit(tx);
    if (last) c.sink.on_record(tx);  // the message, once, for EVE's dns log
  };
  // One inspection per question: dns.query holds one name at a time (a rule alerts at most once
  // per transaction).
  const auto questions = m.questions();
  if (questions.empty()) emit(nullptr, true);
  for (size_t i = 0; i < questions.size(); ++i) emit(&questions[i], i + 1 == questions.size());
}

}  // namespace

std::unique_ptr<Session> make_dns_session(AppLayer::Context& ctx, flow::Flow& flow,
                                          flow::Direction client_dir) {
  return std::make_unique<DnsSession>(ctx, flow, client_dir);
}

}  // namespace spanguard::applayer
