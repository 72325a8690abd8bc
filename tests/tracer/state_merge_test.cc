// The collector's scan of crafted batches and the merge of their task-state events: the
// bounded scan (a window of each thread's run) gives the states an unbounded merge gives, in
// a fixed budget of records; a task's own order (seq) wins over threads' ticks.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <map>
#include <new>
#include <random>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

#include "format/event_table.h"
#include "format/internal/varint.h"
#include "gtest/gtest.h"
#include "recorder/flight_recorder.h"
#include "tests/tracer/test_util.h"
#include "tracer/hooks.h"
#include "tracer/tracer.h"
#include "tracer/internal/batch_scan.h"
#include "tracer/internal/state_events.h"
#include "tracer/internal/thread_state.h"

namespace tracer::tracer_internal {
namespace {

using format::BlockReason;
using format::EventType;
using format::TaskStatus;

struct Ev {
  uint64_t thread;
  uint64_t tick;
  EventType type;
  std::vector<uint64_t> args;
};

Ev Start(uint64_t th, uint64_t tick, uint64_t task, uint64_t seq) {
  return {th, tick, EventType::kTaskStart, {task, seq}};
}
Ev Unblock(uint64_t th, uint64_t tick, uint64_t task, uint64_t seq) {
  return {th, tick, EventType::kTaskUnblock, {task, seq, 0, 0, 0}};
}
Ev Block(uint64_t th, uint64_t tick, uint64_t task) {
  return {th, tick, EventType::kTaskBlock, {task, static_cast<uint64_t>(BlockReason::kMutex), 0, 0}};
}
Ev Yield(uint64_t th, uint64_t tick, uint64_t task) {
  return {th, tick, EventType::kTaskYield, {task}};
}
Ev Create(uint64_t th, uint64_t tick, uint64_t task) {
  return {th, tick, EventType::kTaskCreate, {task, 0, 1, 0, 0}};
}

// One generation's batches, built from events (each thread's in tick order), split into
// batches of at most `per_batch` events.
class Batches {
 public:
  Batches(std::vector<Ev> events, size_t per_batch) {
    std::stable_sort(events.begin(), events.end(),
                     [](const Ev& a, const Ev& b) { return a.thread < b.thread; });
    for (size_t i = 0; i < events.size();) {
      size_t j = i;
      uint64_t seq = 0;
      while (j < events.size() && events[j].thread == events[i].thread) {
        const size_t k = std::min(j + per_batch, static_cast<size_t>(
                                                     std::find_if(events.begin() + j, events.end(),
                                                                  [&](const Ev& e) {
                                                                    return e.thread != events[i].thread;
                                                                  }) -
                                                     events.begin()));
        Add(events.begin() + j, events.begin() + k, seq++);
        j = k;
      }
      i = j;
    }
  }
  ~Batches() {
    for (Buffer* b : buffers_) ::operator delete(b, std::align_val_t{64});
  }
  absl::Span<Buffer* const> span() const { return absl::MakeConstSpan(buffers_); }

