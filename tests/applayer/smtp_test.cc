// SMTP parser: envelope and pipelining, DATA dot-unstuffing and BDAT chunks, the message's header
// fields, MIME attachments decoded from base64 and quoted-printable, limits, the STARTTLS
// hand-over offset, gaps and anomalies, and that every split of the bytes gives the same mails.
#include "spanguard/applayer/smtp.h"

#include <gtest/gtest.h>

#include <sstream>
#include <vector>

namespace spanguard::applayer::smtp {
namespace {

using Bytes = std::span<const uint8_t>;
Bytes bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

std::string describe(const Transaction& tx) {
  std::ostringstream o;
  o << "tx " << tx.id << " helo=[" << tx.helo << "] from=[" << tx.mail_from
    << "] msg=" << tx.has_message << tx.message_complete << " bytes=" << tx.message_bytes
    << " trunc=" << tx.truncated << " anomalies=" << tx.anomalies << " raw=[" << tx.raw_message
    << "]";
  for (const std::string& r : tx.rcpt_to) o << " rcpt=[" << r << "]";
  for (const Header& h : tx.headers) o << " {" << h.name << ": " << h.value << "}";
  for (const Attachment& a : tx.attachments) {
    o << " att(" << a.file_name << "," << a.content_type << "," << a.encoding << "," << a.size
      << "," << a.truncated << a.complete << ",[" << a.content << "])";
  }
  return o.str();
}

class Recorder : public Observer {
 public:
  void on_smtp(Event event, Transaction* tx) override {
    if (event == Event::kStartTls) {
      log.push_back("starttls");
      ++start_tls;
      return;
    }
    log.push_back(describe(*tx));
    mails.push_back(*tx);
  }
  std::vector<std::string> log;
  std::vector<Transaction> mails;
  int start_tls = 0;
};

struct Harness {
  explicit Harness(const Limits& limits = {})
      : counters(smtp_counter_group()), parser(limits, recorder, counters) {}
  size_t feed(Side side, std::string_view data) { return parser.parse(side, bytes(data)); }
  uint64_t count(SmtpCounter c) const { return counters.get(c); }
  const Transaction& mail(size_t i) const { return recorder.mails.at(i); }

  Recorder recorder;
  core::Counters<SmtpCounter> counters;
  Parser parser;
};

using Dialogue = std::vector<std::pair<Side, std::string>>;

std::vector<std::string> run(const Dialogue& d, size_t piece, const Limits& limits = {}) {
  Harness h(limits);
  for (const auto& [side, data] : d) {
    const std::string_view v = data;
    for (size_t at = 0; at < v.size(); at += piece) h.feed(side, v.substr(at, piece));
  }
  h.parser.on_end();
  return h.recorder.log;
}

// ---- messages built in the test --------------------------------------------------------------

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<uint8_t>(in[i + 1]) << 8;
    if (i + 2 < in.size()) v |= static_cast<uint8_t>(in[i + 2]);
    out.push_back(kAlphabet[v >> 18 & 63]);
    out.push_back(kAlphabet[v >> 12 & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[v >> 6 & 63] : '=');
    out.push_back(i + 2 < in.size() ? kAlphabet[v & 63] : '=');
  }
  return out;
}

// Base64 in lines of `width` characters, CRLF after each (RFC 2045 §6.8: at most 76).
std::string base64_lines(std::string_view in, size_t width = 76) {
  const std::string b = base64(in);
  std::string out;
  for (size_t i = 0; i < b.size(); i += width) out += b.substr(i, width) + "\r\n";
  return out;
}

std::string binary_payload(size_t n) {
  std::string s;
  uint32_t x = 99;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245 + 12345;
    s.push_back(static_cast<char>(x >> 16));
  }
  return s;
}

const std::string kPdf = std::string("%PDF-1.4\n\x00\x01\x02\xff binary", 20);

std::string mime_message() {
  return "From: Alice <alice@example.org>\r\n"
         "To: Bob <bob@example.net>,\r\n"
         " Carol <carol@example.net>\r\n"
         "Subject: report\r\n"
         "Message-ID: <1234@example.org>\r\n"
         "MIME-Version: 1.0\r\n"
         "Content-Type: multipart/mixed; boundary=\"==outer==\"\r\n"
         "\r\n"
         "This is the preamble.\r\n"
         "--==outer==\r\n"
         "Content-Type: text/plain; charset=utf-8\r\n"
         "\r\n"
         "Hello Bob, the report is attached.\r\n"
         "--==outer==\r\n"
         "Content-Type: application/pdf; name=\"ignored.pdf\"\r\n"
         "Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
         "Content-Transfer-Encoding: base64\r\n"
         "\r\n" +
         base64_lines(kPdf, 8) +
         "--==outer==\r\n"
         "Content-Type: text/plain; name=notes.txt\r\n"
         "Content-Transfer-Encoding: quoted-printable\r\n"
         "\r\n"
         "caf=C3=A9 =3D equals   \r\n"
         "soft=\r\n"
         " break\r\n"
         ".dot line\r\n"
         "--==outer==--\r\n"
         "epilogue\r\n";
}

