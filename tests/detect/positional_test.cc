// isdataat, byte_test and byte_jump in the verifier: absolute and relative positions, negation,
// byte order, ASCII numbers, bitmask, and byte_jump moving the position later relative matches
// count from; each with a matching payload and a near miss. Also itype/icode on ICMP packets and
// stream_size on TCP flows, and the packet header keywords (ttl, tos, id, ip_proto, sameip,
// window, seq, ack, icmp_id, icmp_seq).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "sensor.h"
#include "spanguard/detect/engine.h"
#include "spanguard/rules/parser.h"
#include "tcp_conversation.h"

namespace spanguard::detect {
namespace {

// Whether the rule with `options` holds on `payload` (as a packet's payload).
bool holds(const std::string& options, const std::string& payload) {
  rules::RuleParser parser(rules::default_variables(), nullptr);
  parser.parse_text("alert udp any any -> any any (msg:\"m\"; " + options + " sid:1;)", "t.rules");
  rules::RuleSet set = parser.take();
  if (set.rules.size() != 1) {
    ADD_FAILURE() << options << ": " << set.diagnostics.front().to_string();
    return false;
  }
  std::vector<rules::Diagnostic> diagnostics;
  DetectionEngine engine(std::move(set.rules), DetectOptions{}, diagnostics);
  Verifier verifier(1000, 1000);
  const InspectBuffer buffer{
      std::span(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()), 0, true};
  return verifier.verify(engine.rule(0).program, std::span(&buffer, 1));
}

TEST(Isdataat, AbsoluteAsksForAByteAtN) {
  EXPECT_TRUE(holds("isdataat:4;", "12345"));
  EXPECT_FALSE(holds("isdataat:5;", "12345"));
  EXPECT_TRUE(holds("isdataat:!5;", "12345"));
}

TEST(Isdataat, RelativeCountsFromThePreviousMatch) {
  EXPECT_TRUE(holds("content:\"AB\"; isdataat:3,relative;", "xABcde"));
  EXPECT_FALSE(holds("content:\"AB\"; isdataat:4,relative;", "xABcde"));
  // ET's idiom: the content ends the payload.
  EXPECT_TRUE(holds("content:\"END\"; isdataat:!1,relative;", "xxEND"));
  EXPECT_FALSE(holds("content:\"END\"; isdataat:!1,relative;", "xxEND!"));
}

TEST(ByteTest, ComparesBinaryNumbersInEitherByteOrder) {
  const std::string p("\x00\x01\x02\x03", 4);
  EXPECT_TRUE(holds("byte_test:2,=,258,1;", p));         // 0x0102 big endian
  EXPECT_TRUE(holds("byte_test:2,=,513,1,little;", p));  // 0x0201
  EXPECT_TRUE(holds("byte_test:4,>,0x10000,0;", p));     // 0x00010203
  EXPECT_FALSE(holds("byte_test:4,<,0x10000,0;", p));
  EXPECT_TRUE(holds("byte_test:1,!=,7,3;", p));
  EXPECT_FALSE(holds("byte_test:2,=,258,3;", p));  // reads past the end: no match
}

TEST(ByteTest, BitwiseOperatorsAndBitmask) {
  const std::string p("\x81", 1);
  EXPECT_TRUE(holds("byte_test:1,&,128,0;", p));
  EXPECT_FALSE(holds("byte_test:1,!&,128,0;", p));
  EXPECT_TRUE(holds("byte_test:1,^,0x81,0;", std::string("\x80", 1)));
  // bitmask 0xf0 keeps the high nibble, shifted down: 0x8.
  EXPECT_TRUE(holds("byte_test:1,=,8,0,bitmask 0xf0;", p));
}

TEST(ByteTest, RelativeAndAsciiNumbers) {
  EXPECT_TRUE(holds("content:\"len=\"; byte_test:3,>,100,0,relative,string,dec;", "len=250;"));
  EXPECT_FALSE(holds("content:\"len=\"; byte_test:3,>,100,0,relative,string,dec;", "len=050;"));
  EXPECT_TRUE(holds("content:\"x=\"; byte_test:2,=,255,0,relative,string,hex;", "x=ff"));
  EXPECT_FALSE(holds("content:\"x=\"; byte_test:2,=,1,0,relative,string,dec;", "x=zz"));
}

// BYTES 0 with string: the number is as many digits as there are (ET uses byte_test:0,... to
// compare a decimal field of any width).
TEST(ByteTest, ZeroBytesWithStringReadsEveryDigit) {
  const std::string rule = "content:\"Length: \"; byte_test:0,>,4000,0,relative,string,dec;";
  EXPECT_TRUE(holds(rule, "Length: 123456\r\n"));
  EXPECT_FALSE(holds(rule, "Length: 4000\r\n"));
  EXPECT_TRUE(holds(rule, "Length: 4001"));                      // digits up to the buffer's end
  EXPECT_FALSE(holds(rule, "Length: x4001"));                    // no digit at the position
  EXPECT_FALSE(holds(rule, "Length: "));                         // nothing left to read
  EXPECT_FALSE(holds(rule, "Length: 99999999999999999999999"));  // beyond 64 bits
  EXPECT_TRUE(holds("byte_test:0,=,0,0,string,dec;", "0"));
}

// "c2VjcmV0IGRhdGE=" is base64 for "secret data".
TEST(Base64, DecodeThenMatchTheDecodedBytes) {
  const std::string payload = "id=7&blob=c2VjcmV0IGRhdGE=&end";
  EXPECT_TRUE(
      holds("content:\"blob=\"; base64_decode:relative; base64_data; "
            "content:\"secret\"; startswith;",
            payload));
  // Absolute offset from the buffer's start; bytes limits what is decoded (12 chars: 9 bytes).
  EXPECT_TRUE(holds("base64_decode:offset 10; base64_data; content:\"secret data\";", payload));
  EXPECT_FALSE(
      holds("base64_decode:bytes 12,offset 10; base64_data; content:\"secret data\";", payload));
  EXPECT_TRUE(
      holds("base64_decode:bytes 12,offset 10; base64_data; content:\"secret da\";", payload));
  // Decoding stops at the first byte outside the alphabet ('&' here, '=' padding likewise).
  EXPECT_FALSE(holds("base64_decode:offset 10; base64_data; content:\"end\";", payload));
  // Undecodable there: nothing to match.
  EXPECT_FALSE(
      holds("content:\"id=\"; base64_decode:relative,offset 1; base64_data; "
            "content:!\"x\";",
            "id=&&&&"));
}

// byte_extract reads a number into a variable later keywords use, and moves the position past the
// bytes read.
TEST(ByteExtract, VariablesFeedLaterKeywordsAndThePositionMoves) {
  // A length-prefixed field: the length (3) says where the next marker is.
  const std::string framed = std::string("\x03", 1) + "abcZ!";
  EXPECT_TRUE(holds("byte_extract:1,0,len; content:\"Z\"; distance:len; within:1;", framed));
  EXPECT_FALSE(holds("byte_extract:1,0,len; content:\"c\"; distance:len; within:1;", framed));
  // As byte_test's value and offset, and content's offset/depth.
  EXPECT_TRUE(holds("byte_extract:1,0,n; byte_test:1,=,n,4;", std::string("\x5a\0\0\0\x5a", 5)));
  EXPECT_FALSE(holds("byte_extract:1,0,n; byte_test:1,=,n,4;", std::string("\x5a\0\0\0\x5b", 5)));
  EXPECT_TRUE(
      holds("byte_extract:1,0,at; byte_test:1,=,0x21,at;", std::string("\x04", 1) + "abc!"));
  EXPECT_TRUE(holds("byte_extract:1,0,o; content:\"Z\"; offset:o; depth:2;", framed));
  // The position after the extracted bytes is where relative keywords count from.
  EXPECT_TRUE(holds("byte_extract:1,0,n,relative; content:\"abc\"; within:3;", framed));
  // align rounds up to a multiple of 4: 3 -> 4, so "!" is 4 past the position after the byte.
  EXPECT_TRUE(holds("byte_extract:1,0,n,align 4; content:\"!\"; distance:n; within:1;", framed));
  EXPECT_FALSE(holds("byte_extract:1,0,n; content:\"!\"; distance:n; within:1;", framed));
  EXPECT_TRUE(holds("byte_extract:1,0,n,multiplier 2; content:\"!\"; distance:n; within:1;",
                    std::string("\x02", 1) + "abcd!"));  // 2 * 2 past position 1
  // ASCII digits.
  EXPECT_TRUE(
      holds("byte_extract:2,0,n,string,dec; content:\"X\"; distance:n; within:1;", "03abcX"));
}

// byte_math (Suricata): OPER applied to the number read and RVALUE, into a variable later keywords
// take; bitmask after the operation; the position moves past the bytes read.
TEST(ByteMath, EachOperatorIntoAVariableLaterKeywordsRead) {
  const auto math = [](const std::string& oper, int rvalue) {
    return "byte_math:bytes 1,offset 0,oper " + oper + ",rvalue " + std::to_string(rvalue) +
           ",result r; byte_test:1,=,r,1;";
  };
  const auto with = [](char read, char expected) { return std::string{read, expected}; };
  EXPECT_TRUE(holds(math("+", 3), with(5, 8)));
  EXPECT_FALSE(holds(math("+", 3), with(5, 9)));
  EXPECT_TRUE(holds(math("-", 3), with(5, 2)));
  EXPECT_TRUE(holds(math("*", 3), with(5, 15)));
  EXPECT_TRUE(holds(math("/", 3), with(5, 1)));
  EXPECT_TRUE(holds(math("<<", 2), with(5, 20)));
  EXPECT_TRUE(holds(math(">>", 1), with(5, 2)));
  // Division by zero never matches, whatever follows.
  EXPECT_FALSE(holds("byte_math:bytes 1,offset 0,oper /,rvalue 0,result r;", with(5, 0)));
  // Wrapping below zero gives a huge number: no byte lies that far.
  EXPECT_TRUE(
      holds("byte_math:bytes 1,offset 0,oper -,rvalue 6,result r; isdataat:!r;", with(5, 0)));
  EXPECT_FALSE(
      holds("byte_math:bytes 1,offset 0,oper -,rvalue 6,result r; isdataat:r;", with(5, 0)));
}

TEST(ByteMath, RvalueFromAVariableByteOrderStringAndBitmaskAfterTheOperation) {
  EXPECT_TRUE(
      holds("byte_extract:1,0,a; byte_math:bytes 1,offset 1,oper +,rvalue a,result r; "
            "byte_test:1,=,r,2;",
            std::string("\x02\x03\x05", 3)));
  EXPECT_TRUE(
      holds("byte_math:bytes 2,offset 0,oper +,rvalue 0,result r,endian little; "
            "byte_test:1,=,r,2;",
            std::string("\x01\x00\x01", 3)));
  EXPECT_FALSE(holds("byte_math:bytes 2,offset 0,oper +,rvalue 0,result r; byte_test:1,=,r,2;",
                     std::string("\x01\x00\x01", 3)));  // big endian: 256
  EXPECT_TRUE(
      holds("byte_math:bytes 2,offset 0,oper -,rvalue 2,result r,string dec; "
            "byte_test:1,=,r,2;",
            "12\x0a"));
  // 3 * 16 = 0x30, masked with 0x30 and shifted right by 4: 3. (Masking first would give 0.)
  EXPECT_TRUE(
      holds("byte_math:bytes 1,offset 0,oper *,rvalue 16,result r,bitmask 0x30; "
            "byte_test:1,=,r,1;",
            std::string("\x03\x03", 2)));
  EXPECT_FALSE(
      holds("byte_math:bytes 1,offset 0,oper *,rvalue 16,result r,bitmask 0x30; "
            "byte_test:1,=,r,1;",
            std::string("\x03\x00", 2)));
}

TEST(ByteMath, RelativeReadAndThePositionMovesPastIt) {
  const std::string rule =
      "content:\"LEN\"; byte_math:bytes 1,offset 0,oper +,rvalue 1,result n,relative; "
      "content:\"Z\"; distance:n; within:1;";
  EXPECT_TRUE(holds(rule,
                    "xLEN\x02"
                    "abcZ"));  // the cursor after the length byte, then 3 on
  EXPECT_FALSE(holds(rule,
                     "xLEN\x02"
                     "abZc"));
  // isdataat takes the variable too.
  EXPECT_TRUE(holds("byte_math:bytes 1,offset 0,oper +,rvalue 1,result n; isdataat:n;",
                    "\x03"
                    "abcd"));
  EXPECT_FALSE(holds("byte_math:bytes 1,offset 0,oper +,rvalue 1,result n; isdataat:n;",
                     "\x03"
                     "abc"));
  EXPECT_FALSE(holds("byte_math:bytes 2,offset 5,oper +,rvalue 1,result n;",
                     "\x03"
                     "abc"));
}

// asn1 in the verifier: from the absolute offset or after the previous match, any check that
// fires on a decoded BER object matches; the position is left alone.
TEST(Asn1, ChecksBerObjectsAtTheOffset) {
  const std::string octets11 = "\x04\x0b" + std::string(11, 'a');  // OCTET STRING of 11 bytes
  EXPECT_TRUE(holds("asn1:oversize_length 10;", octets11));
  EXPECT_FALSE(holds("asn1:oversize_length 11;", octets11));
  EXPECT_TRUE(holds("asn1:oversize_length 10,absolute_offset 2;", "zz" + octets11));
  EXPECT_FALSE(holds("asn1:oversize_length 10,absolute_offset 1;", "zz" + octets11));
  // A BIT STRING of one octet claiming 9 unused bits, after "AA" (Suricata's own example).
  const std::string bits("AA\x03\x01\x09", 5);
  EXPECT_TRUE(holds("content:\"AA\"; asn1:bitstring_overflow, relative_offset 0;", bits));
  EXPECT_TRUE(holds("asn1:bitstring_overflow relative_offset 2;", bits));  // blanks separate too
  EXPECT_FALSE(holds("content:\"AA\"; asn1:double_overflow, relative_offset 0;", bits));
  // The position stays: a relative content after asn1 counts from "AA".
  EXPECT_TRUE(
      holds("content:\"AA\"; asn1:bitstring_overflow, relative_offset 0; "
            "content:\"|03|\"; within:1;",
            bits));
}

TEST(ByteJump, MovesThePositionRelativeMatchesCountFrom) {
  // A length byte (3) then 3 bytes skipped, then the marker right after them.
  const std::string p(
      "\x03"
      "abcMARK",
      8);
  EXPECT_TRUE(holds("byte_jump:1,0; content:\"MARK\"; within:4;", p));
  EXPECT_FALSE(holds("byte_jump:1,0; content:\"abc\"; within:3;", p));
  // multiplier 2 jumps 6: past the marker's start.
  EXPECT_FALSE(holds("byte_jump:1,0,multiplier 2; content:\"MARK\"; within:4;", p));
  // post_offset -1 lands on the 'c'.
  EXPECT_TRUE(holds("byte_jump:1,0,post_offset -1; content:\"cMARK\"; within:5;", p));
}

TEST(ByteJump, AlignFromBeginningAndOutOfBounds) {
  const std::string p(
      "\x02"
      "xyzWXYZ",
      8);
  // The value 2 aligned up to 4, from the end of the length byte (position 1): position 5.
  EXPECT_TRUE(holds("byte_jump:1,0,align; content:\"XYZ\"; within:3;", p));
  // From the beginning: position 2.
  EXPECT_TRUE(holds("byte_jump:1,0,from_beginning; content:\"yz\"; within:2;", p));
  EXPECT_FALSE(holds("byte_jump:1,0,multiplier 100;", p));  // lands beyond the end
}

TEST(PositionalKeywords, ContentModifiersAfterThemStillApplyToTheContent) {
  rules::RuleParser parser(rules::default_variables(), nullptr);
  parser.parse_text(
      "alert tcp any any -> any any (msg:\"m\"; content:\"abc\"; isdataat:2,relative; nocase; "
      "fast_pattern; sid:1;)",
      "t.rules");
  const rules::RuleSet set = parser.take();
  ASSERT_EQ(set.rules.size(), 1u);
  EXPECT_TRUE(set.rules[0].contents[0].nocase);
  EXPECT_TRUE(set.rules[0].contents[0].fast_pattern);
}

TEST(PositionalKeywords, ErrorsNameTheProblem) {
  const std::pair<const char*, const char*> cases[] = {
      {"byte_test:4,~,1,0;", "unknown operator"},
      {"byte_test:9,=,1,0;", "BYTES must be 1..8"},
      {"byte_test:0,=,1,0;", "(0, any number of digits, needs string)"},
      {"byte_test:21,=,1,0,string,dec;", "BYTES must be 0..20"},
      {"byte_jump:0,0,string,dec;", "BYTES must be 1..20"},
      {"base64_data; content:\"x\";", "needs a base64_decode before it"},
      {"byte_test:1,=,nope,0;", "'nope' is no byte_extract variable"},
      {"byte_extract:1,0,v; byte_extract:1,1,v;", "variable 'v' is already set"},
      {"byte_extract:1,0,v; byte_math:bytes 1,offset 0,oper +,rvalue 1,result v;",
       "variable 'v' is already set"},
      {"byte_math:bytes 1,offset 0,oper +,rvalue 1;", "needs result"},
      {"byte_math:bytes 1,offset 0,oper %,rvalue 1,result r;", "unknown oper '%'"},
      {"byte_math:bytes 5,offset 0,oper <<,rvalue 1,result r;", "out of range 1..4"},
      {"byte_math:bytes 9,offset 0,oper +,rvalue 1,result r;", "needs string"},
      {"byte_math:bytes 11,offset 0,oper +,rvalue 1,result r,string dec;", "out of range 1..10"},
      {"byte_math:bytes 1,offset 0,oper +,rvalue 1,result r,endian dce;", "DCE/RPC"},
      {"byte_math:bytes 1,offset 0,oper +,rvalue 1,result r,dce;", "DCE/RPC"},
      {"byte_math:bytes 1,offset 0,offset 1,oper +,rvalue 1,result r;", "'offset' given twice"},
      {"byte_math:bytes 1,offset 0,oper +,rvalue nope,result r;", "'nope' is no byte_extract"},
      {"byte_math:bytes 1,offset 0,oper +,rvalue 1,result r,bitmask 0;", "non-zero"},
      {"byte_math:bytes 1,offset 0,oper +,rvalue 1,result r,multiplier 2;", "unknown option"},
      {"asn1:absolute_offset 1;", "'asn1' needs a check"},
      {"asn1:oversize_length 5, absolute_offset 1, relative_offset 2;", "one of absolute_offset"},
      {"asn1:bitstring_overflow, print;", "unknown option 'print'"},
      {"asn1:oversize_length;", "needs a number"},
      {"asn1:double_overflow, absolute_offset -1;", "out of range 0..65535"},
      {"byte_extract:1,0,9v;", "bad variable name '9v'"},
      {"byte_extract:1,0,v,align 3;", "align must be 2 or 4"},
      {"content:\"a\"; distance:later; byte_extract:1,0,later;", "expects a number"},
      {"base64_decode; base64_decode;", "'base64_decode' given twice"},
      {"base64_decode:bytes x;", "'bytes' expects 0..65535"},
      {"base64_decode:whole;", "unknown option 'whole'"},
      {"byte_test:2,=,var,0;", "is no byte_extract variable"},
      {"byte_test:2,=,1,0,dce;", "DCE/RPC"},
      {"byte_jump:4;", "expects BYTES,OFFSET"},
      {"byte_jump:4,0,from_beginning,from_end;", "exclude each other"},
      {"isdataat:x;", "expects [!]N"},
      {"itype:!0; itype:<20;", "given twice"},
      {"icode:300;", "(0..255)"},
      {"ttl:300;", "(0..255)"},
      {"ip_proto:foo;", "'ip_proto' expects"},
      {"window:70000;", "(0..65535)"},
      {"stream_size:server,<;", "expects SIDE,OPERATOR,NUMBER"},
      {"stream_size:nobody,<,5;", "side must be"},
      {"stream_size:server,~,5;", "operator must be"},
  };
  for (const auto& [options, message] : cases) {
    rules::RuleParser parser(rules::default_variables(), nullptr);
    parser.parse_text(
        std::string("alert tcp any any -> any any (msg:\"m\"; ") + options + " sid:1;)", "t.rules");
    const rules::RuleSet set = parser.take();
    ASSERT_EQ(set.failed, 1u) << options;
    EXPECT_NE(set.diagnostics.front().message.find(message), std::string::npos)
        << options << ": " << set.diagnostics.front().message;
  }
}

}  // namespace
}  // namespace spanguard::detect

