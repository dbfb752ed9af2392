// The TLS handshake parser: a record-layer state machine per direction (RFC 8446 §5.1, RFC 5246
// §6.2), handshake reassembly across records, the hello and certificate decoders (certificates
// through OpenSSL), and the JA3/JA3S/JA4 fingerprints computed once per hello.
#include "spanguard/applayer/tls.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string_view>

namespace spanguard::applayer::tls {

namespace {

using TC = TlsCounter;

constexpr core::CounterDef kCounterDefs[] = {
    {"records", "TLS records framed (both directions, clear and encrypted)"},
    {"handshake_messages", "clear-text handshake messages reassembled"},
    {"client_hellos", "ClientHello messages"},
    {"server_hellos", "ServerHello messages (HelloRetryRequests excluded)"},
    {"hello_retry_requests", "TLS 1.3 HelloRetryRequests"},
    {"certificates", "server certificates decoded (or found decoded in the cache)"},
    {"encrypted_sessions", "flows whose handshake completed (both directions encrypted)"},
    {"resumed_sessions", "flows that resumed an earlier session"},
    {"alerts", "alert records (clear or encrypted)"},
    {"heartbeats", "heartbeat records"},
    {"gaps", "capture gaps in TLS flows"},
    {"encrypted_bytes", "record payload bytes after encryption (framed, not parsed)"},
    {"certificate_cache_hits", "certificates seen before on this worker, not decoded again"},
    {"anomaly.invalid_record", "records with an unknown content type or version"},
    {"anomaly.record_too_long", "records longer than 2^14 + 2048 bytes"},
    {"anomaly.invalid_handshake", "handshake messages whose fields do not fit, or interleaved"},
    {"anomaly.handshake_too_long", "handshake messages skipped for their size"},
    {"anomaly.truncated", "records or handshake messages cut short by the end of the flow"},
    {"anomaly.bad_certificate", "certificates OpenSSL could not decode"},
    {"anomaly.too_many_certificates", "certificate chains longer than the limit"},
    {"anomaly.gap", "directions lost to a gap before they were encrypted"},
    {"anomaly.sslv2_hello", "SSLv2-format ClientHellos"},
    {"anomaly.unexpected_message", "handshake messages from the wrong side or out of order"},
};
static_assert(std::size(kCounterDefs) == static_cast<size_t>(TC::kCount));
constexpr core::CounterGroup kCounterGroup{"tls", kCounterDefs};

constexpr std::string_view kAnomalyNames[] = {
    "invalid_record", "record_too_long",    "invalid_handshake",     "handshake_too_long",
    "truncated",      "bad_certificate",    "too_many_certificates", "gap",
    "sslv2_hello",    "unexpected_message",
};
static_assert(std::size(kAnomalyNames) == static_cast<size_t>(Anomaly::kCount));

// RFC 8446 §5.1 / RFC 5246 §6.2.3: TLSCiphertext.length is at most 2^14 + 2048.
constexpr uint32_t kMaxRecordLength = (1u << 14) + 2048;

// RFC 5246 §6.2.1, RFC 6520.
enum ContentType : uint8_t {
  kChangeCipherSpec = 20,
  kAlert = 21,
  kHandshake = 22,
  kApplicationData = 23,
  kHeartbeat = 24,
};

// RFC 8446 §4 and RFC 5246 §7.4 HandshakeType values this parser acts on.
enum HandshakeType : uint8_t {
  kClientHello = 1,
  kServerHello = 2,
  kNewSessionTicket = 4,
  kEncryptedExtensions = 8,
  kCertificate = 11,
  kServerKeyExchange = 12,
  kServerHelloDone = 14,
  kClientKeyExchange = 16,
};

// Extension types (IANA TLS ExtensionType registry).
enum ExtensionType : uint16_t {
  kServerName = 0,            // RFC 6066 §3
  kSupportedGroups = 10,      // RFC 8422 §5.1.1
  kEcPointFormats = 11,       // RFC 8422 §5.1.2
  kSignatureAlgorithms = 13,  // RFC 8446 §4.2.3
  kAlpn = 16,                 // RFC 7301 §3.1
  kPreSharedKey = 41,         // RFC 8446 §4.2.11
  kSupportedVersions = 43,    // RFC 8446 §4.2.1
};

// RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest (SHA-256 of
// "HelloRetryRequest").
constexpr std::array<uint8_t, 32> kHelloRetryRandom = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

using Bytes = std::span<const uint8_t>;

// Bounds-checked reading of the TLS presentation language (RFC 8446 §3): fixed integers and
// vectors with 1-, 2- or 3-byte length prefixes. A failed read empties the reader and is
// remembered.
class Reader {
 public:
  explicit Reader(Bytes data) : p_(data.data()), end_(data.data() + data.size()) {}

  size_t left() const { return static_cast<size_t>(end_ - p_); }
  bool empty() const { return p_ == end_; }
  bool failed() const { return failed_; }
  // Read exactly to its end without a failed read.
  bool consumed() const { return !failed_ && p_ == end_; }
  Bytes rest() const { return {p_, left()}; }

