// The FTP control-connection parser: a line reader per direction, commands queued as transactions
// that the server's replies answer in order (RFC 959 §4.2: a 1yz reply is followed by another),
// the data-connection announcements, and the AUTH TLS hand-over with the client's bytes held until
// the answer tells whether they are TLS.
#include "spanguard/applayer/ftp.h"

#include <algorithm>
#include <cstring>

#include "spanguard/core/heap.h"

namespace spanguard::applayer::ftp {

namespace {

using FC = FtpCounter;

constexpr core::CounterDef kCounterDefs[] = {
    {"commands", "FTP commands parsed"},
    {"replies", "FTP replies parsed (a multi-line reply counts once)"},
    {"transactions", "FTP transactions created"},
    {"expectations", "FTP data connections announced (PORT, EPRT, 227, 229)"},
    {"data_commands", "FTP transfer commands that used an announced data connection"},
    {"start_tls", "FTP control connections handed over to TLS (AUTH TLS answered 234)"},
    {"gaps", "capture gaps in FTP control connections"},
    {"anomaly.line_too_long", "FTP command or reply lines over the line limit"},
    {"anomaly.invalid_command", "FTP client lines that are no command"},
    {"anomaly.invalid_reply", "FTP server lines that are no reply"},
    {"anomaly.invalid_data_channel", "FTP PORT/EPRT arguments or 227/229 replies not parsed"},
    {"anomaly.reply_without_command", "FTP replies with no command waiting"},
    {"anomaly.too_many_transactions", "FTP commands completed unanswered at the limit"},
    {"anomaly.too_many_reply_lines", "FTP transactions whose reply lines went over the limit"},
    {"anomaly.held_data_dropped", "FTP flows whose AUTH TLS answer never came: parsing stopped"},
    {"anomaly.gap", "FTP transactions cut by a capture gap"},
    {"anomaly.truncated", "FTP transactions unanswered at the flow end"},
};
static_assert(std::size(kCounterDefs) == static_cast<size_t>(FC::kCount));
constexpr core::CounterGroup kCounterGroup{"ftp", kCounterDefs};

constexpr std::string_view kAnomalyNames[] = {
    "line_too_long",
    "invalid_command",
    "invalid_reply",
    "invalid_data_channel",
    "reply_without_command",
    "too_many_transactions",
    "too_many_reply_lines",
    "held_data_dropped",
    "gap",
    "truncated",
};
static_assert(std::size(kAnomalyNames) == static_cast<size_t>(Anomaly::kCount));

constexpr size_t kMaxVerb = 16;             // RFC 959 verbs are 3-4 letters; extensions longer
constexpr size_t kProbeLine = 512;          // greeting bytes looked at without a line end
constexpr size_t kKeptLineCapacity = 1024;  // a line buffer larger than this is freed when idle
constexpr uint32_t kMinTransactions = 3;    // referenced at once: the one answered, AUTH, new

// Commands that open the data connection (RFC 959 §4.1.3, RFC 3659 MLSD).
constexpr std::string_view kTransferCommands[] = {"RETR", "STOR", "STOU", "APPE",
                                                  "LIST", "NLST", "MLSD"};
// RFC 4217 §4: "TLS"; "SSL", "TLS-C" and "TLS-P" are older names still sent.
constexpr std::string_view kTlsMechanisms[] = {"TLS", "SSL", "TLS-C", "TLS-P"};

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
using core::release;

std::string_view strip_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = detail::ascii_upper(c);
  return out;
}

// A decimal number of at most `max_digits` digits at the start of `s`, consumed.
std::optional<uint32_t> take_number(std::string_view& s, size_t max_digits) {
  size_t n = 0;
  uint32_t v = 0;
  while (n < s.size() && n < max_digits && is_digit(s[n])) v = v * 10 + (s[n++] - '0');
  if (n == 0 || (n < s.size() && is_digit(s[n]))) return std::nullopt;
  s.remove_prefix(n);
  return v;
}

// RFC 959 §4.1.2 host-port: "h1,h2,h3,h4,p1,p2", each 0..255, at the start of `s`.
std::optional<Expectation> host_port(std::string_view s, Announcement by) {
  uint32_t v[6];
  for (size_t i = 0; i < 6; ++i) {
    if (i > 0) {
      if (s.empty() || s.front() != ',') return std::nullopt;
      s.remove_prefix(1);
    }
    const auto n = take_number(s, 3);
    if (!n || *n > 255) return std::nullopt;
    v[i] = *n;
  }
  const uint8_t raw[4] = {static_cast<uint8_t>(v[0]), static_cast<uint8_t>(v[1]),
                          static_cast<uint8_t>(v[2]), static_cast<uint8_t>(v[3])};
  Expectation e;
  e.announced_by = by;
  e.active = by == Announcement::kPort;
  e.address = core::IpAddress::v4(raw);
  e.port = static_cast<uint16_t>(v[4] << 8 | v[5]);
  if (e.port == 0) return std::nullopt;
  return e;
}

std::optional<uint16_t> tcp_port(std::string_view s) {
  const auto n = take_number(s, 5);
  if (!n || *n == 0 || *n > 65535 || !s.empty()) return std::nullopt;
  return static_cast<uint16_t>(*n);
}

// RFC 2428 §2: EPRT <d><net-prt><d><net-addr><d><tcp-port><d>, net-prt 1 (IPv4) or 2 (IPv6),
// <d> any of ASCII 33..126 ("|" in practice).
std::optional<Expectation> eprt(std::string_view arg) {
  arg = trim(arg);
  if (arg.size() < 2 || arg[0] < 33 || arg[0] > 126) return std::nullopt;
  const char d = arg[0];
  arg.remove_prefix(1);
  std::string_view fields[3];
  for (std::string_view& f : fields) {
    const size_t at = arg.find(d);
    if (at == std::string_view::npos) return std::nullopt;
    f = arg.substr(0, at);
    arg.remove_prefix(at + 1);
  }
  if (!arg.empty()) return std::nullopt;
  if (fields[1].find('\0') != std::string_view::npos) return std::nullopt;
  const auto address = core::IpAddress::parse(fields[1]);
  const auto port = tcp_port(fields[2]);
  if (!address || !port) return std::nullopt;
  if (!(fields[0] == "1" && address->is_v4()) && !(fields[0] == "2" && address->is_v6())) {
    return std::nullopt;
  }
  Expectation e;
  e.announced_by = Announcement::kEprt;
  e.active = true;
  e.address = address;
  e.port = *port;
  return e;
}

// RFC 1123 §4.1.2.6: the 227 text is not standardised; the host-port starts at its first digit.
std::optional<Expectation> pasv_reply(std::string_view text) {
  const size_t at = text.find_first_of("0123456789");
  if (at == std::string_view::npos) return std::nullopt;
  return host_port(text.substr(at), Announcement::kPasv);
}

// RFC 2428 §3: "229 ... (<d><d><d><tcp-port><d>)".
std::optional<Expectation> epsv_reply(std::string_view text) {
  const size_t open = text.find('(');
  if (open == std::string_view::npos || text.size() - open < 6) return std::nullopt;
  std::string_view s = text.substr(open + 1);
  const char d = s[0];
  if (d < 33 || d > 126 || s[1] != d || s[2] != d) return std::nullopt;
  s.remove_prefix(3);
  const size_t close = s.find(d);
  if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ')') {
    return std::nullopt;
  }
  const auto port = tcp_port(s.substr(0, close));
  if (!port) return std::nullopt;
  Expectation e;
  e.announced_by = Announcement::kEpsv;
  e.port = *port;
  return e;
}