// ---- ICMP type and code, end to end ---------------------------------------------------------

namespace spanguard::detect {
namespace {

TEST(IcmpKeywords, ItypeAndIcodeTestTheHeader) {
  Sensor s(
      "alert icmp any any -> any any (msg:\"echo\"; itype:8; icode:0; sid:1;)\n"
      "alert icmp any any -> any any (msg:\"unreachable\"; itype:3; icode:>0; sid:2;)\n"
      "alert icmp any any -> any any (msg:\"not echo reply\"; itype:!0; sid:3;)\n");
  auto icmp = [](const char* src, uint8_t type, uint8_t code) {
    return testing::FrameBuilder()
        .ethernet()
        .ipv4(src, "198.51.100.20")
        .icmp(type, code)
        .payload("abcd")
        .build();
  };
  s.feed(icmp("198.51.100.1", 8, 0));  // echo: 1 and 3
  s.feed(icmp("198.51.100.2", 3, 3));  // port unreachable: 2 and 3
  s.feed(icmp("198.51.100.3", 3, 0));  // net unreachable (code 0): 3 only
  s.feed(icmp("198.51.100.4", 0, 0));  // echo reply: none
  std::vector<uint32_t> sids = s.sids();
  std::sort(sids.begin(), sids.end());
  EXPECT_EQ(sids, (std::vector<uint32_t>{1, 2, 3, 3, 3}));
}

}  // namespace
}  // namespace spanguard::detect

