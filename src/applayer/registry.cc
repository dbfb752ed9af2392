// Buffer tables of the application layer. Names, legacy modifiers and pcre flags are Suricata's
// (its keyword documentation, "HTTP Keywords" and "pcre"); `side` says which message fills a
// buffer, as Suricata registers each buffer for one direction or both.
#include "spanguard/applayer/registry.h"

#include <algorithm>

#include "spanguard/applayer/dns.h"
#include "spanguard/applayer/http.h"
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

// app-layer-event names (Suricata's, from libhtp's and its DNS parser's event tables) and the
// anomalies of our parsers that raise them.
struct AppEvent {
  std::string_view name;
  rules::AppFact fact;
  uint32_t bits;
};
using HA = http::Anomaly;
using DA = dns::Anomaly;
constexpr rules::AppFact kReqEv = rules::AppFact::kHttpRequestEvents;
constexpr rules::AppFact kRespEv = rules::AppFact::kHttpResponseEvents;
constexpr AppEvent kEvents[] = {
    {"http.request_line_invalid", kReqEv, http::bit(HA::kInvalidRequestLine)},
    {"http.request_field_missing_colon", kReqEv, http::bit(HA::kInvalidHeader)},
    {"http.request_header_invalid", kReqEv, http::bit(HA::kInvalidHeader)},
    {"http.invalid_request_field_folding", kReqEv, http::bit(HA::kFoldedHeader)},
    {"http.request_field_too_long", kReqEv, http::bit(HA::kHeaderLimit)},
    {"http.invalid_request_chunk_len", kReqEv, http::bit(HA::kInvalidChunkSize)},
    {"http.invalid_transfer_encoding_value_in_request", kReqEv,
     http::bit(HA::kUnknownTransferEncoding)},
    {"http.invalid_content_length_field_in_request", kReqEv, http::bit(HA::kInvalidContentLength)},
    {"http.duplicate_content_length_field_in_request", kReqEv,
     http::bit(HA::kConflictingContentLength)},
    {"http.missing_host_header", kReqEv, http::bit(HA::kHostMissing)},
    {"http.host_header_ambiguous", kReqEv, http::bit(HA::kHostMismatch)},
    {"http.response_invalid_protocol", kRespEv, http::bit(HA::kInvalidProtocol)},
    {"http.response_invalid_status", kRespEv, http::bit(HA::kInvalidStatusCode)},
    {"http.response_field_missing_colon", kRespEv, http::bit(HA::kInvalidHeader)},
    {"http.response_header_invalid", kRespEv, http::bit(HA::kInvalidHeader)},
    {"http.invalid_response_field_folding", kRespEv, http::bit(HA::kFoldedHeader)},
    {"http.response_field_too_long", kRespEv, http::bit(HA::kHeaderLimit)},
    {"http.invalid_response_chunk_len", kRespEv, http::bit(HA::kInvalidChunkSize)},
    {"http.invalid_transfer_encoding_value_in_response", kRespEv,
     http::bit(HA::kUnknownTransferEncoding)},
    {"http.invalid_content_length_field_in_response", kRespEv,
     http::bit(HA::kInvalidContentLength)},
    {"http.duplicate_content_length_field_in_response", kRespEv,
     http::bit(HA::kConflictingContentLength)},
    {"http.unable_to_match_response_to_request", kRespEv, http::bit(HA::kResponseWithoutRequest)},
    {"http.gzip_decompression_failed", kRespEv, http::bit(HA::kDecompressionFailed)},
    {"http.compression_bomb", kRespEv, http::bit(HA::kCompressionBomb)},
    {"dns.malformed_data", rules::AppFact::kDnsEvents,
     dns::bit(DA::kTruncatedHeader) | dns::bit(DA::kBadName) | dns::bit(DA::kCountMismatch) |
         dns::bit(DA::kBadRdata) | dns::bit(DA::kTrailingData)},
    {"dns.z_flag_set", rules::AppFact::kDnsEvents, dns::bit(DA::kZFlagSet)},
    {"dns.invalid_opcode", rules::AppFact::kDnsEvents, dns::bit(DA::kInvalidOpcode)},
    {"dns.name_too_long", rules::AppFact::kDnsEvents, dns::bit(DA::kNameTooLong)},
    {"dns.label_too_long", rules::AppFact::kDnsEvents, dns::bit(DA::kLabelTooLong)},
    {"dns.infinite_loop", rules::AppFact::kDnsEvents, dns::bit(DA::kPointerLoop)},
};

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
  for (const AppEvent& e : kEvents) r.add_event({std::string(e.name), e.fact, e.bits});
  return r;
}

}  // namespace

const rules::Registry& rule_registry() {
  static const rules::Registry registry = build();
  return registry;
}

}  // namespace spanguard::applayer
