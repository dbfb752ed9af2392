// HTTP/1.0 and 1.1 for both directions of one TCP flow: request and status lines, headers and
// bodies (Content-Length, chunked, close-delimited; gzip/deflate decoded) paired into
// transactions, and the Suricata sticky buffers (http.uri, http.header, file.data, ...) built from
// them the way Suricata with its default libhtp configuration builds them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spanguard/applayer/http_decompress.h"
#include "spanguard/core/counters.h"

namespace spanguard::applayer::http {

enum class Side : uint8_t { kRequest, kResponse };

// Suricata-like defaults. Unlike Suricata's "0 = unlimited", a body limit of 0 keeps no body:
// every limit here bounds memory. max_transactions is at least 4 in effect (the transactions a
// request, a response and a pending CONNECT may be working on at once, plus the new one).
struct Limits {
  uint32_t request_body_limit = 100 * 1024;  // body bytes kept for inspection per message
  uint32_t response_body_limit = 100 * 1024;
  uint32_t header_limit = 18 * 1024;  // bytes of request/status line + headers of one message
  uint32_t max_transactions = 512;    // transactions held per flow (unanswered requests)
  // A body's decoding gives up when its output is over decompress_limit *and* over
  // decompress_ratio times its compressed size so far (libhtp's compression-bomb test); it always
  // stops at the body limit.
  uint32_t decompress_limit = 1 << 20;  // decompressed bytes per body (compression bomb cap)
  uint32_t decompress_ratio = 2048;     // max decompressed/compressed ratio before giving up
};

// kBodyLimit: the body kept for inspection reached its limit (or decoding stopped) before the
// message ended: what detection sees of the body is final from here; kComplete still follows.
// (Message::body_bytes then counts what has arrived so far.)
enum class Event : uint8_t { kHeaders, kBodyLimit, kComplete };

// Protocol anomalies, one bit each in Transaction::anomalies and one counter each
// ("http.anomaly.<name>"). Anomalies seen before any transaction exists are only counted.
enum class Anomaly : uint8_t {
  kInvalidRequestLine,        // not "method SP target [SP protocol]": skipped to the next request
  kInvalidResponseLine,       // no "HTTP/" status line: the response is read as a body until close
  kInvalidProtocol,           // protocol other than HTTP/1.0 and HTTP/1.1
  kInvalidStatusCode,         // status code not three digits 100..999
  kInvalidHeader,             // a header line without a colon, or a name that is not a token
  kFoldedHeader,              // obs-fold continuation line (RFC 7230 §3.2.4)
  kHeaderLimit,               // line + headers over Limits::header_limit (or 1024 fields)
  kInvalidContentLength,      // not a decimal number
  kConflictingContentLength,  // repeated Content-Length with different values
  kContentLengthWithChunked,  // both framings: chunked wins (RFC 7230 §3.3.3), a smuggling sign
  kUnknownTransferEncoding,   // Transfer-Encoding other than one "chunked" ("gzip", "chunked,
                              // chunked")
  kInvalidChunkSize,          // chunk size line not hex: the message ends there
  kInvalidChunkEnd,           // chunk data not followed by an empty line
  kUnknownContentEncoding,    // a coding other than gzip/deflate/identity: the body is kept raw
  kDecompressionFailed,       // invalid compressed data: the rest was kept as it came
  kCompressionBomb,           // over both decompress_limit and decompress_ratio: decoding stopped
  kTooManyTransactions,       // max_transactions reached: the oldest unanswered one was dropped
  kResponseWithoutRequest,    // response-only transaction (request missed or never sent)
  kGap,                       // bytes lost to the capture ended this message early
  kTruncated,                 // the flow ended inside this message
  kInvalidUriEncoding,        // bad %-encoding in the request target
  kUriNul,                    // raw or %-encoded NUL in the path
  kHostMissing,               // HTTP/1.1 request without Host (RFC 7230 §5.4)
  kHostMismatch,              // absolute-form target host differs from the Host header
  kDataAfterHttp09,           // bytes after an HTTP/0.9 simple request (not parsed)
  kConnectDataDropped,        // client bytes sent before the CONNECT answer, over header_limit
  kCount
};
constexpr uint32_t bit(Anomaly a) { return uint32_t{1} << static_cast<unsigned>(a); }
std::string_view anomaly_name(Anomaly a);  // "invalid_request_line", ...

struct Header {  // name as sent; value trimmed, folded lines joined by one space
  std::string name, value;
};

struct Message {
  std::string line;  // request or status line without CRLF
  std::string method, uri_raw, protocol, status_code, status_msg;  // whichever apply
  std::vector<Header> headers;  // every field line (trailers after the header block), in order
  std::string headers_raw;      // the header block as received, after the first line, up to and
                                // including the empty line; trailer lines are appended (Suricata
                                // http.header.raw includes trailers)
  std::string body;             // dechunked and (responses, and requests with Content-Encoding)
                                // decompressed, up to the body limit
  uint64_t body_bytes = 0;      // body bytes on the wire after dechunking, before decompression and
                                // the limit (libhtp's message length, EVE "length")
  bool body_truncated = false;  // the body had more than the limit kept
  bool headers_done = false, complete = false;
  bool truncated = false;       // ended by a gap or the flow end before its framing said so
  bool stage_released = false;  // release_request_stage() ran: no more request-stage buffers

