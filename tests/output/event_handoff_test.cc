// The hand-off from publishing threads to the output thread: dense seqs in order across
// producers, full rings that drop without blocking or numbering, waiting producers, and closing
// with nothing lost.
#include "event_handoff.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "spanguard/output/envelope.h"

namespace spanguard::output {
namespace {

void number(v1::Envelope& e, uint64_t seq) { set_event_seq(e, seq); }

// An alert naming its producer (gid) and its place in that producer's order (sid).
v1::Envelope tagged(uint32_t producer, uint32_t index) {
  v1::Envelope e;
  e.mutable_alert()->mutable_alert()->set_gid(producer);
  e.mutable_alert()->mutable_alert()->set_signature_id(index);
  return e;
}

TEST(EventHandoff, MergesSeveralProducersIntoDenseSeqOrder) {
  EventHandoff handoff(64);  // small rings: they wrap and fill many times
  constexpr uint32_t kProducers = 4, kEach = 20000;
  std::vector<std::vector<uint64_t>> returned(kProducers);
  std::vector<std::thread> producers;
  for (uint32_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (uint32_t i = 0; i < kEach; ++i) {
        v1::Envelope e = tagged(p, i);
        const auto r = handoff.take(e, HandoffFull::kWait, number);
        ASSERT_EQ(r.status, EventHandoff::Status::kQueued);
        returned[p].push_back(r.seq);
      }
    });
  }
  uint64_t next = 1;
  std::vector<uint32_t> next_index(kProducers, 0);
  bool in_order = true;
  while (next <= uint64_t{kProducers} * kEach) {
    handoff.drain([&](const v1::Envelope& e) {
      in_order &= event_seq(e) == next;
      const uint32_t p = e.alert().alert().gid();
      in_order &= e.alert().alert().signature_id() == next_index[p]++;
      ++next;
    });
  }
  for (auto& t : producers) t.join();
  EXPECT_TRUE(in_order);
  EXPECT_FALSE(handoff.pending());
  EXPECT_EQ(handoff.numbered(), uint64_t{kProducers} * kEach);
  EXPECT_EQ(handoff.drained(), handoff.numbered());
  EXPECT_EQ(handoff.take_full_drops(), 0u);
  for (const auto& seqs : returned) {
    ASSERT_EQ(seqs.size(), kEach);
    EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
  }
}

TEST(EventHandoff, ProducersKeepReturningWhileTheConsumerIsBlocked) {
  EventHandoff handoff(16);
  constexpr uint32_t kProducers = 3, kEach = 10000;
  // The consumer takes one event and then blocks inside its sink, as an output thread stuck in a
  // write would.
  std::atomic<bool> in_sink{false}, release{false};
  {
    v1::Envelope first = tagged(99, 0);
    ASSERT_EQ(handoff.copy(first, HandoffFull::kDrop, number).seq, 1u);
  }
  std::thread consumer([&] {
    handoff.drain(
        [&](const v1::Envelope&) {
          in_sink = true;
          while (!release) std::this_thread::yield();
        },
        1);
  });
  while (!in_sink) std::this_thread::yield();

  std::vector<uint32_t> queued(kProducers, 0), full(kProducers, 0);
  std::vector<std::thread> producers;
  for (uint32_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (uint32_t i = 0; i < kEach; ++i) {
        v1::Envelope e = tagged(p, i);
        const auto r = handoff.take(e, HandoffFull::kDrop, number);
        if (r.status == EventHandoff::Status::kQueued) {
          ++queued[p];
        } else {
          EXPECT_EQ(r.status, EventHandoff::Status::kFull);
          EXPECT_EQ(r.seq, 0u);  // a dropped event takes no seq
          ++full[p];
        }
      }
    });
  }
  for (auto& t : producers) t.join();  // all returned with the consumer still stuck
  EXPECT_TRUE(in_sink);
  EXPECT_FALSE(release);
  uint64_t total_queued = 0, total_full = 0;
  for (uint32_t p = 0; p < kProducers; ++p) {
    EXPECT_EQ(queued[p], 16u);  // each producer's own ring, and nothing more
    total_queued += queued[p];
    total_full += full[p];
  }
  release = true;
  consumer.join();

  EXPECT_EQ(handoff.take_full_drops(), total_full);
  EXPECT_TRUE(handoff.drops_taken());
  EXPECT_EQ(handoff.numbered(), 1 + total_queued);  // seqs stay dense
  uint64_t next = 2;
  const size_t n = handoff.drain([&](const v1::Envelope& e) { EXPECT_EQ(event_seq(e), next++); });
  EXPECT_EQ(n, total_queued);
  EXPECT_FALSE(handoff.pending());
}

