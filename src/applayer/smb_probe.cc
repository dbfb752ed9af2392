// SMB and DCE/RPC content probes (see smb_probe.h).
#include "spanguard/applayer/smb_probe.h"

namespace spanguard::applayer {

ProbeResult probe_smb(std::span<const uint8_t> b) {
  if (b.empty()) return {Probe::kNeedMore, {}};
  if (b[0] != 0x00) return {};  // only session messages carry SMB
  if (b.size() < 8) return {Probe::kNeedMore, {}};
  if ((b[1] & 0xFE) != 0) return {};  // the length has 17 bits
  const uint32_t length = (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  if (b[5] != 'S' || b[6] != 'M' || b[7] != 'B') return {};
  switch (b[4]) {
    case 0xFF:  // SMB1: Flags at header offset 9, 0x80 = reply (MS-CIFS §2.2.3.1)
      if (length < 32) return {};
      if (b.size() < 4 + 10) return {Probe::kNeedMore, {}};
      return {Probe::kYes, (b[4 + 9] & 0x80) != 0 ? Side::kServer : Side::kClient};
    case 0xFE:  // SMB2/3: Flags at header offset 16, bit 0 = server to redirector (MS-SMB2 §2.2.1)
      if (length < 64) return {};
      if (b.size() < 4 + 17) return {Probe::kNeedMore, {}};
      return {Probe::kYes, (b[4 + 16] & 0x01) != 0 ? Side::kServer : Side::kClient};
    case 0xFD:  // SMB3 transform header: encrypted, either side
      return length < 52 ? ProbeResult{} : ProbeResult{Probe::kYes, {}};
    default:
      return {};
  }
}

ProbeResult probe_dcerpc(std::span<const uint8_t> b) {
  if (b.empty()) return {Probe::kNeedMore, {}};
  if (b[0] != 5) return {};
  if (b.size() < 10) return {Probe::kNeedMore, {}};
  if (b[1] != 0) return {};  // minor version 0 for connection-oriented PDUs
  const uint8_t type = b[2];
  if (type > 19) return {};
  // drep[0]: integer representation (high nibble 0 big, 1 little), character representation
  // (low nibble 0 ASCII, 1 EBCDIC); drep[1]: floating point 0..3; drep[2..3] reserved.
  if ((b[4] & 0xEE) != 0 || b[5] > 3) return {};
  const bool little = (b[4] & 0x10) != 0;
  const uint16_t frag_length =
      little ? static_cast<uint16_t>(b[8] | b[9] << 8) : static_cast<uint16_t>(b[8] << 8 | b[9]);
  if (frag_length < 16) return {};
  // request 0, bind 11, alter_context 14, auth3 16, co_cancel 18, orphaned 19: from the client.
  const bool client =
      type == 0 || type == 11 || type == 14 || type == 16 || type == 18 || type == 19;
  return {Probe::kYes, client ? Side::kClient : Side::kServer};
}

}  // namespace spanguard::applayer
