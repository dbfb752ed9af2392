// Plaintext and TLS stream connections on non-blocking sockets. TLS goes through a socket BIO of
// our own so that writes use MSG_NOSIGNAL (a peer that vanished must not raise SIGPIPE), and
// through a verify callback that records, in words, why a peer's certificate was refused.
#include "spanguard/output/stream_channel.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "openssl_errors.h"
#include "spanguard/core/error.h"

namespace spanguard::output {

namespace {

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

}  // namespace

struct StreamChannel::Tls {
  std::unique_ptr<SSL, SslFree> ssl;
  int fd = -1;
  int io_errno = 0;  // of the socket call that failed last
  bool eof = false;  // the peer closed its side of the socket
  std::vector<std::string> allowed_names;
  std::string host;      // client: what the server's certificate must match
  std::string refusal;   // why the peer's certificate was refused, from the verify callback
  bool done = false;     // handshake complete
  bool failed = false;   // a fatal error: no close_notify, no further calls
  bool refused = false;  // the failure was this end refusing the peer's certificate
  bool handshake_wants_write = false;
  bool read_wants_write = false;
  size_t retry_length = 0;  // a write to repeat with these many bytes
};

namespace {

using Tls = StreamChannel::Tls;

int bio_write(BIO* bio, const char* data, size_t n, size_t* written) {
  auto* tls = static_cast<Tls*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  for (;;) {
    const ssize_t r = ::send(tls->fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r >= 0) {
      *written = static_cast<size_t>(r);
      return 1;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_write(bio);
    } else {
      tls->io_errno = errno;
    }
    return 0;
  }
}

int bio_read(BIO* bio, char* data, size_t n, size_t* read) {
  auto* tls = static_cast<Tls*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (n == 0) {
    *read = 0;
    return 1;
  }
  for (;;) {
    const ssize_t r = ::recv(tls->fd, data, n, MSG_DONTWAIT);
    if (r > 0) {
      *read = static_cast<size_t>(r);
      return 1;
    }
    if (r == 0) {
      tls->eof = true;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_read(bio);
    } else {
      tls->io_errno = errno;
    }
    return 0;
  }
}

long bio_ctrl(BIO*, int command, long, void*) { return command == BIO_CTRL_FLUSH ? 1 : 0; }

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* socket_bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "spanguard stream socket");
    if (m == nullptr) return m;
    BIO_meth_set_write_ex(m, bio_write);
    BIO_meth_set_read_ex(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
  }();
  return method;
}

int session_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::string asn1_text(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

std::string distinguished_name(const X509_NAME* name) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return "?";
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data != nullptr && n > 0 ? std::string(data, static_cast<size_t>(n)) : "");
  BIO_free(bio);
  return out.empty() ? "(empty)" : out;
}

// The names a certificate is checked by: its subjectAltName DNS (and IP) entries, else its CN.
std::string certificate_names(X509* cert) {
  std::string out;
  bool has_dns = false;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      std::string text;
      if (name->type == GEN_DNS) {
        text = "DNS:" + asn1_text(name->d.dNSName);
        has_dns = true;
      } else if (name->type == GEN_IPADD) {
        const int length = ASN1_STRING_length(name->d.iPAddress);
        char buf[INET6_ADDRSTRLEN] = {};
        if (length == 4 || length == 16) {
          inet_ntop(length == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(name->d.iPAddress), buf,
                    sizeof buf);
          text = std::string("IP:") + buf;
        }
      }
      if (text.empty()) continue;
      out += (out.empty() ? "" : ", ") + text;
    }
    GENERAL_NAMES_free(sans);
  }
  if (!has_dns) {
    const X509_NAME* subject = X509_get_subject_name(cert);
    const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at >= 0) {
      out += (out.empty() ? "CN=" : ", CN=") +
             asn1_text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)));
    }
  }
  return out.empty() ? "no names" : out;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Called by OpenSSL for each certificate of the peer's chain, with OpenSSL's own verdict.