bool is_transfer(std::string_view verb) {
  return std::find(std::begin(kTransferCommands), std::end(kTransferCommands), verb) !=
         std::end(kTransferCommands);
}

// A reply line "ddd" / "ddd text" / "ddd-text" split into code and text.
ReplyLine split_reply(std::string_view line) {
  if (line.size() >= 3 && is_digit(line[0]) && is_digit(line[1]) && is_digit(line[2]) &&
      (line.size() == 3 || line[3] == ' ' || line[3] == '-')) {
    return {std::string(line.substr(0, 3)),
            std::string(line.substr(std::min<size_t>(4, line.size())))};
  }
  return {std::string(), std::string(line)};
}

size_t expectation_bytes(const Expectation& e) {
  return e.command.capacity() + e.file_name.capacity();
}

}  // namespace

std::string_view anomaly_name(Anomaly a) {
  return a < Anomaly::kCount ? kAnomalyNames[static_cast<size_t>(a)] : std::string_view{};
}

const core::CounterGroup& ftp_counter_group() { return kCounterGroup; }

std::string_view ftpdata_command(const Expectation& e) {
  if (e.command == "RETR") return "retr";
  if (e.command == "STOR") return "stor";
  return {};
}

bool is_bounce(const Expectation& e, const core::IpAddress& client, bool check_eprt) {
  const bool checked = e.announced_by == Announcement::kPort ||
                       (check_eprt && e.announced_by == Announcement::kEprt);
  return checked && e.address.has_value() && *e.address != client;
}

