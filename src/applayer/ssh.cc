// The SSH parser: per side, a line reader up to the identification line, then a reader of the
// clear-text binary packets (RFC 4253 §6) that buffers only the first KEXINIT and stops at NEWKEYS,
// after which the side's bytes are encrypted and ignored.
#include "spanguard/applayer/ssh.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

#include "spanguard/core/heap.h"

namespace spanguard::applayer::ssh {

namespace {

using SC = SshCounter;

constexpr core::CounterDef kCounterDefs[] = {
    {"banners", "SSH identification lines parsed"},
    {"protocol1", "SSH identification lines of protocol 1.x (binary packets not parsed)"},
    {"packets", "clear-text SSH binary packets parsed"},
    {"kexinits", "SSH KEXINIT messages parsed (hassh computed)"},
    {"newkeys", "SSH NEWKEYS messages (a side turned encrypted)"},
    {"encrypted", "SSH flows where both sides turned encrypted"},
    {"gaps", "capture gaps in SSH flows"},
    {"anomaly.banner_too_long", "SSH identification lines over the length limit"},
    {"anomaly.invalid_banner", "SSH identification lines without a protocol version"},
    {"anomaly.line_before_banner", "client lines before the SSH identification line"},
    {"anomaly.too_many_lines", "SSH sides given up after too many lines without identification"},
    {"anomaly.invalid_packet_length", "SSH packets with impossible length or padding"},
    {"anomaly.kexinit_too_long", "SSH KEXINIT messages over the buffering limit"},
    {"anomaly.invalid_kexinit", "SSH KEXINIT messages whose name-lists do not fit"},
    {"anomaly.gap", "SSH sides given up at a capture gap"},
    {"anomaly.truncated", "SSH sides that ended inside a line or packet"},
};
static_assert(std::size(kCounterDefs) == static_cast<size_t>(SC::kCount));
constexpr core::CounterGroup kCounterGroup{"ssh", kCounterDefs};

constexpr std::string_view kAnomalyNames[] = {
    "banner_too_long",
    "invalid_banner",
    "line_before_banner",
    "too_many_lines",
    "invalid_packet_length",
    "kexinit_too_long",
    "invalid_kexinit",
    "gap",
    "truncated",
};
static_assert(std::size(kAnomalyNames) == static_cast<size_t>(Anomaly::kCount));

constexpr uint8_t kMsgKexInit = 20;  // RFC 4253 §12
constexpr uint8_t kMsgNewKeys = 21;
// RFC 4253 §6.1 requires 35000 bytes to be accepted; OpenSSH accepts up to 256 KiB. Beyond that
// the length field is garbage, not a packet.
constexpr uint32_t kMaxPacketLength = 256 * 1024;
constexpr size_t kCookieLength = 16;  // RFC 4253 §7.1
constexpr size_t kNameLists = 10;

using core::release;

uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

// The name-lists of a KEXINIT payload (after the message code), in order; false when they do not
// fit (RFC 4253 §7.1: cookie, ten name-lists, first_kex_packet_follows, reserved uint32).
bool split_kexinit(std::string_view payload, std::string_view (&lists)[kNameLists]) {
  if (payload.size() < kCookieLength) return false;
  payload.remove_prefix(kCookieLength);
  for (std::string_view& list : lists) {
    if (payload.size() < 4) return false;
    const uint32_t n = be32(reinterpret_cast<const uint8_t*>(payload.data()));
    if (payload.size() - 4 < n) return false;
    list = payload.substr(4, n);
    payload.remove_prefix(4 + size_t{n});
  }
  return payload.size() >= 5;
}

size_t endpoint_bytes(const Endpoint& e) {
  return e.banner.capacity() + e.proto_version.capacity() + e.software_version.capacity() +
         e.hassh_string.capacity() + e.hassh.capacity();
}

}  // namespace

std::string_view anomaly_name(Anomaly a) {
  return a < Anomaly::kCount ? kAnomalyNames[static_cast<size_t>(a)] : std::string_view{};
}

const core::CounterGroup& ssh_counter_group() { return kCounterGroup; }

ProbeResult probe_ssh(std::span<const uint8_t> first_bytes) {
  constexpr std::string_view kPrefix = "SSH-";
  const std::string_view s(reinterpret_cast<const char*>(first_bytes.data()), first_bytes.size());
  if (s.size() < kPrefix.size()) {
    return {kPrefix.starts_with(s) ? Probe::kNeedMore : Probe::kNo, std::nullopt};
  }
  return {s.starts_with(kPrefix) ? Probe::kYes : Probe::kNo, std::nullopt};
}

std::string md5_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &length, EVP_md5(), nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

Parser::Parser(const Limits& limits, Observer& observer, core::Counters<SshCounter>& counters)
    : limits_(limits), observer_(observer), counters_(counters) {}

bool Parser::done() const {
  return client_.state == State::kStopped && server_.state == State::kStopped;
}

void Parser::flag(Side side, Anomaly a) {
  Endpoint& e = endpoint(side);
  e.anomalies |= bit(a);
  counters_.inc(static_cast<SC>(static_cast<int>(SC::kAnomalyBannerTooLong) + static_cast<int>(a)));
}

void Parser::stop(Stream& s) {
  s.state = State::kStopped;
  release(s.line);
  release(s.packet);
}

void Parser::parse(Side side, std::span<const uint8_t> data) {
  Stream& s = stream(side);
  const uint8_t* p = data.data();
  const uint8_t* end = p + data.size();
  while (p < end && s.state != State::kStopped) {
    switch (s.state) {
      case State::kBanner:
        banner(side, s, p, end);
        break;
      case State::kHeader:
        header(side, s, p, end);
        break;
      case State::kKexInit:
        kexinit_bytes(side, s, p, end);
        break;
      case State::kSkip:
        skip(side, s, p, end);
        break;
      case State::kStopped:
        break;
    }
  }
}

void Parser::banner(Side side, Stream& s, const uint8_t*& p, const uint8_t* end) {
  const auto* lf = static_cast<const uint8_t*>(std::memchr(p, '\n', end - p));
  const uint8_t* stop_at = lf != nullptr ? lf : end;
  const size_t n = stop_at - p;
  const size_t room =
      limits_.max_banner_length > s.line.size() ? limits_.max_banner_length - s.line.size() : 0;
  s.line.append(reinterpret_cast<const char*>(p), std::min(n, room));
  if (n > room) s.line_over = true;
  p = stop_at;
  if (lf == nullptr) return;
  ++p;
  banner_line(side, s);
}

// RFC 4253 §4.2: "SSH-protoversion-softwareversion SP comments CR LF", at most 255 bytes; the
// server may send other lines first. A lone LF ends a line too (older implementations).
void Parser::banner_line(Side side, Stream& s) {
  std::string_view line = s.line;
  // The CR LF counts against the limit: a kept line of exactly the limit lost its terminator.
  const bool over = s.line_over || line.size() + 1 > limits_.max_banner_length;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!line.starts_with("SSH-")) {
    ++s.lines;
    if (side == Side::kClient && !(endpoint(side).anomalies & bit(Anomaly::kLineBeforeBanner))) {
      flag(side, Anomaly::kLineBeforeBanner);
    }
    s.line.clear();
    s.line_over = false;
    if (s.lines > limits_.max_lines_before_banner) {
      flag(side, Anomaly::kTooManyLines);
      stop(s);
    }
    return;
  }
  Endpoint& e = endpoint(side);
  e.banner.assign(line);
  if (over) flag(side, Anomaly::kBannerTooLong);
  // As Suricata: the protocol version runs to the first "-" (at least one byte), the software
  // version to the first SP, CR or LF (possibly empty).
  const std::string_view rest = line.substr(4);
  const size_t dash = rest.find('-');
  if (dash == 0 || dash == std::string_view::npos) {
    flag(side, Anomaly::kInvalidBanner);
    stop(s);
    return;
  }
  e.proto_version.assign(rest.substr(0, dash));
  const std::string_view software = rest.substr(dash + 1);
  e.software_version.assign(software.substr(0, software.find_first_of(" \r\n")));
  e.banner_done = true;
  release(s.line);
  s.line_over = false;
  counters_.inc(SC::kBanners);
  observer_.on_ssh(session_, side, Event::kBanner);
  // "1.99" announces protocol 2 compatibility (RFC 4253 §5.1); other 1.x speak protocol 1, whose
  // packets are not parsed.
  if (e.proto_version.starts_with("1.") && e.proto_version != "1.99") {
    counters_.inc(SC::kProtocol1);
    stop(s);
    return;
  }
  s.state = State::kHeader;
}

