// Each worker its own capture: one libpcap handle per worker and interface, the handles of an
// interface joined into an AF_PACKET fanout group whose classic-BPF program hashes every frame
// symmetrically, so both directions of a flow — and both halves of an asymmetric mirror pair, one
// group per interface with the same members in the same order — reach the same worker without a
// dispatcher thread in between.
#pragma once

#include <linux/filter.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "spanguard/capture/source.h"

namespace spanguard::capture {

enum class FanoutHash {
  // Addresses only: every packet of a host pair, fragments included, reaches one worker (what the
  // dispatcher does too). A fragmented TCP segment is reassembled by the worker that holds its
  // stream, and FTP's data connections meet their control connection.
  kAddresses,
  // Addresses and ports (addresses alone for fragments): balances a few busy host pairs better.
  // A fragmented datagram reaches the worker its addresses pick, which reassembles it and hands it
  // to the worker that holds the rest of its flow (fanout_member()). FTP data connections may
  // land on another worker than their control connection (the workers then share their
  // expectations: applayer::DataExpectations).
  kFlow,
};

FanoutHash fanout_hash_from(const std::string& name);  // "addresses" | "flow"

// The fanout program: looks through up to two 802.1Q/802.1ad tags left in the frame (the kernel has
// already taken the outer one off), hashes IPv4 and IPv6 source and destination commutatively
// (and, for kFlow, TCP/UDP/SCTP ports when the packet is not a fragment), and returns the mixed
// hash; the kernel picks member hash % members. Non-IP frames go to member 0.
std::vector<sock_filter> fanout_program(FanoutHash hash);

// The member fanout_program(hash) picks among `members` for an unfragmented IP datagram whose
// header starts at `ip`: where the kernel would have sent a reassembled datagram had it arrived
// whole. Computed as the program computes it (its hash does not depend on the tags before the IP
// header); 0 where the program's loads would run past the end, as the kernel's do.
unsigned fanout_member(std::span<const uint8_t> ip, FanoutHash hash, unsigned members);

// [member][interface]: `members` handles on each interface, member i of every interface's group
// joined i-th. Throws core::RuntimeError naming the interface when the kernel refuses (no fanout
// support, not AF_PACKET); the handles are non-blocking, for a worker that polls several. With one
// member no group is formed: that worker polls every interface itself.
using FanoutLanes = std::vector<std::vector<std::unique_ptr<PacketSource>>>;
FanoutLanes open_fanout(const std::vector<std::string>& interfaces, const LiveOptions& options,
                        unsigned members);

}  // namespace spanguard::capture
