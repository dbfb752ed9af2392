// Stream URLs: the accepted forms, and errors that name the key and say what to write instead.
#include "spanguard/output/stream_url.h"

#include <gtest/gtest.h>

#include "spanguard/core/error.h"

namespace spanguard::output {
namespace {

std::string error_of(std::string_view url, UrlUse use = UrlUse::kConnect) {
  try {
    parse_stream_url(url, "output.socket.connect", use);
  } catch (const core::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(StreamUrl, ParsesTcpWithIpv4Ipv6AndHostNames) {
  auto u = parse_stream_url("tcp://192.0.2.1:9000", "k", UrlUse::kConnect);
  EXPECT_EQ(u.scheme, StreamUrl::Scheme::kTcp);
  EXPECT_EQ(u.host, "192.0.2.1");
  EXPECT_EQ(u.port, 9000);
  u = parse_stream_url("tcp://[2001:db8::1]:443", "k", UrlUse::kConnect);
  EXPECT_EQ(u.host, "2001:db8::1");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.text(), "tcp://[2001:db8::1]:443");
  u = parse_stream_url("tcp://siem-collector.example.net:6514", "k", UrlUse::kConnect);
  EXPECT_EQ(u.host, "siem-collector.example.net");
  EXPECT_EQ(u.text(), "tcp://siem-collector.example.net:6514");
}

TEST(StreamUrl, ParsesTlsLikeTcp) {
  auto u = parse_stream_url("tls://siem.example.net:6514", "k", UrlUse::kConnect);
  EXPECT_EQ(u.scheme, StreamUrl::Scheme::kTls);
  EXPECT_EQ(u.host, "siem.example.net");
  EXPECT_EQ(u.port, 6514);
  EXPECT_EQ(u.text(), "tls://siem.example.net:6514");
  u = parse_stream_url("tls://[::]:0", "k", UrlUse::kListen);
  EXPECT_EQ(u.host, "::");
  EXPECT_EQ(u.text(), "tls://[::]:0");
  EXPECT_NE(error_of("tls://::1:9000").find("brackets"), std::string::npos);
}

TEST(StreamUrl, KnowsWhatStaysOnTheHost) {
  for (const char* url : {"tcp://127.0.0.1:1", "tcp://127.200.0.1:1", "tcp://[::1]:1",
                          "tcp://[::ffff:127.0.0.1]:1", "tcp://localhost:1", "unix:///x.sock"}) {
    EXPECT_TRUE(parse_stream_url(url, "k", UrlUse::kConnect).stays_on_host()) << url;
  }
  for (const char* url :
       {"tcp://128.0.0.1:1", "tcp://0.0.0.0:1", "tcp://[::]:1", "tcp://[2001:db8::1]:1",
        "tcp://localhost.example:1", "tcp://10.0.0.1:1"}) {
    EXPECT_FALSE(parse_stream_url(url, "k", UrlUse::kConnect).stays_on_host()) << url;
  }
}

TEST(StreamUrl, PlaintextBeyondTheHostNeedsTheInsecureSetting) {
  const auto far = parse_stream_url("tcp://192.0.2.1:9000", "k", UrlUse::kConnect);
  try {
    require_private_transport(far, "--listen", false, "--insecure");
    FAIL() << "no error";
  } catch (const core::ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "--listen: 'tcp://192.0.2.1:9000': plaintext TCP beyond the loopback address is "
              "refused; use tls://192.0.2.1:9000 (mutually authenticated TLS 1.3), or accept "
              "unencrypted alerts with --insecure");
  }
  EXPECT_NO_THROW(require_private_transport(far, "--listen", true, "--insecure"));
  EXPECT_NO_THROW(require_private_transport(
      parse_stream_url("tls://192.0.2.1:9000", "k", UrlUse::kConnect), "k", false, "x"));
  EXPECT_NO_THROW(require_private_transport(
      parse_stream_url("tcp://127.0.0.1:9000", "k", UrlUse::kConnect), "k", false, "x"));
}

TEST(StreamUrl, ParsesUnixPaths) {
  const auto u = parse_stream_url("unix:///run/spanguard/alerts.sock", "k", UrlUse::kListen);
  EXPECT_EQ(u.scheme, StreamUrl::Scheme::kUnix);
  EXPECT_EQ(u.path, "/run/spanguard/alerts.sock");
  EXPECT_EQ(u.text(), "unix:///run/spanguard/alerts.sock");
}

TEST(StreamUrl, PortZeroOnlyForListening) {
  EXPECT_EQ(parse_stream_url("tcp://127.0.0.1:0", "k", UrlUse::kListen).port, 0);
  EXPECT_NE(error_of("tcp://127.0.0.1:0").find("port 0"), std::string::npos);
}

TEST(StreamUrl, ErrorsNameTheKeyTheUrlAndTheReason) {
  const std::string e = error_of("http://x:1");
  EXPECT_NE(e.find("output.socket.connect"), std::string::npos) << e;
  EXPECT_NE(e.find("'http://x:1'"), std::string::npos) << e;
  EXPECT_NE(e.find("tls://HOST:PORT, tcp://HOST:PORT or unix:///PATH"), std::string::npos) << e;
  EXPECT_NE(error_of("tcp://host").find("missing ':PORT'"), std::string::npos);
  EXPECT_NE(error_of("tcp://host:http").find("port must be a number"), std::string::npos);
  EXPECT_NE(error_of("tcp://host:70000").find("port must be a number"), std::string::npos);
  EXPECT_NE(error_of("tcp://::1:9000").find("brackets"), std::string::npos);
  EXPECT_NE(error_of("tcp://[::1:9000").find("']'"), std::string::npos);
  EXPECT_NE(error_of("tcp://[nothex]:1").find("not an IPv6 address"), std::string::npos);
  EXPECT_NE(error_of("tcp://:9000").find("missing host"), std::string::npos);
  EXPECT_NE(error_of("tcp://ho st:1").find("not a host name"), std::string::npos);
  EXPECT_NE(error_of("unix://relative.sock").find("absolute path"), std::string::npos);
  EXPECT_NE(error_of("unix:///" + std::string(200, 'a')).find("limited to 107 bytes"),
            std::string::npos);
  EXPECT_NE(error_of("").find("expected"), std::string::npos);
}

}  // namespace
}  // namespace spanguard::output