// The message as sent in DATA: dot-stuffed (RFC 5321 §4.5.2) and terminated.
std::string dot_stuffed(std::string_view message) {
  std::string out;
  size_t at = 0;
  while (at < message.size()) {
    const size_t lf = message.find('\n', at);
    const size_t end = lf == std::string_view::npos ? message.size() : lf + 1;
    if (message[at] == '.') out.push_back('.');
    out.append(message.substr(at, end - at));
    at = end;
  }
  return out + ".\r\n";
}

Dialogue mail_session(const std::string& message) {
  return {
      {Side::kServer, "220 mx.example.net ESMTP ready\r\n"},
      {Side::kClient, "EHLO client.example.org\r\n"},
      {Side::kServer, "250-mx.example.net\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 CHUNKING\r\n"},
      {Side::kClient,
       "MAIL FROM:<alice@example.org> SIZE=1000\r\nRCPT TO:<bob@example.net>\r\n"
       "RCPT TO: <carol@example.net>\r\nDATA\r\n"},
      {Side::kServer, "250 ok\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n"},
      {Side::kClient, dot_stuffed(message)},
      {Side::kServer, "250 queued\r\n"},
      {Side::kClient, "QUIT\r\n"},
      {Side::kServer, "221 bye\r\n"},
  };
}

TEST(SmtpParser, ParsesEnvelopeHeadersAndAttachmentsOfAPipelinedMail) {
  Harness h;
  for (const auto& [side, data] : mail_session(mime_message())) {
    EXPECT_EQ(h.feed(side, data), data.size());
  }
  ASSERT_EQ(h.recorder.mails.size(), 1u);
  const Transaction& tx = h.mail(0);
  EXPECT_EQ(tx.helo, "client.example.org");
  EXPECT_EQ(tx.mail_from, "<alice@example.org> SIZE=1000");
  ASSERT_EQ(tx.rcpt_to.size(), 2u);
  EXPECT_EQ(tx.rcpt_to[0], "<bob@example.net>");
  EXPECT_EQ(tx.rcpt_to[1], "<carol@example.net>");
  EXPECT_TRUE(tx.has_message && tx.message_complete);
  EXPECT_FALSE(tx.truncated);
  EXPECT_EQ(tx.message_bytes, mime_message().size());
  EXPECT_EQ(tx.anomalies, 0u);
  ASSERT_NE(tx.find_header("subject"), nullptr);
  EXPECT_EQ(tx.find_header("subject")->value, "report");
  EXPECT_EQ(tx.find_header("To")->value, "Bob <bob@example.net>, Carol <carol@example.net>");
  EXPECT_EQ(tx.find_header("message-id")->value, "<1234@example.org>");
  EXPECT_EQ(tx.find_header("Content-Transfer-Encoding"), nullptr);  // a part's, not the mail's
  ASSERT_EQ(tx.attachments.size(), 2u);
  const Attachment& pdf = tx.attachments[0];
  EXPECT_EQ(pdf.file_name, "report.pdf");  // Content-Disposition's filename wins over name
  EXPECT_EQ(pdf.content_type, "application/pdf");
  EXPECT_EQ(pdf.encoding, "base64");
  EXPECT_EQ(pdf.content, kPdf);
  EXPECT_EQ(pdf.size, kPdf.size());
  EXPECT_TRUE(pdf.complete);
  const Attachment& notes = tx.attachments[1];
  EXPECT_EQ(notes.file_name, "notes.txt");  // Content-Type's name
  // "=C3=A9" and "=3D" decoded, trailing spaces dropped, the soft break joined, the dot
  // unstuffed, and the line end before the boundary left to the boundary.
  EXPECT_EQ(notes.content, "caf\xc3\xa9 = equals\r\nsoft break\r\n.dot line");
  EXPECT_EQ(h.count(SmtpCounter::kAttachments), 2u);
  EXPECT_EQ(h.count(SmtpCounter::kMessages), 1u);
  EXPECT_EQ(h.count(SmtpCounter::kReplies), 8u);  // the multi-line EHLO answer counts once
  EXPECT_EQ(h.count(SmtpCounter::kAnomalyReplyWithoutCommand), 0u);
}