void Parser::header(Side side, Stream& s, const uint8_t*& p, const uint8_t* end) {
  const size_t take = std::min<size_t>(sizeof s.header - s.header_len, end - p);
  std::memcpy(s.header + s.header_len, p, take);
  s.header_len = static_cast<uint8_t>(s.header_len + take);
  p += take;
  if (s.header_len < sizeof s.header) return;
  s.header_len = 0;
  // RFC 4253 §6: uint32 packet_length (not counting itself or the MAC), byte padding_length,
  // payload (its first byte the message code), padding. No MAC before the first NEWKEYS.
  const uint32_t length = be32(s.header);
  const uint32_t padding = s.header[4];
  const uint8_t code = s.header[5];
  if (length < 2 || length > kMaxPacketLength || padding + 1 >= length) {
    flag(side, Anomaly::kInvalidPacketLength);
    stop(s);
    return;
  }
  counters_.inc(SC::kPackets);
  s.remaining = length - 2;  // after the message code
  s.newkeys_packet = code == kMsgNewKeys;
  if (code == kMsgKexInit && !endpoint(side).kexinit_done) {
    const uint32_t payload = length - padding - 2;
    if (payload <= limits_.max_kexinit_length) {
      s.state = State::kKexInit;
      s.remaining = payload;
      s.padding = padding;
      s.packet.clear();
      s.packet.reserve(std::min<uint32_t>(payload, 4096));  // grows only as bytes come
      if (payload == 0) kexinit_done(side, s);
      return;
    }
    flag(side, Anomaly::kKexInitTooLong);
  }
  s.state = State::kSkip;
  if (s.remaining == 0) skip(side, s, p, p);
}

