// SMB and DCE/RPC identification: the side from the header's flags or packet type, every prefix
// of a real header asking for more, and near misses refused.
#include "spanguard/applayer/smb_probe.h"

#include <gtest/gtest.h>

#include <string>

namespace spanguard::applayer {
namespace {

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// NetBIOS session message of `length` bytes, then the start of an SMB header.
std::string session(uint32_t length, const std::string& header) {
  return std::string(1, '\0') + static_cast<char>(length >> 16) + static_cast<char>(length >> 8) +
         static_cast<char>(length) + header;
}

TEST(SmbProbe, Smb1AndSmb2SidesFromTheirFlags) {
  const std::string smb1_request = session(64, "\xffSMB\x72" + std::string(4, '\0') + '\x18');
  const std::string smb1_reply = session(64, "\xffSMB\x72" + std::string(4, '\0') + '\x98');
  std::string smb2 = "\xfeSMB" + std::string(12, '\0');
  const std::string smb2_request = session(100, smb2 + std::string(1, '\0'));
  const std::string smb2_response = session(100, smb2 + std::string(1, '\x01'));
  EXPECT_EQ(probe_smb(bytes(smb1_request)).side, Side::kClient);
  EXPECT_EQ(probe_smb(bytes(smb1_reply)).side, Side::kServer);
  EXPECT_EQ(probe_smb(bytes(smb2_request)).side, Side::kClient);
  EXPECT_EQ(probe_smb(bytes(smb2_response)).side, Side::kServer);
  for (const std::string& whole : {smb1_request, smb2_response}) {
    EXPECT_EQ(probe_smb(bytes(whole)).probe, Probe::kYes);
    for (size_t n = 0; n < whole.size(); ++n) {
      EXPECT_EQ(probe_smb(bytes(whole.substr(0, n))).probe, Probe::kNeedMore) << n;
    }
  }
  const ProbeResult transform = probe_smb(bytes(session(80, "\xfdSMB")));
  EXPECT_EQ(transform.probe, Probe::kYes);
  EXPECT_FALSE(transform.side);
}

TEST(SmbProbe, NearMissesAreNotSmb) {
  EXPECT_EQ(probe_smb(bytes("\x81" + std::string(3, '\0') + "\xffSMB")).probe, Probe::kNo);
  EXPECT_EQ(probe_smb(bytes(session(64, "\xffSMX") + std::string(8, '\0'))).probe, Probe::kNo);
  EXPECT_EQ(probe_smb(bytes(session(64, "\xfcSMB") + std::string(8, '\0'))).probe, Probe::kNo);
  EXPECT_EQ(probe_smb(bytes(session(20, "\xffSMB") + std::string(8, '\0'))).probe, Probe::kNo);
  EXPECT_EQ(probe_smb(bytes("GET / HTTP/1.1\r\n")).probe, Probe::kNo);
  // The 17-bit length's top byte may only hold its 17th bit.
  std::string big = session(64, "\xffSMB" + std::string(8, '\0'));
  big[1] = '\x02';
  EXPECT_EQ(probe_smb(bytes(big)).probe, Probe::kNo);
}

std::string dcerpc(uint8_t type, uint8_t drep0 = 0x10, uint16_t frag = 72) {
  return std::string("\x05\x00", 2) + static_cast<char>(type) + '\x03' + static_cast<char>(drep0) +
         std::string(3, '\0') + static_cast<char>(frag) + static_cast<char>(frag >> 8);
}

TEST(DcerpcProbe, PacketTypeTellsTheSide) {
  EXPECT_EQ(probe_dcerpc(bytes(dcerpc(11))).side, Side::kClient);  // bind
  EXPECT_EQ(probe_dcerpc(bytes(dcerpc(0))).side, Side::kClient);   // request
  EXPECT_EQ(probe_dcerpc(bytes(dcerpc(12))).side, Side::kServer);  // bind_ack
  EXPECT_EQ(probe_dcerpc(bytes(dcerpc(2))).side, Side::kServer);   // response
  const std::string bind = dcerpc(11);
  for (size_t n = 0; n < bind.size(); ++n) {
    EXPECT_EQ(probe_dcerpc(bytes(bind.substr(0, n))).probe, Probe::kNeedMore) << n;
  }
  // Big-endian data representation: the fragment length is read that way.
  std::string big_endian = dcerpc(11, 0x00);
  std::swap(big_endian[8], big_endian[9]);
  EXPECT_EQ(probe_dcerpc(bytes(big_endian)).probe, Probe::kYes);
}

TEST(DcerpcProbe, NearMissesAreNotDcerpc) {
  std::string v4 = dcerpc(11);
  v4[0] = 4;
  EXPECT_EQ(probe_dcerpc(bytes(v4)).probe, Probe::kNo);
  std::string minor = dcerpc(11);
  minor[1] = 1;
  EXPECT_EQ(probe_dcerpc(bytes(minor)).probe, Probe::kNo);
  EXPECT_EQ(probe_dcerpc(bytes(dcerpc(20))).probe, Probe::kNo);            // no such packet type
  EXPECT_EQ(probe_dcerpc(bytes(dcerpc(11, 0x20))).probe, Probe::kNo);      // bad drep
  EXPECT_EQ(probe_dcerpc(bytes(dcerpc(11, 0x10, 15))).probe, Probe::kNo);  // shorter than a header
}

}  // namespace
}  // namespace spanguard::applayer
