// TaskStates: applying task-state changes, and merging the threads' runs in time order.

#include "tracer/internal/state_events.h"

#include <vector>

#include "gtest/gtest.h"

namespace tracer::tracer_internal {
namespace {

using format::EventType;
using format::TaskStatus;

StateEvent Ev(uint64_t tick, EventType type, uint64_t a0, uint64_t a1 = 0, uint64_t a2 = 0,
              uint32_t a3 = 0, uint32_t a4 = 0) {
  return {tick << 8 | static_cast<uint8_t>(type), a0, a1, a2, a3, a4};
}

const TrackedTask* Find(const TaskStates& s, uint64_t id) {
  const uint32_t slot = s.tasks().Find(id);
  if (slot == TaskTable::kNoSlot) return nullptr;
  const TrackedTask* out = nullptr;
  s.tasks().ForEach([&](const TrackedTask& t) {
    if (t.id == id) out = &t;
  });
  return out;
}

TEST(StateEventsTest, EachEventMovesItsTask) {
  TaskStates s;
  RunState run{.thread = 3};
  s.ApplyStateEvent(Ev(1, EventType::kTaskCreate, 9, /*parent=*/2, /*name=*/5, /*labels=*/6),
                    run);
  const TrackedTask* t = Find(s, 9);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->status, TaskStatus::kRunnable);
  EXPECT_EQ(t->parent, 2u);
  EXPECT_EQ(t->name, 5u);
  EXPECT_EQ(t->labels, 6u);
  s.ApplyStateEvent(Ev(2, EventType::kTaskStart, 9, /*seq=*/1), run);
  EXPECT_EQ(Find(s, 9)->status, TaskStatus::kRunning);
  EXPECT_EQ(Find(s, 9)->thread, 3u);
  EXPECT_EQ(run.task, 9u);
  s.ApplyStateEvent(Ev(3, EventType::kSyscallBegin, 0), run);
  EXPECT_EQ(Find(s, 9)->status, TaskStatus::kSyscall);
  s.ApplyStateEvent(Ev(4, EventType::kSyscallEnd, 0), run);
  EXPECT_EQ(Find(s, 9)->status, TaskStatus::kRunning);
  s.ApplyStateEvent(Ev(5, EventType::kLabels, 9, 8), run);
  EXPECT_EQ(Find(s, 9)->labels, 8u);
  s.ApplyStateEvent(Ev(6, EventType::kTaskBlock, 9,
                       static_cast<uint64_t>(format::BlockReason::kMutex)),
                    run);
  EXPECT_EQ(Find(s, 9)->status, TaskStatus::kBlocked);
  EXPECT_EQ(Find(s, 9)->reason, format::BlockReason::kMutex);
  EXPECT_EQ(Find(s, 9)->thread, 0u);
  EXPECT_EQ(run.task, 0u);
  s.ApplyStateEvent(Ev(7, EventType::kSyscallBegin, 0), run);  // no task running: no change
  EXPECT_EQ(Find(s, 9)->status, TaskStatus::kBlocked);
  s.ApplyStateEvent(Ev(8, EventType::kTaskUnblock, 9, /*seq=*/2), run);
  EXPECT_EQ(Find(s, 9)->status, TaskStatus::kRunnable);
  EXPECT_EQ(Find(s, 9)->seq, 2u);
  s.ApplyStateEvent(Ev(9, EventType::kUserTaskBegin, 40, 0, /*name=*/12), run);
  ASSERT_EQ(s.user_tasks().count(40), 1u);
  EXPECT_EQ(s.user_tasks().at(40).name, 12u);
  s.ApplyStateEvent(Ev(10, EventType::kUserTaskEnd, 40), run);
  EXPECT_EQ(s.user_tasks().count(40), 0u);
  s.ApplyStateEvent(Ev(11, EventType::kTaskEnd, 9), run);
  EXPECT_EQ(Find(s, 9), nullptr);
}

// Thread 1 creates task 5 and later unblocks it; thread 2 runs it and blocks in between.
// Applied run after run the unblock would come before the block; merged by tick it is last.
TEST(StateEventsTest, RunsAreMergedByTick) {
  TaskStates s;
  std::vector<StateEvent> events = {
      // run 0, thread 1
      Ev(1, EventType::kTaskCreate, 5), Ev(10, EventType::kTaskUnblock, 5, 2),
      // run 1, thread 2
      Ev(4, EventType::kTaskStart, 5, 1), Ev(7, EventType::kTaskBlock, 5)};
  std::vector<size_t> runs = {0, 2};
  s.ApplyRuns(events, runs, {1, 2}, /*max_wait_ticks=*/0);
  const TrackedTask* t = Find(s, 5);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->status, TaskStatus::kRunnable);
  EXPECT_EQ(t->seq, 2u);
  EXPECT_EQ(s.RunningOn(2), 0u);
}

// Equal ticks keep run order (as a stable sort by tick would), and the task running on a
// thread carries over to the next generation's runs.
TEST(StateEventsTest, TiesGoToTheEarlierRunAndTheRunningTaskCarriesOver) {
  TaskStates s;
  {
    std::vector<StateEvent> events = {Ev(5, EventType::kTaskCreate, 8),
                                      Ev(5, EventType::kTaskStart, 8, 1)};
    std::vector<size_t> runs = {0, 1};
    s.ApplyRuns(events, runs, {1, 2}, /*max_wait_ticks=*/0);  // create (run 0) before start (run 1) at tick 5
    ASSERT_NE(Find(s, 8), nullptr);
    EXPECT_EQ(Find(s, 8)->status, TaskStatus::kRunning);
    EXPECT_EQ(Find(s, 8)->thread, 2u);
    EXPECT_EQ(s.RunningOn(2), 8u);
  }
  {
    // Next generation: thread 2's syscall applies to the task it was left running.
    std::vector<StateEvent> events = {Ev(1, EventType::kSyscallBegin, 0)};
    std::vector<size_t> runs = {0};
    s.ApplyRuns(events, runs, {2}, /*max_wait_ticks=*/0);
    EXPECT_EQ(Find(s, 8)->status, TaskStatus::kSyscall);
  }
  s.Clear();
  EXPECT_EQ(Find(s, 8), nullptr);
  EXPECT_EQ(s.RunningOn(2), 0u);
}

}  // namespace
}  // namespace tracer::tracer_internal
