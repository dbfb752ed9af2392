// The SMTP parser: a line reader per direction, commands queued until their replies (pipelining),
// client bytes held while DATA, STARTTLS or AUTH awaits the answer that says what they are, the
// message cut into line pieces of bounded size, and the MIME reader that follows the message's
// structure and decodes its attachments as the pieces stream by.
#include "spanguard/applayer/smtp.h"

#include <algorithm>
#include <cstring>

#include "spanguard/core/heap.h"

namespace spanguard::applayer::smtp {

namespace {

using SC = SmtpCounter;

constexpr core::CounterDef kCounterDefs[] = {
    {"commands", "SMTP commands parsed"},
    {"replies", "SMTP replies parsed (a multi-line reply counts once)"},
    {"transactions", "SMTP mail transactions"},
    {"messages", "SMTP messages whose end was seen (\".\" or BDAT LAST)"},
    {"attachments", "MIME attachments found in SMTP messages"},
    {"attachment_bytes", "decoded SMTP attachment bytes kept for inspection"},
    {"start_tls", "SMTP flows handed over to TLS (STARTTLS answered 220)"},
    {"gaps", "capture gaps in SMTP flows"},
    {"anomaly.line_too_long", "SMTP command or reply lines over the line limit"},
    {"anomaly.invalid_command", "SMTP client lines that are no command"},
    {"anomaly.invalid_reply", "SMTP server lines that are no reply"},
    {"anomaly.reply_without_command", "SMTP replies with no command waiting"},
    {"anomaly.too_many_pending_commands", "SMTP pipelined commands forgotten at the limit"},
    {"anomaly.too_many_recipients", "SMTP mails with more recipients than kept"},
    {"anomaly.invalid_bdat", "SMTP BDAT commands without a chunk size"},
    {"anomaly.header_limit", "MIME header blocks over the header limit"},
    {"anomaly.mime_depth", "MIME structures nested deeper than parsed"},
    {"anomaly.too_many_attachments", "SMTP mails with more attachments than kept"},
    {"anomaly.attachment_limit", "SMTP attachments kept truncated at a limit"},
    {"anomaly.invalid_base64", "SMTP attachments with characters outside base64"},
    {"anomaly.invalid_quoted_printable", "SMTP attachments with invalid quoted-printable"},
    {"anomaly.reply_assumed", "SMTP DATA answers lost or late: 354 assumed"},
    {"anomaly.held_data_dropped", "SMTP flows whose STARTTLS answer never came: parsing stopped"},
    {"anomaly.gap", "SMTP mails cut by a capture gap"},
    {"anomaly.truncated", "SMTP messages cut by the end of the flow"},
};
static_assert(std::size(kCounterDefs) == static_cast<size_t>(SC::kCount));
constexpr core::CounterGroup kCounterGroup{"smtp", kCounterDefs};

constexpr std::string_view kAnomalyNames[] = {
    "line_too_long",
    "invalid_command",
    "invalid_reply",
    "reply_without_command",
    "too_many_pending_commands",
    "too_many_recipients",
    "invalid_bdat",
    "header_limit",
    "mime_depth",
    "too_many_attachments",
    "attachment_limit",
    "invalid_base64",
    "invalid_quoted_printable",
    "reply_assumed",
    "held_data_dropped",
    "gap",
    "truncated",
};
static_assert(std::size(kAnomalyNames) == static_cast<size_t>(Anomaly::kCount));

constexpr size_t kMaxVerb = 16;             // RFC 5321 verbs are 4 letters; extensions longer
constexpr size_t kProbeLine = 512;          // greeting bytes looked at without a line end
constexpr size_t kKeptLineCapacity = 1024;  // a line buffer larger than this is freed when idle
constexpr size_t kMinPiece = 64;            // message pieces are at least this long
constexpr size_t kMaxFields = 256;          // header fields kept per entity
constexpr size_t kMaxBoundary = 200;        // RFC 2046 §5.1.1 boundaries have at most 70 chars
constexpr size_t kMaxFileName = 255;        // as Suricata's MIME token limit
constexpr size_t kMaxQpWhitespace = 256;    // trailing-whitespace run held by the QP decoder
constexpr uint32_t kMinPending = 2;         // the awaited command and the one before it
constexpr size_t kMaxBdatDigits = 15;       // no chunk size overflows

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_wsp(char c) { return c == ' ' || c == '\t'; }
using core::release;

std::string_view strip_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
  return s;
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = detail::ascii_upper(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

// MAIL's and RCPT's argument after "FROM:" / "TO:" (RFC 5321 §4.1.1.2-3), trimmed; the whole
// argument when the prefix is missing.
std::string_view after_prefix(std::string_view arg, std::string_view prefix) {
  arg = trim(arg);
  if (arg.size() >= prefix.size() && iequals(arg.substr(0, prefix.size()), prefix)) {
    arg = trim(arg.substr(prefix.size()));
  }
  return arg;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// RFC 2231 §4 extended value "charset'language'%XX..." decoded to its bytes (the charset is not
// converted).
std::string decode_extended(std::string_view v) {
  const size_t first = v.find('\'');
  const size_t second = first == std::string_view::npos ? first : v.find('\'', first + 1);
  if (second != std::string_view::npos) v.remove_prefix(second + 1);
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '%' && i + 2 < v.size() && hex_value(v[i + 1]) >= 0 && hex_value(v[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(v[i + 1]) << 4 | hex_value(v[i + 2])));
      i += 2;
    } else {
      out.push_back(v[i]);
    }
  }
  return out;
}

// The value of parameter `name` (lower case) in a structured header value such as
// "multipart/mixed; boundary=\"b;1\"" (RFC 2045 §5.1, quoted strings with backslash escapes), or
// of its RFC 2231 form "name*"; nullopt when absent.
std::optional<std::string> header_param(std::string_view value, std::string_view name) {
  size_t i = value.find(';');
  while (i != std::string_view::npos && i < value.size()) {
    ++i;  // past ';'
    while (i < value.size() && is_wsp(value[i])) ++i;
    const size_t key_start = i;
    while (i < value.size() && value[i] != '=' && value[i] != ';') ++i;
    const std::string key = lower(trim(value.substr(key_start, i - key_start)));
    if (i >= value.size() || value[i] == ';') continue;
    ++i;  // past '='
    while (i < value.size() && is_wsp(value[i])) ++i;
    std::string v;
    if (i < value.size() && value[i] == '"') {
      for (++i; i < value.size() && value[i] != '"'; ++i) {
        if (value[i] == '\\' && i + 1 < value.size()) ++i;
        v.push_back(value[i]);
      }
      if (i < value.size()) ++i;  // past the closing quote
    } else {
      const size_t start = i;
      while (i < value.size() && value[i] != ';') ++i;
      v = std::string(trim(value.substr(start, i - start)));
    }
    if (key == name) return v;
    if (key.size() == name.size() + 1 && key.starts_with(name) && key.back() == '*') {
      return decode_extended(v);
    }
    i = value.find(';', i);
  }
  return std::nullopt;
}

// RFC 4648 §4 alphabet: 0..63, -1 outside it.
constexpr int8_t base64_value(uint8_t c) {
  if (c >= 'A' && c <= 'Z') return static_cast<int8_t>(c - 'A');
  if (c >= 'a' && c <= 'z') return static_cast<int8_t>(c - 'a' + 26);
  if (c >= '0' && c <= '9') return static_cast<int8_t>(c - '0' + 52);
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

void count(core::Counters<SmtpCounter>& counters, Transaction* tx, Anomaly a) {
  if (tx != nullptr) tx->anomalies |= bit(a);
  counters.inc(static_cast<SC>(static_cast<int>(SC::kAnomalyLineTooLong) + static_cast<int>(a)));
}

size_t transaction_bytes(const Transaction& tx) {
  size_t n = tx.helo.capacity() + tx.mail_from.capacity() + tx.raw_message.capacity() +
             tx.rcpt_to.capacity() * sizeof(std::string) + tx.headers.capacity() * sizeof(Header) +
             tx.attachments.capacity() * sizeof(Attachment);
  for (const std::string& r : tx.rcpt_to) n += r.capacity();
  for (const Header& h : tx.headers) n += h.name.capacity() + h.value.capacity();
  for (const Attachment& a : tx.attachments) {
    n += a.file_name.capacity() + a.content_type.capacity() + a.encoding.capacity() +
         a.content.capacity();
  }
  return n;
}

}  // namespace

// ---- MIME -------------------------------------------------------------------------------------

// Follows a message's MIME structure (RFC 2045/2046) line piece by line piece: header blocks,
// multipart boundaries, encapsulated messages, and the content of parts that are attachments,
// decoded into Transaction::attachments. Nothing but the current header field and the boundaries
// is buffered.
class MimeReader {
 public:
  MimeReader(const Limits& limits, core::Counters<SmtpCounter>& counters)
      : limits_(limits), counters_(counters) {}

