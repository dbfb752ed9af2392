// The Suricata sticky buffers of an HTTP transaction, in the layouts Suricata documents and builds
// them: header fields combined per name as libhtp combines them, http.header without the cookie
// field, http.start closed by an empty line, http.header_names framed by CRLFs.
#include "spanguard/applayer/http_sticky_buffers.h"

#include <algorithm>
#include <unordered_map>

#include "spanguard/applayer/http_normalize.h"
#include "spanguard/core/heap.h"

namespace spanguard::applayer::http {

namespace {

// libhtp keeps one value per header name: repeated fields are appended with ", " (RFC 7230
// §3.2.2), except Content-Length, where the first stays (a differing repeat is an anomaly).
bool combines(std::string_view name) { return !iequals(name, "Content-Length"); }

uint64_t name_hash(std::string_view name) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the lower-cased name
  for (const char c : name) {
    h ^= static_cast<uint8_t>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    h *= 1099511628211ull;
  }
  return h;
}

// For each field, the index of the first field with the same name (case-insensitive): linear in
// the number of fields, which an attacker chooses.
std::vector<uint32_t> first_of_name(const std::vector<Header>& headers) {
  std::vector<uint32_t> first(headers.size());
  std::unordered_map<uint64_t, uint32_t> seen;
  seen.reserve(headers.size());
  for (uint32_t i = 0; i < headers.size(); ++i) {
    const auto [it, inserted] = seen.try_emplace(name_hash(headers[i].name), i);
    first[i] = i;
    if (inserted) continue;
    if (iequals(headers[it->second].name, headers[i].name)) {
      first[i] = it->second;
      continue;
    }
    for (uint32_t j = 0; j < i; ++j) {  // a hash collision: look the slow way
      if (iequals(headers[j].name, headers[i].name)) {
        first[i] = j;
        break;
      }
    }
  }
  return first;
}

void append_field(std::string& out, const Header& h) {
  out += h.name;
  out += ": ";
  out += h.value;
  out += "\r\n";
}

constexpr std::string_view kBufferNames[] = {
    "http.uri",          "http.uri.raw",       "http.method",        "http.protocol",
    "http.request_line", "http.start",         "http.host",          "http.host.raw",
    "http.user_agent",   "http.header",        "http.header.raw",    "http.header_names",
    "http.cookie",       "http.referer",       "http.content_type",  "http.content_len",
    "http.accept",       "http.accept_enc",    "http.accept_lang",   "http.connection",
    "http.request_body", "http.response_line", "http.stat_code",     "http.stat_msg",
    "http.location",     "http.server",        "http.response_body",
};
static_assert(std::size(kBufferNames) == static_cast<size_t>(BufferField::kCount));

constexpr std::string_view Buffers::*kMembers[] = {
    &Buffers::uri,           &Buffers::uri_raw,      &Buffers::method,
    &Buffers::protocol,      &Buffers::request_line, &Buffers::start,
    &Buffers::host,          &Buffers::host_raw,     &Buffers::user_agent,
    &Buffers::header,        &Buffers::header_raw,   &Buffers::header_names,
    &Buffers::cookie,        &Buffers::referer,      &Buffers::content_type,
    &Buffers::content_len,   &Buffers::accept,       &Buffers::accept_enc,
    &Buffers::accept_lang,   &Buffers::connection,   &Buffers::request_body,
    &Buffers::response_line, &Buffers::stat_code,    &Buffers::stat_msg,
    &Buffers::location,      &Buffers::server,       &Buffers::response_body,
};
static_assert(std::size(kMembers) == static_cast<size_t>(BufferField::kCount));

void set(Buffers& b, BufferField f, std::string_view v) {
  b.*kMembers[static_cast<size_t>(f)] = v;
  b.present |= uint64_t{1} << static_cast<unsigned>(f);
}

void set_field(Buffers& b, BufferField f, const Message& m, std::string_view name) {
  if (const Header* h = m.field(name)) set(b, f, h->value);
}

// The request fields response-stage inspections still present, besides Host (http.host and
// http.host.raw are derived from it or from the target); release_request_stage() keeps them.
struct RequestField {
  BufferField buffer;
  std::string_view name;
};
constexpr RequestField kRequestFields[] = {
    {BufferField::kUserAgent, "User-Agent"},
    {BufferField::kReferer, "Referer"},
    {BufferField::kAccept, "Accept"},
    {BufferField::kAcceptEnc, "Accept-Encoding"},
    {BufferField::kAcceptLang, "Accept-Language"},
    {BufferField::kConnection, "Connection"},
};

bool kept_after_request(const Header& h) {
  if (iequals(h.name, "Host")) return true;
  for (const RequestField& f : kRequestFields) {
    if (iequals(h.name, f.name)) return true;
  }
  return false;
}

using core::release;

}  // namespace

const Message Transaction::kNoMessage{};

const Header* Message::find(std::string_view name) const {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return &h;
  }
  return nullptr;
}

const Header* Message::field(std::string_view name) const {
  for (const Header& h : merged) {
    if (iequals(h.name, name)) return &h;
  }
  return find(name);
}