  bool u8(uint8_t& v) {
    if (left() < 1) return fail();
    v = *p_++;
    return true;
  }
  bool u16(uint16_t& v) {
    if (left() < 2) return fail();
    v = static_cast<uint16_t>(p_[0] << 8 | p_[1]);
    p_ += 2;
    return true;
  }
  bool u24(uint32_t& v) {
    if (left() < 3) return fail();
    v = uint32_t{p_[0]} << 16 | uint32_t{p_[1]} << 8 | p_[2];
    p_ += 3;
    return true;
  }
  bool bytes(size_t n, Bytes& out) {
    if (left() < n) return fail();
    out = {p_, n};
    p_ += n;
    return true;
  }
  bool vec8(Bytes& out) {
    uint8_t n = 0;
    return u8(n) && bytes(n, out);
  }
  bool vec16(Bytes& out) {
    uint16_t n = 0;
    return u16(n) && bytes(n, out);
  }
  bool vec24(Bytes& out) {
    uint32_t n = 0;
    return u24(n) && bytes(n, out);
  }

 private:
  bool fail() {
    p_ = end_;
    failed_ = true;
    return false;
  }
  const uint8_t* p_;
  const uint8_t* end_;
  bool failed_ = false;
};

// A vector<uint16_t> of a byte string of big-endian pairs; false on an odd length.
bool read_u16_list(Bytes data, std::vector<uint16_t>& out) {
  if (data.size() % 2 != 0) return false;
  for (size_t i = 0; i < data.size(); i += 2) {
    out.push_back(static_cast<uint16_t>(data[i] << 8 | data[i + 1]));
  }
  return true;
}

// RFC 8446 §4.2 (RFC 5246 §7.4.1.4): the extensions that end a hello. Each type is appended to
// `types` and its data handed to `read` as a Reader, which must read it to its end (skip what it
// does not need: `x = Reader({})`) and returns false when the contents do not parse. False when the
// block, an extension or an extension's contents do not fit.
template <typename Read>
bool read_extensions(Reader& r, std::vector<uint16_t>& types, Read&& read) {
  bool ok = true;
  Bytes extensions;
  if (!r.empty() && (!r.vec16(extensions) || !r.empty())) ok = false;
  Reader e(extensions);
  while (!e.empty()) {
    uint16_t type = 0;
    Bytes data;
    if (!e.u16(type) || !e.vec16(data)) return false;
    types.push_back(type);
    Reader x(data);
    if (!read(type, x) || !x.consumed()) ok = false;
  }
  return ok;
}

constexpr char kHexLower[] = "0123456789abcdef";
constexpr char kHexUpper[] = "0123456789ABCDEF";

void append_hex(std::string& out, Bytes data, const char* digits, char separator) {
  for (size_t i = 0; i < data.size(); ++i) {
    if (separator != 0 && i != 0) out += separator;
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0xf];
  }
}

void append_hex16(std::string& out, uint16_t v) {
  for (int shift = 12; shift >= 0; shift -= 4) out += kHexLower[(v >> shift) & 0xf];
}

// Lowercase hex digest, optionally ':'-joined; empty if the digest is unavailable.
std::string digest_hex(const EVP_MD* md, std::string_view data, char separator = 0) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (md == nullptr || EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  std::string hex;
  append_hex(hex, {out, len}, kHexLower, separator);
  return hex;
}

// ---- fingerprints ----------------------------------------------------------------------------

// Salesforce JA3/JA3S (https://github.com/salesforce/ja3): decimal values joined by '-', fields
// by ',', GREASE values left out.
template <typename T>
void append_ja3_list(std::string& out, const std::vector<T>& values) {
  bool first = true;
  for (const T v : values) {
    if constexpr (sizeof(T) == 2) {
      if (is_grease(v)) continue;
    }
    if (!first) out += '-';
    first = false;
    out += std::to_string(v);
  }
}

void compute_ja3(Session& s) {
  std::string& j = s.ja3;
  j = std::to_string(s.client_version);
  j += ',';
  append_ja3_list(j, s.ciphers);
  j += ',';
  append_ja3_list(j, s.extensions);
  j += ',';
  append_ja3_list(j, s.groups);
  j += ',';
  append_ja3_list(j, s.point_formats);
  s.ja3_hash = digest_hex(EVP_md5(), j);
}

void compute_ja3s(Session& s) {
  std::string& j = s.ja3s;
  j = std::to_string(s.server_version);
  j += ',';
  j += std::to_string(s.cipher);
  j += ',';
  append_ja3_list(j, s.server_extensions);
  s.ja3s_hash = digest_hex(EVP_md5(), j);
}

// FoxIO JA4 (technical_details/JA4.md), TLS over TCP.
std::string_view ja4_version(uint16_t v) {
  switch (v) {
    case 0x0304:
      return "13";
    case 0x0303:
      return "12";
    case 0x0302:
      return "11";
    case 0x0301:
      return "10";
    case 0x0300:
      return "s3";
    case 0x0002:
      return "s2";
    case 0xfeff:
      return "d1";
    case 0xfefd:
      return "d2";
    case 0xfefc:
      return "d3";
    default:
      return "00";
  }
}

bool is_alnum(uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// First and last character of the first ALPN value; "00" when there is none; the first and last
// hex digits of the value when either end byte is not alphanumeric.
void append_ja4_alpn(std::string& out, const std::vector<std::string>& alpn) {
  if (alpn.empty() || alpn.front().empty()) {
    out += "00";
    return;
  }
  const std::string& v = alpn.front();
  const auto first = static_cast<uint8_t>(v.front());
  const auto last = static_cast<uint8_t>(v.back());
  if (is_alnum(first) && is_alnum(last)) {
    out += static_cast<char>(first);
    out += static_cast<char>(last);
  } else {
    out += kHexLower[first >> 4];
    out += kHexLower[last & 0xf];
  }
}

// Truncated SHA-256 of a comma-joined 4-hex-digit list; "000000000000" for an empty list.
std::string ja4_hash12(const std::string& raw, bool empty) {
  if (empty) return std::string(12, '0');
  std::string h = digest_hex(EVP_sha256(), raw);
  h.resize(12, '0');
  return h;
}

void append_hex_list(std::string& out, const std::vector<uint16_t>& values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (i != 0) out += ',';
    append_hex16(out, values[i]);
  }
}

void compute_ja4(Session& s) {
  std::vector<uint16_t> ciphers, exts, sigs;
  for (const uint16_t c : s.ciphers) {
    if (!is_grease(c)) ciphers.push_back(c);
  }
  size_t ext_count = 0;
  for (const uint16_t e : s.extensions) {
    if (is_grease(e)) continue;
    ++ext_count;  // SNI and ALPN count here but are left out of the hash (section a has them)
    if (e != kServerName && e != kAlpn) exts.push_back(e);
  }
  for (const uint16_t a : s.sig_algs) {
    if (!is_grease(a)) sigs.push_back(a);
  }
  // The highest supported_versions value, else the legacy version (record version ignored).
  uint16_t version = 0;
  for (const uint16_t v : s.client_versions) {
    if (!is_grease(v)) version = std::max(version, v);
  }
  if (version == 0) version = s.client_version;

  std::string& j = s.ja4;
  j = "t";
  j += ja4_version(version);
  j += s.has_sni ? 'd' : 'i';
  const auto two_digits = [&j](size_t n) {
    n = std::min<size_t>(n, 99);
    j += static_cast<char>('0' + n / 10);
    j += static_cast<char>('0' + n % 10);
  };
  two_digits(ciphers.size());
  two_digits(ext_count);
  append_ja4_alpn(j, s.alpn);

  std::sort(ciphers.begin(), ciphers.end());
  std::string raw;
  append_hex_list(raw, ciphers);
  j += '_';
  j += ja4_hash12(raw, ciphers.empty());

  std::sort(exts.begin(), exts.end());
  raw.clear();
  append_hex_list(raw, exts);
  if (!sigs.empty()) {  // without signature algorithms the string ends without '_'
    raw += '_';
    append_hex_list(raw, sigs);
  }
  j += '_';
  j += ja4_hash12(raw, exts.empty());
}

// ---- certificates ---------------------------------------------------------------------------

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

// Attribute names as Suricata prints them (its x509-parser's abbreviations), else OpenSSL's short
// name, else the dotted OID.
std::string_view attribute_abbreviation(int nid) {
  switch (nid) {
    case NID_commonName:
      return "CN";
    case NID_countryName:
      return "C";
    case NID_localityName:
      return "L";
    case NID_stateOrProvinceName:
      return "ST";
    case NID_organizationName:
      return "O";
    case NID_organizationalUnitName:
      return "OU";
    case NID_domainComponent:
      return "DC";
    case NID_pkcs9_emailAddress:
      return "Email";
    default:
      return {};
  }
}

bool is_string_type(int type) {
  switch (type) {
    case V_ASN1_NUMERICSTRING:
    case V_ASN1_BMPSTRING:
    case V_ASN1_VISIBLESTRING:
    case V_ASN1_PRINTABLESTRING:
    case V_ASN1_GENERALSTRING:
    case V_ASN1_OBJECT_DESCRIPTOR:
    case V_ASN1_GRAPHICSTRING:
    case V_ASN1_T61STRING:
    case V_ASN1_VIDEOTEXSTRING:
    case V_ASN1_UTF8STRING:
    case V_ASN1_IA5STRING:
      return true;
    default:
      return false;
  }
}

// "C=US, O=Example, CN=a + CN=b": RDNs in certificate order joined by ", ", the attributes of a
// multi-valued RDN by " + "; string values as their bytes, others as uppercase hex.
std::string format_name(const X509_NAME* name) {
  std::string out;
  if (name == nullptr) return out;
  int previous_set = -1;
  const int count = X509_NAME_entry_count(name);
  for (int i = 0; i < count; ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
    if (entry == nullptr) continue;
    const int set = X509_NAME_ENTRY_set(entry);
    if (!out.empty()) out += set == previous_set ? " + " : ", ";
    previous_set = set;
    const ASN1_OBJECT* object = X509_NAME_ENTRY_get_object(entry);
    const int nid = OBJ_obj2nid(object);
    if (const std::string_view abbreviation = attribute_abbreviation(nid); !abbreviation.empty()) {
      out += abbreviation;
    } else if (const char* sn = nid != NID_undef ? OBJ_nid2sn(nid) : nullptr; sn != nullptr) {
      out += sn;
    } else {
      char text[128];
      const int n = OBJ_obj2txt(text, sizeof(text), object, 1);
      if (n > 0) out.append(text, std::min<size_t>(static_cast<size_t>(n), sizeof(text) - 1));
    }
    out += '=';
    const ASN1_STRING* value = X509_NAME_ENTRY_get_data(entry);
    if (value == nullptr) continue;
    const Bytes data{ASN1_STRING_get0_data(value), static_cast<size_t>(ASN1_STRING_length(value))};
    if (is_string_type(ASN1_STRING_type(value))) {
      out.append(reinterpret_cast<const char*>(data.data()), data.size());
    } else {
      append_hex(out, data, kHexUpper, 0);
    }
  }
  return out;
}

// The serial's content octets as encoded (a leading 00 kept), uppercase hex joined by ':'.
std::string format_serial(const ASN1_INTEGER* serial) {
  std::string out;
  const int len = serial != nullptr ? i2d_ASN1_INTEGER(serial, nullptr) : 0;
  if (len <= 2) return out;
  std::vector<uint8_t> der(static_cast<size_t>(len));
  unsigned char* q = der.data();
  if (i2d_ASN1_INTEGER(serial, &q) != len) return out;
  size_t at = 2;  // tag, then a short or long form length
  if (der[1] & 0x80) at += der[1] & 0x7f;
  if (at > der.size()) return out;
  append_hex(out, Bytes(der).subspan(at), kHexUpper, ':');
  return out;
}

bool unix_time(const ASN1_TIME* t, int64_t& out) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return false;
  namespace chrono = std::chrono;
  const chrono::sys_days date{chrono::year{tm.tm_year + 1900} /
                              chrono::month{static_cast<unsigned>(tm.tm_mon + 1)} /
                              chrono::day{static_cast<unsigned>(tm.tm_mday)}};
  out = int64_t{date.time_since_epoch().count()} * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 +
        tm.tm_sec;
  return true;
}

}  // namespace

