// DNS messages: every header field and rdata type, compression (pointer to pointer too), each
// hostile name and count flagged without losing what can still be read, limits, TCP framing cut
// everywhere, gaps and resync, detection probes, and the EVE text tables.
#include "spanguard/applayer/dns.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "dns_messages.h"

namespace spanguard::applayer::dns {
namespace {

namespace sgt = spanguard::testing;
using sgt::Bytes;
using sgt::DnsMessageBuilder;

std::string rdata_string(const Message& m, const Record& r) {
  const auto raw = m.rdata(r);
  return {raw.begin(), raw.end()};
}

std::string ipv6_text(std::initializer_list<uint8_t> bytes) {
  std::vector<uint8_t> a(bytes);
  EXPECT_EQ(a.size(), 16u);
  std::string out;
  append_ipv6(out, a.data());
  return out;
}

Bytes bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

// The response most tests use: a question, one answer of each common type, SOA authority, OPT.
Bytes full_response(bool compress) {
  sgt::DnsSoa soa{
      "ns1.example.com", "hostmaster.example.com", 2024010101, 7200, 3600, 1209600, 300};
  return DnsMessageBuilder(0xBEEF, sgt::response_flags())
      .compress(compress)
      .question("www.example.com", kTypeA)
      .answer(sgt::rr_cname("www.example.com", "web.example.com", 60))
      .answer(sgt::rr_a("web.example.com", "192.0.2.10", 61))
      .answer(sgt::rr_aaaa("web.example.com", "2001:db8::10", 62))
      .answer(sgt::rr_ns("example.com", "ns1.example.com"))
      .answer(sgt::rr_ptr("10.2.0.192.in-addr.arpa", "web.example.com"))
      .answer(sgt::rr_dname("old.example.com", "new.example.net"))
      .answer(sgt::rr_mx("example.com", 10, "mail.example.com"))
      .answer(sgt::rr_txt("example.com", {"v=spf1 ", "-all"}))
      .answer(sgt::rr_srv("_sip._tcp.example.com", 1, 2, 5060, "sip.example.com"))
      .answer(sgt::rr_raw("example.com", 99, {0xde, 0xad}))
      .authority(sgt::rr_soa("example.com", soa, 900))
      .additional(sgt::rr_opt(1232, {{10, {1, 2, 3, 4, 5, 6, 7, 8}}}, 0x00008000))
      .build();
}

// ---- well-formed messages -------------------------------------------------------------------

TEST(DnsParse, QueryHeaderAndQuestionFields) {
  sgt::DnsFlags f;
  f.rd = true;
  f.ad = true;
  f.cd = true;
  const Bytes q = DnsMessageBuilder(0xA1B2, f).question("www.Example.com", kTypeAaaa).build();
  Message m;
  EXPECT_EQ(parse_message(q, m), 0u);
  EXPECT_TRUE(m.header_ok);
  EXPECT_TRUE(m.complete);
  EXPECT_EQ(m.header.id, 0xA1B2);
  EXPECT_EQ(m.header.flags, 0x0130);
  EXPECT_FALSE(m.header.qr);
  EXPECT_EQ(m.header.opcode, kOpcodeQuery);
  EXPECT_FALSE(m.header.aa);
  EXPECT_FALSE(m.header.tc);
  EXPECT_TRUE(m.header.rd);
  EXPECT_FALSE(m.header.ra);
  EXPECT_FALSE(m.header.z);
  EXPECT_TRUE(m.header.ad);
  EXPECT_TRUE(m.header.cd);
  EXPECT_EQ(m.header.rcode, 0);
  EXPECT_EQ(m.header.qdcount, 1);
  EXPECT_EQ(m.header.ancount + m.header.nscount + m.header.arcount, 0);
  ASSERT_EQ(m.questions().size(), 1u);
  EXPECT_EQ(m.questions()[0].name, "www.Example.com");  // case kept, as sent
  EXPECT_EQ(m.questions()[0].type, kTypeAaaa);
  EXPECT_EQ(m.questions()[0].qclass, kClassIn);
  EXPECT_TRUE(m.questions()[0].name_ok);
  EXPECT_TRUE(m.answers().empty());
}

TEST(DnsParse, EveryHeaderBitDecodes) {
  const Bytes all = DnsMessageBuilder().raw_flags(0xFFFF).question("a", kTypeA).build();
  Message m;
  parse_message(all, m);
  const Header& h = m.header;
  EXPECT_TRUE(h.qr && h.aa && h.tc && h.rd && h.ra && h.z && h.ad && h.cd);
  EXPECT_EQ(h.opcode, 15);
  EXPECT_EQ(h.rcode, 15);
  EXPECT_EQ(m.anomalies, bit(Anomaly::kZFlagSet) | bit(Anomaly::kInvalidOpcode));
  EXPECT_FALSE(m.malformed());

  sgt::DnsFlags update;
  update.opcode = kOpcodeUpdate;
  update.rd = false;
  const Bytes u = DnsMessageBuilder(7, update).question("example.com", kTypeSoa).build();
  parse_message(u, m);
  EXPECT_EQ(m.header.opcode, kOpcodeUpdate);
  EXPECT_EQ(m.anomalies, 0u);
  EXPECT_EQ(DnsMessageBuilder().raw_flags(0x8183).question("x", kTypeA).build()[3], 0x83);
  parse_message(DnsMessageBuilder().raw_flags(0x8183).question("x", kTypeA).build(), m);
  EXPECT_TRUE(m.header.qr);
  EXPECT_EQ(m.header.rcode, kRcodeNxDomain);
}

TEST(DnsParse, ResponseRendersEveryRdataType) {
  for (const bool compress : {false, true}) {
    SCOPED_TRACE(compress ? "compressed" : "uncompressed");
    const Bytes wire = full_response(compress);
    Message m;
    EXPECT_EQ(parse_message(wire, m), 0u);
    EXPECT_TRUE(m.complete);
    EXPECT_TRUE(m.header.qr);
    EXPECT_TRUE(m.header.ra);
    ASSERT_EQ(m.answers().size(), 10u);
    ASSERT_EQ(m.authorities().size(), 1u);
    ASSERT_EQ(m.additionals().size(), 1u);
    const auto an = m.answers();

    EXPECT_EQ(an[0].name, "www.example.com");
    EXPECT_EQ(an[0].type, kTypeCname);
    EXPECT_EQ(an[0].rclass, kClassIn);
    EXPECT_EQ(an[0].ttl, 60u);
    EXPECT_EQ(an[0].text, "web.example.com");

    EXPECT_EQ(an[1].text, "192.0.2.10");
    EXPECT_EQ(rdata_string(m, an[1]), std::string("\xc0\x00\x02\x0a", 4));
    EXPECT_EQ(an[1].ttl, 61u);
    EXPECT_EQ(an[2].text, "2001:db8::10");
    EXPECT_EQ(an[2].rdata_length, 16);
    EXPECT_EQ(an[3].type, kTypeNs);
    EXPECT_EQ(an[3].text, "ns1.example.com");
    EXPECT_EQ(an[4].name, "10.2.0.192.in-addr.arpa");
    EXPECT_EQ(an[4].text, "web.example.com");
    EXPECT_EQ(an[5].type, kTypeDname);
    EXPECT_EQ(an[5].text, "new.example.net");

    EXPECT_EQ(an[6].type, kTypeMx);
    EXPECT_EQ(an[6].preference, 10);
    EXPECT_EQ(an[6].text, "mail.example.com");

    EXPECT_EQ(an[7].type, kTypeTxt);
    EXPECT_EQ(an[7].text, "v=spf1 -all");
    ASSERT_EQ(an[7].pieces.size(), 2u);
    EXPECT_EQ(m.piece(an[7].pieces[0]), "v=spf1 ");
    EXPECT_EQ(m.piece(an[7].pieces[1]), "-all");

    EXPECT_EQ(an[8].name, "_sip._tcp.example.com");
    EXPECT_EQ(an[8].srv.priority, 1);
    EXPECT_EQ(an[8].srv.weight, 2);
    EXPECT_EQ(an[8].srv.port, 5060);
    EXPECT_EQ(an[8].text, "sip.example.com");

    EXPECT_EQ(an[9].type, 99);
    EXPECT_TRUE(an[9].text.empty());
    EXPECT_EQ(rdata_string(m, an[9]), "\xde\xad");
    EXPECT_TRUE(an[9].rdata_ok);

    const Record& soa = m.authorities()[0];
    EXPECT_EQ(soa.type, kTypeSoa);
    EXPECT_EQ(soa.ttl, 900u);
    EXPECT_EQ(soa.text, "ns1.example.com");
    EXPECT_EQ(soa.soa.mname, "ns1.example.com");
    EXPECT_EQ(soa.soa.rname, "hostmaster.example.com");
    EXPECT_EQ(soa.soa.serial, 2024010101u);
    EXPECT_EQ(soa.soa.refresh, 7200u);
    EXPECT_EQ(soa.soa.retry, 3600u);
    EXPECT_EQ(soa.soa.expire, 1209600u);
    EXPECT_EQ(soa.soa.minimum, 300u);

    const Record* opt = m.opt();
    ASSERT_NE(opt, nullptr);
    EXPECT_EQ(opt->name, "");
    EXPECT_EQ(opt->rclass, 1232);  // UDP payload size
    EXPECT_EQ(opt->ttl, 0x8000u);  // DO bit
    ASSERT_EQ(opt->pieces.size(), 1u);
    EXPECT_EQ(opt->pieces[0].code, 10);  // COOKIE
    EXPECT_EQ(m.piece(opt->pieces[0]), std::string("\1\2\3\4\5\6\7\x08", 8));

    for (const Record& r : an) EXPECT_TRUE(r.name_ok && r.rdata_ok) << r.name;
  }
}

TEST(DnsParse, CompressionPointersResolve) {
  const Bytes plain = full_response(false);
  const Bytes packed = full_response(true);
  EXPECT_LT(packed.size(), plain.size());  // the builder did compress
  Message a, b;
  parse_message(plain, a);
  parse_message(packed, b);
  ASSERT_EQ(a.answers().size(), b.answers().size());
  for (size_t i = 0; i < a.answers().size(); ++i) {
    EXPECT_EQ(a.answers()[i].name, b.answers()[i].name);
    EXPECT_EQ(a.answers()[i].text, b.answers()[i].text);
  }
  EXPECT_EQ(a.authorities()[0].soa.rname, b.authorities()[0].soa.rname);
}

TEST(DnsParse, PointerToAPointerResolves) {
  // Question name at 12; answer 1's owner is a pointer to 12 at offset 33; answer 2's owner is a
  // pointer to that pointer.
  sgt::DnsRr second = sgt::rr_a("", "192.0.2.2");
  second.raw_name = sgt::wire_pointer(33);
  const Bytes wire = DnsMessageBuilder(1, sgt::response_flags())
                         .compress()
                         .question("www.example.com", kTypeA)
                         .answer(sgt::rr_a("www.example.com", "192.0.2.1"))
                         .answer(second)
                         .build();
  ASSERT_EQ(wire[33], 0xC0);
  ASSERT_EQ(wire[34], 12);
  Message m;
  EXPECT_EQ(parse_message(wire, m), 0u);
  ASSERT_EQ(m.answers().size(), 2u);
  EXPECT_EQ(m.answers()[0].name, "www.example.com");
  EXPECT_EQ(m.answers()[1].name, "www.example.com");
  EXPECT_EQ(m.answers()[1].text, "192.0.2.2");
}

TEST(DnsParse, RootNameIsEmptyText) {
  const Bytes wire = DnsMessageBuilder(5).question(".", kTypeNs).build();
  Message m;
  EXPECT_EQ(parse_message(wire, m), 0u);
  ASSERT_EQ(m.questions().size(), 1u);
  EXPECT_EQ(m.questions()[0].name, "");  // Suricata's EVE: "rrname": ""
  EXPECT_TRUE(m.questions()[0].name_ok);
}

TEST(DnsParse, AaaaTextFollowsRfc5952) {
  EXPECT_EQ(ipv6_text({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), "2001:db8::1");
  EXPECT_EQ(ipv6_text({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), "::");
  EXPECT_EQ(ipv6_text({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), "::1");
  EXPECT_EQ(ipv6_text({0x20, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), "2001::");
  // A lone zero group stays "0" (§4.2.2).
  EXPECT_EQ(ipv6_text({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1}),
            "2001:db8:0:1:1:1:1:1");
  // The longest run (§4.2.3), the first of equal runs.
  EXPECT_EQ(ipv6_text({0x20, 0x01, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}), "2001:0:0:1::1");
  EXPECT_EQ(ipv6_text({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1}),
            "2001:db8::1:0:0:1");
  // Lower case, no leading zeros (§4.1, §4.3).
  EXPECT_EQ(ipv6_text({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x0a, 0xbc, 0, 0x0d, 0xef, 0x01, 0x00, 0x0f}),
            "fe80::abc:d:ef01:f");
  // IPv4-mapped in mixed notation (§5).
  EXPECT_EQ(ipv6_text({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1}),
            "::ffff:192.0.2.1");
}

TEST(DnsParse, LabelBytesKeptRawAndEveTextEscapesInvalidUtf8) {
  const std::string label("a\x01\xff.b", 5);  // a dot inside a label reads as a separator
  Bytes name = sgt::wire_labels({label, "caf\xc3\xa9", "com"});
  Bytes wire = sgt::dns_header(1, 0x0100, 1, 0, 0, 0);
  sgt::put_question(wire, name, kTypeA);
  Message m;
  EXPECT_EQ(parse_message(wire, m), 0u);
  ASSERT_EQ(m.questions().size(), 1u);
  EXPECT_EQ(m.questions()[0].name, std::string("a\x01\xff.b.caf\xc3\xa9.com", 15));
  std::string eve;
  append_eve_text(eve, m.questions()[0].name);
  EXPECT_EQ(eve, std::string("a\x01\\xff.b.caf\\xc3\\xa9.com"));  // not UTF-8: every high byte
  eve.clear();
  append_eve_text(eve, "caf\xc3\xa9.com");  // valid UTF-8 passes as is
  EXPECT_EQ(eve, "caf\xc3\xa9.com");
  eve.clear();
  append_eve_text(eve, "\xed\xa0\x80");  // a surrogate is not UTF-8
  EXPECT_EQ(eve, "\\xed\\xa0\\x80");
}

TEST(DnsParse, TrailingBytesAreFlaggedNotMalformed) {
  const Bytes wire = DnsMessageBuilder().question("a.example", kTypeA).trailer({0, 0, 0}).build();
  Message m;
  EXPECT_EQ(parse_message(wire, m), bit(Anomaly::kTrailingData));
  EXPECT_TRUE(m.complete);
  EXPECT_FALSE(m.malformed());
}

TEST(DnsParse, ReusedMessageHoldsOnlyTheLatestParse) {
  Message m;
  parse_message(full_response(true), m);
  const Bytes q = sgt::dns_query(9, "small.example", kTypeTxt);
  parse_message(q, m);
  Message fresh;
  parse_message(q, fresh);
  EXPECT_EQ(m.questions().size(), 1u);
  EXPECT_TRUE(m.answers().empty() && m.authorities().empty() && m.additionals().empty());
  EXPECT_EQ(m.questions()[0].name, fresh.questions()[0].name);
  EXPECT_EQ(m.header.id, 9);
  EXPECT_EQ(m.opt(), nullptr);
  // The capacity stays for the next message; a big one again reads the same as the first time.
  const size_t held = m.memory_bytes();
  parse_message(full_response(true), m);
  EXPECT_EQ(m.answers()[7].text, "v=spf1 -all");
  EXPECT_GE(m.memory_bytes(), held);
}

TEST(DnsParse, EntryDroppedMidwayLeavesNothingForTheNextParse) {
  // The second answer's name is read, then its fixed fields are missing: the entry is dropped.
  Bytes cut = sgt::dns_header(4, 0x8180, 0, 2, 0, 0);
  sgt::put_rr(cut, sgt::wire_name("ok.example"), kTypeA, 1, 1, Bytes{1, 2, 3, 4});
  sgt::append(cut, sgt::wire_name("dropped.example"));
  Message m;
  parse_message(cut, m);
  ASSERT_EQ(m.answers().size(), 1u);
  const Bytes two = DnsMessageBuilder(5, sgt::response_flags())
                        .answer(sgt::rr_a("one.example", "10.0.0.1"))
                        .answer(sgt::rr_a("two.example", "10.0.0.2"))
                        .build();
  parse_message(two, m);
  ASSERT_EQ(m.answers().size(), 2u);
  EXPECT_EQ(m.answers()[1].name, "two.example");
}

// ---- hostile and malformed messages ---------------------------------------------------------

TEST(DnsMalformed, SelfPointerIsALoopAndParsingGoesOn) {
  Bytes wire = sgt::dns_header(1, 0x0100, 2, 0, 0, 0);
  sgt::put_question(wire, sgt::wire_pointer(12), kTypeA);  // the name at 12 points to 12
  sgt::put_question(wire, sgt::wire_name("after.example"), kTypeA);
  Message m;
  parse_message(wire, m);
  EXPECT_TRUE(m.has(Anomaly::kPointerLoop));
  EXPECT_TRUE(m.complete);  // a pointer ends the name in the stream: the next entry still reads
  ASSERT_EQ(m.questions().size(), 2u);
  EXPECT_FALSE(m.questions()[0].name_ok);
  EXPECT_EQ(m.questions()[0].name, "");
  EXPECT_EQ(m.questions()[0].type, kTypeA);
  EXPECT_EQ(m.questions()[1].name, "after.example");
}

TEST(DnsMalformed, TwoHopPointerLoopIsFlaggedWithThePartialName) {
  // Question name at 12: "a" then a pointer to the answer's owner name, which points back to 12.
  Bytes wire = sgt::dns_header(1, 0x8180, 1, 1, 0, 0);
  Bytes qname = sgt::wire_labels({"a"}, false);
  const uint16_t owner_at = 12 + 2 + 2 + 4;  // label, pointer, type and class
  sgt::append(qname, sgt::wire_pointer(owner_at));
  sgt::put_question(wire, qname, kTypeA);
  ASSERT_EQ(wire.size(), owner_at);
  sgt::put_rr(wire, sgt::wire_pointer(12), kTypeA, 1, 60, Bytes{192, 0, 2, 1});
  Message m;
  parse_message(wire, m);
  EXPECT_TRUE(m.has(Anomaly::kPointerLoop));
  EXPECT_TRUE(m.complete);
  ASSERT_EQ(m.questions().size(), 1u);
  EXPECT_EQ(m.questions()[0].name, "a");
  EXPECT_FALSE(m.questions()[0].name_ok);
  ASSERT_EQ(m.answers().size(), 1u);
  EXPECT_EQ(m.answers()[0].name, "a");  // 20 -> 12 reads "a", then 12's pointer to 20 loops
  EXPECT_FALSE(m.answers()[0].name_ok);
  EXPECT_EQ(m.answers()[0].text, "192.0.2.1");
}

TEST(DnsMalformed, ForwardPointerIsRejected) {
  // RFC 1035 §4.1.4 points to a prior occurrence; a pointer to a later name is refused.
  Bytes wire = sgt::dns_header(1, 0x0100, 2, 0, 0, 0);
  sgt::put_question(wire, sgt::wire_pointer(18), kTypeA);  // to the next question's name
  ASSERT_EQ(wire.size(), 18u);
  sgt::put_question(wire, sgt::wire_name("later.example"), kTypeA);
  Message m;
  parse_message(wire, m);
  EXPECT_TRUE(m.has(Anomaly::kPointerLoop));
  ASSERT_EQ(m.questions().size(), 2u);
  EXPECT_FALSE(m.questions()[0].name_ok);
  EXPECT_TRUE(m.questions()[1].name_ok);
}

TEST(DnsMalformed, LabelOver63StopsAnOwnerNameButNotAnRdataName) {
  // In a question the name's end is then unknown: parsing stops, the question is kept.
  Bytes wire = sgt::dns_header(1, 0x0100, 1, 0, 0, 0);
  sgt::put_question(wire, sgt::wire_labels({std::string(64, 'a'), "com"}), kTypeA);
  Message m;
  parse_message(wire, m);
  EXPECT_TRUE(m.has(Anomaly::kLabelTooLong));
  EXPECT_FALSE(m.complete);
  ASSERT_EQ(m.questions().size(), 1u);
  EXPECT_FALSE(m.questions()[0].name_ok);

  // The 0x80 label type inside a CNAME's rdata: rdlength still gives the next record.
  Bytes r = sgt::dns_header(2, 0x8180, 0, 2, 0, 0);
  Bytes bad_target = sgt::wire_labels({"ok"}, false);
  bad_target.push_back(0x80);
  bad_target.push_back(0);
  sgt::put_rr(r, sgt::wire_name("x.example"), kTypeCname, 1, 60, bad_target);
  sgt::put_rr(r, sgt::wire_name("y.example"), kTypeA, 1, 60, Bytes{10, 0, 0, 1});
  parse_message(r, m);
  EXPECT_TRUE(m.has(Anomaly::kLabelTooLong));
  EXPECT_TRUE(m.complete);
  ASSERT_EQ(m.answers().size(), 2u);
  EXPECT_FALSE(m.answers()[0].rdata_ok);
  EXPECT_EQ(m.answers()[0].text, "ok");
  EXPECT_EQ(m.answers()[1].text, "10.0.0.1");
}

TEST(DnsMalformed, NameOver255KeepsTheLabelsThatFit) {
  const std::string l63(63, 'x');
  // Uncompressed: 5 labels of 63 = 321 octets. The text keeps 3 (193 octets); the walk goes on to
  // the end of the name, so the rest of the message reads.
  Bytes wire = sgt::dns_header(1, 0x0100, 2, 0, 0, 0);
  sgt::put_question(wire, sgt::wire_labels({l63, l63, l63, l63, l63}), kTypeA);
  sgt::put_question(wire, sgt::wire_name("next.example"), kTypeMx);
  Message m;
  parse_message(wire, m);
  EXPECT_TRUE(m.has(Anomaly::kNameTooLong));
  EXPECT_TRUE(m.complete);
  ASSERT_EQ(m.questions().size(), 2u);
  EXPECT_EQ(m.questions()[0].name, l63 + "." + l63 + "." + l63);
  EXPECT_FALSE(m.questions()[0].name_ok);
  EXPECT_EQ(m.questions()[1].name, "next.example");
  EXPECT_EQ(m.questions()[1].type, kTypeMx);

  // Through a pointer: 2 labels + a pointer to 3 labels expands to 321 octets.
  Bytes p = sgt::dns_header(1, 0x0100, 2, 0, 0, 0);
  sgt::put_question(p, sgt::wire_labels({l63, l63, l63}), kTypeA);
  Bytes long_name = sgt::wire_labels({l63, l63}, false);
  sgt::append(long_name, sgt::wire_pointer(12));
  sgt::put_question(p, long_name, kTypeA);
  parse_message(p, m);
  EXPECT_EQ(m.anomalies, bit(Anomaly::kNameTooLong));
  EXPECT_TRUE(m.complete);
  ASSERT_EQ(m.questions().size(), 2u);
  EXPECT_TRUE(m.questions()[0].name_ok);
  EXPECT_EQ(m.questions()[1].name, l63 + "." + l63 + "." + l63);
  EXPECT_FALSE(m.questions()[1].name_ok);
}

// A message whose second record's owner name reaches the question name "a" through `hops`
// pointers, each to the one 2 bytes before it (all strictly backwards, so no loop).
Bytes pointer_chain(size_t hops) {
  Bytes wire = sgt::dns_header(1, 0x8180, 1, 2, 0, 0);
  sgt::put_question(wire, sgt::wire_name("a"), kTypeA);  // name at 12
  Bytes chain;
  const size_t chain_at = wire.size() + 1 + 10;  // after a root owner and the fixed fields
  for (size_t k = 0; k + 1 < hops; ++k) {
    sgt::append(chain,
                sgt::wire_pointer(static_cast<uint16_t>(k == 0 ? 12 : chain_at + 2 * (k - 1))));
  }
  sgt::put_rr(wire, Bytes{0}, 65280, 1, 0, chain);  // private-use type: the chain as raw rdata
  sgt::put_rr(wire, sgt::wire_pointer(static_cast<uint16_t>(chain_at + 2 * (hops - 2))), kTypeA, 1,
              0, Bytes{10, 0, 0, 1});
  return wire;
}

TEST(DnsMalformed, LongPointerChainIsCutAtTheHopLimit) {
  Message m;
  parse_message(pointer_chain(kMaxPointerHops), m);
  EXPECT_EQ(m.anomalies, 0u);
  ASSERT_EQ(m.answers().size(), 2u);
  EXPECT_EQ(m.answers()[1].name, "a");

  parse_message(pointer_chain(kMaxPointerHops + 1), m);
  EXPECT_EQ(m.anomalies, bit(Anomaly::kPointerLoop));
  EXPECT_TRUE(m.complete);
  ASSERT_EQ(m.answers().size(), 2u);
  EXPECT_FALSE(m.answers()[1].name_ok);
  EXPECT_EQ(m.answers()[1].text, "10.0.0.1");
}

TEST(DnsMalformed, PointerOutsideTheMessageIsABadName) {
  Bytes wire = sgt::dns_header(1, 0x0100, 1, 0, 0, 0);
  Bytes name = sgt::wire_labels({"www"}, false);
  sgt::append(name, sgt::wire_pointer(0x3FFF));
  sgt::put_question(wire, name, kTypeA);
  Message m;
  parse_message(wire, m);
  EXPECT_EQ(m.anomalies, bit(Anomaly::kBadName));
  EXPECT_TRUE(m.complete);
  ASSERT_EQ(m.questions().size(), 1u);
  EXPECT_EQ(m.questions()[0].name, "www");
  EXPECT_FALSE(m.questions()[0].name_ok);
}

TEST(DnsMalformed, CountsLargerThanTheMessageKeepWhatIsThere) {
  const Bytes wire = DnsMessageBuilder(3, sgt::response_flags())
                         .question("a.example", kTypeA)
                         .answer(sgt::rr_a("a.example", "192.0.2.7"))
                         .counts(1, 5, 2, 1)
                         .build();
  Message m;
  parse_message(wire, m);
  EXPECT_EQ(m.anomalies, bit(Anomaly::kCountMismatch));
  EXPECT_FALSE(m.complete);
  EXPECT_EQ(m.header.ancount, 5);
  ASSERT_EQ(m.answers().size(), 1u);
  EXPECT_EQ(m.answers()[0].text, "192.0.2.7");

  // An rdlength running past the end: that record is not kept.
  Bytes cut = sgt::dns_header(4, 0x8180, 0, 2, 0, 0);
  sgt::put_rr(cut, sgt::wire_name("ok.example"), kTypeA, 1, 1, Bytes{1, 2, 3, 4});
  sgt::put_rr(cut, sgt::wire_name("cut.example"), kTypeA, 1, 1, Bytes{1, 2, 3, 4});
  cut.resize(cut.size() - 2);
  parse_message(cut, m);
  EXPECT_EQ(m.anomalies, bit(Anomaly::kCountMismatch));
  ASSERT_EQ(m.answers().size(), 1u);
  EXPECT_EQ(m.answers()[0].name, "ok.example");
}

TEST(DnsMalformed, ShortHeaderParsesNothing) {
  const Bytes wire = sgt::dns_query(1, "a.example", kTypeA);
  Message m;
  EXPECT_EQ(parse_message(std::span(wire).first(11), m), bit(Anomaly::kTruncatedHeader));
  EXPECT_FALSE(m.header_ok);
  EXPECT_TRUE(m.questions().empty());
  EXPECT_EQ(parse_message({}, m), bit(Anomaly::kTruncatedHeader));
}

TEST(DnsMalformed, EveryProperPrefixOfAResponseIsFlagged) {
  const Bytes wire = full_response(true);
  Message m;
  for (size_t n = 0; n < wire.size(); ++n) {
    parse_message(std::span(wire).first(n), m);
    EXPECT_TRUE(m.malformed()) << "prefix " << n;
    EXPECT_FALSE(m.complete) << "prefix " << n;
  }
  parse_message(wire, m);
  EXPECT_EQ(m.anomalies, 0u);
}

TEST(DnsMalformed, RdataNotMatchingItsTypeIsFlaggedAndKeptRaw) {
  Bytes wire = sgt::dns_header(1, 0x8180, 0, 6, 0, 0);
  const Bytes owner = sgt::wire_name("x.example");
  sgt::put_rr(wire, owner, kTypeA, 1, 1, Bytes{1, 2, 3, 4, 5});
  sgt::put_rr(wire, owner, kTypeAaaa, 1, 1, Bytes{1, 2, 3, 4});
  sgt::put_rr(wire, owner, kTypeMx, 1, 1, Bytes{0, 5});
  sgt::put_rr(wire, owner, kTypeTxt, 1, 1, Bytes{5, 'a', 'b'});
  Bytes cname = sgt::wire_name("t.example");
  cname.push_back(0xEE);  // a byte after the name
  sgt::put_rr(wire, owner, kTypeCname, 1, 1, cname);
  sgt::put_rr(wire, owner, kTypeA, 1, 1, Bytes{9, 9, 9, 9});
  Message m;
  parse_message(wire, m);
  EXPECT_EQ(m.anomalies, bit(Anomaly::kBadRdata));
  EXPECT_TRUE(m.complete);
  ASSERT_EQ(m.answers().size(), 6u);
  for (size_t i = 0; i < 5; ++i) EXPECT_FALSE(m.answers()[i].rdata_ok) << i;
  EXPECT_EQ(m.answers()[0].rdata_length, 5);
  EXPECT_TRUE(m.answers()[0].text.empty());
  EXPECT_EQ(m.answers()[4].text, "t.example");
  EXPECT_TRUE(m.answers()[5].rdata_ok);
  EXPECT_EQ(m.answers()[5].text, "9.9.9.9");
}

TEST(DnsLimits, RecordsOverTheLimitsAreWalkedNotKept) {
  DnsMessageBuilder b(1, sgt::response_flags());
  b.compress().question("many.example", kTypeA);
  for (int i = 0; i < 6; ++i) b.answer(sgt::rr_a("many.example", "10.0.0." + std::to_string(i)));
  b.additional(sgt::rr_opt(4096));
  Limits limits;
  limits.max_answers = 2;
  Message m;
  parse_message(b.build(), m, limits);
  EXPECT_EQ(m.anomalies, bit(Anomaly::kTooManyRecords));
  EXPECT_TRUE(m.complete);
  EXPECT_EQ(m.skipped, 4u);
  ASSERT_EQ(m.answers().size(), 2u);
  EXPECT_EQ(m.answers()[1].text, "10.0.0.1");
  ASSERT_NE(m.opt(), nullptr);  // the sections after are still read
  EXPECT_EQ(m.opt()->rclass, 4096);

  limits.max_questions = 1;
  const Bytes two = DnsMessageBuilder().question("a", kTypeA).question("b", kTypeA).build();
  parse_message(two, m, limits);
  EXPECT_EQ(m.questions().size(), 1u);
  EXPECT_EQ(m.skipped, 1u);
}

// ---- TCP framing ------------------------------------------------------------------------------

struct Collector {
  std::vector<Bytes> messages;
  void operator()(std::span<const uint8_t> m) { messages.emplace_back(m.begin(), m.end()); }
};

class DnsTcpFramer : public ::testing::Test {
 protected:
  core::Counters<DnsCounter> counters_{dns_counter_group()};
};

TEST_F(DnsTcpFramer, ResponseSplitAtEveryPositionYieldsTheMessage) {
  const Bytes message = full_response(true);
  const Bytes stream = sgt::tcp_frame(message);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    TcpFramer framer(counters_);
    Collector got;
    framer.feed(std::span(stream).first(cut), got);
    framer.feed(std::span(stream).subspan(cut), got);
    ASSERT_EQ(got.messages.size(), 1u) << "cut at " << cut;
    EXPECT_EQ(got.messages[0], message) << "cut at " << cut;
    EXPECT_EQ(framer.buffered(), 0u);
  }
}

TEST_F(DnsTcpFramer, ThreeMessagesInOneSegment) {
  const Bytes a = sgt::dns_query(1, "a.example", kTypeA);
  const Bytes b = sgt::dns_query(2, "b.example", kTypeAaaa);
  const Bytes c = full_response(false);
  const Bytes stream = sgt::concat({sgt::tcp_frame(a), sgt::tcp_frame(b), sgt::tcp_frame(c)});
  TcpFramer framer(counters_);
  Collector got;
  framer.feed(stream, got);
  ASSERT_EQ(got.messages.size(), 3u);
  EXPECT_EQ(got.messages[0], a);
  EXPECT_EQ(got.messages[1], b);
  EXPECT_EQ(got.messages[2], c);
  EXPECT_EQ(counters_.get(DnsCounter::kTcpMessages), 3u);
}

TEST_F(DnsTcpFramer, LengthPrefixSplitAndByteAtATime) {
  const Bytes a = sgt::dns_query(1, "a.example", kTypeA);
  const Bytes b = sgt::dns_query(2, "b.example", kTypeA);
  const Bytes stream = sgt::concat({sgt::tcp_frame(a), sgt::tcp_frame(b)});
  {
    TcpFramer framer(counters_);
    Collector got;
    framer.feed(std::span(stream).first(1), got);  // half of the first prefix
    EXPECT_EQ(framer.buffered(), 1u);
    // The rest of message a and one byte of b's prefix.
    framer.feed(std::span(stream).subspan(1, a.size() + 2), got);
    EXPECT_EQ(got.messages.size(), 1u);
    framer.feed(std::span(stream).subspan(a.size() + 3), got);
    ASSERT_EQ(got.messages.size(), 2u);
    EXPECT_EQ(got.messages[1], b);
  }
  TcpFramer framer(counters_);
  Collector got;
  for (const uint8_t byte : stream) framer.feed(std::span(&byte, 1), got);
  ASSERT_EQ(got.messages.size(), 2u);
  EXPECT_EQ(got.messages[0], a);
  EXPECT_EQ(got.messages[1], b);
}

TEST_F(DnsTcpFramer, GarbageLengthStopsTheDirectionUntilAMessageStartsASegment) {
  TcpFramer framer(counters_);
  Collector got;
  framer.feed(Bytes{0x00, 0x05, 1, 2, 3, 4, 5, 6, 7}, got);  // 5 bytes cannot hold a header
  EXPECT_TRUE(framer.lost());
  EXPECT_EQ(counters_.get(DnsCounter::kTcpFramingErrors), 1u);
  framer.feed(bytes_of("GET / HTTP/1.1\r\n\r\n"), got);  // not a DNS message start: skipped
  EXPECT_TRUE(framer.lost());
  const Bytes q = sgt::dns_query(7, "again.example", kTypeA);
  framer.feed(sgt::tcp_frame(q), got);
  EXPECT_FALSE(framer.lost());
  ASSERT_EQ(got.messages.size(), 1u);
  EXPECT_EQ(got.messages[0], q);
  EXPECT_EQ(counters_.get(DnsCounter::kTcpResyncs), 1u);
  EXPECT_EQ(counters_.get(DnsCounter::kTcpSkippedBytes), 7u + 18u);
}

TEST_F(DnsTcpFramer, LengthOverTheMaximumIsAFramingError) {
  TcpFramer framer(counters_, 512);
  Collector got;
  const Bytes big = DnsMessageBuilder()
                        .question(std::string(60, 'a') + ".example", kTypeA)
                        .trailer(Bytes(600, 0))
                        .build();
  framer.feed(sgt::tcp_frame(big), got);
  EXPECT_TRUE(got.messages.empty());
  EXPECT_TRUE(framer.lost());
  EXPECT_EQ(counters_.get(DnsCounter::kTcpFramingErrors), 1u);
  EXPECT_EQ(framer.memory_bytes(), 0u);  // nothing was buffered for it
}

TEST_F(DnsTcpFramer, GapDropsThePartialMessageAndResyncsAtTheNextMessage) {
  const Bytes first = full_response(true);
  const Bytes second = sgt::dns_query(2, "next.example", kTypeA);
  const Bytes s1 = sgt::tcp_frame(first);
  TcpFramer framer(counters_);
  Collector got;
  framer.feed(std::span(s1).first(40), got);
  framer.on_gap();
  EXPECT_TRUE(framer.lost());
  EXPECT_EQ(framer.buffered(), 0u);
  framer.feed(std::span(s1).subspan(60), got);  // the tail after the gap: no message start
  EXPECT_TRUE(got.messages.empty());
  framer.feed(sgt::tcp_frame(second), got);
  ASSERT_EQ(got.messages.size(), 1u);
  EXPECT_EQ(got.messages[0], second);
  EXPECT_EQ(counters_.get(DnsCounter::kTcpGaps), 1u);
  EXPECT_EQ(counters_.get(DnsCounter::kTcpResyncs), 1u);
}

TEST_F(DnsTcpFramer, LargeMessageAcrossSegmentsReleasesItsBuffer) {
  const Bytes big =
      DnsMessageBuilder(1, sgt::response_flags())
          .question("big.example", kTypeTxt)
          .answer(sgt::rr_txt("big.example", std::vector<std::string>(40, std::string(250, 't'))))
          .build();
  ASSERT_GT(big.size(), 10000u);
  const Bytes stream = sgt::tcp_frame(big);
  TcpFramer framer(counters_);
  Collector got;
  for (size_t at = 0; at < stream.size(); at += 1460) {
    framer.feed(std::span(stream).subspan(at, std::min<size_t>(1460, stream.size() - at)), got);
  }
  ASSERT_EQ(got.messages.size(), 1u);
  EXPECT_EQ(got.messages[0], big);
  EXPECT_EQ(framer.memory_bytes(), 0u);
  Message m;
  EXPECT_EQ(parse_message(got.messages[0], m), 0u);
  EXPECT_EQ(m.answers()[0].pieces.size(), 40u);
}

// ---- probes -------------------------------------------------------------------------------------

TEST(DnsProbe, AcceptsQueriesAndResponsesOverUdpAndTcp) {
  const Bytes q = sgt::dns_query(1, "www.example.com", kTypeA);
  const Bytes r = full_response(true);
  bool response = true;
  EXPECT_EQ(probe_udp(q, &response), Probe::kYes);
  EXPECT_FALSE(response);
  EXPECT_EQ(probe_udp(r, &response), Probe::kYes);
  EXPECT_TRUE(response);
  EXPECT_EQ(probe_tcp(sgt::tcp_frame(q), &response), Probe::kYes);
  EXPECT_FALSE(response);
  EXPECT_EQ(probe_tcp(sgt::tcp_frame(r), &response), Probe::kYes);
  EXPECT_TRUE(response);
  EXPECT_EQ(probe_udp(DnsMessageBuilder().question(".", kTypeNs).build()), Probe::kYes);
}

TEST(DnsProbe, TcpAsksForMoreUntilTheFirstQuestionIsThere) {
  const Bytes framed = sgt::tcp_frame(sgt::dns_query(1, "www.example.com", kTypeA));
  const size_t question_end = 2 + 12 + 17 + 4;
  for (size_t n = 0; n < question_end; ++n) {
    EXPECT_EQ(probe_tcp(std::span(framed).first(n)), Probe::kNeedMore) << n;
  }
  EXPECT_EQ(probe_tcp(std::span(framed).first(question_end)), Probe::kYes);
}

TEST(DnsProbe, RejectsInconsistentSizes) {
  const Bytes q = sgt::dns_query(1, "www.example.com", kTypeA);
  Bytes framed = sgt::tcp_frame(q);
  framed[1] = 16;  // shorter than a header and a question
  framed[0] = 0;
  EXPECT_EQ(probe_tcp(framed), Probe::kNo);
  // Three answers announced in a message with no room for them.
  Bytes lying = q;
  lying[7] = 3;
  EXPECT_EQ(probe_udp(lying), Probe::kNo);
  EXPECT_EQ(probe_tcp(sgt::tcp_frame(lying)), Probe::kNo);
  // A query whose first name has a pointer (nothing precedes it to point to).
  Bytes ptr = sgt::dns_header(1, 0x0100, 1, 0, 0, 0);
  sgt::put_question(ptr, sgt::wire_pointer(12), kTypeA);
  EXPECT_EQ(probe_udp(ptr), Probe::kNo);
  // No question.
  EXPECT_EQ(probe_udp(sgt::dns_header(1, 0x0100, 0, 0, 0, 0)), Probe::kNo);
}

TEST(DnsProbe, RejectsHttpTlsAndRandomBytes) {
  const Bytes http = bytes_of("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(probe_udp(http), Probe::kNo);
  EXPECT_EQ(probe_tcp(http), Probe::kNo);
  // A TLS 1.2 ClientHello start: record header, handshake header, client_version, random.
  Bytes tls = {0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03};
  for (int i = 0; i < 32; ++i) tls.push_back(static_cast<uint8_t>(i * 37));
  tls.insert(tls.end(), {0x00, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00});
  EXPECT_EQ(probe_udp(tls), Probe::kNo);
  EXPECT_EQ(probe_tcp(tls), Probe::kNo);
  Bytes tls_short_record = tls;
  tls_short_record[3] = 0x00;
  tls_short_record[4] = 0x40;
  EXPECT_EQ(probe_udp(tls_short_record), Probe::kNo);

  std::mt19937 rng(12345);
  for (int i = 0; i < 20000; ++i) {
    Bytes random(12 + rng() % 500);
    for (uint8_t& b : random) b = static_cast<uint8_t>(rng());
    ASSERT_EQ(probe_udp(random), Probe::kNo) << i;
    ASSERT_NE(probe_tcp(random), Probe::kYes) << i;
  }
}

// ---- EVE text and counters ----------------------------------------------------------------------

TEST(DnsEve, RrtypeNamesAsSuricataPrintsThem) {
  auto text = [](uint16_t t) {
    std::string s;
    append_rrtype(s, t);
    return s;
  };
  EXPECT_EQ(text(kTypeA), "A");
  EXPECT_EQ(text(kTypeAaaa), "AAAA");
  EXPECT_EQ(text(kTypeCname), "CNAME");
  EXPECT_EQ(text(kTypeSoa), "SOA");
  EXPECT_EQ(text(kTypePtr), "PTR");
  EXPECT_EQ(text(kTypeMx), "MX");
  EXPECT_EQ(text(kTypeTxt), "TXT");
  EXPECT_EQ(text(kTypeSrv), "SRV");
  EXPECT_EQ(text(kTypeOpt), "OPT");
  EXPECT_EQ(text(kTypeDs), "DS");
  EXPECT_EQ(text(kTypeRrsig), "RRSIG");
  EXPECT_EQ(text(kTypeNsec), "NSEC");
  EXPECT_EQ(text(kTypeDnskey), "DNSKEY");
  EXPECT_EQ(text(kTypeHttps), "HTTPS");
  EXPECT_EQ(text(kTypeAny), "ANY");
  EXPECT_EQ(text(kTypeSvcb), "64");  // not in Suricata's table
  EXPECT_EQ(text(0), "0");
  EXPECT_EQ(text(65535), "65535");
  EXPECT_EQ(rrtype_name(3), "ND");  // Suricata's spelling of MD
}

TEST(DnsEve, RcodeNames) {
  auto text = [](uint16_t r) {
    std::string s;
    append_rcode(s, r);
    return s;
  };
  EXPECT_EQ(text(kRcodeNoError), "NOERROR");
  EXPECT_EQ(text(kRcodeFormErr), "FORMERR");
  EXPECT_EQ(text(kRcodeServFail), "SERVFAIL");
  EXPECT_EQ(text(kRcodeNxDomain), "NXDOMAIN");
  EXPECT_EQ(text(kRcodeNotImp), "NOTIMP");
  EXPECT_EQ(text(kRcodeRefused), "REFUSED");
  EXPECT_EQ(text(9), "NOTAUTH");
  EXPECT_EQ(text(11), "11");
  EXPECT_EQ(text(16), "BADVERS/BADSIG");
  EXPECT_EQ(text(4000), "4000");
}

TEST(DnsCounters, CountQueriesResponsesAndEachAnomaly) {
  core::Counters<DnsCounter> c(dns_counter_group());
  EXPECT_EQ(dns_counter_group().module, "dns");
  EXPECT_EQ(
      dns_counter_group().defs[static_cast<size_t>(anomaly_counter(Anomaly::kPointerLoop))].name,
      "malformed.pointer_loop");
  Message m;
  parse_message(sgt::dns_query(1, "a.example", kTypeA), m);
  count_message(m, c);
  parse_message(full_response(true), m);
  count_message(m, c);
  Bytes loop = sgt::dns_header(1, 0x0100, 1, 0, 0, 0);
  sgt::put_question(loop, sgt::wire_pointer(12), kTypeA);
  parse_message(loop, m);
  count_message(m, c);
  parse_message(Bytes{1, 2, 3}, m);
  count_message(m, c);
  EXPECT_EQ(c.get(DnsCounter::kQueries), 2u);
  EXPECT_EQ(c.get(DnsCounter::kResponses), 1u);
  EXPECT_EQ(c.get(DnsCounter::kMalformed), 2u);
  EXPECT_EQ(c.get(DnsCounter::kAnomalyPointerLoop), 1u);
  EXPECT_EQ(c.get(DnsCounter::kAnomalyTruncatedHeader), 1u);
  for (size_t a = 0; a < static_cast<size_t>(Anomaly::kCount); ++a) {
    EXPECT_FALSE(anomaly_name(static_cast<Anomaly>(a)).empty());
  }
}

}  // namespace
}  // namespace spanguard::applayer::dns
