// The parsed form of a Snort/Suricata rule: header (action, protocol, addresses, ports, direction)
// and the options detection enforces. Nothing here depends on how rules are matched.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "spanguard/rules/address.h"
#include "spanguard/rules/registry.h"

namespace spanguard::rules {

enum class Action : uint8_t { kAlert, kPass, kDrop, kRejectSrc, kRejectDst, kRejectBoth };
const char* to_string(Action a);

// The transport a rule inspects, and the application protocol it is restricted to (app-layer
// protocol names in the header imply both).
enum class Transport : uint8_t { kAny, kTcp, kUdp, kIcmp };

// The data a content or pcre inspects: the reassembled stream or packet payload (kPayloadBuffer),
// or a buffer an application-layer parser fills, by its id in the rules::Registry.
using Buffer = BufferId;

// A transformation of a sticky buffer before its contents are matched (Suricata's
// "Transformations": `dns.query; dotprefix; content:".example.com"; endswith;`).
struct Transform {
  enum class Kind : uint8_t {
    kDotPrefix,           // "." + buffer
    kToLowercase,         // ASCII letters
    kToUppercase,         //
    kStripWhitespace,     // every whitespace byte removed
    kCompressWhitespace,  // each whitespace run becomes one space
    kUrlDecode,           // %XX and '+' decoded
    kToMd5,               // the digest's raw bytes
    kToSha1,
    kToSha256,
    kXor,              // xor:"hexkey": bytes XORed with the key, repeated
    kPcrexform,        // pcrexform:"regex": the first capture group of the regex's first match
                       //   (the buffer unchanged when it does not match)
    kHeaderLowercase,  // header names (before each line's ':') in lower case, values untouched
  };
  Kind kind = Kind::kDotPrefix;
  std::string key;  // kXor: the key bytes; kPcrexform: the regex as written
  bool operator==(const Transform&) const = default;
};
std::optional<Transform::Kind> transform_from_name(std::string_view name);

// A sticky buffer seen through transforms. The matches of a rule on it name it by
// Registry::buffer_count() + its index in Rule::transformed (the detection engine renumbers them
// across the rule set).
struct TransformedBuffer {
  Buffer base = kPayloadBuffer;
  std::vector<Transform> chain;
};

// byte_extract variables: a rule names at most this many; a field that takes one holds its index
// (kNoVariable: the field's number applies).
inline constexpr size_t kMaxRuleVariables = 8;
inline constexpr int8_t kNoVariable = -1;

struct Content {
  std::string bytes;  // escapes and |hex| resolved
  bool negated = false;
  bool nocase = false;
  bool fast_pattern = false;
  bool startswith = false;
  bool endswith = false;
  // A modifier given as a byte_extract variable has its field set (to 0) and its *_var index.
  std::optional<int32_t> offset, depth, distance, within;
  int8_t offset_var = kNoVariable, depth_var = kNoVariable, distance_var = kNoVariable,
         within_var = kNoVariable;
  Buffer buffer = kPayloadBuffer;
  bool relative() const { return distance.has_value() || within.has_value(); }
  // offset and depth are numbers known when the rule loads.
  bool fixed_anchor() const { return offset_var == kNoVariable && depth_var == kNoVariable; }
};

struct Pcre {
  std::string pattern;     // between the slashes, unescaped as written
  std::string pcre_flags;  // the PCRE modifiers among i, s, m, x
  bool negated = false;
  bool relative = false;  // R: starts after the previous match
  Buffer buffer = kPayloadBuffer;
};

// isdataat:[!]N[,relative][,rawbytes]: a byte exists at N (from the buffer's start, or from
// the previous match's end when relative).
struct DataAt {
  uint32_t n = 0;
  int8_t n_var = kNoVariable;  // N given as a byte_extract / byte_math variable
  bool negated = false;
  bool relative = false;
  Buffer buffer = kPayloadBuffer;
};

// base64_decode[:bytes N][,offset N][,relative]: decodes base64 (RFC 4648: up to the first
// character outside the alphabet or the padding) from the buffer, at OFFSET from its start or from
// the previous match's end, for at most BYTES bytes (0: to the buffer's end), into base64_data for
// the matches after it.
struct Base64Decode {
  uint32_t bytes = 0;
  uint32_t offset = 0;
  bool relative = false;
  Buffer buffer = kPayloadBuffer;
};

// How byte_test / byte_jump read their number: raw bytes (endianness) or ASCII digits.
enum class NumberBase : uint8_t { kBinary, kHex, kDec, kOct };

// byte_extract:N,OFFSET,NAME[,relative][,multiplier M][,big|little][,string[,hex|dec|oct]]
// [,align 2|4][,bitmask B]: reads a number into the rule variable NAME, which later keywords take
// in place of a number (content offset/depth/distance/within, byte_test value/offset, byte_jump
// offset), and moves the position relative matches count from past the bytes read (Suricata).
struct ByteExtract {
  uint8_t bytes = 1;
  int32_t offset = 0;
  bool relative = false;
  uint32_t multiplier = 1;
  bool little = false;
  NumberBase base = NumberBase::kBinary;
  uint8_t align = 0;  // round the value up to a multiple of 2 or 4
  uint64_t bitmask = 0;
  int8_t variable = 0;
  Buffer buffer = kPayloadBuffer;
};

// byte_test:N,[!]OP,VALUE,OFFSET[,relative][,big|little][,string,hex|dec|oct][,bitmask M].
struct ByteTest {
  enum class Op : uint8_t { kLess, kGreater, kEqual, kLessEqual, kGreaterEqual, kAnd, kXor };
  uint8_t bytes = 1;
  Op op = Op::kEqual;
  bool negated = false;
  uint64_t value = 0;
  int32_t offset = 0;
  int8_t value_var = kNoVariable, offset_var = kNoVariable;
  bool relative = false;
  bool little = false;
  NumberBase base = NumberBase::kBinary;
  uint64_t bitmask = 0;  // 0: none
  Buffer buffer = kPayloadBuffer;
};

// byte_jump:N,OFFSET[,relative][,multiplier M][,big|little][,string,hex|dec|oct][,align]
// [,from_beginning|from_end][,post_offset P][,bitmask M]: moves the position relative matches
// count from.
struct ByteJump {
  uint8_t bytes = 1;
  int32_t offset = 0;
  int8_t offset_var = kNoVariable;
  bool relative = false;
  uint32_t multiplier = 1;
  bool little = false;
  NumberBase base = NumberBase::kBinary;
  bool align = false;
  bool from_beginning = false;
  bool from_end = false;
  int32_t post_offset = 0;
  uint64_t bitmask = 0;
  Buffer buffer = kPayloadBuffer;
};

// byte_math:bytes N,offset O,oper OP,rvalue V,result NAME[,relative][,endian big|little]
// [,string hex|dec|oct][,bitmask M] (options in any order): reads a number, applies OP (+ - * /
// << >>, unsigned 64-bit) with V (a number or a variable), masks the result (shifted right by the
// mask's trailing zeros, as Suricata does after the operation) into the rule variable NAME, and
// moves the position relative matches count from past the bytes read. Dividing by 0 does not
// match.
struct ByteMath {
  enum class Op : uint8_t { kAdd, kSubtract, kMultiply, kDivide, kShiftLeft, kShiftRight };
  uint8_t bytes = 1;
  int32_t offset = 0;
  Op op = Op::kAdd;
  uint64_t rvalue = 0;
  int8_t rvalue_var = kNoVariable;
  bool relative = false;
  bool little = false;
  NumberBase base = NumberBase::kBinary;
  uint64_t bitmask = 0;  // 0: none; applied to the result
  int8_t variable = 0;
  Buffer buffer = kPayloadBuffer;
};

// asn1:[bitstring_overflow][,double_overflow][,oversize_length N][,absolute_offset N |
// relative_offset N] (Suricata): the BER objects at the offset show one of the anomalies asked
// about (any of them); the position is left where it was.
struct Asn1 {
  bool bitstring_overflow = false;  // BIT STRING whose unused-bits octet exceeds 8 x its length
  bool double_overflow = false;     // decimal-encoded REAL longer than 256 octets
  std::optional<uint32_t> oversize_length;  // an object longer than this (strictly)
  bool relative = false;  // `offset` counts from the end of the previous match, else the start
  int32_t offset = 0;     // absolute_offset 0..65535 or relative_offset -65535..65535
  Buffer buffer = kPayloadBuffer;
};

// A content, pcre or positional test, in rule order (relative ones refer to the one before in
// the same buffer).
struct Match {
  enum class Kind : uint8_t {
    kContent,
    kPcre,
    kDataAt,
    kByteTest,
    kByteJump,
    kBase64Decode,
    kByteExtract,
    kByteMath,
    kAsn1
  } kind;
  size_t index;  // into Rule::contents, pcres, data_at, byte_tests or byte_jumps (0 for
                 // base64_decode: a rule has at most one)
};

struct FlowCondition {
  bool established = false;
  bool not_established = false;
  bool stateless = false;
  bool to_server = false;  // also from_client
  bool to_client = false;  // also from_server
  bool only_stream = false;
  bool no_stream = false;
};

// flags:[modifier]FLAGS[,IGNORED] (RFC 9293 bits plus CWR/ECE as 1 and 2, or C and E).
struct FlagsCondition {
  enum class Mode : uint8_t { kExact, kAll, kAny, kNone };  // (none) + * !
  Mode mode = Mode::kExact;
  uint8_t flags = 0;
  uint8_t ignored = 0;
  bool matches(uint8_t packet_flags) const;
};

// An unsigned comparison as Suricata's integer keywords write it: N, !N, <N, <=N, >N, >=N, N<>M
// (exclusive range). dsize (payload size), bsize (buffer size), urilen.
struct SizeCondition {
  enum class Op : uint8_t {
    kEqual,
    kNotEqual,
    kLess,
    kLessEqual,
    kGreater,
    kGreaterEqual,
    kRange
  } op = Op::kEqual;
  uint32_t a = 0, b = 0;
  bool matches(uint32_t size) const;
};

// flowbits:CMD,NAMES — per-flow named bits shared by the rules of a rule set. NAMES joined by '|'
// (any of them, for isset/isnotset) or by '&' (all of them).
struct FlowbitOp {
  enum class Cmd : uint8_t { kSet, kUnset, kToggle, kIsSet, kIsNotSet };
  Cmd cmd = Cmd::kSet;
  std::vector<std::string> names;
  bool any = false;  // '|'
  bool is_condition() const { return cmd == Cmd::kIsSet || cmd == Cmd::kIsNotSet; }
};

// xbits:CMD,NAME,track ip_src|ip_dst|ip_pair[,expire SECONDS]: a bit kept per host (the packet's
// source or destination address) or host pair, across flows, until it expires (Suricata's
// default: 30 s after it was set).
struct XbitOp {
  enum class Track : uint8_t { kIpSrc, kIpDst, kIpPair };
  FlowbitOp::Cmd cmd = FlowbitOp::Cmd::kSet;
  std::string name;
  Track track = Track::kIpSrc;
  uint32_t expire = 30;
};

// threshold / detection_filter: how often a matching rule alerts, counted per tracked address
// over a window of `seconds`, as Suricata's thresholding does.
struct AlertRate {
  enum class Kind : uint8_t {
    kLimit,            // at most `count` alerts per window
    kThreshold,        // an alert at every `count`th match
    kBoth,             // one alert per window, once `count` matches are reached
    kDetectionFilter,  // alerts only after `count` matches, then on each
  };
  enum class Track : uint8_t { kBySrc, kByDst, kByRule, kByBoth };
  Kind kind = Kind::kLimit;
  Track track = Track::kBySrc;
  uint32_t count = 1;
  uint32_t seconds = 60;
};

// threshold.config rate_filter: once the rule matched more than `count` times within `seconds`
// for the tracked address(es), its matches take `new_action` for `timeout` seconds (Suricata:
// alerts are still raised; with pass, the match raises none).
struct RateFilter {
  AlertRate::Track track = AlertRate::Track::kBySrc;
  uint32_t count = 1;
  uint32_t seconds = 60;
  Action new_action = Action::kAlert;
  uint32_t timeout = 60;
};

// flowint:NAME,OP,VALUE / flowint:NAME,isset|notset: an integer per flow. `+`, `-` and `=` change
// it (an unset one counts as 0), `==`, `!=`, `<`, `<=`, `>`, `>=` compare it (an unset one never
// compares true); VALUE is a number or another flowint. Run in rule order once the rest of the
// rule matched: a change stays even when a later comparison of the same rule fails (Suricata's
// counting idiom `flowint:n,+,1; flowint:n,>,5;`).
struct FlowintOp {
  enum class Op : uint8_t { kAdd, kSub, kSet, kEq, kNe, kLt, kLe, kGt, kGe, kIsSet, kNotSet };
  std::string name;
  Op op = Op::kIsSet;
  uint32_t value = 0;
  std::string value_name;  // VALUE given as another flowint
  bool modifies() const { return op == Op::kAdd || op == Op::kSub || op == Op::kSet; }
};

// A threshold.config suppress line applied to a rule: no alert when the packet's source
// (kSrc), destination (kDst) or either (kEither) address is in `addresses`; kAll: never (the rule
// still acts: flowbits, xbits).
struct Suppression {
  enum class Track : uint8_t { kAll, kSrc, kDst, kEither };
  Track track = Track::kAll;
  AddressSet addresses;
};

// ttl, tos, id, ip_proto, window, seq, ack, icmp_id, icmp_seq: a packet header field compared
// with Suricata's integer forms.
struct HeaderTest {
  enum class Field : uint8_t {
    kTtl,
    kTos,
    kIpId,
    kIpProto,
    kWindow,
    kSeq,
    kAck,
    kIcmpId,
    kIcmpSeq
  };
  Field field = Field::kTtl;
  SizeCondition value;
};

// stream_size:server|client|both|either,OP,N — bytes of sequence space an endpoint has sent
// (next_seq - isn, its SYN included, as Suricata counts).
struct StreamSize {
  enum class Side : uint8_t { kServer, kClient, kBoth, kEither };
  Side side = Side::kServer;
  SizeCondition size;
};

// bsize / urilen: the size of one buffer.
struct BufferSize {
  Buffer buffer = kPayloadBuffer;
  SizeCondition size;
};

// app-layer-protocol:[!]NAME — the protocol the application layer identified for the flow.
struct AppLayerCondition {
  AppProto proto = AppProto::kNone;
  bool negated = false;
};

// A number an application-layer parser states about the inspected message (rules::AppFact),
// compared the way the keyword defines: tls.version, dns.opcode, tls_cert_notafter (`value`);
// ssl_version (`any_of`, each a version); ssl_state (`bits`, any of them); each may be negated.
struct AppFactTest {
  AppFact fact = AppFact::kTlsVersion;
  SizeCondition value;
  std::vector<uint32_t> any_of;  // equality with any of these, when not empty
  uint32_t bits = 0;             // any of these bits set, when not 0
  bool negated = false;          // any_of / bits: none of them
  bool holds(uint32_t v) const;
};

struct Reference {
  std::string type;   // the reference system, lowercased ("url", "cve", ...)
  std::string value;  // as written
  std::string url;    // reference.config's prefix + value, once resolved (else empty)
};

// target:src_ip|dest_ip — which end of the alert is the target (EVE alert.source/target).
enum class Target : uint8_t { kNone, kSrcIp, kDestIp };

struct Rule {
  // Header
  Action action = Action::kAlert;
  Transport transport = Transport::kAny;
  AppProto app_proto = AppProto::kNone;
  AddressSet src, dst;
  PortSet src_ports, dst_ports;
  bool bidirectional = false;  // <>

