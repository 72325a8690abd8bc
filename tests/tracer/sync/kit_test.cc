// The kit's primitives: their semantics under stress, then the events a scripted scenario
// records (block, unblock, waker, object, stacks) on plain threads.

#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/tracer/test_util.h"
#include "tracer/internal/self_task.h"
#include "tracer/scopes.h"
#include "tracer/sink.h"
#include "tracer/sync/cond_var.h"
#include "tracer/sync/mutex.h"
#include "tracer/sync/wait_group.h"
#include "tracer/tracer.h"

namespace tracer {
namespace {

using format::EventType;
using testing::ReadBack;
using testing::ReadTrace;

#ifdef TRACER_TSAN
constexpr int kScale = 10;
#else
constexpr int kScale = 1;
#endif

// Events of `type` in the trace.
std::vector<std::pair<format::Event, size_t>> Events(const ReadBack& rb, EventType type) {
  std::vector<std::pair<format::Event, size_t>> out;
  for (const auto& e : rb.events) {
    if (e.first.type == type) out.push_back(e);
  }
  return out;
}

bool StackNames(const format::Generation& gen, uint64_t stack, absl::string_view func) {
  const format::Stack* st = gen.FindStack(stack);
  if (st == nullptr) return false;
  for (const auto& f : st->frames) {
    if (absl::StrContains(gen.String(f.func), func)) return true;
  }
  return false;
}

void WaitUntil(const std::function<bool()>& cond) {
  for (int i = 0; i < 20000 && !cond(); ++i) absl::SleepFor(absl::Microseconds(100));
  ASSERT_TRUE(cond());
}

// Names the calling thread for the OS and for the tracer (which reads the OS name only when a
// thread first registers: the test binary's main thread registered in an earlier test).
void Name(const char* name) {
  pthread_setname_np(pthread_self(), name);
  SetThreadName(name);
}

// --- Semantics -------------------------------------------------------------------------

TEST(MutexTest, MutualExclusionUnderStress) {
  Mutex mu;
  int64_t counter = 0;  // guarded by mu
  std::atomic<int> inside{0};
  constexpr int kThreads = 4, kIters = 20000 / kScale;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < kIters; ++i) {
        std::lock_guard<Mutex> l(mu);
        EXPECT_EQ(inside.fetch_add(1), 0);
        ++counter;
        inside.fetch_sub(1);
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(counter, int64_t{kThreads} * kIters);
}

TEST(MutexTest, TryLockAndStdGuards) {
  Mutex mu;
  EXPECT_TRUE(mu.TryLock());
  std::thread([&] { EXPECT_FALSE(mu.try_lock()); }).join();
  mu.Unlock();
  {
    std::unique_lock<Mutex> l(mu);
    EXPECT_FALSE(mu.TryLock());
  }
  Mutex other;
  { std::scoped_lock l(mu, other); }
  EXPECT_TRUE(mu.TryLock());
  mu.Unlock();
}

TEST(MutexTest, AWaiterStarvedPastOneMillisecondGetsTheLock) {
  // Two threads hammer the lock; a third must still get it (hand-over mode).
  Mutex mu;
  std::atomic<bool> stop{false};
  std::vector<std::thread> hogs;
  for (int i = 0; i < 2; ++i) {
    hogs.emplace_back([&] {
      while (!stop.load()) {
        MutexLock l(mu);
        for (int k = 0; k < 200; ++k) asm volatile("" ::: "memory");  // a short hold
      }
    });
  }
  for (int i = 0; i < 200 / kScale; ++i) {
    MutexLock l(mu);
  }
  stop = true;
  for (auto& t : hogs) t.join();
}

TEST(RwMutexTest, ReadersShareWritersExclude) {
  RwMutex mu;
  std::atomic<int> readers{0}, writers{0}, max_readers{0};
  int64_t value = 0;
  constexpr int kIters = 5000 / kScale;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kIters; ++i) {
        if ((i + t) % 4 == 0) {
          WriterMutexLock l(mu);
          EXPECT_EQ(writers.fetch_add(1), 0);
          EXPECT_EQ(readers.load(), 0);
          ++value;
          writers.fetch_sub(1);
        } else {
          std::shared_lock<RwMutex> l(mu);
          const int r = readers.fetch_add(1) + 1;
          int m = max_readers.load();
          while (r > m && !max_readers.compare_exchange_weak(m, r)) {
          }
          EXPECT_EQ(writers.load(), 0);
          readers.fetch_sub(1);
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  int64_t expected = 0;
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < kIters; ++i) expected += (i + t) % 4 == 0;
  }
  EXPECT_EQ(value, expected);
  EXPECT_TRUE(mu.TryLock());
  EXPECT_FALSE(mu.ReaderTryLock());
  mu.Unlock();
  EXPECT_TRUE(mu.ReaderTryLock());
  EXPECT_TRUE(mu.ReaderTryLock());
  EXPECT_FALSE(mu.TryLock());
  mu.ReaderUnlock();
  mu.ReaderUnlock();
}

TEST(CondVarTest, NoLostWakeupsProducerConsumer) {
  Mutex mu;
  CondVar cv;
  std::vector<int> queue;  // guarded by mu
  constexpr int kItems = 20000 / kScale;
  int64_t sum = 0;
  std::thread consumer([&] {
    for (int got = 0; got < kItems;) {
      MutexLock l(mu);
      while (queue.empty()) cv.Wait(mu);
      for (int v : queue) sum += v;
      got += static_cast<int>(queue.size());
      queue.clear();
    }
  });
  for (int i = 1; i <= kItems; ++i) {
    MutexLock l(mu);
    queue.push_back(i);
    cv.Signal();
  }
  consumer.join();
  EXPECT_EQ(sum, int64_t{kItems} * (kItems + 1) / 2);
}

TEST(CondVarTest, WaitForTimesOutAndSignalAllWakesEveryone) {
  Mutex mu;
  CondVar cv;
  {
    MutexLock l(mu);
    const absl::Time t0 = absl::Now();
    EXPECT_TRUE(cv.WaitFor(mu, absl::Milliseconds(20)));
    EXPECT_GE(absl::Now() - t0, absl::Milliseconds(19));
  }
  int ready = 0, woke = 0;  // guarded by mu
  bool go = false;
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i) {
    ts.emplace_back([&] {
      MutexLock l(mu);
      ++ready;
      while (!go) cv.Wait(mu);
      ++woke;
    });
  }
  WaitUntil([&] {
    MutexLock l(mu);
    return ready == 3;
  });
  {
    MutexLock l(mu);
    go = true;
  }
  cv.SignalAll();
  for (auto& t : ts) t.join();
  EXPECT_EQ(woke, 3);
  MutexLock l(mu);
  EXPECT_TRUE(cv.WaitFor(mu, absl::ZeroDuration())) << "nobody signals: times out";
}