std::string_view anomaly_name(Anomaly a) {
  const auto i = static_cast<size_t>(a);
  return i < std::size(kAnomalyNames) ? kAnomalyNames[i] : std::string_view{};
}

const core::CounterGroup& tls_counter_group() { return kCounterGroup; }

Probe probe(std::span<const uint8_t> b, bool* client_hello) {
  // Record header (RFC 8446 §5.1), then as much of the handshake header and hello version as the
  // record holds: type 22, version 3.x, a length that fits, ClientHello or ServerHello.
  if (b.empty()) return Probe::kNeedMore;
  if (b[0] != kHandshake) return Probe::kNo;
  if (b.size() > 1 && b[1] != 3) return Probe::kNo;
  if (b.size() > 2 && b[2] > 4) return Probe::kNo;
  if (b.size() < 5) return Probe::kNeedMore;
  const uint32_t length = uint32_t{b[3]} << 8 | b[4];
  if (length == 0 || length > kMaxRecordLength) return Probe::kNo;
  const size_t need = 5 + std::min<size_t>(length, 6);  // handshake header + hello version
  if (b.size() > 5 && b[5] != kClientHello && b[5] != kServerHello) return Probe::kNo;
  if (b.size() > 8 && length >= 4) {
    // ServerHello is at least 38 bytes (version, random, session id, cipher, compression).
    const uint32_t hello = uint32_t{b[6]} << 16 | uint32_t{b[7]} << 8 | b[8];
    if (hello < 38) return Probe::kNo;
  }
  if (b.size() > 9 && length >= 5 && b[9] != 3) return Probe::kNo;
  if (b.size() > 10 && length >= 6 && b[10] > 4) return Probe::kNo;
  if (b.size() < need) return Probe::kNeedMore;
  if (client_hello != nullptr) *client_hello = b[5] == kClientHello;
  return Probe::kYes;
}

