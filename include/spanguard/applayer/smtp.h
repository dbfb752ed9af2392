// SMTP (RFC 5321) for both directions of one TCP flow: commands, pipelined (RFC 2920), paired
// with their replies; one transaction per mail with its envelope, its message (DATA, dot-unstuffed,
// or BDAT chunks, RFC 3030), the message's header fields and its MIME attachments decoded from
// base64 and quoted-printable (RFC 2045/2046); and the hand-over to TLS after STARTTLS (RFC 3207).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spanguard/applayer/line_reader.h"
#include "spanguard/applayer/side.h"
#include "spanguard/core/counters.h"

namespace spanguard::applayer::smtp {

// Every limit bounds memory: a flow holds one partial line per side, the held bytes, the pending
// commands, and one transaction with its header fields, recipients, attachments and raw message.
struct Limits {
  uint32_t max_line_length = 4096;      // bytes kept of a command or reply line (flagged beyond);
                                        // message lines go to the MIME reader in pieces this long
  uint32_t max_pending_commands = 128;  // pipelined commands awaiting their reply
  uint32_t max_held_bytes = 64 * 1024;  // client bytes held after DATA, STARTTLS or AUTH until the
                                        // answer tells what they are
  uint32_t max_recipients = 512;        // RCPT TO arguments kept per mail
  uint32_t header_limit = 16 * 1024;    // bytes of header fields kept per MIME entity
  uint32_t max_mime_depth = 8;          // nested multiparts and encapsulated messages parsed
  uint32_t max_attachments = 64;        // attachments kept per mail
  uint32_t attachment_limit = 100000;   // decoded bytes kept per attachment (Suricata's SMTP
                                        // inspected-tracker content-limit)
  uint32_t attachments_total_limit = 1 << 20;  // decoded bytes kept for all of a mail's attachments
  uint32_t raw_message_limit = 0;  // bytes kept of the whole dot-unstuffed message, as Suricata's
                                   // smtp raw-extraction ("rawmsg"); 0: off, Suricata's default
};

// kMailComplete: the transaction is over (its message ended, or RSET/QUIT/a new MAIL/the flow
// end/a gap closed it): everything in it is final; it is released right after the callback.
// kStartTls: STARTTLS was answered by 220 (see Parser::parse); no transaction.
enum class Event : uint8_t { kMailComplete, kStartTls };

// Protocol anomalies, one bit each in Transaction::anomalies and one counter each
// ("smtp.anomaly.<name>"). Those met outside a mail are only counted.
enum class Anomaly : uint8_t {
  kLineTooLong,             // command or reply line over Limits::max_line_length: kept truncated
  kInvalidCommand,          // a client line that is no command verb: skipped
  kInvalidReply,            // a server line that is no reply (3 digits, then SP, "-" or the end)
  kReplyWithoutCommand,     // a reply with no command waiting (the greeting aside)
  kTooManyPendingCommands,  // over Limits::max_pending_commands: the oldest was forgotten
  kTooManyRecipients,       // over Limits::max_recipients: the rest not kept
  kInvalidBdat,             // BDAT without a chunk size: its chunk cannot be followed
  kHeaderLimit,             // header fields over Limits::header_limit (or 256): the rest dropped
  kMimeDepth,               // MIME nesting over Limits::max_mime_depth: read as plain content
  kTooManyAttachments,      // over Limits::max_attachments: later ones not kept
  kAttachmentLimit,         // attachment content over a limit: kept truncated
  kInvalidBase64,           // characters outside the base64 alphabet (skipped)
  kInvalidQuotedPrintable,  // "=" not followed by two hex digits or a line end (kept as is)
  kReplyAssumed,            // DATA's answer lost or late: 354 was assumed
  kHeldDataDropped,         // STARTTLS unanswered after max_held_bytes: parsing stopped
  kGap,                     // bytes lost inside the mail
  kTruncated,               // the flow ended inside the message
  kCount
};
constexpr uint32_t bit(Anomaly a) { return uint32_t{1} << static_cast<unsigned>(a); }
std::string_view anomaly_name(Anomaly a);  // "line_too_long", ...

struct Header {  // name as sent; value unfolded (RFC 5322 §2.2.3) and trimmed
  std::string name, value;
};

// A MIME part with a file name: Content-Disposition's filename, else Content-Type's name (as
// Suricata's MIME decoder marks attachments). Its decoded content is what Suricata's file.data
// inspects on SMTP; parts without a name (text bodies, a non-MIME message's body) are no file for
// Suricata and are not kept here either (see Limits::raw_message_limit).
struct Attachment {
  std::string file_name;     // file.name, EVE email.attachment
  std::string content_type;  // lower case, without parameters: "application/pdf"
  std::string encoding;      // Content-Transfer-Encoding, lower case ("base64", ...), may be empty
  std::string content;       // decoded, up to the limits
  uint64_t size = 0;         // decoded bytes in all, kept or not
  bool truncated = false;    // content holds less than size
  bool complete = false;     // its part ended (boundary or message end) rather than being cut
};

struct Transaction {
  uint64_t id = 0;                   // 0,1,2.. per flow
  std::string helo;                  // smtp.helo: the argument of the session's first HELO/EHLO
  std::string mail_from;             // smtp.mail_from: MAIL's argument after "FROM:", trimmed
  std::vector<std::string> rcpt_to;  // smtp.rcpt_to: each RCPT's argument after "TO:", trimmed
  bool has_message = false;          // DATA was accepted (354) or a BDAT chunk came
  bool message_complete = false;     // the "." line or the BDAT LAST chunk ended it
  uint64_t message_bytes = 0;        // message bytes after dot-unstuffing
  std::vector<Header> headers;       // the message's own header fields (EVE email.*), in order
  std::vector<Attachment> attachments;
  std::string raw_message;  // the dot-unstuffed message, up to Limits::raw_message_limit
  bool truncated = false;   // a gap or the flow end cut the message
  uint32_t anomalies = 0;   // bit set of Anomaly

