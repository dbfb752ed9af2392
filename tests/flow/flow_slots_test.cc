// Flow slots: stages get their per-flow slot by name; the same name is the same slot, and a typed
// key creates a stage's state once.
#include <gtest/gtest.h>

#include "spanguard/flow/flow.h"

namespace spanguard::flow {
namespace {

struct Counted final : FlowData {
  explicit Counted(int v) : value(v) { ++live; }
  ~Counted() override { --live; }
  int value;
  static inline int live = 0;
};

TEST(FlowSlots, TheSameNameIsTheSameSlot) {
  const uint8_t a = flow_slot_id("test.a");
  EXPECT_EQ(flow_slot_id("test.a"), a);
  EXPECT_NE(flow_slot_id("test.b"), a);
  EXPECT_LT(a, kMaxFlowSlots);
}

TEST(FlowSlots, TypedKeyCreatesOnceAndTheFlowOwnsTheState) {
  const SlotKey<Counted> key("test.counted");
  {
    Flow f;
    EXPECT_EQ(key.get(f), nullptr);
    Counted& c = key.get_or_create(f, 7);
    EXPECT_EQ(c.value, 7);
    EXPECT_EQ(&key.get_or_create(f, 9), &c);  // already there: not rebuilt
    EXPECT_EQ(key.get(f)->value, 7);
    EXPECT_EQ(Counted::live, 1);
  }
  EXPECT_EQ(Counted::live, 0);  // destroyed with the flow
}

TEST(FlowSlots, RegisteringMoreNamesThanSlotsIsRefused) {
  // Run alone by CTest (one process per test), so filling the table harms no other test.
  bool refused = false;
  for (int i = 0; i <= static_cast<int>(kMaxFlowSlots) && !refused; ++i) {
    try {
      flow_slot_id("test.fill." + std::to_string(i));
    } catch (const std::length_error&) {
      refused = true;
    }
  }
  EXPECT_TRUE(refused);
}

}  // namespace
}  // namespace spanguard::flow