bool decode_certificate(Certificate& c) {
  const unsigned char* q = c.der.data();
  const X509Ptr x509(d2i_X509(nullptr, &q, static_cast<long>(c.der.size())));
  if (x509 == nullptr) {
    ERR_clear_error();
    return false;
  }
  c.parsed = true;
  c.subject = format_name(X509_get_subject_name(x509.get()));
  c.issuer = format_name(X509_get_issuer_name(x509.get()));
  c.serial = format_serial(X509_get0_serialNumber(x509.get()));
  c.fingerprint =
      digest_hex(EVP_sha1(), {reinterpret_cast<const char*>(c.der.data()), c.der.size()}, ':');
  unix_time(X509_get0_notBefore(x509.get()), c.not_before);
  unix_time(X509_get0_notAfter(x509.get()), c.not_after);
  ERR_clear_error();
  return true;
}

CertificateCache::CertificateCache(size_t slots) : slots_(std::max<size_t>(slots, 1)) {}

bool CertificateCache::decode(Certificate& c, bool& hit) {
  const std::string_view bytes(reinterpret_cast<const char*>(c.der.data()), c.der.size());
  Certificate& slot = slots_[std::hash<std::string_view>{}(bytes) % slots_.size()];
  hit = !slot.der.empty() && slot.der == c.der;
  if (hit) {
    std::vector<uint8_t> der = std::move(c.der);
    c = slot;  // the decoded fields
    c.der = std::move(der);
    return true;
  }
  if (!decode_certificate(c)) return false;
  slot = c;
  return true;
}

