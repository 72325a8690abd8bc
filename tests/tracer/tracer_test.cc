#include "tracer/tracer.h"

#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <latch>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/tracer/test_util.h"
#include "tracer/hooks.h"
#include "tracer/internal/clock.h"
#include "tracer/internal/collector.h"

namespace tracer {
namespace {

// TSan slows this code ~50x; the stress shapes stay, the counts shrink.
#ifdef TRACER_TSAN
constexpr int kScale = 10;
#else
constexpr int kScale = 1;
#endif

using format::EventType;
using testing::ReadTrace;

class TracerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BufferConfig c;
    c.buffer_bytes = 64 << 10;
    c.pool_bytes = 16 << 20;
    ASSERT_TRUE(SetBufferConfig(c).ok());
  }
  void TearDown() override {
    if (IsTracing()) (void)StopTrace();
  }
};

// Emits one of each runtime event kind, tagged so the reader can check arguments.
void EmitEveryKind(int thread_index, int i) {
  static const Name kTaskName("worker-task");
  static const Name kRegion("region");
  static const Name kSys("read");
  static const Name kPhase("gc-mark");
  static const Name kCounter("seq");
  const int64_t tag = thread_index * 1000000 + i;
  hooks::Counter(kCounter, tag);
  TaskRef t;
  hooks::TaskCreate(t, kTaskName);
  hooks::TaskStart(t);
  hooks::SyscallBegin(kSys);
  hooks::SyscallEnd();
  hooks::TaskBlock(t, BlockReason::kMutex, &t);
  hooks::TaskUnblock(t, &t);
  hooks::TaskStart(t);
  hooks::TaskYield(t);
  hooks::SetLabels(t, {{"shard", "7"}});
  hooks::TaskEnd(t);
  hooks::PhaseBegin(kPhase, /*stop_the_world=*/true);
  hooks::PhaseEnd(kPhase);
  Task user = NewTask("request");
  {
    CurrentTaskScope scope(user);
    Region r = StartRegion(user, kRegion);
    Log(user, "cat", "message " + std::to_string(tag));
  }
}

