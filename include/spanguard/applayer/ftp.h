// The FTP control connection (RFC 959) for both directions of one TCP flow: commands and their
// (multi-line) replies paired into transactions, the data connections announced by PORT/EPRT and
// by the replies to PASV/EPSV (RFC 2428), and the hand-over to TLS after AUTH TLS (RFC 4217).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spanguard/applayer/line_reader.h"
#include "spanguard/applayer/side.h"
#include "spanguard/core/counters.h"
#include "spanguard/core/ip_address.h"

namespace spanguard::applayer::ftp {

// Every limit bounds memory: a flow holds at most max_transactions commands (each one line), the
// reply lines of the transaction being answered, one partial line per side and the held bytes.
struct Limits {
  uint32_t max_line_length = 4096;  // bytes kept of a command or reply line (Suricata's
                                    // max-line-length); the rest is dropped and flagged
  uint32_t max_transactions = 256;  // commands awaiting their reply (Suricata's max-tx); over it
                                    // the oldest completes unanswered
  uint32_t max_reply_lines = 64;    // reply lines kept per transaction
  uint32_t max_held_bytes = 16 * 1024;  // client bytes held after AUTH TLS until it is answered
};

// kCommand: the transaction's command was parsed. kReply: a whole reply (a multi-line one at its
// last line; a 1yz preliminary one too) was added. kExpectation: the transaction announced a data
// connection (PORT/EPRT, or the 227/229 answer to PASV/EPSV) or is the transfer command that uses
// it: Transaction::expectation. kStartTls: AUTH TLS was answered by 234 (see Parser::parse).
// kComplete: the transaction ended (final reply, gap, flow end, limit); it is released right after.
enum class Event : uint8_t { kCommand, kReply, kExpectation, kStartTls, kComplete };

// Protocol anomalies, one bit each in Transaction::anomalies and one counter each
// ("ftp.anomaly.<name>"). Those met outside any transaction are only counted.
enum class Anomaly : uint8_t {
  kLineTooLong,          // command or reply line over Limits::max_line_length: kept truncated
  kInvalidCommand,       // a client line that is no command verb: skipped
  kInvalidReply,         // a server line that is no reply (3 digits) outside a multi-line reply
  kInvalidDataChannel,   // PORT/EPRT argument or 227/229 text that does not parse
  kReplyWithoutCommand,  // a reply with no command waiting for one (the greeting aside)
  kTooManyTransactions,  // max_transactions commands unanswered: the oldest completed unanswered
  kTooManyReplyLines,    // over Limits::max_reply_lines: further lines not kept
  kHeldDataDropped,      // AUTH TLS unanswered after max_held_bytes client bytes: parsing stopped
  kGap,                  // bytes lost: the transaction completed without (all of) its reply
  kTruncated,            // the flow ended before the transaction's final reply
  kCount
};
constexpr uint32_t bit(Anomaly a) { return uint32_t{1} << static_cast<unsigned>(a); }
std::string_view anomaly_name(Anomaly a);  // "line_too_long", ...

enum class Announcement : uint8_t { kPort, kEprt, kPasv, kEpsv };

// A data connection the control connection announced (RFC 959 §3.2, RFC 2428).
struct Expectation {
  Announcement announced_by = Announcement::kPort;
  bool active = false;  // PORT/EPRT: the server connects to the client's address and port;
                        // PASV/EPSV: the client connects to the server's
  std::optional<core::IpAddress> address;  // as announced (EPSV announces none: the server's)
  uint16_t port = 0;
  std::string command;    // the transfer command that uses it ("RETR", "STOR", "LIST", ...)
  std::string file_name;  // that command's argument (EVE ftp_data.filename)
};

// Suricata's ftpdata_command values: "retr" (a file from the server) and "stor" (to it); "" for
// other transfer commands or none yet.
std::string_view ftpdata_command(const Expectation& e);

// Suricata's ftpbounce: a PORT whose address is not the client's own, i.e. the client directs the
// server's data connection at a third host. Suricata checks PORT only; check_eprt extends it.
bool is_bounce(const Expectation& e, const core::IpAddress& client, bool check_eprt = false);

struct ReplyLine {
  std::string code;  // the three digits when the line starts with them ("226"), else empty
  std::string text;  // after the code and its SP or "-" (EVE ftp.reply); a line without code whole
};

struct Transaction {
  uint64_t id = 0;           // 0,1,2.. per flow in creation order
  std::string command;       // verb, upper-cased (ftp.command); empty for a reply nothing asked
                             // for (the greeting)
  std::string command_data;  // the rest of the line after the verb and one SP (ftp.command_data)
  bool command_truncated = false;
  std::vector<ReplyLine> replies;  // every line of every reply, up to the limit
  bool reply_received = false;
  bool reply_truncated = false;
  bool complete = false;  // a final reply (not 1yz) came
  int final_code = 0;     // its code, 0 without one
  std::optional<Expectation> expectation;
  uint32_t anomalies = 0;  // bit set of Anomaly
};

// Called synchronously from parse()/on_gap()/on_end(); must not call back into the Parser.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void on_ftp(Transaction& tx, Event event) = 0;
};