void derive_header_buffers(Message& m, Side side) {
  const std::vector<uint32_t> first = first_of_name(m.headers);
  std::vector<int32_t> merged_at(m.headers.size(), -1);  // by first field: its m.merged entry
  m.merged.clear();
  for (size_t i = 0; i < m.headers.size(); ++i) {
    const uint32_t f = first[i];
    if (f == i || !combines(m.headers[i].name)) continue;
    if (merged_at[f] < 0) {
      merged_at[f] = static_cast<int32_t>(m.merged.size());
      m.merged.push_back(m.headers[f]);
    }
    std::string& value = m.merged[merged_at[f]].value;
    value += ", ";
    value += m.headers[i].value;
  }
  auto combined = [&](size_t i) -> const Header& {
    return merged_at[i] >= 0 ? m.merged[merged_at[i]] : m.headers[i];
  };

  const std::string_view cookie = side == Side::kRequest ? "Cookie" : "Set-Cookie";
  m.start_buf.assign(m.line).append("\r\n");
  m.header_names_buf.clear();
  m.header_buf.clear();
  m.header_in_start = true;
  bool any = false;
  for (size_t i = 0; i < m.headers.size(); ++i) {
    if (first[i] != i) continue;
    const Header& h = combined(i);
    append_field(m.start_buf, h);
    if (!any) m.header_names_buf = "\r\n";
    m.header_names_buf.append(h.name).append("\r\n");
    any = true;
    if (iequals(h.name, cookie)) m.header_in_start = false;
  }
  if (any) {
    m.start_buf += "\r\n";
    m.header_names_buf += "\r\n";
  }
  if (!m.header_in_start) {
    for (size_t i = 0; i < m.headers.size(); ++i) {
      if (first[i] != i || iequals(m.headers[i].name, cookie)) continue;
      append_field(m.header_buf, combined(i));
    }
  }
}

std::string_view buffer_name(BufferField f) {
  return f < BufferField::kCount ? kBufferNames[static_cast<size_t>(f)] : std::string_view{};
}

std::string_view Buffers::get(BufferField f) const {
  return f < BufferField::kCount ? this->*kMembers[static_cast<size_t>(f)] : std::string_view{};
}

BufferField field_of(std::string_view Buffers::*member) {
  for (size_t i = 0; i < std::size(kMembers); ++i) {
    if (kMembers[i] == member) return static_cast<BufferField>(i);
  }
  return BufferField::kCount;
}

bool present(const Buffers& b, std::string_view Buffers::*member) {
  const BufferField f = field_of(member);
  return f != BufferField::kCount && b.has(f);
}

void fill_buffers(const Transaction& tx, Side stage, Buffers& out) {
  out = Buffers{};
  using F = BufferField;
  const Message& req = tx.request;
  const Message& res = tx.response();

  if (tx.has_request) {
    set(out, F::kUri, tx.uri);
    set(out, F::kUriRaw, req.uri_raw);
    set(out, F::kMethod, req.method);
    set(out, F::kRequestLine, req.line);
    if (req.headers_done) {
      // http.host: the target's host when the request has an absolute-form target, else the Host
      // field; http.host.raw: that same target host (as libhtp keeps it), else Host as sent.
      if (tx.host_from_uri) {
        set(out, F::kHost, tx.host);
        set(out, F::kHostRaw, tx.host);
      } else if (const Header* h = req.field("Host")) {
        set(out, F::kHost, tx.host);
        set(out, F::kHostRaw, h->value);
      }
      for (const RequestField& f : kRequestFields) set_field(out, f.buffer, req, f.name);
    }
    if (!req.body.empty()) set(out, F::kRequestBody, req.body);
  }
  if (tx.has_response && !res.line.empty()) {
    set(out, F::kResponseLine, res.line);
    set(out, F::kStatCode, res.status_code);
    set(out, F::kStatMsg, res.status_msg);
  }
  if (tx.has_response && res.headers_done) {
    set_field(out, F::kLocation, res, "Location");
    set_field(out, F::kServer, res, "Server");
  }
  if (tx.has_response && !res.body.empty()) set(out, F::kResponseBody, res.body);

  const bool has = stage == Side::kRequest ? tx.has_request : tx.has_response;
  const Message& m = stage == Side::kRequest ? req : res;
  if (!has || m.line.empty()) return;
  if (!m.protocol.empty()) set(out, F::kProtocol, m.protocol);
  if (!m.headers_done || m.stage_released) return;
  set(out, F::kStart, m.start_buf);
  if (!m.headers_raw.empty()) set(out, F::kHeaderRaw, m.headers_raw);
  if (!m.header_names_buf.empty()) set(out, F::kHeaderNames, m.header_names_buf);
  if (m.header_in_start) {
    // Between the line's CRLF and the closing empty line of http.start.
    const size_t from = m.line.size() + 2;
    if (m.start_buf.size() > from + 2) {
      set(out, F::kHeader,
          std::string_view(m.start_buf).substr(from, m.start_buf.size() - from - 2));
    }
  } else if (!m.header_buf.empty()) {
    set(out, F::kHeader, m.header_buf);
  }
  set_field(out, F::kCookie, m, stage == Side::kRequest ? "Cookie" : "Set-Cookie");
  set_field(out, F::kContentType, m, "Content-Type");
  set_field(out, F::kContentLen, m, "Content-Length");
}

void release_request_stage(Message& m) {
  std::erase_if(m.headers, [](const Header& h) { return !kept_after_request(h); });
  std::erase_if(m.merged, [](const Header& h) { return !kept_after_request(h); });
  m.headers.shrink_to_fit();
  m.merged.shrink_to_fit();
  release(m.headers_raw);
  release(m.start_buf);
  release(m.header_buf);
  release(m.header_names_buf);
  m.stage_released = true;
}

}  // namespace spanguard::applayer::http
