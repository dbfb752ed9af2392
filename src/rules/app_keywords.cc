// Application-layer comparison keywords, with the value syntax of Suricata's documentation ("TLS
// Keywords": tls.version, ssl_version, ssl_state, tls.cert_expired/valid, tls_cert_notbefore/
// notafter; "DNS Keywords": dns.opcode, dns.rrtype; "FTP Keywords": ftpbounce).
#include "app_keywords.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <span>
#include <tuple>
#include <vector>

#include "spanguard/core/text.h"

namespace spanguard::rules {

namespace {

constexpr AppFactKeyword kKeywords[] = {
    {"tls.version", AppFact::kTlsVersion, true},
    {"ssl_version", AppFact::kTlsVersion, true},
    {"ssl_state", AppFact::kTlsState, true},
    {"tls.cert_expired", AppFact::kTlsCertExpired, false},
    {"tls_cert_expired", AppFact::kTlsCertExpired, false},
    {"tls.cert_valid", AppFact::kTlsCertValid, false},
    {"tls_cert_valid", AppFact::kTlsCertValid, false},
    {"tls_cert_notbefore", AppFact::kTlsNotBefore, true},
    {"tls.cert_notbefore", AppFact::kTlsNotBefore, true},
    {"tls_cert_notafter", AppFact::kTlsNotAfter, true},
    {"tls.cert_notafter", AppFact::kTlsNotAfter, true},
    {"dns.opcode", AppFact::kDnsOpcode, true},
    {"dns.rrtype", AppFact::kDnsRrtype, true},
    {"ftpbounce", AppFact::kFtpBounce, false},
};

using core::trim;

[[noreturn]] void bad(std::string_view keyword, const std::string& expected, std::string_view v) {
  throw KeywordError{
      "'" + std::string(keyword) + "' expects " + expected + ", got '" + std::string(v) + "'",
      "'" + std::string(keyword) + "' with a bad value"};
}

std::optional<uint64_t> number(std::string_view v) {
  v = trim(v);
  int base = 10;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
    v.remove_prefix(2);
    base = 16;
  }
  uint64_t out = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out, base);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
  return out;
}

// Suricata's integer forms: N, !N, <N, <=N, >N, >=N, N<>M (exclusive), with `parse` reading each
// operand (a number, or a date for the certificate validity keywords).
template <typename Parse>
SizeCondition comparison(std::string_view keyword, std::string_view v, Parse parse,
                         const std::string& expected) {
  SizeCondition c;
  v = trim(v);
  auto operand = [&](std::string_view text) -> uint32_t {
    const std::optional<uint64_t> n = parse(trim(text));
    if (!n || *n > UINT32_MAX) bad(keyword, expected, v);
    return static_cast<uint32_t>(*n);
  };
  if (const auto range = v.find("<>"); range != std::string_view::npos) {
    c.op = SizeCondition::Op::kRange;
    c.a = operand(v.substr(0, range));
    c.b = operand(v.substr(range + 2));
    if (c.b <= c.a) bad(keyword, expected + " (a range low<>high)", v);
    return c;
  }
  static constexpr std::pair<std::string_view, SizeCondition::Op> kOps[] = {
      {"<=", SizeCondition::Op::kLessEqual}, {">=", SizeCondition::Op::kGreaterEqual},
      {"<", SizeCondition::Op::kLess},       {">", SizeCondition::Op::kGreater},
      {"!", SizeCondition::Op::kNotEqual},   {"=", SizeCondition::Op::kEqual},
  };
  for (const auto& [prefix, op] : kOps) {
    if (v.substr(0, prefix.size()) == prefix) {
      c.op = op;
      c.a = operand(v.substr(prefix.size()));
      return c;
    }
  }
  c.a = operand(v);
  return c;
}

// "1.0".."1.3" (Suricata's tls.version), or the wire value in hex ("0x0303", "0x7f1c").
std::optional<uint32_t> tls_version(std::string_view v) {
  static constexpr std::pair<std::string_view, uint32_t> kNames[] = {
      {"1.0", 0x0301}, {"1.1", 0x0302}, {"1.2", 0x0303}, {"1.3", 0x0304}};
  for (const auto& [name, value] : kNames) {
    if (v == name) return value;
  }
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
    if (const auto n = number(v); n && *n <= 0xffff) return static_cast<uint32_t>(*n);
  }
  return std::nullopt;
}

using Names = std::span<const std::pair<std::string_view, uint32_t>>;

// NAME[<sep>NAME...], each optionally negated with '!' (all of them or none): the values named,
// and whether they are negated.
std::pair<std::vector<uint32_t>, bool> named_values(std::string_view keyword, std::string_view v,
                                                    char sep, Names names,
                                                    const std::string& expected) {
  std::vector<uint32_t> values;
  size_t negated = 0;
  for (size_t start = 0; start <= v.size();) {
    const size_t end = std::min(v.find(sep, start), v.size());
    std::string_view item = trim(v.substr(start, end - start));
    start = end + 1;
    if (!item.empty() && item[0] == '!') {
      ++negated;
      item = trim(item.substr(1));
    }
    const auto it =
        std::find_if(names.begin(), names.end(), [&](const auto& n) { return n.first == item; });
    if (it == names.end()) bad(keyword, expected, v);
    values.push_back(it->second);
  }
  if (negated != 0 && negated != values.size())
    bad(keyword, expected + ", all negated or none (mixing is ambiguous)", v);
  return {std::move(values), negated != 0};
}

