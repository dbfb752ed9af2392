// Builds TLS traffic for tests and the capture generator: handshake messages (ClientHello,
// ServerHello, Certificate, ...), the records that carry them (whole, several per record, or one
// message cut across records) and X.509 certificates made with OpenSSL. Lengths are always right;
// tests corrupt the returned bytes themselves to make malformed input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace spanguard::testing::tls {

using Bytes = std::vector<uint8_t>;

// Protocol versions as on the wire (RFC 8446 §4.2.1).
inline constexpr uint16_t kSsl30 = 0x0300;
inline constexpr uint16_t kTls10 = 0x0301;
inline constexpr uint16_t kTls11 = 0x0302;
inline constexpr uint16_t kTls12 = 0x0303;
inline constexpr uint16_t kTls13 = 0x0304;

// Record content types (RFC 5246 §6.2.1) and handshake types (RFC 8446 §4).
inline constexpr uint8_t kChangeCipherSpec = 20;
inline constexpr uint8_t kAlert = 21;
inline constexpr uint8_t kHandshake = 22;
inline constexpr uint8_t kApplicationData = 23;
inline constexpr uint8_t kHeartbeat = 24;

inline constexpr uint8_t kClientHelloType = 1;
inline constexpr uint8_t kServerHelloType = 2;
inline constexpr uint8_t kNewSessionTicketType = 4;
inline constexpr uint8_t kCertificateType = 11;
inline constexpr uint8_t kServerKeyExchangeType = 12;
inline constexpr uint8_t kServerHelloDoneType = 14;
inline constexpr uint8_t kClientKeyExchangeType = 16;
inline constexpr uint8_t kFinishedType = 20;

// RFC 8701 GREASE values: grease(0) = 0x0a0a ... grease(15) = 0xfafa.
constexpr uint16_t grease(unsigned i) { return static_cast<uint16_t>(0x0a0a + 0x1010 * (i % 16)); }

// ---- extensions --------------------------------------------------------------------------------

struct Extension {
  uint16_t type;
  Bytes data;  // extension_data, without the type and length
};

Extension raw_extension(uint16_t type, Bytes data = {});
Extension server_name(std::string_view host);                       // 0, one host_name
Extension supported_groups(const std::vector<uint16_t>& groups);    // 10
Extension ec_point_formats(const std::vector<uint8_t>& formats);    // 11
Extension signature_algorithms(const std::vector<uint16_t>& algs);  // 13
Extension alpn(const std::vector<std::string>& protocols);  // 16 (client list or server's one)
Extension client_supported_versions(const std::vector<uint16_t>& versions);  // 43, ClientHello form
Extension server_supported_versions(uint16_t version);                       // 43, ServerHello form
Extension grease_extension(unsigned i = 0, Bytes data = {});                 // type grease(i)

// ---- handshake messages (4-byte handshake header included) -------------------------------------

Bytes handshake_message(uint8_t type, const Bytes& body);

struct ClientHelloSpec {
  uint16_t version = kTls12;  // legacy_version
  Bytes random = Bytes(32, 0x11);
  Bytes session_id{};
  std::vector<uint16_t> ciphers = {0xc02b, 0xc02f, 0x009c, 0x002f};
  Bytes compression = {0};
  std::vector<Extension> extensions{};
  bool omit_extensions = false;  // no extensions block at all (SSLv3-era hello)
};
Bytes client_hello(const ClientHelloSpec& spec);

// A TLS 1.3 ClientHello like a browser's: the FoxIO JA4 documentation example (15 ciphers, 16
// extensions, ALPN h2 + http/1.1, 8 signature algorithms) with GREASE in ciphers, extensions,
// groups and versions, SNI `host`.
ClientHelloSpec browser_client_hello(std::string_view host);

struct ServerHelloSpec {
  uint16_t version = kTls12;  // legacy_version (0x0303 for TLS 1.3, with supported_versions)
  Bytes random = Bytes(32, 0x22);
  Bytes session_id{};
  uint16_t cipher = 0xc02f;
  uint8_t compression = 0;
  std::vector<Extension> extensions{};
  bool omit_extensions = false;
  bool hello_retry_request = false;  // use the HelloRetryRequest random (RFC 8446 §4.1.3)
};
Bytes server_hello(const ServerHelloSpec& spec);

Bytes certificate_message(const std::vector<Bytes>& ders);  // TLS <= 1.2 Certificate
Bytes server_hello_done();
Bytes client_key_exchange(size_t size = 66);
Bytes finished(size_t size = 12);

// ---- records -----------------------------------------------------------------------------------

Bytes record(uint8_t content_type, uint16_t version, const Bytes& fragment);
// The messages as one handshake byte stream cut into records of at most max_fragment bytes (2^14
// is the protocol's maximum): several messages share a record, a long one spans several.
Bytes handshake_records(const std::vector<Bytes>& messages, uint16_t version = kTls12,
                        size_t max_fragment = 16384);
Bytes change_cipher_spec(uint16_t version = kTls12);
Bytes application_data(size_t size, uint16_t version = kTls12, uint8_t fill = 0xa5);
Bytes alert(uint8_t level, uint8_t description, uint16_t version = kTls12);

Bytes concat(const std::vector<Bytes>& parts);

// ---- certificates ------------------------------------------------------------------------------

// An EC P-256 key pair (RAII over EVP_PKEY).
class KeyPair {
 public:
  KeyPair();  // generates a fresh key; throws std::runtime_error on failure
  ~KeyPair();
  KeyPair(KeyPair&&) noexcept;
  KeyPair& operator=(KeyPair&&) noexcept;
  evp_pkey_st* get() const { return key_.get(); }

 private:
  struct Free {
    void operator()(evp_pkey_st* key) const;
  };
  std::unique_ptr<evp_pkey_st, Free> key_;
};

// One attribute of a distinguished name, in the order given. same_rdn joins it to the previous
// attribute's RDN (a multi-valued RDN, printed "CN=a + CN=b").
struct NameAttribute {
  std::string field;  // OpenSSL short or long name: "C", "ST", "O", "OU", "CN", "emailAddress"...
  std::string value;  // UTF-8
  bool same_rdn = false;
};
using DistinguishedName = std::vector<NameAttribute>;

struct CertificateSpec {
  DistinguishedName subject;
  DistinguishedName issuer{};       // empty: same as subject (self-issued)
  Bytes serial = {0x01};            // big-endian magnitude; a set high bit gets a 00 octet in DER
  int64_t not_before = 1700000000;  // unix seconds
  int64_t not_after = 1800000000;
};

// X.509 v3 certificate DER for `subject_key`, signed (ECDSA with SHA-256) by `signer`: the issuer's
// key, or subject_key itself for a self-signed certificate. Throws std::runtime_error on failure.
Bytes make_certificate(const CertificateSpec& spec, const KeyPair& subject_key,
                       const KeyPair& signer);
inline Bytes self_signed_certificate(const CertificateSpec& spec, const KeyPair& key) {
  return make_certificate(spec, key, key);
}

}  // namespace spanguard::testing::tls
