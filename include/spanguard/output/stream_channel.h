// One non-blocking stream connection of the alert stream, plaintext or TLS: reads and writes that
// never wait, a TLS handshake advanced whenever poll() says the socket is ready, the poll events
// it needs, and refusals (a certificate the CA does not vouch for, an expired one, a name not on
// the allowed list) explained in words.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "spanguard/output/socket.h"
#include "spanguard/output/tls_credentials.h"

namespace spanguard::output {

class StreamChannel {
 public:
  enum class Status : uint8_t {
    kDone,        // handshake complete; or `bytes` were read or written
    kWouldBlock,  // poll for poll_events() and call again
    kClosed,      // the peer ended the connection in order
    kFailed,      // error() says why; the channel cannot be used further
  };
  struct Io {
    Status status;
    size_t bytes = 0;
  };

  StreamChannel();
  // Plaintext over a connected socket.
  explicit StreamChannel(UniqueFd fd);
  // TLS over a connected socket, as the client: the server must present a certificate from the
  // CA that matches `host` (the URL's host name or address) and, when listed, one of the peer
  // names. Throws core::RuntimeError when OpenSSL cannot set up a session.
  static StreamChannel tls_client(UniqueFd fd, const TlsCredentials& credentials,
                                  const std::string& host);
  // TLS over an accepted socket, as the server: the client must present a certificate from the
  // CA with one of the peer names, when they are listed.
  static StreamChannel tls_server(UniqueFd fd, const TlsCredentials& credentials);

  ~StreamChannel();
  StreamChannel(StreamChannel&& other) noexcept;
  StreamChannel& operator=(StreamChannel&& other) noexcept;
  StreamChannel(const StreamChannel&) = delete;
  StreamChannel& operator=(const StreamChannel&) = delete;

  // Advances the TLS handshake: kDone once both ends are authenticated (at once for plaintext),
  // kWouldBlock, or kFailed.
  Status handshake();
  // Up to `n` bytes; kDone with bytes > 0, kWouldBlock, kClosed or kFailed.
  Io read(char* data, size_t n);
  // A prefix of `data`; kDone with the bytes taken, kWouldBlock, or kFailed. After kWouldBlock
  // the next write must pass the same bytes again, at least as many (TLS may have sealed part of
  // them into a record that is only partly on the wire); they may have moved in memory.
  Io write(const char* data, size_t n);

  // What to poll the socket for, given whether the caller has bytes to write. TLS may need the
  // socket writable to go on reading, or readable to go on writing.
  short poll_events(bool want_write) const;
  // Bytes already received and decrypted (or a record in progress) that poll() cannot see: read
  // again before waiting.
  bool has_buffered_input() const;

  bool valid() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  bool is_tls() const { return tls_ != nullptr; }
  bool handshake_done() const;
  const std::string& error() const { return error_; }
  // After a failed handshake: true when this end refused the peer's certificate (rather than the
  // peer refusing ours, or the connection breaking).
  bool refused_peer() const;
  // The names the peer's certificate carries ("DNS:a, DNS:b" or "CN=a"); empty for plaintext or
  // before the handshake.
  std::string peer_names() const;

  // Closes the connection, with a TLS close_notify first when the session is sound.
  void reset();

  struct Tls;  // the session's OpenSSL state; public for the OpenSSL callbacks only

 private:
  StreamChannel(UniqueFd fd, std::unique_ptr<Tls> tls);
  Status fail(std::string why);

  UniqueFd fd_;
  std::unique_ptr<Tls> tls_;
  std::string error_;
};

}  // namespace spanguard::output
