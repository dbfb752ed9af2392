// spanguard-pcapshift: writes N copies of a capture file one after the other in time, so that
// replaying them in one run (`spanguard replay --pcap copy-01.pcap --pcap copy-02.pcap ...`) looks
// like one long capture whose time only moves forward. Replaying the same file N times would rewind
// the clock at each new file; flow timeouts and rate windows would then judge time going backwards.
//
// Copy k (1-based) is the input with every timestamp moved by (k - 1) x (span + gap), where span is
// the input's last timestamp minus its first: each copy starts `gap` after the previous one ended.
// Frames are copied byte for byte; the output is pcap with nanosecond timestamps.
#include <pcap/pcap.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

namespace {

struct PcapClose {
  void operator()(pcap_t* p) const { pcap_close(p); }
};
struct DumperClose {
  void operator()(pcap_dumper_t* d) const { pcap_dump_close(d); }
};
using Pcap = std::unique_ptr<pcap_t, PcapClose>;
using Dumper = std::unique_ptr<pcap_dumper_t, DumperClose>;

constexpr int64_t kNanos = 1'000'000'000;

Pcap open_input(const std::string& path) {
  char error[PCAP_ERRBUF_SIZE] = {};
  Pcap p(pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, error));
  if (!p) throw std::runtime_error(path + ": cannot read capture: " + error);
  return p;
}

int64_t nanos(const pcap_pkthdr& h) { return int64_t{h.ts.tv_sec} * kNanos + h.ts.tv_usec; }

struct Span {
  int64_t first = 0, last = 0;
  uint64_t frames = 0;
};

Span span_of(const std::string& path) {
  Pcap in = open_input(path);
  Span s;
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  int r = 0;
  while ((r = pcap_next_ex(in.get(), &header, &data)) == 1) {
    const int64_t t = nanos(*header);
    if (s.frames == 0 || t < s.first) s.first = t;
    if (s.frames == 0 || t > s.last) s.last = t;
    ++s.frames;
  }
  if (r == PCAP_ERROR) throw std::runtime_error(path + ": " + pcap_geterr(in.get()));
  if (s.frames == 0) throw std::runtime_error(path + ": no frames");
  return s;
}

void write_copy(const std::string& in_path, const std::string& out_path, int64_t shift) {
  Pcap in = open_input(in_path);
  Pcap dead(pcap_open_dead_with_tstamp_precision(pcap_datalink(in.get()), pcap_snapshot(in.get()),
                                                 PCAP_TSTAMP_PRECISION_NANO));
  if (!dead) throw std::runtime_error("cannot create a pcap handle for " + out_path);
  Dumper out(pcap_dump_open(dead.get(), out_path.c_str()));
  if (!out) throw std::runtime_error(out_path + ": cannot write: " + pcap_geterr(dead.get()));
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  int r = 0;
  while ((r = pcap_next_ex(in.get(), &header, &data)) == 1) {
    pcap_pkthdr shifted = *header;
    const int64_t t = nanos(*header) + shift;
    shifted.ts.tv_sec = static_cast<time_t>(t / kNanos);
    shifted.ts.tv_usec = static_cast<suseconds_t>(t % kNanos);  // nanoseconds in a nano dump
    pcap_dump(reinterpret_cast<u_char*>(out.get()), &shifted, data);
  }
  if (r == PCAP_ERROR) throw std::runtime_error(in_path + ": " + pcap_geterr(in.get()));
  if (pcap_dump_flush(out.get()) != 0) throw std::runtime_error(out_path + ": write failed");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"spanguard-pcapshift: N copies of a capture, each later in time than the last"};
  std::string in, prefix;
  unsigned copies = 2;
  double gap_seconds = 3660;
  app.add_option("--in", in, "Capture file to copy (pcap or pcapng)")->required();
  app.add_option("--out-prefix", prefix, "Copies are written to PREFIX-01.pcap, PREFIX-02.pcap...")
      ->required();
  app.add_option("--copies", copies, "Number of copies")->check(CLI::Range(1u, 999u));
  app.add_option(
         "--gap", gap_seconds,
         "Seconds between the end of a copy and the start of the next (default 3660: past "
         "every default flow timeout, so that each copy's flows have ended before the next)")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    const Span s = span_of(in);
    const int64_t step = s.last - s.first + static_cast<int64_t>(gap_seconds * kNanos);
    for (unsigned k = 0; k < copies; ++k) {
      char name[32];
      std::snprintf(name, sizeof name, "-%02u.pcap", k + 1);
      write_copy(in, prefix + name, static_cast<int64_t>(k) * step);
    }
    std::fprintf(stderr,
                 "spanguard-pcapshift: %u copies of %llu frames (%.3f s each, %.0f s apart) "
                 "written to %s-NN.pcap\n",
                 copies, static_cast<unsigned long long>(s.frames),
                 static_cast<double>(s.last - s.first) / kNanos, gap_seconds, prefix.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spanguard-pcapshift: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