TEST(SmtpParser, EverySplitOfTheSessionGivesTheSameMail) {
  const Dialogue d = mail_session(mime_message());
  const std::vector<std::string> whole = run(d, 1 << 20);
  ASSERT_EQ(whole.size(), 1u);
  for (size_t piece = 1; piece < 48; ++piece) ASSERT_EQ(run(d, piece), whole) << piece;
  Limits small;
  small.max_line_length = 64;  // message lines go to the MIME reader in several pieces
  const std::vector<std::string> pieces = run(d, 1 << 20, small);
  for (size_t piece = 1; piece < 48; ++piece) ASSERT_EQ(run(d, piece, small), pieces) << piece;
}

TEST(SmtpParser, EverySplitOfTheDataTerminatorEndsTheMessageAtTheSamePlace) {
  const std::string data = "Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n";
  for (size_t cut = 0; cut <= data.size(); ++cut) {
    Harness h;
    h.feed(Side::kServer, "220 hi\r\n");
    h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nDATA\r\n");
    h.feed(Side::kServer, "250 ok\r\n354 go\r\n");
    h.feed(Side::kClient, std::string_view(data).substr(0, cut));
    h.feed(Side::kClient, std::string_view(data).substr(cut));
    ASSERT_EQ(h.recorder.mails.size(), 1u) << cut;
    EXPECT_TRUE(h.mail(0).message_complete) << cut;
    EXPECT_EQ(h.mail(0).message_bytes, 20u) << cut;
    EXPECT_FALSE(h.parser.in_mail()) << cut;
    EXPECT_EQ(h.count(SmtpCounter::kCommands), 3u) << cut;  // QUIT parsed as a command
  }
}

TEST(SmtpParser, DotUnstuffingRemovesOneLeadingDot) {
  Limits limits;
  limits.raw_message_limit = 1024;
  Harness h(limits);
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nDATA\r\n");
  h.feed(Side::kServer, "250 ok\r\n354 go\r\n");
  h.feed(Side::kClient, "Subject: dots\r\n\r\n..\r\n...x\r\n. \r\n.\n");
  ASSERT_EQ(h.recorder.mails.size(), 1u);
  EXPECT_EQ(h.mail(0).raw_message, "Subject: dots\r\n\r\n.\r\n..x\r\n \r\n");
  EXPECT_TRUE(h.mail(0).message_complete);  // a lone LF after the dot ends it too
}

