// http.uri and http.host normalisation with the behaviour of Suricata's default libhtp setup:
// personality IDS (path: %u decoding, backslash and encoded separators made '/', separators
// compressed, UTF-8 best-fit mapped, RFC 3986 dot-segment removal) with Suricata's overrides (no
// lower-casing of the path, '+' kept in the query), invalid escapes left as they came.
#include "spanguard/applayer/http_normalize.h"

#include <algorithm>

#include "spanguard/applayer/http.h"

namespace spanguard::applayer::http {

namespace {

constexpr char kReplacement = '?';  // libhtp's best-fit replacement byte

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
bool is_hex(char c) { return hex_value(c) >= 0; }
uint8_t hex_byte(const char* p) {
  return static_cast<uint8_t>(hex_value(p[0]) * 16 + hex_value(p[1]));
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Windows' best-fit mapping (what IIS applies, and libhtp emulates) turns some non-ASCII code
// points into ASCII look-alikes. Kept here: the fullwidth forms and the slash look-alikes, the part
// that matters for path evasion; every other code point becomes the replacement byte.
char best_fit(uint32_t cp) {
  if (cp >= 0xff01 && cp <= 0xff5e) return static_cast<char>(cp - 0xfee0);  // fullwidth ASCII
  switch (cp) {
    case 0x2044:  // FRACTION SLASH
    case 0x2215:  // DIVISION SLASH
      return '/';
    case 0x2216:  // SET MINUS
      return '\\';
    case 0x2024:  // ONE DOT LEADER
      return '.';
    default:
      return kReplacement;
  }
}

// %uHHHH: U+00XX is the byte XX (an "overlong" %u), anything else goes through best-fit.
char u_escape(const char* hex4) {
  const uint8_t hi = hex_byte(hex4), lo = hex_byte(hex4 + 2);
  if (hi == 0) return static_cast<char>(lo);
  return best_fit(uint32_t{hi} << 8 | lo);
}

bool u_escape_at(std::string_view s, size_t i) {
  return i + 5 < s.size() && (s[i + 1] == 'u' || s[i + 1] == 'U') && is_hex(s[i + 2]) &&
         is_hex(s[i + 3]) && is_hex(s[i + 4]) && is_hex(s[i + 5]);
}

// Multi-byte UTF-8 sequences (overlong ones accepted) become one best-fit byte; a byte that cannot
// start or continue a sequence becomes the replacement byte; a sequence cut by the end is dropped.
std::string utf8_best_fit(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x80) {
      out += static_cast<char>(b);
      ++i;
      continue;
    }
    size_t need;
    uint32_t cp;
    if (b >= 0xc0 && b <= 0xdf) {
      need = 1, cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2, cp = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf7) {
      need = 3, cp = b & 0x07;
    } else {
      out += kReplacement;  // a continuation byte or 0xf8..0xff without a lead
      ++i;
      continue;
    }
    size_t j = i + 1;
    bool bad = false;
    for (size_t k = 0; k < need; ++k, ++j) {
      if (j >= s.size()) return out;
      const auto c = static_cast<uint8_t>(s[j]);
      if ((c & 0xc0) != 0x80) {
        bad = true;
        break;
      }
      cp = cp << 6 | (c & 0x3f);
    }
    if (bad) {
      out += kReplacement;  // the offending byte may start the next character
      i = j;
      continue;
    }
    out += cp > 0xffff ? kReplacement : best_fit(cp);
    i = j;
  }
  return out;
}

// RFC 3986 §5.2.4 remove_dot_segments.
std::string remove_dot_segments(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  auto pop_segment = [&out] {
    const size_t slash = out.rfind('/');
    out.resize(slash == std::string::npos ? 0 : slash);
  };
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.remove_prefix(3);
    } else if (in.starts_with("./")) {
      in.remove_prefix(2);
    } else if (in.starts_with("/./")) {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.starts_with("/../")) {
      in.remove_prefix(3);
      pop_segment();
    } else if (in == "/..") {
      in = "/";
      pop_segment();
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      const size_t next = in.find('/', 1);
      const size_t n = next == std::string_view::npos ? in.size() : next;
      out.append(in.substr(0, n));
      in.remove_prefix(n);
    }
  }
  return out;
}

}  // namespace