namespace spanguard::detect {
namespace {

TEST(StreamSize, ComparesTheSequenceSpaceEachEndpointSent) {
  const std::string rules =
      "alert tcp any any -> any any (msg:\"quiet server\"; flow:to_server; content:\"GO\"; "
      "stream_size:server,<,5; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"both talked\"; flow:to_server; content:\"GO\"; "
      "stream_size:both,>,3; sid:2;)\n";
  auto run = [&](const std::string& banner) {
    Sensor s(rules);
    testing::TcpConversation c({"198.51.100.10", 42000, testing::kClientMac},
                               {"198.51.100.20", 2323, testing::kServerMac});
    s.feed(c.handshake());
    if (!banner.empty()) s.feed(c.server_sends(banner));
    s.feed(c.client_sends("HELLO GO\r\n"));
    std::vector<uint32_t> sids = s.sids();
    std::sort(sids.begin(), sids.end());
    return sids;
  };
  // The server sent only its SYN (1): quiet; the client sent SYN + 10 bytes.
  EXPECT_EQ(run(""), (std::vector<uint32_t>{1}));
  // A banner of 8 bytes: the server sent 9.
  EXPECT_EQ(run("BANNER\r\n"), (std::vector<uint32_t>{2}));
}

}  // namespace
}  // namespace spanguard::detect