TEST(SmtpParser, RawMessageIsKeptOnlyUpToItsLimit) {
  Limits limits;
  limits.raw_message_limit = 10;
  Harness h(limits);
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nDATA\r\n");
  h.feed(Side::kServer, "250 ok\r\n354 go\r\n");
  h.feed(Side::kClient, "Subject: long subject\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(h.mail(0).raw_message, "Subject: l");
  EXPECT_EQ(h.mail(0).message_bytes, 31u);
  Harness off;  // Suricata's default: no raw extraction
  off.feed(Side::kClient, "MAIL FROM:<a@b>\r\nDATA\r\n");
  off.feed(Side::kServer, "250 ok\r\n354 go\r\n");
  off.feed(Side::kClient, "Subject: x\r\n\r\nbody\r\n.\r\n");
  EXPECT_TRUE(off.mail(0).raw_message.empty());
}

TEST(SmtpParser, NonMimeBodyIsNoAttachment) {
  Harness h;
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nDATA\r\n");
  h.feed(Side::kServer, "250 ok\r\n354 go\r\n");
  h.feed(Side::kClient, "Subject: plain\r\n\r\nJust text.\r\n.\r\n");
  ASSERT_EQ(h.recorder.mails.size(), 1u);
  EXPECT_TRUE(h.mail(0).attachments.empty());
  EXPECT_EQ(h.mail(0).find_header("Subject")->value, "plain");
}

TEST(SmtpParser, WholeMessageCanBeOneAttachment) {
  Harness h;
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nDATA\r\n");
  h.feed(Side::kServer, "250 ok\r\n354 go\r\n");
  h.feed(Side::kClient,
         "Content-Type: application/octet-stream\r\n"
         "Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.bin\r\n"
         "Content-Transfer-Encoding: BASE64\r\n\r\n" +
             base64_lines("payload bytes") + ".\r\n");
  ASSERT_EQ(h.mail(0).attachments.size(), 1u);
  EXPECT_EQ(h.mail(0).attachments[0].file_name, "r\xc3\xa9sum\xc3\xa9.bin");  // RFC 2231
  EXPECT_EQ(h.mail(0).attachments[0].content, "payload bytes");
  EXPECT_TRUE(h.mail(0).attachments[0].complete);
}

TEST(SmtpParser, NestedMultipartsAndEncapsulatedMessagesAreFollowed) {
  const std::string message =
      "Content-Type: multipart/mixed; boundary=A\r\n\r\n"
      "--A\r\n"
      "Content-Type: multipart/alternative; boundary=B\r\n\r\n"
      "--B\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
      "--B\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n"
      "--B--\r\n"
      "--A\r\n"
      "Content-Type: message/rfc822\r\n\r\n"
      "Subject: inner\r\n"
      "Content-Type: multipart/mixed; boundary=C\r\n\r\n"
      "--C\r\n"
      "Content-Disposition: attachment; filename=inner.txt\r\n\r\n"
      "inner content\r\n"
      "--C--\r\n"
      "--A\r\n"
      "Content-Disposition: attachment; filename=\"last.bin\"\r\n\r\n"
      "last\r\n"
      "--A--\r\n";
  Harness h;
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nDATA\r\n");
  h.feed(Side::kServer, "250 ok\r\n354 go\r\n");
  h.feed(Side::kClient, dot_stuffed(message));
  ASSERT_EQ(h.recorder.mails.size(), 1u);
  const Transaction& tx = h.mail(0);
  ASSERT_EQ(tx.attachments.size(), 2u);
  EXPECT_EQ(tx.attachments[0].file_name, "inner.txt");
  EXPECT_EQ(tx.attachments[0].content, "inner content");
  EXPECT_EQ(tx.attachments[1].file_name, "last.bin");
  EXPECT_EQ(tx.attachments[1].content, "last");
  EXPECT_EQ(tx.find_header("Subject"), nullptr);  // the encapsulated message's own
  EXPECT_EQ(tx.anomalies, 0u);
}

TEST(SmtpParser, MimeDeeperThanTheLimitIsReadAsPlainContent) {
  Limits limits;
  limits.max_mime_depth = 1;
  Harness h(limits);
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nDATA\r\n");
  h.feed(Side::kServer, "250 ok\r\n354 go\r\n");
  h.feed(Side::kClient,
         "Content-Type: multipart/mixed; boundary=A\r\n\r\n--A\r\n"
         "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
         "Content-Disposition: attachment; filename=x\r\n\r\nx\r\n--B--\r\n--A--\r\n.\r\n");
  EXPECT_TRUE(h.mail(0).attachments.empty());
  EXPECT_TRUE(h.mail(0).anomalies & bit(Anomaly::kMimeDepth));
}

TEST(SmtpParser, LongBase64LinesDecodeAcrossPieces) {
  const std::string payload = binary_payload(20000);
  Limits limits;
  limits.max_line_length = 100;
  Harness h(limits);
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nDATA\r\n");
  h.feed(Side::kServer, "250 ok\r\n354 go\r\n");
  h.feed(Side::kClient,
         "Content-Disposition: attachment; filename=big\r\n"
         "Content-Transfer-Encoding: base64\r\n\r\n" +
             base64(payload) + "\r\n.\r\n");
  ASSERT_EQ(h.mail(0).attachments.size(), 1u);
  EXPECT_EQ(h.mail(0).attachments[0].content, payload);
}

TEST(SmtpParser, AttachmentLimitsTruncateAndFlag) {
  Limits limits;
  limits.attachment_limit = 10;
  limits.attachments_total_limit = 15;
  limits.max_attachments = 2;
  Harness h(limits);
  std::string message = "Content-Type: multipart/mixed; boundary=z\r\n\r\n";
  for (const char* name : {"a", "b", "c"}) {
    message += std::string("--z\r\nContent-Disposition: attachment; filename=") + name +
               "\r\n\r\n0123456789abcdef\r\n";
  }
  message += "--z--\r\n";
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nDATA\r\n");
  h.feed(Side::kServer, "250 ok\r\n354 go\r\n");
  h.feed(Side::kClient, dot_stuffed(message));
  const Transaction& tx = h.mail(0);
  ASSERT_EQ(tx.attachments.size(), 2u);
  EXPECT_EQ(tx.attachments[0].content, "0123456789");
  EXPECT_EQ(tx.attachments[0].size, 16u);
  EXPECT_TRUE(tx.attachments[0].truncated);
  EXPECT_EQ(tx.attachments[1].content, "01234");  // the mail's total limit
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kAttachmentLimit));
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kTooManyAttachments));
  EXPECT_EQ(h.count(SmtpCounter::kAttachmentBytes), 15u);
}