int verify_peer(int preverified, X509_STORE_CTX* store) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* tls = ssl != nullptr ? static_cast<Tls*>(SSL_get_ex_data(ssl, session_index())) : nullptr;
  if (tls == nullptr) return preverified;
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  if (preverified == 0) {
    if (tls->refusal.empty()) {
      const int error = X509_STORE_CTX_get_error(store);
      tls->refusal = X509_verify_cert_error_string(error);
      if (cert != nullptr) {
        tls->refusal += " (subject " + distinguished_name(X509_get_subject_name(cert)) +
                        ", issuer " + distinguished_name(X509_get_issuer_name(cert));
        if (error == X509_V_ERR_HOSTNAME_MISMATCH || error == X509_V_ERR_IP_ADDRESS_MISMATCH) {
          tls->refusal += "; it names " + certificate_names(cert) + ", expected " + tls->host;
        }
        tls->refusal += ")";
      }
    }
    return 0;
  }
  if (X509_STORE_CTX_get_error_depth(store) != 0 || tls->allowed_names.empty() || cert == nullptr) {
    return 1;
  }
  for (const std::string& name : tls->allowed_names) {
    if (X509_check_host(cert, name.data(), name.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                        nullptr) == 1) {
      return 1;
    }
  }
  tls->refusal = "certificate name not on the allowed list: the peer presented " +
                 certificate_names(cert) + "; allowed: " + joined(tls->allowed_names);
  // The nearest standard reason: the peer is told "bad certificate".
  X509_STORE_CTX_set_error(store, X509_V_ERR_HOSTNAME_MISMATCH);
  return 0;
}

std::unique_ptr<Tls> new_session(int fd, const TlsCredentials& credentials) {
  auto tls = std::make_unique<Tls>();
  tls->fd = fd;
  tls->allowed_names = credentials.settings().peer_names;
  ERR_clear_error();
  const std::shared_ptr<ssl_ctx_st> context = credentials.context();
  tls->ssl.reset(SSL_new(context.get()));  // holds its own reference to the context
  BIO* bio = tls->ssl != nullptr ? BIO_new(socket_bio_method()) : nullptr;
  if (bio == nullptr) throw core::RuntimeError("TLS session: " + take_openssl_errors());
  BIO_set_data(bio, tls.get());
  SSL* ssl = tls->ssl.get();
  SSL_set_bio(ssl, bio, bio);
  SSL_set_ex_data(ssl, session_index(), tls.get());
  SSL_set_verify(ssl, SSL_get_verify_mode(ssl), verify_peer);
  return tls;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

StreamChannel::StreamChannel() = default;

StreamChannel::StreamChannel(UniqueFd fd) : fd_(std::move(fd)) {}

StreamChannel::StreamChannel(UniqueFd fd, std::unique_ptr<Tls> tls)
    : fd_(std::move(fd)), tls_(std::move(tls)) {}

StreamChannel StreamChannel::tls_client(UniqueFd fd, const TlsCredentials& credentials,
                                        const std::string& host) {
  auto tls = new_session(fd.get(), credentials);
  SSL* ssl = tls->ssl.get();
  SSL_set_connect_state(ssl);
  tls->host = host;
  bool ok = true;
  if (is_ip_literal(host)) {
    ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
  } else {
    // RFC 6066 §3: server name indication carries host names, never addresses.
    ok = SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
  }
  if (!ok) throw core::RuntimeError("TLS session for " + host + ": " + take_openssl_errors());
  return StreamChannel(std::move(fd), std::move(tls));
}

StreamChannel StreamChannel::tls_server(UniqueFd fd, const TlsCredentials& credentials) {
  auto tls = new_session(fd.get(), credentials);
  SSL_set_accept_state(tls->ssl.get());
  return StreamChannel(std::move(fd), std::move(tls));
}

StreamChannel::~StreamChannel() { reset(); }

StreamChannel::StreamChannel(StreamChannel&& other) noexcept = default;

StreamChannel& StreamChannel::operator=(StreamChannel&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = std::move(other.fd_);
    tls_ = std::move(other.tls_);
    error_ = std::move(other.error_);
  }
  return *this;
}

void StreamChannel::reset() {
  if (tls_ != nullptr && tls_->done && !tls_->failed && fd_.valid()) {
    SSL_shutdown(tls_->ssl.get());  // one try at close_notify; the socket closes either way
    ERR_clear_error();
  }
  tls_.reset();
  fd_.reset();
}

bool StreamChannel::handshake_done() const { return tls_ == nullptr || tls_->done; }

bool StreamChannel::refused_peer() const { return tls_ != nullptr && tls_->refused; }

StreamChannel::Status StreamChannel::fail(std::string why) {
  if (tls_ != nullptr) tls_->failed = true;
  error_ = std::move(why);
  return Status::kFailed;
}

namespace {

// Why a TLS call failed, most specific reason first.
std::string tls_failure(Tls& tls, int ssl_error) {
  if (!tls.refusal.empty()) {
    ERR_clear_error();
    tls.refused = true;
    return "peer certificate refused: " + tls.refusal;
  }
  const long verified = SSL_get_verify_result(tls.ssl.get());
  if (verified != X509_V_OK) {
    ERR_clear_error();
    tls.refused = true;
    return std::string("peer certificate refused: ") + X509_verify_cert_error_string(verified);
  }
  const unsigned long last = ERR_peek_last_error();
  if (last != 0) {
    // Reasons from SSL_AD_REASON_OFFSET on are alerts the peer sent: its refusal of us.
    const bool alert =
        ERR_GET_LIB(last) == ERR_LIB_SSL && ERR_GET_REASON(last) >= SSL_AD_REASON_OFFSET;
    const std::string reasons = take_openssl_errors();
    return alert ? "refused by the peer: " + reasons : "TLS: " + reasons;
  }
  if (tls.eof) return tls.done ? "closed by the peer" : "closed by the peer during the handshake";
  if (tls.io_errno != 0) return std::strerror(tls.io_errno);
  return "TLS error " + std::to_string(ssl_error);
}

}  // namespace

