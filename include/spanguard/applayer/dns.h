// DNS messages (RFC 1035 §4) for UDP and TCP: the header, questions and resource records with
// guarded name decompression, rdata rendered for the common types, the 2-byte length framing of
// DNS over TCP (RFC 7766), content probes for protocol detection, and the EVE text tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "spanguard/applayer/side.h"
#include "spanguard/core/counters.h"

namespace spanguard::applayer::dns {

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxMessageSize = 65535;  // the TCP length prefix is 16 bits
inline constexpr size_t kMaxNameWire = 255;       // RFC 1035 §2.3.4: octets on the wire, expanded
inline constexpr size_t kMaxLabel = 63;           // RFC 1035 §2.3.4
// A name may follow this many compression pointers. Pointers must also move strictly backwards
// (below where the current run of labels started), so a loop is impossible and this only bounds
// the work of a long chain of pointers to pointers.
inline constexpr size_t kMaxPointerHops = 64;

// Resource record types (IANA "Resource Record (RR) TYPEs").
inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeNs = 2;
inline constexpr uint16_t kTypeMd = 3;
inline constexpr uint16_t kTypeMf = 4;
inline constexpr uint16_t kTypeCname = 5;
inline constexpr uint16_t kTypeSoa = 6;
inline constexpr uint16_t kTypeMb = 7;
inline constexpr uint16_t kTypeMg = 8;
inline constexpr uint16_t kTypeMr = 9;
inline constexpr uint16_t kTypeNull = 10;
inline constexpr uint16_t kTypePtr = 12;
inline constexpr uint16_t kTypeMx = 15;
inline constexpr uint16_t kTypeTxt = 16;
inline constexpr uint16_t kTypeAaaa = 28;
inline constexpr uint16_t kTypeSrv = 33;
inline constexpr uint16_t kTypeDname = 39;
inline constexpr uint16_t kTypeOpt = 41;
inline constexpr uint16_t kTypeDs = 43;
inline constexpr uint16_t kTypeRrsig = 46;
inline constexpr uint16_t kTypeNsec = 47;
inline constexpr uint16_t kTypeDnskey = 48;
inline constexpr uint16_t kTypeSvcb = 64;
inline constexpr uint16_t kTypeHttps = 65;
inline constexpr uint16_t kTypeAxfr = 252;
inline constexpr uint16_t kTypeAny = 255;

inline constexpr uint16_t kClassIn = 1;

// Opcodes (IANA "DNS OpCodes"); 3 and 7..15 are unassigned.
inline constexpr uint8_t kOpcodeQuery = 0;
inline constexpr uint8_t kOpcodeIquery = 1;  // obsolete (RFC 3425)
inline constexpr uint8_t kOpcodeStatus = 2;
inline constexpr uint8_t kOpcodeNotify = 4;  // RFC 1996
inline constexpr uint8_t kOpcodeUpdate = 5;  // RFC 2136
inline constexpr uint8_t kOpcodeDso = 6;     // RFC 8490
constexpr bool opcode_assigned(uint8_t opcode) { return opcode <= 6 && opcode != 3; }

// Rcodes of the 4-bit header field (RFC 1035 §4.1.1, RFC 2136 §2.2).
inline constexpr uint8_t kRcodeNoError = 0;
inline constexpr uint8_t kRcodeFormErr = 1;
inline constexpr uint8_t kRcodeServFail = 2;
inline constexpr uint8_t kRcodeNxDomain = 3;
inline constexpr uint8_t kRcodeNotImp = 4;
inline constexpr uint8_t kRcodeRefused = 5;

// Per-message anomalies, one bit each in Message::anomalies and one counter each. The first
// seven are malformations (kMalformedMask).
enum class Anomaly : uint8_t {
  kTruncatedHeader,  // fewer than 12 bytes: nothing parsed
  kBadName,          // a name runs past the end of the message (or its rdata), or a pointer
                     //   targets a byte outside the message
  kPointerLoop,      // a pointer that does not move strictly backwards (itself, forward, a loop)
                     //   or more than kMaxPointerHops of them
  kLabelTooLong,     // a length octet 0x40..0xBF: a label over 63, i.e. the label types 01/10
                     //   (RFC 6891 §5 extended labels, never deployed) that are rejected
  kNameTooLong,      // over 255 octets once expanded: the text keeps the labels that fit
  kCountMismatch,    // the message ends before the entries its header counts (or a record's
                     //   rdata): parsed as far as it goes
  kBadRdata,         // rdata whose layout does not match its type (an A record of 5 bytes, ...)
  kTooManyRecords,   // more questions/records than Limits allow: the extra ones were skipped
  kTrailingData,     // bytes after the last counted record (or past 65535)
  kZFlagSet,         // the reserved Z bit (0x0040) is set
  kInvalidOpcode,    // an unassigned opcode (3, 7..15)
  kCount
};
constexpr uint32_t bit(Anomaly a) { return uint32_t{1} << static_cast<unsigned>(a); }
inline constexpr uint32_t kMalformedMask = (bit(Anomaly::kBadRdata) << 1) - 1;
std::string_view anomaly_name(Anomaly a);  // "truncated_header", "pointer_loop", ...

// Caps on what one message may cost. Entries over a cap are walked (to reach the next section)
// but not kept, and kTooManyRecords is set.
struct Limits {
  uint32_t max_questions = 16;  // real traffic carries one
  uint32_t max_answers = 256;
  uint32_t max_authorities = 64;
  uint32_t max_additionals = 64;
};

struct Header {
  uint16_t id = 0;
  uint16_t flags = 0;  // the raw second word (EVE "flags" is its hex)
  bool qr = false, aa = false, tc = false, rd = false, ra = false;
  bool z = false;   // 0x0040, the bit RFC 2535 left reserved
  bool ad = false;  // RFC 4035 §3.2.3
  bool cd = false;  // RFC 4035 §3.2.2
  uint8_t opcode = 0;
  uint8_t rcode = 0;  // the 4 header bits (an OPT record may extend it, RFC 6891 §6.1.3)
  uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
};
// Decodes the 12 header bytes; false if there are fewer.
bool decode_header(std::span<const uint8_t> data, Header& out);

// Names are decompressed, the label bytes as they came (not escaped: this is what Suricata's
// dns.query buffer holds) joined by '.', without the trailing dot; the root name is "" as in
// Suricata's EVE. At most 254 bytes (a 255-octet wire name).
struct Question {
  std::string name;
  uint16_t type = 0;
  uint16_t qclass = 0;
  bool name_ok = true;  // false: `name` is what decoded before the name's anomaly
};

// Part of a record's rdata: a TXT character-string (RFC 1035 §3.3.14) or an OPT option
// (RFC 6891 §6.1.2, with its code). Offsets are into Message::wire().
struct Piece {
  uint16_t offset = 0;
  uint16_t length = 0;
  uint16_t code = 0;
};

struct SoaData {  // RFC 1035 §3.3.13
  std::string mname, rname;
  uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
};
struct SrvData {  // RFC 2782; the target is Record::text
  uint16_t priority = 0, weight = 0, port = 0;
};

struct Record {
  std::string name;  // owner name, as Question::name
  uint16_t type = 0;
  uint16_t rclass = 0;  // OPT: the requestor's UDP payload size
  uint32_t ttl = 0;     // OPT: extended rcode, version and flags (RFC 6891 §6.1.3)
  uint16_t rdata_offset = 0, rdata_length = 0;  // raw rdata: Message::rdata()
  bool name_ok = true;   // false: the owner name had an anomaly; `name` is partial
  bool rdata_ok = true;  // false: rdata malformed for its type (or a name in it was); the
                         //   rendered fields are what decoded before that
  // Rendered rdata:
  //   A, AAAA              the address (AAAA as RFC 5952 text)
  //   CNAME NS PTR DNAME
  //   MB MG MR MD MF       the decompressed name
  //   MX                   the exchange (preference in `preference`)
  //   SRV                  the target (`srv` has the rest)
  //   SOA                  the mname (`soa` has every field)
  //   TXT                  the character-strings concatenated (RFC 7208 §3.3); each one is a
  //                        piece (Suricata logs one rdata per string)
  //   OPT                  empty; each option is a piece
  //   others               empty; rdata kept raw only
  std::string text;
  uint16_t preference = 0;  // MX
  SrvData srv;
  SoaData soa;
  std::vector<Piece> pieces;
};

// One parsed message. Parse into the same Message again and again: clear() keeps the capacity of
// its vectors and strings (strings over 1 KiB are released), so a worker reusing one Message does
// not allocate in the steady state.
class Message {
 public:
  Header header;
  uint32_t anomalies = 0;  // bit set of Anomaly
  bool header_ok = false;  // the 12 header bytes were there
  bool complete = false;   // every entry the counts announce was walked
  uint32_t skipped = 0;    // questions and records walked but not kept (Limits)
  std::span<const Question> questions() const { return {questions_.data(), n_questions_}; }
  std::span<const Record> answers() const { return section(0, answers_end_); }
  std::span<const Record> authorities() const { return section(answers_end_, authorities_end_); }
  std::span<const Record> additionals() const { return section(authorities_end_, n_records_); }
  // The message bytes (a copy: the Message does not refer to the caller's buffer).
  std::span<const uint8_t> wire() const { return {wire_.data(), wire_.size()}; }
  std::span<const uint8_t> rdata(const Record& r) const {
    return wire().subspan(r.rdata_offset, r.rdata_length);
  }
  std::string_view piece(const Piece& p) const {
    return {reinterpret_cast<const char*>(wire_.data()) + p.offset, p.length};
  }
  bool has(Anomaly a) const { return (anomalies & bit(a)) != 0; }
  bool malformed() const { return (anomalies & kMalformedMask) != 0; }
  // The OPT record of the additional section (RFC 6891 §6.1.1), or nullptr.
  const Record* opt() const;
  void clear();
  size_t memory_bytes() const;  // capacity held, for accounting

