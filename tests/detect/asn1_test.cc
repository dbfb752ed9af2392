// The `asn1` keyword on hand-built BER: each check at its boundary, where decoding starts, which
// objects are decoded (nesting, indefinite lengths, malformed and truncated encodings, Suricata's
// 30-object limit) and the bounds on work.
#include "spanguard/detect/asn1.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string_view>
#include <vector>

namespace spanguard::detect {
namespace {

using Bytes = std::vector<uint8_t>;

// X.690 §8.1.3: definite length, short form under 128, else long form in as few octets as fit.
Bytes length_octets(size_t n) {
  if (n < 0x80) return {static_cast<uint8_t>(n)};
  Bytes digits;
  for (; n != 0; n >>= 8) digits.insert(digits.begin(), static_cast<uint8_t>(n));
  digits.insert(digits.begin(), static_cast<uint8_t>(0x80 | digits.size()));
  return digits;
}

Bytes tlv(uint8_t identifier, const Bytes& content) {
  Bytes out{identifier};
  const Bytes len = length_octets(content.size());
  out.insert(out.end(), len.begin(), len.end());
  out.insert(out.end(), content.begin(), content.end());
  return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes repeat(const Bytes& b, size_t times) {
  Bytes out;
  for (size_t i = 0; i < times; ++i) out.insert(out.end(), b.begin(), b.end());
  return out;
}

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes seq(const Bytes& content) { return tlv(0x30, content); }
Bytes set(const Bytes& content) { return tlv(0x31, content); }
const Bytes kNull = {0x05, 0x00};
const Bytes kBadBitString = {0x03, 0x01, 0xff};  // 255 unused bits in a 1-octet string

// A REAL of `length` content octets whose first (encoding) octet is `first`.
Bytes real(uint8_t first, size_t length) {
  Bytes content(length, 0x05);
  content[0] = first;
  return tlv(0x09, content);
}

Asn1Check bitstring() {
  Asn1Check c;
  c.bitstring_overflow = true;
  return c;
}
Asn1Check double_overflow() {
  Asn1Check c;
  c.double_overflow = true;
  return c;
}
Asn1Check oversize(uint32_t n) {
  Asn1Check c;
  c.oversize_length = n;
  return c;
}
Asn1Check all_checks() {
  Asn1Check c = bitstring();
  c.double_overflow = true;
  c.oversize_length = 1000;
  return c;
}

// Runs on an exact-size heap copy, so that AddressSanitizer sees any read past the end.
bool matches(const Asn1Check& check, const Bytes& bytes, size_t start = 0) {
  auto copy = std::make_unique<uint8_t[]>(bytes.size());
  if (!bytes.empty()) std::memcpy(copy.get(), bytes.data(), bytes.size());
  return asn1_matches(check, std::span<const uint8_t>(copy.get(), bytes.size()), start);
}

TEST(Asn1, WellFormedSequenceTripsNothing) {
  const Bytes valid = seq(cat({tlv(0x02, {0x05}), tlv(0x04, text("abc")), tlv(0x03, {0x00, 0xff}),
                               kNull, real(0x80, 3), tlv(0x01, {0xff})}));
  EXPECT_FALSE(matches(all_checks(), valid));
}

TEST(Asn1, NoEnabledCheckNeverMatches) {
  EXPECT_FALSE(matches(Asn1Check{}, cat({kBadBitString, real(0x00, 300)})));
}

TEST(Asn1, OversizeLengthIsStrictlyGreaterThanTheBound) {
  const Bytes octets = tlv(0x04, Bytes(300, 'a'));  // long form: 04 82 01 2c
  ASSERT_EQ(octets[1], 0x82);
  EXPECT_TRUE(matches(oversize(299), octets));
  EXPECT_FALSE(matches(oversize(300), octets));
  EXPECT_TRUE(matches(oversize(0), kBadBitString));
  EXPECT_FALSE(matches(oversize(0), kNull));
}

TEST(Asn1, OversizeLengthReadsLongFormWithLeadingZeros) {
  // 04 84 00 00 00 05: a non-minimal long form der-parser accepts, length 5.
  const Bytes padded = cat({{0x04, 0x84, 0x00, 0x00, 0x00, 0x05}, text("hello")});
  EXPECT_TRUE(matches(oversize(4), padded));
  EXPECT_FALSE(matches(oversize(5), padded));
}

TEST(Asn1, OversizeLengthAppliesToConstructedAndTaggedObjectsToo) {
  const Bytes sequence = seq(repeat(kNull, 100));  // 200 content octets, elements of 0
  EXPECT_TRUE(matches(oversize(199), sequence));
  EXPECT_FALSE(matches(oversize(200), sequence));
  EXPECT_TRUE(matches(oversize(2), tlv(0xa0, tlv(0x04, text("x")))));  // [0] of 3 octets
}

// Suricata's own unit test (rust/src/asn1/mod.rs, src/detect-asn1.c): X.690 Annex A.3, whose outer
// [APPLICATION 0] is 133 octets long.
TEST(Asn1, MatchesSuricatasX690AnnexA3Expectations) {
  const std::string_view a3 =
      "\x60\x81\x85\x61\x10\x1A\x04John\x1A\x01P\x1A\x05Smith\xA0\x0A\x1A\x08"
      "Director\x42\x01\x33\xA1\x0A\x43\x08"
      "19710917\xA2\x12\x61\x10\x1A\x04Mary\x1A\x01T\x1A\x05Smith\xA3\x42\x31\x1F\x61\x11\x1A\x05"
      "Ralph\x1A\x01T\x1A\x05Smith\xA0\x0A\x43\x08"
      "19571111\x31\x1F\x61\x11\x1A\x05Susan\x1A\x01"
      "B\x1A\x05Jones\xA0\x0A\x43\x08"
      "19590717";
  const Bytes bytes = text(a3);
  ASSERT_EQ(bytes.size(), 3u + 0x85);
  EXPECT_TRUE(matches(oversize(132), bytes));
  EXPECT_FALSE(matches(oversize(133), bytes));
}

// Suricata: unused bits > 8 × length (rust/src/asn1/mod.rs check_object). Eight unused bits in a
// one-octet string is as wrong, but is not what the check looks for.
TEST(Asn1, BitstringOverflowWhenUnusedBitsExceedEightTimesTheLength) {
  EXPECT_TRUE(matches(bitstring(), kBadBitString));
  EXPECT_TRUE(matches(bitstring(), {0x03, 0x01, 0x09}));
  EXPECT_FALSE(matches(bitstring(), {0x03, 0x01, 0x08}));
  EXPECT_FALSE(matches(bitstring(), {0x03, 0x01, 0x07}));
  EXPECT_FALSE(matches(bitstring(), {0x03, 0x02, 0x10, 0xff}));  // 16 unused of 16
  EXPECT_TRUE(matches(bitstring(), {0x03, 0x02, 0x11, 0xff}));   // 17 unused of 16
  EXPECT_FALSE(matches(bitstring(), {0x03, 0x03, 0x00, 0xab, 0xcd}));
}

TEST(Asn1, BitstringOverflowOnlyForAUniversalPrimitiveBitString) {
  EXPECT_FALSE(matches(bitstring(), {0x83, 0x01, 0xff}));  // [3] IMPLICIT, context class
  EXPECT_FALSE(matches(bitstring(), {0x43, 0x01, 0xff}));  // [APPLICATION 3]
  // A constructed BIT STRING is refused by der-parser, so nothing in it is looked at.
  EXPECT_FALSE(matches(bitstring(), tlv(0x23, kBadBitString)));
  // An empty BIT STRING (no unused-bits octet) is malformed, not an overflow.
  EXPECT_FALSE(matches(bitstring(), {0x03, 0x00}));
}

// Suricata: a primitive universal REAL, first content octet with bits 8-7 clear (decimal
// encoding, X.690 §8.5.8) and more than 256 content octets.
TEST(Asn1, DoubleOverflowOnALongDecimalReal) {
  EXPECT_TRUE(matches(double_overflow(), real(0x05, 257)));
  EXPECT_FALSE(matches(double_overflow(), real(0x05, 256)));
  EXPECT_TRUE(matches(double_overflow(), real(0x03, 1000)));
  EXPECT_FALSE(matches(double_overflow(), real(0x80, 1000)));             // binary encoding
  EXPECT_FALSE(matches(double_overflow(), real(0x40, 1000)));             // special value
  EXPECT_FALSE(matches(double_overflow(), real(0x05, 3)));                // a normal decimal REAL
  EXPECT_FALSE(matches(double_overflow(), tlv(0x29, Bytes(300, 0x05))));  // constructed
  EXPECT_FALSE(matches(double_overflow(), tlv(0x89, Bytes(300, 0x05))));  // [9] IMPLICIT
}

// Suricata's DetectAsn1TestReal03, first packet: a 257-octet REAL filling a 261-byte buffer, its
// last four content octets zero.
TEST(Asn1, DoubleOverflowOnSuricatasRealTestPacket) {
  Bytes buffer(261, 0x00);
  buffer[0] = 0x09;
  buffer[1] = 0x82;
  buffer[2] = 0x01;
  buffer[3] = 0x01;
  for (size_t i = 4; i < 257; ++i) buffer[i] = 0x05;
  EXPECT_TRUE(matches(double_overflow(), buffer));
}

TEST(Asn1, ChecksReachDeepInsideSequencesAndSets) {
  const Bytes deep =
      seq(cat({tlv(0x02, {0x01}), set(seq(cat({kNull, set(cat({kNull, kBadBitString}))})))}));
  EXPECT_TRUE(matches(bitstring(), deep));
  EXPECT_FALSE(matches(double_overflow(), deep));
  EXPECT_TRUE(matches(double_overflow(), seq(seq(real(0x00, 400)))));
}

// Like Suricata (der-parser keeps the content of any non-universal object as raw bytes), the
// content of a tagged object is not decoded: only the tagged object's own length is checked.
TEST(Asn1, ContentOfTaggedObjectsIsNotDecoded) {
  const Bytes explicit_tag = tlv(0xa0, kBadBitString);
  EXPECT_FALSE(matches(bitstring(), explicit_tag));
  EXPECT_FALSE(matches(bitstring(), tlv(0x60, seq(kBadBitString))));
  EXPECT_TRUE(matches(bitstring(), seq(cat({explicit_tag, kBadBitString}))));
}

TEST(Asn1, IndefiniteLengthSequencesAreDecoded) {
  const Bytes indefinite = cat({{0x30, 0x80}, kNull, kBadBitString, {0x00, 0x00}});
  EXPECT_TRUE(matches(bitstring(), indefinite));
  EXPECT_TRUE(matches(bitstring(), cat({{0x31, 0x80, 0x30, 0x80}, kBadBitString, {0, 0, 0, 0}})));
  // Without its end-of-contents the sequence is incomplete and does not count.
  EXPECT_FALSE(matches(bitstring(), cat({{0x30, 0x80}, kNull, kBadBitString})));
}

TEST(Asn1, IndefiniteLengthTaggedContentIsSkippedAndMeasured) {
  // [1] { SEQUENCE (indefinite) { BIT STRING } }: skipped over, then the next object is checked.
  const Bytes tagged =
      cat({{0xa1, 0x80, 0x30, 0x80}, kBadBitString, {0x00, 0x00, 0x00, 0x00}, kBadBitString});
  EXPECT_TRUE(matches(bitstring(), tagged));
  const Bytes alone = cat({{0xa1, 0x80, 0x30, 0x80}, kBadBitString, {0x00, 0x00, 0x00, 0x00}});
  EXPECT_FALSE(matches(bitstring(), alone));
  // Suricata compares the content of a raw indefinite-length object: 7 octets here.
  EXPECT_TRUE(matches(oversize(6), alone));
  EXPECT_FALSE(matches(oversize(7), alone));
  // Raw content is only walked header by header: a BOOLEAN of two octets in it is not refused.
  EXPECT_TRUE(
      matches(bitstring(), cat({{0xa1, 0x80, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00}, kBadBitString})));
  // der-parser walks a primitive indefinite-length [1] the same way (X.690 allows the indefinite
  // form for constructed encodings only): 2 content octets here.
  const Bytes primitive = {0x81, 0x80, 0x05, 0x00, 0x00, 0x00};
  EXPECT_TRUE(matches(oversize(1), primitive));
  EXPECT_FALSE(matches(oversize(2), primitive));
  // Universal types der-parser knows as primitive refuse the indefinite form.
  EXPECT_FALSE(matches(oversize(0), cat({{0x04, 0x80, 0x05, 0x00, 0x00, 0x00}, kBadBitString})));
}

TEST(Asn1, TruncatedObjectNeverMatches) {
  const Bytes whole = seq(cat({kNull, kBadBitString, real(0x00, 300), tlv(0x04, Bytes(40, 'x'))}));
  Asn1Check check = all_checks();
  check.oversize_length = 10;
  ASSERT_TRUE(matches(check, whole));
  // Every proper prefix is one incomplete top-level object: none of it counts, and no read goes
  // past the end of the (exact-size) buffer.
  for (size_t n = 0; n < whole.size(); ++n) {
    EXPECT_FALSE(matches(check, Bytes(whole.begin(), whole.begin() + n))) << n;
  }
}

TEST(Asn1, TruncatedHeadersNeverMatch) {
  EXPECT_FALSE(matches(oversize(0), {0x04, 0x84, 0x00, 0x01}));        // length octets cut
  EXPECT_FALSE(matches(oversize(0), {0x04, 0x84, 0x7f, 0xff, 0xff}));  // length cut
  EXPECT_FALSE(matches(oversize(0), {0x04, 0x82, 0x01, 0x00, 0x61}));  // content cut
  EXPECT_FALSE(matches(oversize(0), {0x1f, 0x81, 0x82}));              // tag octets cut
  EXPECT_FALSE(matches(oversize(0), {0x30}));
}

TEST(Asn1, MalformedLengthsAreRefused) {
  EXPECT_FALSE(matches(oversize(0), {0x04, 0xff, 0x01, 0x61}));  // 0xff is reserved
  // Nine significant length octets do not fit in 64 bits.
  EXPECT_FALSE(matches(oversize(0), {0x04, 0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x61}));
}

TEST(Asn1, HighTagNumbersAreRead) {
  // [UNIVERSAL 3] in high-tag form is still a BIT STRING; a six-octet tag is refused.
  EXPECT_TRUE(matches(bitstring(), {0x1f, 0x03, 0x01, 0xff}));
  EXPECT_TRUE(matches(oversize(0), {0x5f, 0x81, 0x80, 0x01, 0x01, 0x00}));
  EXPECT_FALSE(matches(oversize(0), {0x5f, 0x81, 0x81, 0x81, 0x81, 0x81, 0x01, 0x01, 0x00}));
}

// der-parser parses the elements of a definite-length SEQUENCE until one fails and ignores the
// rest of its content; the SEQUENCE itself still counts.
TEST(Asn1, BadElementEndsItsSequenceButNotWhatCameBefore) {
  const Bytes bad_octets = {0x04, 0x05, 'a'};  // claims 5 octets, the sequence holds 1
  EXPECT_TRUE(matches(bitstring(), seq(cat({kBadBitString, bad_octets}))));
  EXPECT_FALSE(matches(bitstring(), seq(cat({bad_octets, kBadBitString}))));
  EXPECT_FALSE(matches(bitstring(), seq(cat({{0x01, 0x02, 0x00, 0x00}, kBadBitString}))));
  // The object after the sequence is decoded as usual.
  EXPECT_TRUE(matches(bitstring(), cat({seq(cat({bad_octets, kNull})), kBadBitString})));
  // In an indefinite-length sequence a bad element fails the whole sequence.
  EXPECT_FALSE(matches(bitstring(),
                       cat({{0x30, 0x80}, kBadBitString, {0x01, 0x02, 0x00, 0x00}, {0x00, 0x00}})));
}

TEST(Asn1, MalformedTopLevelObjectStopsDecoding) {
  const Bytes bad_boolean = {0x01, 0x02, 0x00, 0x00};  // BOOLEAN must be one octet
  EXPECT_TRUE(matches(bitstring(), cat({kBadBitString, bad_boolean})));
  EXPECT_FALSE(matches(bitstring(), cat({bad_boolean, kBadBitString})));
  EXPECT_FALSE(matches(bitstring(), cat({{0x10, 0x00}, kBadBitString})));  // primitive SEQUENCE
}

// Suricata decodes at most 30 top-level objects; with bytes left after them the decode fails and
// nothing matches (rust/src/asn1/mod.rs from_slice, MaxFrames).
TEST(Asn1, ThirtyTopLevelObjectsAtMost) {
  EXPECT_TRUE(matches(bitstring(), cat({repeat(kNull, 29), kBadBitString})));
  EXPECT_FALSE(matches(bitstring(), cat({repeat(kNull, 30), kBadBitString})));
  EXPECT_TRUE(matches(bitstring(), cat({kBadBitString, repeat(kNull, 29)})));
  EXPECT_FALSE(matches(bitstring(), cat({kBadBitString, repeat(kNull, 30)})));
  EXPECT_FALSE(matches(bitstring(), cat({kBadBitString, repeat(kNull, 29), {0xff}})));
  // Inside a SEQUENCE elements are not counted.
  EXPECT_TRUE(matches(bitstring(), seq(cat({repeat(kNull, 1000), kBadBitString}))));
}

// der-parser's depth limit is Suricata's max-frames: a top-level object is at depth 1, and an
// element deeper than 30 ends its (definite-length) sequence.
TEST(Asn1, ObjectsNestThirtyDeepAtMost) {
  Bytes at_30 = kBadBitString;
  for (int i = 0; i < 29; ++i) at_30 = seq(at_30);
  EXPECT_TRUE(matches(bitstring(), at_30));
  EXPECT_FALSE(matches(bitstring(), seq(at_30)));
  EXPECT_TRUE(matches(bitstring(), cat({seq(at_30), kBadBitString})));
}

TEST(Asn1, DeepNestingReturnsQuickly) {
  const auto started = std::chrono::steady_clock::now();
  // 100000 nested indefinite-length sequences, never closed: the depth limit fails them.
  Bytes open = repeat({0x30, 0x80}, 100000);
  open.insert(open.end(), kBadBitString.begin(), kBadBitString.end());
  EXPECT_FALSE(matches(bitstring(), open));
  // 20000 nested indefinite-length tagged objects, all closed: skipping them stops at depth 30.
  Bytes tagged = cat({repeat({0xa0, 0x80}, 20000), repeat({0x00, 0x00}, 20000), kBadBitString});
  EXPECT_FALSE(matches(bitstring(), tagged));
  // 5000 nested definite-length sequences.
  Bytes nested = kBadBitString;
  for (int i = 0; i < 5000; ++i) nested = seq(nested);
  EXPECT_FALSE(matches(bitstring(), nested));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

TEST(Asn1, NodeBudgetBoundsTheWorkOnLargeBuffers) {
  ASSERT_EQ(kAsn1MaxNodes, 32768u);
  // Within the budget: the SEQUENCE header and 32766 NULLs leave one header for the BIT STRING.
  EXPECT_TRUE(matches(bitstring(), seq(cat({repeat(kNull, 32766), kBadBitString}))));
  // Past it, decoding stops as at a malformed element: what came before still counts.
  EXPECT_FALSE(matches(bitstring(), seq(cat({repeat(kNull, 32767), kBadBitString}))));
  EXPECT_TRUE(matches(bitstring(), seq(cat({kBadBitString, repeat(kNull, 100000)}))));
  const auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(matches(bitstring(), seq(cat({repeat(kNull, 1000000), kBadBitString}))));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

TEST(Asn1, DecodingStartsAtTheGivenIndex) {
  const Bytes buffer = cat({text("AA"), kBadBitString});
  EXPECT_TRUE(matches(bitstring(), buffer, 2));
  // From 0, "AA" is an [APPLICATION 1] claiming 65 octets: truncated, so nothing counts.
  EXPECT_FALSE(matches(bitstring(), buffer, 0));
  EXPECT_FALSE(matches(bitstring(), buffer, buffer.size()));
  EXPECT_FALSE(matches(bitstring(), buffer, 1000));
  EXPECT_FALSE(matches(bitstring(), {}, 0));
}

TEST(Asn1, StartIsAbsoluteFromTheBufferOrRelativeToTheCursor) {
  Asn1Check absolute;
  absolute.offset = 3;
  EXPECT_EQ(asn1_start(absolute, 10, 7), 3u);
  EXPECT_EQ(asn1_start(absolute, 3, 0), std::nullopt);
  EXPECT_EQ(asn1_start(Asn1Check{}, 1, 0), 0u);
  EXPECT_EQ(asn1_start(Asn1Check{}, 0, 0), std::nullopt);

  Asn1Check relative;
  relative.relative = true;
  EXPECT_EQ(asn1_start(relative, 10, 2), 2u);
  relative.offset = 5;
  EXPECT_EQ(asn1_start(relative, 10, 4), 9u);
  EXPECT_EQ(asn1_start(relative, 10, 5), std::nullopt);
  EXPECT_EQ(asn1_start(relative, 10, 1000), std::nullopt);
  relative.offset = -7;  // Suricata's DetectAsn1TestReal04: back from the end of "John"
  EXPECT_EQ(asn1_start(relative, 300, 11), 4u);
  EXPECT_EQ(asn1_start(relative, 300, 6), std::nullopt);
  relative.offset = -65535;
  EXPECT_EQ(asn1_start(relative, 70000, 65535), 0u);
  relative.offset = 65535;
  EXPECT_EQ(asn1_start(relative, 65536, 0), 65535u);
}

// Suricata's DetectAsn1TestReal03 second packet: "AA" then a bad BIT STRING, relative_offset 2
// with no previous match, oversize_length 140 also enabled.
TEST(Asn1, SuricataRelativeOffsetExample) {
  const Bytes packet = cat({text("AA"), kBadBitString});
  Asn1Check check = bitstring();
  check.oversize_length = 140;
  check.relative = true;
  check.offset = 2;
  const auto start = asn1_start(check, packet.size(), 0);
  ASSERT_TRUE(start);
  EXPECT_TRUE(matches(check, packet, *start));
}

}  // namespace
}  // namespace spanguard::detect