// ssl_version:[!]NAME[,[!]NAME...] with sslv2, sslv3, tls1.0, tls1.1, tls1.2, tls1.3.
AppFactTest ssl_version(std::string_view v) {
  static constexpr std::pair<std::string_view, uint32_t> kNames[] = {
      {"sslv2", 0x0200},  {"sslv3", 0x0300},  {"tls1.0", 0x0301},
      {"tls1.1", 0x0302}, {"tls1.2", 0x0303}, {"tls1.3", 0x0304}};
  AppFactTest t;
  t.fact = AppFact::kTlsVersion;
  std::tie(t.any_of, t.negated) =
      named_values("ssl_version", v, ',', kNames, "sslv2, sslv3, tls1.0, tls1.1, tls1.2 or tls1.3");
  return t;
}

// ssl_state:[!]STATE[|[!]STATE...]: the handshake message inspected.
AppFactTest ssl_state(std::string_view v) {
  static constexpr std::pair<std::string_view, uint32_t> kNames[] = {
      {"client_hello", kTlsStateClientHello},
      {"server_hello", kTlsStateServerHello},
      {"client_keyx", kTlsStateClientKeyx},
      {"server_keyx", kTlsStateServerKeyx},
      {"unknown", kTlsStateUnknown}};
  AppFactTest t;
  t.fact = AppFact::kTlsState;
  const auto [states, negated] =
      named_values("ssl_state", v, '|', kNames,
                   "client_hello, server_hello, client_keyx, server_keyx or unknown");
  for (const uint32_t bit : states) t.bits |= bit;
  t.negated = negated;
  return t;
}

// A certificate date: YYYY[-MM[-DD[(T| )HH[:MM[:SS]]]]], UTC, as unix seconds.
std::optional<uint64_t> date(std::string_view v) {
  int parts[6] = {0, 1, 1, 0, 0, 0};
  const char seps[] = {'-', '-', 'T', ':', ':'};
  size_t i = 0;
  for (int k = 0; k < 6; ++k) {
    const size_t digits = k == 0 ? 4 : 2;
    if (i + digits > v.size()) return std::nullopt;
    const auto [end, ec] = std::from_chars(v.data() + i, v.data() + i + digits, parts[k]);
    if (ec != std::errc() || end != v.data() + i + digits) return std::nullopt;
    i += digits;
    if (i == v.size()) break;
    if (k == 5) return std::nullopt;
    if (v[i] != seps[k] && !(k == 2 && v[i] == ' ')) return std::nullopt;
    ++i;
  }
  if (i != v.size() || parts[1] < 1 || parts[1] > 12 || parts[2] < 1 || parts[2] > 31 ||
      parts[3] > 23 || parts[4] > 59 || parts[5] > 60 || parts[0] < 1970) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = parts[0] - 1900;
  tm.tm_mon = parts[1] - 1;
  tm.tm_mday = parts[2];
  tm.tm_hour = parts[3];
  tm.tm_min = parts[4];
  tm.tm_sec = parts[5];
  const time_t t = timegm(&tm);
  if (t < 0) return std::nullopt;
  return static_cast<uint64_t>(t);
}

}  // namespace

bool AppFactTest::holds(uint32_t v) const {
  if (!any_of.empty()) {
    const bool any = std::find(any_of.begin(), any_of.end(), v) != any_of.end();
    return any != negated;
  }
  if (bits != 0) return ((v & bits) != 0) != negated;
  return value.matches(v);
}

const AppFactKeyword* find_app_fact_keyword(std::string_view name) {
  for (const AppFactKeyword& k : kKeywords) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

AppFactTest parse_app_fact(const AppFactKeyword& k, std::string_view v) {
  v = trim(v);
  AppFactTest t;
  t.fact = k.fact;
  switch (k.fact) {
    case AppFact::kTlsVersion:
      if (k.name == "ssl_version") return ssl_version(v);
      if (const auto version = tls_version(v)) {
        t.value.a = *version;
        return t;
      }
      bad(k.name, "1.0, 1.1, 1.2, 1.3 or a hex version (0x0303)", v);
    case AppFact::kTlsState:
      return ssl_state(v);
    case AppFact::kTlsCertExpired:
    case AppFact::kTlsCertValid:
    case AppFact::kFtpBounce:
      t.value.a = 1;
      return t;
    case AppFact::kTlsNotBefore:
    case AppFact::kTlsNotAfter:
      t.value = comparison(k.name, v, date, "a date YYYY[-MM[-DD[THH:MM:SS]]] with <, >, <> or =");
      return t;
    case AppFact::kDnsOpcode:
      t.value = comparison(
          k.name, v, [](std::string_view n) { return number(n); }, "an opcode 0..15 (N, !N)");
      if (t.value.a > 15 || t.value.b > 15) bad(k.name, "an opcode 0..15 (N, !N)", v);
      return t;
    case AppFact::kDnsRrtype:
      t.value = comparison(
          k.name, v, [](std::string_view n) { return number(n); },
          "a record type 0..65535 (N, !N, <N, >N, N<>M)");
      if (t.value.a > 65535 || t.value.b > 65535)
        bad(k.name, "a record type 0..65535 (N, !N, <N, >N, N<>M)", v);
      return t;
    case AppFact::kHttpRequestEvents:
    case AppFact::kHttpResponseEvents:
    case AppFact::kDnsEvents:
    case AppFact::kCount:
      break;
  }
  bad(k.name, "a value", v);
}

AppProto protocol_of(AppFact fact) {
  switch (fact) {
    case AppFact::kDnsOpcode:
    case AppFact::kDnsRrtype:
      return AppProto::kDns;
    case AppFact::kFtpBounce:
      return AppProto::kFtp;
    case AppFact::kHttpRequestEvents:
    case AppFact::kHttpResponseEvents:
      return AppProto::kHttp;
    case AppFact::kDnsEvents:
      return AppProto::kDns;
    default:
      return AppProto::kTls;
  }
}

}  // namespace spanguard::rules