  // A piece of a message line: `first` when it starts the line, `last` when it ends it, `eol` the
  // line end that followed ("\r\n", "\n", or "" at the end of a BDAT message).
  void segment(Transaction& tx, std::string_view content, bool first, bool last,
               std::string_view eol);
  // The message ended (complete) or was cut.
  void finish(Transaction& tx, bool complete);
  size_t memory_bytes() const;

 private:
  enum class Mode : uint8_t {
    kHeaders,  // an entity's header block
    kBody,     // a leaf part's content
    kSkip,     // a multipart's preamble or epilogue, or content too deep: up to a boundary
  };
  enum class Coding : uint8_t { kIdentity, kBase64, kQuotedPrintable };
  struct Part {  // what the current entity's header fields said
    std::string type, boundary, name, filename, encoding;
  };
  struct Level {            // an open multipart
    std::string delimiter;  // "--" + boundary
    uint32_t nested = 0;    // encapsulated messages open when it began
  };

  bool boundary_line(Transaction& tx, std::string_view line);
  void header_piece(Transaction& tx, std::string_view content, bool first, bool last);
  void flush_field(Transaction& tx);
  void end_headers(Transaction& tx);
  void start_leaf(Transaction& tx, std::string_view file_name);
  void end_part(Transaction& tx, bool complete);
  void body_piece(Transaction& tx, std::string_view content, bool first, bool last,
                  std::string_view eol);
  void base64(Transaction& tx, std::string_view content);
  void base64_end(Transaction& tx);
  void quoted_printable(Transaction& tx, std::string_view content);
  void quoted_printable_line_end(Transaction& tx);
  void emit(Transaction& tx, std::string_view bytes);
  void flag(Transaction& tx, Anomaly a) { count(counters_, &tx, a); }
  size_t depth() const { return levels_.size() + nested_; }