size_t CertificateCache::memory_bytes() const {
  size_t n = slots_.capacity() * sizeof(Certificate);
  for (const Certificate& c : slots_) {
    n += c.der.capacity() + c.subject.capacity() + c.issuer.capacity() + c.serial.capacity() +
         c.fingerprint.capacity();
  }
  return n;
}

Parser::Parser(const Limits& limits, Observer& observer, core::Counters<TlsCounter>& counters,
               CertificateCache* certificates)
    : limits_(limits), observer_(observer), counters_(counters), certificate_cache_(certificates) {}

Parser::~Parser() = default;

void Parser::flag(Anomaly a) {
  session_.anomalies |= bit(a);
  counters_.inc(anomaly_counter(a));
}

bool Parser::stopped(Side side) const {
  return (side == Side::kClient ? client_ : server_).state == State::kStopped;
}

void Parser::parse(Side side, std::span<const uint8_t> data) {
  Stream& s = stream(side);
  const uint8_t* p = data.data();
  const uint8_t* const end = p + data.size();
  while (p < end && s.state != State::kStopped) {
    if (s.state == State::kHeader) {
      const size_t k = std::min<size_t>(s.header.size() - s.header_len, end - p);
      std::memcpy(s.header.data() + s.header_len, p, k);
      s.header_len = static_cast<uint8_t>(s.header_len + k);
      p += k;
      if (s.header_len == s.header.size()) record_header(side, s);
      continue;
    }
    const size_t k = std::min<size_t>(s.remaining, end - p);
    s.remaining = static_cast<uint16_t>(s.remaining - k);
    record_body(side, s, p, k);
    p += k;
    if (s.remaining == 0 && s.state == State::kBody) end_record(side, s);
  }
}

void Parser::record_header(Side side, Stream& s) {
  const auto& h = s.header;
  s.header_len = 0;
  // SSLv2 CLIENT-HELLO (RFC 6101 §E.1): 2-byte header with the high bit set, message type 1.
  if (!s.any_record && side == Side::kClient && (h[0] & 0x80) && h[2] == 1) {
    flag(Anomaly::kSslv2Hello);
    stop(s);
    return;
  }
  const uint8_t type = h[0];
  if (type < kChangeCipherSpec || type > kHeartbeat || h[1] != 3 || h[2] > 4) {
    flag(Anomaly::kInvalidRecord);
    stop(s);
    return;
  }
  const uint16_t length = static_cast<uint16_t>(h[3] << 8 | h[4]);
  if (length > kMaxRecordLength) {
    flag(Anomaly::kRecordTooLong);
    stop(s);
    return;
  }
  counters_.inc(TC::kRecords);
  if (!s.any_record) {
    s.any_record = true;
    (side == Side::kClient ? session_.client_record_version : session_.server_record_version) =
        static_cast<uint16_t>(h[1] << 8 | h[2]);
  }
  // RFC 8446 §5.1: a handshake message spanning records must not be interleaved with others.
  if (type != kHandshake && s.hs_open()) {
    flag(Anomaly::kInvalidHandshake);
    drop_handshake(s);
  }
  s.content_type = type;
  s.remaining = length;
  s.alert_len = 0;
  if (type == kApplicationData) mark_encrypted(side);
  if (type == kHeartbeat) counters_.inc(TC::kHeartbeats);
  if (session_.encrypted(side)) counters_.inc(TC::kEncryptedBytes, length);
  s.state = State::kBody;
  if (length == 0) end_record(side, s);
}

void Parser::record_body(Side side, Stream& s, const uint8_t* p, size_t n) {
  if (session_.encrypted(side)) return;
  if (s.content_type == kHandshake) {
    handshake_bytes(side, s, p, n);
  } else if (s.content_type == kAlert) {
    const size_t k = std::min<size_t>(n, s.alert.size() - s.alert_len);
    std::memcpy(s.alert.data() + s.alert_len, p, k);
    s.alert_len = static_cast<uint8_t>(s.alert_len + k);
  }
}

void Parser::end_record(Side side, Stream& s) {
  s.state = State::kHeader;
  if (s.content_type == kChangeCipherSpec) {
    change_cipher_spec(side);
  } else if (s.content_type == kAlert) {
    counters_.inc(TC::kAlerts);
    session_.alert = true;
    // RFC 8446 §6: level and description, readable only before encryption.
    if (!session_.encrypted(side) && s.alert_len == 2 && !session_.alert_in_clear) {
      session_.alert_in_clear = true;
      session_.alert_level = s.alert[0];
      session_.alert_description = s.alert[1];
    }
  }
}