 private:
  void Add(std::vector<Ev>::const_iterator begin, std::vector<Ev>::const_iterator end,
           uint64_t seq) {
    const size_t cap = static_cast<size_t>(end - begin) * (2 + 11 * format::kMaxEventArgs) + 64;
    auto* b = static_cast<Buffer*>(::operator new(sizeof(Buffer) + cap, std::align_val_t{64}));
    std::memset(b, 0, sizeof(Buffer) + cap);
    b->gen = 1;
    b->capacity = static_cast<uint32_t>(cap);
    b->thread = begin->thread;
    b->seq = seq;
    b->base_tick = begin->tick > 3 ? begin->tick - 3 : 0;
    char* p = b->data;
    uint64_t last = b->base_tick;
    for (auto it = begin; it != end; ++it) {
      EXPECT_EQ(static_cast<int>(it->args.size()), format::GetEventSpec(it->type).num_args);
      *p++ = static_cast<char>(it->type);
      p = format_internal::EncodeVarint(p, it->tick - last);
      last = it->tick;
      for (uint64_t a : it->args) p = format_internal::EncodeVarint(p, a);
    }
    b->len = static_cast<uint32_t>(p - b->data);
    buffers_.push_back(b);
  }
  std::vector<Buffer*> buffers_;
};

// A TaskStates' observable result, comparable.
struct Snapshot {
  std::vector<format::TaskState> tasks;
  std::map<uint64_t, uint64_t> user_tasks;  // id -> name
  std::map<uint64_t, uint64_t> running_on;  // thread -> task
  bool operator==(const Snapshot&) const = default;
};

Snapshot Snap(const TaskStates& s, const std::vector<uint64_t>& threads) {
  Snapshot out;
  s.tasks().ForEach([&](const TrackedTask& tracked) {
    format::TaskState t = tracked.ToState();
    if (t.status != TaskStatus::kBlocked) t.reason = BlockReason::kUnknown;  // not kept up
    out.tasks.push_back(t);
  });
  std::sort(out.tasks.begin(), out.tasks.end(),
            [](const format::TaskState& a, const format::TaskState& b) { return a.id < b.id; });
  for (const auto& [id, u] : s.user_tasks()) out.user_tasks[id] = u.name;
  for (uint64_t th : threads) {
    if (uint64_t t = s.RunningOn(th); t != 0) out.running_on[th] = t;
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, const Snapshot& s) {
  for (const auto& t : s.tasks) {
    os << "[task " << t.id << " status " << static_cast<int>(t.status) << " thread " << t.thread
       << " seq " << t.seq << "] ";
  }
  for (const auto& [th, t] : s.running_on) os << "[thread " << th << " runs " << t << "] ";
  return os;
}

// The unbounded reference: every record of the generation in memory, one run per thread.
void ApplyWhole(TaskStates& s, std::vector<Ev> events, uint64_t max_wait) {
  std::stable_sort(events.begin(), events.end(),
                   [](const Ev& a, const Ev& b) { return a.thread < b.thread; });
  uint64_t base = ~uint64_t{0};
  for (const Ev& e : events) base = std::min(base, e.tick > 3 ? e.tick - 3 : 0);
  std::vector<StateEvent> records;
  std::vector<size_t> runs;
  std::vector<uint64_t> threads;
  for (size_t i = 0; i < events.size(); ++i) {
    const Ev& e = events[i];
    if (i == 0 || e.thread != events[i - 1].thread) {
      runs.push_back(records.size());
      threads.push_back(e.thread);
    }
    if (!IsStateEvent(e.type)) continue;
    uint64_t a[5] = {};  // as the scan fills them (batch_scan.cc)
    for (size_t k = 0; k < 5 && k < e.args.size(); ++k) a[k] = e.args[k];
    records.push_back({(e.tick - base) << 8 | static_cast<uint8_t>(e.type), a[0], a[1], a[2],
                       static_cast<uint32_t>(a[3]), static_cast<uint32_t>(a[4])});
  }
  s.ApplyRuns(records, runs, threads, max_wait);
}

// Scans one generation with the bounded scanner.
uint64_t ScanBounded(TaskStates& s, BatchScanner& scanner, const std::vector<Ev>& events,
                     size_t per_batch) {
  Batches b(events, per_batch);
  ScanResult r;
  scanner.Scan(b.span(), r, s);
  uint64_t counted = 0;
  for (const Buffer* buf : b.span()) counted += buf->count;
  EXPECT_EQ(counted, r.events);
  return r.events;
}

// A random multi-thread stream of state events (and others) with no meaning: ticks per thread
// non-decreasing, many equal across threads, threads ending at different times.
std::vector<Ev> RandomStream(std::mt19937_64& rng, int threads, int n) {
  std::vector<Ev> out;
  std::vector<uint64_t> tick(threads + 1, 1000);
  std::vector<int> len(threads + 1);
  for (int t = 1; t <= threads; ++t) len[t] = static_cast<int>(rng() % n);
  auto task = [&] { return 1 + rng() % 12; };
  for (int t = 1; t <= threads; ++t) {
    for (int i = 0; i < len[t]; ++i) {
      tick[t] += rng() % 3;  // 0: equal ticks
      const uint64_t th = static_cast<uint64_t>(t);
      switch (rng() % 13) {
        case 0: out.push_back(Create(th, tick[t], task())); break;
        case 1: case 2: out.push_back(Start(th, tick[t], task(), rng() % 8)); break;
        case 3: out.push_back(Block(th, tick[t], task())); break;
        case 4: out.push_back(Unblock(th, tick[t], task(), rng() % 8)); break;
        case 5: out.push_back(Yield(th, tick[t], task())); break;
        case 6: out.push_back({th, tick[t], EventType::kTaskEnd, {task()}}); break;
        case 7: out.push_back({th, tick[t], EventType::kSyscallBegin, {2, 0}}); break;
        case 8: out.push_back({th, tick[t], EventType::kSyscallEnd, {}}); break;
        case 9: out.push_back({th, tick[t], EventType::kLabels, {task(), 3}}); break;
        case 10: out.push_back({th, tick[t], EventType::kUserTaskBegin, {100 + task(), 0, 4, 0}}); break;
        case 11: out.push_back({th, tick[t], EventType::kUserTaskEnd, {100 + task()}}); break;
        default: out.push_back({th, tick[t], EventType::kRegionBegin, {0, 5, 0}}); break;
      }
    }
  }
  return out;
}

std::vector<uint64_t> Threads(int n) {
  std::vector<uint64_t> t;
  for (int i = 1; i <= n; ++i) t.push_back(static_cast<uint64_t>(i));
  return t;
}

TEST(BatchScannerTest, BoundedScanGivesTheUnboundedMergesStatesWithinItsBudget) {
  std::mt19937_64 rng(15);
  for (int iter = 0; iter < 300; ++iter) {
    const int threads = 1 + static_cast<int>(rng() % 6);
    const uint64_t wait = rng() % 2 ? 1000000 : 1 + rng() % 4;
    std::vector<std::vector<Ev>> gens = {RandomStream(rng, threads, 80),
                                         RandomStream(rng, threads, 80)};
    TaskStates ref;
    for (const auto& g : gens) ApplyWhole(ref, g, wait);
    const Snapshot want = Snap(ref, Threads(threads));
    for (size_t budget : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{64},
                          BatchScanner::kStateBudget}) {
      BatchScanner scanner(budget, wait);
      TaskStates got;
      for (const auto& g : gens) {
        const uint64_t events = ScanBounded(got, scanner, g, 1 + rng() % 20);
        EXPECT_EQ(events, g.size());
      }
      EXPECT_EQ(Snap(got, Threads(threads)), want) << "iteration " << iter << " budget " << budget;
      EXPECT_LE(scanner.state_window_capacity(), std::max<size_t>(budget, threads));
    }
  }
}

// A generation's records never exceed the budget, however many state events it has: a flood
// of yields and starts (64 bytes of records per ~8 bytes of batch).
TEST(BatchScannerTest, AYieldFloodHoldsOnlyTheBudget) {
  std::vector<Ev> events;
  for (uint64_t th = 1; th <= 4; ++th) {
    events.push_back(Create(th, 10, th));
    for (uint64_t i = 0; i < 50000; ++i) {
      events.push_back(Start(th, 20 + 2 * i, th, i + 1));
      events.push_back(Yield(th, 21 + 2 * i, th));
    }
    events.push_back(Start(th, 200000, th, 50001));
  }
  BatchScanner scanner;
  TaskStates s;
  EXPECT_EQ(ScanBounded(s, scanner, events, 8192), events.size());
  EXPECT_LE(scanner.state_window_capacity(), BatchScanner::kStateBudget);
  const Snapshot got = Snap(s, Threads(4));
  ASSERT_EQ(got.tasks.size(), 4u);
  for (const auto& t : got.tasks) {
    EXPECT_EQ(t.status, TaskStatus::kRunning);
    EXPECT_EQ(t.thread, t.id);
    EXPECT_EQ(t.seq, 50001u);
  }
}

// Task 7 blocked at the generation's start (seq 1). Its waker (thread 3) records the unblock
// (seq 2) at tick 105, after the wakee's start on thread 2 (seq 3) at tick 100: the task runs
// on thread 2 at the end (tick order alone left it runnable), and the next generation's table
// says so.
TEST(BatchScannerTest, AnUnblockTickedAfterTheWakeesStartLeavesItRunning) {
  for (size_t budget : {size_t{1}, size_t{2}, BatchScanner::kStateBudget}) {
    BatchScanner scanner(budget, 1000000);
    TaskStates s;
    ScanBounded(s, scanner, {Create(1, 10, 7), Start(1, 20, 7, 1), Block(1, 30, 7)}, 8);
    ScanBounded(s, scanner,
                {Start(2, 100, 7, 3), Unblock(3, 105, 7, 2), Start(3, 110, 8, 1)}, 8);
    const Snapshot got = Snap(s, Threads(3));
    ASSERT_EQ(got.tasks.size(), 2u);
    EXPECT_EQ(got.tasks[0].id, 7u);
    EXPECT_EQ(got.tasks[0].status, TaskStatus::kRunning) << got;
    EXPECT_EQ(got.tasks[0].thread, 2u);
    EXPECT_EQ(got.tasks[0].seq, 3u);
    EXPECT_EQ(s.RunningOn(2), 7u);
    EXPECT_EQ(s.RunningOn(3), 8u);
  }
}

// The unblock ticked before the block it ends (the waker's clock is behind): the block goes
// first. A yield ticked after the task's start on another thread: the yield goes first.
TEST(BatchScannerTest, ABlockOrYieldGoesBeforeTheUnblockOrStartThatFollowsIt) {
  BatchScanner scanner(2, 1000000);
  TaskStates s;
  ScanBounded(s, scanner, {Create(1, 10, 7), Create(1, 11, 9), Start(1, 20, 7, 1)}, 8);
  ScanBounded(s, scanner,
              {Block(1, 50, 7), Unblock(2, 45, 7, 2), Start(3, 48, 7, 3),  // 7
               Start(4, 60, 9, 1), Yield(4, 80, 9), Start(5, 75, 9, 2)},   // 9
              8);
  const Snapshot got = Snap(s, Threads(5));
  ASSERT_EQ(got.tasks.size(), 2u) << got;
  EXPECT_EQ(got.tasks[0].status, TaskStatus::kRunning) << got;
  EXPECT_EQ(got.tasks[0].thread, 3u) << got;
  EXPECT_EQ(got.tasks[1].status, TaskStatus::kRunning) << got;
  EXPECT_EQ(got.tasks[1].thread, 5u) << got;
  EXPECT_EQ(s.RunningOn(1), 0u);
  EXPECT_EQ(s.RunningOn(4), 0u);
}

// A start whose unblock was lost (seq 3 after 1, no seq 2 anywhere) still goes, after the wait
// bound, and the merge ends.
TEST(BatchScannerTest, AStartWhoseUnblockIsMissingGoesAfterTheWait) {
  BatchScanner scanner(1, 50);
  TaskStates s;
  ScanBounded(s, scanner, {Create(1, 10, 7), Start(1, 20, 7, 1), Block(1, 30, 7)}, 8);
  std::vector<Ev> g = {Start(2, 100, 7, 3), Yield(2, 1000, 7)};
  for (uint64_t i = 0; i < 100; ++i) g.push_back(Create(3, 100 + 10 * i, 100 + i));
  ScanBounded(s, scanner, g, 8);
  const Snapshot got = Snap(s, Threads(3));
  ASSERT_EQ(got.tasks.size(), 101u);
  EXPECT_EQ(got.tasks[0].status, TaskStatus::kRunnable) << got;
  EXPECT_EQ(got.tasks[0].seq, 3u);
  EXPECT_EQ(s.RunningOn(2), 0u);
}

// A simulated scheduler: threads start, block, yield and end tasks and unblock others, in
// real time; each thread's clock is off by its own skew. The merge recovers the real final
// states whatever the budget; by ticks alone it does not.
struct Simulated {
  std::vector<Ev> prefix, events;
  Snapshot truth;
};

Simulated Simulate(std::mt19937_64& rng, int threads, int tasks, int steps, uint64_t skew) {
  Simulated sim;
  struct T {
    uint64_t seq = 0;
    TaskStatus status = TaskStatus::kRunnable;
    uint64_t thread = 0;
    bool alive = true;
  };
  std::vector<T> ts(tasks + 1);
  std::vector<uint64_t> running(threads + 1, 0);
  std::vector<uint64_t> off(threads + 1);
  for (int t = 1; t <= threads; ++t) off[t] = rng() % (skew + 1);
  // The prefix (a generation before): every task created, started and yielded on thread 1.
  uint64_t now = 10;
  for (int k = 1; k <= tasks; ++k) {
    sim.prefix.push_back(Create(1, now++, k));
    sim.prefix.push_back(Start(1, now++, k, ++ts[k].seq));
    sim.prefix.push_back(Yield(1, now++, k));
  }
  now = 10 * skew + 1000;
  for (int step = 0; step < steps; ++step) {
    now += 1 + rng() % 4;
    const uint64_t th = 1 + rng() % threads;
    const uint64_t tick = now + off[th];
    const uint64_t cur = running[th];
    auto pick = [&](TaskStatus want) -> uint64_t {
      std::vector<uint64_t> c;
      for (int k = 1; k <= tasks; ++k) {
        if (ts[k].alive && ts[k].status == want) c.push_back(k);
      }
      return c.empty() ? 0 : c[rng() % c.size()];
    };
    if (cur == 0) {
      if (uint64_t k = pick(TaskStatus::kRunnable); k != 0) {
        sim.events.push_back(Start(th, tick, k, ++ts[k].seq));
        ts[k].status = TaskStatus::kRunning;
        ts[k].thread = th;
        running[th] = k;
      }
      continue;
    }
    switch (rng() % 5) {
      case 0:
        sim.events.push_back(Yield(th, tick, cur));
        ts[cur].status = TaskStatus::kRunnable;
        ts[cur].thread = 0;
        running[th] = 0;
        break;
      case 1:
        sim.events.push_back(Block(th, tick, cur));
        ts[cur].status = TaskStatus::kBlocked;
        ts[cur].thread = 0;
        running[th] = 0;
        break;
      case 2: case 3:
        if (uint64_t k = pick(TaskStatus::kBlocked); k != 0) {
          sim.events.push_back(Unblock(th, tick, k, ++ts[k].seq));
          ts[k].status = TaskStatus::kRunnable;
        }
        break;
      default:
        if (rng() % 8 == 0) {
          sim.events.push_back({th, tick, EventType::kTaskEnd, {cur}});
          ts[cur].alive = false;
          running[th] = 0;
        }
        break;
    }
  }
  for (int k = 1; k <= tasks; ++k) {
    if (!ts[k].alive) continue;
    format::TaskState t;
    t.id = k;
    t.name = 1;
    t.status = ts[k].status;
    t.thread = ts[k].thread;
    t.seq = ts[k].seq;
    t.reason = ts[k].status == TaskStatus::kBlocked ? BlockReason::kMutex : BlockReason::kUnknown;
    sim.truth.tasks.push_back(t);
  }
  for (int th = 1; th <= threads; ++th) {
    if (running[th] != 0) sim.truth.running_on[th] = running[th];
  }
  // Each thread's events in its own tick order (its clock is monotonic).
  std::stable_sort(sim.events.begin(), sim.events.end(),
                   [](const Ev& a, const Ev& b) { return a.thread < b.thread; });
  return sim;
}

TEST(BatchScannerTest, ATasksSeqOrderWinsOverSkewedTicks) {
  std::mt19937_64 rng(10);
  int wrong_by_ticks = 0;
  for (int iter = 0; iter < 200; ++iter) {
    const int threads = 2 + static_cast<int>(rng() % 4);
    Simulated sim = Simulate(rng, threads, 6, 300, /*skew=*/8);
    for (size_t budget : {size_t{1}, size_t{4}, BatchScanner::kStateBudget}) {
      BatchScanner scanner(budget, 1000);
      TaskStates s;
      ScanBounded(s, scanner, sim.prefix, 16);
      ScanBounded(s, scanner, sim.events, 1 + rng() % 30);
      ASSERT_EQ(Snap(s, Threads(threads)), sim.truth) << "iteration " << iter << " budget "
                                                      << budget;
    }
    // By ticks alone (no wait: the old merge), skew leaves some states wrong.
    TaskStates by_ticks;
    ApplyWhole(by_ticks, sim.prefix, 0);
    ApplyWhole(by_ticks, sim.events, 0);
    if (!(Snap(by_ticks, Threads(threads)) == sim.truth)) ++wrong_by_ticks;
  }
  EXPECT_GT(wrong_by_ticks, 0);
}

}  // namespace
}  // namespace tracer::tracer_internal

