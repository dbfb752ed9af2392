// Buffer transformations as Suricata's "Transformations" documentation defines them. Digests are
// the raw bytes (rules write them as |hex| contents).
#include "spanguard/detect/transforms.h"

#include <openssl/evp.h>

#include <cctype>
#include <stdexcept>

namespace spanguard::detect {

namespace {

bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void digest(const EVP_MD* md, const std::string& in, std::string& out) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(in.data(), in.size(), d, &len, md, nullptr) != 1) len = 0;
  out.assign(reinterpret_cast<const char*>(d), len);
}

void apply(const rules::Transform& t, std::string& buf, std::string& tmp, const pcre2_code* regex,
           pcre2_match_data* match) {
  using K = rules::Transform::Kind;
  switch (t.kind) {
    case K::kPcrexform: {
      // Suricata: the first capture group of the first match; no match leaves the buffer.
      if (regex == nullptr || match == nullptr) return;
      const int rc = pcre2_match(regex, reinterpret_cast<PCRE2_SPTR>(buf.data()), buf.size(), 0, 0,
                                 match, nullptr);
      if (rc < 2) return;
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match);
      if (ov[2] == PCRE2_UNSET || ov[3] < ov[2]) return;
      tmp.assign(buf, ov[2], ov[3] - ov[2]);
      buf.swap(tmp);
      return;
    }
    case K::kHeaderLowercase: {
      // Each line's name, up to its ':', in lower case (values keep their case).
      bool in_name = true;
      for (char& c : buf) {
        if (c == '\n') {
          in_name = true;
        } else if (c == ':') {
          in_name = false;
        } else if (in_name) {
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
      }
      return;
    }
    case K::kDotPrefix:
      buf.insert(buf.begin(), '.');
      return;
    case K::kToLowercase:
      for (char& c : buf) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return;
    case K::kToUppercase:
      for (char& c : buf) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      return;
    case K::kStripWhitespace:
      std::erase_if(buf, is_space);
      return;
    case K::kCompressWhitespace: {
      tmp.clear();
      for (size_t i = 0; i < buf.size(); ++i) {
        if (is_space(buf[i])) {
          tmp += ' ';
          while (i + 1 < buf.size() && is_space(buf[i + 1])) ++i;
        } else {
          tmp += buf[i];
        }
      }
      buf.swap(tmp);
      return;
    }
    case K::kUrlDecode: {
      tmp.clear();
      for (size_t i = 0; i < buf.size(); ++i) {
        if (buf[i] == '%' && i + 2 < buf.size() && hex_value(buf[i + 1]) >= 0 &&
            hex_value(buf[i + 2]) >= 0) {
          tmp += static_cast<char>(hex_value(buf[i + 1]) << 4 | hex_value(buf[i + 2]));
          i += 2;
        } else {
          tmp += buf[i] == '+' ? ' ' : buf[i];
        }
      }
      buf.swap(tmp);
      return;
    }
    case K::kToMd5:
      digest(EVP_md5(), buf, tmp);
      buf.swap(tmp);
      return;
    case K::kToSha1:
      digest(EVP_sha1(), buf, tmp);
      buf.swap(tmp);
      return;
    case K::kToSha256:
      digest(EVP_sha256(), buf, tmp);
      buf.swap(tmp);
      return;
    case K::kXor:
      if (t.key.empty()) return;
      for (size_t i = 0; i < buf.size(); ++i) buf[i] ^= t.key[i % t.key.size()];
      return;
  }
}

}  // namespace

Pcre2Code compile_pcrexform(const std::string& regex) {
  rules::Pcre p;
  p.pattern = regex;
  Pcre2Code code = compile_pcre(p);
  uint32_t groups = 0;
  pcre2_pattern_info(code.get(), PCRE2_INFO_CAPTURECOUNT, &groups);
  if (groups == 0) throw std::invalid_argument("the regex has no capture group");
  return code;
}

void apply_transforms(std::span<const rules::Transform> chain, std::span<const uint8_t> in,
                      std::string& out, std::string& scratch, std::span<const Pcre2Code> regexes,
                      pcre2_match_data* match) {
  out.assign(reinterpret_cast<const char*>(in.data()), in.size());
  size_t next_regex = 0;
  for (const rules::Transform& t : chain) {
    const pcre2_code* regex = nullptr;
    if (t.kind == rules::Transform::Kind::kPcrexform && next_regex < regexes.size()) {
      regex = regexes[next_regex++].get();
    }
    apply(t, out, scratch, regex, match);
  }
}

}  // namespace spanguard::detect
