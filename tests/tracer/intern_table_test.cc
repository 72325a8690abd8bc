// The stack table's two halves (tracer/internal/intern_table.h): ids, rotation, expiry, the
// ids a caller keeps, and a table that never fills while the collector rotates it.

#include "tracer/internal/intern_table.h"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/types/span.h"
#include "gtest/gtest.h"

namespace tracer::tracer_internal {
namespace {

// A stack of `depth` frames that only `n` makes (frames n, n+1, ...).
std::vector<uintptr_t> StackOf(uint64_t n, int depth = 4) {
  std::vector<uintptr_t> pcs;
  for (int i = 0; i < depth; ++i) pcs.push_back(0x400000 + n * 16 + static_cast<uintptr_t>(i));
  return pcs;
}

bool Holds(const StackTable& t, uint32_t id, uint64_t n) {
  const absl::Span<const uintptr_t> got = t.Get(id);
  const std::vector<uintptr_t> want = StackOf(n);
  return got == absl::MakeConstSpan(want);
}

void NoKeptIds(absl::FunctionRef<void(uint32_t&)>) {}

TEST(StackTableTest, InternsOnceAndReadsBack) {
  StackTable t(64);
  const uint32_t a = t.Intern(StackOf(1));
  const uint32_t b = t.Intern(StackOf(2));
  EXPECT_NE(a, 0u);
  EXPECT_NE(a, b);
  EXPECT_EQ(t.Intern(StackOf(1)), a);
  EXPECT_TRUE(Holds(t, a, 1));
  EXPECT_TRUE(Holds(t, b, 2));
  EXPECT_EQ(t.Intern({}), 0u);
  EXPECT_TRUE(t.Get(0).empty());
  EXPECT_TRUE(t.Get(12345).empty()) << "an id of no slot";
  EXPECT_EQ(t.active_used(), 2u);
}

// Ids of a deactivated half stay readable until the next rotation (RotateIfFull is called
// once per cut, after the seal); then they expire, reading as no frames, counted.
TEST(StackTableTest, IdsOutliveOneRotationAndExpireAtTheNext) {
  StackTable t(64);
  std::vector<uint32_t> first;
  for (uint64_t n = 0; n < 10; ++n) first.push_back(t.Intern(StackOf(n)));
  EXPECT_FALSE(t.RotateIfFull(NoKeptIds)) << "10 of 64 slots: under a quarter full";
  for (uint64_t n = 10; n < 40; ++n) first.push_back(t.Intern(StackOf(n)));
  ASSERT_GE(t.active_used(), 16u);
  EXPECT_TRUE(t.RotateIfFull(NoKeptIds));
  EXPECT_EQ(t.rotations(), 1u);
  EXPECT_EQ(t.active_used(), 0u);
  for (uint64_t n = 0; n < 40; ++n) EXPECT_TRUE(Holds(t, first[n], n)) << n;
  // A stack interned again after the rotation gets an id of the new half.
  const uint32_t again = t.Intern(StackOf(0));
  EXPECT_NE(again, first[0]);
  EXPECT_TRUE(Holds(t, again, 0));
  std::vector<uint32_t> second;
  for (uint64_t n = 100; n < 140; ++n) second.push_back(t.Intern(StackOf(n)));
  for (uint64_t i = 0; i < second.size(); ++i) EXPECT_TRUE(Holds(t, second[i], 100 + i));
  for (uint64_t n = 0; n < 40; ++n) EXPECT_TRUE(Holds(t, first[n], n)) << "until the next";
  EXPECT_TRUE(t.RotateIfFull(NoKeptIds));
  EXPECT_EQ(t.expired(), 0u);
  for (uint32_t id : first) EXPECT_TRUE(t.Get(id).empty()) << "expired";
  EXPECT_EQ(t.expired(), first.size());
  for (uint64_t i = 0; i < second.size(); ++i) EXPECT_TRUE(Holds(t, second[i], 100 + i));
  EXPECT_TRUE(Holds(t, again, 0));
}

// The ids a caller keeps (live tasks' stacks) move to the new half when theirs is emptied.
TEST(StackTableTest, KeptIdsMoveToTheNewHalf) {
  StackTable t(64);
  uint32_t kept_a = t.Intern(StackOf(7));
  uint32_t kept_b = t.Intern(StackOf(8));
  uint32_t kept_a2 = kept_a;  // kept twice (two tasks blocked at one site)
  uint32_t zero = 0;
  const uint32_t dropped = t.Intern(StackOf(9));
  auto kept = [&](absl::FunctionRef<void(uint32_t&)> move) {
    for (uint32_t* id : {&kept_a, &kept_b, &kept_a2, &zero}) move(*id);
  };
  t.Rotate(kept);  // to the second half: nothing moves yet
  EXPECT_TRUE(Holds(t, kept_a, 7));
  t.Rotate(kept);  // the first half is emptied: its kept ids move
  EXPECT_TRUE(Holds(t, kept_a, 7));
  EXPECT_TRUE(Holds(t, kept_b, 8));
  EXPECT_EQ(kept_a2, kept_a);
  EXPECT_EQ(zero, 0u);
  EXPECT_TRUE(t.Get(dropped).empty()) << "not kept: expired";
  for (int i = 0; i < 6; ++i) t.Rotate(kept);  // and again, through every epoch
  EXPECT_TRUE(Holds(t, kept_a, 7));
  EXPECT_TRUE(Holds(t, kept_b, 8));
  EXPECT_EQ(t.rotations(), 8u);
}

// However many distinct stacks arrive, a table the collector rotates once per "cut" never
// misses, and its memory stays two halves.
TEST(StackTableTest, NeverFillsWhileRotated) {
  StackTable t(256);
  uint64_t checked = 0;
  for (uint64_t n = 0; n < 100000; ++n) {
    const uint32_t id = t.Intern(StackOf(n));
    ASSERT_NE(id, 0u) << n;
    if (n % 50 == 49) {
      ASSERT_TRUE(Holds(t, id, n));
      ++checked;
      t.RotateIfFull(NoKeptIds);
    }
  }
  EXPECT_EQ(t.misses(), 0u);
  EXPECT_GT(t.rotations(), 100u);
  EXPECT_EQ(checked, 2000u);
}

// Threads intern while a collector rotates and reads: every id read back within 64 rotations of
// its intern names its own stack or, if its half was emptied since, none; never another stack.
// (This "collector" rotates far faster than the real one, once a cut: an id a descheduled
// thread held over 64 rotations may alias, and is not judged.) (Under TSan too.)
TEST(StackTableTest, ConcurrentInternsAndRotationsNeverReadAnotherStack) {
  StackTable t(4096);
  constexpr int kThreads = 4;
#ifdef TRACER_TSAN
  constexpr uint64_t kPerThread = 20000;
#else
  constexpr uint64_t kPerThread = 200000;
#endif
  struct Recent {
    std::mutex mu;
    uint32_t id = 0;
    uint64_t n = 0;
    uint64_t rotations = 0;  // before the intern
  };
  Recent recent[kThreads];
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < kThreads; ++k) {
    threads.emplace_back([&, k] {
      for (uint64_t i = 0; i < kPerThread; ++i) {
        const uint64_t n = static_cast<uint64_t>(k) << 32 | (i % 3000);  // repeats too
        const uint64_t rotations = t.rotations();
        const uint32_t id = t.Intern(StackOf(n));
        std::lock_guard<std::mutex> l(recent[k].mu);
        recent[k].id = id;
        recent[k].n = n;
        recent[k].rotations = rotations;
      }
      done.fetch_add(1);
    });
  }
  uint64_t reads = 0, read_frames = 0, wrong = 0;
  while (done.load() < kThreads) {
    // One "cut": read what each thread interned last, then maybe rotate.
    for (int k = 0; k < kThreads; ++k) {
      std::lock_guard<std::mutex> l(recent[k].mu);
      if (recent[k].id == 0 || t.rotations() - recent[k].rotations >= 60) continue;
      const absl::Span<const uintptr_t> got = t.Get(recent[k].id);
      ++reads;
      if (got.empty()) continue;
      ++read_frames;
      if (!Holds(t, recent[k].id, recent[k].n)) ++wrong;
    }
    t.RotateIfFull(NoKeptIds);
    std::this_thread::yield();
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong, 0u) << "of " << read_frames << " reads with frames, " << reads << " in all";
  EXPECT_GT(read_frames, 0u);  // (the rest had expired: a thread descheduled over two rotations)
  EXPECT_GT(t.rotations(), 2u);
  RecordProperty("misses", static_cast<int>(t.misses()));
}

}  // namespace
}  // namespace tracer::tracer_internal