ProbeResult probe_ftp(std::span<const uint8_t> first_bytes) {
  const std::string_view s(reinterpret_cast<const char*>(first_bytes.data()), first_bytes.size());
  constexpr std::string_view kGreeting = "220";
  if (s.size() <= kGreeting.size() && kGreeting.starts_with(s)) return {Probe::kNeedMore, {}};
  if (s.starts_with(kGreeting) && (s[3] == ' ' || s[3] == '-')) {
    // RFC 959 §5.4: the server speaks first with 220. Its words may name the protocol.
    const size_t lf = s.find('\n');
    if (lf == std::string_view::npos && s.size() < kProbeLine) {
      return {Probe::kNeedMore, Side::kServer};
    }
    const TextProtocol named = protocol_named_by_greeting(s.substr(0, std::min(lf, kProbeLine)));
    return {named == TextProtocol::kSmtp ? Probe::kNo : Probe::kYes, Side::kServer};
  }
  if (protocol_of_first_command(s) == TextProtocol::kFtp) return {Probe::kYes, Side::kClient};
  if (!detail::first_word(s)) {
    // A command word still arriving: a prefix of one that only FTP opens with.
    for (const std::string_view verb : {"USER", "AUTH", "FEAT", "SYST", "OPTS", "HOST", "ACCT"}) {
      if (s.size() < verb.size() && detail::equals_nocase(s, verb.substr(0, s.size()))) {
        return {Probe::kNeedMore, Side::kClient};
      }
    }
  }
  return {Probe::kNo, std::nullopt};
}

Parser::Parser(const Limits& limits, Observer& observer, core::Counters<FtpCounter>& counters)
    : limits_(limits), observer_(observer), counters_(counters) {}

void Parser::flag(Transaction* tx, Anomaly a) {
  if (tx != nullptr) tx->anomalies |= bit(a);
  counters_.inc(static_cast<FC>(static_cast<int>(FC::kAnomalyLineTooLong) + static_cast<int>(a)));
}

size_t Parser::parse(Side side, std::span<const uint8_t> data) {
  if (tls_) return 0;
  if (stopped_ || ended_) return data.size();
  const uint8_t* p = data.data();
  const uint8_t* end = p + data.size();
  if (side == Side::kClient) {
    feed_client(p, end);
    return data.size();
  }
  while (p < end && !stopped_) {
    if (!server_.take(p, end, limits_.max_line_length)) break;
    bool handed_over = false;
    server_line(strip_cr(server_.line), server_.line_over, handed_over);
    server_.line.clear();
    server_.line_over = false;
    if (handed_over) {
      release(server_.line);
      return static_cast<size_t>(p - data.data());
    }
  }
  if (server_.line.capacity() > kKeptLineCapacity && server_.line.empty()) release(server_.line);
  return data.size();
}

void Parser::feed_client(const uint8_t* p, const uint8_t* end) {
  while (p < end && !stopped_ && !tls_) {
    if (auth_tx_ != nullptr) {
      // RFC 4217 §4: after AUTH TLS the client waits for 234 before its TLS handshake; what it
      // sent meanwhile is TLS if the answer is 234, commands otherwise.
      const size_t n = end - p;
      const size_t room =
          limits_.max_held_bytes > held_.size() ? limits_.max_held_bytes - held_.size() : 0;
      if (n > room) {
        flag(auth_tx_, Anomaly::kHeldDataDropped);
        release(held_);
        stopped_ = true;
        return;
      }
      held_.append(reinterpret_cast<const char*>(p), n);
      return;
    }
    if (!client_.take(p, end, limits_.max_line_length)) break;
    client_line(strip_cr(client_.line), client_.line_over);
    client_.line.clear();
    client_.line_over = false;
  }
  if (client_.line.capacity() > kKeptLineCapacity && client_.line.empty()) release(client_.line);
}

