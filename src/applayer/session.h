// The interface between the application-layer stage and one protocol's parser of one flow, and
// what every protocol session shares of the stage: options, counters, and the buffers and facts of
// the inspection being built.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spanguard/applayer/app_layer.h"
#include "spanguard/applayer/dns.h"
#include "spanguard/applayer/ftp.h"
#include "spanguard/applayer/side.h"
#include "spanguard/applayer/smtp.h"
#include "spanguard/applayer/ssh.h"
#include "spanguard/applayer/tls.h"

namespace spanguard::applayer {

struct AppLayer::Context {
  Context(const AppLayerOptions& o, const rules::Registry& r, TransactionSink& s);
  // Body limits are 0 for the sides no rule inspects.
  static void limit_bodies(AppLayerOptions& o);

  AppLayerOptions options;
  const rules::Registry& registry;
  TransactionSink& sink;
  std::vector<std::optional<std::string_view>> buffers;  // by BufferId
  std::optional<uint32_t> facts[static_cast<size_t>(rules::AppFact::kCount)];
  std::string scratch;  // per-inspection bytes a session builds (the HTTP payload buffer)
  core::Counters<AppCounter> counters;
  core::Counters<http::HttpCounter> http;
  core::Counters<tls::TlsCounter> tls;
  core::Counters<dns::DnsCounter> dns;
  core::Counters<ssh::SshCounter> ssh;
  core::Counters<ftp::FtpCounter> ftp;
  core::Counters<smtp::SmtpCounter> smtp;
  dns::Message dns_message;  // the message being inspected (one per worker: no allocation)
  tls::CertificateCache tls_certificates;  // servers' chains decoded once per worker
  // The other protocols' buffers in this registry (kNoBuffer where it lacks one).
  struct BufferIds {
    rules::BufferId tls_sni, tls_cert_subject, tls_cert_issuer, tls_cert_serial,
        tls_cert_fingerprint, tls_certs, ja3_hash, ja3_string, ja3s_hash, ja3s_string, ja4_hash,
        dns_query, ssh_proto, ssh_software, ssh_hassh, ssh_hassh_string, ssh_hassh_server,
        ssh_hassh_server_string, smtp_helo, smtp_mail_from, smtp_rcpt_to;
  } ids;
  // HTTP's buffers in this registry: sticky buffer id -> the parser's field; file.data's id.
  std::vector<std::pair<rules::BufferId, http::BufferField>> http_map;
  rules::BufferId file_data = rules::Registry::kNoBuffer;

  // The id of a sticky buffer, kNoBuffer when the registry lacks it (tests with a small one).
  rules::BufferId id(std::string_view sticky) const { return registry.find_sticky(sticky); }
  // Clears the buffers and facts for a new inspection.
  void begin();
  void set(rules::BufferId id, std::string_view bytes) {
    if (id != rules::Registry::kNoBuffer) buffers[id] = bytes;
  }
  void set(rules::AppFact f, uint32_t value) { facts[static_cast<size_t>(f)] = value; }
  // Hands `tx`, with the buffers and facts set since begin(), to detection.
  void emit(TxInspection& tx);

  // FTP data connections announced by control sessions: this layer's own, or a table shared
  // with the other workers' (AppLayer::share_expectations).
  static constexpr std::chrono::seconds kExpectationTimeout{60};
  DataExpectations own_expectations;
  DataExpectations* expectations = &own_expectations;
  void expect_data(const flow::Flow& control, flow::Direction client_dir,
                   const ftp::Expectation& e);
  // The expectation a new flow fulfils (its responder endpoint), removed; nullopt when none (or
  // it expired).
  std::optional<DataExpectations::Expectation> fulfil(const flow::Flow& data_flow);
};

// One protocol's parser state of one flow. The stage gives it each direction's bytes in order
// (datagrams one by one for UDP), tagged with the side that sent them.
class Session {
 public:
  enum class Status : uint8_t {
    kParsing,    // more to parse
    kEncrypted,  // the payload is encrypted from here on: nothing more to parse or inspect
    kDone,       // nothing more to parse (a tunnel, a protocol switch the stage does not follow)
  };

  Session(AppLayer::Context& ctx, flow::Flow& flow, flow::Direction client_dir)
      : ctx_(ctx), flow_(flow), client_dir_(client_dir) {}
  virtual ~Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Returns how many bytes of `data` belong to this protocol: all of them, except where the
  // session switches protocol (STARTTLS): the rest is the new protocol's (switch_to()).
  virtual size_t parse(Side side, std::span<const uint8_t> data) = 0;
  virtual void on_gap(Side side) = 0;
  virtual void on_end() = 0;
  virtual Status status() const = 0;
  // The session now speaks another protocol (STARTTLS): the stage replaces it with a session of
  // that protocol and gives it the bytes that follow. kNone when it does not.
  virtual core::AppProto switch_to() const { return core::AppProto::kNone; }
  // At a switch: client bytes that followed the switching command, the start of the client's
  // stream in the new protocol.
  virtual std::string held_client_bytes() const { return {}; }

  flow::Direction client_dir() const { return client_dir_; }

 protected:
  flow::Direction dir_of(Side s) const {
    return s == Side::kClient ? client_dir_ : flow::opposite(client_dir_);
  }
  // An inspection of this flow for `proto`, message from `side`, transaction `tx_id`.
  TxInspection inspection(core::AppProto proto, Side side, uint64_t tx_id) const {
    TxInspection tx;
    tx.flow = &flow_;
    tx.dir = dir_of(side);
    tx.request_dir = client_dir_;
    tx.proto = proto;
    tx.tx_id = tx_id;
    tx.complete = true;
    return tx;
  }

  AppLayer::Context& ctx_;
  flow::Flow& flow_;
  flow::Direction client_dir_;
};

std::unique_ptr<Session> make_http_session(AppLayer::Context& ctx, flow::Flow& flow,
                                           flow::Direction client_dir);
std::unique_ptr<Session> make_dns_session(AppLayer::Context& ctx, flow::Flow& flow,
                                          flow::Direction client_dir);
std::unique_ptr<Session> make_ssh_session(AppLayer::Context& ctx, flow::Flow& flow,
                                          flow::Direction client_dir);
std::unique_ptr<Session> make_ftp_session(AppLayer::Context& ctx, flow::Flow& flow,
                                          flow::Direction client_dir);
std::unique_ptr<Session> make_smtp_session(AppLayer::Context& ctx, flow::Flow& flow,
                                           flow::Direction client_dir);
std::unique_ptr<Session> make_tls_session(AppLayer::Context& ctx, flow::Flow& flow,
                                          flow::Direction client_dir);

}  // namespace spanguard::applayer