  const Limits& limits_;
  core::Counters<SmtpCounter>& counters_;
  Mode mode_ = Mode::kHeaders;
  bool top_level_ = true;  // the header block is the message's own
  Part part_;
  std::string field_;        // the header field being read, unfolded
  bool field_over_ = false;  // field_ went over the header limit
  size_t header_bytes_ = 0;  // of the message's own fields kept
  bool header_limited_ = false;
  std::vector<Level> levels_;
  uint32_t nested_ = 0;  // encapsulated messages (message/rfc822) open
  // The leaf part being read.
  Coding coding_ = Coding::kIdentity;
  int attachment_ = -1;           // index in tx.attachments, -1 when the part is no attachment
  std::string_view pending_eol_;  // a line end kept back: before a boundary it is the boundary's
  uint32_t quad_ = 0;             // base64: 6-bit groups so far
  int quad_len_ = 0;
  int qp_eq_ = 0;  // quoted-printable: 1 after "=", 2 after "=" and a hex digit
  char qp_hex_ = 0;
  std::string qp_space_;  // quoted-printable: whitespace not yet known to be trailing
  bool invalid_flagged_ = false;
  size_t kept_ = 0;      // attachment bytes kept for this message
  std::string scratch_;  // decoded bytes of the current piece
};

void MimeReader::segment(Transaction& tx, std::string_view content, bool first, bool last,
                         std::string_view eol) {
  if (first && last && !levels_.empty() && boundary_line(tx, content)) return;
  switch (mode_) {
    case Mode::kHeaders:
      header_piece(tx, content, first, last);
      break;
    case Mode::kBody:
      body_piece(tx, content, first, last, eol);
      break;
    case Mode::kSkip:
      break;
  }
}

// RFC 2046 §5.1.1: "--boundary" starts the next part, "--boundary--" closes the multipart; either
// may be followed by whitespace. An outer boundary also closes the parts nested inside.
bool MimeReader::boundary_line(Transaction& tx, std::string_view line) {
  while (!line.empty() && is_wsp(line.back())) line.remove_suffix(1);
  for (size_t i = levels_.size(); i-- > 0;) {
    const std::string& d = levels_[i].delimiter;
    if (!line.starts_with(d)) continue;
    const std::string_view rest = line.substr(d.size());
    if (!rest.empty() && rest != "--") continue;
    if (mode_ == Mode::kHeaders) flush_field(tx);
    end_part(tx, true);
    nested_ = levels_[i].nested;
    if (rest.empty()) {
      levels_.resize(i + 1);
      part_ = Part();
      field_.clear();
      mode_ = Mode::kHeaders;
    } else {
      levels_.resize(i);
      mode_ = Mode::kSkip;  // the parent's epilogue, up to its own boundary
    }
    top_level_ = false;
    return true;
  }
  return false;
}

void MimeReader::header_piece(Transaction& tx, std::string_view content, bool first, bool last) {
  if (first) {
    if (content.empty() && last) {  // the empty line ends the block
      flush_field(tx);
      end_headers(tx);
      return;
    }
    // RFC 5322 §2.2.3: a line starting with whitespace continues the field (unfolding drops
    // only the line break).
    if (!content.empty() && !is_wsp(content.front())) flush_field(tx);
  }
  const size_t room =
      limits_.header_limit > field_.size() ? limits_.header_limit - field_.size() : 0;
  field_.append(content.substr(0, room));
  if (content.size() > room) field_over_ = true;
}

void MimeReader::flush_field(Transaction& tx) {
  if (field_over_ && !header_limited_) {
    header_limited_ = true;
    flag(tx, Anomaly::kHeaderLimit);
  }
  field_over_ = false;
  const size_t colon = field_.find(':');
  if (field_.empty() || colon == std::string::npos) {  // not a field: ignored
    field_.clear();
    return;
  }
  const std::string_view name = trim(std::string_view(field_).substr(0, colon));
  const std::string_view value = trim(std::string_view(field_).substr(colon + 1));
  if (!name.empty() && top_level_) {
    if (tx.headers.size() < kMaxFields &&
        header_bytes_ + name.size() + value.size() <= limits_.header_limit) {
      tx.headers.push_back({std::string(name), std::string(value)});
      header_bytes_ += name.size() + value.size();
    } else if (!header_limited_) {
      header_limited_ = true;
      flag(tx, Anomaly::kHeaderLimit);
    }
  }
  if (iequals(name, "Content-Type")) {
    part_.type = lower(trim(value.substr(0, value.find(';'))));
    part_.boundary = header_param(value, "boundary").value_or("");
    part_.name = header_param(value, "name").value_or("");
  } else if (iequals(name, "Content-Disposition")) {
    part_.filename = header_param(value, "filename").value_or("");
  } else if (iequals(name, "Content-Transfer-Encoding")) {
    part_.encoding = lower(value);
  }
  field_.clear();
}

void MimeReader::end_headers(Transaction& tx) {
  top_level_ = false;
  std::string_view file_name = !part_.filename.empty() ? part_.filename : part_.name;
  const bool multipart = part_.type.starts_with("multipart/") && !part_.boundary.empty();
  const bool encapsulated = part_.type == "message/rfc822" && file_name.empty();
  if ((multipart || encapsulated) && depth() >= limits_.max_mime_depth) {
    flag(tx, Anomaly::kMimeDepth);
    start_leaf(tx, file_name);  // read as plain content
    return;
  }
  if (multipart) {
    levels_.push_back({"--" + part_.boundary.substr(0, kMaxBoundary), nested_});
    mode_ = Mode::kSkip;  // the preamble, up to the first boundary
    return;
  }
  if (encapsulated) {  // RFC 2046 §5.2.1: the body is a message: header fields first
    ++nested_;
    part_ = Part();
    mode_ = Mode::kHeaders;
    return;
  }
  start_leaf(tx, file_name);
}

void MimeReader::start_leaf(Transaction& tx, std::string_view file_name) {
  mode_ = Mode::kBody;
  coding_ = part_.encoding == "base64"             ? Coding::kBase64
            : part_.encoding == "quoted-printable" ? Coding::kQuotedPrintable
                                                   : Coding::kIdentity;
  pending_eol_ = {};
  quad_ = 0;
  quad_len_ = 0;
  qp_eq_ = 0;
  qp_space_.clear();
  invalid_flagged_ = false;
  attachment_ = -1;
  if (file_name.empty()) return;
  if (tx.attachments.size() >= limits_.max_attachments) {
    flag(tx, Anomaly::kTooManyAttachments);
    return;
  }
  Attachment& a = tx.attachments.emplace_back();
  a.file_name.assign(file_name.substr(0, kMaxFileName));
  a.content_type = part_.type;
  a.encoding = part_.encoding;
  attachment_ = static_cast<int>(tx.attachments.size() - 1);
  counters_.inc(SC::kAttachments);
}

void MimeReader::end_part(Transaction& tx, bool complete) {
  if (mode_ != Mode::kBody || attachment_ < 0) {
    attachment_ = -1;
    return;
  }
  if (coding_ == Coding::kBase64) base64_end(tx);
  if (coding_ == Coding::kQuotedPrintable && qp_eq_ > 0) {
    scratch_.assign(1, '=');
    if (qp_eq_ == 2) scratch_.push_back(qp_hex_);
    emit(tx, scratch_);
    qp_eq_ = 0;
  }
  // The line end before a boundary belongs to the boundary (RFC 2046 §5.1.1): pending_eol_ is
  // dropped.
  tx.attachments[attachment_].complete = complete;
  attachment_ = -1;
}

void MimeReader::body_piece(Transaction& tx, std::string_view content, bool first, bool last,
                            std::string_view eol) {
  if (attachment_ < 0) return;  // not a file for Suricata: not kept
  if (first && !pending_eol_.empty()) {
    emit(tx, pending_eol_);
    pending_eol_ = {};
  }
  switch (coding_) {
    case Coding::kBase64:
      base64(tx, content);
      break;
    case Coding::kQuotedPrintable:
      quoted_printable(tx, content);
      if (last) quoted_printable_line_end(tx);
      break;
    case Coding::kIdentity:
      emit(tx, content);
      if (last) pending_eol_ = eol;
      break;
  }
}

// RFC 2045 §6.8: 4 characters give 3 bytes; "=" pads the last group; line breaks and other
// characters outside the alphabet are ignored (the latter flagged).
void MimeReader::base64(Transaction& tx, std::string_view content) {
  scratch_.clear();
  for (const char ch : content) {
    const auto c = static_cast<uint8_t>(ch);
    const int8_t v = base64_value(c);
    if (v >= 0) {
      quad_ = quad_ << 6 | static_cast<uint32_t>(v);
      if (++quad_len_ == 4) {
        scratch_.push_back(static_cast<char>(quad_ >> 16));
        scratch_.push_back(static_cast<char>(quad_ >> 8));
        scratch_.push_back(static_cast<char>(quad_));
        quad_ = 0;
        quad_len_ = 0;
      }
    } else if (c == '=') {
      if (quad_len_ >= 2) {
        const uint32_t bits = quad_ << (6 * (4 - quad_len_));
        scratch_.push_back(static_cast<char>(bits >> 16));
        if (quad_len_ == 3) scratch_.push_back(static_cast<char>(bits >> 8));
      }
      quad_ = 0;
      quad_len_ = 0;
    } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && !invalid_flagged_) {
      invalid_flagged_ = true;
      flag(tx, Anomaly::kInvalidBase64);
    }
  }
  emit(tx, scratch_);
}

// Unpadded last group: its whole bytes are kept.
void MimeReader::base64_end(Transaction& tx) {
  if (quad_len_ >= 2) {
    const uint32_t bits = quad_ << (6 * (4 - quad_len_));
    scratch_.assign(1, static_cast<char>(bits >> 16));
    if (quad_len_ == 3) scratch_.push_back(static_cast<char>(bits >> 8));
    emit(tx, scratch_);
  }
  quad_ = 0;
  quad_len_ = 0;
}

// RFC 2045 §6.7: "=XX" is a byte, "=" at the end of a line a soft line break, trailing whitespace
// was added in transport and is removed; anything else stands for itself.
void MimeReader::quoted_printable(Transaction& tx, std::string_view content) {
  scratch_.clear();
  auto invalid = [&] {
    if (!invalid_flagged_) {
      invalid_flagged_ = true;
      flag(tx, Anomaly::kInvalidQuotedPrintable);
    }
  };
  for (size_t i = 0; i < content.size();) {
    const char c = content[i];
    if (qp_eq_ == 1) {
      if (hex_value(c) >= 0 && qp_space_.empty()) {
        qp_eq_ = 2;
        qp_hex_ = c;
        ++i;
        continue;
      }
      if (is_wsp(c)) {  // "=" then whitespace: a soft break if the line ends here
        if (qp_space_.size() < kMaxQpWhitespace) qp_space_.push_back(c);
        ++i;
        continue;
      }
      invalid();
      scratch_.push_back('=');
      scratch_.append(qp_space_);
      qp_space_.clear();
      qp_eq_ = 0;
      continue;  // c again, as itself
    }
    if (qp_eq_ == 2) {
      qp_eq_ = 0;
      if (hex_value(c) >= 0) {
        scratch_.push_back(static_cast<char>(hex_value(qp_hex_) << 4 | hex_value(c)));
        ++i;
        continue;
      }
      invalid();
      scratch_.push_back('=');
      scratch_.push_back(qp_hex_);
      continue;
    }
    if (c == '=') {
      scratch_.append(qp_space_);
      qp_space_.clear();
      qp_eq_ = 1;
    } else if (is_wsp(c)) {
      if (qp_space_.size() >= kMaxQpWhitespace) {
        scratch_.append(qp_space_);
        qp_space_.clear();
      }
      qp_space_.push_back(c);
    } else {
      scratch_.append(qp_space_);
      qp_space_.clear();
      scratch_.push_back(c);
    }
    ++i;
  }
  emit(tx, scratch_);
}

void MimeReader::quoted_printable_line_end(Transaction& tx) {
  qp_space_.clear();  // trailing whitespace
  if (qp_eq_ == 1) {  // soft line break: the lines join
    qp_eq_ = 0;
    return;
  }
  if (qp_eq_ == 2) {
    if (!invalid_flagged_) {
      invalid_flagged_ = true;
      flag(tx, Anomaly::kInvalidQuotedPrintable);
    }
    scratch_.assign(1, '=');
    scratch_.push_back(qp_hex_);
    emit(tx, scratch_);
    qp_eq_ = 0;
  }
  pending_eol_ = "\r\n";  // a hard line break is a CRLF in the canonical form
}

void MimeReader::emit(Transaction& tx, std::string_view bytes) {
  if (bytes.empty() || attachment_ < 0) return;
  Attachment& a = tx.attachments[attachment_];
  a.size += bytes.size();
  const size_t own =
      limits_.attachment_limit > a.content.size() ? limits_.attachment_limit - a.content.size() : 0;
  const size_t total =
      limits_.attachments_total_limit > kept_ ? limits_.attachments_total_limit - kept_ : 0;
  const size_t keep = std::min({bytes.size(), own, total});
  a.content.append(bytes.substr(0, keep));
  kept_ += keep;
  counters_.inc(SC::kAttachmentBytes, keep);
  if (keep < bytes.size() && !a.truncated) {
    a.truncated = true;
    flag(tx, Anomaly::kAttachmentLimit);
  }
}

void MimeReader::finish(Transaction& tx, bool complete) {
  if (mode_ == Mode::kHeaders) flush_field(tx);
  end_part(tx, complete);
  mode_ = Mode::kSkip;
}

size_t MimeReader::memory_bytes() const {
  size_t n = sizeof *this + field_.capacity() + scratch_.capacity() + qp_space_.capacity() +
             part_.type.capacity() + part_.boundary.capacity() + part_.name.capacity() +
             part_.filename.capacity() + part_.encoding.capacity() +
             levels_.capacity() * sizeof(Level);
  for (const Level& l : levels_) n += l.delimiter.capacity();
  return n;
}

// ---- SMTP -------------------------------------------------------------------------------------

std::string_view anomaly_name(Anomaly a) {
  return a < Anomaly::kCount ? kAnomalyNames[static_cast<size_t>(a)] : std::string_view{};
}

const core::CounterGroup& smtp_counter_group() { return kCounterGroup; }

const Header* Transaction::find_header(std::string_view name) const {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return &h;
  }
  return nullptr;
}

