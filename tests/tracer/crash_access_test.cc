// What a fatal-signal handler reads (tracer/internal/crash_access.h): every tracing thread's
// unsealed events, as whole events even when the thread is caught mid-write, and no exited
// thread's freed state while a reader runs.

#include "tracer/internal/crash_access.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstring>
#include <latch>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "format/trace_reader.h"
#include "format/trace_writer.h"
#include "gtest/gtest.h"
#include "tests/tracer/test_util.h"
#include "tracer/hooks.h"
#include "tracer/internal/collector.h"
#include "tracer/tracer.h"

namespace tracer::tracer_internal {
namespace {

using format::EventType;

struct Copied {
  UnsealedBatch batch;
  std::string bytes;
};

void Collect(const UnsealedBatch& b, void* ctx) {
  auto* out = static_cast<std::vector<Copied>*>(ctx);
  out->push_back({b, std::string(b.data, b.len)});
}

// The copied batches as one crash generation, read back: counters by thread, in order.
std::map<uint64_t, std::vector<int64_t>> DecodeCounters(const std::vector<Copied>& batches,
                                                        uint32_t name_id,
                                                        std::string* error = nullptr) {
  std::string file;
  format::AppendFileHeader(&file);
  format::GenerationBuilder gb(1);
  gb.SetClock({1000000000, 0, 0, 0});
  gb.SetCrash();
  gb.AddString(name_id, "crash-counter");
  for (const Copied& c : batches) {
    gb.AddCrashBatch(c.batch.thread, c.batch.seq, c.batch.base_tick, c.bytes);
  }
  gb.AppendTo(&file, /*compress=*/false);
  std::map<uint64_t, std::vector<int64_t>> out;
  auto rb = testing::ReadTrace(file);
  if (!rb.ok()) {
    if (error != nullptr) *error = std::string(rb.status().message());
    return out;
  }
  for (const auto& d : rb->generations[0]->dropped_batches) {
    if (error != nullptr) *error += d.reason + "\n";
  }
  for (const auto& [e, g] : rb->events) {
    if (e.type == EventType::kCounter && e.args[0] == name_id) {
      out[e.thread].push_back(static_cast<int64_t>(e.args[1]));
    }
  }
  return out;
}

TEST(CrashAccessTest, EveryTracingThreadsUnsealedEventsAreReadWhole) {
  StringSink sink;
  TraceOptions o;
  o.generation_period = absl::Seconds(60);  // no cut: the events stay in the buffers
  ASSERT_TRUE(StartTrace(sink, o).ok());
  static const Name kName("crash-counter");
  constexpr int kThreads = 3, kEvents = 300;
  std::latch written(kThreads), release(1);
  std::vector<std::thread> threads;
  std::vector<uint64_t> tids(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      tids[t] = static_cast<uint64_t>(gettid());
      for (int i = 0; i < kEvents; ++i) hooks::Counter(kName, i);
      written.count_down();
      release.wait();
    });
  }
  written.wait();
  std::vector<Copied> batches;
  batches.reserve(kCrashThreadSlots);
  {
    CrashReadScope scope;
    const size_t visited = ForEachUnsealedBatch(&Collect, &batches);
    EXPECT_GE(visited, static_cast<size_t>(kThreads));
  }
  release.count_down();
  for (auto& t : threads) t.join();
  ASSERT_TRUE(StopTrace().ok());
  std::string error;
  const auto counters = DecodeCounters(batches, kName.id(), &error);
  EXPECT_TRUE(error.empty()) << error;
  for (int t = 0; t < kThreads; ++t) {
    auto it = counters.find(tids[t]);
    ASSERT_NE(it, counters.end()) << "thread " << tids[t];
    ASSERT_EQ(it->second.size(), static_cast<size_t>(kEvents));
    for (int i = 0; i < kEvents; ++i) EXPECT_EQ(it->second[i], i);
  }
  for (const Copied& c : batches) EXPECT_FALSE(c.batch.mid_write);
}

// A handler on a thread caught inside its own event write (as a crash handler is) reads that
// thread's buffer up to the last whole event.
std::atomic<int> g_signals{0}, g_mid_write{0};
Copied g_copy[64];
std::atomic<int> g_copies{0};
uint64_t g_target = 0;

void OnSignal(int) {
  CrashReadScope scope;
  ForEachUnsealedBatch(
      [](const UnsealedBatch& b, void*) {
        if (b.thread != g_target) return;
        const int k = g_copies.load(std::memory_order_relaxed);
        if (k >= 64) return;
        // Only what is async-signal-safe: a fixed slot, memcpy into preallocated bytes.
        Copied& c = g_copy[k];
        c.batch = b;
        std::memcpy(c.bytes.data(), b.data, std::min(b.len, c.bytes.size()));
        c.batch.len = std::min(b.len, c.bytes.size());
        if (b.mid_write) g_mid_write.fetch_add(1, std::memory_order_relaxed);
        g_copies.store(k + 1, std::memory_order_relaxed);
      },
      nullptr);
  g_signals.fetch_add(1, std::memory_order_relaxed);
}