void Parser::client_line(std::string_view line, bool over) {
  // RFC 959 §4.1.3: ABOR may follow the Telnet IP and Synch (IAC IP IAC DM); spaces are tolerated.
  size_t skip = 0;
  while (skip < line.size() &&
         (static_cast<uint8_t>(line[skip]) == 0xff || static_cast<uint8_t>(line[skip]) == 0xf4 ||
          static_cast<uint8_t>(line[skip]) == 0xf2 || line[skip] == ' ')) {
    ++skip;
  }
  line.remove_prefix(skip);
  if (line.empty()) return;
  const size_t sp = std::min(line.find(' '), line.size());
  const std::string_view verb = line.substr(0, sp);
  const bool valid =
      verb.size() <= kMaxVerb && is_alpha(verb[0]) &&
      std::all_of(verb.begin(), verb.end(), [](char c) { return is_alpha(c) || is_digit(c); });
  if (!valid) {
    flag(nullptr, Anomaly::kInvalidCommand);
    return;
  }
  Transaction& tx = new_transaction();
  tx.command = upper(verb);
  tx.command_data = sp < line.size() ? line.substr(sp + 1) : std::string_view{};
  if (over) {
    tx.command_truncated = true;
    flag(&tx, Anomaly::kLineTooLong);
  }
  counters_.inc(FC::kCommands);
  notify(tx, Event::kCommand);
  if (tx.command == "PORT" || tx.command == "EPRT") {
    auto e = tx.command == "PORT" ? host_port(trim(tx.command_data), Announcement::kPort)
                                  : eprt(tx.command_data);
    if (!e) {
      flag(&tx, Anomaly::kInvalidDataChannel);
      return;
    }
    expectation_ = *e;
    expectation_tx_ = tx.id;
    tx.expectation = std::move(*e);
    counters_.inc(FC::kExpectations);
    notify(tx, Event::kExpectation);
  } else if (is_transfer(tx.command)) {
    data_command(tx);
  } else if (tx.command == "AUTH") {
    const std::string mechanism = upper(trim(tx.command_data));
    if (std::find(std::begin(kTlsMechanisms), std::end(kTlsMechanisms), mechanism) !=
        std::end(kTlsMechanisms)) {
      auth_tx_ = &tx;
    }
  }
}

void Parser::data_command(Transaction& tx) {
  if (!expectation_ || tx.expectation) return;
  tx.expectation = std::move(*expectation_);
  expectation_.reset();
  tx.expectation->command = tx.command;
  tx.expectation->file_name = tx.command_data;
  counters_.inc(FC::kDataCommands);
  notify(tx, Event::kExpectation);
}

void Parser::server_line(std::string_view line, bool over, bool& handed_over) {
  Transaction* tx = reply_.tx;
  bool last = true;
  if (reply_.open) {
    // RFC 959 §4.2: a multi-line reply ends at the line starting with its code and SP.
    last = line.size() >= 3 && std::memcmp(line.data(), reply_.code, 3) == 0 &&
           (line.size() == 3 || line[3] == ' ');
  } else {
    const bool valid = line.size() >= 3 && line[0] >= '1' && line[0] <= '5' && is_digit(line[1]) &&
                       is_digit(line[2]) && (line.size() == 3 || line[3] == ' ' || line[3] == '-');
    if (!valid) {
      flag(txs_.empty() ? nullptr : &txs_.front(), Anomaly::kInvalidReply);
      return;
    }
    tx = txs_.empty() ? nullptr : &txs_.front();
    if (tx == nullptr) {
      tx = &new_transaction();
      if (greeted_) flag(tx, Anomaly::kReplyWithoutCommand);  // the greeting asks for nothing
    }
    greeted_ = true;
    if (line.size() > 3 && line[3] == '-') {
      reply_.open = true;
      std::memcpy(reply_.code, line.data(), 3);
      reply_.tx = tx;
      last = false;
    }
  }
  tx->reply_received = true;
  if (over) {
    tx->reply_truncated = true;
    flag(tx, Anomaly::kLineTooLong);
  }
  if (tx->replies.size() < limits_.max_reply_lines) {
    tx->replies.push_back(split_reply(line));
  } else if (!(tx->anomalies & bit(Anomaly::kTooManyReplyLines))) {
    flag(tx, Anomaly::kTooManyReplyLines);
  }
  if (!last) return;
  reply_ = Reply();
  const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  reply_done(*tx, code, line.substr(std::min<size_t>(4, line.size())), handed_over);
}