TEST(WaitGroupTest, WaitReturnsAfterTheLastDone) {
  for (int round = 0; round < 50 / kScale + 1; ++round) {
    WaitGroup wg;
    std::atomic<int> done{0};
    wg.Add(4);
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; ++i) {
      ts.emplace_back([&] {
        done.fetch_add(1);
        wg.Done();
      });
    }
    wg.Wait();
    EXPECT_EQ(done.load(), 4);
    for (auto& t : ts) t.join();
  }
  WaitGroup empty;
  empty.Wait();  // zero: returns at once
  WaitGroup never(1);
  EXPECT_FALSE(never.WaitFor(absl::Milliseconds(5)));
  never.Done();
  EXPECT_TRUE(never.WaitFor(absl::Milliseconds(5)));
}

TEST(WaitGroupDeathTest, NegativeCountAborts) {
  EXPECT_DEATH(
      {
        WaitGroup wg;
        wg.Done();
      },
      "negative count");
}

TEST(NotificationTest, NotifyReleasesWaitersAndTimeouts) {
  Notification n;
  EXPECT_FALSE(n.HasBeenNotified());
  EXPECT_FALSE(n.WaitForNotificationWithTimeout(absl::Milliseconds(5)));
  std::vector<std::thread> ts;
  std::atomic<int> woke{0};
  for (int i = 0; i < 3; ++i) {
    ts.emplace_back([&] {
      n.WaitForNotification();
      woke.fetch_add(1);
    });
  }
  n.Notify();
  for (auto& t : ts) t.join();
  EXPECT_EQ(woke.load(), 3);
  EXPECT_TRUE(n.HasBeenNotified());
  EXPECT_TRUE(n.WaitForNotificationWithTimeout(absl::ZeroDuration()));
}

// --- Events ----------------------------------------------------------------------------

class KitEventsTest : public ::testing::Test {
 protected:
  void Start() {
    TraceOptions o;
    o.generation_period = absl::Milliseconds(50);
    ASSERT_TRUE(StartTrace(sink_, o).ok());
  }
  ReadBack Stop() {
    EXPECT_TRUE(StopTrace().ok());
    auto rb = ReadTrace(sink_.Release());
    EXPECT_TRUE(rb.ok()) << rb.status();
    return rb.ok() ? *std::move(rb) : ReadBack{};
  }
  StringSink sink_;
};

