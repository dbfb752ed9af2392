// HTTP buffer names, as Suricata's HTTP keyword documentation lists them: sticky name, older
// sticky spelling, legacy content modifier, pcre flag (U I M V W Z H D C P Q S Y), and the
// message that fills each.
#include "spanguard/applayer/http_buffers.h"

namespace spanguard::applayer {

namespace {

using rules::BufferSide;
using B = http::Buffers;

constexpr BufferSide kReq = BufferSide::kRequest;
constexpr BufferSide kResp = BufferSide::kResponse;
constexpr BufferSide kEither = BufferSide::kEither;

HttpBufferDef def(const char* name, const char* alias, const char* legacy, char flag,
                  BufferSide side, std::string_view B::*member, bool body = false) {
  HttpBufferDef d;
  d.def.name = name;
  d.def.alias = alias;
  d.def.legacy = legacy;
  d.def.pcre_flag = flag;
  d.def.side = side;
  d.def.body = body;
  d.member = member;
  return d;
}

const HttpBufferDef kDefs[] = {
    def("http.uri", "", "http_uri", 'U', kReq, &B::uri),
    def("http.uri.raw", "", "http_raw_uri", 'I', kReq, &B::uri_raw),
    def("http.method", "", "http_method", 'M', kReq, &B::method),
    def("http.protocol", "http_protocol", "", 0, kEither, &B::protocol),
    def("http.request_line", "http_request_line", "", 0, kReq, &B::request_line),
    def("http.start", "http_start", "", 0, kEither, &B::start),
    def("http.host", "", "http_host", 'W', kReq, &B::host),
    def("http.host.raw", "", "http_raw_host", 'Z', kReq, &B::host_raw),
    def("http.user_agent", "", "http_user_agent", 'V', kReq, &B::user_agent),
    def("http.header", "", "http_header", 'H', kEither, &B::header),
    def("http.header.raw", "", "http_raw_header", 'D', kEither, &B::header_raw),
    def("http.header_names", "http_header_names", "", 0, kEither, &B::header_names),
    def("http.cookie", "", "http_cookie", 'C', kEither, &B::cookie),
    def("http.referer", "http_referer", "", 0, kReq, &B::referer),
    def("http.content_type", "http_content_type", "", 0, kEither, &B::content_type),
    def("http.content_len", "http_content_len", "", 0, kEither, &B::content_len),
    def("http.accept", "http_accept", "", 0, kReq, &B::accept),
    def("http.accept_enc", "http_accept_enc", "", 0, kReq, &B::accept_enc),
    def("http.accept_lang", "http_accept_lang", "", 0, kReq, &B::accept_lang),
    def("http.connection", "http_connection", "", 0, kReq, &B::connection),
    def("http.request_body", "", "http_client_body", 'P', kReq, &B::request_body, true),
    def("http.response_line", "http_response_line", "", 0, kResp, &B::response_line),
    def("http.stat_code", "", "http_stat_code", 'S', kResp, &B::stat_code),
    def("http.stat_msg", "", "http_stat_msg", 'Y', kResp, &B::stat_msg),
    def("http.location", "", "", 0, kResp, &B::location),
    def("http.server", "", "", 0, kResp, &B::server),
    def("http.response_body", "", "http_server_body", 0, kResp, &B::response_body, true),
    // file.data on HTTP: the body of the message inspected (Suricata 7: uploads to_server, the
    // response body to_client); pcre Q.
    def("file.data", "file_data", "", 'Q', kEither, nullptr, true),
};

}  // namespace

std::span<const HttpBufferDef> http_buffer_defs() { return kDefs; }

}  // namespace spanguard::applayer
