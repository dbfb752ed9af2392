// Fuzzes the FTP control-connection parser with arbitrary bytes in both directions, cut at
// fuzzer-chosen points, with gaps and the flow end: no crash, memory within the limits' bounds,
// everything released at the end, and the same events, hand-over offset and counters (digested)
// whether each record is fed whole or in the fuzzer's pieces.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "spanguard/applayer/ftp.h"
#include "stream_records.h"

namespace {

using namespace spanguard::applayer;
using namespace spanguard::applayer::ftp;

using Record = spanguard::fuzzing::StreamRecord<Side>;

class Digest : public Observer, public spanguard::fuzzing::Fnv {
 public:
  void on_ftp(Transaction& tx, Event event) override {
    mix(tx.id);
    mix(static_cast<uint64_t>(event));
    mix(tx.command);
    mix(tx.command_data);
    mix(uint64_t{tx.command_truncated} << 3 | uint64_t{tx.reply_received} << 2 |
        uint64_t{tx.reply_truncated} << 1 | tx.complete);
    mix(static_cast<uint64_t>(tx.final_code));
    mix(tx.anomalies);
    mix(tx.replies.size());
    for (const ReplyLine& r : tx.replies) {
      mix(r.code);
      mix(r.text);
    }
    if (tx.expectation) {
      const Expectation& e = *tx.expectation;
      mix(static_cast<uint64_t>(e.announced_by) << 1 | e.active);
      mix(e.address ? e.address->to_string() : std::string("-"));
      mix(e.port);
      mix(e.command);
      mix(e.file_name);
      (void)ftpdata_command(e);
    }
  }
};

Limits limits_from(uint8_t b) {
  Limits l;
  if (b & 1) l.max_line_length = 16;
  if (b & 2) l.max_transactions = 3;
  if (b & 4) l.max_reply_lines = 2;
  if (b & 8) l.max_held_bytes = 8;
  return l;
}

// Per held transaction a command line twice (verb and data) and, for the one being answered, its
// reply lines; the partial lines and held bytes (string growth doubles them).
size_t memory_bound(const Limits& l) {
  const size_t line = 2 * size_t{l.max_line_length} + 64;
  const size_t txs = std::max<size_t>(l.max_transactions, 3) + 1;
  return sizeof(Parser) + txs * (sizeof(Transaction) + 2 * line + 256) +
         2 * size_t{l.max_reply_lines} * (sizeof(ReplyLine) + line) + 4 * line +
         2 * size_t{l.max_held_bytes} + 1024;
}

struct Outcome {
  uint64_t digest;
  std::vector<uint64_t> counters;
};

Outcome run(const Limits& limits, const std::vector<Record>& records, bool split) {
  Digest digest;
  spanguard::core::Counters<FtpCounter> counters(ftp_counter_group());
  {
    Parser parser(limits, digest, counters);
    for (const Record& r : records) {
      if (r.gap) {
        parser.on_gap(r.side);
      } else {
        size_t consumed = 0;
        spanguard::fuzzing::for_each_piece(r, split, [&](std::span<const uint8_t> piece) {
          const size_t used = parser.parse(r.side, piece);
          if (used > piece.size()) std::abort();
          consumed += used;
        });
        digest.mix(consumed);  // where TLS begins does not depend on the cuts
      }
      digest.mix(parser.held_client_tls());
      digest.mix(uint64_t{parser.tls()} << 1 | parser.stopped());
      if (parser.transactions_held() > std::max<size_t>(limits.max_transactions, 3)) std::abort();
      if (parser.memory_bytes() > memory_bound(limits)) std::abort();
    }
    parser.on_end();
    if (parser.transactions_held() != 0) std::abort();
    if (parser.memory_bytes() > sizeof(Parser) + 256) std::abort();
  }
  Outcome o{digest.value(), {}};
  for (size_t c = 0; c < static_cast<size_t>(FtpCounter::kCount); ++c) {
    o.counters.push_back(counters.get(static_cast<FtpCounter>(c)));
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
      spanguard::fuzzing::read_records(data + 1, size - 1, Side::kClient, Side::kServer);
  const Outcome whole = run(limits, records, false);
  const Outcome split = run(limits, records, true);
  if (whole.digest != split.digest || whole.counters != split.counters) std::abort();
  return 0;
}