TEST(SmtpParser, InvalidEncodingsAreFlaggedAndDecodedLeniently) {
  Harness h;
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nDATA\r\n");
  h.feed(Side::kServer, "250 ok\r\n354 go\r\n");
  h.feed(Side::kClient,
         "Content-Type: multipart/mixed; boundary=z\r\n\r\n"
         "--z\r\nContent-Disposition: attachment; filename=a\r\n"
         "Content-Transfer-Encoding: base64\r\n\r\naGVs*bG8\r\n"
         "--z\r\nContent-Disposition: attachment; filename=b\r\n"
         "Content-Transfer-Encoding: quoted-printable\r\n\r\nbad =ZZ and =4\r\n"
         "--z--\r\n.\r\n");
  const Transaction& tx = h.mail(0);
  ASSERT_EQ(tx.attachments.size(), 2u);
  EXPECT_EQ(tx.attachments[0].content, "hello");
  EXPECT_EQ(tx.attachments[1].content, "bad =ZZ and =4");
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kInvalidBase64));
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kInvalidQuotedPrintable));
}

TEST(SmtpParser, BdatChunksFormTheMessageWithoutDotUnstuffing) {
  const std::string message =
      "Content-Disposition: attachment; filename=f.txt\r\n\r\n..dots stay\r\nend";
  const std::string first = message.substr(0, 30), second = message.substr(30);
  const std::string client = "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT " +
                             std::to_string(first.size()) + "\r\n" + first + "BDAT " +
                             std::to_string(second.size()) + " LAST\r\n" + second + "QUIT\r\n";
  for (size_t cut = 0; cut <= client.size(); ++cut) {
    Harness h;
    h.feed(Side::kClient, std::string_view(client).substr(0, cut));
    h.feed(Side::kClient, std::string_view(client).substr(cut));
    ASSERT_EQ(h.recorder.mails.size(), 1u) << cut;
    const Transaction& tx = h.mail(0);
    EXPECT_TRUE(tx.message_complete);
    EXPECT_EQ(tx.message_bytes, message.size());
    ASSERT_EQ(tx.attachments.size(), 1u);
    EXPECT_EQ(tx.attachments[0].content, "..dots stay\r\nend");
    EXPECT_EQ(h.count(SmtpCounter::kCommands), 5u) << cut;
  }
}

TEST(SmtpParser, BdatWithoutSizeIsInvalid) {
  Harness h;
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nBDAT LAST\r\nBDAT 12x\r\n");
  EXPECT_EQ(h.count(SmtpCounter::kAnomalyInvalidBdat), 2u);
}

TEST(SmtpParser, StartTlsHandsOverRightAfterThe220Line) {
  const std::string client_hello("\x16\x03\x01\x00\x05hello", 10);
  const std::string reply = "220 2.0.0 Ready to start TLS\r\n";
  const std::string server = reply + std::string("\x16\x03\x03\x00\x02hi", 7);
  for (size_t cut = 0; cut <= server.size(); ++cut) {
    Harness h;
    h.feed(Side::kServer, "220 mx ESMTP\r\n");
    h.feed(Side::kClient, "EHLO c\r\n");
    h.feed(Side::kServer, "250-mx\r\n250 STARTTLS\r\n");
    const std::string starttls = "STARTTLS\r\n" + client_hello;
    EXPECT_EQ(h.feed(Side::kClient, starttls), starttls.size());
    const size_t first = h.feed(Side::kServer, std::string_view(server).substr(0, cut));
    const size_t second = h.feed(Side::kServer, std::string_view(server).substr(cut));
    if (cut < reply.size()) {
      EXPECT_EQ(first, cut) << cut;
      EXPECT_EQ(second, reply.size() - cut) << cut;
    } else {
      EXPECT_EQ(first, reply.size()) << cut;
      EXPECT_EQ(second, 0u) << cut;
    }
    EXPECT_TRUE(h.parser.tls());
    EXPECT_EQ(h.recorder.start_tls, 1);
    EXPECT_EQ(h.parser.held_client_tls(), client_hello);
    EXPECT_EQ(h.feed(Side::kClient, "x"), 0u);
    EXPECT_EQ(h.feed(Side::kServer, "x"), 0u);
  }
}

