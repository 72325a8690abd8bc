// TaskTable: the collector's id -> task state index.

#include "tracer/internal/task_table.h"

#include <map>
#include <random>
#include <set>

#include "gtest/gtest.h"

namespace tracer::tracer_internal {
namespace {

std::set<uint64_t> Listed(const TaskTable& t) {
  std::set<uint64_t> ids;
  t.ForEach([&](const TrackedTask& s) { ids.insert(s.id); });
  return ids;
}

TEST(TaskTableTest, AddFindEraseWithDirectAndOverflowEntries) {
  TaskTable t;
  EXPECT_EQ(t.Find(7), TaskTable::kNoSlot);
  const uint32_t a = t.FindOrAdd(7);
  EXPECT_EQ(t.at(a).id, 7u);
  EXPECT_EQ(t.FindOrAdd(7), a) << "found, not added again";
  t.at(a).name = 42;
  // Ids equal in their low 12 bits share a direct entry: the second goes to the overflow map.
  const uint32_t b = t.FindOrAdd(7 + 4096);
  const uint32_t c = t.FindOrAdd(7 + 2 * 4096);
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  EXPECT_EQ(t.Find(7), a);
  EXPECT_EQ(t.Find(7 + 4096), b);
  EXPECT_EQ(t.Find(7 + 2 * 4096), c);
  EXPECT_EQ(t.at(t.Find(7)).name, 42u);
  EXPECT_EQ(t.at(b).name, 0u) << "a new entry is zero but for its id";
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(Listed(t), (std::set<uint64_t>{7, 7 + 4096, 7 + 2 * 4096}));

  // Erasing the direct one leaves the overflow ones findable; a new id may take the entry.
  t.Erase(7);
  EXPECT_EQ(t.Find(7), TaskTable::kNoSlot);
  EXPECT_EQ(t.Find(7 + 4096), b);
  EXPECT_EQ(t.Find(7 + 2 * 4096), c);
  t.Erase(7 + 2 * 4096);
  EXPECT_EQ(t.Find(7 + 2 * 4096), TaskTable::kNoSlot);
  EXPECT_EQ(t.Find(7 + 4096), b);
  t.Erase(12345);  // not tracked: nothing happens
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(Listed(t), (std::set<uint64_t>{7 + 4096}));
  const uint32_t d = t.FindOrAdd(7 + 3 * 4096);
  EXPECT_EQ(t.Find(7 + 3 * 4096), d);
  EXPECT_EQ(t.Find(7 + 4096), b);
}

TEST(TaskTableTest, AKeptSlotIsValidOnlyWhileItHoldsItsId) {
  TaskTable t;
  const uint32_t s = t.FindOrAdd(5);
  EXPECT_TRUE(t.Valid(s, 5));
  EXPECT_FALSE(t.Valid(s, 6));
  EXPECT_FALSE(t.Valid(TaskTable::kNoSlot, 5));
  t.Erase(5);
  EXPECT_FALSE(t.Valid(s, 5));
  const uint32_t s2 = t.FindOrAdd(9);  // reuses the freed slot
  EXPECT_EQ(s2, s);
  EXPECT_FALSE(t.Valid(s, 5));
  EXPECT_TRUE(t.Valid(s, 9));
}

TEST(TaskTableTest, IdZeroGetsTheScratchSlotWhichIsNeverListed) {
  TaskTable t;
  EXPECT_EQ(t.Find(0), TaskTable::kNoSlot);
  const uint32_t z = t.FindOrAdd(0);
  t.at(z).name = 3;
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(Listed(t).empty());
  EXPECT_FALSE(t.Valid(z, 0));
  // A live id that is a multiple of 4096 (direct entry 0) is tracked on its own.
  const uint32_t s = t.FindOrAdd(4096);
  EXPECT_NE(s, z);
  EXPECT_EQ(t.Find(4096), s);
  EXPECT_EQ(t.at(t.FindOrAdd(0)).name, 0u) << "the scratch slot is reset on each use";
  EXPECT_EQ(Listed(t), (std::set<uint64_t>{4096}));
}

TEST(TaskTableTest, ClearForgetsEverything) {
  TaskTable t;
  for (uint64_t id = 1; id < 10000; id += 7) t.FindOrAdd(id);
  t.Clear();
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(Listed(t).empty());
  for (uint64_t id = 1; id < 10000; id += 7) EXPECT_EQ(t.Find(id), TaskTable::kNoSlot) << id;
  const uint32_t s = t.FindOrAdd(8);
  EXPECT_EQ(t.Find(8), s);
}

// Against a std::map model: random adds and erases over ids that collide in the direct table.
TEST(TaskTableTest, MatchesAMapUnderRandomAddsAndErases) {
  TaskTable t;
  std::map<uint64_t, uint32_t> model;  // id -> name written at its slot
  std::mt19937_64 rng(15);
  for (int step = 0; step < 200000; ++step) {
    const uint64_t id = 1 + (rng() % 64) * 4096 + rng() % 8;  // few low bits, many collisions
    if (rng() % 3 == 0) {
      t.Erase(id);
      model.erase(id);
    } else {
      const uint32_t s = t.FindOrAdd(id);
      ASSERT_EQ(t.at(s).id, id);
      if (auto it = model.find(id); it != model.end()) {
        ASSERT_EQ(t.at(s).name, it->second) << "an existing task keeps its state";
      } else {
        ASSERT_EQ(t.at(s).name, 0u);
      }
      const auto name = static_cast<uint32_t>(step);
      t.at(s).name = name;
      model[id] = name;
    }
    ASSERT_EQ(t.size(), model.size());
  }
  std::set<uint64_t> ids;
  for (const auto& [id, name] : model) {
    ids.insert(id);
    const uint32_t s = t.Find(id);
    ASSERT_NE(s, TaskTable::kNoSlot);
    EXPECT_EQ(t.at(s).name, name);
  }
  EXPECT_EQ(Listed(t), ids);
}

}  // namespace
// The slab grows in chunks that never move (a crash handler reads them while the collector
// works): slots far past the first chunk keep their tasks, and the crash-side walk sees
// exactly the tracked ones.
TEST(TaskTableTest, ChunksHoldManyTasksAndTheCrashWalkSeesExactlyTheTrackedOnes) {
  TaskTable t;
  constexpr uint64_t kTasks = 10000;  // three chunks
  for (uint64_t id = 1; id <= kTasks; ++id) {
    const uint32_t slot = t.FindOrAdd(id);
    t.at(slot).seq = id * 3;
  }
  const TrackedTask* first = &t.at(t.Find(1));
  for (uint64_t id = 2; id <= kTasks; id += 2) t.Erase(id);
  EXPECT_EQ(&t.at(t.Find(1)), first) << "a slot never moves";
  size_t walked = 0;
  uint64_t sum = 0;
  struct Acc {
    size_t* n;
    uint64_t* sum;
  } acc{&walked, &sum};
  const size_t n = t.ForEachForCrash(
      [](const TrackedTask& task, void* c) {
        auto* a = static_cast<Acc*>(c);
        ++*a->n;
        *a->sum += task.seq;
        EXPECT_EQ(task.id % 2, 1u);
      },
      &acc);
  EXPECT_EQ(n, kTasks / 2);
  EXPECT_EQ(walked, kTasks / 2);
  EXPECT_EQ(sum, 3 * (kTasks / 2) * (kTasks / 2));  // 3 * (1 + 3 + ... + 9999)
  t.Clear();
  EXPECT_EQ(t.ForEachForCrash([](const TrackedTask&, void*) {}, nullptr), 0u);
  EXPECT_EQ(t.Find(1), TaskTable::kNoSlot);
  EXPECT_EQ(t.at(t.FindOrAdd(7)).id, 7u);
}

}  // namespace tracer::tracer_internal