  // Derived when the headers (and again when trailers) are done; views of fill_buffers().
  std::vector<Header> merged;  // only names that repeat: values joined with ", " (RFC 7230 §3.2.2)
  std::string start_buf;       // http.start
  std::string header_buf;      // http.header, when a Cookie/Set-Cookie field makes it differ
  bool header_in_start = true;   //   from the middle of start_buf (then header_buf is empty)
  std::string header_names_buf;  // http.header_names

  const Header* find(std::string_view name) const;  // case-insensitive, first
  // The field as a receiver combines it: repeated fields joined with ", " (Content-Length: the
  // first); nullptr when absent.
  const Header* field(std::string_view name) const;
};

// A message held by pointer, copied by value (test snapshots and the like copy transactions).
class HeldMessage {
 public:
  HeldMessage() = default;
  HeldMessage(const HeldMessage& o) : message_(o ? std::make_unique<Message>(*o) : nullptr) {}
  HeldMessage& operator=(const HeldMessage& o) {
    if (this != &o) message_ = o ? std::make_unique<Message>(*o) : nullptr;
    return *this;
  }
  HeldMessage(HeldMessage&&) noexcept = default;
  HeldMessage& operator=(HeldMessage&&) noexcept = default;
  explicit operator bool() const { return message_ != nullptr; }
  const Message& operator*() const { return *message_; }
  Message& make() {
    if (message_ == nullptr) message_ = std::make_unique<Message>();
    return *message_;
  }

 private:
  std::unique_ptr<Message> message_;
};

struct Transaction {
  uint64_t id = 0;  // 0,1,2.. per flow in creation order (request order)
  Message request;
  // The response, made when its first byte comes: a request awaiting its answer (most of a busy
  // server's open transactions) does not carry an empty 424-byte message.
  const Message& response() const { return response_ ? *response_ : kNoMessage; }
  Message& writable_response() { return response_.make(); }
  bool has_request = false, has_response = false;  // response-only tx when the request was missed
  bool http09 = false;     // simple request: no headers; the response is raw bytes until close
  uint32_t anomalies = 0;  // bit set of Anomaly
  uint32_t request_anomalies = 0;  // of those, flagged while reading the request
  std::string uri;                 // normalised http.uri, computed from the request line
  std::string host;                // normalised host (lower case, no port, no trailing dot)
  bool host_from_uri = false;      // host came from an absolute-form target (else from Host)