TEST(SmtpParser, RefusedStartTlsParsesTheHeldBytesAsCommands) {
  Harness h;
  h.feed(Side::kClient, "EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@b>\r\nRSET\r\n");
  EXPECT_FALSE(h.parser.in_mail());  // MAIL is still held
  h.feed(Side::kServer, "250 ok\r\n454 TLS not available\r\n");
  EXPECT_FALSE(h.parser.tls());
  ASSERT_EQ(h.recorder.mails.size(), 1u);
  EXPECT_EQ(h.mail(0).mail_from, "<a@b>");
  EXPECT_TRUE(h.parser.held_client_tls().empty());
}

TEST(SmtpParser, RefusedDataParsesTheHeldBytesAsCommands) {
  Harness h;
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nDATA\r\nRSET\r\nQUIT\r\n");
  h.feed(Side::kServer, "250 ok\r\n550 no such user\r\n554 no valid recipients\r\n");
  ASSERT_EQ(h.recorder.mails.size(), 1u);
  EXPECT_FALSE(h.mail(0).has_message);
  EXPECT_EQ(h.count(SmtpCounter::kCommands), 5u);
}

TEST(SmtpParser, LateDataAnswerIsAssumedAtTheHeldLimit) {
  Limits limits;
  limits.max_held_bytes = 16;
  Harness h(limits);
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nDATA\r\nSubject: held\r\n\r\nbody\r\n.\r\n");
  ASSERT_EQ(h.recorder.mails.size(), 1u);
  EXPECT_TRUE(h.mail(0).message_complete);
  EXPECT_TRUE(h.mail(0).anomalies & bit(Anomaly::kReplyAssumed));
  EXPECT_EQ(h.mail(0).find_header("Subject")->value, "held");
  h.feed(Side::kServer, "250 ok\r\n354 late\r\n250 queued\r\n");  // the late 354 changes nothing
  EXPECT_EQ(h.recorder.mails.size(), 1u);
  EXPECT_EQ(h.count(SmtpCounter::kAnomalyReplyWithoutCommand), 0u);
}

TEST(SmtpParser, UnansweredStartTlsStopsAtTheHeldLimit) {
  Limits limits;
  limits.max_held_bytes = 8;
  Harness h(limits);
  h.feed(Side::kClient, "STARTTLS\r\n" + std::string(9, '\x16'));
  EXPECT_TRUE(h.parser.stopped());
  EXPECT_EQ(h.count(SmtpCounter::kAnomalyHeldDataDropped), 1u);
  EXPECT_EQ(h.feed(Side::kServer, "220 go\r\n"), 8u);
  EXPECT_FALSE(h.parser.tls());
}

TEST(SmtpParser, AuthExchangeLinesAreNotCommands) {
  Harness h;
  h.feed(Side::kServer, "220 hi\r\n");
  h.feed(Side::kClient, "EHLO c\r\nAUTH LOGIN\r\n");
  h.feed(Side::kServer, "250 AUTH LOGIN\r\n334 VXNlcm5hbWU6\r\n");
  h.feed(Side::kClient, "dXNlcg==\r\n");
  h.feed(Side::kServer, "334 UGFzc3dvcmQ6\r\n");
  h.feed(Side::kClient, "cGFzcw==\r\nMAIL FROM:<a@b>\r\n");
  h.feed(Side::kServer, "235 2.7.0 Authentication successful\r\n250 ok\r\n");
  EXPECT_EQ(h.count(SmtpCounter::kAnomalyInvalidCommand), 0u);
  EXPECT_EQ(h.count(SmtpCounter::kCommands), 3u);  // EHLO, AUTH, MAIL
  EXPECT_TRUE(h.parser.in_mail());
  EXPECT_EQ(h.count(SmtpCounter::kAnomalyReplyWithoutCommand), 0u);
}

TEST(SmtpParser, GreetingAnswersNoCommandWhateverItsCodeOrArrival) {
  Harness refused;
  refused.feed(Side::kServer, "554 no service\r\n");
  EXPECT_EQ(refused.count(SmtpCounter::kAnomalyReplyWithoutCommand), 0u);
  Harness late;  // the client's EHLO given before the greeting
  late.feed(Side::kClient, "EHLO c\r\n");
  late.feed(Side::kServer, "220 hi\r\n250 ok\r\n");
  EXPECT_EQ(late.count(SmtpCounter::kAnomalyReplyWithoutCommand), 0u);
  late.feed(Side::kServer, "250 extra\r\n");
  EXPECT_EQ(late.count(SmtpCounter::kAnomalyReplyWithoutCommand), 1u);
}

