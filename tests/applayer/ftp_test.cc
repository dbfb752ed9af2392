// FTP control-connection parser: command/reply pairing, multi-line replies, the data connections
// PORT/EPRT/PASV/EPSV announce (IPv6 too), ftpbounce, the AUTH TLS hand-over offset, limits and
// anomalies, and that every split of the bytes gives the same events.
#include "spanguard/applayer/ftp.h"

#include <gtest/gtest.h>

#include <sstream>
#include <vector>

namespace spanguard::applayer::ftp {
namespace {

using Bytes = std::span<const uint8_t>;
Bytes bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

core::IpAddress ip(std::string_view text) { return *core::IpAddress::parse(text); }

std::string describe(const Transaction& tx, Event event) {
  std::ostringstream o;
  o << "tx " << tx.id << " ev " << static_cast<int>(event) << " [" << tx.command << "] ["
    << tx.command_data << "] ct=" << tx.command_truncated << " rr=" << tx.reply_received
    << " rt=" << tx.reply_truncated << " done=" << tx.complete << " code=" << tx.final_code
    << " anomalies=" << tx.anomalies;
  for (const ReplyLine& r : tx.replies) o << " {" << r.code << "|" << r.text << "}";
  if (tx.expectation) {
    const Expectation& e = *tx.expectation;
    o << " exp(" << static_cast<int>(e.announced_by) << "," << e.active << ","
      << (e.address ? e.address->to_string() : "-") << "," << e.port << "," << e.command << ","
      << e.file_name << ")";
  }
  return o.str();
}

class Recorder : public Observer {
 public:
  void on_ftp(Transaction& tx, Event event) override {
    log.push_back(describe(tx, event));
    events.push_back(event);
    if (event == Event::kComplete) done.push_back(tx);
    if (event == Event::kExpectation) expectations.push_back(*tx.expectation);
  }
  std::vector<std::string> log;
  std::vector<Event> events;
  std::vector<Transaction> done;
  std::vector<Expectation> expectations;
};

struct Harness {
  explicit Harness(const Limits& limits = {})
      : counters(ftp_counter_group()), parser(limits, recorder, counters) {}
  size_t feed(Side side, std::string_view data) { return parser.parse(side, bytes(data)); }
  uint64_t count(FtpCounter c) const { return counters.get(c); }
  const Transaction& tx(size_t i) const { return recorder.done.at(i); }

