// Buffer transformations as Suricata's "Transformations" documentation defines them. Digests are
// the raw bytes (rules write them as |hex| contents).
#include "spanguard/detect/transforms.h"

#include <openssl/evp.h>

#include <cctype>

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

void apply(const rules::Transform& t, std::string& buf, std::string& tmp) {
  using K = rules::Transform::Kind;
  switch (t.kind) {
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

void apply_transforms(std::span<const rules::Transform> chain, std::span<const uint8_t> in,
                      std::string& out, std::string& scratch) {
  out.assign(reinterpret_cast<const char*>(in.data()), in.size());
  for (const rules::Transform& t : chain) apply(t, out, scratch);
}

}  // namespace spanguard::detect
