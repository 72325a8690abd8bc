// The analyses on traces the kit records, with timing the test sets: a 50 ms hold of a
// tracer::Mutex by a known function, a one-worker pool given more jobs than it can run, and a
// 20 ms stop-the-world phase every 100 ms. What each analysis prints must match the script
// within the stated tolerance: sleeps overshoot (more so under the sanitizers), so upper
// bounds are loose and lower bounds tight.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "format/byte_source.h"
#include "format/trace_reader.h"
#include "gtest/gtest.h"
#include "tools/analysis/mmu.h"
#include "tools/analysis/pprof.h"
#include "tools/analysis/tasks.h"
#include "tracer/scopes.h"
#include "tracer/sink.h"
#include "tracer/sync/mutex.h"
#include "tracer/sync/thread_pool.h"
#include "tracer/tracer.h"

// The holder and the waiter, outside namespace tracer: profiles' flat summaries skip the
// tracer's own frames (tracer::...) to name the caller.
namespace kit_scenarios {

ABSL_ATTRIBUTE_NOINLINE void ScenarioHolder(tracer::Mutex& mu, std::atomic<bool>& locked) {
  mu.Lock();
  locked = true;
  absl::SleepFor(absl::Milliseconds(50));  // holding it: running, not a wait
  mu.Unlock();
  asm volatile("" ::: "memory");  // not a tail call: this frame is the unlock site
}

ABSL_ATTRIBUTE_NOINLINE void ScenarioWaiter(tracer::Mutex& mu) {
  mu.Lock();
  mu.Unlock();
  asm volatile("" ::: "memory");
}

}  // namespace kit_scenarios