TEST(EventHandoff, AWaitingProducerGoesOnOnceTheConsumerMakesRoom) {
  EventHandoff handoff(16);
  constexpr uint32_t kCount = 1000;
  std::atomic<uint32_t> done{0};
  std::thread producer([&] {
    for (uint32_t i = 0; i < kCount; ++i) {
      v1::Envelope e = tagged(0, i);
      EXPECT_EQ(handoff.take(e, HandoffFull::kWait, number).seq, i + 1);
      ++done;
    }
  });
  while (handoff.numbered() < 16) std::this_thread::yield();
  uint64_t next = 1;
  while (next <= kCount) {
    handoff.drain([&](const v1::Envelope& e) { EXPECT_EQ(event_seq(e), next++); });
  }
  producer.join();
  EXPECT_EQ(done, kCount);
  EXPECT_EQ(handoff.take_full_drops(), 0u);
}

TEST(EventHandoff, AFinalDrainAfterCloseTakesEveryNumberedEvent) {
  EventHandoff handoff(1024);
  constexpr uint32_t kProducers = 3;
  std::atomic<bool> closed_seen[kProducers] = {};
  std::vector<std::thread> producers;
  for (uint32_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (uint32_t i = 0;; ++i) {
        v1::Envelope e = tagged(p, i);
        const auto r = handoff.take(e, HandoffFull::kWait, number);
        if (r.status == EventHandoff::Status::kClosed) {
          EXPECT_EQ(r.seq, 0u);
          closed_seen[p] = true;
          return;
        }
      }
    });
  }
  // The consumer drains while they publish, then closes mid-flight.
  uint64_t next = 1;
  auto sink = [&](const v1::Envelope& e) { EXPECT_EQ(event_seq(e), next++); };
  while (handoff.numbered() < 20000) handoff.drain(sink);
  handoff.close();
  handoff.drain(sink);
  const uint64_t numbered = handoff.numbered();
  for (auto& t : producers) t.join();
  for (const auto& seen : closed_seen) EXPECT_TRUE(seen);
  EXPECT_EQ(handoff.numbered(), numbered);  // nothing numbered after the close
  EXPECT_EQ(next - 1, numbered);
  EXPECT_FALSE(handoff.pending());
}

TEST(EventHandoff, TakeMovesTheEventAndCopyLeavesIt) {
  EventHandoff handoff(16);
  v1::Envelope moved = tagged(1, 7);
  v1::Envelope copied = tagged(2, 8);
  EXPECT_EQ(handoff.take(moved, HandoffFull::kDrop, number).seq, 1u);
  EXPECT_EQ(handoff.copy(copied, HandoffFull::kDrop, number).seq, 2u);
  EXPECT_FALSE(moved.has_alert());  // a spent event (here: the slot's empty one)
  EXPECT_EQ(copied.alert().seq(), 2u);
  EXPECT_EQ(copied.alert().alert().signature_id(), 8u);
  std::vector<uint32_t> sids;
  handoff.drain([&](const v1::Envelope& e) { sids.push_back(e.alert().alert().signature_id()); });
  EXPECT_EQ(sids, (std::vector<uint32_t>{7, 8}));
}

}  // namespace
}  // namespace spanguard::output
