// Parsing and printing of the stream's tls://, tcp:// and unix:// URLs, with errors that say what
// to write.
#include "spanguard/output/stream_url.h"

#include <arpa/inet.h>
#include <sys/un.h>

#include <cctype>
#include <charconv>

#include "spanguard/core/error.h"

namespace spanguard::output {

namespace {

constexpr std::string_view kTcpPrefix = "tcp://";
constexpr std::string_view kTlsPrefix = "tls://";
constexpr std::string_view kUnixPrefix = "unix://";
constexpr std::string_view kForms = "expected tls://HOST:PORT, tcp://HOST:PORT or unix:///PATH";

bool is_ipv6_literal(const std::string& text) {
  in6_addr addr{};
  return inet_pton(AF_INET6, text.c_str(), &addr) == 1;
}

// RFC 1123 host names: letters, digits, hyphens and dots. IPv4 literals pass the same test.
bool is_host_name(std::string_view text) {
  if (text.empty() || text.size() > 253) return false;
  for (const char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
  }
  return text.front() != '-' && text.front() != '.';
}

}  // namespace

std::string StreamUrl::text() const {
  if (scheme == Scheme::kUnix) return std::string(kUnixPrefix) + path;
  const bool v6 = host.find(':') != std::string::npos;
  return std::string(scheme == Scheme::kTls ? kTlsPrefix : kTcpPrefix) +
         (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool StreamUrl::stays_on_host() const {
  if (scheme == Scheme::kUnix) return true;
  if (host == "localhost") return true;  // RFC 6761 §6.3: always the loopback address
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    // ::ffff:127.x.y.z is IPv4 loopback reached through an IPv6 socket.
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;  // a host name: where it resolves to is not known until it is used
}

void require_private_transport(const StreamUrl& url, std::string_view what, bool insecure,
                               std::string_view insecure_key) {
  if (url.scheme != StreamUrl::Scheme::kTcp || insecure || url.stays_on_host()) return;
  throw core::ConfigError(std::string(what) + ": '" + url.text() +
                          "': plaintext TCP beyond the loopback address is refused; use tls://" +
                          url.text().substr(kTcpPrefix.size()) +
                          " (mutually authenticated TLS 1.3), or accept unencrypted alerts with " +
                          std::string(insecure_key));
}

StreamUrl parse_stream_url(std::string_view url, std::string_view what, UrlUse use) {
  const auto fail = [&](std::string_view why) {
    return core::ConfigError(std::string(what) + ": '" + std::string(url) +
                             "': " + std::string(why));
  };
  StreamUrl out;
  if (url.starts_with(kUnixPrefix)) {
    out.scheme = StreamUrl::Scheme::kUnix;
    out.path = std::string(url.substr(kUnixPrefix.size()));
    if (out.path.empty() || out.path.front() != '/') {
      throw fail("a unix socket needs an absolute path: unix:///run/spanguard/alerts.sock");
    }
    // sun_path also holds the terminating NUL.
    if (out.path.size() >= sizeof(sockaddr_un::sun_path)) {
      throw fail("unix socket paths are limited to " +
                 std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
    }
    return out;
  }
  if (url.starts_with(kTlsPrefix)) {
    out.scheme = StreamUrl::Scheme::kTls;
  } else if (!url.starts_with(kTcpPrefix)) {
    throw fail(kForms);
  }
  static_assert(kTcpPrefix.size() == kTlsPrefix.size());
  std::string_view rest = url.substr(kTcpPrefix.size());
  std::string_view host, port_text;
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) throw fail("missing ']' after the IPv6 address");
    host = rest.substr(1, close - 1);
    rest.remove_prefix(close + 1);
    if (!rest.starts_with(':')) throw fail("missing ':PORT' after the IPv6 address");
    port_text = rest.substr(1);
    out.host = std::string(host);
    if (!is_ipv6_literal(out.host)) throw fail("'" + out.host + "' is not an IPv6 address");
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos)
      throw fail("missing ':PORT' (" + std::string(kForms) + ")");
    host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      throw fail("an IPv6 address goes in brackets: tls://[2001:db8::1]:9000");
    }
    if (host.empty()) throw fail("missing host (use 0.0.0.0 or [::] to listen on every address)");
    if (!is_host_name(host))
      throw fail("'" + std::string(host) + "' is not a host name or address");
    out.host = std::string(host);
  }
  if (port_text.ends_with('/')) port_text.remove_suffix(1);
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    throw fail("port must be a number from " + std::string(use == UrlUse::kListen ? "0" : "1") +
               " to 65535");
  }
  if (port == 0 && use == UrlUse::kConnect) throw fail("port 0 cannot be connected to");
  out.port = static_cast<uint16_t>(port);
  return out;
}

}  // namespace spanguard::output