  const Header* find_header(std::string_view name) const;  // case-insensitive, first
};

// Called synchronously from parse()/on_gap()/on_end(); must not call back into the Parser. `tx` is
// the mail for kMailComplete, nullptr for kStartTls.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void on_smtp(Event event, Transaction* tx) = 0;
};

// A server greeting ("220" then SP or "-") whose first line does not name FTP: kYes from the
// server (an unnamed greeting also probes as FTP: resolve with ftp_or_smtp() on the client's first
// command). A client's EHLO or HELO: kYes from the client.
ProbeResult probe_smtp(std::span<const uint8_t> first_bytes);

enum class SmtpCounter : uint16_t {
  kCommands,
  kReplies,
  kTransactions,
  kMessages,         // messages whose end was seen ("." or BDAT LAST)
  kAttachments,      // attachments found
  kAttachmentBytes,  // decoded attachment bytes kept
  kStartTls,
  kGaps,
  // One per Anomaly, in its order.
  kAnomalyLineTooLong,
  kAnomalyInvalidCommand,
  kAnomalyInvalidReply,
  kAnomalyReplyWithoutCommand,
  kAnomalyTooManyPendingCommands,
  kAnomalyTooManyRecipients,
  kAnomalyInvalidBdat,
  kAnomalyHeaderLimit,
  kAnomalyMimeDepth,
  kAnomalyTooManyAttachments,
  kAnomalyAttachmentLimit,
  kAnomalyInvalidBase64,
  kAnomalyInvalidQuotedPrintable,
  kAnomalyReplyAssumed,
  kAnomalyHeldDataDropped,
  kAnomalyGap,
  kAnomalyTruncated,
  kCount
};
static_assert(static_cast<int>(SmtpCounter::kAnomalyTruncated) -
                      static_cast<int>(SmtpCounter::kAnomalyLineTooLong) + 1 ==
                  static_cast<int>(Anomaly::kCount),
              "one counter per anomaly");
const core::CounterGroup& smtp_counter_group();  // module "smtp"

