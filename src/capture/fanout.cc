// AF_PACKET fanout with a symmetric classic-BPF hash: each worker reads its own share of every
// mirror interface.
#include "spanguard/capture/fanout.h"

#include <linux/if_packet.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "spanguard/core/error.h"
#include "spanguard/core/log.h"

namespace spanguard::capture {

namespace {

// A forward-only classic-BPF assembler with named labels: jump offsets are resolved when the
// program is finished, so the program below reads as its structure rather than as counted skips.
class BpfAssembler {
 public:
  enum Label : int { kNext = -1 };

  void op(uint16_t code, uint32_t k = 0) { code_.push_back(sock_filter{code, 0, 0, k}); }
  // Conditional jump: to `yes` when the test holds, else to `no` (kNext: the next instruction).
  void jump(uint16_t test, uint32_t k, int yes, int no = kNext) {
    fixups_.push_back({code_.size(), yes, no});
    op(static_cast<uint16_t>(BPF_JMP | test | BPF_K), k);
  }
  void go(int label) { jump(BPF_JA, 0, label); }
  void bind(int label) {
    if (static_cast<size_t>(label) >= labels_.size()) labels_.resize(label + 1, SIZE_MAX);
    labels_[label] = code_.size();
  }

  std::vector<sock_filter> finish() {
    for (const Fixup& f : fixups_) {
      sock_filter& insn = code_[f.at];
      if (BPF_OP(insn.code) == BPF_JA) {
        insn.k = static_cast<uint32_t>(target(f.yes) - f.at - 1);
      } else {
        insn.jt = skip(f.at, f.yes);
        insn.jf = skip(f.at, f.no);
      }
    }
    return code_;
  }

 private:
  struct Fixup {
    size_t at;
    int yes;
    int no;
  };
  size_t target(int label) const {
    if (label < 0 || static_cast<size_t>(label) >= labels_.size() || labels_[label] == SIZE_MAX) {
      throw std::logic_error("fanout program: unbound label");
    }
    return labels_[label];
  }
  uint8_t skip(size_t at, int label) const {
    if (label == kNext) return 0;
    const size_t to = target(label);
    if (to <= at || to - at - 1 > 255) throw std::logic_error("fanout program: jump out of range");
    return static_cast<uint8_t>(to - at - 1);
  }

  std::vector<sock_filter> code_;
  std::vector<Fixup> fixups_;
  std::vector<size_t> labels_;
};

// Loads relative to the network header (SKF_NET_OFF) plus X, the length of the VLAN tags still in
// front of the IP header: correct whether the kernel calls the program with the frame's data
// starting at the link or the network header.
constexpr uint32_t net(uint32_t offset) { return static_cast<uint32_t>(SKF_NET_OFF) + offset; }

// Scratch memory.
constexpr uint32_t kBase = 0;  // bytes of VLAN tags before the IP header
constexpr uint32_t kTmp = 1;
constexpr uint32_t kHash = 2;

enum Labels : int {
  kTag1,
  kTag2,
  kL3,
  kIpv4,
  kIpv6,
  kV4Ports,
  kV6Ports,
  kMix,
  kNotIp,
};

// A = A ^ (32-bit word at net(offset) + base), accumulated in M[kHash]; X is left at base.
void xor_word_into_hash(BpfAssembler& a, uint32_t offset) {
  a.op(BPF_LDX | BPF_MEM, kBase);
  a.op(BPF_LD | BPF_W | BPF_IND, net(offset));
  a.op(BPF_LDX | BPF_MEM, kHash);
  a.op(BPF_ALU | BPF_XOR | BPF_X);
  a.op(BPF_ST, kHash);
}

// Ports: X must hold base + IP header length. sport ^ dport, shifted so that a port pair and an
// address pair do not cancel each other, folded into M[kHash].
void xor_ports_into_hash(BpfAssembler& a) {
  a.op(BPF_LD | BPF_H | BPF_IND, net(0));
  a.op(BPF_ST, kTmp);
  a.op(BPF_LD | BPF_H | BPF_IND, net(2));
  a.op(BPF_LDX | BPF_MEM, kTmp);
  a.op(BPF_ALU | BPF_XOR | BPF_X);
  a.op(BPF_ALU | BPF_LSH | BPF_K, 7);
  a.op(BPF_LDX | BPF_MEM, kHash);
  a.op(BPF_ALU | BPF_XOR | BPF_X);
  a.op(BPF_ST, kHash);
}

}  // namespace

FanoutHash fanout_hash_from(const std::string& name) {
  return name == "flow" ? FanoutHash::kFlow : FanoutHash::kAddresses;
}

std::vector<sock_filter> fanout_program(FanoutHash hash) {
  const bool ports = hash == FanoutHash::kFlow;
  BpfAssembler a;
  // The ethertype of what follows the tag the kernel removed (or of the frame, untagged).
  a.op(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PROTOCOL));
  a.op(BPF_LDX | BPF_IMM, 0);
  a.jump(BPF_JEQ, 0x8100, kTag1);
  a.jump(BPF_JEQ, 0x88a8, kTag1);
  a.jump(BPF_JEQ, 0x9100, kTag1, kL3);
  a.bind(kTag1);  // one tag left in the data (QinQ): its inner ethertype, IP 4 bytes further
  a.op(BPF_LD | BPF_H | BPF_IND, net(2));
  a.op(BPF_LDX | BPF_IMM, 4);
  a.jump(BPF_JEQ, 0x8100, kTag2);
  a.jump(BPF_JEQ, 0x88a8, kTag2, kL3);
  a.bind(kTag2);
  a.op(BPF_LD | BPF_H | BPF_IND, net(2));  // X = 4: the second tag's ethertype at 6
  a.op(BPF_LDX | BPF_IMM, 8);
  a.bind(kL3);
  a.op(BPF_STX, kBase);
  a.jump(BPF_JEQ, 0x0800, kIpv4);
  a.jump(BPF_JEQ, 0x86dd, kIpv6, kNotIp);