namespace spanguard::detect {
namespace {

using testing::FrameBuilder;

// Which of the rules fire on one packet.
std::vector<uint32_t> fired_on(const std::string& rules, const Bytes& frame) {
  Sensor s(rules);
  s.feed(frame);
  std::vector<uint32_t> sids = s.sids();
  std::sort(sids.begin(), sids.end());
  return sids;
}

TEST(HeaderKeywords, IpFieldsTtlTosIdIpProtoAndSameip) {
  const std::string rules =
      "alert ip any any -> any any (msg:\"low ttl\"; ttl:<5; sid:1;)\n"
      "alert ip any any -> any any (msg:\"tos\"; tos:0x10; sid:2;)\n"
      "alert ip any any -> any any (msg:\"id\"; id:31337; sid:3;)\n"
      "alert ip any any -> any any (msg:\"gre\"; ip_proto:gre; sid:4;)\n"
      "alert ip any any -> any any (msg:\"not tcp\"; ip_proto:!6; sid:5;)\n"
      "alert ip any any -> any any (msg:\"land\"; sameip; sid:6;)\n";
  const Bytes udp = FrameBuilder()
                        .ethernet()
                        .ipv4("198.51.100.1", "198.51.100.2", {.ttl = 3, .tos = 0x10, .id = 31337})
                        .udp(1000, 2000)
                        .payload("x")
                        .build();
  EXPECT_EQ(fired_on(rules, udp), (std::vector<uint32_t>{1, 2, 3, 5}));
  const Bytes land = FrameBuilder()
                         .ethernet()
                         .ipv4("198.51.100.7", "198.51.100.7", {.ttl = 64, .id = 2})
                         .tcp(80, 80, {.flags = decode::tcp_flag::kSyn})
                         .build();
  EXPECT_EQ(fired_on(rules, land), (std::vector<uint32_t>{6}));
}

TEST(HeaderKeywords, TcpWindowSeqAckAndIcmpEchoIdSeq) {
  const std::string rules =
      "alert tcp any any -> any any (msg:\"window\"; window:55808; sid:1;)\n"
      "alert tcp any any -> any any (msg:\"seq\"; seq:1958810375; sid:2;)\n"
      "alert tcp any any -> any any (msg:\"ack\"; ack:0; flags:S; sid:3;)\n"
      "alert icmp any any -> any any (msg:\"icmp id\"; icmp_id:4660; sid:4;)\n"
      "alert icmp any any -> any any (msg:\"icmp seq\"; icmp_seq:>100; sid:5;)\n";
  const Bytes syn =
      FrameBuilder()
          .ethernet()
          .ipv4("198.51.100.1", "198.51.100.2")
          .tcp(1234, 80,
               {.seq = 1958810375, .ack = 0, .flags = decode::tcp_flag::kSyn, .window = 55808})
          .build();
  EXPECT_EQ(fired_on(rules, syn), (std::vector<uint32_t>{1, 2, 3}));
  // Echo request: identifier 0x1234 (4660), sequence 7.
  const Bytes echo = FrameBuilder()
                         .ethernet()
                         .ipv4("198.51.100.1", "198.51.100.2")
                         .icmp(8, 0, 0x12340007)
                         .payload("ping")
                         .build();
  EXPECT_EQ(fired_on(rules, echo), (std::vector<uint32_t>{4}));
}

}  // namespace
}  // namespace spanguard::detect
