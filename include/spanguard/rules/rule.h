// The parsed form of a Snort/Suricata rule: header (action, protocol, addresses, ports, direction)
// and the options detection enforces. Nothing here depends on how rules are matched.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
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

struct Content {
  std::string bytes;  // escapes and |hex| resolved
  bool negated = false;
  bool nocase = false;
  bool fast_pattern = false;
  bool startswith = false;
  bool endswith = false;
  std::optional<int32_t> offset, depth, distance, within;
  Buffer buffer = kPayloadBuffer;
  bool relative() const { return distance.has_value() || within.has_value(); }
};

struct Pcre {
  std::string pattern;     // between the slashes, unescaped as written
  std::string pcre_flags;  // the PCRE modifiers among i, s, m, x
  bool negated = false;
  bool relative = false;  // R: starts after the previous match
  Buffer buffer = kPayloadBuffer;
};

// A content or pcre, in rule order (relative modifiers refer to the one before).
struct Match {
  enum class Kind : uint8_t { kContent, kPcre } kind;
  size_t index;  // into Rule::contents or Rule::pcres
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

struct Reference {
  std::string type;
  std::string value;
};

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

  // What must hold
  std::vector<Content> contents;
  std::vector<Pcre> pcres;
  std::vector<Match> matches;  // contents and pcres in rule order
  std::optional<FlowCondition> flow;
  std::optional<FlagsCondition> flags;
  std::optional<SizeCondition> dsize;
  std::vector<BufferSize> buffer_sizes;
  std::optional<AppLayerCondition> app_layer;
  std::vector<FlowbitOp> flowbits;
  bool noalert = false;  // noalert / flowbits:noalert: matches act (flowbits) but raise no alert

  // Where it came from
  std::string file;
  int line = 0;
  std::string text;  // the rule as written (continuations joined)
};

}  // namespace spanguard::rules