 private:
  friend uint32_t parse_message(std::span<const uint8_t>, Message&, const Limits&);
  std::span<const Record> section(size_t begin, size_t end) const {
    return {records_.data() + begin, end - begin};
  }
  Question& next_question();
  Record& next_record();

  std::vector<uint8_t> wire_;
  std::vector<Question> questions_;  // the first n_questions_ are this message's
  std::vector<Record> records_;      // answers, then authorities, then additionals
  size_t n_questions_ = 0, n_records_ = 0;
  size_t answers_end_ = 0, authorities_end_ = 0;
};

// Parses one whole message (a UDP payload or one TCP-framed message) into `out` (cleared first).
// Never throws and never fails: a malformed message is parsed as far as it can be and flagged.
// Returns out.anomalies. A message over 65535 bytes is parsed in its first 65535 (kTrailingData).
//
// After a name anomaly the entry is kept with name_ok false when its end is still known (the
// name's first pointer, or an rdata name, which rdlength bounds); when it is not (a bad label
// before any pointer in a question or owner name), parsing stops there and complete is false.
uint32_t parse_message(std::span<const uint8_t> data, Message& out, const Limits& limits = {});

enum class DnsCounter : uint16_t {
  kQueries,    // messages with QR clear
  kResponses,  // messages with QR set
  kMalformed,  // messages with any malformation
  // One per Anomaly, in its order.
  kAnomalyTruncatedHeader,
  kAnomalyBadName,
  kAnomalyPointerLoop,
  kAnomalyLabelTooLong,
  kAnomalyNameTooLong,
  kAnomalyCountMismatch,
  kAnomalyBadRdata,
  kAnomalyTooManyRecords,
  kAnomalyTrailingData,
  kAnomalyZFlagSet,
  kAnomalyInvalidOpcode,
  kTcpMessages,       // messages framed out of TCP streams
  kTcpFramingErrors,  // length prefixes under 12 or over the framer's maximum
  kTcpGaps,           // capture gaps in DNS over TCP streams
  kTcpResyncs,        // framing found again after a gap or framing error
  kTcpSkippedBytes,   // stream bytes dropped while the message boundary was unknown
  kCount
};
static_assert(static_cast<int>(DnsCounter::kAnomalyInvalidOpcode) -
                      static_cast<int>(DnsCounter::kAnomalyTruncatedHeader) + 1 ==
                  static_cast<int>(Anomaly::kCount),
              "one counter per anomaly");
constexpr DnsCounter anomaly_counter(Anomaly a) {
  return static_cast<DnsCounter>(static_cast<int>(DnsCounter::kAnomalyTruncatedHeader) +
                                 static_cast<int>(a));
}
const core::CounterGroup& dns_counter_group();  // module "dns"
// Counts a parsed message: query or response, malformed, each anomaly.
void count_message(const Message& m, core::Counters<DnsCounter>& counters);

// DNS over TCP, one direction: each message is preceded by its length in two bytes, big endian
// (RFC 1035 §4.2.2, RFC 7766 §8). Messages are handed over whole, however the stream is cut: from
// the caller's buffer when one lies whole inside it, else from an internal buffer that holds at
// most one message (max_message bytes).
//
// A length under 12 (no room for a header) or over max_message is a framing error. After one, and
// after a gap, where the next message starts is unknown: the direction stops (bytes are counted as
// skipped) until a feed() whose data starts with something probe_tcp() accepts, on the bet that
// senders start a message at a segment boundary (RFC 7766 §8 asks them to write length and
// message at once). A message cut by a gap is dropped, never handed over partial.
class TcpFramer {
 public:
  explicit TcpFramer(core::Counters<DnsCounter>& counters, uint32_t max_message = kMaxMessageSize);