  a.bind(kIpv4);  // source ^ destination
  a.op(BPF_LD | BPF_W | BPF_IND, net(12));
  a.op(BPF_ST, kHash);
  xor_word_into_hash(a, 16);
  if (ports) {
    a.op(BPF_LDX | BPF_MEM, kBase);
    a.op(BPF_LD | BPF_H | BPF_IND, net(6));  // a fragment (MF or an offset): addresses only
    a.jump(BPF_JSET, 0x3fff, kMix);
    a.op(BPF_LD | BPF_B | BPF_IND, net(9));
    a.jump(BPF_JEQ, 6, kV4Ports);
    a.jump(BPF_JEQ, 17, kV4Ports);
    a.jump(BPF_JEQ, 132, kV4Ports, kMix);
    a.bind(kV4Ports);
    a.op(BPF_LD | BPF_B | BPF_IND, net(0));  // IHL * 4 + base
    a.op(BPF_ALU | BPF_AND | BPF_K, 0x0f);
    a.op(BPF_ALU | BPF_LSH | BPF_K, 2);
    a.op(BPF_ALU | BPF_ADD | BPF_X);
    a.op(BPF_MISC | BPF_TAX);
    xor_ports_into_hash(a);
  }
  a.go(kMix);

  a.bind(kIpv6);  // the eight words of source and destination, folded
  a.op(BPF_LD | BPF_W | BPF_IND, net(8));
  a.op(BPF_ST, kHash);
  for (uint32_t offset = 12; offset < 40; offset += 4) xor_word_into_hash(a, offset);
  if (ports) {
    // Ports only when the transport header follows the fixed header directly; with extension
    // headers (a fragment header among them) the addresses alone decide.
    a.op(BPF_LDX | BPF_MEM, kBase);
    a.op(BPF_LD | BPF_B | BPF_IND, net(6));
    a.jump(BPF_JEQ, 6, kV6Ports);
    a.jump(BPF_JEQ, 17, kV6Ports);
    a.jump(BPF_JEQ, 132, kV6Ports, kMix);
    a.bind(kV6Ports);
    a.op(BPF_LD | BPF_MEM, kBase);
    a.op(BPF_ALU | BPF_ADD | BPF_K, 40);
    a.op(BPF_MISC | BPF_TAX);
    xor_ports_into_hash(a);
  }

  a.bind(kMix);  // multiplicative mixing: the kernel takes the low bits (hash % members)
  a.op(BPF_LD | BPF_MEM, kHash);
  a.op(BPF_ALU | BPF_MUL | BPF_K, 0x9e3779b1);
  a.op(BPF_ALU | BPF_RSH | BPF_K, 16);
  a.op(BPF_RET | BPF_A);
  a.bind(kNotIp);
  a.op(BPF_RET | BPF_K, 0);
  return a.finish();
}