TEST_F(TracerTest, EveryEventOfEveryThreadIsReadBackOnceInOrder) {
  StringSink sink;
  TraceOptions o;
  o.generation_period = absl::Milliseconds(5);
  ASSERT_TRUE(StartTrace(sink, o).ok());
  constexpr int kThreads = 6, kIters = 300 / kScale;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kIters; ++i) EmitEveryKind(t, i);
    });
  }
  for (auto& th : threads) th.join();  // all exit before StopTrace
  // Let the collector seal at least one generation on its own (a loaded machine may finish
  // the loop above inside one period), so the capture spans several.
  const uint64_t gens = GetTracerStats().generations;
  for (int i = 0; i < 5000 && GetTracerStats().generations < gens + 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(StopTrace().ok());

  auto rb = ReadTrace(sink.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_EQ(rb->lost, 0u);
  EXPECT_GT(rb->generations.size(), 1u);
  std::map<uint64_t, std::vector<int64_t>> counters_by_thread;
  std::map<EventType, uint64_t> by_type;
  std::map<uint64_t, uint64_t> last_tick;
  for (const auto& [e, g] : rb->events) {
    by_type[e.type]++;
    const auto& gen = *rb->generations[g];
    if (e.type == EventType::kCounter) {
      EXPECT_EQ(gen.String(e.args[0]), "seq");
      counters_by_thread[e.thread].push_back(static_cast<int64_t>(e.args[1]));
    }
    if (e.type == EventType::kTaskBlock) {
      EXPECT_EQ(e.args[1], static_cast<uint64_t>(BlockReason::kMutex));
      EXPECT_NE(e.args[2], 0u);
    }
    if (e.type == EventType::kLog) {
      EXPECT_TRUE(absl::StartsWith(e.bytes, "message ")) << e.bytes;
      EXPECT_EQ(gen.String(e.args[1]), "cat");
    }
    if (e.type == EventType::kTaskCreate) {
      EXPECT_EQ(gen.String(e.args[2]), "worker-task");
      ASSERT_NE(e.args[4], 0u) << "stacks are on by default for task create";
      const format::Stack* st = gen.FindStack(e.args[4]);
      ASSERT_NE(st, nullptr);
      bool named = false;
      for (const auto& f : st->frames) {
        named |= absl::StrContains(gen.String(f.func), "EmitEveryKind");
      }
      EXPECT_TRUE(named) << "the create stack names its caller";
    }
    EXPECT_GE(e.tick, last_tick[e.thread]) << "per-thread order";
    last_tick[e.thread] = e.tick;
  }
  ASSERT_EQ(counters_by_thread.size(), static_cast<size_t>(kThreads));
  for (const auto& [tid, seqs] : counters_by_thread) {
    ASSERT_EQ(seqs.size(), static_cast<size_t>(kIters));
    const int64_t base = seqs[0] - seqs[0] % 1000000;
    for (int i = 0; i < kIters; ++i) EXPECT_EQ(seqs[i], base + i) << "thread " << tid;
  }
  const uint64_t n = kThreads * kIters;
  EXPECT_EQ(by_type[EventType::kTaskCreate], n);
  EXPECT_EQ(by_type[EventType::kTaskStart], 2 * n);
  EXPECT_EQ(by_type[EventType::kTaskBlock], n);
  EXPECT_EQ(by_type[EventType::kTaskUnblock], n);
  EXPECT_EQ(by_type[EventType::kTaskYield], n);
  EXPECT_EQ(by_type[EventType::kTaskEnd], n);
  EXPECT_EQ(by_type[EventType::kSyscallBegin], n);
  EXPECT_EQ(by_type[EventType::kSyscallEnd], n);
  EXPECT_EQ(by_type[EventType::kPhaseBegin], n);
  EXPECT_EQ(by_type[EventType::kPhaseEnd], n);
  EXPECT_EQ(by_type[EventType::kUserTaskBegin], n);
  EXPECT_EQ(by_type[EventType::kUserTaskEnd], n);
  EXPECT_EQ(by_type[EventType::kRegionBegin], n);
  EXPECT_EQ(by_type[EventType::kRegionEnd], n);
  EXPECT_EQ(by_type[EventType::kLog], n);
  EXPECT_EQ(by_type[EventType::kLabels], n);
  EXPECT_EQ(by_type[EventType::kSetCurrentUserTask], 2 * n);
  EXPECT_EQ(by_type[EventType::kThreadStart], static_cast<uint64_t>(kThreads));
  EXPECT_EQ(by_type[EventType::kThreadStop], static_cast<uint64_t>(kThreads));
}

// Losses are counted exactly, and each loss record spans drops that happened: its first and
// last ticks fall where events of the thread went missing (between the recorded neighbours of
// a run of dropped events), the records of successive generations do not overlap, and every
// run of drops is inside some record.
TEST_F(TracerTest, ExhaustedPoolDropsAndCountsExactly) {
  BufferConfig c;
  c.buffer_bytes = 8 << 10;
  c.pool_bytes = 2 * ((8 << 10) + 128);  // two buffers
  ASSERT_TRUE(SetBufferConfig(c).ok());
  StringSink sink;
  TraceOptions o;
  o.generation_period = absl::Seconds(60);  // no cut during the burst
  ASSERT_TRUE(StartTrace(sink, o).ok());
  static const Name kCounter("burst");
  constexpr int kEvents = 20000;
  uint64_t tid = 0, start_tick = 0;
  std::thread th([&] {
    tid = static_cast<uint64_t>(gettid());
    start_tick = tracer_internal::ReadTicks();  // before any of its events, recorded or not
    for (int i = 0; i < kEvents; ++i) hooks::Counter(kCounter, i);
  });
  th.join();
  const uint64_t joined_tick = tracer_internal::ReadTicks();  // after its last (the stop)
  ASSERT_TRUE(StopTrace().ok());
  auto rb = ReadTrace(sink.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  // The thread's events in order: counters 0..kEvents-1, then its stop. 0 marks a dropped one.
  std::vector<uint64_t> ticks(kEvents + 1, 0);
  uint64_t counters = 0, stops = 0;
  for (const auto& [e, g] : rb->events) {
    if (e.thread != tid) continue;
    if (e.type == EventType::kCounter) {
      ++counters;
      ASSERT_LT(e.args[1], static_cast<uint64_t>(kEvents));
      ticks[e.args[1]] = e.tick;
    } else if (e.type == EventType::kThreadStop) {
      ++stops;
      ticks[kEvents] = e.tick;
    }
  }
  // Runs of dropped events, each with the ticks it happened between.
  struct Window {
    uint64_t lo, hi;
  };
  std::vector<Window> runs;
  uint64_t missing = 0;
  for (size_t i = 0; i < ticks.size();) {
    if (ticks[i] != 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < ticks.size() && ticks[j] == 0) ++j;
    runs.push_back({i == 0 ? start_tick : ticks[i - 1], j < ticks.size() ? ticks[j] : joined_tick});
    missing += j - i;
    i = j;
  }
  std::vector<format::LossRecord> records;  // the thread's, in generation order
  uint64_t lost = 0;
  for (const auto& g : rb->generations) {
    for (const auto& l : g->losses) {
      if (l.thread != tid) continue;
      lost += l.count;
      records.push_back(l);
    }
  }
  EXPECT_GT(lost, 0u) << "the pool was meant to run out";
  EXPECT_GT(counters, 0u);
  EXPECT_EQ(counters + stops + lost, static_cast<uint64_t>(kEvents) + 1);
  EXPECT_EQ(missing, lost);
  auto in_a_run = [&](uint64_t tick) {
    for (const Window& w : runs) {
      if (w.lo <= tick && tick <= w.hi) return true;
    }
    return false;
  };
  for (size_t k = 0; k < records.size(); ++k) {
    const format::LossRecord& l = records[k];
    SCOPED_TRACE(::testing::Message() << "loss record " << k << " of " << records.size()
                                      << ": [" << l.begin_tick << ", " << l.end_tick << "] x"
                                      << l.count << ", thread ran from " << start_tick);
    EXPECT_LE(l.begin_tick, l.end_tick);
    EXPECT_TRUE(in_a_run(l.begin_tick)) << "the first drop is not where events are missing";
    EXPECT_TRUE(in_a_run(l.end_tick)) << "the last drop is not where events are missing";
    if (k > 0) {
      EXPECT_GE(l.begin_tick, records[k - 1].end_tick) << "records overlap";
    }
  }
  for (const Window& w : runs) {
    bool covered = false;
    for (const format::LossRecord& l : records) {
      covered |= l.begin_tick <= w.hi && w.lo <= l.end_tick;
    }
    EXPECT_TRUE(covered) << "drops between ticks " << w.lo << " and " << w.hi << " in no record";
  }
}

TEST_F(TracerTest, EachGenerationAloneNamesItsStringsStacksAndTaskStates) {
  StringSink sink;
  TraceOptions o;
  o.generation_period = absl::Milliseconds(5);
  ASSERT_TRUE(StartTrace(sink, o).ok());
  static const Name kName("long-lived");
  TaskRef blocked;
  hooks::TaskCreate(blocked, kName);
  hooks::TaskStart(blocked);
  hooks::TaskBlock(blocked, BlockReason::kChannel, &blocked);
  Task user = NewTask("outer-request");
  static const Name kTick("tick");
  const uint64_t gens = GetTracerStats().generations;
  for (int i = 0; i < 40 || (GetTracerStats().generations < gens + 5 && i < 5000); ++i) {
    hooks::Counter(kTick, i);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(StopTrace().ok());
  auto rb = ReadTrace(sink.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  ASSERT_GE(rb->generations.size(), 5u);
  const format::Generation& listing = *rb->generations.back();
  ASSERT_TRUE(listing.listing) << "a capture ends with the listing of live tasks";
  EXPECT_TRUE(listing.batches.empty());
  // The task appears (is created, starts and blocks) in generation 0 only: the later ones,
  // where it has no events, do not state it, so their size follows their activity.
  for (size_t g = 1; g + 1 < rb->generations.size(); ++g) {
    const auto& gen = *rb->generations[g];
    EXPECT_FALSE(gen.listing);
    EXPECT_FALSE(gen.tasks_complete) << "2.x: a generation states the tasks that appear in it";
    for (const auto& t : gen.tasks) {
      EXPECT_NE(t.id, blocked.id) << "generation " << g << " states an idle task";
    }
    bool user_found = false;
    for (const auto& u : gen.user_tasks) {
      if (u.id == user.id()) user_found = gen.String(u.name) == "outer-request";
    }
    EXPECT_TRUE(user_found) << "generation " << g << " lists the open user task";
    EXPECT_FALSE(gen.threads.empty());
    EXPECT_GT(gen.clock.ticks_per_second, 0u);
    EXPECT_LE(gen.begin_ns, gen.end_ns);
  }
  // The listing names it, blocked, with what on, since when and where, standing alone.
  const format::LiveTask* live = nullptr;
  for (const auto& t : listing.live_tasks) {
    if (t.id == blocked.id) live = &t;
  }
  ASSERT_NE(live, nullptr);
  EXPECT_EQ(live->status, format::TaskStatus::kBlocked);
  EXPECT_EQ(live->reason, BlockReason::kChannel);
  EXPECT_EQ(live->object, reinterpret_cast<uint64_t>(&blocked));
  EXPECT_EQ(listing.String(live->name), "long-lived");
  EXPECT_EQ(live->thread, 0u);
  uint64_t block_tick = 0;
  for (const auto& [e, g] : rb->events) {
    if (e.type == EventType::kTaskBlock && e.args[0] == blocked.id) block_tick = e.tick;
  }
  ASSERT_NE(block_tick, 0u);
  EXPECT_EQ(live->since_tick, block_tick) << "since when it has been blocked";
  bool user_listed = false;
  for (const auto& u : listing.user_tasks) user_listed |= u.id == user.id();
  EXPECT_TRUE(user_listed);
}

// The task-state table of each generation follows the events before it, whichever threads
// wrote them: created on one thread, started, in a syscall, blocked and ended on another,
// unblocked by a third, and a task still running on a thread across several cuts.
TEST_F(TracerTest, TaskStatesFollowEventsAcrossThreadsAndCuts) {
  StringSink sink;
  TraceOptions o;
  o.generation_period = absl::Seconds(60);  // cuts below are explicit
  ASSERT_TRUE(StartTrace(sink, o).ok());
  static const Name kName("state-task");
  static const Name kSys("read");
  TaskRef x, y, z;
  hooks::TaskCreate(x, kName);
  hooks::TaskCreate(y, kName);
  hooks::TaskCreate(z, kName);
  // Runs `f` on a thread of its own, to the end.
  auto on_worker = [](auto f) { std::thread(f).join(); };
  auto cut = [] { ASSERT_TRUE(tracer_internal::CutGeneration().ok()); };
  // One long-lived worker thread, told what to do step by step.
  std::mutex mu;
  std::condition_variable cv;
  int step = 0, done = 0;
  std::thread worker([&] {
    auto wait_for = [&](int s) {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return step >= s; });
    };
    auto finish = [&](int s) {
      {
        std::lock_guard<std::mutex> l(mu);
        done = s;
      }
      cv.notify_all();
    };
    wait_for(1);
    hooks::TaskStart(x);
    hooks::SyscallBegin(kSys);
    finish(1);
    wait_for(2);
    hooks::SyscallEnd();
    hooks::TaskBlock(x, BlockReason::kMutex, &x);
    hooks::TaskStart(y);
    hooks::TaskEnd(y);
    hooks::TaskStart(z);
    finish(2);
    wait_for(3);
    hooks::SyscallBegin(kSys);  // z is still the running task, from the generation before
    finish(3);
    wait_for(4);
    hooks::SyscallEnd();
    hooks::TaskEnd(z);
    finish(4);
  });
  auto run_step = [&](int s) {
    {
      std::lock_guard<std::mutex> l(mu);
      step = s;
    }
    cv.notify_all();
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return done >= s; });
  };
  run_step(1);
  cut();  // generation 1 starts: x in a syscall on the worker; y, z runnable
  run_step(2);
  on_worker([&] { hooks::TaskUnblock(x, &x); });  // a third thread wakes x
  cut();  // generation 2 starts: x runnable, y gone, z running
  run_step(3);
  cut();  // generation 3 starts: z in a syscall
  run_step(4);
  worker.join();
  ASSERT_TRUE(StopTrace().ok());

  auto rb = ReadTrace(sink.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  ASSERT_GE(rb->generations.size(), 4u);
  uint64_t worker_thread = 0;
  for (const auto& [e, g] : rb->events) {
    if (e.type == EventType::kTaskStart && e.args[0] == x.id) worker_thread = e.thread;
  }
  ASSERT_NE(worker_thread, 0u);
  auto state = [&](size_t g, uint64_t id) -> const format::TaskState* {
    for (const auto& t : rb->generations[g]->tasks) {
      if (t.id == id) return &t;
    }
    return nullptr;
  };
  using format::TaskStatus;
  // Generation 1.
  ASSERT_NE(state(1, x.id), nullptr);
  EXPECT_EQ(state(1, x.id)->status, TaskStatus::kSyscall);
  EXPECT_EQ(state(1, x.id)->thread, worker_thread);
  ASSERT_NE(state(1, y.id), nullptr);
  EXPECT_EQ(state(1, y.id)->status, TaskStatus::kRunnable);
  EXPECT_EQ(rb->generations[1]->String(state(1, y.id)->name), "state-task");
  ASSERT_NE(state(1, z.id), nullptr);
  // Generation 2: z is running on the worker, so it is stated; x, runnable since the third
  // thread woke it, has no events here and is not.
  EXPECT_EQ(state(2, x.id), nullptr) << "a task with no events in a generation is not stated";
  EXPECT_EQ(state(2, y.id), nullptr) << "an ended task is not listed";
  ASSERT_NE(state(2, z.id), nullptr);
  EXPECT_EQ(state(2, z.id)->status, TaskStatus::kRunning);
  EXPECT_EQ(state(2, z.id)->thread, worker_thread);
  // Generation 3.
  ASSERT_NE(state(3, z.id), nullptr);
  EXPECT_EQ(state(3, z.id)->status, TaskStatus::kSyscall);
  EXPECT_EQ(state(3, x.id), nullptr);
  // The listing that ends the capture: x runnable (numbered by the unblock), z ended.
  const format::Generation& listing = *rb->generations.back();
  ASSERT_TRUE(listing.listing);
  const format::LiveTask* lx = nullptr;
  for (const auto& t : listing.live_tasks) {
    EXPECT_NE(t.id, z.id) << "an ended task is not live";
    EXPECT_NE(t.id, y.id) << "an ended task is not live";
    if (t.id == x.id) lx = &t;
  }
  ASSERT_NE(lx, nullptr);
  EXPECT_EQ(lx->status, TaskStatus::kRunnable);
  EXPECT_EQ(lx->thread, 0u);
  EXPECT_EQ(listing.String(lx->name), "state-task");
}

// Call paths that differ in every frame: Walk(path, depth) descends through WalkA or WalkB by
// the path's bits, so 2^depth paths make 2^depth distinct stacks at the leaf.
ABSL_ATTRIBUTE_NOINLINE void Walk(uint32_t path, int depth, TaskRef& t);
ABSL_ATTRIBUTE_NOINLINE void WalkA(uint32_t path, int depth, TaskRef& t) {
  Walk(path, depth, t);
  asm volatile("" ::: "memory");  // not a tail call: the frame stays
}
ABSL_ATTRIBUTE_NOINLINE void WalkB(uint32_t path, int depth, TaskRef& t) {
  Walk(path, depth, t);
  asm volatile("" ::: "memory");
}
ABSL_ATTRIBUTE_NOINLINE void Walk(uint32_t path, int depth, TaskRef& t) {
  if (depth == 0) {
    hooks::TaskStart(t);
    hooks::TaskBlock(t, BlockReason::kMutex, nullptr);  // its stack: the path
  } else if ((path & 1) != 0) {
    WalkA(path >> 1, depth - 1, t);
  } else {
    WalkB(path >> 1, depth - 1, t);
  }
  asm volatile("" ::: "memory");
}

// Many more distinct stacks than the stack table's half holds (CPU samples and blocking sites
// make them in a long-running process): none is dropped, the table's halves rotate, and every
// stack an event names is defined, with its frames, in the event's generation.
TEST_F(TracerTest, ManyDistinctStacksAreNeverDroppedAndAlwaysDefined) {
  // 2^15 paths: a stack keeps its innermost 32 frames, which tell 15 levels apart; twice the
  // 16 K stacks the table held in all before it had halves.
  constexpr int kDepth = 15;
  constexpr uint32_t kPaths = uint32_t{1} << kDepth;
  StringSink sink;
  TraceOptions o;
  o.generation_period = absl::Milliseconds(10);
  ASSERT_TRUE(StartTrace(sink, o).ok());
  const TracerStats before = GetTracerStats();
  static const Name kName("walker");
  TaskRef t, parked;
  hooks::TaskCreate(t, kName);
  hooks::TaskCreate(parked, kName);
  hooks::TaskStart(parked);
  hooks::TaskBlock(parked, BlockReason::kSleep);  // its stack must outlive the rotations
  for (uint32_t p = 0; p < kPaths; ++p) {
    Walk(p, kDepth, t);
    if (p % 4096 == 4095) {  // a cut between chunks: the table rotates at cuts
      const uint64_t g = GetTracerStats().generations;
      for (int i = 0; i < 2000 && GetTracerStats().generations == g; ++i) {
        absl::SleepFor(absl::Milliseconds(1));
      }
    }
  }
  ASSERT_TRUE(StopTrace().ok());
  const TracerStats after = GetTracerStats();
  EXPECT_EQ(after.stacks_dropped, before.stacks_dropped);
  EXPECT_GE(after.stack_table_rotations, before.stack_table_rotations + 1);
  EXPECT_EQ(after.stacks_expired, before.stacks_expired);
  auto rb = ReadTrace(sink.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_EQ(rb->lost, 0u);
  std::set<std::vector<uint64_t>> distinct;
  size_t blocks = 0;
  for (const auto& [e, g] : rb->events) {
    if (e.type != EventType::kTaskBlock || e.args[0] != t.id) continue;
    ++blocks;
    const format::Stack* st = rb->generations[g]->FindStack(e.args[3]);
    ASSERT_NE(st, nullptr) << "block " << blocks;
    ASSERT_GE(st->frames.size(), 16u) << "block " << blocks;
    std::vector<uint64_t> pcs;
    for (const format::Frame& f : st->frames) pcs.push_back(f.pc);
    distinct.insert(std::move(pcs));
  }
  EXPECT_EQ(blocks, kPaths);
  EXPECT_EQ(distinct.size(), kPaths) << "each path its own stack";
  EXPECT_GE(after.stack_table_rotations, before.stack_table_rotations + 2);
  // The parked task's stack was in a half emptied since: the listing still names it.
  const format::Generation& listing = *rb->generations.back();
  ASSERT_TRUE(listing.listing);
  const format::LiveTask* lp = nullptr;
  for (const auto& lt : listing.live_tasks) {
    if (lt.id == parked.id) lp = &lt;
  }
  ASSERT_NE(lp, nullptr);
  const format::Stack* ps = listing.FindStack(lp->stack);
  ASSERT_NE(ps, nullptr);
  EXPECT_FALSE(ps->frames.empty());
  uint64_t block_stack_pc = 0;
  for (const auto& [e, g] : rb->events) {
    if (e.type == EventType::kTaskBlock && e.args[0] == parked.id) {
      block_stack_pc = rb->generations[g]->FindStack(e.args[3])->frames[0].pc;
    }
  }
  EXPECT_EQ(ps->frames[0].pc, block_stack_pc) << "the stack where it blocked";
}

TEST_F(TracerTest, PoolLargerThanAGenerationCanHoldIsRefused) {
  BufferConfig c;
  c.pool_bytes = size_t{1} << 30;
  const absl::Status s = SetBufferConfig(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  c.pool_bytes = size_t{512} << 20;
  EXPECT_TRUE(SetBufferConfig(c).ok());
}

// TaskRef::seq moves only with recorded transitions: a disabled hook never writes to the
// runtime's task object, and a capture sees its starts and unblocks numbered in order, across
// the threads that record them.
TEST_F(TracerTest, TaskSeqNumbersRecordedStartsAndUnblocksInOrder) {
  static const Name kName("seq-task");
  TaskRef t;
  hooks::TaskCreate(t, kName);
  int object = 0;
  for (int i = 0; i < 3; ++i) {  // nothing traces: no numbers taken
    hooks::TaskStart(t);
    hooks::TaskBlock(t, BlockReason::kMutex, &object);
    hooks::TaskUnblock(t, &object);
  }
  EXPECT_EQ(t.seq, 0u);

  StringSink sink;
  ASSERT_TRUE(StartTrace(sink).ok());
  constexpr int kRounds = 50;
  for (int i = 0; i < kRounds; ++i) {
    hooks::TaskStart(t);
    hooks::TaskBlock(t, BlockReason::kMutex, &object);
    std::thread waker([&] { hooks::TaskUnblock(t, &object); });  // a waker on another thread
    waker.join();
  }
  ASSERT_TRUE(StopTrace().ok());
  EXPECT_EQ(t.seq, 2u * kRounds);
  hooks::TaskStart(t);
  hooks::TaskUnblock(t, &object);
  EXPECT_EQ(t.seq, 2u * kRounds) << "a transition after StopTrace took a number";

  auto rb = ReadTrace(sink.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  std::vector<uint64_t> seqs;
  std::set<uint64_t> threads;
  for (const auto& [e, g] : rb->events) {
    if ((e.type == EventType::kTaskStart || e.type == EventType::kTaskUnblock) &&
        e.args[0] == t.id) {
      seqs.push_back(e.args[1]);
      threads.insert(e.thread);
    }
  }
  ASSERT_EQ(seqs.size(), 2u * kRounds);
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i + 1) << "event " << i;
  EXPECT_GT(threads.size(), 1u);
}

// Fails every write after the first `ok_writes`.
class FailingSink : public Sink {
 public:
  explicit FailingSink(int ok_writes) : left_(ok_writes) {}
  absl::Status Write(absl::string_view) override {
    if (left_-- > 0) return absl::OkStatus();
    return absl::ResourceExhaustedError("disk full (test)");
  }

 private:
  int left_;
};

TEST_F(TracerTest, FailingSinkEndsCaptureWithErrorAndTracingRecovers) {
  FailingSink bad(1);  // the header goes through, the first generation fails
  TraceOptions o;
  o.generation_period = absl::Milliseconds(2);
  ASSERT_TRUE(StartTrace(bad, o).ok());
  static const Name kC("c");
  for (int i = 0; i < 1000; ++i) hooks::Counter(kC, i);
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  absl::Status s = StopTrace();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "disk full"));
  // A new capture works.
  StringSink good;
  ASSERT_TRUE(StartTrace(good).ok());
  hooks::Counter(kC, 42);
  ASSERT_TRUE(StopTrace().ok());
  auto rb = ReadTrace(good.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  bool saw = false;
  for (const auto& [e, g] : rb->events) saw |= e.type == EventType::kCounter && e.args[1] == 42;
  EXPECT_TRUE(saw);
}

// Log bytes are copied by size class on the hot path: every short length (and a long one, and
// one over the limit, which is cut to kMaxLogBytes) reads back byte for byte, with the
// bytes around each message untouched.
TEST_F(TracerTest, LogMessagesOfEveryLengthReadBackExactly) {
  static const Name kCategory("len");
  std::vector<std::string> messages;
  for (int n = 0; n <= 40; ++n) {
    std::string m;
    for (int i = 0; i < n; ++i) m.push_back(static_cast<char>('a' + (n + i) % 26));
    messages.push_back(m);
  }
  messages.push_back(std::string(300, 'x'));
  messages.push_back(std::string(tracer_internal::kMaxLogBytes + 10, 'y'));
  StringSink sink;
  ASSERT_TRUE(StartTrace(sink).ok());
  const Task task;
  for (const std::string& m : messages) {
    hooks::Counter(kCategory, 1);  // neighbours on both sides of each log
    Log(task, kCategory, m);
  }
  hooks::Counter(kCategory, 2);
  ASSERT_TRUE(StopTrace().ok());
  absl::StatusOr<testing::ReadBack> rb = ReadTrace(sink.data());
  ASSERT_TRUE(rb.ok()) << rb.status();
  std::vector<std::string> got;
  int counters = 0;
  for (const auto& [e, g] : rb->events) {
    if (e.type == EventType::kLog) got.emplace_back(e.bytes);
    if (e.type == EventType::kCounter) ++counters;
  }
  ASSERT_EQ(got.size(), messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string want = messages[i].substr(0, tracer_internal::kMaxLogBytes);
    EXPECT_EQ(got[i], want) << "message " << i;
  }
  EXPECT_EQ(counters, static_cast<int>(messages.size()) + 1);
}

// The hot path writes arguments where a one-byte delta leaves them and moves them up when the
// delta is longer: events after gaps of every delta length keep their arguments, bytes and
// time order.
TEST_F(TracerTest, EventsAfterGapsOfEveryDeltaLengthKeepTheirArguments) {
  static const Name kCategory("gap");
  const absl::Duration gaps[] = {absl::ZeroDuration(), absl::Microseconds(5),
                                 absl::Microseconds(200), absl::Milliseconds(3),
                                 absl::Milliseconds(40)};
  StringSink sink;
  ASSERT_TRUE(StartTrace(sink).ok());
  TaskRef t;
  hooks::TaskCreate(t, kCategory);
  const void* object = reinterpret_cast<const void*>(uintptr_t{0x7ffd12345678});
  int round = 0;
  for (absl::Duration gap : gaps) {
    absl::SleepFor(gap);
    hooks::TaskBlock(t, BlockReason::kSelect, object);
    absl::SleepFor(gap);
    Log(Task(), kCategory, "round " + std::to_string(round++));
  }
  ASSERT_TRUE(StopTrace().ok());
  absl::StatusOr<testing::ReadBack> rb = ReadTrace(sink.data());
  ASSERT_TRUE(rb.ok()) << rb.status();
  int blocks = 0, logs = 0;
  uint64_t last_tick = 0;
  for (const auto& [e, g] : rb->events) {
    if (e.type == EventType::kTaskBlock) {
      EXPECT_EQ(e.args[0], t.id);
      EXPECT_EQ(e.args[1], static_cast<uint64_t>(BlockReason::kSelect));
      EXPECT_EQ(e.args[2], uint64_t{0x7ffd12345678});
      ++blocks;
    } else if (e.type == EventType::kLog) {
      EXPECT_EQ(e.bytes, "round " + std::to_string(logs));
      ++logs;
    } else {
      continue;
    }
    EXPECT_GE(e.tick, last_tick);
    last_tick = e.tick;
  }
  EXPECT_EQ(blocks, 5);
  EXPECT_EQ(logs, 5);
}

// Every generation lists the loaded objects (the collector walks them again only when the
// loader's counts change): the test binary's code is in one of them, and a library loaded
// mid-capture appears from the next generation on. The cuts are explicit, so the library is
// loaded after the first generation is sealed and before the second is.
TEST_F(TracerTest, GenerationsListLoadedObjectsIncludingOnesLoadedMidCapture) {
  StringSink sink;
  TraceOptions o;
  o.generation_period = absl::Seconds(60);  // only the cuts below
  ASSERT_TRUE(StartTrace(sink, o).ok());
  static const Name kName("mark");
  hooks::Counter(kName, 1);
  ASSERT_TRUE(tracer_internal::CutGeneration().ok());
  void* lib = dlopen("libnss_files.so.2", RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  hooks::Counter(kName, 2);
  ASSERT_TRUE(tracer_internal::CutGeneration().ok());
  hooks::Counter(kName, 3);
  ASSERT_TRUE(StopTrace().ok());
  absl::StatusOr<testing::ReadBack> rb = ReadTrace(sink.data());
  ASSERT_TRUE(rb.ok()) << rb.status();
  ASSERT_EQ(rb->generations.size(), 4u) << "three cuts and the listing";
  ASSERT_TRUE(rb->generations.back()->listing);
  const auto code = reinterpret_cast<uint64_t>(&dlopen);  // libc's code: always loaded
  auto has = [](const format::Generation& g, auto pred) {
    for (const format::Mapping& m : g.mappings) {
      if (pred(m)) return true;
    }
    return false;
  };
  for (const auto& g : rb->generations) {
    EXPECT_TRUE(has(*g, [&](const format::Mapping& m) { return m.start <= code && code < m.end; }))
        << "generation " << g->seq;
  }
  const auto nss = [&](const format::Generation& g) {
    return has(g, [&](const format::Mapping& m) {
      return absl::StrContains(g.String(m.path), "libnss_files");
    });
  };
  EXPECT_FALSE(nss(*rb->generations[0])) << "sealed before the dlopen";
  EXPECT_TRUE(nss(*rb->generations[1])) << "sealed after the dlopen";
  EXPECT_TRUE(nss(*rb->generations[2]));
  EXPECT_TRUE(nss(*rb->generations[3])) << "the listing carries the mappings too";
  dlclose(lib);
}

// TraceOptions::compress: every generation, the closing listing included, is stored
// lz4-compressed and reads back with every event, in fewer bytes than the same events
// uncompressed.
TEST_F(TracerTest, CompressedCaptureReadsBackEveryEventInFewerBytes) {
  static const Name kCategory("compressible");
  static const Name kParked("parked");
  TaskRef parked;
  constexpr int kEvents = 4000;
  const std::string message(100, 'z');
  // The same events into a capture of each kind, in two generations (one cut midway).
  auto capture = [&](bool compress) -> std::string {
    StringSink sink;
    TraceOptions o;
    o.generation_period = absl::Seconds(60);
    o.compress = compress;
    EXPECT_TRUE(StartTrace(sink, o).ok());
    hooks::TaskCreate(parked, kParked);
    hooks::TaskStart(parked);
    hooks::TaskBlock(parked, BlockReason::kSleep);
    const Task task;
    for (int i = 0; i < kEvents; ++i) {
      if (i == kEvents / 2) {
        EXPECT_TRUE(tracer_internal::CutGeneration().ok());
      }
      hooks::Counter(kCategory, i);
      Log(task, kCategory, message);
    }
    EXPECT_TRUE(StopTrace().ok());
    return sink.Release();
  };
  const std::string plain = capture(false);
  const std::string packed = capture(true);
  for (const std::string* bytes : {&plain, &packed}) {
    const bool compressed = bytes == &packed;
    SCOPED_TRACE(compressed ? "compressed" : "plain");
    absl::StatusOr<testing::ReadBack> rb = ReadTrace(*bytes);
    ASSERT_TRUE(rb.ok()) << rb.status();
    EXPECT_EQ(rb->lost, 0u);
    ASSERT_GE(rb->generations.size(), 3u);
    for (const auto& g : rb->generations) EXPECT_EQ(g->compressed, compressed) << g->seq;
    const format::Generation& listing = *rb->generations.back();
    ASSERT_TRUE(listing.listing);
    ASSERT_EQ(listing.live_tasks.size(), 1u);
    EXPECT_EQ(listing.live_tasks[0].id, parked.id);
    EXPECT_EQ(listing.live_tasks[0].reason, BlockReason::kSleep);
    std::vector<int64_t> counters;
    int logs = 0;
    for (const auto& [e, g] : rb->events) {
      if (e.type == EventType::kCounter) counters.push_back(static_cast<int64_t>(e.args[1]));
      if (e.type == EventType::kLog) logs += e.bytes == message;
    }
    ASSERT_EQ(counters.size(), static_cast<size_t>(kEvents));
    for (int i = 0; i < kEvents; ++i) EXPECT_EQ(counters[i], i);
    EXPECT_EQ(logs, kEvents);
  }
  // Each event is ~110 bytes of which 100 repeat one byte: lz4 takes most of them away.
  EXPECT_LT(packed.size(), plain.size() / 3) << "plain " << plain.size();
}

TEST_F(TracerTest, SecondStartFailsAndStopWithoutStartFails) {
  StringSink a, b;
  ASSERT_TRUE(StartTrace(a).ok());
  EXPECT_TRUE(IsTracing());
  EXPECT_EQ(StartTrace(b).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(StopTrace().ok());
  EXPECT_FALSE(IsTracing());
  EXPECT_EQ(StopTrace().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TracerTest, ThreadsStartingAndExitingWhileCapturesCycle) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> spawners;
  for (int s = 0; s < 2; ++s) {
    spawners.emplace_back([&, s] {
      while (!stop.load()) {
        std::thread t([s] {
          for (int i = 0; i < 50 / kScale; ++i) EmitEveryKind(s, i);
        });
        t.join();
        if (kScale > 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  for (int cycle = 0; cycle < 20 / (kScale / 2 + 1); ++cycle) {
    StringSink sink;
    TraceOptions o;
    o.generation_period = absl::Milliseconds(1);
    ASSERT_TRUE(StartTrace(sink, o).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    ASSERT_TRUE(StopTrace().ok());
    auto rb = ReadTrace(sink.Release());
    ASSERT_TRUE(rb.ok()) << "cycle " << cycle << ": " << rb.status();
  }
  stop = true;
  for (auto& t : spawners) t.join();
}

TEST_F(TracerTest, ForkedChildTracesOnItsOwn) {
#ifdef TRACER_TSAN
  GTEST_SKIP() << "TSan does not support starting threads in a child of a threaded process";
#endif
  StringSink parent_sink;
  ASSERT_TRUE(StartTrace(parent_sink).ok());
  static const Name kC("fork");
  hooks::Counter(kC, 1);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child inherits no running tracer.
    if (IsTracing()) _exit(3);
    StringSink child_sink;
    if (!StartTrace(child_sink).ok()) _exit(4);
    hooks::Counter(kC, 2);
    if (!StopTrace().ok()) _exit(5);
    auto rb = ReadTrace(child_sink.Release());
    if (!rb.ok()) _exit(6);
    bool saw2 = false, saw1 = false;
    for (const auto& [e, g] : rb->events) {
      saw2 |= e.type == EventType::kCounter && e.args[1] == 2;
      saw1 |= e.type == EventType::kCounter && e.args[1] == 1;
    }
    _exit(saw2 && !saw1 ? 0 : 7);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  hooks::Counter(kC, 3);
  ASSERT_TRUE(StopTrace().ok());
  auto rb = ReadTrace(parent_sink.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  std::set<uint64_t> seen;
  for (const auto& [e, g] : rb->events) {
    if (e.type == EventType::kCounter) seen.insert(e.args[1]);
  }
  EXPECT_TRUE(seen.count(1) && seen.count(3) && !seen.count(2));
}

// A thread holds a small buffer for its first events of a generation: many live threads that
// each record a little fit a pool that could not give each of them a large buffer (100 threads
// x 64 KiB is three times this pool), whenever the collector runs.
TEST_F(TracerTest, ManyLiveThreadsRecordingALittleEachFitTheirSmallBuffers) {
  BufferConfig c;
  c.buffer_bytes = 64 << 10;
  c.pool_bytes = 2 << 20;
  ASSERT_TRUE(SetBufferConfig(c).ok());
  StringSink sink;
  ASSERT_TRUE(StartTrace(sink).ok());
  const TracerStats idle = GetTracerStats();
  EXPECT_LE(idle.pool_bytes, c.pool_bytes);
  EXPECT_GE(idle.pool_bytes, c.pool_bytes * 9 / 10);
  EXPECT_LE(idle.pool_bytes_free, idle.pool_bytes);
  static const Name kCounter("tag");
  constexpr int kThreads = 100, kEvents = 10;
  std::latch all_recorded(kThreads + 1);
  std::latch checked(1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &all_recorded, &checked] {
      for (int i = 0; i < kEvents; ++i) hooks::Counter(kCounter, t * 1000 + i);
      all_recorded.count_down();  // every thread holds its buffer at once
      checked.wait();
    });
  }
  all_recorded.arrive_and_wait();
  // The threads hold a small buffer each: well under half the pool's bytes (a large buffer
  // each would be three times the pool). A cut meanwhile would only free bytes.
  const TracerStats held = GetTracerStats();
  EXPECT_LT(held.pool_bytes - held.pool_bytes_free, held.pool_bytes / 2);
  checked.count_down();
  for (auto& th : threads) th.join();
  ASSERT_TRUE(StopTrace().ok());
  EXPECT_EQ(GetTracerStats().pool_bytes, 0u);

  auto rb = ReadTrace(sink.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_EQ(rb->lost, 0u);
  std::set<int64_t> tags;
  for (const auto& [e, g] : rb->events) {
    if (e.type == EventType::kCounter) tags.insert(static_cast<int64_t>(e.args[1]));
  }
  EXPECT_EQ(tags.size(), static_cast<size_t>(kThreads * kEvents));
}

}  // namespace
}  // namespace tracer
