// Writes capture files for tests and the generator: classic pcap through libpcap's own dumper
// (nanosecond timestamps), and pcapng by hand, since libpcap cannot write pcapng. Reads them back
// (what the sensor wrote, e.g. --resets-pcap) through libpcap.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace spanguard::testing {

class CaptureWriter {
 public:
  enum class Format { kPcap, kPcapng };
  // Throws std::runtime_error naming the path if it cannot be created.
  CaptureWriter(const std::string& path, Format format = Format::kPcap, int dlt = DLT_EN10MB);
  ~CaptureWriter();
  CaptureWriter(const CaptureWriter&) = delete;
  CaptureWriter& operator=(const CaptureWriter&) = delete;

  void write(const std::vector<uint8_t>& frame, int64_t ts_ns);
  // A frame whose captured part is shorter than its length on the wire (snap length cut).
  void write_truncated(const std::vector<uint8_t>& frame, uint32_t caplen, int64_t ts_ns);
  uint64_t frames() const { return frames_; }

 private:
  void write_pcapng_block(uint32_t type, const std::vector<uint8_t>& body);

  Format format_;
  pcap_t* dead_ = nullptr;
  pcap_dumper_t* dumper_ = nullptr;
  FILE* file_ = nullptr;
  uint64_t frames_ = 0;
};

struct CapturedFrame {
  std::vector<uint8_t> bytes;
  int64_t ts_ns;
};
// Every frame of a capture file, with nanosecond timestamps; throws std::runtime_error naming the
// path when libpcap cannot open it.
std::vector<CapturedFrame> read_capture(const std::string& path);

}  // namespace spanguard::testing