 private:
  static const Message kNoMessage;
  HeldMessage response_;
};

// Views for the detection engine: each member is one Suricata sticky buffer; `present` has the bit
// of each buffer that exists for the transaction at this stage (a present buffer may be empty).
// file.data is request_body or response_body, by direction.
enum class BufferField : uint8_t {
  kUri,
  kUriRaw,
  kMethod,
  kProtocol,
  kRequestLine,
  kStart,
  kHost,
  kHostRaw,
  kUserAgent,
  kHeader,
  kHeaderRaw,
  kHeaderNames,
  kCookie,
  kReferer,
  kContentType,
  kContentLen,
  kAccept,
  kAcceptEnc,
  kAcceptLang,
  kConnection,
  kRequestBody,
  kResponseLine,
  kStatCode,
  kStatMsg,
  kLocation,
  kServer,
  kResponseBody,
  kCount
};
std::string_view buffer_name(BufferField f);  // the rule keyword: "http.uri", "http.host.raw", ...

struct Buffers {
  std::string_view uri, uri_raw, method, protocol, request_line, start, host, host_raw, user_agent,
      header, header_raw, header_names, cookie, referer, content_type, content_len, accept,
      accept_enc, accept_lang, connection, request_body, response_line, stat_code, stat_msg,
      location, server, response_body;
  uint64_t present = 0;  // bit (1 << BufferField)

  bool has(BufferField f) const { return (present >> static_cast<unsigned>(f)) & 1; }
  std::string_view get(BufferField f) const;
};
// The field a Buffers member pointer names (kCount for a pointer that is not one of them), and
// whether that buffer is present: lets tables map rule buffers to members.
BufferField field_of(std::string_view Buffers::*member);
bool present(const Buffers& b, std::string_view Buffers::*member);

// Fills `out` for a rule inspection at `stage`: request-only buffers (uri, method, request_line,
// host, user_agent, referer, accept*, connection, request_body) from the request, response-only
// ones (stat_code, stat_msg, response_line, location, server, response_body) from the response,
// and those Suricata defines for both directions (header, header_raw, header_names, start, cookie
// (Cookie / Set-Cookie), content_type, content_len, protocol) from `stage`'s message. The views
// stay valid until the transaction changes or is released.
void fill_buffers(const Transaction& tx, Side stage, Buffers& out);

// After the request's last inspection, while its answer is awaited: drops what only inspections
// at the request stage read (http.start, http.header, http.header.raw, http.header_names and the
// fields behind http.cookie, http.content_type, http.content_len), keeping the request buffers
// that response-stage inspections and the EVE http record still read. A browser's request waiting
// for its answer shrinks by about half.
void release_request_stage(Message& request);

// Called from parse()/on_gap()/on_end(). The transaction is released (when both of its messages
// are complete) right after the callback returns: copy what must outlive it. Must not call back
// into the Parser.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void on_http(Transaction& tx, Side side, Event event) = 0;
};

enum class Probe : uint8_t { kNo, kYes, kNeedMore };
Probe probe_request(std::span<const uint8_t> first_bytes);   // a method + SP/HT (also "GET /")
Probe probe_response(std::span<const uint8_t> first_bytes);  // "HTTP/" + digit

enum class HttpCounter : uint16_t {
  kRequests,
  kRequestsHttp09,
  kResponses,
  kInterimResponses,
  kTransactions,
  kTunnels,
  kGaps,
  kBodyBytes,          // body bytes kept for inspection
  kDecompressedBytes,  // bytes produced by Content-Encoding decoding
  // One per Anomaly, in its order.
  kAnomalyInvalidRequestLine,
  kAnomalyInvalidResponseLine,
  kAnomalyInvalidProtocol,
  kAnomalyInvalidStatusCode,
  kAnomalyInvalidHeader,
  kAnomalyFoldedHeader,
  kAnomalyHeaderLimit,
  kAnomalyInvalidContentLength,
  kAnomalyConflictingContentLength,
  kAnomalyContentLengthWithChunked,
  kAnomalyUnknownTransferEncoding,
  kAnomalyInvalidChunkSize,
  kAnomalyInvalidChunkEnd,
  kAnomalyUnknownContentEncoding,
  kAnomalyDecompressionFailed,
  kAnomalyCompressionBomb,
  kAnomalyTooManyTransactions,
  kAnomalyResponseWithoutRequest,
  kAnomalyGap,
  kAnomalyTruncated,
  kAnomalyInvalidUriEncoding,
  kAnomalyUriNul,
  kAnomalyHostMissing,
  kAnomalyHostMismatch,
  kAnomalyDataAfterHttp09,
  kAnomalyConnectDataDropped,
  kCount
};
static_assert(static_cast<int>(HttpCounter::kAnomalyConnectDataDropped) -
                      static_cast<int>(HttpCounter::kAnomalyInvalidRequestLine) + 1 ==
                  static_cast<int>(Anomaly::kCount),
              "one counter per anomaly");