ProbeResult probe_smtp(std::span<const uint8_t> first_bytes) {
  const std::string_view s(reinterpret_cast<const char*>(first_bytes.data()), first_bytes.size());
  constexpr std::string_view kGreeting = "220";
  if (s.size() <= kGreeting.size() && kGreeting.starts_with(s)) return {Probe::kNeedMore, {}};
  if (s.starts_with(kGreeting) && (s[3] == ' ' || s[3] == '-')) {
    // RFC 5321 §4.3.1: the server speaks first with 220. Its words may name the protocol.
    const size_t lf = s.find('\n');
    if (lf == std::string_view::npos && s.size() < kProbeLine) {
      return {Probe::kNeedMore, Side::kServer};
    }
    const TextProtocol named = protocol_named_by_greeting(s.substr(0, std::min(lf, kProbeLine)));
    return {named == TextProtocol::kFtp ? Probe::kNo : Probe::kYes, Side::kServer};
  }
  if (protocol_of_first_command(s) == TextProtocol::kSmtp) return {Probe::kYes, Side::kClient};
  if (!detail::first_word(s)) {
    for (const std::string_view verb : {"EHLO", "HELO"}) {
      if (s.size() < verb.size() && detail::equals_nocase(s, verb.substr(0, s.size()))) {
        return {Probe::kNeedMore, Side::kClient};
      }
    }
  }
  return {Probe::kNo, std::nullopt};
}