  // Identity and classification
  uint32_t gid = 1;
  uint32_t sid = 0;
  uint32_t rev = 1;
  std::string msg;
  std::string classtype;
  std::string category;   // classtype's description
  uint32_t priority = 3;  // explicit priority, else the classtype's, else 3
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<Reference> references;
  Target target = Target::kNone;

  // What must hold
  std::vector<Content> contents;
  std::vector<Pcre> pcres;
  std::vector<DataAt> data_at;
  std::vector<ByteTest> byte_tests;
  std::vector<ByteJump> byte_jumps;
  std::optional<Base64Decode> base64;
  std::vector<ByteExtract> byte_extracts;
  std::vector<ByteMath> byte_maths;
  std::vector<Asn1> asn1s;
  std::vector<std::string> variables;  // byte_extract and byte_math results, by index
  std::vector<Match> matches;          // all of the above in rule order
  Buffer buffer_of(const Match& m) const {
    switch (m.kind) {
      case Match::Kind::kContent:
        return contents[m.index].buffer;
      case Match::Kind::kPcre:
        return pcres[m.index].buffer;
      case Match::Kind::kDataAt:
        return data_at[m.index].buffer;
      case Match::Kind::kByteTest:
        return byte_tests[m.index].buffer;
      case Match::Kind::kByteJump:
        return byte_jumps[m.index].buffer;
      case Match::Kind::kBase64Decode:
        return base64->buffer;
      case Match::Kind::kByteExtract:
        return byte_extracts[m.index].buffer;
      case Match::Kind::kByteMath:
        return byte_maths[m.index].buffer;
      case Match::Kind::kAsn1:
        return asn1s[m.index].buffer;
    }
    return kPayloadBuffer;
  }
  std::optional<FlowCondition> flow;
  std::optional<FlagsCondition> flags;
  std::optional<SizeCondition> dsize;
  std::optional<SizeCondition> itype, icode;  // ICMP type and code (ICMPv4 and ICMPv6)
  std::optional<StreamSize> stream_size;
  std::vector<HeaderTest> header_tests;
  bool sameip = false;  // source and destination address are the same
  // ftp-data rules: the command its control session issued for the connection
  std::optional<core::FtpDataCommand> ftpdata_command;
  std::vector<BufferSize> buffer_sizes;
  std::vector<TransformedBuffer> transformed;
  std::optional<AppLayerCondition> app_layer;
  std::vector<AppFactTest> app_tests;
  std::vector<FlowbitOp> flowbits;
  std::vector<XbitOp> xbits;
  std::vector<FlowintOp> flowints;
  bool noalert = false;  // noalert / flowbits:noalert: matches act (flowbits) but raise no alert
  std::optional<AlertRate> rate;          // threshold or detection_filter
  std::optional<RateFilter> rate_filter;  // from threshold.config
  std::vector<Suppression> suppressions;  // from threshold.config

  // Where it came from
  std::string file;
  int line = 0;
  std::string text;  // the rule as written (continuations joined)
};

}  // namespace spanguard::rules