constexpr HttpCounter anomaly_counter(Anomaly a) {
  return static_cast<HttpCounter>(static_cast<int>(HttpCounter::kAnomalyInvalidRequestLine) +
                                  static_cast<int>(a));
}
const core::CounterGroup& http_counter_group();  // module "http"

class Parser {  // one per flow; both directions
 public:
  Parser(const Limits& limits, Observer& observer, core::Counters<HttpCounter>& counters);
  ~Parser();
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Incremental: any split of the bytes of a direction gives the same result. Responses pair with
  // the requests already parsed, so the to-server bytes a response answers should be given first.
  void parse(Side side, std::span<const uint8_t> data);
  // Bytes lost in that direction: the current message ends as truncated, parsing resumes at the
  // next plausible request/status line.
  void on_gap(Side side);
  // Flow end: a body delimited by the close ends here, other open messages end truncated; every
  // transaction is released.
  void on_end();
  bool tunnel() const { return tunnel_; }
  // Nothing is held between messages: no transaction, no partial line, both directions waiting
  // for a start line. An idle parser can be dropped and rebuilt later (with set_next_tx_id) to the
  // same effect: an idle keep-alive connection then costs no parser memory.
  bool idle() const;
  // As idle(), except for requests that are complete and wait for their answers: those
  // transactions can be parked outside the parser (park()) and the parser dropped, then given to
  // the parser rebuilt when the next bytes come (unpark(), after set_next_tx_id()). A request
  // waiting for its answer then costs its transaction only.
  bool parkable() const;
  std::list<Transaction> park();            // precondition: parkable(); leaves the parser idle
  void unpark(std::list<Transaction> txs);  // on a parser that has parsed nothing yet
  uint64_t next_tx_id() const { return next_id_; }
  void set_next_tx_id(uint64_t id) { next_id_ = id; }  // CONNECT accepted (or 101): parsing stopped
  size_t memory_bytes() const;
  size_t transactions_held() const { return txs_.size(); }

 private:
  enum class State : uint8_t {
    kStart,         // blank lines, then a request or status line
    kHeaders,       // header lines up to the empty line
    kBodyLength,    // Content-Length body
    kChunkSize,     // chunk-size [; extensions]
    kChunkData,     // chunk bytes
    kChunkDataEnd,  // the CRLF after chunk bytes
    kTrailers,      // trailer lines after the last chunk
    kBodyClose,     // body delimited by the connection close
    kConnectWait,   // request side: bytes after CONNECT held until its answer is known
    kResync,        // skipping to a line that starts like a request / status line
    kIgnore,        // request side after an HTTP/0.9 request: nothing more is parsed
  };
  struct Stream {  // one direction
    State state = State::kStart;
    bool over_limit = false;     // header_limit reached: further header lines are dropped
    bool probed = false;         // kResync: the line's start was no request / status line
    bool trailers_seen = false;  // kTrailers: a trailer field came (its block goes to headers_raw)
    bool body_done = false;      // the body limit is reached: further body bytes are only counted
    bool held_lost = false;      // kConnectWait: bytes were dropped (resume with a resync)
    bool ignored_data = false;   // kIgnore: data after HTTP/0.9 was reported
    uint8_t line_last = 0;       // last byte dropped from an overlong line
    uint32_t line_dropped = 0;   // bytes of the current line not kept in `line`
    uint32_t header_bytes = 0;   // start line + header bytes of the current message
    uint64_t remaining = 0;      // bytes left of the Content-Length body or of the chunk
    uint64_t decoded_reported = 0;  // decoder output already counted
    std::string line;           // the current line, not yet terminated (kResync: its last bytes)
    std::string held;           // kConnectWait: request bytes after CONNECT
    bool interim = false;       // `detached` is a 1xx interim response, skipped
    Transaction* tx = nullptr;  // the message being parsed is tx->request / tx->response
    // Response side: a transaction outside txs_ for a 1xx interim response, or for the answer to
    // a request dropped by max_transactions (which must not push out another one).
    std::unique_ptr<Transaction> detached;
    std::unique_ptr<BodyDecoder> decoder;  // Content-Encoding of the current body
  };
  enum class Framing : uint8_t { kNone, kLength, kChunked, kClose, kTunnel };