Parser::Parser(const Limits& limits, Observer& observer, core::Counters<SmtpCounter>& counters)
    : limits_(limits), observer_(observer), counters_(counters) {}

Parser::~Parser() = default;

void Parser::flag(Anomaly a) { count(counters_, tx_ ? &*tx_ : nullptr, a); }

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
  if (server_.line.empty() && server_.line.capacity() > kKeptLineCapacity) release(server_.line);
  return data.size();
}

void Parser::feed_client(const uint8_t* p, const uint8_t* end) {
  std::string work;  // held bytes released by an overflow, then the rest of the input
  while (p < end && !stopped_ && !tls_) {
    if (awaiting_) {
      const size_t n = end - p;
      const size_t room =
          limits_.max_held_bytes > held_.size() ? limits_.max_held_bytes - held_.size() : 0;
      if (n <= room) {
        held_.append(reinterpret_cast<const char*>(p), n);
        return;
      }
      // The answer is late or lost: DATA's is taken to be 354, AUTH's a refusal; STARTTLS's
      // cannot be guessed (TLS or commands), so parsing stops.
      const Pending kind = *awaiting_;
      if (kind == Pending::kStartTls) {
        flag(Anomaly::kHeldDataDropped);
        release(held_);
        stopped_ = true;
        return;
      }
      for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
        if (it->kind == kind) {  // the awaited command is the newest of its kind
          it->resolved = true;
          break;
        }
      }
      awaiting_.reset();
      if (kind == Pending::kData) {
        flag(Anomaly::kReplyAssumed);
        start_message();
      }
      std::string next = held_;
      next.append(reinterpret_cast<const char*>(p), n);
      release(held_);
      work.swap(next);
      p = reinterpret_cast<const uint8_t*>(work.data());
      end = p + work.size();
      continue;
    }
    if (mode_ != Mode::kCommand) {
      message_bytes(p, end);
      continue;
    }
    if (!client_.take(p, end, limits_.max_line_length)) break;
    const std::string_view line = strip_cr(client_.line);
    if (auth_line_next_) {
      // RFC 4954 §4: the client answers a 334 challenge with one line; the server answers it.
      auth_line_next_ = false;
      expect(Pending::kAuth);
      awaiting_ = Pending::kAuth;
    } else {
      command(line, client_.line_over);
    }
    client_.line.clear();
    client_.line_over = false;
  }
  if (client_.line.empty() && client_.line.capacity() > kKeptLineCapacity) release(client_.line);
}

