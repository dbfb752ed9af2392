// Normalisation of HTTP request targets and hosts as Suricata's default libhtp configuration does
// it (personality IDS, with Suricata's overrides): the http.uri and http.host buffers, and the
// small field-value helpers the parser shares with them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spanguard::applayer::http {

// A request target split the way libhtp splits it: a scheme only when the target does not start
// with '/', an authority only after a scheme and "//", then path, '?' query, '#' fragment.
struct UriParts {
  std::string_view scheme, userinfo, host, port, path, query, fragment;
  bool has_authority = false, has_query = false, has_fragment = false;
};
UriParts split_uri(std::string_view target);
// "host[:port]" (CONNECT targets, Host values); an IPv6 literal keeps its brackets.
void split_host_port(std::string_view hostport, std::string_view& host, std::string_view& port);

// http.uri: the path %-decoded (%uHHHH too), '\' made '/', "//" compressed, UTF-8 best-fit
// mapped and dot segments removed (RFC 3986 §5.2.4); then '?' and the query %-decoded (no %u, '+'
// kept); then '#' and the fragment %-decoded. Invalid escapes keep their '%'. A CONNECT target
// has no path: its http.uri is empty. `anomalies` gets bit(Anomaly) flags.
std::string normalize_uri(std::string_view target, bool connect, uint32_t& anomalies);
std::string normalize_path(std::string_view path, uint32_t& anomalies);
// libhtp's generic %-decoder; `u_decode` enables %uHHHH.
std::string url_decode(std::string_view s, bool u_decode, uint32_t& anomalies);
// Hostname of "host[:port]": lower case, port removed, trailing dots removed, LWS trimmed.
std::string normalize_host(std::string_view hostport);

std::string_view trim_lws(std::string_view s);  // SP and HT at both ends
bool iequals(std::string_view a, std::string_view b);
bool has_token(std::string_view list, std::string_view token);  // comma-separated, any case
std::optional<uint64_t> parse_content_length(std::string_view value);
bool is_token(std::string_view s);  // RFC 7230 §3.2.6 tchar+

}  // namespace spanguard::applayer::http
