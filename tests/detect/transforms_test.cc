// Buffer transformations, each as Suricata's "Transformations" documentation defines it, and in
// chains (applied in the order the rule writes them).
#include "spanguard/detect/transforms.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace spanguard::detect {
namespace {

using K = rules::Transform::Kind;

std::string apply(std::vector<rules::Transform> chain, std::string_view in) {
  std::string out, scratch;
  apply_transforms(chain, std::span(reinterpret_cast<const uint8_t*>(in.data()), in.size()), out,
                   scratch);
  return out;
}

rules::Transform t(K kind, std::string key = {}) { return {kind, std::move(key)}; }

std::string hex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    out += kHex[static_cast<uint8_t>(c) >> 4];
    out += kHex[static_cast<uint8_t>(c) & 15];
  }
  return out;
}

TEST(Transforms, DotprefixPutsADotBeforeTheName) {
  EXPECT_EQ(apply({t(K::kDotPrefix)}, "example.com"), ".example.com");
  EXPECT_EQ(apply({t(K::kDotPrefix)}, ""), ".");
}

TEST(Transforms, CaseFoldingTouchesAsciiLettersOnly) {
  EXPECT_EQ(apply({t(K::kToLowercase)}, "WwW.ExAmPlE.CoM/\xC3\x89"), "www.example.com/\xC3\x89");
  EXPECT_EQ(apply({t(K::kToUppercase)}, "abc-123"), "ABC-123");
}

TEST(Transforms, WhitespaceIsStrippedOrCompressedToOneSpace) {
  EXPECT_EQ(apply({t(K::kStripWhitespace)}, " a \t b\r\n c\v\f"), "abc");
  EXPECT_EQ(apply({t(K::kCompressWhitespace)}, "a \t  b\r\nc "), "a b c ");
}

TEST(Transforms, UrlDecodeDecodesPercentEscapesAndPlus) {
  EXPECT_EQ(apply({t(K::kUrlDecode)}, "/a%20b+c%2fd%zz%4"), "/a b c/d%zz%4");
}

TEST(Transforms, DigestsAreTheRawBytes) {
  // RFC 1321 / FIPS 180 test vectors for "abc".
  EXPECT_EQ(hex(apply({t(K::kToMd5)}, "abc")), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(hex(apply({t(K::kToSha1)}, "abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex(apply({t(K::kToSha256)}, "abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Transforms, XorRepeatsTheKey) {
  EXPECT_EQ(apply({t(K::kXor, std::string("\x01\x02", 2))}, std::string("\x00\x00\x00", 3)),
            std::string("\x01\x02\x01", 3));
}

TEST(Transforms, ChainsApplyInRuleOrder) {
  EXPECT_EQ(apply({t(K::kToLowercase), t(K::kDotPrefix)}, "EVIL.Example"), ".evil.example");
  EXPECT_EQ(hex(apply({t(K::kStripWhitespace), t(K::kToMd5)}, " a b c ")),
            "900150983cd24fb0d6963f7d28e17f72");
}

TEST(Transforms, HeaderLowercaseTouchesNamesOnly) {
  EXPECT_EQ(apply({t(K::kHeaderLowercase)}, "Host: Example.COM\r\nUser-Agent: Mozilla/5.0 X\r\n"),
            "host: Example.COM\r\nuser-agent: Mozilla/5.0 X\r\n");
}

// pcrexform: the first capture group of the first match; no match leaves the buffer as it was.
TEST(Transforms, PcrexformKeepsTheFirstCaptureGroup) {
  const std::vector<rules::Transform> chain = {t(K::kPcrexform, "[a-zA-Z]+\\s+(.*)\\s+HTTP")};
  std::vector<Pcre2Code> regexes;
  regexes.push_back(compile_pcrexform(chain[0].key));
  const Pcre2MatchData match(pcre2_match_data_create(16, nullptr));
  const auto run = [&](std::string_view in) {
    std::string out, scratch;
    apply_transforms(chain, std::span(reinterpret_cast<const uint8_t*>(in.data()), in.size()), out,
                     scratch, regexes, match.get());
    return out;
  };
  EXPECT_EQ(run("GET /index.php?id=1 HTTP/1.1"), "/index.php?id=1");
  EXPECT_EQ(run("no request line here"), "no request line here");
  EXPECT_THROW(compile_pcrexform("[a-z]+ .*"), std::invalid_argument);  // no capture group
  EXPECT_THROW(compile_pcrexform("(unclosed"), std::invalid_argument);
}

}  // namespace
}  // namespace spanguard::detect
