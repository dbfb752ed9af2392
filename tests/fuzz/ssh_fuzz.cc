// Fuzzes the SSH parser with arbitrary bytes in both directions, cut at fuzzer-chosen points, with
// gaps and the flow end: no crash, memory within the limits' bounds, buffers released at the end,
// and the same events (digested) whether each record is fed whole or in the fuzzer's pieces.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "spanguard/applayer/ssh.h"
#include "stream_records.h"

namespace {

using namespace spanguard::applayer;
using namespace spanguard::applayer::ssh;

using Record = spanguard::fuzzing::StreamRecord<Side>;

class Digest : public Observer, public spanguard::fuzzing::Fnv {
 public:
  void on_ssh(const Session& session, Side side, Event event) override {
    mix(static_cast<uint64_t>(side) << 8 | static_cast<uint64_t>(event));
    const Endpoint& e = session.endpoint(side);
    mix(e.banner);
    mix(e.proto_version);
    mix(e.software_version);
    mix(e.hassh_string);
    mix(e.hassh);
    mix(e.anomalies);
    mix(uint64_t{e.banner_done} << 3 | uint64_t{e.kexinit_done} << 2 | uint64_t{e.new_keys} << 1 |
        session.encrypted);
  }
};

Limits limits_from(uint8_t b) {
  Limits l;
  if (b & 1) l.max_banner_length = 24;
  if (b & 2) l.max_lines_before_banner = 2;
  if (b & 4) l.max_kexinit_length = 64;
  return l;
}

size_t memory_bound(const Limits& l) {
  // Per side a line, a KEXINIT payload (string growth doubles it) and the endpoint's strings.
  return sizeof(Parser) + 4 * (size_t{l.max_banner_length} + 2 * size_t{l.max_kexinit_length}) +
         4096;
}

struct Outcome {
  uint64_t digest;
  std::vector<uint64_t> counters;
};

Outcome run(const Limits& limits, const std::vector<Record>& records, bool split) {
  Digest digest;
  spanguard::core::Counters<SshCounter> counters(ssh_counter_group());
  {
    Parser parser(limits, digest, counters);
    for (const Record& r : records) {
      if (r.gap) {
        parser.on_gap(r.side);
      } else {
        spanguard::fuzzing::for_each_piece(
            r, split, [&](std::span<const uint8_t> piece) { parser.parse(r.side, piece); });
      }
      if (parser.memory_bytes() > memory_bound(limits)) std::abort();
    }
    parser.on_end();
    if (!parser.done()) std::abort();
    if (parser.memory_bytes() > memory_bound(limits)) std::abort();  // the session's strings
  }
  Outcome o{digest.value(), {}};
  for (size_t c = 0; c < static_cast<size_t>(SshCounter::kCount); ++c) {
    o.counters.push_back(counters.get(static_cast<SshCounter>(c)));
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