StreamChannel::Status StreamChannel::handshake() {
  if (tls_ == nullptr) return fd_.valid() ? Status::kDone : fail("not connected");
  if (tls_->failed) return Status::kFailed;
  if (tls_->done) return Status::kDone;
  ERR_clear_error();
  tls_->io_errno = 0;
  tls_->handshake_wants_write = false;
  const int r = SSL_do_handshake(tls_->ssl.get());
  if (r == 1) {
    tls_->done = true;
    return Status::kDone;
  }
  const int error = SSL_get_error(tls_->ssl.get(), r);
  if (error == SSL_ERROR_WANT_READ) return Status::kWouldBlock;
  if (error == SSL_ERROR_WANT_WRITE) {
    tls_->handshake_wants_write = true;
    return Status::kWouldBlock;
  }
  return fail(tls_failure(*tls_, error));
}

StreamChannel::Io StreamChannel::read(char* data, size_t n) {
  if (tls_ == nullptr) {
    for (;;) {
      const ssize_t r = ::recv(fd_.get(), data, n, MSG_DONTWAIT);
      if (r > 0) return {Status::kDone, static_cast<size_t>(r)};
      if (r == 0) return {Status::kClosed};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {Status::kWouldBlock};
      return {fail(std::strerror(errno))};
    }
  }
  if (tls_->failed) return {Status::kFailed};
  ERR_clear_error();
  tls_->io_errno = 0;
  tls_->read_wants_write = false;
  size_t got = 0;
  if (SSL_read_ex(tls_->ssl.get(), data, n, &got) == 1) return {Status::kDone, got};
  const int error = SSL_get_error(tls_->ssl.get(), 0);
  switch (error) {
    case SSL_ERROR_WANT_READ:
      return {Status::kWouldBlock};
    case SSL_ERROR_WANT_WRITE:
      tls_->read_wants_write = true;
      return {Status::kWouldBlock};
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      return {Status::kClosed};
    case SSL_ERROR_SYSCALL:
      if (tls_->eof && tls_->io_errno == 0 && ERR_peek_error() == 0) return {Status::kClosed};
      [[fallthrough]];
    default:
      return {fail(tls_failure(*tls_, error))};
  }
}

StreamChannel::Io StreamChannel::write(const char* data, size_t n) {
  if (n == 0) return {Status::kDone, 0};
  if (tls_ == nullptr) {
    for (;;) {
      const ssize_t r = ::send(fd_.get(), data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (r > 0) return {Status::kDone, static_cast<size_t>(r)};
      if (r == 0) return {fail("send made no progress")};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {Status::kWouldBlock};
      return {fail(std::strerror(errno))};
    }
  }
  if (tls_->failed) return {Status::kFailed};
  // OpenSSL's rule for a write after kWouldBlock: the same bytes again, exactly as many.
  size_t length = n;
  if (tls_->retry_length > 0) {
    if (n < tls_->retry_length) return {fail("a TLS write was retried with fewer bytes")};
    length = tls_->retry_length;
  }
  ERR_clear_error();
  tls_->io_errno = 0;
  size_t written = 0;
  if (SSL_write_ex(tls_->ssl.get(), data, length, &written) == 1) {
    tls_->retry_length = 0;
    return {Status::kDone, written};
  }
  const int error = SSL_get_error(tls_->ssl.get(), 0);
  if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) {
    tls_->retry_length = length;
    return {Status::kWouldBlock};
  }
  return {fail(tls_failure(*tls_, error))};
}

short StreamChannel::poll_events(bool want_write) const {
  short events = POLLIN;
  if (want_write) events |= POLLOUT;
  if (tls_ != nullptr && (tls_->handshake_wants_write || tls_->read_wants_write)) events |= POLLOUT;
  return events;
}

bool StreamChannel::has_buffered_input() const {
  return tls_ != nullptr && !tls_->failed && SSL_has_pending(tls_->ssl.get()) == 1;
}

std::string StreamChannel::peer_names() const {
  if (tls_ == nullptr || !tls_->done) return "";
  X509* peer = SSL_get0_peer_certificate(tls_->ssl.get());
  return peer != nullptr ? certificate_names(peer) : "";
}

}  // namespace spanguard::output
