// Serialisation of TLS handshake messages and records (RFC 8446 §4-5, RFC 5246 §7) and X.509
// certificate generation with OpenSSL for the test builders.
#include "tls_messages.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <algorithm>
#include <stdexcept>

namespace spanguard::testing::tls {

namespace {

void put8(Bytes& b, size_t v) { b.push_back(static_cast<uint8_t>(v)); }
void put16(Bytes& b, size_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put24(Bytes& b, size_t v) {
  b.push_back(static_cast<uint8_t>(v >> 16));
  put16(b, v & 0xffff);
}
void append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

// Length-prefixed vectors (RFC 8446 §3.4).
void vec8(Bytes& b, const Bytes& v) {
  put8(b, v.size());
  append(b, v);
}
void vec16(Bytes& b, const Bytes& v) {
  put16(b, v.size());
  append(b, v);
}
void vec24(Bytes& b, const Bytes& v) {
  put24(b, v.size());
  append(b, v);
}

Bytes u16_list(const std::vector<uint16_t>& values) {
  Bytes b;
  for (const uint16_t v : values) put16(b, v);
  return b;
}

void put_extensions(Bytes& b, const std::vector<Extension>& extensions) {
  Bytes block;
  for (const Extension& e : extensions) {
    put16(block, e.type);
    vec16(block, e.data);
  }
  vec16(b, block);
}

// RFC 8446 §4.1.3: SHA-256("HelloRetryRequest").
const Bytes kHelloRetryRandom = {0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c,
                                 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb,
                                 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

void fail(const char* what) { throw std::runtime_error(std::string("tls_messages: ") + what); }

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct X509NameFree {
  void operator()(X509_NAME* n) const { X509_NAME_free(n); }
};
struct BnFree {
  void operator()(BIGNUM* n) const { BN_free(n); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};

std::unique_ptr<X509_NAME, X509NameFree> make_name(const DistinguishedName& dn) {
  std::unique_ptr<X509_NAME, X509NameFree> name(X509_NAME_new());
  if (!name) fail("X509_NAME_new");
  for (const NameAttribute& a : dn) {
    // set -1 adds to the previous RDN (X509_NAME_add_entry_by_txt(3)), 0 starts a new one.
    const int set = a.same_rdn && X509_NAME_entry_count(name.get()) > 0 ? -1 : 0;
    if (X509_NAME_add_entry_by_txt(name.get(), a.field.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(a.value.data()),
                                   static_cast<int>(a.value.size()), -1, set) != 1) {
      fail("X509_NAME_add_entry_by_txt");
    }
  }
  return name;
}

}  // namespace

// ---- extensions ----------------------------------------------------------------------------

Extension raw_extension(uint16_t type, Bytes data) { return {type, std::move(data)}; }

Extension server_name(std::string_view host) {
  // RFC 6066 §3: ServerNameList { NameType host_name(0); HostName<1..2^16-1> }.
  Bytes entry;
  put8(entry, 0);
  vec16(entry, Bytes(host.begin(), host.end()));
  Bytes data;
  vec16(data, entry);
  return {0, data};
}

Extension supported_groups(const std::vector<uint16_t>& groups) {
  Bytes data;
  vec16(data, u16_list(groups));
  return {10, data};
}

Extension ec_point_formats(const std::vector<uint8_t>& formats) {
  Bytes data;
  vec8(data, Bytes(formats.begin(), formats.end()));
  return {11, data};
}

Extension signature_algorithms(const std::vector<uint16_t>& algs) {
  Bytes data;
  vec16(data, u16_list(algs));
  return {13, data};
}

Extension alpn(const std::vector<std::string>& protocols) {
  Bytes list;
  for (const std::string& p : protocols) vec8(list, Bytes(p.begin(), p.end()));
  Bytes data;
  vec16(data, list);
  return {16, data};
}

Extension client_supported_versions(const std::vector<uint16_t>& versions) {
  Bytes data;
  vec8(data, u16_list(versions));
  return {43, data};
}

Extension server_supported_versions(uint16_t version) {
  Bytes data;
  put16(data, version);
  return {43, data};
}

Extension grease_extension(unsigned i, Bytes data) { return {grease(i), std::move(data)}; }

// ---- handshake messages -----------------------------------------------------------------------

Bytes handshake_message(uint8_t type, const Bytes& body) {
  Bytes b;
  put8(b, type);
  vec24(b, body);
  return b;
}

Bytes client_hello(const ClientHelloSpec& spec) {
  Bytes body;
  put16(body, spec.version);
  append(body, spec.random);
  vec8(body, spec.session_id);
  vec16(body, u16_list(spec.ciphers));
  vec8(body, spec.compression);
  if (!spec.omit_extensions) put_extensions(body, spec.extensions);
  return handshake_message(kClientHelloType, body);
}

ClientHelloSpec browser_client_hello(std::string_view host) {
  ClientHelloSpec spec;
  spec.version = kTls12;
  spec.session_id = Bytes(32, 0x33);  // TLS 1.3 compatibility mode (RFC 8446 §D.4)
  spec.ciphers = {grease(0), 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030,
                  0xcca9,    0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
  // The JA4 documentation's extension order, GREASE first and last as Chrome sends them.
  spec.extensions = {
      grease_extension(1),
      raw_extension(0x001b, {0x02, 0x00, 0x02}),  // compress_certificate: brotli
      server_name(host),
      raw_extension(0x0033, {0x00, 0x00}),  // key_share: empty list (contents not inspected)
      alpn({"h2", "http/1.1"}),
      raw_extension(0x4469, {0x00, 0x03, 0x02, 'h', '2'}),  // application_settings
      raw_extension(0x0017),                                // extended_master_secret
      raw_extension(0x002d, {0x01, 0x01}),                  // psk_key_exchange_modes
      signature_algorithms({0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601}),
      raw_extension(0x0005, {0x01, 0x00, 0x00, 0x00, 0x00}),  // status_request
      raw_extension(0x0023),                                  // session_ticket
      raw_extension(0x0012),                                  // signed_certificate_timestamp
      client_supported_versions({grease(2), kTls13, kTls12}),
      raw_extension(0xff01, {0x00}),  // renegotiation_info
      ec_point_formats({0}),
      supported_groups({grease(3), 0x001d, 0x0017, 0x0018}),
      raw_extension(0x0015, Bytes(8, 0)),  // padding
      grease_extension(4, {0x00}),
  };
  return spec;
}

Bytes server_hello(const ServerHelloSpec& spec) {
  Bytes body;
  put16(body, spec.version);
  append(body, spec.hello_retry_request ? kHelloRetryRandom : spec.random);
  vec8(body, spec.session_id);
  put16(body, spec.cipher);
  put8(body, spec.compression);
  if (!spec.omit_extensions) put_extensions(body, spec.extensions);
  return handshake_message(kServerHelloType, body);
}

Bytes certificate_message(const std::vector<Bytes>& ders) {
  Bytes list;
  for (const Bytes& der : ders) vec24(list, der);
  Bytes body;
  vec24(body, list);
  return handshake_message(kCertificateType, body);
}

Bytes server_hello_done() { return handshake_message(kServerHelloDoneType, {}); }

Bytes client_key_exchange(size_t size) {
  Bytes point(size == 0 ? 0 : size - 1, 0x04);
  Bytes body;
  vec8(body, point);  // ECDHE: ECPoint<1..2^8-1> (RFC 8422 §5.7)
  return handshake_message(kClientKeyExchangeType, body);
}

Bytes finished(size_t size) { return handshake_message(kFinishedType, Bytes(size, 0x5f)); }

// ---- records ---------------------------------------------------------------------------------

Bytes record(uint8_t content_type, uint16_t version, const Bytes& fragment) {
  Bytes b;
  put8(b, content_type);
  put16(b, version);
  vec16(b, fragment);
  return b;
}

Bytes handshake_records(const std::vector<Bytes>& messages, uint16_t version, size_t max_fragment) {
  const Bytes stream = concat(messages);
  max_fragment = std::max<size_t>(max_fragment, 1);
  Bytes out;
  for (size_t at = 0; at < stream.size(); at += max_fragment) {
    const size_t n = std::min(max_fragment, stream.size() - at);
    append(out, record(kHandshake, version,
                       Bytes(stream.begin() + static_cast<long>(at),
                             stream.begin() + static_cast<long>(at + n))));
  }
  return out;
}

Bytes change_cipher_spec(uint16_t version) { return record(kChangeCipherSpec, version, {0x01}); }

Bytes application_data(size_t size, uint16_t version, uint8_t fill) {
  return record(kApplicationData, version, Bytes(size, fill));
}

Bytes alert(uint8_t level, uint8_t description, uint16_t version) {
  return record(kAlert, version, {level, description});
}

Bytes concat(const std::vector<Bytes>& parts) {
  Bytes out;
  for (const Bytes& p : parts) append(out, p);
  return out;
}

// ---- certificates ------------------------------------------------------------------------------

void KeyPair::Free::operator()(evp_pkey_st* key) const { EVP_PKEY_free(key); }

KeyPair::KeyPair() {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx.get(), NID_X9_62_prime256v1) != 1 ||
      EVP_PKEY_keygen(ctx.get(), &key) != 1) {
    fail("EC P-256 key generation");
  }
  key_.reset(key);
}

KeyPair::~KeyPair() = default;
KeyPair::KeyPair(KeyPair&&) noexcept = default;
KeyPair& KeyPair::operator=(KeyPair&&) noexcept = default;

Bytes make_certificate(const CertificateSpec& spec, const KeyPair& subject_key,
                       const KeyPair& signer) {
  std::unique_ptr<X509, X509Free> x509(X509_new());
  if (!x509) fail("X509_new");
  X509_set_version(x509.get(), 2);  // v3

  std::unique_ptr<BIGNUM, BnFree> serial(
      BN_bin2bn(spec.serial.data(), static_cast<int>(spec.serial.size()), nullptr));
  if (!serial || BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x509.get())) == nullptr) {
    fail("serial");
  }
  if (ASN1_TIME_set(X509_getm_notBefore(x509.get()), static_cast<time_t>(spec.not_before)) ==
          nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(x509.get()), static_cast<time_t>(spec.not_after)) ==
          nullptr) {
    fail("validity");
  }
  const auto subject = make_name(spec.subject);
  const auto issuer = make_name(spec.issuer.empty() ? spec.subject : spec.issuer);
  if (X509_set_subject_name(x509.get(), subject.get()) != 1 ||
      X509_set_issuer_name(x509.get(), issuer.get()) != 1 ||
      X509_set_pubkey(x509.get(), subject_key.get()) != 1) {
    fail("names or key");
  }
  if (X509_sign(x509.get(), signer.get(), EVP_sha256()) <= 0) fail("X509_sign");

  const int len = i2d_X509(x509.get(), nullptr);
  if (len <= 0) fail("i2d_X509");
  Bytes der(static_cast<size_t>(len));
  unsigned char* p = der.data();
  i2d_X509(x509.get(), &p);
  return der;
}

}  // namespace spanguard::testing::tls
