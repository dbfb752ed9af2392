// Addresses of the alert stream's endpoints: `tcp://HOST:PORT` (IPv4, `[IPv6]` or a host name) and
// `unix:///PATH`, as written in output.socket.connect/listen, `--alerts` and the collector's
// `--listen`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace spanguard::output {

struct StreamUrl {
  enum class Scheme : uint8_t { kTcp, kUnix };

  Scheme scheme = Scheme::kTcp;
  std::string host;   // kTcp: an IPv4 or IPv6 literal (no brackets) or a host name
  uint16_t port = 0;  // kTcp; 0 only where listening (the kernel picks a free port)
  std::string path;   // kUnix: absolute

  // Canonical text: tcp://192.0.2.1:9000, tcp://[2001:db8::1]:9000, unix:///run/x.sock
  std::string text() const;
};

enum class UrlUse : uint8_t { kConnect, kListen };

// Throws core::ConfigError "<what>: '<url>': <reason>"; `what` names the key or option the URL came
// from ("output.socket.connect", "--listen"). Port 0 is accepted only for kListen.
StreamUrl parse_stream_url(std::string_view url, std::string_view what, UrlUse use);

}  // namespace spanguard::output