// A server greeting ("220" then SP or "-") whose first line does not name SMTP: kYes from the
// server (an unnamed greeting also probes as SMTP: resolve with ftp_or_smtp() on the client's first
// command). A client's first command that only FTP opens with (USER, AUTH, FEAT, ...): kYes from
// the client.
ProbeResult probe_ftp(std::span<const uint8_t> first_bytes);

enum class FtpCounter : uint16_t {
  kCommands,
  kReplies,
  kTransactions,
  kExpectations,  // data connections announced
  kDataCommands,  // transfer commands that used an announced data connection
  kStartTls,
  kGaps,
  // One per Anomaly, in its order.
  kAnomalyLineTooLong,
  kAnomalyInvalidCommand,
  kAnomalyInvalidReply,
  kAnomalyInvalidDataChannel,
  kAnomalyReplyWithoutCommand,
  kAnomalyTooManyTransactions,
  kAnomalyTooManyReplyLines,
  kAnomalyHeldDataDropped,
  kAnomalyGap,
  kAnomalyTruncated,
  kCount
};
static_assert(static_cast<int>(FtpCounter::kAnomalyTruncated) -
                      static_cast<int>(FtpCounter::kAnomalyLineTooLong) + 1 ==
                  static_cast<int>(Anomaly::kCount),
              "one counter per anomaly");
const core::CounterGroup& ftp_counter_group();  // module "ftp"

class Parser {  // one per control connection; both directions
 public:
  Parser(const Limits& limits, Observer& observer, core::Counters<FtpCounter>& counters);
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Incremental: any split of the bytes of a direction gives the same result. Replies pair with
  // the commands already parsed, so client bytes should be given before the server's answer to
  // them (capture order does that).
  //
  // Returns how many bytes of `data` are FTP. That is all of them, except at the hand-over to TLS:
  // the server call whose bytes hold the 234 answer to AUTH TLS raises kStartTls and returns the
  // offset just past that reply's last line, where the server's TLS bytes begin; every later call
  // (either side) returns 0. Client bytes that followed the AUTH TLS line are held (not parsed)
  // until the answer: after a 234 they are the start of the client's TLS stream, held_client_tls();
  // after a refusal they are parsed as commands.
  size_t parse(Side side, std::span<const uint8_t> data);
  // Bytes lost in that direction: the partial line is dropped and parsing resumes at the next
  // line; a server gap completes every waiting command (their replies may be among the lost
  // bytes). A gap while AUTH TLS awaits its answer stops parsing (TLS or not cannot be told).
  void on_gap(Side side);
  // Flow end: every transaction completes (unanswered ones truncated) and is released.
  void on_end();

  bool tls() const { return tls_; }  // handed over to TLS
  bool stopped() const { return stopped_; }
  std::string_view held_client_tls() const { return held_; }  // valid until on_end()
  // The announced data connection not yet used by a transfer command.
  const std::optional<Expectation>& expectation() const { return expectation_; }
  size_t transactions_held() const { return txs_.size(); }
  size_t memory_bytes() const;

 private:
  using Stream = LineReader;  // one direction
  struct Reply {              // the server's reply being read
    bool open = false;        // a multi-line reply ("123-") awaits its last line
    char code[3] = {};        // its code
    Transaction* tx = nullptr;
  };

  void client_line(std::string_view line, bool over);
  void server_line(std::string_view line, bool over, bool& handed_over);
  void reply_done(Transaction& tx, int code, std::string_view text, bool& handed_over);
  void data_command(Transaction& tx);
  void feed_client(const uint8_t* p, const uint8_t* end);
  void resume_client();
  Transaction& new_transaction();
  void complete(Transaction& tx);
  void flag(Transaction* tx, Anomaly a);
  void notify(Transaction& tx, Event e) { observer_.on_ftp(tx, e); }

  Limits limits_;
  Observer& observer_;
  core::Counters<FtpCounter>& counters_;
  std::list<Transaction> txs_;  // creation order; waiting for (the rest of) their replies
  uint64_t next_id_ = 0;
  bool greeted_ = false;  // a reply came: later unsolicited replies are anomalies
  Stream client_, server_;
  Reply reply_;
  std::optional<Expectation> expectation_;
  uint64_t expectation_tx_ = 0;     // the transaction that announced expectation_
  Transaction* auth_tx_ = nullptr;  // AUTH TLS awaiting its answer: client bytes are held
  std::string held_;
  bool tls_ = false;
  bool stopped_ = false;
  bool ended_ = false;
};

}  // namespace spanguard::applayer::ftp