void Parser::expect(Pending kind) {
  const size_t cap = std::max(limits_.max_pending_commands, kMinPending);
  if (pending_.size() >= cap) {
    pending_.pop_front();
    flag(Anomaly::kTooManyPendingCommands);
  }
  pending_.push_back({kind, false});
}

Transaction& Parser::mail() {
  if (!tx_) {
    tx_.emplace();
    tx_->id = next_id_++;
    tx_->helo = helo_;
    counters_.inc(SC::kTransactions);
  }
  return *tx_;
}

void Parser::finish_mail() {
  if (!tx_) return;
  if (mime_) {
    mime_->finish(*tx_, false);
    mime_.reset();
  }
  observer_.on_smtp(Event::kMailComplete, &*tx_);
  tx_.reset();
  release(piece_);
  piece_first_ = true;
}

void Parser::command(std::string_view line, bool over) {
  while (!line.empty() && is_wsp(line.front())) line.remove_prefix(1);
  if (line.empty()) return;
  const size_t sp = std::min(line.find(' '), line.size());
  const std::string_view verb = line.substr(0, sp);
  const bool valid = verb.size() <= kMaxVerb && is_alpha(verb[0]) &&
                     std::all_of(verb.begin(), verb.end(),
                                 [](char c) { return is_alpha(c) || is_digit(c) || c == '-'; });
  if (!valid) {
    flag(Anomaly::kInvalidCommand);
    return;
  }
  counters_.inc(SC::kCommands);
  if (over) flag(Anomaly::kLineTooLong);
  const std::string v = upper(verb);
  const std::string_view arg = sp < line.size() ? line.substr(sp + 1) : std::string_view{};
  if (v == "HELO" || v == "EHLO") {
    if (helo_.empty()) helo_ = trim(arg);  // Suricata: the first HELO/EHLO's argument
    expect(Pending::kOther);
  } else if (v == "MAIL") {
    finish_mail();  // RFC 5321 §4.1.1.2: MAIL begins a new mail transaction
    mail().mail_from = after_prefix(arg, "FROM:");
    expect(Pending::kOther);
  } else if (v == "RCPT") {
    Transaction& tx = mail();
    if (tx.rcpt_to.size() < limits_.max_recipients) {
      tx.rcpt_to.emplace_back(after_prefix(arg, "TO:"));
    } else if (!(tx.anomalies & bit(Anomaly::kTooManyRecipients))) {
      flag(Anomaly::kTooManyRecipients);
    }
    expect(Pending::kOther);
  } else if (v == "DATA") {
    mail();
    expect(Pending::kData);
    awaiting_ = Pending::kData;  // RFC 5321 §4.1.1.4: the message follows only a 354
  } else if (v == "BDAT") {
    // RFC 3030 §2: "BDAT" SP chunk-size [SP "LAST"]; the chunk follows at once, unanswered.
    std::string_view rest = trim(arg);
    size_t digits = 0;
    uint64_t size = 0;
    while (digits < rest.size() && is_digit(rest[digits]) && digits < kMaxBdatDigits) {
      size = size * 10 + static_cast<uint64_t>(rest[digits++] - '0');
    }
    rest.remove_prefix(digits);
    const std::string_view tail = trim(rest);
    const bool last = iequals(tail, "LAST");
    if (digits == 0 || (!tail.empty() && !last) || (!rest.empty() && !is_wsp(rest.front()))) {
      flag(Anomaly::kInvalidBdat);
      expect(Pending::kOther);
      return;
    }
    Transaction& tx = mail();
    if (!tx.has_message) start_message();
    mode_ = Mode::kBdat;
    bdat_remaining_ = size;
    bdat_last_ = last;
    expect(Pending::kBdat);
    if (size == 0) bdat_chunk_done();
  } else if (v == "STARTTLS") {
    expect(Pending::kStartTls);
    awaiting_ = Pending::kStartTls;  // RFC 3207 §4: TLS starts after the 220
  } else if (v == "AUTH") {
    expect(Pending::kAuth);
    awaiting_ = Pending::kAuth;  // RFC 4954 §4: a 334 asks for a line of authentication data
  } else if (v == "RSET" || v == "QUIT") {
    finish_mail();
    expect(Pending::kOther);
  } else {
    expect(Pending::kOther);
  }
}