ABSL_ATTRIBUTE_NOINLINE void KitTestLockSite(Mutex& mu) {
  mu.Lock();
  mu.Unlock();
}
ABSL_ATTRIBUTE_NOINLINE void KitTestUnlockSite(Mutex& mu) {
  mu.Unlock();
  asm volatile("" ::: "memory");  // not a tail call: the frame stays on the stack
}

TEST_F(KitEventsTest, ContendedMutexRecordsBlockAndUnblockWithTheUnlockSiteStack) {
  Mutex mu;
  Mutex quiet;  // locked and unlocked uncontended: records nothing
  Start();
  quiet.Lock();
  quiet.Unlock();
  uint64_t holder_task = 0, waiter_task = 0;
  mu.Lock();
  Name("kit-holder");
  std::thread waiter([&] {
    Name("kit-waiter");
    KitTestLockSite(mu);
    waiter_task = tracer_internal::ThreadTaskId();
  });
  WaitUntil([&] { return mu.HasWaiters(); });
  KitTestUnlockSite(mu);
  holder_task = tracer_internal::ThreadTaskId();
  waiter.join();
  ReadBack rb = Stop();
  ASSERT_NE(holder_task, 0u);
  ASSERT_NE(waiter_task, 0u);
  ASSERT_NE(holder_task, waiter_task);

  const uintptr_t obj = reinterpret_cast<uintptr_t>(&mu);
  auto blocks = Events(rb, EventType::kTaskBlock);
  auto unblocks = Events(rb, EventType::kTaskUnblock);
  ASSERT_GE(blocks.size(), 1u);
  for (const auto& [e, g] : blocks) {
    EXPECT_EQ(e.args[0], waiter_task);
    EXPECT_EQ(e.args[1], static_cast<uint64_t>(format::BlockReason::kMutex));
    EXPECT_EQ(e.args[2], obj) << "only the contended mutex records";
    EXPECT_TRUE(StackNames(*rb.generations[g], e.args[3], "KitTestLockSite"));
  }
  ASSERT_EQ(unblocks.size(), 1u);
  const auto& [u, ug] = unblocks[0];
  EXPECT_EQ(u.args[0], waiter_task);
  EXPECT_EQ(u.args[2], holder_task) << "the unlocker is the waker";
  EXPECT_EQ(u.args[3], obj);
  EXPECT_TRUE(StackNames(*rb.generations[ug], u.args[4], "KitTestUnlockSite"))
      << "the unblock carries the unlock site's stack";
  EXPECT_GE(u.tick, blocks[0].first.tick);
  // The waiter resumed after the unblock, and both threads are named tasks.
  bool resumed = false;
  for (const auto& [e, g] : Events(rb, EventType::kTaskStart)) {
    resumed |= e.args[0] == waiter_task && e.tick >= u.tick;
  }
  EXPECT_TRUE(resumed);
  std::map<uint64_t, std::string> created;
  for (const auto& [e, g] : Events(rb, EventType::kTaskCreate)) {
    created[e.args[0]] = std::string(rb.generations[g]->String(e.args[2]));
  }
  EXPECT_EQ(created[waiter_task], "kit-waiter");
  EXPECT_EQ(created[holder_task], "kit-holder");
  // The waiter's thread ended, and its task with it.
  bool ended = false;
  for (const auto& [e, g] : Events(rb, EventType::kTaskEnd)) ended |= e.args[0] == waiter_task;
  EXPECT_TRUE(ended);
}

