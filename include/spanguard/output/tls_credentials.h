// TLS credentials of the alert stream's endpoints, sensor and collector alike: the certificate and
// key an endpoint presents, the CA that must vouch for its peer, and the names a peer may carry.
// Loaded into an OpenSSL context for TLS 1.3 with both sides authenticated; reloadable (SIGHUP).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

struct ssl_ctx_st;

namespace spanguard::output {

struct TlsSettings {
  std::string cert;  // PEM: this endpoint's certificate, intermediates after it
  std::string key;   // PEM: its private key
  std::string ca;    // PEM: the CA certificate(s) a peer's certificate must chain to
  // Names a peer's certificate may carry (subjectAltName DNS entries, else the subject CN; a
  // name may match a wildcard certificate). Empty: any peer the CA vouches for.
  std::vector<std::string> peer_names;
};

// How each setting is spelled where it came from, for messages: the sensor's config keys or the
// collector's options.
struct TlsSettingNames {
  std::string_view cert, key, ca, peer_names;
};

enum class TlsRole : uint8_t { kClient, kServer };

class TlsCredentials {
 public:
  // Loads the files; throws core::ConfigError naming the setting, the file and the reason. Logs a
  // warning when peer_names is empty (any certificate from the CA is accepted) and when the
  // endpoint's own certificate has expired or is not yet valid.
  TlsCredentials(TlsSettings settings, TlsRole role, TlsSettingNames names);
  ~TlsCredentials();
  TlsCredentials(const TlsCredentials&) = delete;
  TlsCredentials& operator=(const TlsCredentials&) = delete;

  // Any thread: loads the files again. Connections made afterwards present the new certificate
  // and trust the new CA; those already open carry on with what they started with. When the new
  // files do not load, logs why, keeps the current credentials and returns false.
  bool reload();

  // The current context; each session holds its own reference.
  std::shared_ptr<ssl_ctx_st> context() const;
  const TlsSettings& settings() const { return settings_; }
  TlsRole role() const { return role_; }

 private:
  std::shared_ptr<ssl_ctx_st> load() const;

  const TlsSettings settings_;
  const TlsRole role_;
  const TlsSettingNames names_;
  mutable std::mutex mutex_;
  std::shared_ptr<ssl_ctx_st> context_;
};

}  // namespace spanguard::output