void Parser::start_message() {
  Transaction& tx = mail();
  tx.has_message = true;
  mime_ = std::make_unique<MimeReader>(limits_, counters_);
  piece_.clear();
  piece_first_ = true;
  mode_ = Mode::kData;
}

void Parser::end_message(bool complete) {
  if (tx_) {
    if (mime_) {
      mime_->finish(*tx_, complete);
      mime_.reset();
    }
    tx_->message_complete = complete;
    if (complete) counters_.inc(SC::kMessages);
  }
  mode_ = Mode::kCommand;
  finish_mail();
}

// The message, DATA's up to the "." line, BDAT's up to the chunk's end, cut into pieces of at
// most max_line_length bytes: a line's pieces end where the line ends or where it is that long,
// whatever way the bytes came, so the MIME reader sees the same pieces for any split.
void Parser::message_bytes(const uint8_t*& p, const uint8_t* end) {
  const size_t cap = std::max<size_t>(limits_.max_line_length, kMinPiece);
  const uint8_t* limit = end;
  if (mode_ == Mode::kBdat) limit = p + std::min<uint64_t>(bdat_remaining_, end - p);
  const uint8_t* start = p;
  while (p < limit && mode_ != Mode::kCommand) {
    if (client_.skip_line) {  // after a gap: up to the next line
      const auto* lf = static_cast<const uint8_t*>(std::memchr(p, '\n', limit - p));
      if (lf == nullptr) {
        p = limit;
        break;
      }
      p = lf + 1;
      client_.skip_line = false;
      piece_.clear();
      piece_first_ = true;
      continue;
    }
    if (piece_.size() >= cap && *p != '\n') {  // more of a long line follows
      segment(piece_, piece_first_, false, {});
      piece_.clear();
      piece_first_ = false;
    }
    const auto* lf = static_cast<const uint8_t*>(std::memchr(p, '\n', limit - p));
    const uint8_t* stop_at = lf != nullptr ? lf : limit;
    const size_t take = std::min<size_t>(stop_at - p, cap - piece_.size());
    piece_.append(reinterpret_cast<const char*>(p), take);
    p += take;
    if (lf == nullptr || p != lf) continue;
    ++p;
    std::string_view content = piece_;
    std::string_view eol = "\n";
    if (!content.empty() && content.back() == '\r') {
      content.remove_suffix(1);
      eol = "\r\n";
    }
    const bool first = piece_first_;
    piece_first_ = true;
    if (mode_ == Mode::kData && first && content == ".") {  // RFC 5321 §4.1.1.4
      piece_.clear();
      expect(Pending::kDataEnd);
      end_message(true);
      break;
    }
    segment(content, first, true, eol);
    piece_.clear();
  }
  if (mode_ == Mode::kBdat) {
    bdat_remaining_ -= static_cast<uint64_t>(p - start);
    if (bdat_remaining_ == 0) bdat_chunk_done();
  }
}

void Parser::bdat_chunk_done() {
  mode_ = Mode::kCommand;
  if (!bdat_last_) return;  // the message goes on in the next chunk
  flush_piece();
  end_message(true);
}

// The message stops inside a line (BDAT's end, a gap, the flow end): what came of it is a line.
void Parser::flush_piece() {
  if (!piece_.empty() || !piece_first_) segment(piece_, piece_first_, true, {});
  piece_.clear();
  piece_first_ = true;
}

