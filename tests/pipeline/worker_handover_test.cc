// A worker that reassembles a datagram whose flow another worker holds (live fanout with the flow
// hash) hands it over as the frame it would have been whole, and keeps no trace of it itself.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "frame_builder.h"
#include "spanguard/cli/config_schema.h"
#include "spanguard/decode/decoder.h"
#include "spanguard/pipeline/worker.h"

namespace spanguard::pipeline {
namespace {

using testing::Bytes;
using testing::FrameBuilder;

class FixedRouter final : public DatagramRouter {
 public:
  explicit FixedRouter(unsigned owner) : owner_(owner) {}
  unsigned owner(std::span<const uint8_t> ip) const override {
    asked.emplace_back(ip.begin(), ip.end());
    return owner_;
  }
  void post(unsigned to, const capture::Frame& frame) override {
    EXPECT_EQ(to, owner_);
    posted.emplace_back(frame.data, frame.data + frame.caplen);
  }
  mutable std::vector<Bytes> asked;
  std::vector<Bytes> posted;

 private:
  unsigned owner_;
};

// A 1,208-byte UDP datagram (8 + 1,200) from 198.51.100.1:40000 to .2:53 in two fragments, on
// VLAN 42; `inner` wraps each in a VXLAN tunnel between 198.51.100.10 and .20.
std::vector<Bytes> fragments(bool inner = false) {
  const std::string data(1200, 'd');
  const auto outer = [&](FrameBuilder& b) -> FrameBuilder& {
    b.ethernet().vlan(42);
    if (inner) b.ipv4("198.51.100.10", "198.51.100.20").udp(50000, 4789).vxlan(7).ethernet();
    return b;
  };
  FrameBuilder first, second;
  outer(first)
      .ipv4("198.51.100.1", "198.51.100.2",
            {.id = 77, .dont_fragment = false, .more_fragments = true})
      .udp(40000, 53, 1208, 0)  // no checksum: the builder sees only the first fragment
      .payload(data.substr(0, 600));
  outer(second)
      .ipv4("198.51.100.1", "198.51.100.2",
            {.id = 77, .dont_fragment = false, .fragment_offset = 608, .protocol = 17})
      .payload(data.substr(600));
  return {first.build(), second.build()};
}

capture::Frame frame_of(const Bytes& b) {
  return {b.data(), static_cast<uint32_t>(b.size()), static_cast<uint32_t>(b.size()),
          core::timestamp_from_ns(1'000'000'000), decode::LinkType::kEthernet};
}

uint64_t flows_created(const Worker& w) {
  core::CounterSnapshot snap;
  w.collect(snap);
  return snap.get("flow.created");
}

TEST(WorkerHandOver, ADatagramOfAnotherWorkersFlowLeavesWholeWithItsLinkHeader) {
  core::Config config(cli::config_schema());
  config.set("flow.records=no");
  Worker worker(config, true);
  FixedRouter router(1);
  worker.route_datagrams(&router, 0);
  for (const Bytes& f : fragments()) worker.on_frame(frame_of(f));
  ASSERT_EQ(router.posted.size(), 1u);
  EXPECT_EQ(flows_created(worker), 0u);  // not this worker's flow: nothing kept of it here

  decode::Decoder decoder(decode::DecoderOptions{.validate_checksums = true});
  decode::PacketView v;
  const Bytes& handed = router.posted[0];
  ASSERT_EQ(decoder.decode(decode::LinkType::kEthernet, handed.data(),
                           static_cast<uint32_t>(handed.size()),
                           static_cast<uint32_t>(handed.size()), {}, v),
            decode::DecodeStatus::kOk);
  EXPECT_FALSE(v.is_fragment);
  EXPECT_FALSE(v.bad_checksum);
  ASSERT_EQ(v.vlan_count, 1);
  EXPECT_EQ(v.vlan_ids[0], 42);
  EXPECT_EQ(v.src_port, 40000);
  EXPECT_EQ(v.dst_port, 53);
  EXPECT_EQ(v.payload_len, 1200u);
  // The router was asked about the datagram, not the frame.
  ASSERT_EQ(router.asked.size(), 1u);
  EXPECT_EQ(router.asked[0].size(), 1228u);
  EXPECT_EQ(router.asked[0][0] >> 4, 4);

  // The owner takes it as any other frame.
  Worker owner(config, true);
  owner.on_frame(frame_of(handed));
  EXPECT_EQ(flows_created(owner), 1u);
}

TEST(WorkerHandOver, ADatagramOfItsOwnFlowStays) {
  core::Config config(cli::config_schema());
  Worker worker(config, true);
  FixedRouter router(0);
  worker.route_datagrams(&router, 0);
  for (const Bytes& f : fragments()) worker.on_frame(frame_of(f));
  EXPECT_TRUE(router.posted.empty());
  EXPECT_EQ(flows_created(worker), 1u);
}

// Fragments inside a tunnel came hashed by the tunnel's outer headers, like the rest of the
// tunnel's traffic: their flow is where they are.
TEST(WorkerHandOver, FragmentsInsideATunnelStay) {
  core::Config config(cli::config_schema());
  Worker worker(config, true);
  FixedRouter router(1);
  worker.route_datagrams(&router, 0);
  for (const Bytes& f : fragments(true)) worker.on_frame(frame_of(f));
  EXPECT_TRUE(router.posted.empty());
  EXPECT_TRUE(router.asked.empty());
  EXPECT_EQ(flows_created(worker), 1u);
}

}  // namespace
}  // namespace spanguard::pipeline