void Parser::handshake_bytes(Side side, Stream& s, const uint8_t* p, size_t n) {
  while (n > 0 && !session_.encrypted(side)) {
    if (s.hs_skip > 0) {
      const size_t k = std::min<size_t>(n, s.hs_skip);
      s.hs_skip -= static_cast<uint32_t>(k);
      p += k;
      n -= k;
      continue;
    }
    if (s.hs_header_len < s.hs_header.size()) {
      if (s.hs_header_len == 0 && n >= 4) {
        // A message wholly inside this piece is parsed in place, without a copy.
        const uint32_t length = uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
        if (length <= n - 4 && length <= limits_.max_handshake_bytes) {
          const uint8_t type = p[0];
          const Bytes body{p + 4, length};
          p += 4 + length;
          n -= 4 + length;
          handshake_message(side, type, body);
          continue;
        }
      }
      const size_t k = std::min<size_t>(n, s.hs_header.size() - s.hs_header_len);
      std::memcpy(s.hs_header.data() + s.hs_header_len, p, k);
      s.hs_header_len = static_cast<uint8_t>(s.hs_header_len + k);
      p += k;
      n -= k;
      if (s.hs_header_len < s.hs_header.size()) continue;
      s.hs_length = uint32_t{s.hs_header[1]} << 16 | uint32_t{s.hs_header[2]} << 8 | s.hs_header[3];
      if (s.hs_length > limits_.max_handshake_bytes) {
        flag(Anomaly::kHandshakeTooLong);
        s.hs_skip = s.hs_length;
        s.hs_header_len = 0;
        continue;
      }
      s.hs_buf.clear();
      if (s.hs_buf.capacity() < s.hs_length) s.hs_buf.reserve(s.hs_length);
      if (s.hs_length != 0) continue;
    } else {
      const size_t k = std::min<size_t>(n, s.hs_length - s.hs_buf.size());
      s.hs_buf.insert(s.hs_buf.end(), p, p + k);
      p += k;
      n -= k;
      if (s.hs_buf.size() < s.hs_length) continue;
    }
    // A buffered message is complete. The buffer stays put while it is parsed, even if the
    // message turns the direction encrypted.
    s.hs_header_len = 0;
    in_message_ = true;
    handshake_message(side, s.hs_header[0], s.hs_buf);
    in_message_ = false;
    if (session_.encrypted(side)) {
      std::vector<uint8_t>().swap(s.hs_buf);
    } else {
      s.hs_buf.clear();
    }
  }
}

void Parser::handshake_message(Side side, uint8_t type, std::span<const uint8_t> body) {
  counters_.inc(TC::kHandshakeMessages);
  if (side == Side::kClient) {
    switch (type) {
      case kClientHello:
        if (!session_.client_hello) {
          client_hello(body);
        } else if (session_.hello_retry_request && !second_client_hello_) {
          // RFC 8446 §4.1.4: the retry repeats the first hello with a new key share; the
          // fingerprints stay those of the first one.
          second_client_hello_ = true;
          counters_.inc(TC::kClientHellos);
        } else {
          flag(Anomaly::kUnexpectedMessage);
        }
        return;
      case kServerHello:
      case kNewSessionTicket:
      case kEncryptedExtensions:
      case kServerKeyExchange:
      case kServerHelloDone:
        flag(Anomaly::kUnexpectedMessage);
        return;
      case kClientKeyExchange:
        // RFC 5246 §7.4.7: its contents stay opaque here; its arrival is what ssl_state reports.
        if (session_.client_hello && !session_.client_key_exchange) {
          session_.client_key_exchange = true;
          observer_.on_tls(session_, Event::kClientKeyExchange);
        }
        return;
      default:
        return;  // Certificate, CertificateVerify...: skipped
    }
  }
  switch (type) {
    case kServerHello:
      if (!session_.server_hello) {
        server_hello(body);
      } else {
        flag(Anomaly::kUnexpectedMessage);
      }
      return;
    case kCertificate:
      if (session_.server_hello && !session_.certificates_done) {
        certificates(body);
      } else {
        flag(Anomaly::kUnexpectedMessage);
      }
      return;
    case kServerHelloDone:
      server_hello_done_ = true;
      return;
    case kClientHello:
    case kClientKeyExchange:
      flag(Anomaly::kUnexpectedMessage);
      return;
    default:
      return;  // ServerKeyExchange, CertificateRequest, NewSessionTicket, CertificateStatus...
  }
}