namespace tracer {
namespace {

using kit_scenarios::ScenarioHolder;
using kit_scenarios::ScenarioWaiter;

constexpr int64_t kMs = 1'000'000;
// Slack for sleeps that overshoot and threads that start late, on a loaded 2-core machine
// under a sanitizer.
constexpr int64_t kSlackNs = 150 * kMs;

// Records what `scenario` does and returns the trace.
template <typename F>
std::string Record(F scenario) {
  StringSink sink;
  TraceOptions o;
  o.generation_period = absl::Milliseconds(100);
  EXPECT_TRUE(StartTrace(sink, o).ok());
  scenario();
  EXPECT_TRUE(StopTrace().ok());
  return sink.Release();
}

std::unique_ptr<format::TraceReader> Reader(const std::string& trace) {
  auto reader = format::TraceReader::FromSource(format::MakeStringSource(trace));
  EXPECT_TRUE(reader.ok()) << reader.status();
  return reader.ok() ? std::move(*reader) : nullptr;
}

analysis::ProfileResult Profile(const std::string& trace, analysis::ProfileKind kind) {
  auto reader = Reader(trace);
  analysis::ProfileOptions options;
  options.kind = kind;
  auto r = analysis::ComputeProfile(reader.get(), options);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::move(*r) : analysis::ProfileResult{};
}

// The delay a profile charges to frames whose function contains `function`, as its flat
// summary (tracer:: frames skipped) gives it.
int64_t FlatDelay(const analysis::ProfileResult& r, absl::string_view function) {
  if (r.profile == nullptr) return -1;
  int64_t total = 0;
  for (const analysis::FlatEntry& e : analysis::FlatProfile(*r.profile)) {
    if (absl::StrContains(e.function, function)) total += e.value;
  }
  return total;
}

TEST(KitScenariosTest, AWaitOnAMutexHeld50msIsChargedToTheHolderAndTheWaiter) {
  const std::string trace = Record([] {
    Mutex mu;
    std::atomic<bool> locked{false};
    std::thread holder([&] { ScenarioHolder(mu, locked); });
    while (!locked) std::this_thread::yield();
    const absl::Time start = absl::Now();
    std::thread waiter([&] { ScenarioWaiter(mu); });
    waiter.join();
    holder.join();
    // The wait began after `start`: at most 50 ms, at least 50 ms less the waiter's start.
    EXPECT_GE(absl::Now() - start, absl::Milliseconds(1));
  });
  // Go's mutex profile: the wait under the unlocker, the holder.
  const analysis::ProfileResult mutex = Profile(trace, analysis::ProfileKind::kMutex);
  EXPECT_EQ(mutex.intervals, 1u);
  EXPECT_GE(mutex.total_ns, 30 * kMs) << "the waiter started within 20 ms of the lock";
  EXPECT_LE(mutex.total_ns, 50 * kMs + kSlackNs);
  EXPECT_EQ(FlatDelay(mutex, "ScenarioHolder"), mutex.total_ns);
  // The sync profile: the same wait under the waiter.
  const analysis::ProfileResult sync = Profile(trace, analysis::ProfileKind::kSync);
  EXPECT_EQ(sync.intervals, 1u);
  EXPECT_EQ(sync.total_ns, mutex.total_ns);
  EXPECT_EQ(FlatDelay(sync, "ScenarioWaiter"), sync.total_ns);
  // The task analysis: the waiter's thread, as its own task, blocked on a mutex that long.
  auto reader = Reader(trace);
  auto tasks = analysis::ComputeTasks(reader.get(), {});
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  int64_t mutex_blocked = 0;
  const size_t mutex_state = static_cast<size_t>(analysis::ThreadTimeState::kBlocked) +
                             static_cast<size_t>(format::BlockReason::kMutex);
  for (const analysis::TaskGroupReport& g : tasks->groups) {
    mutex_blocked += g.total.ns[mutex_state];
  }
  EXPECT_EQ(mutex_blocked, mutex.total_ns);
}

TEST(KitScenariosTest, JobsQueuedBehindOneWorkerAreRunnableForTheJobsAheadOfThem) {
  constexpr int kJobs = 4;
  constexpr int64_t kJobNs = 10 * kMs;
  const std::string trace = Record([] {
    ThreadPool pool("scenario-pool", 1);
    for (int i = 0; i < kJobs; ++i) {
      pool.Submit([] { absl::SleepFor(absl::Nanoseconds(kJobNs)); });
    }
    pool.Shutdown();
  });
  auto reader = Reader(trace);
  auto tasks = analysis::ComputeTasks(reader.get(), {});
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  const analysis::TaskGroupReport* pool = nullptr;
  for (const analysis::TaskGroupReport& g : tasks->groups) {
    if (g.name == "scenario-pool") pool = &g;
  }
  ASSERT_NE(pool, nullptr) << "no group for the pool's jobs";
  EXPECT_EQ(pool->count, static_cast<uint64_t>(kJobs));
  // Job k waits for the k jobs ahead of it: 0 + 10 + 20 + 30 ms.
  const int64_t runnable =
      pool->total.ns[static_cast<size_t>(analysis::ThreadTimeState::kRunnable)];
  EXPECT_GE(runnable, 60 * kMs);
  EXPECT_LE(runnable, 60 * kMs + kSlackNs);
  const int64_t running = pool->total.ns[static_cast<size_t>(analysis::ThreadTimeState::kRunning)];
  EXPECT_GE(running, kJobs * kJobNs);
  EXPECT_LE(running, kJobs * kJobNs + kSlackNs);
  // The parts of the jobs' lives add up to them.
  EXPECT_EQ(pool->total.total(), pool->life.sum());
  // The scheduler-latency profile holds the same runnable time, with every other task's (the
  // test's thread runs as a task too: its own creation to start).
  int64_t all_runnable = 0;
  for (const analysis::TaskGroupReport& g : tasks->groups) {
    all_runnable += g.total.ns[static_cast<size_t>(analysis::ThreadTimeState::kRunnable)];
  }
  const analysis::ProfileResult sched = Profile(trace, analysis::ProfileKind::kSched);
  EXPECT_EQ(sched.total_ns, all_runnable);
  EXPECT_LT(all_runnable - runnable, 1 * kMs);
}

TEST(KitScenariosTest, APause20msEvery100msLeaves80PercentOfA100msWindow) {
  constexpr int kPauses = 5;
  const std::string trace = Record([] {
    std::atomic<bool> stop{false};
    std::thread other([&] {
      Name("scenario-mutator");
      while (!stop) absl::SleepFor(absl::Milliseconds(5));
    });
    for (int i = 0; i < kPauses; ++i) {
      {
        ScopedPhase gc("scenario-gc", /*stop_the_world=*/true);
        absl::SleepFor(absl::Milliseconds(20));
      }
      absl::SleepFor(absl::Milliseconds(80));
    }
    stop = true;
    other.join();
  });
  auto reader = Reader(trace);
  analysis::MmuOptions options;
  options.windows_ns = {1 * kMs, 100 * kMs};
  auto mmu = analysis::ComputeMmu(reader.get(), options);
  ASSERT_TRUE(mmu.ok()) << mmu.status();
  EXPECT_EQ(mmu->stw_phases, static_cast<uint64_t>(kPauses));
  EXPECT_GE(mmu->stw_ns, kPauses * 20 * kMs);
  double at_1ms = -1, at_100ms = -1;
  for (const analysis::MmuPoint& w : mmu->points) {
    if (w.window_ns == 1 * kMs) at_1ms = w.mmu;
    if (w.window_ns == 100 * kMs) at_100ms = w.mmu;
  }
  EXPECT_EQ(at_1ms, 0.0) << "a 1 ms window inside a pause";
  // A 100 ms window holds one whole pause (20 ms, more if the sleep overshot) or parts of two
  // that sum to about as much: 1 - 20/100, less what the pauses overshot.
  EXPECT_LE(at_100ms, 0.8 + 0.01);
  EXPECT_GE(at_100ms, 0.8 - 0.15);
}

}  // namespace
}  // namespace tracer
