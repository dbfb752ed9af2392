// TLS (and SSLv3) handshakes for both directions of one TCP flow: the record layer, the clear-text
// handshake messages (ClientHello, ServerHello, the server's Certificate chain), the JA3/JA3S/JA4
// fingerprints, and the point where the flow turns encrypted and nothing more can be parsed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spanguard/applayer/side.h"
#include "spanguard/core/counters.h"

namespace spanguard::applayer::tls {

using applayer::Side;

// Every limit bounds memory: a flow holds at most one partial handshake message per direction
// (max_handshake_bytes each) plus the session, and nothing is buffered once it is encrypted.
struct Limits {
  uint32_t max_handshake_bytes = 64 * 1024;  // a larger handshake message is skipped and counted
  uint32_t max_certificates = 16;            // certificates kept from the server's chain
};

// kClientHello / kServerHello: the hello was parsed (a HelloRetryRequest raises no event; the
// ServerHello after it does). kCertificate: the server's Certificate message was parsed, every
// certificate in it (up to the limit) is in Session::certificates. kEncrypted: both directions are
// encrypted (or carry application data): nothing more will be parsed, the flow may be bypassed.
enum class Event : uint8_t {
  kClientHello,
  kServerHello,
  kCertificate,
  kClientKeyExchange,
  kEncrypted
};

// Protocol anomalies, one bit each in Session::anomalies and one counter each
// ("tls.anomaly.<name>").
enum class Anomaly : uint8_t {
  kInvalidRecord,        // content type not 20..24 or version not 3.0..3.4: direction stopped
  kRecordTooLong,        // record length over 2^14 + 2048 (RFC 5246 §6.2.3): direction stopped
  kInvalidHandshake,     // hello/certificate fields that do not fit their lengths, or a handshake
                         // message interrupted by another record type (RFC 8446 §5.1)
  kHandshakeTooLong,     // handshake message over Limits::max_handshake_bytes: skipped
  kTruncated,            // the flow ended inside a record or handshake message
  kBadCertificate,       // a certificate OpenSSL cannot decode: kept as DER only
  kTooManyCertificates,  // chain longer than Limits::max_certificates: the rest was dropped
  kGap,                  // bytes lost before the direction was encrypted: direction stopped
  kSslv2Hello,           // SSLv2-format ClientHello (not parsed): client direction stopped
  kUnexpectedMessage,    // a handshake message from the wrong side or out of order: skipped
  kCount
};
constexpr uint32_t bit(Anomaly a) { return uint32_t{1} << static_cast<unsigned>(a); }
std::string_view anomaly_name(Anomaly a);  // "invalid_record", ...

// Protocol versions as on the wire (RFC 8446 §4.2.1; 0x0300 is SSL 3.0).
inline constexpr uint16_t kSsl30 = 0x0300;
inline constexpr uint16_t kTls10 = 0x0301;
inline constexpr uint16_t kTls11 = 0x0302;
inline constexpr uint16_t kTls12 = 0x0303;
inline constexpr uint16_t kTls13 = 0x0304;

// RFC 8701: 0x0a0a, 0x1a1a, ... 0xfafa in cipher suites, extensions, groups, versions, sig algs.
constexpr bool is_grease(uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff); }

// One certificate of the server's chain, with the fields Suricata's tls.cert_* buffers show.
struct Certificate {
  std::vector<uint8_t> der;  // tls.certs
  bool parsed = false;       // OpenSSL decoded it; the fields below are empty/0 otherwise
  std::string subject;       // "C=US, O=Example, CN=host.example" (RDN order of the certificate)
  std::string issuer;        // same format
  std::string serial;        // "00:8F:01": uppercase hex of the INTEGER's content octets, ':'
  std::string fingerprint;   // SHA-1 of the DER, lowercase hex joined by ':'
  int64_t not_before = 0;    // unix seconds
  int64_t not_after = 0;
};