class MimeReader;  // smtp.cc: the message's MIME structure and attachment decoding

class Parser {  // one per flow; both directions
 public:
  Parser(const Limits& limits, Observer& observer, core::Counters<SmtpCounter>& counters);
  ~Parser();
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Incremental: any split of the bytes of a direction gives the same result. Replies pair with
  // the commands already parsed, so client bytes should be given before the server's answer to
  // them (capture order does that).
  //
  // Returns how many bytes of `data` are SMTP. That is all of them, except at the hand-over to
  // TLS: the server call whose bytes hold the 220 answer to STARTTLS raises kStartTls and returns
  // the offset just past that reply's last line, where the server's TLS bytes begin; every later
  // call (either side) returns 0. Client bytes that followed the STARTTLS line (RFC 3207 §4 makes
  // it the last command of a pipelined group) are held until the answer: after a 220 they are the
  // start of the client's TLS stream, held_client_tls(); after a refusal they are parsed as
  // commands. Bytes after DATA (and after AUTH) are held the same way until the answer tells
  // whether they are the message (354) or commands.
  size_t parse(Side side, std::span<const uint8_t> data);
  // Bytes lost in that direction: the partial line is dropped and parsing resumes at the next
  // line; a message in progress is flagged and its MIME decoding stops (a BDAT chunk's end is lost
  // with it: the mail completes). A server gap forgets the replies awaited; DATA's answer is then
  // assumed to be 354, STARTTLS's cannot be (parsing stops).
  void on_gap(Side side);
  // Flow end: the open mail completes (its message truncated if it was inside one).
  void on_end();

  bool tls() const { return tls_; }  // handed over to TLS
  bool stopped() const { return stopped_; }
  std::string_view held_client_tls() const { return held_; }  // valid until on_end()
  const std::string& helo() const { return helo_; }
  bool in_mail() const { return tx_.has_value(); }
  size_t memory_bytes() const;

 private:
  enum class Pending : uint8_t { kOther, kData, kDataEnd, kBdat, kStartTls, kAuth };
  struct Waiting {
    Pending kind = Pending::kOther;
    bool resolved = false;  // its effect was already assumed (answer late or lost)
  };
  enum class Mode : uint8_t { kCommand, kData, kBdat };
  using Stream = LineReader;  // one direction

  void feed_client(const uint8_t* p, const uint8_t* end);
  void command(std::string_view line, bool over);
  void server_line(std::string_view line, bool over, bool& handed_over);
  void reply(int code, bool& handed_over);
  void resume_client();
  void message_bytes(const uint8_t*& p, const uint8_t* end);
  void segment(std::string_view content, bool first, bool last, std::string_view eol);
  void bdat_chunk_done();
  void flush_piece();
  void start_message();
  void end_message(bool complete);
  Transaction& mail();
  void finish_mail();
  void expect(Pending kind);
  void flag(Anomaly a);
  void release_buffers();

  Limits limits_;
  Observer& observer_;
  core::Counters<SmtpCounter>& counters_;
  std::optional<Transaction> tx_;  // the open mail
  uint64_t next_id_ = 0;
  std::string helo_;
  std::deque<Waiting> pending_;  // commands awaiting their reply, oldest first
  Stream client_, server_;
  Mode mode_ = Mode::kCommand;
  std::optional<Pending> awaiting_;  // client bytes are held until this command's answer
  bool auth_line_next_ = false;      // 334: the next client line is AUTH data, not a command
  std::string held_;
  // Message reading (DATA / BDAT): the current line in pieces of up to max_line_length bytes.
  std::string piece_;
  bool piece_first_ = true;  // piece_ starts its line
  uint64_t bdat_remaining_ = 0;
  bool bdat_last_ = false;
  std::unique_ptr<MimeReader> mime_;
  bool greeted_ = false;  // a reply came: the greeting is behind
  bool tls_ = false;
  bool stopped_ = false;
  bool ended_ = false;
};

}  // namespace spanguard::applayer::smtp
