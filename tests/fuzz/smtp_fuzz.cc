// Fuzzes the SMTP parser with arbitrary bytes in both directions, cut at fuzzer-chosen points, with
// gaps and the flow end: no crash, memory within the limits' bounds, everything released at the
// end, and the same mails, hand-over offset and counters (digested) whether each record is fed
// whole or in the fuzzer's pieces.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "spanguard/applayer/smtp.h"
#include "stream_records.h"

namespace {

using namespace spanguard::applayer;
using namespace spanguard::applayer::smtp;

using Record = spanguard::fuzzing::StreamRecord<Side>;

class Digest : public Observer, public spanguard::fuzzing::Fnv {
 public:
  void on_smtp(Event event, Transaction* tx) override {
    mix(static_cast<uint64_t>(event));
    if (tx == nullptr) return;
    mix(tx->id);
    mix(tx->helo);
    mix(tx->mail_from);
    for (const std::string& r : tx->rcpt_to) mix(r);
    mix(uint64_t{tx->has_message} << 2 | uint64_t{tx->message_complete} << 1 | tx->truncated);
    mix(tx->message_bytes);
    mix(tx->anomalies);
    mix(tx->raw_message);
    for (const Header& h : tx->headers) {
      mix(h.name);
      mix(h.value);
    }
    for (const Attachment& a : tx->attachments) {
      mix(a.file_name);
      mix(a.content_type);
      mix(a.encoding);
      mix(a.content);
      mix(a.size);
      mix(uint64_t{a.truncated} << 1 | a.complete);
    }
  }
};

Limits limits_from(uint8_t b) {
  Limits l;
  if (b & 1) l.max_line_length = 16;
  if (b & 2) l.max_held_bytes = 32;
  if (b & 4) l.header_limit = 64, l.max_mime_depth = 2;
  if (b & 8) l.attachment_limit = 16, l.attachments_total_limit = 40, l.max_attachments = 2;
  if (b & 16) l.raw_message_limit = 100;
  if (b & 32) l.max_pending_commands = 3;
  if (b & 64) l.max_recipients = 2;
  return l;
}

// Everything a flow may hold under `l`, strings counted twice for their growth.
size_t memory_bound(const Limits& l) {
  const size_t line = 2 * size_t{std::max<uint32_t>(l.max_line_length, 64)} + 64;
  const size_t header = 2 * size_t{l.header_limit} + 64;
  const size_t parser = 4 * line + 2 * size_t{l.max_held_bytes} +
                        size_t{std::max<uint32_t>(l.max_pending_commands, 2)} * 8;
  const size_t mail = 4 * line + size_t{l.max_recipients} * (32 + line) + 256 * 64 + 2 * header +
                      size_t{l.max_attachments} * (sizeof(Attachment) + 512 + 2 * header) +
                      2 * size_t{l.attachments_total_limit} + 2 * size_t{l.raw_message_limit};
  const size_t mime = 8 * header + size_t{l.max_mime_depth} * 512 + 2 * line + 1024;
  return sizeof(Parser) + parser + mail + mime + 4096;
}

struct Outcome {
  uint64_t digest;
  std::vector<uint64_t> counters;
};

Outcome run(const Limits& limits, const std::vector<Record>& records, bool split) {
  Digest digest;
  spanguard::core::Counters<SmtpCounter> counters(smtp_counter_group());
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
      digest.mix(uint64_t{parser.tls()} << 2 | uint64_t{parser.stopped()} << 1 | parser.in_mail());
      if (parser.memory_bytes() > memory_bound(limits)) std::abort();
    }
    parser.on_end();
    if (parser.in_mail()) std::abort();
    if (parser.memory_bytes() > sizeof(Parser) + 256 + parser.helo().capacity()) std::abort();
  }
  Outcome o{digest.value(), {}};
  for (size_t c = 0; c < static_cast<size_t>(SmtpCounter::kCount); ++c) {
    o.counters.push_back(counters.get(static_cast<SmtpCounter>(c)));
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
