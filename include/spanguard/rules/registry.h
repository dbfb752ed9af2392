// The names rules may use that the application layer defines: sticky buffers (with their legacy
// content modifiers and pcre flags) and which application protocols have a parser. `rules` owns the
// type; `applayer` fills it at start-up (applayer::rule_registry()); the rule parser and the
// detection engine only ever look names up here, so adding a protocol adds no case to either.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spanguard/core/app_proto.h"

namespace spanguard::rules {

using core::AppProto;

// Dense buffer ids; 0 is the packet payload or reassembled stream (no sticky buffer).
using BufferId = uint16_t;
inline constexpr BufferId kPayloadBuffer = 0;
// base64_data: what a rule's base64_decode decoded (filled during verification, any protocol).
inline constexpr BufferId kBase64Buffer = 1;

// Which message of a transaction fills a buffer: the request (to_server), the response
// (to_client), or whichever one the inspection is for (http.header, http.cookie, ...).
enum class BufferSide : uint8_t { kEither, kRequest, kResponse };

struct BufferDef {
  std::string name;    // sticky keyword, e.g. "http.uri"
  std::string alias;   // an older sticky spelling ("file_data", "http_accept"), or empty
  std::string legacy;  // content modifier that moves the previous content here ("http_uri")
  char pcre_flag = 0;  // pcre modifier selecting it ('U'), or 0
  AppProto proto = AppProto::kNone;
  BufferSide side = BufferSide::kEither;
  bool body = false;    // complete only when the message body is (request/response bodies)
  bool filled = false;  // a parser fills it; rules using an unfilled buffer load and wait
};

// Numbers a parser states about the message inspected, compared by keywords (tls.version,
// dns.opcode, ...) rather than matched as bytes: ids into an inspection's facts.
enum class AppFact : uint8_t {
  kTlsVersion,      // the record-layer version the inspected side speaks (0x0303 = TLS 1.2)
  kTlsCertExpired,  // 1: the server certificate's notAfter is before the packet time
  kTlsCertValid,    // 1: the packet time lies within the server certificate's validity
  kTlsNotBefore,    // the server certificate's validity, unix seconds
  kTlsNotAfter,
  kTlsState,   // handshake messages seen so far: the kTlsState* bits (ssl_state)
  kDnsOpcode,  // the header's opcode
  kDnsRrtype,  // the first question's type
  kFtpBounce,  // 1: a PORT/EPRT names an address other than the client's (FTP bounce)
  // app-layer-event: the protocol events (anomalies) of the inspected message, one bit each as
  // the parser registers them (Registry::add_event).
  kHttpRequestEvents,
  kHttpResponseEvents,
  kDnsEvents,
  kCount
};

// The application protocol whose parser states a fact.
AppProto protocol_of(AppFact fact);

// ssl_state's bits (Suricata's names: client_hello, server_hello, client_keyx, server_keyx,
// unknown).
inline constexpr uint32_t kTlsStateClientHello = 1;
inline constexpr uint32_t kTlsStateServerHello = 2;
inline constexpr uint32_t kTlsStateClientKeyx = 4;
inline constexpr uint32_t kTlsStateServerKeyx = 8;
inline constexpr uint32_t kTlsStateUnknown = 16;

class Registry {
 public:
  Registry();  // knows the payload and base64_data buffers only
  // A registry with those two only (rules without application-layer buffers).
  static const Registry& payload_only();

  // Adds a buffer; names, aliases, legacy modifiers and pcre flags must be unique (throws
  // std::invalid_argument naming the clash).
  BufferId add_buffer(BufferDef def);
  // Marks `proto` as having a parser: rules restricted to it can fire.
  void add_parser(AppProto proto);
  // An app-layer-event name ("http.invalid_transfer_encoding_value_in_request") a parser raises:
  // the fact holding it and its bits there (any of them raises the event).
  struct Event {
    std::string name;
    AppFact fact;
    uint32_t bits;
  };
  void add_event(Event e);
  const Event* find_event(std::string_view name) const;
  std::span<const Event> events() const { return events_; }

  size_t buffer_count() const { return buffers_.size(); }
  const BufferDef& buffer(BufferId id) const { return buffers_[id]; }
  // Lookups return kNoBuffer when the name is not known.
  static constexpr BufferId kNoBuffer = UINT16_MAX;
  BufferId find_sticky(std::string_view keyword) const;
  BufferId find_legacy(std::string_view modifier) const;
  BufferId find_pcre_flag(char flag) const;
  bool has_parser(AppProto proto) const;

 private:
  std::vector<BufferDef> buffers_;
  std::vector<AppProto> parsers_;
  std::vector<Event> events_;
};

}  // namespace spanguard::rules