void Parser::client_hello(std::span<const uint8_t> body) {
  // RFC 8446 §4.1.2 (RFC 5246 §7.4.1.2): version, random, session id, cipher suites,
  // compression methods, then extensions unless the hello ends there (SSLv3-era clients).
  Reader r(body);
  uint16_t version = 0;
  Bytes random, session_id, ciphers, compression;
  if (!r.u16(version) || !r.bytes(32, random) || !r.vec8(session_id) || session_id.size() > 32 ||
      !r.vec16(ciphers) || ciphers.size() % 2 != 0 || !r.vec8(compression)) {
    flag(Anomaly::kInvalidHandshake);
    return;
  }
  Session& s = session_;
  s.client_hello = true;
  counters_.inc(TC::kClientHellos);
  s.client_version = version;
  std::copy(random.begin(), random.end(), s.client_random.begin());
  s.client_session_id.assign(session_id.begin(), session_id.end());
  read_u16_list(ciphers, s.ciphers);
  s.compression_methods.assign(compression.begin(), compression.end());

  const bool ok = read_extensions(r, s.extensions, [&s](uint16_t type, Reader& x) {
    bool fine = true;
    Bytes list;
    switch (type) {
      case kServerName: {
        // RFC 6066 §3: ServerNameList of (name_type, HostName); host_name is type 0.
        s.has_sni = true;
        if (!x.vec16(list)) break;
        Reader names(list);
        while (!names.empty()) {
          uint8_t name_type = 0;
          Bytes name;
          if (!names.u8(name_type) || !names.vec16(name)) {
            fine = false;
            break;
          }
          if (name_type == 0 && s.sni.empty()) s.sni.assign(name.begin(), name.end());
        }
        break;
      }
      case kSupportedGroups:
      case kSignatureAlgorithms:
        if (x.vec16(list) &&
            !read_u16_list(list, type == kSupportedGroups ? s.groups : s.sig_algs)) {
          fine = false;
        }
        break;
      case kEcPointFormats:
        if (x.vec8(list)) s.point_formats.insert(s.point_formats.end(), list.begin(), list.end());
        break;
      case kAlpn: {
        // RFC 7301 §3.1: ProtocolNameList of non-empty 1-byte-length names.
        if (!x.vec16(list)) break;
        Reader names(list);
        while (!names.empty()) {
          Bytes name;
          if (!names.vec8(name)) {
            fine = false;
            break;
          }
          s.alpn.emplace_back(name.begin(), name.end());
        }
        break;
      }
      case kSupportedVersions:
        if (x.vec8(list) && !read_u16_list(list, s.client_versions)) fine = false;
        break;
      default:
        x = Reader({});  // contents not needed
        break;
    }
    return fine;
  });
  if (!ok) flag(Anomaly::kInvalidHandshake);
  compute_ja3(s);
  compute_ja4(s);
  observer_.on_tls(s, Event::kClientHello);
}

void Parser::server_hello(std::span<const uint8_t> body) {
  // RFC 8446 §4.1.3 (RFC 5246 §7.4.1.3).
  Reader r(body);
  uint16_t version = 0, cipher = 0;
  uint8_t compression = 0;
  Bytes random, session_id;
  if (!r.u16(version) || !r.bytes(32, random) || !r.vec8(session_id) || session_id.size() > 32 ||
      !r.u16(cipher) || !r.u8(compression)) {
    flag(Anomaly::kInvalidHandshake);
    return;
  }
  if (std::equal(random.begin(), random.end(), kHelloRetryRandom.begin())) {
    // RFC 8446 §4.1.4: at most one HelloRetryRequest; the ServerHello that follows is the one
    // that counts.
    if (session_.hello_retry_request) {
      flag(Anomaly::kUnexpectedMessage);
    } else {
      session_.hello_retry_request = true;
      counters_.inc(TC::kHelloRetryRequests);
    }
    return;
  }
  Session& s = session_;
  s.server_hello = true;
  counters_.inc(TC::kServerHellos);
  s.server_version = version;
  std::copy(random.begin(), random.end(), s.server_random.begin());
  s.server_session_id.assign(session_id.begin(), session_id.end());
  s.cipher = cipher;
  s.compression = compression;

  bool psk = false;
  uint16_t selected = 0;
  const bool ok = read_extensions(r, s.server_extensions, [&](uint16_t type, Reader& x) {
    switch (type) {
      case kSupportedVersions:  // RFC 8446 §4.2.1: the selected version alone
        x.u16(selected);
        break;
      case kAlpn: {  // RFC 7301 §3.1: exactly one protocol name
        Bytes list, name;
        if (x.vec16(list) && Reader(list).vec8(name))
          s.server_alpn.assign(name.begin(), name.end());
        break;
      }
      case kPreSharedKey:  // RFC 8446 §4.2.11: the server accepted a PSK (resumption)
        psk = true;
        x = Reader({});
        break;
      default:
        x = Reader({});
        break;
    }
    return true;
  });
  if (!ok) flag(Anomaly::kInvalidHandshake);
  s.version = selected != 0 ? selected : version;
  compute_ja3s(s);
  const bool tls13 = s.version >= kTls13;
  // <= 1.2 (RFC 5246 §7.3): an echoed non-empty session id is an abbreviated handshake. 1.3
  // echoes the id anyway (compatibility mode); resumption there is an accepted PSK.
  const bool resumed =
      tls13 ? psk : !s.server_session_id.empty() && s.server_session_id == s.client_session_id;
  if (resumed && !s.resumed) {
    s.resumed = true;
    counters_.inc(TC::kResumedSessions);
  }
  observer_.on_tls(s, Event::kServerHello);
  // RFC 8446 §2: everything the server sends after its ServerHello is encrypted.
  if (tls13) mark_encrypted(Side::kServer);
}