TEST(SmtpParser, RsetAndNewMailCloseTheOpenMail) {
  Harness h;
  h.feed(Side::kClient,
         "HELO first\r\nEHLO second\r\nMAIL FROM:<a@b>\r\nRSET\r\n"
         "MAIL FROM:<c@d>\r\nMAIL FROM:<e@f>\r\nRCPT TO:<g@h>\r\n");
  h.parser.on_end();
  ASSERT_EQ(h.recorder.mails.size(), 3u);
  EXPECT_EQ(h.mail(0).mail_from, "<a@b>");
  EXPECT_EQ(h.mail(0).helo, "first");  // Suricata: the first HELO's argument
  EXPECT_EQ(h.mail(1).mail_from, "<c@d>");
  EXPECT_EQ(h.mail(2).rcpt_to.size(), 1u);
  EXPECT_EQ(h.mail(2).id, 2u);
  EXPECT_FALSE(h.mail(2).truncated);  // no message was under way
}

TEST(SmtpParser, RecipientsOverTheLimitAreFlagged) {
  Limits limits;
  limits.max_recipients = 2;
  Harness h(limits);
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nRCPT TO:<1>\r\nRCPT TO:<2>\r\nRCPT TO:<3>\r\n");
  h.parser.on_end();
  EXPECT_EQ(h.mail(0).rcpt_to.size(), 2u);
  EXPECT_TRUE(h.mail(0).anomalies & bit(Anomaly::kTooManyRecipients));
}

TEST(SmtpParser, HeaderFieldsOverTheLimitAreDropped) {
  Limits limits;
  limits.header_limit = 40;
  Harness h(limits);
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nDATA\r\n");
  h.feed(Side::kServer, "250 ok\r\n354 go\r\n");
  h.feed(Side::kClient, "Subject: 0123456789\r\nX-Long: " + std::string(100, 'x') +
                            "\r\nTo: z\r\n\r\nbody\r\n.\r\n");
  const Transaction& tx = h.mail(0);
  EXPECT_NE(tx.find_header("Subject"), nullptr);
  EXPECT_EQ(tx.find_header("X-Long"), nullptr);
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kHeaderLimit));
}

TEST(SmtpParser, OverlongAndGarbageLinesAreCountedAndSkipped) {
  Limits limits;
  limits.max_line_length = 32;
  Harness h(limits);
  h.feed(Side::kClient, "MAIL FROM:<" + std::string(100, 'a') + ">\r\n\x01\x02 junk\r\n1234\r\n");
  h.feed(Side::kServer, "hello\r\n250 " + std::string(100, 'b') + "\r\n");
  EXPECT_EQ(h.count(SmtpCounter::kAnomalyLineTooLong), 2u);
  EXPECT_EQ(h.count(SmtpCounter::kAnomalyInvalidCommand), 2u);
  EXPECT_EQ(h.count(SmtpCounter::kAnomalyInvalidReply), 1u);
  h.parser.on_end();
  ASSERT_EQ(h.recorder.mails.size(), 1u);
  EXPECT_EQ(h.mail(0).mail_from.size(), 32u - 10);
}

TEST(SmtpParser, PendingCommandsOverTheLimitAreForgotten) {
  Limits limits;
  limits.max_pending_commands = 4;
  Harness h(limits);
  for (int i = 0; i < 10; ++i) h.feed(Side::kClient, "NOOP\r\n");
  EXPECT_EQ(h.count(SmtpCounter::kAnomalyTooManyPendingCommands), 6u);
  h.feed(Side::kServer, "250 a\r\n250 b\r\n250 c\r\n250 d\r\n250 e\r\n");
  EXPECT_EQ(h.count(SmtpCounter::kAnomalyReplyWithoutCommand), 1u);
}

TEST(SmtpParser, ClientGapInsideDataTruncatesTheMailButFindsItsEnd) {
  Harness h;
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nDATA\r\n");
  h.feed(Side::kServer, "250 ok\r\n354 go\r\n");
  h.feed(Side::kClient, "Content-Disposition: attachment; filename=a\r\n\r\nfirst half");
  h.parser.on_gap(Side::kClient);
  h.feed(Side::kClient, "lost line rest\r\nmore\r\n.\r\nQUIT\r\n");
  ASSERT_EQ(h.recorder.mails.size(), 1u);
  const Transaction& tx = h.mail(0);
  EXPECT_TRUE(tx.truncated);
  EXPECT_TRUE(tx.message_complete);
  EXPECT_TRUE(tx.anomalies & bit(Anomaly::kGap));
  ASSERT_EQ(tx.attachments.size(), 1u);
  EXPECT_EQ(tx.attachments[0].content, "first half");  // what came before the gap
  EXPECT_FALSE(tx.attachments[0].complete);
  EXPECT_EQ(h.count(SmtpCounter::kCommands), 3u);
}