// What one flow's handshake showed. Values are as on the wire; lists keep wire order and keep
// GREASE values (the fingerprints drop them).
struct Session {
  // ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2)
  bool client_hello = false;
  uint16_t client_version = 0;  // legacy_version
  std::array<uint8_t, 32> client_random{};
  std::vector<uint8_t> client_session_id;
  std::vector<uint16_t> ciphers;
  std::vector<uint8_t> compression_methods;
  std::vector<uint16_t> extensions;       // extension types in order
  bool has_sni = false;                   // a server_name extension was present
  std::string sni;                        // first host_name (RFC 6066 §3), raw bytes
  std::vector<std::string> alpn;          // offered protocols (RFC 7301)
  std::vector<uint16_t> groups;           // supported_groups (RFC 8422 §5.1.1)
  std::vector<uint8_t> point_formats;     // ec_point_formats
  std::vector<uint16_t> sig_algs;         // signature_algorithms (RFC 8446 §4.2.3)
  std::vector<uint16_t> client_versions;  // supported_versions (RFC 8446 §4.2.1)
  std::string ja3, ja3_hash;              // Salesforce JA3, MD5 lowercase hex
  std::string ja4;                        // FoxIO JA4 "t13d1516h2_8daaf6152771_e5627efa2ab1"

  // ServerHello (RFC 8446 §4.1.3)
  bool server_hello = false;
  bool hello_retry_request = false;  // an HRR came first (RFC 8446 §4.1.4)
  uint16_t server_version = 0;       // legacy_version
  uint16_t version = 0;              // negotiated: supported_versions if present, else legacy
  std::array<uint8_t, 32> server_random{};
  std::vector<uint8_t> server_session_id;
  uint16_t cipher = 0;
  uint8_t compression = 0;
  std::vector<uint16_t> server_extensions;
  std::string server_alpn;  // the protocol the server selected
  std::string ja3s, ja3s_hash;

  bool client_key_exchange = false;  // the client's ClientKeyExchange (TLS <= 1.2) was seen

  // Server certificate chain (TLS <= 1.2 only: TLS 1.3 encrypts it)
  std::vector<Certificate> certificates;
  bool certificates_done = false;

  // First record version seen per direction (Suricata ssl_version looks at records).
  uint16_t client_record_version = 0, server_record_version = 0;
  bool client_encrypted = false;  // CCS sent, or application data seen
  bool server_encrypted = false;  // CCS sent, application data seen, or TLS 1.3 ServerHello
  bool handshake_done = false;    // both encrypted: kEncrypted was raised
  bool resumed = false;           // session id echoed (<= 1.2), CCS without a full handshake
                                  // (ticket), or pre_shared_key accepted (1.3)
  bool alert = false;             // an alert record (possibly encrypted) was seen
  bool alert_in_clear = false;    // level and description below are known
  uint8_t alert_level = 0, alert_description = 0;  // first clear-text alert
  uint32_t anomalies = 0;                          // bit set of Anomaly

  bool encrypted(Side side) const {
    return side == Side::kClient ? client_encrypted : server_encrypted;
  }
};

// Called synchronously from parse()/on_gap()/on_end(); must not call back into the Parser. The
// session lives as long as the Parser.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void on_tls(Session& session, Event event) = 0;
};

// Content detection of a TLS/SSLv3 handshake record carrying a ClientHello or ServerHello from
// either side: type 22, version 3.x, plausible record length, hello type, hello version 3.x.
// *client_hello (when given and kYes) tells which: the sender of a ClientHello is the client.
using applayer::Probe;
Probe probe(std::span<const uint8_t> first_bytes, bool* client_hello = nullptr);

enum class TlsCounter : uint16_t {
  kRecords,
  kHandshakeMessages,
  kClientHellos,
  kServerHellos,
  kHelloRetryRequests,
  kCertificates,       // certificates OpenSSL decoded
  kEncryptedSessions,  // flows that reached kEncrypted
  kResumedSessions,
  kAlerts,
  kHeartbeats,
  kGaps,
  kEncryptedBytes,        // record bytes after the direction turned encrypted (not parsed)
  kCertificateCacheHits,  // certificates taken from the CertificateCache, not decoded again
  // One per Anomaly, in its order.
  kAnomalyInvalidRecord,
  kAnomalyRecordTooLong,
  kAnomalyInvalidHandshake,
  kAnomalyHandshakeTooLong,
  kAnomalyTruncated,
  kAnomalyBadCertificate,
  kAnomalyTooManyCertificates,
  kAnomalyGap,
  kAnomalySslv2Hello,
  kAnomalyUnexpectedMessage,
  kCount
};
static_assert(static_cast<int>(TlsCounter::kAnomalyUnexpectedMessage) -
                      static_cast<int>(TlsCounter::kAnomalyInvalidRecord) + 1 ==
                  static_cast<int>(Anomaly::kCount),
              "one counter per anomaly");