  Recorder recorder;
  core::Counters<FtpCounter> counters;
  Parser parser;
};

// A dialogue as (side, bytes) steps in capture order.
using Dialogue = std::vector<std::pair<Side, std::string>>;

std::vector<std::string> run(const Dialogue& d, size_t piece) {
  Harness h;
  for (const auto& [side, data] : d) {
    const std::string_view v = data;
    for (size_t at = 0; at < v.size(); at += piece) h.feed(side, v.substr(at, piece));
  }
  h.parser.on_end();
  return h.recorder.log;
}

const Dialogue kSession = {
    {Side::kServer, "220-Welcome\r\n220 (vsFTPd 3.0.3)\r\n"},
    {Side::kClient, "USER anonymous\r\n"},
    {Side::kServer, "331 Please specify the password.\r\n"},
    {Side::kClient, "PASS guest\r\nPASV\r\n"},
    {Side::kServer, "230 Login successful.\r\n227 Entering Passive Mode (10,0,0,2,19,137).\r\n"},
    {Side::kClient, "RETR temp.txt\r\n"},
    {Side::kServer, "150 Opening BINARY mode data connection.\r\n226 Transfer complete.\r\n"},
    {Side::kClient, "QUIT\r\n"},
    {Side::kServer, "221 Goodbye.\r\n"},
};

TEST(FtpParser, PairsCommandsWithTheirRepliesInOrder) {
  Harness h;
  for (const auto& [side, data] : kSession) EXPECT_EQ(h.feed(side, data), data.size());
  ASSERT_EQ(h.recorder.done.size(), 6u);
  EXPECT_EQ(h.tx(0).command, "");  // the greeting answers nothing
  ASSERT_EQ(h.tx(0).replies.size(), 2u);
  EXPECT_EQ(h.tx(0).replies[1].code, "220");
  EXPECT_EQ(h.tx(0).replies[1].text, "(vsFTPd 3.0.3)");
  EXPECT_EQ(h.tx(1).command, "USER");
  EXPECT_EQ(h.tx(1).command_data, "anonymous");
  EXPECT_EQ(h.tx(1).final_code, 331);
  EXPECT_EQ(h.tx(2).command, "PASS");
  EXPECT_EQ(h.tx(2).final_code, 230);
  EXPECT_EQ(h.tx(3).command, "PASV");
  EXPECT_EQ(h.tx(4).command, "RETR");
  ASSERT_EQ(h.tx(4).replies.size(), 2u);  // the 150 preliminary reply and the final 226
  EXPECT_EQ(h.tx(4).final_code, 226);
  EXPECT_EQ(h.tx(5).command, "QUIT");
  for (const Transaction& tx : h.recorder.done) EXPECT_EQ(tx.anomalies, 0u) << tx.command;
  EXPECT_EQ(h.count(FtpCounter::kCommands), 5u);
  EXPECT_EQ(h.count(FtpCounter::kReplies), 7u);
  EXPECT_EQ(h.parser.transactions_held(), 0u);
}

TEST(FtpParser, EverySplitOfTheSessionGivesTheSameEvents) {
  const std::vector<std::string> whole = run(kSession, 1 << 20);
  for (size_t piece = 1; piece < 40; ++piece) ASSERT_EQ(run(kSession, piece), whole) << piece;
}

TEST(FtpParser, MultiLineReplyEndsOnlyAtItsCodeAndSpace) {
  Harness h;
  h.feed(Side::kServer, "220 ready\r\n");
  h.feed(Side::kClient, "FEAT\r\n");
  h.feed(Side::kServer,
         "211-Features:\r\n MDTM\r\n123 not the end\r\n211-still not\r\n211 End\r\n");
  ASSERT_EQ(h.recorder.done.size(), 2u);
  const Transaction& feat = h.tx(1);
  ASSERT_EQ(feat.replies.size(), 5u);
  EXPECT_EQ(feat.replies[0].code, "211");
  EXPECT_EQ(feat.replies[0].text, "Features:");
  EXPECT_EQ(feat.replies[1].code, "");
  EXPECT_EQ(feat.replies[1].text, " MDTM");
  EXPECT_EQ(feat.replies[4].text, "End");
  EXPECT_EQ(feat.final_code, 211);
  EXPECT_EQ(h.count(FtpCounter::kReplies), 2u);  // the greeting and one multi-line reply
}

TEST(FtpParser, PortAnnouncesAnActiveExpectationUsedByTheNextTransfer) {
  Harness h;
  h.feed(Side::kClient, "PORT 192,168,0,13,234,10\r\n");
  ASSERT_EQ(h.recorder.expectations.size(), 1u);
  const Expectation& e = h.recorder.expectations[0];
  EXPECT_EQ(e.announced_by, Announcement::kPort);
  EXPECT_TRUE(e.active);
  EXPECT_EQ(*e.address, ip("192.168.0.13"));
  EXPECT_EQ(e.port, 234 * 256 + 10);
  EXPECT_TRUE(e.command.empty());
  EXPECT_TRUE(h.parser.expectation().has_value());
  h.feed(Side::kServer, "200 PORT command successful.\r\n");
  h.feed(Side::kClient, "STOR up.bin\r\n");
  ASSERT_EQ(h.recorder.expectations.size(), 2u);
  EXPECT_EQ(h.recorder.expectations[1].command, "STOR");
  EXPECT_EQ(h.recorder.expectations[1].file_name, "up.bin");
  EXPECT_EQ(ftpdata_command(h.recorder.expectations[1]), "stor");
  EXPECT_FALSE(h.parser.expectation().has_value());  // used once
  h.feed(Side::kClient, "LIST\r\n");
  EXPECT_EQ(h.recorder.expectations.size(), 2u);
  EXPECT_EQ(h.count(FtpCounter::kExpectations), 1u);
  EXPECT_EQ(h.count(FtpCounter::kDataCommands), 1u);
}

TEST(FtpParser, RefusedPortAnnouncesNothingForTheNextTransfer) {
  Harness h;
  h.feed(Side::kClient, "PORT 10,0,0,1,4,1\r\n");
  h.feed(Side::kServer, "500 Illegal PORT command.\r\n");
  h.feed(Side::kClient, "RETR x\r\n");
  EXPECT_EQ(h.recorder.expectations.size(), 1u);
  EXPECT_FALSE(h.parser.expectation().has_value());
}

TEST(FtpParser, EprtAnnouncesIpv4AndIpv6Expectations) {
  Harness h;
  h.feed(Side::kClient, "EPRT |1|132.235.1.2|6275|\r\nEPRT |2|1080::8:800:200C:417A|5282|\r\n");
  ASSERT_EQ(h.recorder.expectations.size(), 2u);
  EXPECT_EQ(*h.recorder.expectations[0].address, ip("132.235.1.2"));
  EXPECT_EQ(h.recorder.expectations[0].port, 6275);
  EXPECT_EQ(h.recorder.expectations[0].announced_by, Announcement::kEprt);
  EXPECT_TRUE(h.recorder.expectations[1].address->is_v6());
  EXPECT_EQ(*h.recorder.expectations[1].address, ip("1080::8:800:200c:417a"));
  EXPECT_EQ(h.recorder.expectations[1].port, 5282);
  EXPECT_TRUE(h.recorder.expectations[1].active);
}

TEST(FtpParser, MalformedDataChannelArgumentsAreFlagged) {
  for (const std::string_view line :
       {"PORT 1,2,3\r\n", "PORT 256,1,1,1,1,1\r\n", "PORT 1,2,3,4,0,0\r\n", "PORT a,b\r\n",
        "EPRT |1|::1|21|\r\n", "EPRT |2|1.2.3.4|21|\r\n", "EPRT |1|1.2.3.4|70000|\r\n",
        "EPRT |3|1.2.3.4|21|\r\n", "EPRT 1.2.3.4\r\n"}) {
    Harness h;
    h.feed(Side::kClient, line);
    EXPECT_TRUE(h.recorder.expectations.empty()) << line;
    EXPECT_EQ(h.count(FtpCounter::kAnomalyInvalidDataChannel), 1u) << line;
  }
}

TEST(FtpParser, PasvReplyAnnouncesAPassiveExpectationWithOrWithoutParentheses) {
  for (const std::string_view reply :
       {"227 Entering Passive Mode (10,0,0,2,19,137).\r\n", "227 =10,0,0,2,19,137\r\n"}) {
    Harness h;
    h.feed(Side::kClient, "PASV\r\n");
    h.feed(Side::kServer, reply);
    ASSERT_EQ(h.recorder.expectations.size(), 1u) << reply;
    const Expectation& e = h.recorder.expectations[0];
    EXPECT_FALSE(e.active);
    EXPECT_EQ(e.announced_by, Announcement::kPasv);
    EXPECT_EQ(*e.address, ip("10.0.0.2"));
    EXPECT_EQ(e.port, 19 * 256 + 137);
  }
}

TEST(FtpParser, EverySplitOfAPasvReplyGivesTheSameExpectation) {
  const std::string reply = "227 Entering Passive Mode (192,168,150,90,195,149).\r\n";
  for (size_t cut = 0; cut <= reply.size(); ++cut) {
    Harness h;
    h.feed(Side::kClient, "PASV\r\nRETR a.iso\r\n");
    h.feed(Side::kServer, std::string_view(reply).substr(0, cut));
    h.feed(Side::kServer, std::string_view(reply).substr(cut));
    ASSERT_EQ(h.recorder.expectations.size(), 2u) << cut;
    EXPECT_EQ(*h.recorder.expectations[0].address, ip("192.168.150.90")) << cut;
    EXPECT_EQ(h.recorder.expectations[0].port, 195 * 256 + 149) << cut;
    // RETR came before the answer: it uses the expectation as soon as it exists.
    EXPECT_EQ(h.recorder.expectations[1].command, "RETR") << cut;
    EXPECT_EQ(h.recorder.expectations[1].file_name, "a.iso") << cut;
    EXPECT_EQ(ftpdata_command(h.recorder.expectations[1]), "retr");
  }
}

TEST(FtpParser, EpsvReplyAnnouncesAPortWithoutAddress) {
  Harness h;
  h.feed(Side::kClient, "EPSV\r\n");
  h.feed(Side::kServer, "229 Entering Extended Passive Mode (|||6446|)\r\n");
  ASSERT_EQ(h.recorder.expectations.size(), 1u);
  EXPECT_EQ(h.recorder.expectations[0].announced_by, Announcement::kEpsv);
  EXPECT_FALSE(h.recorder.expectations[0].address.has_value());
  EXPECT_EQ(h.recorder.expectations[0].port, 6446);
  Harness bad;
  bad.feed(Side::kClient, "EPSV\r\n");
  bad.feed(Side::kServer, "229 Entering Extended Passive Mode (||6446|)\r\n");
  EXPECT_TRUE(bad.recorder.expectations.empty());
  EXPECT_EQ(bad.count(FtpCounter::kAnomalyInvalidDataChannel), 1u);
}

TEST(FtpParser, A227AnsweringSomethingElseAnnouncesNothing) {
  Harness h;
  h.feed(Side::kClient, "NOOP\r\n");
  h.feed(Side::kServer, "227 (10,0,0,2,19,137)\r\n");
  EXPECT_TRUE(h.recorder.expectations.empty());
}

TEST(FtpBounce, PortToAnotherHostIsABounceAsSuricataDefinesIt) {
  Harness h;
  h.feed(Side::kClient,
         "PORT 80,58,0,33,10,20\r\nPORT 1,2,3,4,10,20\r\nEPRT |1|80.58.0.33|80|\r\n");
  ASSERT_EQ(h.recorder.expectations.size(), 3u);
  const core::IpAddress client = ip("1.2.3.4");
  EXPECT_TRUE(is_bounce(h.recorder.expectations[0], client));
  EXPECT_FALSE(is_bounce(h.recorder.expectations[1], client));
  EXPECT_FALSE(is_bounce(h.recorder.expectations[2], client));  // Suricata checks PORT only
  EXPECT_TRUE(is_bounce(h.recorder.expectations[2], client, true));
  Expectation passive;
  passive.announced_by = Announcement::kPasv;
  passive.address = ip("9.9.9.9");
  EXPECT_FALSE(is_bounce(passive, client, true));
}

TEST(FtpParser, AuthTlsHandsOverRightAfterThe234Line) {
  const std::string client_hello("\x16\x03\x01\x00\x05hello", 10);
  const std::string server_hello("\x16\x03\x03\x00\x02hi", 7);
  const std::string reply = "234-Proceed\r\n234 with negotiation.\r\n";
  const std::string server = reply + server_hello;
  for (size_t cut = 0; cut <= server.size(); ++cut) {
    Harness h;
    h.feed(Side::kServer, "220 ready\r\n");
    EXPECT_EQ(h.feed(Side::kClient, "AUTH TLS\r\n" + client_hello), 10 + client_hello.size());
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
    EXPECT_EQ(h.parser.held_client_tls(), client_hello);
    EXPECT_EQ(h.feed(Side::kClient, "more"), 0u);
    EXPECT_EQ(h.feed(Side::kServer, "more"), 0u);
    EXPECT_EQ(h.count(FtpCounter::kStartTls), 1u);
  }
}

TEST(FtpParser, StartTlsEventComesWithTheAuthTransaction) {
  Harness h;
  h.feed(Side::kClient, "AUTH TLS\r\n");
  h.feed(Side::kServer, "234 AUTH TLS OK.\r\n");
  const std::vector<Event> expected = {Event::kCommand, Event::kReply, Event::kStartTls,
                                       Event::kComplete};
  EXPECT_EQ(h.recorder.events, expected);
  EXPECT_EQ(h.tx(0).command, "AUTH");
  EXPECT_EQ(h.tx(0).final_code, 234);
}

TEST(FtpParser, RefusedAuthTlsParsesTheHeldBytesAsCommands) {
  Harness h;
  h.feed(Side::kClient, "AUTH SSL\r\nUSER bob\r\n");
  EXPECT_EQ(h.recorder.done.size(), 0u);
  EXPECT_EQ(h.parser.held_client_tls(), "USER bob\r\n");
  h.feed(Side::kServer, "534 Policy requires SSL.\r\n331 password?\r\n");
  EXPECT_FALSE(h.parser.tls());
  ASSERT_EQ(h.recorder.done.size(), 2u);
  EXPECT_EQ(h.tx(0).command, "AUTH");
  EXPECT_EQ(h.tx(1).command, "USER");
  EXPECT_EQ(h.tx(1).final_code, 331);
  EXPECT_TRUE(h.parser.held_client_tls().empty());
}

TEST(FtpParser, AuthOtherThanTlsHoldsNothing) {
  Harness h;
  h.feed(Side::kClient, "AUTH GSSAPI\r\nADAT abc\r\n");
  EXPECT_TRUE(h.parser.held_client_tls().empty());
  h.feed(Side::kServer, "334 ADAT=xyz\r\n234 done\r\n");
  EXPECT_FALSE(h.parser.tls());
  EXPECT_EQ(h.recorder.done.size(), 2u);
}

TEST(FtpParser, UnansweredAuthTlsStopsAtTheHeldLimit) {
  Limits limits;
  limits.max_held_bytes = 16;
  Harness h(limits);
  h.feed(Side::kClient, "AUTH TLS\r\n" + std::string(17, 'x'));
  EXPECT_TRUE(h.parser.stopped());
  EXPECT_EQ(h.count(FtpCounter::kAnomalyHeldDataDropped), 1u);
  EXPECT_EQ(h.feed(Side::kServer, "234 ok\r\n"), 8u);  // consumed, ignored
  EXPECT_FALSE(h.parser.tls());
  h.parser.on_end();
  ASSERT_EQ(h.recorder.done.size(), 1u);
  EXPECT_TRUE(h.tx(0).anomalies & bit(Anomaly::kHeldDataDropped));
  EXPECT_TRUE(h.tx(0).anomalies & bit(Anomaly::kTruncated));
}

TEST(FtpParser, OverlongLinesAreKeptTruncatedAndFlagged) {
  Limits limits;
  limits.max_line_length = 32;
  Harness h(limits);
  h.feed(Side::kClient, "STOR " + std::string(100, 'f') + "\r\nNOOP\r\n");
  h.feed(Side::kServer, "150 " + std::string(100, 'r') + "\r\n226 ok\r\n200 ok\r\n");
  ASSERT_EQ(h.recorder.done.size(), 2u);
  EXPECT_TRUE(h.tx(0).command_truncated);
  EXPECT_EQ(h.tx(0).command_data.size(), 32u - 5);
  EXPECT_TRUE(h.tx(0).reply_truncated);
  EXPECT_TRUE(h.tx(0).anomalies & bit(Anomaly::kLineTooLong));
  EXPECT_EQ(h.tx(1).command, "NOOP");
  EXPECT_EQ(h.count(FtpCounter::kAnomalyLineTooLong), 2u);
}

TEST(FtpParser, GarbageLinesAreCountedAndSkipped) {
  Harness h;
  h.feed(Side::kClient, std::string("\x01\x02\x03 zz\r\n9XYZ a\r\n", 16) + "NOOP\r\n");
  h.feed(Side::kServer, "hello\r\n200 ok\r\n");
  EXPECT_EQ(h.count(FtpCounter::kAnomalyInvalidCommand), 2u);
  EXPECT_EQ(h.count(FtpCounter::kAnomalyInvalidReply), 1u);
  ASSERT_EQ(h.recorder.done.size(), 1u);
  EXPECT_EQ(h.tx(0).command, "NOOP");
  EXPECT_TRUE(h.tx(0).anomalies & bit(Anomaly::kInvalidReply));
}

TEST(FtpParser, TelnetSynchBeforeAborIsSkipped) {
  Harness h;
  h.feed(Side::kClient, std::string("\xff\xf4\xff\xf2"
                                    "ABOR\r\n",
                                    10));
  h.feed(Side::kServer, "226 aborted\r\n");
  ASSERT_EQ(h.recorder.done.size(), 1u);
  EXPECT_EQ(h.tx(0).command, "ABOR");
}

TEST(FtpParser, LowerCaseVerbsAreUpperCased) {
  Harness h;
  h.feed(Side::kClient, "retr Mixed Case.TXT\r\n");
  h.parser.on_end();
  EXPECT_EQ(h.tx(0).command, "RETR");
  EXPECT_EQ(h.tx(0).command_data, "Mixed Case.TXT");
}

TEST(FtpParser, UnsolicitedRepliesAfterTheGreetingAreFlagged) {
  Harness h;
  h.feed(Side::kServer, "220 hi\r\n421 Timeout.\r\n");
  ASSERT_EQ(h.recorder.done.size(), 2u);
  EXPECT_EQ(h.tx(0).anomalies, 0u);
  EXPECT_TRUE(h.tx(1).anomalies & bit(Anomaly::kReplyWithoutCommand));
}

TEST(FtpParser, TransactionLimitCompletesTheOldestUnanswered) {
  Limits limits;
  limits.max_transactions = 4;
  Harness h(limits);
  for (int i = 0; i < 10; ++i) h.feed(Side::kClient, "NOOP\r\n");
  EXPECT_EQ(h.parser.transactions_held(), 4u);
  EXPECT_EQ(h.recorder.done.size(), 6u);
  EXPECT_TRUE(h.tx(0).anomalies & bit(Anomaly::kTooManyTransactions));
  EXPECT_EQ(h.count(FtpCounter::kAnomalyTooManyTransactions), 6u);
}

TEST(FtpParser, ReplyLinesOverTheLimitAreNotKept) {
  Limits limits;
  limits.max_reply_lines = 3;
  Harness h(limits);
  h.feed(Side::kClient, "HELP\r\n");
  h.feed(Side::kServer, "214-a\r\nb\r\nc\r\nd\r\ne\r\n214 end\r\n");
  ASSERT_EQ(h.recorder.done.size(), 1u);
  EXPECT_EQ(h.tx(0).replies.size(), 3u);
  EXPECT_EQ(h.tx(0).final_code, 214);
  EXPECT_EQ(h.count(FtpCounter::kAnomalyTooManyReplyLines), 1u);
}

TEST(FtpParser, ServerGapCompletesTheWaitingCommands) {
  Harness h;
  h.feed(Side::kClient, "LIST\r\nNOOP\r\n");
  h.feed(Side::kServer, "150 Here comes");
  h.parser.on_gap(Side::kServer);
  h.feed(Side::kServer, "ing listing\r\n200 ok\r\n");
  h.feed(Side::kClient, "PWD\r\n");
  h.feed(Side::kServer, "257 \"/\"\r\n");
  ASSERT_EQ(h.recorder.done.size(), 4u);
  EXPECT_TRUE(h.tx(0).anomalies & bit(Anomaly::kGap));
  EXPECT_TRUE(h.tx(1).anomalies & bit(Anomaly::kGap));
  // The line cut by the gap is dropped; "200 ok" has no command left to answer.
  EXPECT_EQ(h.tx(2).command, "");
  EXPECT_EQ(h.tx(2).final_code, 200);
  EXPECT_EQ(h.tx(3).command, "PWD");
  EXPECT_EQ(h.tx(3).final_code, 257);
  EXPECT_EQ(h.count(FtpCounter::kGaps), 1u);
}

TEST(FtpParser, ClientGapDropsThePartialLine) {
  Harness h;
  h.feed(Side::kClient, "RE");
  h.parser.on_gap(Side::kClient);
  h.feed(Side::kClient, "TR x\r\nNOOP\r\n");
  h.parser.on_end();
  ASSERT_EQ(h.recorder.done.size(), 1u);
  EXPECT_EQ(h.tx(0).command, "NOOP");
}

TEST(FtpParser, FlowEndCompletesUnansweredTransactionsAsTruncated) {
  Harness h;
  h.feed(Side::kClient, "RETR big\r\n");
  h.feed(Side::kServer, "150 Opening\r\n");
  h.parser.on_end();
  ASSERT_EQ(h.recorder.done.size(), 1u);
  EXPECT_TRUE(h.tx(0).reply_received);
  EXPECT_FALSE(h.tx(0).complete);
  EXPECT_TRUE(h.tx(0).anomalies & bit(Anomaly::kTruncated));
  EXPECT_EQ(h.parser.transactions_held(), 0u);
  EXPECT_LE(h.parser.memory_bytes(), sizeof(Parser) + 3 * sizeof(std::string));  // empty buffers
}

TEST(FtpParser, RandomBytesStayWithinTheLimits) {
  Limits limits;
  limits.max_line_length = 64;
  limits.max_transactions = 8;
  Harness h(limits);
  uint32_t x = 7;
  for (int round = 0; round < 200; ++round) {
    std::string chunk;
    for (int i = 0; i < 500; ++i) {
      x = x * 1103515245 + 12345;
      const char c = static_cast<char>(x >> 16);
      chunk.push_back((x >> 8) % 13 == 0 ? '\n' : c);
    }
    h.feed(round % 2 ? Side::kServer : Side::kClient, chunk);
    ASSERT_LE(h.parser.transactions_held(), 8u);
    ASSERT_LE(h.parser.memory_bytes(), sizeof(Parser) + 8 * 512 + 64 * 200 + 16 * 1024);
  }
  h.parser.on_end();
}

TEST(FtpProbe, GreetingsAndFirstCommands) {
  auto probe = [](std::string_view s) { return probe_ftp(bytes(s)); };
  EXPECT_EQ(probe("220 (vsFTPd 3.0.3)\r\n").probe, Probe::kYes);
  EXPECT_EQ(probe("220 (vsFTPd 3.0.3)\r\n").side, Side::kServer);
  EXPECT_EQ(probe("220-FileZilla Server\r\n").probe, Probe::kYes);  // unnamed: both say yes
  EXPECT_EQ(probe("220 mail.example.com ESMTP Postfix\r\n").probe, Probe::kNo);
  EXPECT_EQ(probe("220 ProFTPD").probe, Probe::kNeedMore);  // the line is not over yet
  EXPECT_EQ(probe("22").probe, Probe::kNeedMore);
  EXPECT_EQ(probe("USER anonymous\r\n").probe, Probe::kYes);
  EXPECT_EQ(probe("user x\r\n").side, Side::kClient);
  EXPECT_EQ(probe("AUTH TLS\r\n").probe, Probe::kYes);
  EXPECT_EQ(probe("US").probe, Probe::kNeedMore);
  EXPECT_EQ(probe("EHLO x\r\n").probe, Probe::kNo);
  EXPECT_EQ(probe("GET / HTTP/1.1\r\n").probe, Probe::kNo);
  EXPECT_EQ(probe("230 ok\r\n").probe, Probe::kNo);
}

TEST(FtpOrSmtp, ClientCommandDecidesThenTheGreetingsWords) {
  EXPECT_EQ(ftp_or_smtp("220 Welcome\r\n", "USER bob\r\n"), TextProtocol::kFtp);
  EXPECT_EQ(ftp_or_smtp("220 Welcome\r\n", "EHLO client\r\n"), TextProtocol::kSmtp);
  EXPECT_EQ(ftp_or_smtp("220 Welcome\r\n", "HELO client\r\n"), TextProtocol::kSmtp);
  EXPECT_EQ(ftp_or_smtp("220 Welcome\r\n", "NOOP\r\n"), TextProtocol::kUnknown);
  EXPECT_EQ(ftp_or_smtp("220 Welcome\r\n", ""), TextProtocol::kUnknown);
  EXPECT_EQ(ftp_or_smtp("220 Microsoft FTP Service\r\n", ""), TextProtocol::kFtp);
  EXPECT_EQ(ftp_or_smtp("220 smtp.example.org ESMTP\r\n", "NOOP\r\n"), TextProtocol::kSmtp);
  EXPECT_EQ(ftp_or_smtp("220 FTP and SMTP gateway\r\n", ""), TextProtocol::kUnknown);
  EXPECT_EQ(ftp_or_smtp("220 FTP\r\n", "EHLO x\r\n"), TextProtocol::kSmtp);  // what it does wins
}

TEST(FtpCounters, OneNamePerCounter) {
  const core::CounterGroup& g = ftp_counter_group();
  EXPECT_EQ(g.module, "ftp");
  EXPECT_EQ(g.defs.size(), static_cast<size_t>(FtpCounter::kCount));
  EXPECT_EQ(anomaly_name(Anomaly::kInvalidDataChannel), "invalid_data_channel");
}

}  // namespace
}  // namespace spanguard::applayer::ftp
