// Addresses of the alert stream's endpoints: `tls://HOST:PORT` and `tcp://HOST:PORT` (IPv4,
// `[IPv6]` or a host name) and `unix:///PATH`, as written in output.socket.connect/listen,
// `--alerts` and the collector's `--listen`; and the rule that keeps plaintext on the host.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace spanguard::output {

struct StreamUrl {
  enum class Scheme : uint8_t { kTcp, kTls, kUnix };

  Scheme scheme = Scheme::kTcp;
  std::string host;   // kTcp, kTls: an IPv4 or IPv6 literal (no brackets) or a host name
  uint16_t port = 0;  // kTcp, kTls; 0 only where listening (the kernel picks a free port)
  std::string path;   // kUnix: absolute

  // Canonical text: tcp://192.0.2.1:9000, tls://[2001:db8::1]:9000, unix:///run/x.sock
  std::string text() const;
  // A Unix socket, or a TCP address in 127.0.0.0/8, ::1 or "localhost": traffic stays on the host.
  bool stays_on_host() const;
};

enum class UrlUse : uint8_t { kConnect, kListen };

// Throws core::ConfigError "<what>: '<url>': <reason>"; `what` names the key or option the URL came
// from ("output.socket.connect", "--listen"). Port 0 is accepted only for kListen.
StreamUrl parse_stream_url(std::string_view url, std::string_view what, UrlUse use);

// Alerts are not sent in clear text across a network: a tcp:// URL that leaves the host is refused
// unless `insecure` (the operator's explicit choice). Throws core::ConfigError naming `what` (the
// URL's key) and `insecure_key` ("output.socket.insecure: true"), and saying to use tls://.
void require_private_transport(const StreamUrl& url, std::string_view what, bool insecure,
                               std::string_view insecure_key);

}  // namespace spanguard::output