constexpr TlsCounter anomaly_counter(Anomaly a) {
  return static_cast<TlsCounter>(static_cast<int>(TlsCounter::kAnomalyInvalidRecord) +
                                 static_cast<int>(a));
}
const core::CounterGroup& tls_counter_group();  // module "tls"

// Fills a certificate's decoded fields from its `der` with OpenSSL's X.509 decoder; false (fields
// left empty) when it cannot be decoded.
bool decode_certificate(Certificate& c);

// Decoded certificates by their DER bytes. Servers present the same chain to every client, and
// decoding one with OpenSSL (which decodes its public key too) costs more than the rest of the
// handshake. Direct-mapped: a slot per hash of the bytes, a hit only when the bytes are equal, a
// colliding certificate replaces the slot's. One per worker, not thread-safe.
class CertificateCache {
 public:
  explicit CertificateCache(size_t slots = 1024);
  // decode_certificate(c), or a copy of the fields decoded earlier for the same bytes (hit).
  bool decode(Certificate& c, bool& hit);
  size_t memory_bytes() const;

 private:
  std::vector<Certificate> slots_;  // der empty: unused
};

class Parser {  // one per flow; both directions
 public:
  // `certificates`: where decoded certificates are looked up first (null: always decode).
  Parser(const Limits& limits, Observer& observer, core::Counters<TlsCounter>& counters,
         CertificateCache* certificates = nullptr);
  ~Parser();
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Incremental: any split of a direction's bytes gives the same result. Records are framed even
  // after encryption (to count them and see encrypted alerts) with a fixed 5-byte header buffer.
  void parse(Side side, std::span<const uint8_t> data);
  // Bytes lost in that direction. Record boundaries are not recoverable without guessing (a
  // record header is 5 plausible bytes, easily found inside ciphertext), so the direction stops
  // being parsed; it keeps whatever encrypted state it had. The other direction carries on.
  void on_gap(Side side);
  // Flow end: a record or handshake message still open is counted truncated; buffers are freed.
  void on_end();

  const Session& session() const { return session_; }
  bool stopped(Side side) const;  // that direction is no longer parsed (invalid, gap, end)
  size_t buffered_bytes() const;  // partial handshake messages held (0 once encrypted)
  size_t memory_bytes() const;    // buffers plus what the session holds

 private:
  enum class State : uint8_t { kHeader, kBody, kStopped };
  struct Stream {  // one direction
    State state = State::kHeader;
    bool any_record = false;
    uint8_t header_len = 0;
    std::array<uint8_t, 5> header{};
    uint8_t content_type = 0;
    uint16_t remaining = 0;  // bytes left of the current record
    uint8_t alert_len = 0;   // clear-text alert bytes of the current record
    std::array<uint8_t, 2> alert{};
    // Handshake reassembly (RFC 8446 §5.1: messages may span records, records may hold several).
    uint8_t hs_header_len = 0;
    std::array<uint8_t, 4> hs_header{};
    uint32_t hs_length = 0;
    uint32_t hs_skip = 0;         // bytes left of a message skipped for its size
    std::vector<uint8_t> hs_buf;  // the message body so far
    bool hs_open() const { return hs_header_len != 0 || hs_skip != 0; }
  };

  Stream& stream(Side side) { return side == Side::kClient ? client_ : server_; }
  void record_header(Side side, Stream& s);
  void record_body(Side side, Stream& s, const uint8_t* p, size_t n);
  void end_record(Side side, Stream& s);
  void handshake_bytes(Side side, Stream& s, const uint8_t* p, size_t n);
  void handshake_message(Side side, uint8_t type, std::span<const uint8_t> body);
  void client_hello(std::span<const uint8_t> body);
  void server_hello(std::span<const uint8_t> body);
  void certificates(std::span<const uint8_t> body);
  void change_cipher_spec(Side side);
  void mark_encrypted(Side side);
  void stop(Stream& s);
  void drop_handshake(Stream& s);
  void flag(Anomaly a);

  Limits limits_;
  Observer& observer_;
  core::Counters<TlsCounter>& counters_;
  CertificateCache* certificate_cache_;
  Session session_;
  Stream client_, server_;
  bool second_client_hello_ = false;  // after an HRR, the client's retry was seen
  bool server_hello_done_ = false;    // full <= 1.2 handshake: the server's first flight ended
  bool in_message_ = false;           // a buffered handshake message is being parsed
  bool ended_ = false;
};

}  // namespace spanguard::applayer::tls