void Parser::segment(std::string_view content, bool first, bool last, std::string_view eol) {
  if (!tx_) return;
  // RFC 5321 §4.5.2: a line starting with "." had one added by the sender.
  if (mode_ == Mode::kData && first && !content.empty() && content.front() == '.') {
    content.remove_prefix(1);
  }
  Transaction& tx = *tx_;
  tx.message_bytes += content.size() + eol.size();
  if (tx.raw_message.size() < limits_.raw_message_limit) {
    const size_t room = limits_.raw_message_limit - tx.raw_message.size();
    tx.raw_message.append(content.substr(0, room));
    if (content.size() < room) tx.raw_message.append(eol.substr(0, room - content.size()));
  }
  if (mime_) mime_->segment(tx, content, first, last, eol);
}

void Parser::server_line(std::string_view line, bool over, bool& handed_over) {
  // RFC 5321 §4.2: three digits, then SP (last line), "-" (more follow), or nothing.
  const bool valid = line.size() >= 3 && line[0] >= '2' && line[0] <= '5' && is_digit(line[1]) &&
                     is_digit(line[2]) && (line.size() == 3 || line[3] == ' ' || line[3] == '-');
  if (!valid) {
    flag(Anomaly::kInvalidReply);
    return;
  }
  if (over) flag(Anomaly::kLineTooLong);
  if (line.size() > 3 && line[3] == '-') return;  // the reply ends at its last line
  counters_.inc(SC::kReplies);
  reply((line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'), handed_over);
}

void Parser::reply(int code, bool& handed_over) {
  // The greeting (RFC 5321 §3.1: 220, or 554 for a refusal) answers no command, even when the
  // client's first command was parsed before it.
  const bool greeting =
      !greeted_ && (pending_.empty() || (code == 220 && pending_.front().kind == Pending::kOther));
  greeted_ = true;
  if (greeting) return;
  if (pending_.empty()) {
    flag(Anomaly::kReplyWithoutCommand);
    return;
  }
  const Waiting w = pending_.front();
  pending_.pop_front();
  if (w.resolved || !awaiting_ || *awaiting_ != w.kind) return;
  awaiting_.reset();
  switch (w.kind) {
    case Pending::kData:
      if (code == 354) start_message();
      break;
    case Pending::kStartTls:
      if (code == 220) {
        tls_ = true;
        handed_over = true;
        counters_.inc(SC::kStartTls);
        observer_.on_smtp(Event::kStartTls, nullptr);
        return;  // held_ is the start of the client's TLS stream
      }
      break;
    case Pending::kAuth:
      if (code == 334) auth_line_next_ = true;
      break;
    default:
      break;
  }
  resume_client();
}

// The answer came: the client bytes held meanwhile are parsed for what they are.
void Parser::resume_client() {
  std::string held;
  held.swap(held_);
  const auto* p = reinterpret_cast<const uint8_t*>(held.data());
  feed_client(p, p + held.size());
}

void Parser::on_gap(Side side) {
  if (tls_ || stopped_ || ended_) return;
  counters_.inc(SC::kGaps);
  if (side == Side::kServer) {
    server_.line.clear();
    server_.line_over = false;
    server_.skip_line = true;
    pending_.clear();  // their answers may be among the lost bytes
    if (!awaiting_) return;
    const Pending kind = *awaiting_;
    if (kind == Pending::kStartTls) {
      flag(Anomaly::kGap);
      release(held_);
      stopped_ = true;
      return;
    }
    awaiting_.reset();
    if (kind == Pending::kData) {
      flag(Anomaly::kReplyAssumed);
      start_message();
    }
    resume_client();
    return;
  }
  flag(Anomaly::kGap);
  if (awaiting_) {
    if (*awaiting_ == Pending::kStartTls) {
      release(held_);
      stopped_ = true;
      return;
    }
    held_.clear();  // what follows does not continue the held bytes
    client_.skip_line = true;
    return;
  }
  client_.line.clear();
  client_.line_over = false;
  client_.skip_line = true;
  if (mode_ == Mode::kData && tx_) {
    // The message goes on to its "." line, but its MIME structure is lost.
    flush_piece();
    tx_->truncated = true;
    if (mime_) {
      mime_->finish(*tx_, false);
      mime_.reset();
    }
  } else if (mode_ == Mode::kBdat && tx_) {
    flush_piece();
    tx_->truncated = true;  // the chunk's end is lost with the bytes
    end_message(false);
  }
}

void Parser::on_end() {
  if (ended_) return;
  ended_ = true;
  if (tx_) {
    if (mode_ != Mode::kCommand || (mime_ && !tx_->message_complete)) {
      flush_piece();
      tx_->truncated = true;
      flag(Anomaly::kTruncated);
      end_message(false);
    } else {
      finish_mail();
    }
  }
  mode_ = Mode::kCommand;
  awaiting_.reset();
  pending_.clear();
  pending_.shrink_to_fit();
  release_buffers();
}

void Parser::release_buffers() {
  for (Stream* s : {&client_, &server_}) {
    release(s->line);
    *s = Stream();
  }
  release(held_);
  release(piece_);
  mime_.reset();
}

size_t Parser::memory_bytes() const {
  size_t n = sizeof *this + helo_.capacity() + client_.line.capacity() + server_.line.capacity() +
             held_.capacity() + piece_.capacity() + pending_.size() * sizeof(Waiting);
  if (tx_) n += transaction_bytes(*tx_);
  if (mime_) n += mime_->memory_bytes();
  return n;
}

}  // namespace spanguard::applayer::smtp
