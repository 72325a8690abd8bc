// Many parked tasks do not push the recorder's generations out of its ring (issue #15, defect
// 8): a generation states only the tasks that appear in it, and the listing of every live task
// is written once, at the end of the dump.

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "recorder/flight_recorder.h"
#include "tests/tracer/test_util.h"
#include "tracer/hooks.h"
#include "tracer/tracer.h"

namespace tracer {
namespace {

#if defined(TRACER_TSAN) || defined(__SANITIZE_ADDRESS__)
constexpr int kTasks = 40000;
#else
constexpr int kTasks = 400000;
#endif

TEST(ParkedTasksTest, ManyParkedTasksLeaveADumpOfManyGenerationsAndAFullListing) {
  FlightRecorderConfig c;
  c.min_age = absl::Milliseconds(400);
  c.max_bytes = 4 << 20;
  FlightRecorder fr(c);
  ASSERT_TRUE(fr.Start().ok());
  static const Name kParked("parked");
  // Each task is made, started and parked on its own object (its slot), in chunks paced by
  // the pool: a chunk starts when at least half of the recorder's pool is free, so nothing is
  // dropped (a dropped event would leave a task out of the listing).
  auto tasks = std::make_unique<TaskRef[]>(kTasks);
  constexpr int kChunk = 1000;
  const uint64_t lost_before = GetTracerStats().events_lost;
  for (int i = 0; i < kTasks; i += kChunk) {
    for (int spins = 0; spins < 1000; ++spins) {
      const TracerStats ts = GetTracerStats();
      if (ts.pool_bytes_free * 2 >= ts.pool_bytes) break;
      absl::SleepFor(absl::Milliseconds(1));
    }
    for (int j = i; j < i + kChunk && j < kTasks; ++j) {
      hooks::TaskCreate(tasks[j], kParked);
      hooks::TaskStart(tasks[j]);
      hooks::TaskBlock(tasks[j], BlockReason::kChannel, &tasks[j]);
    }
  }
  ASSERT_EQ(GetTracerStats().events_lost, lost_before) << "parking dropped events";
  // Then the activity of a service: counters from a thread for well over min_age, so the
  // dump's window holds only generations in which the parked tasks do nothing.
  static const Name kTick("tick");
  for (int i = 0; i < 1500; ++i) {
    hooks::Counter(kTick, i);
    absl::SleepFor(absl::Milliseconds(1));
  }
  StringSink sink;
  DumpStats st;
  auto n = fr.WriteTo(sink, &st);
  ASSERT_TRUE(n.ok()) << n.status();
  const RecorderStats rs = fr.Stats();
  ASSERT_TRUE(fr.Stop().ok());
  EXPECT_EQ(rs.generations_too_large, 0u) << "a generation's size follows its activity";
  auto rb = testing::ReadTrace(sink.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  ASSERT_GE(rb->generations.size(), 2u);
  const format::Generation& listing = *rb->generations.back();
  ASSERT_TRUE(listing.listing);
  const size_t window = rb->generations.size() - 1;
  EXPECT_EQ(st.generations, window);
  // About min_age / period generations: many, not the one or two a ring full of task tables
  // left before.
  const auto expected = static_cast<size_t>(c.min_age / rs.generation_period);
  EXPECT_GE(window, std::max<size_t>(3, expected / 2)) << "period " << rs.generation_period;
  EXPECT_GE(st.covered, c.min_age);
  for (size_t g = 0; g < window; ++g) {
    EXPECT_LT(rb->generations[g]->tasks.size(), 100u)
        << "generation " << g << " states tasks it has no events of";
  }
  // The listing names every parked task, blocked on its own object, and where it blocked.
  EXPECT_EQ(st.tasks_listed, listing.live_tasks.size());
  ASSERT_GE(listing.live_tasks.size(), static_cast<size_t>(kTasks));
  absl::flat_hash_map<uint64_t, int> index;
  for (int i = 0; i < kTasks; ++i) index[tasks[i].id] = i;
  size_t parked = 0, with_stack = 0;
  for (const format::LiveTask& t : listing.live_tasks) {
    auto it = index.find(t.id);
    if (it == index.end()) continue;
    ++parked;
    const int i = it->second;
    ASSERT_EQ(t.status, format::TaskStatus::kBlocked) << "task " << t.id;
    ASSERT_EQ(t.reason, BlockReason::kChannel);
    ASSERT_EQ(t.object, reinterpret_cast<uint64_t>(&tasks[i]));
    ASSERT_EQ(listing.String(t.name), "parked");
    ASSERT_NE(t.since_tick, 0u);
    if (t.stack != 0) ++with_stack;
  }
  EXPECT_EQ(parked, static_cast<size_t>(kTasks));
  EXPECT_EQ(with_stack, parked) << "stacks are on by default: each where its task blocked";
  RecordProperty("generations", static_cast<int>(window));
  RecordProperty("listing_bytes", static_cast<int>(listing.file_size));
  RecordProperty("dump_bytes", static_cast<int>(st.bytes));
}

}  // namespace
}  // namespace tracer