void Parser::reply_done(Transaction& tx, int code, std::string_view text, bool& handed_over) {
  counters_.inc(FC::kReplies);
  notify(tx, Event::kReply);
  if (code / 100 == 1) return;  // RFC 959 §4.2: a preliminary reply; the final one follows
  tx.complete = true;
  tx.final_code = code;
  std::optional<Expectation> announced;
  if (tx.command == "PASV" && code == 227) {
    announced = pasv_reply(text);
    if (!announced) flag(&tx, Anomaly::kInvalidDataChannel);
  } else if (tx.command == "EPSV" && code == 229) {
    announced = epsv_reply(text);
    if (!announced) flag(&tx, Anomaly::kInvalidDataChannel);
  } else if (code / 100 != 2 && tx.expectation && expectation_ && expectation_tx_ == tx.id) {
    expectation_.reset();  // the PORT / EPRT was refused
  }
  if (announced) {
    expectation_ = *announced;
    expectation_tx_ = tx.id;
    tx.expectation = std::move(*announced);
    counters_.inc(FC::kExpectations);
    notify(tx, Event::kExpectation);
    // "PASV" and "RETR" sent together: the transfer command came before this answer.
    for (Transaction& later : txs_) {
      if (later.id > tx.id && is_transfer(later.command) && !later.expectation) {
        data_command(later);
        break;
      }
    }
  }
  if (&tx == auth_tx_) {
    auth_tx_ = nullptr;
    if (code == 234) {
      // RFC 4217 §4: TLS starts right after the 234 reply, on both sides.
      tls_ = true;
      handed_over = true;
      counters_.inc(FC::kStartTls);
      notify(tx, Event::kStartTls);
      complete(tx);
      return;
    }
    complete(tx);
    resume_client();
    return;
  }
  complete(tx);
}

// AUTH TLS refused: the client bytes held meanwhile are commands.
void Parser::resume_client() {
  std::string held;
  held.swap(held_);
  const auto* p = reinterpret_cast<const uint8_t*>(held.data());
  feed_client(p, p + held.size());
}

Transaction& Parser::new_transaction() {
  const size_t cap = std::max(limits_.max_transactions, kMinTransactions);
  while (txs_.size() >= cap) {
    auto it = txs_.begin();
    while (it != txs_.end() && (&*it == reply_.tx || &*it == auth_tx_)) ++it;
    if (it == txs_.end()) break;
    flag(&*it, Anomaly::kTooManyTransactions);
    complete(*it);
  }
  Transaction& tx = txs_.emplace_back();
  tx.id = next_id_++;
  counters_.inc(FC::kTransactions);
  return tx;
}

void Parser::complete(Transaction& tx) {
  if (&tx == reply_.tx) reply_ = Reply();
  if (&tx == auth_tx_) auth_tx_ = nullptr;
  notify(tx, Event::kComplete);
  for (auto it = txs_.begin(); it != txs_.end(); ++it) {
    if (&*it == &tx) {
      txs_.erase(it);
      return;
    }
  }
}

void Parser::on_gap(Side side) {
  if (tls_ || stopped_ || ended_) return;
  counters_.inc(FC::kGaps);
  if (auth_tx_ != nullptr) {
    // Whether the client's bytes are TLS hangs on an answer that may be among the lost bytes.
    flag(auth_tx_, Anomaly::kGap);
    release(held_);
    stopped_ = true;
    return;
  }
  Stream& s = side == Side::kClient ? client_ : server_;
  s.line.clear();
  s.line_over = false;
  s.skip_line = true;
  if (side == Side::kClient) {
    flag(nullptr, Anomaly::kGap);
    return;
  }
  reply_ = Reply();
  while (!txs_.empty()) {
    flag(&txs_.front(), Anomaly::kGap);
    complete(txs_.front());
  }
}

void Parser::on_end() {
  if (ended_) return;
  ended_ = true;
  while (!txs_.empty()) {
    Transaction& tx = txs_.front();
    if (!tx.complete) flag(&tx, Anomaly::kTruncated);
    complete(tx);
  }
  auth_tx_ = nullptr;
  reply_ = Reply();
  expectation_.reset();
  for (Stream* s : {&client_, &server_}) {
    release(s->line);
    *s = Stream();
  }
  release(held_);
}

size_t Parser::memory_bytes() const {
  size_t n = sizeof *this + client_.line.capacity() + server_.line.capacity() + held_.capacity();
  if (expectation_) n += expectation_bytes(*expectation_);
  for (const Transaction& tx : txs_) {
    n += sizeof tx + 2 * sizeof(void*) + tx.command.capacity() + tx.command_data.capacity() +
         tx.replies.capacity() * sizeof(ReplyLine);
    for (const ReplyLine& r : tx.replies) n += r.code.capacity() + r.text.capacity();
    if (tx.expectation) n += expectation_bytes(*tx.expectation);
  }
  return n;
}

}  // namespace spanguard::applayer::ftp
