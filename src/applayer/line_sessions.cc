// SSH, FTP and SMTP on one flow: each protocol's parser, and its messages handed to detection —
// SSH banners and key-exchange offers (ssh.proto, ssh.software, hassh), FTP commands with the
// ftpbounce fact, SMTP mails with their envelope buffers and each decoded attachment as file.data.
// FTP's AUTH TLS and SMTP's STARTTLS hand the flow over to a TLS session at the exact byte.
#include <algorithm>
#include <optional>

#include "session.h"
#include "spanguard/applayer/ftp.h"
#include "spanguard/applayer/smtp.h"
#include "spanguard/applayer/ssh.h"

namespace spanguard::applayer {

namespace {

class SshSession final : public Session, public ssh::Observer {
 public:
  SshSession(AppLayer::Context& ctx, flow::Flow& flow, flow::Direction client_dir)
      : Session(ctx, flow, client_dir), parser_(ssh::Limits{}, *this, ctx.ssh) {}

  size_t parse(Side side, std::span<const uint8_t> data) override {
    parser_.parse(side, data);
    return data.size();
  }
  void on_gap(Side side) override { parser_.on_gap(side); }
  void on_end() override { parser_.on_end(); }
  Status status() const override {
    if (parser_.session().encrypted) return Status::kEncrypted;
    return parser_.done() ? Status::kDone : Status::kParsing;
  }

 private:
  void on_ssh(const ssh::Session& s, Side side, ssh::Event event) override {
    if (event != ssh::Event::kBanner && event != ssh::Event::kKexInit) return;
    AppLayer::Context& c = ctx_;
    c.begin();
    const ssh::Endpoint& e = s.endpoint(side);
    if (e.banner_done) {
      c.set(c.ids.ssh_proto, e.proto_version);
      c.set(c.ids.ssh_software, e.software_version);
    }
    if (s.client.kexinit_done) {
      c.set(c.ids.ssh_hassh, s.client.hassh);
      c.set(c.ids.ssh_hassh_string, s.client.hassh_string);
    }
    if (s.server.kexinit_done) {
      c.set(c.ids.ssh_hassh_server, s.server.hassh);
      c.set(c.ids.ssh_hassh_server_string, s.server.hassh_string);
    }
    TxInspection tx = inspection(core::AppProto::kSsh, side, 0);
    tx.ssh = &s;
    c.emit(tx);
  }

  ssh::Parser parser_;
};

// FTP and SMTP parsers share their shape: bytes consumed up to a protocol switch (AUTH TLS,
// STARTTLS), after which the client's held bytes and the rest go to a TLS session.
template <typename Parser, typename Limits>
class StartTlsSession : public Session {
 public:
  template <typename Observer, typename Counters>
  StartTlsSession(AppLayer::Context& ctx, flow::Flow& flow, flow::Direction client_dir,
                  Observer& observer, Counters& counters)
      : Session(ctx, flow, client_dir), parser_(Limits{}, observer, counters) {}

  size_t parse(Side side, std::span<const uint8_t> data) override {
    return parser_.parse(side, data);
  }
  void on_gap(Side side) override { parser_.on_gap(side); }
  void on_end() override { parser_.on_end(); }
  Status status() const override {
    return parser_.stopped() && !parser_.tls() ? Status::kDone : Status::kParsing;
  }
  core::AppProto switch_to() const override {
    return parser_.tls() ? core::AppProto::kTls : core::AppProto::kNone;
  }
  std::string held_client_bytes() const override { return std::string(parser_.held_client_tls()); }

 protected:
  Parser parser_;
};

// The observer base comes first: it exists before the parser is given it.
class FtpSession final : public ftp::Observer, public StartTlsSession<ftp::Parser, ftp::Limits> {
 public:
  FtpSession(AppLayer::Context& ctx, flow::Flow& flow, flow::Direction client_dir)
      : StartTlsSession(ctx, flow, client_dir, *this, ctx.ftp) {}

 private:
  void on_ftp(ftp::Transaction& tx, ftp::Event event) override {
    switch (event) {
      case ftp::Event::kCommand:
        if (!tx.command.empty()) inspect(tx, std::nullopt);
        return;
      case ftp::Event::kExpectation:
        if (!tx.expectation) return;
        // PORT/EPRT: ftpbounce holds when the announced address is not the client's.
        if (tx.expectation->active && tx.expectation->address) {
          inspect(tx, ftp::is_bounce(*tx.expectation, flow::sender_address(flow_, client_dir_)));
        }
        ctx_.expect_data(flow_, client_dir_, *tx.expectation);
        return;
      case ftp::Event::kReply:
      case ftp::Event::kStartTls:
      case ftp::Event::kComplete:
        return;
    }
  }

  // The command line as the payload, with the ftpbounce fact when the command announces one.
  void inspect(const ftp::Transaction& tx, std::optional<bool> bounce) {
    AppLayer::Context& c = ctx_;
    c.begin();
    c.scratch.assign(tx.command);
    if (!tx.command_data.empty()) c.scratch.append(" ").append(tx.command_data);
    c.set(rules::kPayloadBuffer, c.scratch);
    if (bounce) c.set(rules::AppFact::kFtpBounce, *bounce ? 1 : 0);
    TxInspection inspection = this->inspection(core::AppProto::kFtp, Side::kClient, tx.id);
    inspection.ftp = &tx;
    c.emit(inspection);
  }
};

class SmtpSession final : public smtp::Observer,
                          public StartTlsSession<smtp::Parser, smtp::Limits> {
 public:
  SmtpSession(AppLayer::Context& ctx, flow::Flow& flow, flow::Direction client_dir)
      : StartTlsSession(ctx, flow, client_dir, *this, ctx.smtp) {}

 private:
  void on_smtp(smtp::Event event, smtp::Transaction* tx) override {
    if (event != smtp::Event::kMailComplete || tx == nullptr) return;
    // One inspection per recipient and per attachment (smtp.rcpt_to and file.data hold one value
    // each); a rule alerts at most once per mail.
    const size_t n = std::max<size_t>({1, tx->rcpt_to.size(), tx->attachments.size()});
    for (size_t i = 0; i < n; ++i) {
      AppLayer::Context& c = ctx_;
      c.begin();
      c.set(c.ids.smtp_helo, tx->helo);
      c.set(c.ids.smtp_mail_from, tx->mail_from);
      if (i < tx->rcpt_to.size()) c.set(c.ids.smtp_rcpt_to, tx->rcpt_to[i]);
      if (i < tx->attachments.size()) c.set(c.file_data, tx->attachments[i].content);
      c.set(rules::kPayloadBuffer, tx->raw_message);
      TxInspection inspection = this->inspection(core::AppProto::kSmtp, Side::kClient, tx->id);
      inspection.tx_done = i + 1 == n;
      inspection.smtp = tx;
      c.emit(inspection);
    }
  }
};

}  // namespace

std::unique_ptr<Session> make_ssh_session(AppLayer::Context& ctx, flow::Flow& flow,
                                          flow::Direction client_dir) {
  return std::make_unique<SshSession>(ctx, flow, client_dir);
}
std::unique_ptr<Session> make_ftp_session(AppLayer::Context& ctx, flow::Flow& flow,
                                          flow::Direction client_dir) {
  return std::make_unique<FtpSession>(ctx, flow, client_dir);
}
std::unique_ptr<Session> make_smtp_session(AppLayer::Context& ctx, flow::Flow& flow,
                                           flow::Direction client_dir) {
  return std::make_unique<SmtpSession>(ctx, flow, client_dir);
}

}  // namespace spanguard::applayer