namespace tracer {
namespace {

// End to end: two threads flood yields and starts under a small flight recorder (events are
// lost when its pool runs out), then leave their tasks running and blocked; a generation that
// begins after that lists both right.
TEST(StateEventsInATraceTest, AYieldFloodUnderASmallRecorderLeavesTheRightTaskTable) {
  FlightRecorderConfig c;
  c.min_age = absl::Seconds(1);
  c.max_bytes = 4 << 20;
  FlightRecorder fr(c);
  ASSERT_TRUE(fr.Start().ok());
  static const Name kName("flood");
  TaskRef a, b;
  hooks::TaskCreate(a, kName);
  hooks::TaskCreate(b, kName);
  std::atomic<bool> stop{false}, go_final{false}, a_parked{false}, release{false};
  std::atomic<uint64_t> a_tid{0};
  auto flood = [&](TaskRef& t) {
    while (!stop.load(std::memory_order_relaxed)) {
      hooks::TaskStart(t);
      hooks::TaskYield(t);
    }
  };
  std::thread ta([&] {
    a_tid = static_cast<uint64_t>(gettid());
    flood(a);
    while (!go_final.load()) absl::SleepFor(absl::Milliseconds(1));
    hooks::TaskStart(a);  // stays running
    a_parked = true;
    while (!release.load()) absl::SleepFor(absl::Milliseconds(1));
  });
  std::thread tb([&] {
    flood(b);
    while (!go_final.load()) absl::SleepFor(absl::Milliseconds(1));
    hooks::TaskStart(b);
    hooks::TaskBlock(b, BlockReason::kMutex, &b);
  });
  absl::SleepFor(absl::Milliseconds(300));
  stop = true;
  // The last transitions once the pool has room again (in the flood, the pool is often full
  // and events are lost: the states are then only as good as what was recorded).
  absl::SleepFor(fr.Stats().generation_period * 3);
  go_final = true;
  tb.join();
  while (!a_parked.load()) absl::SleepFor(absl::Milliseconds(1));
  absl::SleepFor(fr.Stats().generation_period * 3);
  StringSink sink;
  auto n = fr.WriteTo(sink);
  release = true;
  ta.join();
  EXPECT_TRUE(fr.Stop().ok());
  ASSERT_TRUE(n.ok()) << n.status();
  auto rb = testing::ReadTrace(sink.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  ASSERT_GE(rb->generations.size(), 3u);
  const auto& listing = *rb->generations.back();
  ASSERT_TRUE(listing.listing) << "a dump ends with the listing of live tasks";
  const format::LiveTask *la = nullptr, *lb = nullptr;
  for (const auto& t : listing.live_tasks) {
    if (t.id == a.id) la = &t;
    if (t.id == b.id) lb = &t;
  }
  ASSERT_NE(la, nullptr);
  ASSERT_NE(lb, nullptr);
  EXPECT_EQ(la->status, format::TaskStatus::kRunning);
  EXPECT_EQ(la->thread, a_tid.load());
  EXPECT_EQ(lb->status, format::TaskStatus::kBlocked);
  EXPECT_EQ(lb->reason, BlockReason::kMutex);
  EXPECT_EQ(lb->object, reinterpret_cast<uint64_t>(&b));
  // The last generation before it states `a`, running on its thread from the generation's
  // start, numbered by its last start.
  const auto& last = *rb->generations[rb->generations.size() - 2];
  const format::TaskState* sa = nullptr;
  for (const auto& t : last.tasks) {
    if (t.id == a.id) sa = &t;
  }
  ASSERT_NE(sa, nullptr);
  EXPECT_EQ(sa->status, format::TaskStatus::kRunning);
  EXPECT_EQ(sa->thread, a_tid.load());
  EXPECT_EQ(sa->seq, a.seq);
  EXPECT_GT(a.seq, 1000u) << "a flood";
  uint64_t lost = 0;
  for (const auto& g : rb->generations) {
    for (const auto& l : g->losses) lost += l.count;
  }
  RecordProperty("events_lost_in_dump", static_cast<int>(lost));
}

}  // namespace
}  // namespace tracer
