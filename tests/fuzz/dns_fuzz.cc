// Fuzzes DNS parsing with arbitrary messages (and limits), and TCP framing with the same bytes as
// a stream cut at fuzzer-chosen points: no crash, every kept entry inside the limits and every
// offset inside the message, a reused Message equal to a fresh one, framing independent of the
// cuts, and probes that agree with the parser.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "spanguard/applayer/dns.h"

namespace {

using namespace spanguard::applayer::dns;

// Names the failed invariant: a crash report alone would not say which one.
#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "dns_fuzz: %s failed at line %d\n", #cond, __LINE__); \
      std::abort();                                                              \
    }                                                                            \
  } while (0)

uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 1099511628211ull; }
uint64_t mix(uint64_t h, std::string_view s) {
  for (const char c : s) h = mix(h, static_cast<uint8_t>(c));
  return mix(h, s.size());
}

bool inside(const Message& m, size_t offset, size_t length) {
  return offset + length <= m.wire().size();
}

// Checks the invariants of a parsed message and digests it.
uint64_t digest(const Message& m, const Limits& limits) {
  uint64_t h = mix(1469598103934665603ull, m.anomalies);
  h = mix(h, uint64_t{m.header_ok} << 1 | m.complete);
  h = mix(h, m.skipped);
  CHECK(m.questions().size() <= limits.max_questions);
  CHECK(m.answers().size() <= limits.max_answers);
  CHECK(m.authorities().size() <= limits.max_authorities);
  CHECK(m.additionals().size() <= limits.max_additionals);
  if (!m.header_ok) CHECK(m.questions().empty() && m.answers().empty());
  for (const Question& q : m.questions()) {
    CHECK(q.name.size() <= kMaxNameWire - 1);
    h = mix(mix(mix(h, q.name), q.type), q.qclass);
  }
  std::string eve;
  for (const auto section : {m.answers(), m.authorities(), m.additionals()}) {
    for (const Record& r : section) {
      CHECK(r.name.size() <= kMaxNameWire - 1);
      CHECK(r.soa.mname.size() <= kMaxNameWire - 1 && r.soa.rname.size() <= kMaxNameWire - 1);
      CHECK(inside(m, r.rdata_offset, r.rdata_length));
      CHECK(r.type == kTypeTxt || r.text.size() <= kMaxNameWire - 1);
      CHECK(r.text.size() <= r.rdata_length || r.type != kTypeTxt);
      for (const Piece& p : r.pieces) {
        CHECK(p.offset >= r.rdata_offset && p.offset + p.length <= r.rdata_offset + r.rdata_length);
        h = mix(h, m.piece(p));
      }
      h = mix(mix(mix(h, r.name), r.text), r.soa.rname);
      h = mix(h, uint64_t{r.type} << 32 | uint64_t{r.rclass} << 16 | r.preference);
      h = mix(h, uint64_t{r.ttl} << 2 | uint64_t{r.name_ok} << 1 | r.rdata_ok);
      const auto raw = m.rdata(r);
      h = mix(h, std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
      eve.clear();
      append_eve_text(eve, r.name);
      append_rrtype(eve, r.type);
      CHECK(eve.size() <= 4 * r.name.size() + 10);
    }
  }
  eve.clear();
  append_rcode(eve, m.header.rcode);
  return h;
}

struct Framed {
  std::vector<std::vector<uint8_t>> messages;
  size_t before_error = SIZE_MAX;  // messages framed before the first framing error
};

// The framed messages, with the stream fed in pieces whose sizes come from `cuts`.
Framed frame(std::span<const uint8_t> stream, std::span<const uint8_t> cuts, uint32_t max_message) {
  spanguard::core::Counters<DnsCounter> counters(dns_counter_group());
  TcpFramer framer(counters, max_message);
  Framed out;
  auto sink = [&](std::span<const uint8_t> msg) {
    CHECK(msg.size() >= kHeaderSize && msg.size() <= max_message);
    out.messages.emplace_back(msg.begin(), msg.end());
  };
  size_t at = 0, c = 0;
  while (at < stream.size()) {
    const size_t n = cuts.empty() ? stream.size() : 1 + cuts[c++ % cuts.size()] % 97;
    const auto piece = stream.subspan(at, std::min(n, stream.size() - at));
    framer.feed(piece, sink);
    at += piece.size();
    CHECK(framer.buffered() <= size_t{max_message} + 2);
    if (out.before_error == SIZE_MAX && counters.get(DnsCounter::kTcpFramingErrors) > 0) {
      out.before_error = out.messages.size();
    }
  }
  CHECK(framer.memory_bytes() <= kMaxMessageSize + 2);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const std::span<const uint8_t> input(data + 1, size - 1);

  Limits limits;
  if (mode & 1) limits = {2, 3, 1, 1};
  static Message reused;  // carries capacity (and any stale state) from earlier inputs
  Message fresh;
  parse_message(input, reused, limits);
  parse_message(input, fresh, limits);
  const uint64_t d = digest(fresh, limits);
  CHECK(digest(reused, limits) == d);
  spanguard::core::Counters<DnsCounter> counters(dns_counter_group());
  count_message(fresh, counters);

  bool response = false;
  if (probe_udp(input, &response) == Probe::kYes) {
    CHECK(fresh.header_ok && response == fresh.header.qr);
    CHECK(!fresh.questions().empty() && fresh.questions()[0].name_ok);
  }
  const Probe tcp = probe_tcp(input);
  if (tcp == Probe::kYes && input.size() > 2) {
    CHECK(probe_tcp(input.first(input.size() / 2)) != Probe::kNo);
  }

  // The same bytes as a TCP stream: up to a framing error (after which resynchronisation looks
  // at where feed() calls start), the messages framed do not depend on how the stream is cut (the
  // cuts come from the input's own tail).
  const uint32_t max_message = (mode & 2) ? 300 : kMaxMessageSize;
  const auto cuts = input.subspan(input.size() / 2);
  const Framed whole = frame(input, {}, max_message);
  const Framed pieces = frame(input, cuts, max_message);
  CHECK(whole.before_error == pieces.before_error);
  const size_t same = std::min(whole.messages.size(), whole.before_error);
  CHECK(pieces.messages.size() >= same);
  CHECK(std::equal(whole.messages.begin(), whole.messages.begin() + same, pieces.messages.begin()));
  if (whole.before_error == SIZE_MAX) CHECK(pieces.messages.size() == whole.messages.size());
  for (const auto& msg : whole.messages) {
    parse_message(msg, fresh, limits);
    digest(fresh, limits);
  }

  // A gap in the middle: nothing partial is delivered, and nothing is buffered beyond a message.
  spanguard::core::Counters<DnsCounter> c2(dns_counter_group());
  TcpFramer framer(c2, max_message);
  size_t delivered = 0;
  auto sink = [&](std::span<const uint8_t> msg) {
    CHECK(msg.size() >= kHeaderSize);
    ++delivered;
  };
  framer.feed(input.first(input.size() / 3), sink);
  framer.on_gap();
  CHECK(framer.lost() && framer.buffered() == 0);
  framer.feed(input.subspan(input.size() / 3), sink);
  return 0;
}