TEST_F(KitEventsTest, CondVarWaitGroupNotificationAndSleepNameTheirWakers) {
  Mutex mu;
  CondVar cv;
  WaitGroup wg(1);
  Notification note;
  bool ready = false;
  Start();
  uint64_t waiter_task = 0, waker_task = 0;
  std::thread waiter([&] {
    Name("kit-cv-waiter");
    {
      MutexLock l(mu);
      while (!ready) cv.Wait(mu);
    }
    wg.Wait();
    note.WaitForNotification();
    tracer::SleepFor(absl::Milliseconds(2));
    waiter_task = tracer_internal::ThreadTaskId();
  });
  std::thread waker([&] {
    Name("kit-cv-waker");
    absl::SleepFor(absl::Milliseconds(20));
    {
      MutexLock l(mu);
      ready = true;
    }
    cv.Signal();
    absl::SleepFor(absl::Milliseconds(20));
    wg.Done();
    absl::SleepFor(absl::Milliseconds(20));
    note.Notify();
    waker_task = tracer_internal::ThreadTaskId();
  });
  waiter.join();
  waker.join();
  ReadBack rb = Stop();
  ASSERT_NE(waiter_task, 0u);
  ASSERT_NE(waker_task, 0u);
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> block_by_object;  // object -> reason, count
  std::vector<uint64_t> reasons;
  for (const auto& [e, g] : Events(rb, EventType::kTaskBlock)) {
    if (e.args[0] != waiter_task) continue;
    reasons.push_back(e.args[1]);
  }
  // The condvar wait, the wait group, the notification, the sleep, in order (a mutex wait on
  // the re-acquire only if it was contended: the waker had let go).
  std::vector<uint64_t> want = {static_cast<uint64_t>(format::BlockReason::kCondVar),
                                static_cast<uint64_t>(format::BlockReason::kWaitGroup),
                                static_cast<uint64_t>(format::BlockReason::kWaitGroup),
                                static_cast<uint64_t>(format::BlockReason::kSleep)};
  std::vector<uint64_t> got;
  for (uint64_t r : reasons) {
    if (r != static_cast<uint64_t>(format::BlockReason::kMutex)) got.push_back(r);
  }
  EXPECT_EQ(got, want);
  std::vector<uint64_t> objects;
  for (const auto& [e, g] : Events(rb, EventType::kTaskUnblock)) {
    if (e.args[0] != waiter_task) continue;
    EXPECT_EQ(e.args[2], waker_task) << "woken by the signaller, Done, Notify";
    EXPECT_NE(e.args[4], 0u) << "with the waker's stack";
    objects.push_back(e.args[3]);
  }
  EXPECT_EQ(objects, (std::vector<uint64_t>{reinterpret_cast<uintptr_t>(&cv),
                                            reinterpret_cast<uintptr_t>(&wg),
                                            reinterpret_cast<uintptr_t>(&note)}));
}

TEST_F(KitEventsTest, ScopesRecordSyscallsPhasesAndLabelsThatSurviveWaits) {
  Start();
  Mutex mu;
  uint64_t task = 0;
  std::vector<std::pair<std::string, std::string>> after_wait;
  std::thread t([&] {
    Name("kit-scopes");
    { ScopedSyscall s("pread"); }
    { ScopedPhase p("compaction", /*stop_the_world=*/true); }
    { ScopedThreadPhase p("assist"); }
    WithLabels({{"endpoint", "/get"}, {"shard", "3"}}, [&] {
      ScopedLabels inner({{"shard", "4"}});
      tracer::SleepFor(absl::Milliseconds(1));  // a wait and a resume
      after_wait = CurrentLabels();
    });
    task = tracer_internal::ThreadTaskId();
    EXPECT_TRUE(CurrentLabels().empty()) << "restored at the scope's end";
  });
  t.join();
  ReadBack rb = Stop();
  EXPECT_EQ(after_wait, (std::vector<std::pair<std::string, std::string>>{
                            {"endpoint", "/get"}, {"shard", "4"}}));
  auto sys = Events(rb, EventType::kSyscallBegin);
  ASSERT_EQ(sys.size(), 1u);
  EXPECT_EQ(rb.generations[sys[0].second]->String(sys[0].first.args[0]), "pread");
  auto phases = Events(rb, EventType::kPhaseBegin);
  ASSERT_EQ(phases.size(), 2u);
  EXPECT_EQ(rb.generations[phases[0].second]->String(phases[0].first.args[0]), "compaction");
  EXPECT_EQ(phases[0].first.args[1], format::kPhaseStopTheWorld);
  EXPECT_EQ(phases[1].first.args[1], format::kPhaseThreadScoped);
  EXPECT_EQ(Events(rb, EventType::kPhaseEnd).size(), 2u);
  auto labels = Events(rb, EventType::kLabels);
  ASSERT_EQ(labels.size(), 4u);  // set, override, restore, restore
  for (const auto& [e, g] : labels) EXPECT_EQ(e.args[0], task) << "on the thread's own task";
  EXPECT_EQ(labels[3].first.args[1], 0u) << "back to no labels";
}

// In a child process: the cap is per process, and the other tests need their label sets.
void ExhaustLabelSets() {
  const uint64_t before = GetTracerStats().label_sets_dropped;
  for (int i = 0; i < 1100; ++i) {
    ScopedLabels l({{"capped", std::to_string(i)}});
  }
  const uint64_t dropped = GetTracerStats().label_sets_dropped - before;
  ScopedLabels l({{"capped", "0"}});  // a set the process already has still applies
  ScopedLabels m({{"capped", "new"}});  // a new one does not: the labels stay
  const auto now = CurrentLabels();
  const bool ok = dropped >= 1100 - 1024 && dropped < 1100 && now.size() == 1 &&
                  now[0].second == "0";
  std::_Exit(ok ? 0 : 1);
}

TEST(LabelsDeathTest, DistinctLabelSetsAreCappedAndCounted) {
  EXPECT_EXIT(ExhaustLabelSets(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace tracer