std::string_view trim_lws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (iequals(trim_lws(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
    if (std::string_view("()<>@,;:\\\"/[]?={}").find(c) != std::string_view::npos) return false;
  }
  return true;
}

std::optional<uint64_t> parse_content_length(std::string_view value) {
  value = trim_lws(value);
  if (value.empty() || value.size() > 18) return std::nullopt;  // 10^18 bytes: not a real body
  uint64_t n = 0;
  for (const char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

void split_host_port(std::string_view hostport, std::string_view& host, std::string_view& port) {
  hostport = trim_lws(hostport);
  size_t colon;
  if (hostport.starts_with('[')) {
    const size_t close = hostport.find(']');
    if (close == std::string_view::npos) {
      host = hostport, port = {};
      return;
    }
    colon = hostport.find(':', close);
  } else {
    colon = hostport.find(':');
  }
  host = hostport.substr(0, colon);
  port = colon == std::string_view::npos ? std::string_view{} : hostport.substr(colon + 1);
}

UriParts split_uri(std::string_view target) {
  UriParts u;
  size_t pos = 0;
  if (!target.empty() && target[0] != '/') {
    // Anything before the first ':' is a scheme; without a ':' the whole target is a path.
    const size_t colon = target.find(':');
    if (colon != std::string_view::npos) {
      u.scheme = target.substr(0, colon);
      pos = colon + 1;
    }
  }
  if (!u.scheme.empty() || pos > 0) {
    // Two slashes start an authority; three or more are a path.
    if (pos + 2 < target.size() && target[pos] == '/' && target[pos + 1] == '/' &&
        target[pos + 2] != '/') {
      const size_t start = pos + 2;
      size_t end = target.find_first_of("/?#", start);
      if (end == std::string_view::npos) end = target.size();
      std::string_view authority = target.substr(start, end - start);
      const size_t at = authority.find('@');
      if (at != std::string_view::npos) {
        u.userinfo = authority.substr(0, at);
        authority.remove_prefix(at + 1);
      }
      split_host_port(authority, u.host, u.port);
      u.has_authority = true;
      pos = end;
    }
  }
  const size_t path_end = std::min(target.find_first_of("?#", pos), target.size());
  u.path = target.substr(pos, path_end - pos);
  pos = path_end;
  if (pos < target.size() && target[pos] == '?') {
    const size_t q_end = std::min(target.find('#', pos + 1), target.size());
    u.query = target.substr(pos + 1, q_end - pos - 1);
    u.has_query = true;
    pos = q_end;
  }
  if (pos < target.size() && target[pos] == '#') {
    u.fragment = target.substr(pos + 1);
    u.has_fragment = true;
  }
  return u;
}

std::string url_decode(std::string_view s, bool u_decode, uint32_t& anomalies) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c != '%') {
      out += c;
      ++i;
      continue;
    }
    if (u_decode && i + 2 < s.size() && (s[i + 1] == 'u' || s[i + 1] == 'U')) {
      if (u_escape_at(s, i)) {
        c = u_escape(s.data() + i + 2);
        i += 6;
      } else {
        anomalies |= bit(Anomaly::kInvalidUriEncoding);
        ++i;  // keep the '%'
      }
    } else if (i + 2 < s.size() && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
      c = static_cast<char>(hex_byte(s.data() + i + 1));
      i += 3;
    } else {
      anomalies |= bit(Anomaly::kInvalidUriEncoding);
      ++i;
    }
    out += c;
  }
  return out;
}

std::string normalize_path(std::string_view path, uint32_t& anomalies) {
  std::string decoded;
  decoded.reserve(path.size());
  bool previous_was_separator = false;
  size_t i = 0;
  while (i < path.size()) {
    char c = path[i];
    if (c == '%') {
      if (i + 2 < path.size() && (path[i + 1] == 'u' || path[i + 1] == 'U')) {
        if (u_escape_at(path, i)) {
          c = u_escape(path.data() + i + 2);
          i += 6;
          if (c == 0) anomalies |= bit(Anomaly::kUriNul);
        } else {
          anomalies |= bit(Anomaly::kInvalidUriEncoding);
          ++i;
        }
      } else if (i + 2 < path.size() && is_hex(path[i + 1]) && is_hex(path[i + 2])) {
        c = static_cast<char>(hex_byte(path.data() + i + 1));  // %2f and %5c included
        i += 3;
        if (c == 0) anomalies |= bit(Anomaly::kUriNul);
      } else {
        anomalies |= bit(Anomaly::kInvalidUriEncoding);
        ++i;
      }
    } else {
      if (c == 0) anomalies |= bit(Anomaly::kUriNul);
      ++i;
    }
    if (c == '\\') c = '/';
    if (c == '/') {
      if (!previous_was_separator) decoded += c;
      previous_was_separator = true;
    } else {
      decoded += c;
      previous_was_separator = false;
    }
  }
  return remove_dot_segments(utf8_best_fit(decoded));
}

std::string normalize_uri(std::string_view target, bool connect, uint32_t& anomalies) {
  if (connect) return {};  // an authority: no path, query or fragment
  const UriParts u = split_uri(target);
  std::string out = normalize_path(u.path, anomalies);
  if (u.has_query) {
    out += '?';
    out += url_decode(u.query, false, anomalies);  // Suricata decodes the query, '+' kept
  }
  if (u.has_fragment) {
    out += '#';
    out += url_decode(u.fragment, true, anomalies);
  }
  return out;
}

std::string normalize_host(std::string_view hostport) {
  std::string_view host, port;
  split_host_port(hostport, host, port);
  std::string out(trim_lws(host));
  for (char& c : out) c = lower(c);
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

}  // namespace spanguard::applayer::http
