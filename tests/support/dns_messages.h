// Builds DNS messages for tests, integration tests and the capture generator: queries and responses
// with any records (name compression on demand), the TCP length prefix, and raw pieces to craft
// malformed messages (pointer loops, labels over 63, names over 255, counts that lie).
//
// Encoded from the RFCs, independently of the parser under test: type numbers are spelled here.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spanguard::testing {

using Bytes = std::vector<uint8_t>;

namespace dns_type {  // RR TYPEs (IANA registry)
inline constexpr uint16_t kA = 1, kNs = 2, kCname = 5, kSoa = 6, kNull = 10, kPtr = 12, kMx = 15,
                          kTxt = 16, kAaaa = 28, kSrv = 33, kDname = 39, kOpt = 41, kHttps = 65,
                          kAny = 255;
}  // namespace dns_type

// The second header word (RFC 1035 §4.1.1; AD/CD RFC 4035 §3.2).
struct DnsFlags {
  bool qr = false;
  uint8_t opcode = 0;
  bool aa = false, tc = false, rd = true, ra = false, z = false, ad = false, cd = false;
  uint8_t rcode = 0;
  uint16_t pack() const;
};
DnsFlags query_flags();                      // RD
DnsFlags response_flags(uint8_t rcode = 0);  // QR RD RA

// Rdata as raw bytes and domain names, in order. Names are encoded when the message is built, so
// they can be compressed against the names before them.
struct DnsRdata {
  struct Part {
    Bytes raw;         // written as is when `is_name` is false
    std::string name;  // dotted ("" or "." is the root)
    bool is_name = false;
    bool compressible = true;  // RFC 2782: an SRV target is never compressed
  };
  std::vector<Part> parts;

  DnsRdata& bytes(const Bytes& b);
  DnsRdata& u8(uint8_t v);
  DnsRdata& u16(uint16_t v);
  DnsRdata& u32(uint32_t v);
  DnsRdata& name(std::string dotted, bool compressible = true);
};

struct DnsRr {
  std::string name;  // owner, dotted
  uint16_t type = dns_type::kA;
  uint16_t rclass = 1;  // IN
  uint32_t ttl = 300;
  DnsRdata rdata;
  Bytes raw_name;  // when not empty, written instead of `name` (a bare pointer, a bad label, ...)
};

// Records of each type. Addresses are text ("192.0.2.1", "2001:db8::1"); a bad one throws.
DnsRr rr_a(std::string name, std::string_view ipv4, uint32_t ttl = 300);
DnsRr rr_aaaa(std::string name, std::string_view ipv6, uint32_t ttl = 300);
DnsRr rr_cname(std::string name, std::string target, uint32_t ttl = 300);
DnsRr rr_ns(std::string name, std::string host, uint32_t ttl = 300);
DnsRr rr_ptr(std::string name, std::string target, uint32_t ttl = 300);
DnsRr rr_dname(std::string name, std::string target, uint32_t ttl = 300);
DnsRr rr_mx(std::string name, uint16_t preference, std::string exchange, uint32_t ttl = 300);
DnsRr rr_txt(std::string name, const std::vector<std::string>& strings, uint32_t ttl = 300);
struct DnsSoa {
  std::string mname, rname;
  uint32_t serial = 1, refresh = 7200, retry = 3600, expire = 1209600, minimum = 300;
};
DnsRr rr_soa(std::string name, const DnsSoa& soa, uint32_t ttl = 300);
DnsRr rr_srv(std::string name, uint16_t priority, uint16_t weight, uint16_t port,
             std::string target, uint32_t ttl = 300);
// EDNS(0) OPT pseudo-record (RFC 6891 §6.1.2): root owner, class = UDP payload size, TTL =
// extended rcode/version/flags, rdata = {code, data} options.
DnsRr rr_opt(uint16_t udp_payload_size, const std::vector<std::pair<uint16_t, Bytes>>& options = {},
             uint32_t ttl_field = 0);
DnsRr rr_raw(std::string name, uint16_t type, const Bytes& rdata, uint32_t ttl = 300);

// A whole message. With compress(), each name (owner names, question names, compressible rdata
// names) ends with a pointer to the longest suffix already written (RFC 1035 §4.1.4).
class DnsMessageBuilder {
 public:
  explicit DnsMessageBuilder(uint16_t id = 0x1234, DnsFlags flags = query_flags());

  DnsMessageBuilder& id(uint16_t id);
  DnsMessageBuilder& flags(const DnsFlags& flags);
  DnsMessageBuilder& raw_flags(uint16_t flags);
  DnsMessageBuilder& question(std::string name, uint16_t type, uint16_t qclass = 1);
  // A question whose name is written as the given wire bytes.
  DnsMessageBuilder& raw_question(Bytes wire_name, uint16_t type, uint16_t qclass = 1);
  DnsMessageBuilder& answer(DnsRr rr);
  DnsMessageBuilder& authority(DnsRr rr);
  DnsMessageBuilder& additional(DnsRr rr);
  DnsMessageBuilder& compress(bool on = true);
  // Header counts written instead of the real ones, to make the message lie about its content.
  DnsMessageBuilder& counts(uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar);
  // Bytes appended after the last record.
  DnsMessageBuilder& trailer(const Bytes& bytes);

  Bytes build() const;

 private:
  struct Question {
    std::string name;
    Bytes raw_name;
    uint16_t type, qclass;
  };
  uint16_t id_;
  uint16_t flags_;
  bool compress_ = false;
  bool override_counts_ = false;
  uint16_t counts_[4] = {0, 0, 0, 0};
  std::vector<Question> questions_;
  std::vector<DnsRr> sections_[3];  // answers, authorities, additionals
  Bytes trailer_;
};

// A standard query (RD set) for one name.
Bytes dns_query(uint16_t id, std::string_view name, uint16_t type);
// DNS over TCP: the message after its 2-byte big-endian length (RFC 1035 §4.2.2).
Bytes tcp_frame(std::span<const uint8_t> message);
Bytes concat(std::initializer_list<Bytes> parts);

// ---- raw pieces for malformed messages ------------------------------------------------------
void put_u16(Bytes& out, uint16_t v);
void put_u32(Bytes& out, uint32_t v);
void append(Bytes& out, std::span<const uint8_t> bytes);
Bytes dns_header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar);
// Dotted name as uncompressed labels + root; throws on a label over 63 or a name over 255.
Bytes wire_name(std::string_view dotted);
// The labels as given, unchecked: a "label" over 63 bytes writes its length octet as is (0x40..
// 0xBF, a reserved label type; over 255 it throws). With terminate, the root octet follows.
Bytes wire_labels(const std::vector<std::string>& labels, bool terminate = true);
Bytes wire_pointer(uint16_t offset);  // 0xC000 | offset
// A question entry / resource record from a raw name.
void put_question(Bytes& out, std::span<const uint8_t> name, uint16_t type, uint16_t qclass = 1);
void put_rr(Bytes& out, std::span<const uint8_t> name, uint16_t type, uint16_t rclass, uint32_t ttl,
            std::span<const uint8_t> rdata);

}  // namespace spanguard::testing