unsigned fanout_member(std::span<const uint8_t> ip, FanoutHash hash, unsigned members) {
  if (members <= 1 || ip.empty()) return 0;
  const auto load16 = [&](size_t at) { return uint32_t{ip[at]} << 8 | ip[at + 1]; };
  const auto load32 = [&](size_t at) { return load16(at) << 16 | load16(at + 2); };
  const auto carries_ports = [](uint8_t proto) {
    return proto == 6 || proto == 17 || proto == 132;
  };
  const bool ports = hash == FanoutHash::kFlow;
  uint32_t h = 0;
  size_t transport = 0;  // where the ports are, 0: not hashed
  if (ip[0] >> 4 == 4) {
    if (ip.size() < 20) return 0;
    h = load32(12) ^ load32(16);
    if (ports && (load16(6) & 0x3fff) == 0 && carries_ports(ip[9])) transport = (ip[0] & 0x0fu) * 4;
  } else if (ip[0] >> 4 == 6) {
    if (ip.size() < 40) return 0;
    h = load32(8);
    for (size_t at = 12; at < 40; at += 4) h ^= load32(at);
    if (ports && carries_ports(ip[6])) transport = 40;
  } else {
    return 0;
  }
  if (transport != 0) {
    if (ip.size() < transport + 4) return 0;
    h ^= (load16(transport) ^ load16(transport + 2)) << 7;
  }
  return ((h * 0x9e3779b1u) >> 16) % members;
}

void LiveSource::join_fanout(uint16_t& group_id, bool create,
                             const std::vector<sock_filter>& program) {
  const int fd = pcap_fileno(handle_.get());
  const std::string what = "interface '" + interface_ + "': fanout";
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  const int64_t before = static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
  // The first member asks the kernel for an unused group id (another sensor on this host must never
  // join our group by choosing the same number); the others join that id.
  const uint32_t flags = create ? PACKET_FANOUT_FLAG_UNIQUEID : 0;
  const uint32_t arg = (create ? 0u : group_id) | ((PACKET_FANOUT_CBPF | flags) << 16);
  if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0) {
    throw core::RuntimeError(what + ": cannot join group: " + std::strerror(errno));
  }
  if (create) {
    uint32_t joined = 0;
    socklen_t len = sizeof joined;
    if (getsockopt(fd, SOL_PACKET, PACKET_FANOUT, &joined, &len) != 0) {
      throw core::RuntimeError(what + ": cannot read the group id: " + std::strerror(errno));
    }
    group_id = static_cast<uint16_t>(joined & 0xffff);
    sock_fprog fprog{static_cast<unsigned short>(program.size()),
                     const_cast<sock_filter*>(program.data())};
    if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT_DATA, &fprog, sizeof fprog) != 0) {
      throw core::RuntimeError(what +
                               ": the kernel refused the hash program: " + std::strerror(errno));
    }
  } else {
    skip_before_ns_ = before;
    joined_at_ns_ = core::monotonic_ns();
  }
}

int LiveSource::wait_fd() const { return pcap_get_selectable_fd(handle_.get()); }

FanoutLanes open_fanout(const std::vector<std::string>& interfaces, const LiveOptions& options,
                        unsigned members) {
  const std::vector<sock_filter> program = fanout_program(fanout_hash_from(options.fanout_hash));
  LiveOptions member_options = options;
  member_options.nonblocking = true;
  FanoutLanes lanes(members);
  // Every handle opens first; then each interface's group forms in member order. Until a handle
  // joins, its socket sees every frame; those it drops (see skip_before_ns_).
  for (unsigned m = 0; m < members; ++m) {
    for (const std::string& name : interfaces) {
      lanes[m].push_back(std::make_unique<LiveSource>(name, member_options));
    }
  }
  if (members == 1) return lanes;  // one worker polls every interface: nothing to share
  for (size_t i = 0; i < interfaces.size(); ++i) {
    uint16_t group = 0;
    for (unsigned m = 0; m < members; ++m) {
      static_cast<LiveSource&>(*lanes[m][i]).join_fanout(group, m == 0, program);
    }
    core::logger("capture")->info("{}: {} workers share fanout group {} ({} hash)", interfaces[i],
                                  members, group, options.fanout_hash);
  }
  return lanes;
}

}  // namespace spanguard::capture
