// TLS on one flow: the ClientHello, the ServerHello and the server's certificate chain each handed
// to detection as an inspection of the flow's one transaction, with the tls.* / ja3 / ja4 buffers
// and the facts tls.version, ssl_state and the certificate-validity keywords compare.
#include <algorithm>
#include <limits>

#include "session.h"
#include "spanguard/applayer/tls.h"

namespace spanguard::applayer {

namespace {

std::string_view view(const std::vector<uint8_t>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

uint32_t clamp_seconds(int64_t s) {
  return static_cast<uint32_t>(std::clamp<int64_t>(s, 0, std::numeric_limits<uint32_t>::max()));
}

class TlsSession final : public Session, public tls::Observer {
 public:
  TlsSession(AppLayer::Context& ctx, flow::Flow& flow, flow::Direction client_dir)
      : Session(ctx, flow, client_dir),
        parser_(tls::Limits{}, *this, ctx.tls, &ctx.tls_certificates) {}

  size_t parse(Side side, std::span<const uint8_t> data) override {
    // The handshake's first bytes as sent: the payload rules without a sticky buffer inspect
    // (Suricata matches them against the raw stream), offsets counted from the stream's start.
    std::string& raw = raw_[static_cast<int>(side)];
    if (raw.size() < kRawLimit) {
      raw.append(reinterpret_cast<const char*>(data.data()),
                 std::min(data.size(), kRawLimit - raw.size()));
    }
    parser_.parse(side, data);
    return data.size();
  }
  void on_gap(Side side) override { parser_.on_gap(side); }
  void on_end() override {
    parser_.on_end();
    record(parser_.session());  // a handshake that never completed is logged as far as it got
  }
  Status status() const override {
    if (parser_.session().handshake_done) return Status::kEncrypted;
    // Both directions lost to gaps or garbage: nothing more can be parsed.
    if (parser_.stopped(Side::kClient) && parser_.stopped(Side::kServer)) return Status::kDone;
    return Status::kParsing;
  }
  const tls::Session& session() const { return parser_.session(); }

 private:
  void on_tls(tls::Session& s, tls::Event event) override {
    switch (event) {
      case tls::Event::kClientHello:
        inspect(s, Side::kClient, nullptr, rules::kTlsStateClientHello);
        break;
      case tls::Event::kServerHello:
        inspect(s, Side::kServer, nullptr, rules::kTlsStateServerHello);
        break;
      case tls::Event::kCertificate:
        // tls.certs inspects each certificate of the chain: one inspection per certificate (a
        // rule alerts at most once per transaction).
        if (s.certificates.empty()) inspect(s, Side::kServer, nullptr, rules::kTlsStateServerHello);
        for (const tls::Certificate& c : s.certificates)
          inspect(s, Side::kServer, &c, rules::kTlsStateServerHello);
        break;
      case tls::Event::kClientKeyExchange:
        inspect(s, Side::kClient, nullptr, rules::kTlsStateClientKeyx);
        break;
      case tls::Event::kEncrypted:
        record(s);
        break;
    }
  }

  // EVE's tls log: one record per handshake, when it completes (or the flow ends first).
  void record(const tls::Session& s) {
    if (recorded_ || !s.client_hello) return;
    recorded_ = true;
    TxInspection tx = inspection(core::AppProto::kTls, Side::kServer, 0);
    tx.tls = &s;
    ctx_.sink.on_record(tx);
  }

  void inspect(const tls::Session& s, Side side, const tls::Certificate* cert, uint32_t state);

  static constexpr size_t kRawLimit = 8192;
  tls::Parser parser_;
  std::string raw_[2];  // by side: the direction's first bytes, until the session ends
  bool recorded_ = false;
};

void TlsSession::inspect(const tls::Session& s, Side side, const tls::Certificate* cert,
                         uint32_t state) {
  AppLayer::Context& c = ctx_;
  c.begin();
  if (s.client_hello) {
    if (s.has_sni) c.set(c.ids.tls_sni, s.sni);
    c.set(c.ids.ja3_hash, s.ja3_hash);
    c.set(c.ids.ja3_string, s.ja3);
    c.set(c.ids.ja4_hash, s.ja4);
  }
  if (s.server_hello) {
    c.set(c.ids.ja3s_hash, s.ja3s_hash);
    c.set(c.ids.ja3s_string, s.ja3s);
  }
  // ssl_state: the message inspected (Suricata's state names the last message parsed).
  c.set(rules::AppFact::kTlsState, state);
  // The client's version: its first supported_versions entry (RFC 8446 §4.2.1, as Suricata
  // reads it), else the hello's legacy version.
  uint16_t client_version = s.client_version;
  for (const uint16_t v : s.client_versions) {
    if (!tls::is_grease(v)) {
      client_version = v;
      break;
    }
  }
  const uint16_t version = side == Side::kClient ? client_version : s.version;
  if (version != 0) c.set(rules::AppFact::kTlsVersion, version);
  // The server certificate is the chain's first (RFC 5246 §7.4.2).
  if (!s.certificates.empty() && s.certificates.front().parsed) {
    const tls::Certificate& leaf = s.certificates.front();
    c.set(c.ids.tls_cert_subject, leaf.subject);
    c.set(c.ids.tls_cert_issuer, leaf.issuer);
    c.set(c.ids.tls_cert_serial, leaf.serial);
    c.set(c.ids.tls_cert_fingerprint, leaf.fingerprint);
    const int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(flow_.last_seen.time_since_epoch())
            .count();
    c.set(rules::AppFact::kTlsNotBefore, clamp_seconds(leaf.not_before));
    c.set(rules::AppFact::kTlsNotAfter, clamp_seconds(leaf.not_after));
    c.set(rules::AppFact::kTlsCertExpired, now > leaf.not_after ? 1 : 0);
    c.set(rules::AppFact::kTlsCertValid, now >= leaf.not_before && now <= leaf.not_after ? 1 : 0);
  }
  if (cert != nullptr) c.set(c.ids.tls_certs, view(cert->der));
  c.set(rules::kPayloadBuffer, raw_[static_cast<int>(side)]);
  TxInspection tx = inspection(core::AppProto::kTls, side, 0);
  tx.tls = &s;
  c.emit(tx);
}

}  // namespace

std::unique_ptr<Session> make_tls_session(AppLayer::Context& ctx, flow::Flow& flow,
                                          flow::Direction client_dir) {
  return std::make_unique<TlsSession>(ctx, flow, client_dir);
}

}  // namespace spanguard::applayer
