// Fuzzes the decoder with arbitrary frames on every link type, with checksum validation on and off,
// and checks that whatever it reports stays inside the captured bytes.
#include <cstdint>
#include <cstdlib>

#include "spanguard/decode/decoder.h"

using spanguard::decode::DecodeStatus;
using spanguard::decode::kAbsent;
using spanguard::decode::LinkType;
using spanguard::decode::PacketView;

namespace {

void check_inside(uint32_t offset, uint32_t len, uint32_t caplen) {
  if (offset == kAbsent) return;
  if (offset > caplen || len > caplen - offset) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 70000) return 0;
  static spanguard::decode::Decoder plain({.validate_checksums = false});
  static spanguard::decode::Decoder strict({.validate_checksums = true});
  const auto link = static_cast<LinkType>(data[0] % 10);  // every LinkType
  const auto* frame = data + 1;
  const auto caplen = static_cast<uint32_t>(size - 1);
  for (auto* decoder : {&plain, &strict}) {
    PacketView v;
    const DecodeStatus s = decoder->decode(link, frame, caplen, caplen, {}, v);
    if (s != DecodeStatus::kOk) continue;
    check_inside(v.eth_offset, 14, caplen);
    check_inside(v.l3_offset, v.l3_len, caplen);
    check_inside(v.l4_offset, 0, caplen);
    check_inside(v.payload_offset, v.payload_len, caplen);
    check_inside(v.frag_payload_offset, 0, caplen);
    if (v.is_ip()) {
      volatile auto src = v.src_ip();  // must be readable
      (void)src;
    }
  }
  return 0;
}
