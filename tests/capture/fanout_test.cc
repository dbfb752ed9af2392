// The fanout program, run here by a classic-BPF interpreter of the instructions it uses, against
// fanout_member(): the worker a reassembled datagram is handed to must be the one the kernel gives
// the rest of its flow.
#include "spanguard/capture/fanout.h"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>

#include "frame_builder.h"

namespace spanguard::capture {
namespace {

using testing::Bytes;
using testing::FrameBuilder;

// What the kernel's classic BPF does with `program` for an untagged Ethernet frame: ancillary
// SKF_AD_PROTOCOL is its ethertype, SKF_NET_OFF loads are relative to byte 14, and a load past the
// end ends the program with 0. Only the instructions fanout_program() emits are known.
uint32_t run_program(const std::vector<sock_filter>& program, const Bytes& frame) {
  constexpr uint32_t kNetOff = static_cast<uint32_t>(SKF_NET_OFF);
  const uint32_t ethertype = uint32_t{frame[12]} << 8 | frame[13];
  uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {};
  const auto load = [&](uint32_t k, uint32_t size) -> std::optional<uint32_t> {
    if (k == static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PROTOCOL)) return ethertype;
    if (k < kNetOff) return std::nullopt;  // no other absolute loads are emitted
    const uint64_t at = 14 + uint64_t{k - kNetOff};
    if (at + size > frame.size()) return std::nullopt;
    uint32_t v = 0;
    for (uint32_t i = 0; i < size; ++i) v = v << 8 | frame[at + i];
    return v;
  };
  for (size_t pc = 0; pc < program.size(); ++pc) {
    const sock_filter& in = program[pc];
    const uint32_t size = BPF_SIZE(in.code) == BPF_W ? 4 : BPF_SIZE(in.code) == BPF_H ? 2 : 1;
    switch (BPF_CLASS(in.code)) {
      case BPF_LD: {
        if (BPF_MODE(in.code) == BPF_MEM) {
          a = mem[in.k];
          break;
        }
        const uint32_t k = BPF_MODE(in.code) == BPF_IND ? in.k + x : in.k;
        const std::optional<uint32_t> v = load(k, size);
        if (!v) return 0;
        a = *v;
        break;
      }
      case BPF_LDX:
        x = BPF_MODE(in.code) == BPF_MEM ? mem[in.k] : in.k;
        break;
      case BPF_ST:
        mem[in.k] = a;
        break;
      case BPF_STX:
        mem[in.k] = x;
        break;
      case BPF_ALU: {
        const uint32_t operand = BPF_SRC(in.code) == BPF_X ? x : in.k;
        switch (BPF_OP(in.code)) {
          case BPF_XOR:
            a ^= operand;
            break;
          case BPF_AND:
            a &= operand;
            break;
          case BPF_ADD:
            a += operand;
            break;
          case BPF_MUL:
            a *= operand;
            break;
          case BPF_LSH:
            a <<= operand;
            break;
          case BPF_RSH:
            a >>= operand;
            break;
          default:
            ADD_FAILURE() << "ALU op " << in.code;
            return 0;
        }
        break;
      }
      case BPF_MISC:
        x = a;  // BPF_TAX
        break;
      case BPF_JMP:
        if (BPF_OP(in.code) == BPF_JA) {
          pc += in.k;
        } else {
          const bool taken = BPF_OP(in.code) == BPF_JEQ ? a == in.k : (a & in.k) != 0;
          pc += taken ? in.jt : in.jf;
        }
        break;
      case BPF_RET:
        return BPF_RVAL(in.code) == BPF_A ? a : in.k;
      default:
        ADD_FAILURE() << "instruction " << in.code;
        return 0;
    }
  }
  ADD_FAILURE() << "the program ran off its end";
  return 0;
}

std::string v4(std::mt19937& rng) { return "198.51.100." + std::to_string(rng() % 256); }
std::string v6(std::mt19937& rng) {
  char text[64];
  std::snprintf(text, sizeof text, "2001:db8:%x::%x:%x", static_cast<unsigned>(rng() % 0xffff),
                static_cast<unsigned>(rng() % 0xffff), static_cast<unsigned>(rng() % 0xffff));
  return text;
}

std::span<const uint8_t> ip_of(const Bytes& frame) { return std::span(frame).subspan(14); }

TEST(FanoutMember, PicksWhatTheProgramPicksForWholeDatagrams) {
  std::mt19937 rng(7);
  for (const FanoutHash hash : {FanoutHash::kAddresses, FanoutHash::kFlow}) {
    const std::vector<sock_filter> program = fanout_program(hash);
    for (int i = 0; i < 2000; ++i) {
      const auto sport = static_cast<uint16_t>(rng()), dport = static_cast<uint16_t>(rng());
      FrameBuilder b;
      b.ethernet();
      if (i % 2 == 0) {
        b.ipv4(v4(rng), v4(rng));
      } else {
        b.ipv6(v6(rng), v6(rng));
      }
      switch (i % 6 / 2) {
        case 0:
          b.tcp(sport, dport);
          break;
        case 1:
          b.udp(sport, dport);
          break;
        default:
          b.icmp(8, 0);
          break;
      }
      const Bytes frame = b.payload("x").build();
      const uint32_t value = run_program(program, frame);
      for (unsigned members = 2; members <= 5; ++members) {
        ASSERT_EQ(fanout_member(ip_of(frame), hash, members), value % members)
            << "frame " << i << ", " << members << " members";
      }
    }
  }
}

// Where they differ is what the hand-off is for: the flow hash gives a fragment the member of its
// addresses, and the whole datagram the member of its addresses and ports.
TEST(FanoutMember, FragmentsGoByAddressesOnlyUnderTheFlowHash) {
  const std::vector<sock_filter> flow = fanout_program(FanoutHash::kFlow);
  const std::vector<sock_filter> addresses = fanout_program(FanoutHash::kAddresses);
  int differ = 0;
  for (uint16_t port = 1000; port < 1064; ++port) {
    const Bytes whole = FrameBuilder()
                            .ethernet()
                            .ipv4("198.51.100.1", "198.51.100.2", {.dont_fragment = false})
                            .udp(port, 53)
                            .payload("x")
                            .build();
    const Bytes fragment =
        FrameBuilder()
            .ethernet()
            .ipv4("198.51.100.1", "198.51.100.2", {.dont_fragment = false, .more_fragments = true})
            .udp(port, 53)
            .payload("x")
            .build();
    EXPECT_EQ(run_program(flow, fragment), run_program(addresses, fragment));
    EXPECT_EQ(fanout_member(ip_of(whole), FanoutHash::kAddresses, 4),
              run_program(flow, fragment) % 4);
    differ += fanout_member(ip_of(whole), FanoutHash::kFlow, 4) != run_program(flow, fragment) % 4;
  }
  EXPECT_GT(differ, 16);  // most flows: the fragment and its flow would meet on different workers
}

TEST(FanoutMember, ShortOrNonIpDatagramsGoToTheFirstMember) {
  EXPECT_EQ(fanout_member({}, FanoutHash::kFlow, 4), 0u);
  const Bytes truncated(10, 0x45);
  EXPECT_EQ(fanout_member(truncated, FanoutHash::kFlow, 4), 0u);
  const Bytes not_ip(40, 0x00);
  EXPECT_EQ(fanout_member(not_ip, FanoutHash::kFlow, 4), 0u);
}

}  // namespace
}  // namespace spanguard::capture