TEST(SmtpParser, ClientGapInsideABdatChunkCompletesTheMail) {
  Harness h;
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nBDAT 100 LAST\r\nabc");
  h.parser.on_gap(Side::kClient);
  h.feed(Side::kClient, "xyz\r\nQUIT\r\n");
  ASSERT_EQ(h.recorder.mails.size(), 1u);
  EXPECT_TRUE(h.mail(0).truncated);
  EXPECT_FALSE(h.mail(0).message_complete);
}

TEST(SmtpParser, ServerGapWhileDataAwaitsItsAnswerAssumes354) {
  Harness h;
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nDATA\r\nSubject: s\r\n\r\nb\r\n.\r\n");
  h.parser.on_gap(Side::kServer);
  ASSERT_EQ(h.recorder.mails.size(), 1u);
  EXPECT_TRUE(h.mail(0).message_complete);
  EXPECT_TRUE(h.mail(0).anomalies & bit(Anomaly::kReplyAssumed));
}

TEST(SmtpParser, FlowEndInsideTheMessageTruncatesIt) {
  Harness h;
  h.feed(Side::kClient, "MAIL FROM:<a@b>\r\nDATA\r\n");
  h.feed(Side::kServer, "250 ok\r\n354 go\r\n");
  h.feed(Side::kClient, "Content-Disposition: attachment; filename=a\r\n\r\npartial");
  h.parser.on_end();
  ASSERT_EQ(h.recorder.mails.size(), 1u);
  EXPECT_TRUE(h.mail(0).truncated);
  EXPECT_TRUE(h.mail(0).anomalies & bit(Anomaly::kTruncated));
  EXPECT_EQ(h.mail(0).attachments.at(0).content, "partial");
  EXPECT_FALSE(h.mail(0).attachments.at(0).complete);
  EXPECT_LE(h.parser.memory_bytes(), sizeof(Parser) + 4 * sizeof(std::string));
}

TEST(SmtpParser, RandomBytesStayWithinTheLimits) {
  Limits limits;
  limits.max_line_length = 64;
  limits.max_held_bytes = 256;
  limits.header_limit = 256;
  limits.attachment_limit = 128;
  limits.attachments_total_limit = 512;
  Harness h(limits);
  uint32_t x = 3;
  for (int round = 0; round < 300; ++round) {
    std::string chunk = round % 7 == 0 ? "MAIL FROM:<a>\r\nDATA\r\n" : "";
    for (int i = 0; i < 400; ++i) {
      x = x * 1103515245 + 12345;
      chunk.push_back((x >> 8) % 11 == 0 ? '\n' : static_cast<char>(x >> 16));
    }
    h.feed(round % 3 == 0 ? Side::kServer : Side::kClient, chunk);
    ASSERT_LE(h.parser.memory_bytes(), 256u * 1024);
  }
  h.parser.on_end();
}

TEST(SmtpProbe, GreetingsAndFirstCommands) {
  auto probe = [](std::string_view s) { return probe_smtp(bytes(s)); };
  EXPECT_EQ(probe("220 mx.example.net ESMTP Postfix\r\n").probe, Probe::kYes);
  EXPECT_EQ(probe("220 mx.example.net ESMTP Postfix\r\n").side, Side::kServer);
  EXPECT_EQ(probe("220 Welcome\r\n").probe, Probe::kYes);  // unnamed: FTP says yes too
  EXPECT_EQ(probe("220 (vsFTPd 3.0.3)\r\n").probe, Probe::kNo);
  EXPECT_EQ(probe("220 mx").probe, Probe::kNeedMore);
  EXPECT_EQ(probe("EHLO client\r\n").probe, Probe::kYes);
  EXPECT_EQ(probe("helo client\r\n").side, Side::kClient);
  EXPECT_EQ(probe("EH").probe, Probe::kNeedMore);
  EXPECT_EQ(probe("USER x\r\n").probe, Probe::kNo);
  EXPECT_EQ(probe("SSH-2.0-x\r\n").probe, Probe::kNo);
}

TEST(SmtpCounters, OneNamePerCounter) {
  const core::CounterGroup& g = smtp_counter_group();
  EXPECT_EQ(g.module, "smtp");
  EXPECT_EQ(g.defs.size(), static_cast<size_t>(SmtpCounter::kCount));
  EXPECT_EQ(anomaly_name(Anomaly::kInvalidQuotedPrintable), "invalid_quoted_printable");
}

}  // namespace
}  // namespace spanguard::applayer::smtp