TEST(CrashAccessTest, AHandlerThatInterruptsItsThreadsWriteReadsWholeEvents) {
  for (Copied& c : g_copy) c.bytes.assign(1 << 16, '\0');
  BufferConfig bc;
  bc.buffer_bytes = 64 << 10;
  bc.pool_bytes = 16 << 20;
  ASSERT_TRUE(SetBufferConfig(bc).ok());
  // The thread floods: what is sealed is counted, not kept.
  class CountingSink : public Sink {
   public:
    absl::Status Write(absl::string_view d) override {
      bytes += d.size();
      return absl::OkStatus();
    }
    absl::Status Flush() override { return absl::OkStatus(); }
    size_t bytes = 0;
  } sink;
  TraceOptions o;
  o.generation_period = absl::Seconds(60);
  ASSERT_TRUE(StartTrace(sink, o).ok());
  static const Name kName("crash-counter");
  struct sigaction sa = {};
  sa.sa_handler = &OnSignal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old = {};
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  std::atomic<bool> stop{false}, started{false};
  pthread_t handle{};
  std::thread t([&] {
    g_target = static_cast<uint64_t>(gettid());
    handle = pthread_self();
    hooks::Counter(kName, 0);
    started = true;
    // Counters 1..1500 over and over: each copy holds a run of them, in order.
    for (int i = 1; !stop.load(std::memory_order_relaxed); i = i % 1500 + 1) {
      hooks::Counter(kName, i);  // flat out: most of its time is inside a write
    }
  });
  while (!started.load()) absl::SleepFor(absl::Milliseconds(1));
  // One signal at a time (a second one sent while the first is pending would merge with it).
  for (int k = 0; k < 64; ++k) {
    const int before = g_signals.load();
    pthread_kill(handle, SIGUSR1);
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (g_signals.load() == before && absl::Now() < deadline) {
      absl::SleepFor(absl::Microseconds(100));
    }
    if (g_signals.load() == before) {
      ADD_FAILURE() << "signal " << k << " not handled within 5 s";
      break;
    }
  }
  stop = true;
  t.join();
  ASSERT_EQ(sigaction(SIGUSR1, &old, nullptr), 0);
  ASSERT_TRUE(StopTrace().ok());
  ASSERT_GT(g_copies.load(), 0);
  // Each copy, read as a crash batch, decodes whole.
  for (int k = 0; k < g_copies.load(); ++k) {
    Copied c = g_copy[k];
    c.bytes.resize(c.batch.len);
    std::string error;
    const auto counters = DecodeCounters({c}, kName.id(), &error);
    EXPECT_TRUE(error.empty()) << "copy " << k << ": " << error;
    ASSERT_EQ(counters.size(), 1u) << "copy " << k;
    const std::vector<int64_t>& v = counters.begin()->second;
    for (size_t i = 1; i < v.size(); ++i) {
      ASSERT_EQ(v[i], v[i - 1] % 1500 + 1) << "copy " << k << ", event " << i;
    }
  }
  RecordProperty("mid_write", g_mid_write.load());
  EXPECT_GT(g_mid_write.load(), 0) << "no signal landed inside a write: the test saw nothing";
}

// While a CrashReadScope is open, an exiting thread keeps its state (its TLS) until it closes.
TEST(CrashAccessTest, AThreadExitWaitsForAnOpenCrashReadScope) {
  StringSink sink;
  ASSERT_TRUE(StartTrace(sink).ok());
  static const Name kName("crash-counter");
  std::atomic<bool> joined{false};
  std::unique_ptr<CrashReadScope> scope = std::make_unique<CrashReadScope>();
  std::thread exiting([] { hooks::Counter(kName, 1); });  // registers, then exits
  std::thread joiner([&] {
    exiting.join();
    joined = true;
  });
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_FALSE(joined.load()) << "the exit did not wait for the crash reader";
  EXPECT_TRUE(CrashReadersActive());
  scope.reset();
  joiner.join();
  EXPECT_TRUE(joined.load());
  ASSERT_TRUE(StopTrace().ok());
}

// The listing a crash dump ends with: the collector's tracked tasks as of its last cut, read
// from the handler's side.
TEST(CrashAccessTest, TheLiveTasksAreReadForACrashListing) {
  StringSink sink;
  TraceOptions o;
  o.generation_period = absl::Seconds(60);
  ASSERT_TRUE(StartTrace(sink, o).ok());
  static const Name kName("crash-task");
  constexpr int kParked = 5000;  // more than one chunk of the table
  std::vector<TaskRef> parked(kParked);
  int object = 0;
  for (TaskRef& t : parked) {
    hooks::TaskCreate(t, kName);
    hooks::TaskStart(t);
    hooks::TaskBlock(t, BlockReason::kMutex, &object);
  }
  TaskRef running;
  hooks::TaskCreate(running, kName);
  hooks::TaskStart(running);
  ASSERT_TRUE(CutGeneration().ok());  // the collector applies them
  std::vector<format::LiveTask> live;
  live.reserve(kParked + 100);
  {
    CrashReadScope scope;
    ForEachLiveTaskForCrash(
        [](const format::LiveTask& t, void* ctx) {
          static_cast<std::vector<format::LiveTask>*>(ctx)->push_back(t);
        },
        &live);
  }
  hooks::TaskEnd(running);
  ASSERT_TRUE(StopTrace().ok());
  std::map<uint64_t, format::LiveTask> by_id;
  for (const format::LiveTask& t : live) by_id[t.id] = t;
  EXPECT_EQ(by_id.size(), live.size()) << "each task once";
  for (const TaskRef& t : parked) {
    auto it = by_id.find(t.id);
    ASSERT_NE(it, by_id.end()) << t.id;
    EXPECT_EQ(it->second.status, format::TaskStatus::kBlocked);
    EXPECT_EQ(it->second.reason, BlockReason::kMutex);
    EXPECT_EQ(it->second.object, reinterpret_cast<uint64_t>(&object));
    EXPECT_NE(it->second.stack, 0u);
    EXPECT_EQ(it->second.name, kName.id());
  }
  auto it = by_id.find(running.id);
  ASSERT_NE(it, by_id.end());
  EXPECT_EQ(it->second.status, format::TaskStatus::kRunning);
  EXPECT_EQ(it->second.thread, static_cast<uint64_t>(gettid()));
}

}  // namespace
}  // namespace tracer::tracer_internal
