// PEM credentials loaded into an SSL_CTX for TLS 1.3 with mutual authentication, and swapped for a
// freshly loaded one on reload.
#include "spanguard/output/tls_credentials.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509err.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "openssl_errors.h"
#include "spanguard/core/error.h"
#include "spanguard/core/log.h"

namespace spanguard::output {

namespace {

struct ContextFree {
  void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
};

std::string setting_error(std::string_view setting, const std::string& path,
                          const std::string& why) {
  return std::string(setting) + ": '" + path + "': " + why;
}

void require_file(std::string_view setting, const std::string& path, std::string_view what) {
  if (path.empty()) {
    throw core::ConfigError(std::string(setting) + ": required for tls:// (" + std::string(what) +
                            ")");
  }
  if (::access(path.c_str(), R_OK) != 0) {
    throw core::ConfigError(setting_error(setting, path, std::strerror(errno)));
  }
}

}  // namespace

TlsCredentials::TlsCredentials(TlsSettings settings, TlsRole role, TlsSettingNames names)
    : settings_(std::move(settings)), role_(role), names_(names) {
  context_ = load();
  if (settings_.peer_names.empty()) {
    core::logger("output")->warn(
        "{} is empty: any peer whose certificate {} vouches for is accepted; list the peer "
        "names to accept only those",
        names_.peer_names, settings_.ca);
  }
}

TlsCredentials::~TlsCredentials() = default;

std::shared_ptr<ssl_ctx_st> TlsCredentials::load() const {
  require_file(names_.cert, settings_.cert, "a PEM certificate for this end");
  require_file(names_.key, settings_.key, "the PEM private key of that certificate");
  require_file(names_.ca, settings_.ca, "the PEM CA certificate that vouches for the peer");
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> context(SSL_CTX_new(TLS_method()), ContextFree{});
  if (context == nullptr) throw core::RuntimeError("TLS: " + take_openssl_errors());
  SSL_CTX* c = context.get();
  // TLS 1.3 only: no legacy cipher suites or renegotiation to reason about.
  SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
  // A peer that disappears without close_notify ends the stream like a TCP close: the framing and
  // the acknowledgements already tell a truncated stream from a complete one.
  SSL_CTX_set_options(c, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET);
  // Every connection authenticates in full: no session resumption, no tickets to send.
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(c, 0);
  // Writers keep unsent bytes in a string that grows (and moves) between retries.
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

  if (SSL_CTX_use_certificate_chain_file(c, settings_.cert.c_str()) != 1) {
    throw core::ConfigError(setting_error(
        names_.cert, settings_.cert, "not a usable PEM certificate: " + take_openssl_errors()));
  }
  if (SSL_CTX_use_PrivateKey_file(c, settings_.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(c) != 1) {
    const bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
    const std::string reasons = take_openssl_errors();
    throw core::ConfigError(setting_error(names_.key, settings_.key,
                                          mismatch ? "is not the key of " + settings_.cert
                                                   : "not a usable PEM private key: " + reasons));
  }
  if (SSL_CTX_load_verify_locations(c, settings_.ca.c_str(), nullptr) != 1) {
    throw core::ConfigError(setting_error(
        names_.ca, settings_.ca, "no usable PEM CA certificate: " + take_openssl_errors()));
  }
  if (role_ == TlsRole::kServer) {
    // Tells clients which CA their certificate must come from (RFC 8446 §4.2.4).
    if (STACK_OF(X509_NAME)* cas = SSL_load_client_CA_file(settings_.ca.c_str()); cas != nullptr) {
      SSL_CTX_set_client_CA_list(c, cas);
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  }
  ERR_clear_error();

  // The peer will refuse an expired certificate; say so here, where the operator looks first.
  if (const X509* own = SSL_CTX_get0_certificate(c); own != nullptr) {
    auto log = core::logger("output");
    if (X509_cmp_current_time(X509_get0_notAfter(own)) < 0) {
      log->warn("{}: '{}' has expired: peers will refuse it", names_.cert, settings_.cert);
    } else if (X509_cmp_current_time(X509_get0_notBefore(own)) > 0) {
      log->warn("{}: '{}' is not valid yet: peers will refuse it", names_.cert, settings_.cert);
    }
  }
  return context;
}

bool TlsCredentials::reload() {
  std::shared_ptr<ssl_ctx_st> fresh;
  try {
    fresh = load();
  } catch (const core::Error& e) {
    core::logger("output")->error("TLS credentials not reloaded, the current ones stay: {}",
                                  e.what());
    return false;
  }
  {
    std::lock_guard lock(mutex_);
    context_ = std::move(fresh);
  }
  core::logger("output")->info("TLS credentials reloaded from {}, {} and {}", settings_.cert,
                               settings_.key, settings_.ca);
  return true;
}

std::shared_ptr<ssl_ctx_st> TlsCredentials::context() const {
  std::lock_guard lock(mutex_);
  return context_;
}

}  // namespace spanguard::output
