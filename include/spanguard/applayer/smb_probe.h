// Identification of SMB and DCE/RPC over TCP from a direction's first bytes, so that `alert smb`
// and `alert dcerpc` rules (content matched on the stream and on each segment's payload) run on
// those flows wherever they are, as in Suricata; neither protocol is parsed further yet.
#pragma once

#include <cstdint>
#include <span>

#include "spanguard/applayer/side.h"

namespace spanguard::applayer {

// A NetBIOS session message (RFC 1002 §4.3.6: type 0, 17-bit length as on direct-hosted SMB,
// MS-SMB2 §2.1) carrying an SMB1 (0xFF 'SMB'), SMB2/3 (0xFE 'SMB') or SMB3 transform
// (0xFD 'SMB') header. The side comes from the header's response flag.
ProbeResult probe_smb(std::span<const uint8_t> first_bytes);

// A connection-oriented DCE/RPC PDU (C706 §12.6: version 5.0, a known packet type, a valid data
// representation and a fragment length of at least the 16-byte common header). Requests, binds
// and alter-contexts come from the client.
ProbeResult probe_dcerpc(std::span<const uint8_t> first_bytes);

}  // namespace spanguard::applayer