void Parser::kexinit_bytes(Side side, Stream& s, const uint8_t*& p, const uint8_t* end) {
  const size_t n = static_cast<size_t>(std::min<uint64_t>(s.remaining, end - p));
  s.packet.append(reinterpret_cast<const char*>(p), n);
  p += n;
  s.remaining -= n;
  if (s.remaining == 0) kexinit_done(side, s);
}

void Parser::kexinit_done(Side side, Stream& s) {
  Endpoint& e = endpoint(side);
  std::string_view lists[kNameLists];
  if (split_kexinit(s.packet, lists)) {
    // hassh: kex_algorithms;encryption;mac;compression, each in the sender's direction of use:
    // client_to_server lists for the client, server_to_client lists for the server (RFC 4253
    // §7.1 order: kex, host key, enc c2s, enc s2c, mac c2s, mac s2c, comp c2s, comp s2c, ...).
    const size_t d = side == Side::kClient ? 0 : 1;
    e.hassh_string.reserve(lists[0].size() + lists[2 + d].size() + lists[4 + d].size() +
                           lists[6 + d].size() + 3);
    e.hassh_string.assign(lists[0]);
    for (const size_t i : {2 + d, 4 + d, 6 + d}) {
      e.hassh_string.push_back(';');
      e.hassh_string.append(lists[i]);
    }
    e.hassh = md5_hex(e.hassh_string);
    e.kexinit_done = true;
    counters_.inc(SC::kKexInits);
    observer_.on_ssh(session_, side, Event::kKexInit);
  } else {
    flag(side, Anomaly::kInvalidKexInit);
    e.kexinit_done = true;  // a second KEXINIT in clear text is not looked for
  }
  release(s.packet);
  s.state = State::kSkip;
  s.remaining = s.padding;
  s.newkeys_packet = false;
  if (s.remaining == 0) s.state = State::kHeader;
}

void Parser::skip(Side side, Stream& s, const uint8_t*& p, const uint8_t* end) {
  const size_t n = static_cast<size_t>(std::min<uint64_t>(s.remaining, end - p));
  p += n;
  s.remaining -= n;
  if (s.remaining > 0) return;
  if (!s.newkeys_packet) {
    s.state = State::kHeader;
    return;
  }
  // RFC 4253 §7.3: all messages after NEWKEYS use the new keys.
  Endpoint& e = endpoint(side);
  e.new_keys = true;
  stop(s);
  counters_.inc(SC::kNewKeys);
  observer_.on_ssh(session_, side, Event::kNewKeys);
  if (session_.client.new_keys && session_.server.new_keys && !session_.encrypted) {
    session_.encrypted = true;
    counters_.inc(SC::kEncrypted);
    observer_.on_ssh(session_, side, Event::kEncrypted);
  }
}

void Parser::on_gap(Side side) {
  Stream& s = stream(side);
  if (s.state == State::kStopped) return;
  counters_.inc(SC::kGaps);
  flag(side, Anomaly::kGap);
  stop(s);
}

void Parser::on_end() {
  for (const Side side : {Side::kClient, Side::kServer}) {
    Stream& s = stream(side);
    const bool inside = (s.state == State::kBanner && !s.line.empty()) ||
                        (s.state == State::kHeader && s.header_len > 0) ||
                        s.state == State::kKexInit || s.state == State::kSkip;
    if (inside) flag(side, Anomaly::kTruncated);
    stop(s);
  }
}

size_t Parser::memory_bytes() const {
  size_t n = sizeof *this + endpoint_bytes(session_.client) + endpoint_bytes(session_.server);
  for (const Stream* s : {&client_, &server_}) n += s->line.capacity() + s->packet.capacity();
  return n;
}

}  // namespace spanguard::applayer::ssh
