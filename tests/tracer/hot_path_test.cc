// The recording hot path allocates nothing, and disabled emission writes nothing.
//
// Allocations are counted by replacing the global operator new/delete for the whole
// tracer_test binary: each replacement bumps a thread-local count and forwards to malloc/free,
// so every other test behaves as before. (The array and nothrow forms are left to the
// library, whose defaults call these.) malloc called directly is not counted; the tracer's
// C++ code allocates through new.

#include <pthread.h>

#include <cstdint>
#include <cstdlib>
#include <new>
#include <thread>

#include "gtest/gtest.h"
#include "tests/tracer/test_util.h"
#include "tracer/hooks.h"
#include "tracer/internal/thread_state.h"
#include "tracer/tracer.h"

namespace {
// Operator new calls made by this thread. constinit: usable before any initializer runs.
constinit thread_local uint64_t t_news = 0;
}  // namespace

void* operator new(std::size_t n) {
  ++t_news;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a) {
  ++t_news;
  void* p = nullptr;
  const std::size_t align = std::max(static_cast<std::size_t>(a), sizeof(void*));
  if (posix_memalign(&p, align, n == 0 ? 1 : n) == 0) return p;
  throw std::bad_alloc();
}
// The nothrow forms too (std::stable_sort's temporary buffer uses them): every allocation in
// this binary must come from malloc, since every delete below frees with free().
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ++t_news;
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  ++t_news;
  void* p = nullptr;
  const std::size_t align = std::max(static_cast<std::size_t>(a), sizeof(void*));
  return posix_memalign(&p, align, n == 0 ? 1 : n) == 0 ? p : nullptr;
}
// GCC 12 takes these replacements for a free() of memory from operator new.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace tracer {
namespace {

using format::EventType;
using testing::ReadTrace;

class HotPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BufferConfig c;
    c.buffer_bytes = 1 << 20;  // every event below fits one buffer: no hand-over mid-loop
    c.pool_bytes = 16 << 20;
    c.stacks = false;          // stacks are the slow events' cost, not the hot path's
    c.region_stacks = false;
    ASSERT_TRUE(SetBufferConfig(c).ok());
  }
  void TearDown() override {
    if (IsTracing()) (void)StopTrace();
    ASSERT_TRUE(SetBufferConfig(BufferConfig()).ok());
  }
};

// One region pair, a log, a counter and a syscall pair with Names; a region pair and a log
// with literal names (after the first round, a literal costs no intern): nine events.
constexpr int kEventsPerRound = 9;
void EmitRound(const Task& task, const Name& region, const Name& category,
               const Name& counter, const Name& syscall, int i) {
  {
    Region r = StartRegion(task, region);
  }
  Log(task, category, "short message");
  {
    Region r = StartRegion(task, "hot-literal-region");
  }
  Log(task, "hot-literal-log", "short message");
  hooks::Counter(counter, i);
  hooks::SyscallBegin(syscall);
  hooks::SyscallEnd();
}

TEST_F(HotPathTest, TenThousandEventsAfterWarmUpAllocateNothing) {
  static const Name kRegion("hot-region");
  static const Name kCategory("hot-log");
  static const Name kCounter("hot-counter");
  static const Name kSyscall("hot-read");
  const Task task;  // id 0: the thread itself
  StringSink sink;
  TraceOptions o;
  o.generation_period = absl::Seconds(60);  // no cut (and slow path) during the loop
  ASSERT_TRUE(StartTrace(sink, o).ok());
  const uint64_t lost_before = GetTracerStats().events_lost;

  // Warm-up: the first event registers the thread and takes a buffer (both allocate).
  for (int i = 0; i < 10; ++i) EmitRound(task, kRegion, kCategory, kCounter, kSyscall, i);

  // The counter counts: an explicit call to the replaceable function cannot be elided.
  const uint64_t control = t_news;
  ::operator delete(::operator new(16));
  ASSERT_EQ(t_news, control + 1);

  constexpr int kRounds = 10000 / kEventsPerRound + 1;
  const uint64_t news_before = t_news;
  for (int i = 0; i < kRounds; ++i) EmitRound(task, kRegion, kCategory, kCounter, kSyscall, i);
  const uint64_t news = t_news - news_before;
  EXPECT_EQ(news, 0u) << "operator new calls on the hot path over "
                      << kRounds * kEventsPerRound << " events";

  ASSERT_TRUE(StopTrace().ok());
  EXPECT_EQ(GetTracerStats().events_lost, lost_before);
  // Everything was recorded, so the loop really ran the enabled path.
  auto rb = ReadTrace(sink.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  int counters = 0, logs = 0, regions = 0, syscalls = 0;
  for (const auto& [e, g] : rb->events) {
    switch (e.type) {
      case EventType::kCounter: ++counters; break;
      case EventType::kLog: ++logs; break;
      case EventType::kRegionBegin: case EventType::kRegionEnd: ++regions; break;
      case EventType::kSyscallBegin: case EventType::kSyscallEnd: ++syscalls; break;
      default: break;
    }
  }
  const int rounds = kRounds + 10;
  EXPECT_EQ(counters, rounds);
  EXPECT_EQ(logs, 2 * rounds);
  EXPECT_EQ(regions, 4 * rounds);
  EXPECT_EQ(syscalls, 2 * rounds);
}

// Emits every kind the benchmarks time, with nothing consuming the trace, and checks that
// the thread's recording state did not move and nothing was allocated.
void EmitDisabledAndCheck() {
  static const Name kRegion("cold-region");
  static const Name kCategory("cold-log");
  static const Name kCounter("cold-counter");
  static const Name kSyscall("cold-read");
  ASSERT_FALSE(tracer_internal::Enabled());
  const Task task;
  TaskRef t;
  t.id = hooks::NewTaskId();
  int object = 0;
  const tracer_internal::ThreadState& ts = tracer_internal::t_state;
  const uint32_t seq = ts.seq.load();
  char* const pos = ts.pos.load();
  tracer_internal::Buffer* const current = ts.current.load();
  const bool registered = ts.registered;
  const uint64_t news_before = t_news;
  for (int i = 0; i < 2000; ++i) {
    EmitRound(task, kRegion, kCategory, kCounter, kSyscall, i);
    hooks::TaskBlock(t, BlockReason::kMutex, &object);
    hooks::TaskUnblock(t, &object);
  }
  EXPECT_EQ(t_news - news_before, 0u);
  EXPECT_EQ(ts.seq.load(), seq) << "a disabled event entered a write section";
  EXPECT_EQ(ts.pos.load(), pos);
  EXPECT_EQ(ts.current.load(), current);
  EXPECT_EQ(ts.registered, registered) << "a disabled event registered the thread";
}

TEST_F(HotPathTest, DisabledEmissionWritesNothingAndAllocatesNothing) {
  ASSERT_FALSE(IsTracing());
  const TracerStats before = GetTracerStats();
  EmitDisabledAndCheck();
  // A thread that never traced stays unregistered.
  std::thread fresh([] {
    EmitDisabledAndCheck();
    EXPECT_FALSE(tracer_internal::t_state.registered);
  });
  fresh.join();
  const TracerStats after = GetTracerStats();
  EXPECT_EQ(after.threads_registered, before.threads_registered);
  EXPECT_EQ(after.events_lost, before.events_lost);
}

}  // namespace
}  // namespace tracer
