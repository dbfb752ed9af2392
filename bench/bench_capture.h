// What the replay benchmarks share: a capture file held in memory (so that reading it is not
// timed), and a detection engine built from generated rule text.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "spanguard/applayer/registry.h"
#include "spanguard/core/config.h"
#include "spanguard/decode/packet_view.h"
#include "spanguard/detect/engine.h"
#include "spanguard/rules/parser.h"

namespace spanguard::bench {

struct Capture {
  std::vector<uint8_t> bytes;
  struct Frame {
    size_t at;
    uint32_t caplen, wirelen;
    int64_t ns;
  };
  std::vector<Frame> frames;
  decode::LinkType link = decode::LinkType::kEthernet;
  uint64_t wire_bytes = 0;
};

// Every frame of an Ethernet capture file; exits naming the file when it cannot be read.
inline Capture load_capture(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  if (p == nullptr) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), err);
    std::exit(1);
  }
  Capture c;
  pcap_pkthdr* h;
  const u_char* data;
  while (pcap_next_ex(p, &h, &data) == 1) {
    // With nanosecond precision tv_usec holds nanoseconds.
    c.frames.push_back({c.bytes.size(), h->caplen, h->len,
                        static_cast<int64_t>(h->ts.tv_sec) * 1'000'000'000 + h->ts.tv_usec});
    c.bytes.insert(c.bytes.end(), data, data + h->caplen);
    c.wire_bytes += h->len;
  }
  pcap_close(p);
  return c;
}

// The engine of rule text the benchmark generated; exits with the first error if any rule fails.
inline std::unique_ptr<detect::DetectionEngine> engine_from_rules(const std::string& text,
                                                                  const core::Config& config) {
  rules::Classifications none;
  rules::RuleParser parser(rules::default_variables(), &none, applayer::rule_registry());
  parser.parse_text(text, "generated.rules");
  rules::RuleSet set = parser.take();
  if (set.failed != 0) {
    std::fprintf(stderr, "generated rules failed to parse: %s\n",
                 set.diagnostics.front().to_string().c_str());
    std::exit(1);
  }
  std::vector<rules::Diagnostic> diagnostics;
  return std::make_unique<detect::DetectionEngine>(
      std::move(set.rules), detect::detect_options(config), diagnostics, applayer::rule_registry());
}

}  // namespace spanguard::bench