  Stream& stream(Side side) { return side == Side::kRequest ? req_ : res_; }
  static Message& message(Side side, Transaction& tx) {
    return side == Side::kRequest ? tx.request : tx.writable_response();
  }
  void feed(Side side, const uint8_t* p, const uint8_t* end);
  bool take_line(Stream& s, const uint8_t*& p, const uint8_t* end, size_t cap);
  void reset_line(Stream& s);
  void start_line(Side side, Stream& s, const uint8_t*& p, const uint8_t* end);
  void request_line(Stream& s, std::string_view line, bool over);
  void status_line(Stream& s, std::string_view raw, std::string_view line, bool over);
  void header_line(Side side, Stream& s, const uint8_t*& p, const uint8_t* end);
  void add_field(Transaction& tx, Message& m, std::string_view line);
  void finish_headers(Side side, Stream& s);
  void prepare_headers(Side side, Transaction& tx);
  Framing framing(Side side, Transaction& tx, uint64_t& length);
  void start_body(Side side, Stream& s, Framing f, uint64_t length);
  void body_bytes(Side side, Stream& s, const uint8_t*& p, const uint8_t* end);
  void chunk_size(Side side, Stream& s, const uint8_t*& p, const uint8_t* end);
  void chunk_data_end(Side side, Stream& s, const uint8_t*& p, const uint8_t* end);
  void deliver_body(Side side, Stream& s, const uint8_t* data, size_t n);
  void decoded(Side side, Stream& s, BodyDecoder::Result result);
  void flush_body(Side side, Stream& s);
  size_t body_limit(Side side) const {
    return side == Side::kRequest ? limits_.request_body_limit : limits_.response_body_limit;
  }
  void complete_message(Side side, Stream& s, State next);
  void finish_truncated(Side side, Stream& s, Anomaly why, State next);
  void hold(Stream& s, const uint8_t*& p, const uint8_t* end);
  void resume_requests();
  void resync(Side side, Stream& s, const uint8_t*& p, const uint8_t* end);
  void resync_within(Side side, Stream& s);
  void ignore(Stream& s, const uint8_t*& p, const uint8_t* end);
  Transaction& new_transaction();
  Transaction& pair_response(Stream& s);
  void maybe_release(Transaction& tx);
  void flag(Transaction* tx, Anomaly a);
  Side reading_ = Side::kRequest;  // the side feed() is reading (flag() files anomalies by it)
  void notify(Transaction& tx, Side side, Event event) { observer_.on_http(tx, side, event); }

  Limits limits_;
  Observer& observer_;
  core::Counters<HttpCounter>& counters_;
  std::list<Transaction> txs_;  // creation order; nodes stay put while others come and go
  uint64_t next_id_ = 0;
  uint32_t orphaned_ = 0;  // requests dropped by kTooManyTransactions before being answered
  Transaction* connect_tx_ = nullptr;  // CONNECT waiting for its answer
  bool tunnel_ = false;
  bool ended_ = false;
  Stream req_, res_;
};

}  // namespace spanguard::applayer::http
