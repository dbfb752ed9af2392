// Fuzzes the HTTP parser with arbitrary bytes in both directions, cut at fuzzer-chosen points, with
// gaps and the flow end: no crash, memory within the limits' bounds, everything released at the
// end, and the same events (digested) whether each record is fed whole or in the fuzzer's pieces.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "spanguard/applayer/http.h"
#include "stream_records.h"

namespace {

using namespace spanguard::applayer::http;

using Record = spanguard::fuzzing::StreamRecord<Side>;

class Digest : public Observer, public spanguard::fuzzing::Fnv {
 public:
  void on_http(Transaction& tx, Side side, Event event) override {
    mix(tx.id);
    mix(static_cast<uint64_t>(side) << 1 | static_cast<uint64_t>(event));
    mix(tx.anomalies);
    mix(tx.uri);
    mix(tx.host);
    const Message& m = side == Side::kRequest ? tx.request : tx.response();
    // At the body limit body_bytes counts what has arrived so far, which depends on the cuts.
    if (event != Event::kBodyLimit) mix(m.body_bytes);
    mix(uint64_t{m.truncated} << 2 | uint64_t{m.body_truncated} << 1 | m.complete);
    mix(m.headers.size());
    Buffers b;
    fill_buffers(tx, side, b);  // every view is read: ASan checks they point at live bytes
    for (size_t f = 0; f < static_cast<size_t>(BufferField::kCount); ++f) {
      if (!b.has(static_cast<BufferField>(f))) continue;
      mix(f);
      mix(b.get(static_cast<BufferField>(f)));
    }
  }
};

Limits limits_from(uint8_t b) {
  Limits l;
  if (b & 1) l.header_limit = 96;
  if (b & 2) l.request_body_limit = 16, l.response_body_limit = 16;
  if (b & 4) l.max_transactions = 3;
  if (b & 8) l.decompress_limit = 64, l.decompress_ratio = 2;
  return l;
}

// Generous upper bound of what a flow may hold under `l`: per held transaction two messages of
// header-derived strings (about eight copies of a header block, 1024 field objects) and a body
// (string growth doubles it), plus the streams (held CONNECT bytes, decoders).
size_t memory_bound(const Limits& l, size_t held) {
  const size_t message = 1024 * 128 + 8 * size_t{l.header_limit} +
                         2 * size_t{std::max(l.request_body_limit, l.response_body_limit)} + 4096;
  return 64 * 1024 + (held + 3) * 2 * message + 2 * size_t{l.header_limit} + 4 * 64 * 1024;
}

struct Outcome {
  uint64_t digest;
  std::vector<uint64_t> counters;
};

Outcome run(const Limits& limits, const std::vector<Record>& records, bool split) {
  Digest digest;
  spanguard::core::Counters<HttpCounter> counters(http_counter_group());
  {
    Parser parser(limits, digest, counters);
    const size_t max_held = std::max<size_t>(limits.max_transactions, 4);
    for (const Record& r : records) {
      if (r.gap) {
        parser.on_gap(r.side);
      } else {
        spanguard::fuzzing::for_each_piece(
            r, split, [&](std::span<const uint8_t> piece) { parser.parse(r.side, piece); });
      }
      if (parser.transactions_held() > max_held) std::abort();
      if (parser.memory_bytes() > memory_bound(limits, parser.transactions_held())) std::abort();
    }
    parser.on_end();
    if (parser.transactions_held() != 0) std::abort();
    if (parser.memory_bytes() > 4096) std::abort();  // idle after the end
  }
  Outcome o{digest.value(), {}};
  for (size_t c = 0; c < static_cast<size_t>(HttpCounter::kCount); ++c) {
    o.counters.push_back(counters.get(static_cast<HttpCounter>(c)));
  }
  return o;
}

}  // namespace

// Input: a limits byte, then records of [control][length][piece][length bytes]. Control bit 0 is
// the side; control values with bits 1..2 all set are a gap instead of data.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Limits limits = limits_from(data[0]);
  const std::vector<Record> records =
      spanguard::fuzzing::read_records(data + 1, size - 1, Side::kRequest, Side::kResponse);
  const Outcome whole = run(limits, records, false);
  const Outcome split = run(limits, records, true);
  if (whole.digest != split.digest || whole.counters != split.counters) std::abort();
  return 0;
}