void Parser::certificates(std::span<const uint8_t> body) {
  // RFC 5246 §7.4.2: certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>. A list longer than the
  // message is read as far as it goes.
  Session& s = session_;
  s.certificates_done = true;
  Reader r(body);
  uint32_t length = 0;
  bool ok = r.u24(length) && length == r.left();
  Reader list(r.rest().first(std::min<size_t>(length, r.left())));
  while (!list.empty()) {
    Bytes der;
    if (!list.vec24(der)) {
      ok = false;
      break;
    }
    if (s.certificates.size() >= limits_.max_certificates) {
      flag(Anomaly::kTooManyCertificates);
      break;
    }
    Certificate& c = s.certificates.emplace_back();
    c.der.assign(der.begin(), der.end());
    bool hit = false;
    if (!(certificate_cache_ != nullptr ? certificate_cache_->decode(c, hit)
                                        : decode_certificate(c))) {
      flag(Anomaly::kBadCertificate);
      continue;
    }
    counters_.inc(TC::kCertificates);
    if (hit) counters_.inc(TC::kCertificateCacheHits);
  }
  if (!ok) flag(Anomaly::kInvalidHandshake);
  observer_.on_tls(s, Event::kCertificate);
}

void Parser::change_cipher_spec(Side side) {
  // RFC 8446 §D.4: in middlebox-compatibility mode a dummy CCS follows a HelloRetryRequest and
  // precedes the client's second ClientHello; the handshake goes on in the clear after it.
  const bool retry_pending =
      session_.hello_retry_request &&
      (side == Side::kClient ? !second_client_hello_ : !session_.server_hello);
  if (retry_pending) return;
  // RFC 5246 §7.3: a <= 1.2 server that changes ciphers before ending a full first flight
  // (ServerHelloDone) is resuming (session id or ticket, RFC 5077 §3.1).
  if (side == Side::kServer && session_.server_hello && session_.version < kTls13 &&
      !server_hello_done_ && !session_.resumed) {
    session_.resumed = true;
    counters_.inc(TC::kResumedSessions);
  }
  mark_encrypted(side);
}

void Parser::mark_encrypted(Side side) {
  bool& encrypted = side == Side::kClient ? session_.client_encrypted : session_.server_encrypted;
  if (encrypted) return;
  encrypted = true;
  Stream& s = stream(side);
  s.hs_header_len = 0;
  s.hs_skip = 0;
  s.hs_length = 0;
  if (!in_message_) std::vector<uint8_t>().swap(s.hs_buf);  // else freed once parsed
  if (session_.client_encrypted && session_.server_encrypted && !session_.handshake_done) {
    session_.handshake_done = true;
    counters_.inc(TC::kEncryptedSessions);
    observer_.on_tls(session_, Event::kEncrypted);
  }
}

void Parser::drop_handshake(Stream& s) {
  s.hs_header_len = 0;
  s.hs_skip = 0;
  s.hs_length = 0;
  s.hs_buf.clear();
}

void Parser::stop(Stream& s) {
  s.state = State::kStopped;
  s.header_len = 0;
  s.remaining = 0;
  s.hs_header_len = 0;
  s.hs_skip = 0;
  s.hs_length = 0;
  std::vector<uint8_t>().swap(s.hs_buf);
}

void Parser::on_gap(Side side) {
  counters_.inc(TC::kGaps);
  Stream& s = stream(side);
  if (s.state == State::kStopped) return;
  if (!session_.encrypted(side)) flag(Anomaly::kGap);
  stop(s);
}

void Parser::on_end() {
  if (ended_) return;
  ended_ = true;
  for (const Side side : {Side::kClient, Side::kServer}) {
    Stream& s = stream(side);
    if (s.state == State::kStopped) continue;
    const bool open = s.header_len != 0 || s.state == State::kBody || s.hs_open();
    if (open && !session_.encrypted(side)) flag(Anomaly::kTruncated);
    stop(s);
  }
}

size_t Parser::buffered_bytes() const {
  return client_.hs_buf.capacity() + server_.hs_buf.capacity();
}

size_t Parser::memory_bytes() const {
  const Session& s = session_;
  size_t n = sizeof(*this) + buffered_bytes();
  const auto str = [](const std::string& v) { return v.capacity(); };
  n += s.client_session_id.capacity() + s.server_session_id.capacity() +
       s.compression_methods.capacity() + s.point_formats.capacity();
  n += 2 * (s.ciphers.capacity() + s.extensions.capacity() + s.groups.capacity() +
            s.sig_algs.capacity() + s.client_versions.capacity() + s.server_extensions.capacity());
  n += str(s.sni) + str(s.ja3) + str(s.ja3_hash) + str(s.ja4) + str(s.server_alpn) + str(s.ja3s) +
       str(s.ja3s_hash);
  n += s.alpn.capacity() * sizeof(std::string);
  for (const std::string& a : s.alpn) n += str(a);
  n += s.certificates.capacity() * sizeof(Certificate);
  for (const Certificate& c : s.certificates) {
    n += c.der.capacity() + str(c.subject) + str(c.issuer) + str(c.serial) + str(c.fingerprint);
  }
  return n;
}

}  // namespace spanguard::applayer::tls
