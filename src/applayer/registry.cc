// Buffer tables of the application layer. Names, legacy modifiers and pcre flags are Suricata's
// (its keyword documentation, "HTTP Keywords" and "pcre"); `side` says which message fills a
// buffer, as Suricata registers each buffer for one direction or both.
#include "spanguard/applayer/registry.h"

#include <algorithm>

#include "spanguard/applayer/http_buffers.h"

namespace spanguard::applayer {

namespace {

using core::AppProto;
using rules::BufferDef;
using rules::BufferSide;

constexpr BufferSide kReq = BufferSide::kRequest;
constexpr BufferSide kResp = BufferSide::kResponse;
constexpr BufferSide kEither = BufferSide::kEither;

// Buffers of the other protocols, by Suricata's keyword documentation ("TLS Keywords", "JA3/JA4
// Keywords", "DNS Keywords", "SSH Keywords", "SMTP Keywords"): sticky name, older sticky
// spelling, the message that fills it.
struct OtherBuffer {
  const char* name;
  const char* alias;
  AppProto proto;
  BufferSide side;
};
constexpr OtherBuffer kOtherBuffers[] = {
    {"tls.sni", "tls_sni", AppProto::kTls, kReq},
    {"tls.cert_subject", "tls_cert_subject", AppProto::kTls, kResp},
    {"tls.cert_issuer", "tls_cert_issuer", AppProto::kTls, kResp},
    {"tls.cert_serial", "tls_cert_serial", AppProto::kTls, kResp},
    {"tls.cert_fingerprint", "tls_cert_fingerprint", AppProto::kTls, kResp},
    {"tls.certs", "", AppProto::kTls, kResp},
    {"ja3.hash", "ja3_hash", AppProto::kTls, kReq},
    {"ja3.string", "ja3_string", AppProto::kTls, kReq},
    {"ja3s.hash", "", AppProto::kTls, kResp},
    {"ja3s.string", "", AppProto::kTls, kResp},
    {"ja4.hash", "", AppProto::kTls, kReq},
    {"dns.query", "dns_query", AppProto::kDns, kReq},
    {"ssh.proto", "ssh_proto", AppProto::kSsh, kEither},
    {"ssh.software", "ssh_software", AppProto::kSsh, kEither},
    {"ssh.hassh", "", AppProto::kSsh, kReq},
    {"ssh.hassh.string", "", AppProto::kSsh, kReq},
    {"ssh.hassh.server", "", AppProto::kSsh, kResp},
    {"ssh.hassh.server.string", "", AppProto::kSsh, kResp},
    {"smtp.helo", "", AppProto::kSmtp, kReq},
    {"smtp.mail_from", "", AppProto::kSmtp, kReq},
    {"smtp.rcpt_to", "", AppProto::kSmtp, kReq},
};

// Protocols rules can name: those with a parser (whose buffers rules can use), and SMB and
// DCE/RPC, identified only, whose rules match their payload.
constexpr AppProto kParsed[] = {AppProto::kHttp,    AppProto::kTls, AppProto::kDns,
                                AppProto::kSsh,     AppProto::kFtp, AppProto::kSmtp,
                                AppProto::kFtpData, AppProto::kSmb, AppProto::kDcerpc};

bool parsed(AppProto p) {
  return std::find(std::begin(kParsed), std::end(kParsed), p) != std::end(kParsed);
}

rules::Registry build() {
  rules::Registry r;
  for (const HttpBufferDef& h : http_buffer_defs()) {
    BufferDef d = h.def;
    d.proto = AppProto::kHttp;
    d.filled = true;
    r.add_buffer(std::move(d));
  }
  for (const OtherBuffer& o : kOtherBuffers) {
    BufferDef d;
    d.name = o.name;
    d.alias = o.alias;
    d.proto = o.proto;
    d.side = o.side;
    d.filled = parsed(o.proto);
    r.add_buffer(std::move(d));
  }
  for (const AppProto p : kParsed) r.add_parser(p);
  return r;
}

}  // namespace

const rules::Registry& rule_registry() {
  static const rules::Registry registry = build();
  return registry;
}

}  // namespace spanguard::applayer