  // on_message(std::span<const uint8_t> message) for each complete message, in order; the span
  // is valid during the call only. It must not call back into the framer.
  template <typename F>
  void feed(std::span<const uint8_t> data, F&& on_message) {
    using Fn = std::remove_reference_t<F>;
    feed_impl(
        data, [](void* ctx, std::span<const uint8_t> m) { (*static_cast<Fn*>(ctx))(m); },
        const_cast<void*>(static_cast<const void*>(&on_message)));
  }
  void on_gap();
  void reset();  // back to a message boundary, nothing buffered (a new connection)
  bool lost() const { return state_ == State::kLost; }
  size_t buffered() const { return body_.size() + prefix_len_; }  // bytes of a partial message
  size_t memory_bytes() const { return body_.capacity(); }

 private:
  using Sink = void (*)(void* ctx, std::span<const uint8_t> message);
  enum class State : uint8_t { kLength, kBody, kLost };
  void feed_impl(std::span<const uint8_t> data, Sink sink, void* ctx);
  void lose();

  core::Counters<DnsCounter>& counters_;
  uint32_t max_message_;
  State state_ = State::kLength;
  uint8_t prefix_[2] = {0, 0};
  uint8_t prefix_len_ = 0;
  uint32_t need_ = 0;          // length of the message being collected
  std::vector<uint8_t> body_;  // its bytes so far, when it spans feed() calls
};

// Protocol detection by content. kYes: a plausible DNS message start: a known opcode, 1..4
// questions, rcode 0 in a query, counts that fit the size, and a first question whose name parses
// without compression and whose class is IN, CH, HS, NONE or ANY. `response` (when given) is set
// from QR on kYes. A UDP payload is whole, so probe_udp never answers kNeedMore.
using applayer::Probe;
Probe probe_udp(std::span<const uint8_t> payload, bool* response = nullptr);
// The same after a consistent length prefix (12..65535 and large enough for the counts).
Probe probe_tcp(std::span<const uint8_t> stream_start, bool* response = nullptr);

// EVE text. rrtype_name() is Suricata's name for a type, "" when it prints the number instead
// (append_rrtype does either); its table is Suricata's, spelling included.
std::string_view rrtype_name(uint16_t type);
void append_rrtype(std::string& out, uint16_t type);
// Suricata's rcode text: NOERROR, FORMERR, SERVFAIL, NXDOMAIN, ...; "" for the unnamed values
// (append_rcode prints their number).
std::string_view rcode_name(uint16_t rcode);
void append_rcode(std::string& out, uint16_t rcode);
// A name or TXT string as Suricata's EVE shows it: valid UTF-8 as is, otherwise every byte over
// 0x7F as "\xNN" (lower-case hex). JSON escaping is left to the JSON writer.
void append_eve_text(std::string& out, std::string_view raw);
// RFC 5952 text of 16 address bytes ("2001:db8::1").
void append_ipv6(std::string& out, const uint8_t* addr);

}  // namespace spanguard::applayer::dns
