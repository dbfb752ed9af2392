// Fuzzes the TLS parser with arbitrary bytes in both directions, cut at fuzzer-chosen points, with
// gaps and the flow end: no crash, memory within the limits' bounds, nothing buffered once
// encrypted or ended, and the same events and session whether each chunk is fed whole or in the
// fuzzer's pieces.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "spanguard/applayer/tls.h"

namespace {

using namespace spanguard::applayer::tls;

class Digest {
 public:
  void mix(uint64_t v) {
    h_ ^= v;
    h_ *= 1099511628211ull;
  }
  void mix(std::string_view s) {
    for (const char c : s) mix(static_cast<uint8_t>(c));
    mix(s.size());
  }
  template <typename T>
  void mix(const std::vector<T>& v) {
    for (const T x : v) mix(uint64_t{x});
    mix(v.size());
  }
  void mix(const Session& s) {
    mix(uint64_t{s.client_hello} << 3 | uint64_t{s.server_hello} << 2 |
        uint64_t{s.hello_retry_request} << 1 | s.certificates_done);
    mix(s.client_version);
    mix(s.ciphers);
    mix(s.extensions);
    mix(s.groups);
    mix(s.point_formats);
    mix(s.sig_algs);
    mix(s.client_versions);
    mix(s.sni);
    for (const std::string& a : s.alpn) mix(a);
    mix(s.ja3);
    mix(s.ja3_hash);
    mix(s.ja4);
    mix(uint64_t{s.server_version} << 32 | uint64_t{s.version} << 16 | s.cipher);
    mix(s.server_extensions);
    mix(s.server_alpn);
    mix(s.ja3s_hash);
    for (const Certificate& c : s.certificates) {
      mix(c.der);
      mix(c.subject);  // every string is read: ASan checks they are live
      mix(c.issuer);
      mix(c.serial);
      mix(c.fingerprint);
      mix(static_cast<uint64_t>(c.not_before) ^ static_cast<uint64_t>(c.not_after) << 1);
    }
    mix(uint64_t{s.client_encrypted} << 5 | uint64_t{s.server_encrypted} << 4 |
        uint64_t{s.handshake_done} << 3 | uint64_t{s.resumed} << 2 | uint64_t{s.alert} << 1 |
        s.alert_in_clear);
    mix(uint64_t{s.alert_level} << 8 | s.alert_description);
    mix(s.anomalies);
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 1469598103934665603ull;
};

class Recorder : public Observer {
 public:
  void on_tls(Session& session, Event event) override {
    digest.mix(static_cast<uint64_t>(event));
    digest.mix(session);
  }
  Digest digest;
};

struct Chunk {
  bool gap = false;
  Side side = Side::kClient;
  std::span<const uint8_t> data;
  uint8_t piece = 0;  // cut into pieces of piece+1 bytes in the split run
};

Limits limits_from(uint8_t b) {
  Limits l;
  if (b & 1) l.max_handshake_bytes = 64;
  if (b & 2) l.max_handshake_bytes = 1024;
  if (b & 4) l.max_certificates = 1;
  return l;
}

// Generous bound of what a flow may hold: one partial message per direction, and a session whose
// strings are derived from at most one ClientHello, one ServerHello and one Certificate message
// (each within max_handshake_bytes; hex and decimal renderings and vector growth multiply it).
size_t memory_bound(const Limits& l) {
  return 64 * 1024 + 64 * size_t{l.max_handshake_bytes} + 1024 * size_t{l.max_certificates};
}

struct Outcome {
  uint64_t digest;
  std::vector<uint64_t> counters;
};

Outcome run(const Limits& limits, const std::vector<Chunk>& chunks, bool split) {
  Recorder recorder;
  spanguard::core::Counters<TlsCounter> counters(tls_counter_group());
  {
    Parser parser(limits, recorder, counters);
    for (const Chunk& c : chunks) {
      if (c.gap) {
        parser.on_gap(c.side);
      } else {
        const size_t step = split ? size_t{c.piece} + 1 : c.data.size();
        for (size_t at = 0; at < c.data.size(); at += step) {
          parser.parse(c.side, c.data.subspan(at, std::min(step, c.data.size() - at)));
        }
      }
      if (parser.buffered_bytes() > 2 * size_t{limits.max_handshake_bytes}) std::abort();
      if (parser.memory_bytes() > memory_bound(limits)) std::abort();
      if (parser.session().handshake_done && parser.buffered_bytes() != 0) std::abort();
    }
    parser.on_end();
    if (parser.buffered_bytes() != 0) std::abort();
    recorder.digest.mix(parser.session());
  }
  Outcome o{recorder.digest.value(), {}};
  for (size_t c = 0; c < static_cast<size_t>(TlsCounter::kCount); ++c) {
    o.counters.push_back(counters.get(static_cast<TlsCounter>(c)));
  }
  return o;
}

}  // namespace

// Input: a limits byte, then chunks of [control][length hi][length lo][piece][length bytes].
// Control bit 0 is the side (1 = server); control values with bits 1..2 both set are a gap
// instead of data (no length bytes follow the header).
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Limits limits = limits_from(data[0]);
  std::vector<Chunk> chunks;
  size_t at = 1;
  while (at + 4 <= size && chunks.size() < 256) {
    Chunk c;
    const uint8_t control = data[at];
    c.side = (control & 1) ? Side::kServer : Side::kClient;
    c.gap = (control & 6) == 6;
    const size_t len = std::min<size_t>(size_t{data[at + 1]} << 8 | data[at + 2], size - at - 4);
    c.piece = data[at + 3];
    at += 4;
    if (!c.gap) {
      c.data = {data + at, len};
      at += len;
    }
    chunks.push_back(c);
  }
  const Outcome whole = run(limits, chunks, false);
  const Outcome split = run(limits, chunks, true);
  if (whole.digest != split.digest || whole.counters != split.counters) std::abort();
  return 0;
}
