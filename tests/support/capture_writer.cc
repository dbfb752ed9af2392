// pcap via pcap_dump; pcapng blocks (SHB, IDB with if_tsresol=9, EPB) per the pcapng specification.
#include "capture_writer.h"

#include <cstring>
#include <stdexcept>

namespace spanguard::testing {

namespace {

void append32(std::vector<uint8_t>& b, uint32_t v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);  // pcapng is written in host byte order
  b.insert(b.end(), p, p + 4);
}
void append16(std::vector<uint8_t>& b, uint16_t v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  b.insert(b.end(), p, p + 2);
}

}  // namespace

CaptureWriter::CaptureWriter(const std::string& path, Format format, int dlt) : format_(format) {
  if (format == Format::kPcap) {
    dead_ = pcap_open_dead_with_tstamp_precision(dlt, 262144, PCAP_TSTAMP_PRECISION_NANO);
    dumper_ = dead_ ? pcap_dump_open(dead_, path.c_str()) : nullptr;
    if (dumper_ == nullptr) {
      const std::string why = dead_ ? pcap_geterr(dead_) : "pcap_open_dead failed";
      if (dead_) pcap_close(dead_);
      throw std::runtime_error(path + ": " + why);
    }
    return;
  }
  file_ = std::fopen(path.c_str(), "wb");
  if (file_ == nullptr) throw std::runtime_error(path + ": " + std::strerror(errno));
  std::vector<uint8_t> shb;
  append32(shb, 0x1a2b3c4d);  // byte-order magic
  append16(shb, 1);           // major
  append16(shb, 0);           // minor
  append32(shb, 0xffffffff);  // section length unknown
  append32(shb, 0xffffffff);
  write_pcapng_block(0x0a0d0d0a, shb);
  std::vector<uint8_t> idb;
  append16(idb, static_cast<uint16_t>(dlt));
  append16(idb, 0);
  append32(idb, 262144);  // snaplen
  append16(idb, 9);       // if_tsresol: 10^-9 seconds
  append16(idb, 1);
  idb.insert(idb.end(), {9, 0, 0, 0});
  append16(idb, 0);  // opt_endofopt
  append16(idb, 0);
  write_pcapng_block(0x00000001, idb);
}

CaptureWriter::~CaptureWriter() {
  if (dumper_) pcap_dump_close(dumper_);
  if (dead_) pcap_close(dead_);
  if (file_) std::fclose(file_);
}

void CaptureWriter::write_pcapng_block(uint32_t type, const std::vector<uint8_t>& body) {
  std::vector<uint8_t> block;
  const uint32_t padded = static_cast<uint32_t>((body.size() + 3) & ~size_t{3});
  const uint32_t total = 12 + padded;
  append32(block, type);
  append32(block, total);
  block.insert(block.end(), body.begin(), body.end());
  block.resize(8 + padded, 0);
  append32(block, total);
  std::fwrite(block.data(), 1, block.size(), file_);
}

void CaptureWriter::write(const std::vector<uint8_t>& frame, int64_t ts_ns) {
  write_truncated(frame, static_cast<uint32_t>(frame.size()), ts_ns);
}

void CaptureWriter::write_truncated(const std::vector<uint8_t>& frame, uint32_t caplen,
                                    int64_t ts_ns) {
  ++frames_;
  if (format_ == Format::kPcap) {
    pcap_pkthdr h{};
    h.ts.tv_sec = ts_ns / 1'000'000'000;
    h.ts.tv_usec = ts_ns % 1'000'000'000;  // nanoseconds: the dumper was opened with nano precision
    h.caplen = caplen;
    h.len = static_cast<uint32_t>(frame.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper_), &h, frame.data());
    return;
  }
  std::vector<uint8_t> epb;
  append32(epb, 0);  // interface id
  append32(epb, static_cast<uint32_t>(static_cast<uint64_t>(ts_ns) >> 32));
  append32(epb, static_cast<uint32_t>(static_cast<uint64_t>(ts_ns)));
  append32(epb, caplen);
  append32(epb, static_cast<uint32_t>(frame.size()));
  epb.insert(epb.end(), frame.begin(), frame.begin() + caplen);
  while (epb.size() % 4) epb.push_back(0);
  append16(epb, 0);  // opt_endofopt
  append16(epb, 0);
  write_pcapng_block(0x00000006, epb);
}

std::vector<CapturedFrame> read_capture(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  if (p == nullptr) throw std::runtime_error(path + ": " + err);
  std::vector<CapturedFrame> out;
  pcap_pkthdr* h;
  const u_char* data;
  while (pcap_next_ex(p, &h, &data) == 1) {
    out.push_back({std::vector<uint8_t>(data, data + h->caplen),
                   int64_t{h->ts.tv_sec} * 1'000'000'000 + h->ts.tv_usec});
  }
  pcap_close(p);
  return out;
}

}  // namespace spanguard::testing
