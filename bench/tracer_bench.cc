// Benchmarks of the tracer's recording path, each beside its floor, all read from one run.
//
//   BM_Tracer_Floor                 rdtsc + a 16-byte store into a thread-local buffer: the
//                                   least any event can cost.
//   BM_Tracer_FloorRdtsc            rdtsc alone (on a VM most of the floor).
//   BM_Tracer_<Kind>/off            tracing off: the disabled check (target <= 0.3 ns/event).
//   BM_Tracer_<Kind>/on             tracing on, stacks off: the hot path proper
//                                   (target <= 1.2x the floor).
//   BM_Tracer_<Kind>Literal/...     the same events through the convenient string-literal
//                                   overloads (StartRegion(task, "r"), StartRegion("r"),
//                                   Log(task, "cat", "msg")), beside the Name rows.
//   BM_Tracer_<Kind>/stacks         tracing on with the default stacks (task block/unblock and
//                                   syscall begin capture one; about 1 us each).
//   BM_Tracer_Seal                  the collector's sealing CPU per event (not a hot path: no
//                                   floor).
//   BM_Tracer_ThreadPoolContention  two workers on a mutex-protected queue; throughput with
//                                   tracing off vs on (target: <= 2% slower).
//
// Every per-event row (floor rows, off, on, stacks) runs in a bench::RunScope (bench_util.h):
// chunks of floor operations, of rdtsc alone and of events alternate in the timed loop, each
// timed on its own in thread CPU time, so the figures compare the three over the same stretch
// of time. Counters (plain numbers, thread 0's, per event; a pair counts as two events):
// ns_per_event, floor_ns, rdtsc_ns, x_floor (ns_per_event / floor_ns), over_rdtsc_ns
// (ns_per_event - rdtsc_ns: the hot path's own cost, which a ratio to a floor that is mostly
// rdtsc hides), dropped (tracer::GetTracerStats().events_lost over the run). A run that
// dropped is not a result: it is reported as an error, so it never reaches a median, and main
// exits 1. The framework's own Time/CPU columns cover all three kinds of chunk: read the
// counters. After the runs main prints a table of each row's median counters (or the single
// run's, without --benchmark_repetitions).
//
// Tracing sessions: benchmarks are registered grouped by mode (off, on, stacks) and a session
// is started only when the mode changes, so the 256 MiB pool is faulted in once per mode, as in
// a long-running process. The sink is /dev/null. Per-event runs: generations are cut before
// each run (WaitForCollector), none inside it; the thread-pool benchmark: the default 1 s
// period, as in production.
//
// Smoke mode (CI): tracer_bench --benchmark_min_time=0.01
// Results:   tracer_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// The display is always the console table (the summary needs it); --benchmark_out still works.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "bench_util.h"
#include "benchmark/benchmark.h"
#include "tracer/hooks.h"
#include "tracer/internal/collector.h"
#include "tracer/sink.h"
#include "tracer/tracer.h"

namespace {

using bench::EventsLost;
using bench::ThreadCpuNs;

// ---- Tracing sessions. -------------------------------------------------------------------

enum class Mode { kOff, kOn, kStacks };

// Generations are cut before each run (WaitForCollector) rather than by the clock.
constexpr absl::Duration kPeriod = absl::Seconds(30);

// Process-wide; only benchmark thread 0 calls Ensure, before its timed loop (the other
// threads wait at the loop's start barrier, so they see the new state).
class Session {
 public:
  // `period`: the generation period of the session (per-event runs cut explicitly instead).
  // `production`: the default BufferConfig (pool and buffer sizes) instead of the per-event
  // runs' 256 MiB pool, which a tight loop needs but which spreads a steady workload's events
  // over more memory than any cache holds.
  static void Ensure(Mode mode, absl::Duration period = kPeriod, bool production = false) {
    static Session* s = new Session;
    s->Switch(mode, period, production);
  }
  static void StopAll() { Ensure(Mode::kOff); }

 private:
  Session() : null_fd_(open("/dev/null", O_WRONLY | O_CLOEXEC)), sink_(null_fd_) {}

  void Switch(Mode mode, absl::Duration period, bool production) {
    if (mode == mode_ && (mode == Mode::kOff || (period == period_ && production == production_))) {
      return;
    }
    if (mode_ != Mode::kOff) {
      if (absl::Status st = tracer::StopTrace(); !st.ok()) Die("StopTrace", st);
    }
    mode_ = mode;
    period_ = period;
    production_ = production;
    if (mode == Mode::kOff) return;
    tracer::BufferConfig c;
    if (!production) c.pool_bytes = size_t{256} << 20;
    c.stacks = mode == Mode::kStacks;
    c.region_stacks = false;
    if (absl::Status st = tracer::SetBufferConfig(c); !st.ok()) Die("SetBufferConfig", st);
    tracer::TraceOptions o;
    o.generation_period = period;
    if (absl::Status st = tracer::StartTrace(sink_, o); !st.ok()) Die("StartTrace", st);
    // Warm up: a few generations' worth of events through every stage, so that the first
    // timed run does not pay for first-time work (thread registration, intern tables, the
    // first cuts).
    static const tracer::Name kWarm("warm-up");
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    while (std::chrono::steady_clock::now() < until) {
      for (int i = 0; i < 1000; ++i) tracer::Region r = tracer::StartRegion(tracer::Task(), kWarm);
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  [[noreturn]] static void Die(const char* what, const absl::Status& st) {
    std::fprintf(stderr, "tracer_bench: %s: %s\n", what, st.ToString().c_str());
    std::abort();
  }

  int null_fd_;
  tracer::FdSink sink_;
  Mode mode_ = Mode::kOff;
  absl::Duration period_ = kPeriod;
  bool production_ = false;
};


// Waits (up to 2 s) until the collector has caught up with earlier runs, which record far
// faster than any program would: a run should time the recording path, not a pool that an
// earlier run left full.
// Before each run: seal what earlier runs recorded (CutGeneration returns once the generation
// is delivered and its buffers are back in the pool), so that the timed loop runs with an
// idle collector and a free pool. The session's generation period is long (kPeriod), so no
// cut falls inside a timed loop: a per-event run times the recording path alone. (On this
// kind of VM a collector busy alongside slows the recording thread by up to ~2x, whatever
// the code does; the collector's own cost is what BM_Tracer_ThreadPoolContention measures,
// as process CPU.)
void WaitForCollector() {
  if (tracer::IsTracing()) {
    if (absl::Status st = tracer::tracer_internal::CutGeneration(); !st.ok()) {
      std::fprintf(stderr, "tracer_bench: CutGeneration: %s\n", st.ToString().c_str());
      std::abort();
    }
  }
}


// ---- The per-event runs. -----------------------------------------------------------------

// A per-event run: thread 0 starts the session of `mode` and seals what earlier runs
// recorded before the losses are counted.
bench::RunScope PerEventRun(benchmark::State& state, Mode mode, int events_per_iter) {
  return bench::RunScope(state, events_per_iter, [mode] {
    Session::Ensure(mode);
    WaitForCollector();
  });
}

// The timed loop of a per-event run (RunScope::Loop, the floor interleaved), with the event
// inlined into it. Tracing off, an event costs a fraction of a ns: longer chunks keep the
// clock reads around each chunk out of the figure (see bench::kChunkOff).
#define TRACER_BENCH_LOOP(run, mode, ...)                                           \
  do {                                                                              \
    if ((mode) == Mode::kOff) {                                                     \
      (run).Loop<bench::kChunkOff>([&]() __attribute__((always_inline)) { __VA_ARGS__; }); \
    } else {                                                                        \
      (run).Loop<bench::kChunkOn>([&]() __attribute__((always_inline)) { __VA_ARGS__; });  \
    }                                                                               \
  } while (0)

// The floor itself, and rdtsc alone, as events: their x floor shows the method's own noise
// (the floor's is 1.00 up to it).
void BM_Tracer_Floor(benchmark::State& state) {
  bench::RunScope run = PerEventRun(state, Mode::kOff, 1);
  bench::FloorBuffer& fb = bench::ThreadFloorBuffer();
  run.Loop([&]() __attribute__((always_inline)) { bench::FloorOp(fb); });
  run.End();
}
void BM_Tracer_FloorRdtsc(benchmark::State& state) {
  bench::RunScope run = PerEventRun(state, Mode::kOff, 1);
  run.Loop([&]() __attribute__((always_inline)) { bench::RdtscOp(); });
  run.End();
}

// ---- One benchmark per event kind. -------------------------------------------------------

const tracer::Name& RegionName() {
  static const tracer::Name n("bench-region");
  return n;
}
const tracer::Name& SyscallName() {
  static const tracer::Name n("read");
  return n;
}
const tracer::Name& LogCategory() {
  static const tracer::Name n("cache");
  return n;
}
const tracer::Name& CounterName() {
  static const tracer::Name n("queue-depth");
  return n;
}

// Region begin + end (2 events).
void BM_Tracer_RegionPair(benchmark::State& state, Mode mode) {
  bench::RunScope run = PerEventRun(state, mode, 2);
  const tracer::Task task;  // id 0: the thread's own time
  const tracer::Name& name = RegionName();
  TRACER_BENCH_LOOP(run, mode, {
    tracer::Region r = tracer::StartRegion(task, name);
    r.End();
  });
  run.End();
}

// Task block + unblock (2 events; each captures a stack when stacks are on).
void BM_Tracer_TaskBlockUnblock(benchmark::State& state, Mode mode) {
  bench::RunScope run = PerEventRun(state, mode, 2);
  tracer::TaskRef t;
  t.id = tracer::hooks::NewTaskId();  // no TaskCreate: the pair alone is timed
  int object = 0;
  TRACER_BENCH_LOOP(run, mode, {
    tracer::hooks::TaskBlock(t, tracer::BlockReason::kMutex, &object);
    tracer::hooks::TaskUnblock(t, &object);
  });
  run.End();
}

// Syscall begin + end (2 events; begin captures a stack when stacks are on).
void BM_Tracer_SyscallPair(benchmark::State& state, Mode mode) {
  bench::RunScope run = PerEventRun(state, mode, 2);
  const tracer::Name& name = SyscallName();
  TRACER_BENCH_LOOP(run, mode, {
    tracer::hooks::SyscallBegin(name);
    tracer::hooks::SyscallEnd();
  });
  run.End();
}

// A log with a short (12-byte) message (1 event).
void BM_Tracer_Log(benchmark::State& state, Mode mode) {
  bench::RunScope run = PerEventRun(state, mode, 1);
  const tracer::Task task;
  const tracer::Name& category = LogCategory();
  TRACER_BENCH_LOOP(run, mode, tracer::Log(task, category, "miss key 42!"));
  run.End();
}

// A counter sample (1 event).
void BM_Tracer_Counter(benchmark::State& state, Mode mode) {
  bench::RunScope run = PerEventRun(state, mode, 1);
  const tracer::Name& name = CounterName();
  int64_t v = 0;
  TRACER_BENCH_LOOP(run, mode, tracer::hooks::Counter(name, v++ & 1023));
  run.End();
}

// ---- A realistic workload: a thread pool with lock contention. ---------------------------

// About `ns` of CPU work that the compiler cannot remove (calibrated once).
class Work {
 public:
  static void Spin(uint64_t ns) {
    static const double kItersPerNs = Calibrate();
    Run(static_cast<uint64_t>(static_cast<double>(ns) * kItersPerNs));
  }

 private:
  static void Run(uint64_t iters) {
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (uint64_t i = 0; i < iters; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      benchmark::DoNotOptimize(x);
    }
  }
  static double Calibrate() {
    constexpr uint64_t kIters = 20'000'000;
    double best = 1e30;
    for (int i = 0; i < 3; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      Run(kIters);
      const auto t1 = std::chrono::steady_clock::now();
      best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count());
    }
    return static_cast<double>(kIters) / best;
  }
};

// Two workers pull tasks from a std::mutex-protected queue fed by the benchmark thread; each
// task starts, runs a region of `work_ns / 2`, takes a shared mutex (recording TaskBlock and
// TaskUnblock when it is contended), makes a real syscall inside SyscallBegin/End, works
// another `work_ns / 2` and ends. One iteration = one batch of kBatch tasks, fed and drained.
// Args: tracing (0 off, 1 on without stacks, 2 on with the default stacks), work_ns.
// Counters: tasks_per_s, events_per_s (traced events, counted by the workers; also when off,
// so the rate the hooks would record is visible), dropped.
// Time is the process's CPU time per batch (workers, feeder and the collector's sealing and
// writing), which a loaded machine's preemption does not inflate as it does wall time; the
// slowdown is tracing:1 (or 2) over tracing:0 with the same work_ns. The tracer runs with its
// default BufferConfig and generation period, as in production; the run pays for sealing
// exactly the events it recorded (sealed_per_batch; see the cuts around the timed loop).
void BM_Tracer_ThreadPoolContention(benchmark::State& state) {
  constexpr int kWorkers = 2;
  constexpr int kBatch = 1000;
  const Mode mode = state.range(0) == 0   ? Mode::kOff
                    : state.range(0) == 1 ? Mode::kOn
                                          : Mode::kStacks;
  const uint64_t work_ns = static_cast<uint64_t>(state.range(1));
  static const tracer::Name kTaskName("pool-task");
  static const tracer::Name kRegion("compute");
  static const tracer::Name kSyscall("getppid");

  // The default period and buffer config: cuts and memory as in production.
  Session::Ensure(mode, absl::Seconds(1), /*production=*/true);
  const uint64_t lost_before = EventsLost();

  // A task object of its own line (no false sharing): what to do, and the tracer's handle. The
  // feeder writes it and a worker reads it, as any pool moves its closures, with tracing off too.
  struct alignas(64) PoolTask {
    uint64_t work_ns = 0;
    tracer::TaskRef ref;
  };
  std::mutex queue_mu;
  std::condition_variable queue_cv, done_cv;
  std::deque<PoolTask*> queue;
  int pending = 0;  // tasks of the batch not yet finished; guarded by queue_mu
  bool stop = false;
  std::mutex shared_mu;  // the contended state each task touches
  uint64_t shared_counter = 0;
  std::atomic<uint64_t> events{0};

  std::atomic<uint64_t> worker_cpu_ns{0};
  auto worker = [&] {
    const uint64_t cpu0 = ThreadCpuNs();
    uint64_t my_events = 0;
    for (;;) {
      PoolTask* t;
      {
        std::unique_lock<std::mutex> l(queue_mu);
        queue_cv.wait(l, [&] { return stop || !queue.empty(); });
        if (stop) break;
        t = queue.front();
        queue.pop_front();
      }
      tracer::hooks::TaskStart(t->ref);
      ++my_events;
      {
        tracer::Region r = tracer::StartRegion(tracer::Task(), kRegion);
        Work::Spin(t->work_ns / 2);
      }
      my_events += 2;
      if (!shared_mu.try_lock()) {
        tracer::hooks::TaskBlock(t->ref, tracer::BlockReason::kMutex, &shared_mu);
        shared_mu.lock();
        tracer::hooks::TaskUnblock(t->ref, &shared_mu);
        tracer::hooks::TaskStart(t->ref);
        my_events += 3;
      }
      ++shared_counter;
      shared_mu.unlock();
      {
        tracer::hooks::ScopedSyscall sc(kSyscall);
        benchmark::DoNotOptimize(getppid());
      }
      my_events += 2;
      Work::Spin(t->work_ns / 2);
      tracer::hooks::TaskEnd(t->ref);
      ++my_events;
      bool last;
      {
        std::lock_guard<std::mutex> l(queue_mu);
        last = --pending == 0;
      }
      if (last) done_cv.notify_one();
    }
    events.fetch_add(my_events, std::memory_order_relaxed);
    worker_cpu_ns.fetch_add(ThreadCpuNs() - cpu0, std::memory_order_relaxed);
  };

  std::vector<PoolTask> tasks(kBatch);
  std::vector<std::thread> workers;
  for (int i = 0; i < kWorkers; ++i) workers.emplace_back(worker);
  Work::Spin(0);  // calibrate outside the timing

  // Everything recorded before the run (the session's warm-up, earlier runs) is sealed now,
  // outside the timing; the last iteration seals what the run recorded, inside it. So a run
  // pays for sealing exactly its own events, however its length falls against the period.
  WaitForCollector();
  const tracer::TracerStats stats_before = tracer::GetTracerStats();
  const int64_t last_iteration = static_cast<int64_t>(state.max_iterations);
  int64_t iteration = 0;
  const uint64_t feeder_cpu0 = ThreadCpuNs();
  for (auto _ : state) {
    {
      std::lock_guard<std::mutex> l(queue_mu);
      pending = kBatch;
    }
    for (PoolTask& t : tasks) {
      t.work_ns = work_ns;
      t.ref = {};
      tracer::hooks::TaskCreate(t.ref, kTaskName);
      {
        std::lock_guard<std::mutex> l(queue_mu);
        queue.push_back(&t);
      }
      queue_cv.notify_one();
    }
    {
      std::unique_lock<std::mutex> l(queue_mu);
      done_cv.wait(l, [&] { return pending == 0; });
    }
    if (++iteration == last_iteration) WaitForCollector();
  }

  {
    std::lock_guard<std::mutex> l(queue_mu);
    stop = true;
  }
  const uint64_t feeder_cpu_ns = ThreadCpuNs() - feeder_cpu0;
  queue_cv.notify_all();
  for (std::thread& w : workers) w.join();
  benchmark::DoNotOptimize(shared_counter);
  // Where the process CPU goes, per batch: the workers (tasks and their hooks), the feeder
  // (task creation and queueing), so a slowdown can be read off by thread.
  const double iters = static_cast<double>(state.iterations());
  state.counters["worker_us"] = static_cast<double>(worker_cpu_ns.load()) / 1e3 / iters;
  state.counters["feeder_us"] = static_cast<double>(feeder_cpu_ns) / 1e3 / iters;

  const double total_events =
      static_cast<double>(events.load()) + static_cast<double>(state.iterations()) * kBatch;
  state.counters["tasks_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * kBatch, benchmark::Counter::kIsRate);
  state.counters["events_per_s"] =
      benchmark::Counter(total_events, benchmark::Counter::kIsRate);
  // The collector's sealing cost per event, over the generations sealed during the run (the
  // tracer's cost beyond the hot path; 0 when off).
  const tracer::TracerStats stats_after = tracer::GetTracerStats();
  const uint64_t sealed = stats_after.events_sealed - stats_before.events_sealed;
  state.counters["sealed_per_batch"] = static_cast<double>(sealed) / iters;
  state.counters["seal_ns_per_event"] =
      sealed == 0 ? 0.0
                  : static_cast<double>(stats_after.seal_cpu_ns - stats_before.seal_cpu_ns) /
                        static_cast<double>(sealed);
  const uint64_t dropped = EventsLost() - lost_before;
  state.counters["dropped"] = static_cast<double>(dropped);
  if (dropped != 0) state.SkipWithError("dropped events (pool exhausted): not a result");
}

// The collector's cost per event: two threads record a thread pool's mix of events (untimed:
// per task create, start, a region, a syscall, a block/unblock/restart every other task, end;
// 100k tasks, ~0.8 M events, about a second of the pool benchmark's trace), then the timed
// part seals them into one generation (CutGeneration, on this thread: CPU time). Reports
// ns/event of sealing (scan for ids and task states, tables, encoding; the sink is /dev/null).
// The collector's cost per event: two threads record a thread pool's mix of events (untimed:
// per task create, start, a region, a syscall, a block/unblock/restart every other task, end;
// 100k tasks, ~0.8 M events, about a second of the pool benchmark's trace), then the timed
// part seals them into one generation (CutGeneration, on this thread). Reports ns_per_event:
// the process CPU of the cut (this thread and the collector: scan for ids and task states,
// tables, encoding; the sink is /dev/null) over the events it sealed. Not a hot path: it has
// no floor. One untimed round first, so that first-time setup (the task table and the
// tables' growth to this size, the collector's scratch) is not charged to the first
// iteration, which is the only one a smoke run has.
void BM_Tracer_Seal(benchmark::State& state) {
  static const tracer::Name kTaskName("pool-task");
  static const tracer::Name kRegion("compute");
  static const tracer::Name kSyscall("getppid");
  constexpr int kTasksPerThread = 50000;
  static std::mutex mu;  // only its address is recorded
  auto record = [&](int seed) {
    std::vector<tracer::TaskRef> refs(kTasksPerThread);
    for (int i = 0; i < kTasksPerThread; ++i) {
      tracer::TaskRef& t = refs[i];
      tracer::hooks::TaskCreate(t, kTaskName);
      tracer::hooks::TaskStart(t);
      {
        tracer::Region r = tracer::StartRegion(tracer::Task(), kRegion);
      }
      if (((i + seed) & 1) != 0) {
        tracer::hooks::TaskBlock(t, tracer::BlockReason::kMutex, &mu);
        tracer::hooks::TaskUnblock(t, &mu);
        tracer::hooks::TaskStart(t);
      }
      {
        tracer::hooks::ScopedSyscall sc(kSyscall);
      }
      tracer::hooks::TaskEnd(t);
    }
  };
  auto record_both = [&] {
    std::thread other(record, 1);
    record(0);
    other.join();
  };
  Session::Ensure(Mode::kOn);
  WaitForCollector();
  record_both();  // the untimed round
  WaitForCollector();
  const uint64_t lost_before = EventsLost();
  uint64_t events = 0, seal_cpu_ns = 0;
  for (auto _ : state) {
    state.PauseTiming();
    record_both();
    const tracer::TracerStats before = tracer::GetTracerStats();
    const uint64_t cpu0 = bench::ProcessCpuNs();
    state.ResumeTiming();
    WaitForCollector();  // seals what the two threads recorded
    state.PauseTiming();
    seal_cpu_ns += bench::ProcessCpuNs() - cpu0;
    events += tracer::GetTracerStats().events_sealed - before.events_sealed;
    state.ResumeTiming();
  }
  state.counters["events"] = static_cast<double>(events) / static_cast<double>(state.iterations());
  state.counters["ns_per_event"] =
      events == 0 ? 0.0 : static_cast<double>(seal_cpu_ns) / static_cast<double>(events);
  const uint64_t dropped = EventsLost() - lost_before;
  state.counters["dropped"] = static_cast<double>(dropped);
  if (dropped != 0) {
    state.SkipWithError(("dropped " + std::to_string(dropped) + " events: not a result").c_str());
  } else if (events == 0) {
    state.SkipWithError("sealed no events: not a result");
  }
}

// ---- Registration: grouped by mode, so each session starts once (see the top). ------------

BENCHMARK(BM_Tracer_Floor)->Threads(1)->Threads(2);
BENCHMARK(BM_Tracer_FloorRdtsc)->Threads(1)->Threads(2);

BENCHMARK_CAPTURE(BM_Tracer_RegionPair, off, Mode::kOff)->Threads(1)->Threads(2);
BENCHMARK_CAPTURE(BM_Tracer_TaskBlockUnblock, off, Mode::kOff)->Threads(1)->Threads(2);
BENCHMARK_CAPTURE(BM_Tracer_SyscallPair, off, Mode::kOff)->Threads(1)->Threads(2);
BENCHMARK_CAPTURE(BM_Tracer_Log, off, Mode::kOff)->Threads(1)->Threads(2);
BENCHMARK_CAPTURE(BM_Tracer_Counter, off, Mode::kOff)->Threads(1)->Threads(2);

// Tracing on: a fixed iteration count keeps each run's events (<= ~20 MiB) well inside the
// 256 MiB pool, so a run measures recording, not the drop path, even when the collector (one
// thread, sealing ~400 MB/s of synthetic events) falls behind a tight loop on a busy machine.
constexpr int kOnIterations = 1 << 19;  // a multiple of bench::kChunkOn
BENCHMARK_CAPTURE(BM_Tracer_RegionPair, on, Mode::kOn)->Iterations(kOnIterations)->Threads(1)->Threads(2);
BENCHMARK_CAPTURE(BM_Tracer_TaskBlockUnblock, on, Mode::kOn)->Iterations(kOnIterations)->Threads(1)->Threads(2);
BENCHMARK_CAPTURE(BM_Tracer_SyscallPair, on, Mode::kOn)->Iterations(kOnIterations)->Threads(1)->Threads(2);
BENCHMARK_CAPTURE(BM_Tracer_Log, on, Mode::kOn)->Iterations(kOnIterations)->Threads(1)->Threads(2);
BENCHMARK_CAPTURE(BM_Tracer_Counter, on, Mode::kOn)->Iterations(kOnIterations)->Threads(1)->Threads(2);

// ==== The convenient literal API (issue #15, item 11). ====================================
// The same events as the Name rows above, written as users write them: a string literal
// where the Name rows pass a tracer::Name. Their functions and registrations stay together in
// this block. Targets: as the Name rows (off <= 0.3 ns/event, on <= 1.2x the floor).

// StartRegion(task, "literal") + End (2 events).
void BM_Tracer_RegionPairLiteral(benchmark::State& state, Mode mode) {
  bench::RunScope run = PerEventRun(state, mode, 2);
  const tracer::Task task;
  TRACER_BENCH_LOOP(run, mode, {
    tracer::Region r = tracer::StartRegion(task, "bench-region");
    r.End();
  });
  run.End();
}

// StartRegion("literal") on the current task + End (2 events).
void BM_Tracer_RegionPairLiteralCurrentTask(benchmark::State& state, Mode mode) {
  bench::RunScope run = PerEventRun(state, mode, 2);
  TRACER_BENCH_LOOP(run, mode, {
    tracer::Region r = tracer::StartRegion("bench-region");
    r.End();
  });
  run.End();
}

// Log(task, "literal category", "message") (1 event).
void BM_Tracer_LogLiteral(benchmark::State& state, Mode mode) {
  bench::RunScope run = PerEventRun(state, mode, 1);
  const tracer::Task task;
  TRACER_BENCH_LOOP(run, mode, tracer::Log(task, "cache", "miss key 42!"));
  run.End();
}

// Registered here, after the Name rows' `on` block and before BM_Tracer_Seal (which runs in
// the `on` session too): off, then on (one session restart).
constexpr int kLiteralOnIterations = 1 << 19;  // as kOnIterations above: fits in the pool
BENCHMARK_CAPTURE(BM_Tracer_RegionPairLiteral, off, Mode::kOff)->Threads(1)->Threads(2);
BENCHMARK_CAPTURE(BM_Tracer_RegionPairLiteralCurrentTask, off, Mode::kOff)->Threads(1)->Threads(2);
BENCHMARK_CAPTURE(BM_Tracer_LogLiteral, off, Mode::kOff)->Threads(1)->Threads(2);
BENCHMARK_CAPTURE(BM_Tracer_RegionPairLiteral, on, Mode::kOn)
    ->Iterations(kLiteralOnIterations)->Threads(1)->Threads(2);
BENCHMARK_CAPTURE(BM_Tracer_RegionPairLiteralCurrentTask, on, Mode::kOn)
    ->Iterations(kLiteralOnIterations)->Threads(1)->Threads(2);
BENCHMARK_CAPTURE(BM_Tracer_LogLiteral, on, Mode::kOn)
    ->Iterations(kLiteralOnIterations)->Threads(1)->Threads(2);

// ==== End of the literal API block. =======================================================

BENCHMARK(BM_Tracer_Seal)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

// Stacks are captured on task block/unblock and syscall begin (regions and logs: never by
// default, so their stacks runs would repeat the `on` ones).
BENCHMARK_CAPTURE(BM_Tracer_TaskBlockUnblock, stacks, Mode::kStacks)->Threads(1)->Threads(2);
BENCHMARK_CAPTURE(BM_Tracer_SyscallPair, stacks, Mode::kStacks)->Threads(1)->Threads(2);

// work_ns 1000: ~1 us tasks (the size; ~10x the 1 M events/s target rate on two
// workers); work_ns 16000: the task size at which two workers record ~1 M events/s.
BENCHMARK(BM_Tracer_ThreadPoolContention)
    ->ArgNames({"tracing", "work_ns"})
    ->Args({0, 16000})->Args({1, 16000})->Args({2, 16000})
    ->Args({0, 1000})->Args({1, 1000})->Args({2, 1000})
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMicrosecond);

// ---- The summary: each row's median counters, from this run. -----------------------------

// Forwards to the console and keeps each benchmark's representative run (bench::
// IsRepresentative) and whether any run reported an error.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  SummaryReporter() : ConsoleReporter(OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& reports) override {
    for (const Run& r : reports) {
      const std::string label = r.run_name.function_name +
                                (r.run_name.args.empty() ? "" : "/" + r.run_name.args) +
                                "/threads:" + std::to_string(r.threads);
      Row& row = rows_[label];
      if (row.order == 0) row.order = ++next_order_;
      row.label = label;
      row.function = r.run_name.function_name;
      row.threads = static_cast<int>(r.threads);
      if (r.error_occurred) {
        row.error = r.error_message.empty() ? "error" : r.error_message;
        any_error_ = true;
        continue;
      }
      if (!bench::IsRepresentative(r)) continue;
      row.cpu_ns = r.GetAdjustedCPUTime() *
                   (r.time_unit == benchmark::kMicrosecond   ? 1e3
                    : r.time_unit == benchmark::kMillisecond ? 1e6
                    : r.time_unit == benchmark::kSecond      ? 1e9
                                                             : 1.0);
      for (const auto& [k, c] : r.counters) row.counters[k] = c.value;
      row.valid = true;
    }
    ConsoleReporter::ReportRuns(reports);
  }

  bool any_error() const { return any_error_; }

  void PrintSummary() const {
    std::vector<const Row*> rows;
    for (const auto& [k, row] : rows_) rows.push_back(&row);
    std::sort(rows.begin(), rows.end(),
              [](const Row* a, const Row* b) { return a->order < b->order; });
    auto print_error = [](const Row* r) {
      std::printf("%-52s ERROR (%s): not a result\n", r->label.c_str(), r->error.c_str());
    };

    std::printf("\nSummary (%s)\n", any_median_ ? "medians" : "single runs");
    std::printf("Per-event cost\n");
    bench::PrintPerEventHeader();
    for (const Row* r : rows) {
      if (!r->error.empty() && r->IsPerEvent()) print_error(r);
      if (!r->error.empty() || !r->valid || r->counters.count("floor_ns") == 0) continue;
      bench::PrintPerEventRow(r->label, r->counters, r->label.find("/off/") != std::string::npos);
    }
    bench::PrintPerEventLegend();

    // The literal API beside the Name API: the same event, the same mode and threads.
    bool header = false;
    for (const Row* r : rows) {
      const size_t lit = r->function.find("Literal");
      if (lit == std::string::npos || !r->valid || !r->error.empty()) continue;
      // BM_Tracer_RegionPairLiteralCurrentTask/on/threads:1 -> BM_Tracer_RegionPair/on/threads:1
      std::string name_label = r->label;
      name_label.erase(lit, name_label.find('/', lit) - lit);
      auto it = rows_.find(name_label);
      if (it == rows_.end() || !it->second.valid || !it->second.error.empty()) continue;
      if (!header) {
        std::printf("\nString literal API over the Name API (same event, mode and threads)\n");
        std::printf("%-52s %12s %12s %9s\n", "benchmark", "literal ns", "Name ns", "x Name");
        header = true;
      }
      const double a = r->Get("ns_per_event"), b = it->second.Get("ns_per_event");
      std::printf("%-52s %12.3f %12.3f %9.2f\n", r->label.c_str(), a, b, b > 0 ? a / b : 0);
    }

    for (const Row* r : rows) {
      if (r->function != "BM_Tracer_Seal") continue;
      std::printf("\nSealing (the collector's CPU per event; not a hot path, no floor)\n");
      if (!r->error.empty()) {
        print_error(r);
      } else if (r->valid) {
        std::printf("%-52s %8.2f ns/event over %.0f events per cut\n", r->label.c_str(),
                    r->Get("ns_per_event"), r->Get("events"));
      }
    }

    // Thread pool: slowdown of each traced run over the untraced one with the same work_ns.
    std::map<std::string, double> pool;  // label -> process CPU ns per batch
    for (const Row* r : rows) {
      if (r->function != "BM_Tracer_ThreadPoolContention") continue;
      if (!r->error.empty()) print_error(r);
      if (r->valid && r->error.empty()) pool[r->label] = r->cpu_ns;
    }
    if (!pool.empty()) std::printf("\nThread pool (process CPU per batch, vs tracing:0)\n");
    for (const auto& [label, ns] : pool) {
      const size_t t = label.find("tracing:");
      if (t == std::string::npos || label.compare(t, 9, "tracing:0") == 0) continue;
      std::string off = label;
      off.replace(t, 9, "tracing:0");
      auto it = pool.find(off);
      if (it == pool.end() || it->second <= 0) continue;
      std::printf("%-52s slowdown %+.2f%%\n", label.c_str(), 100.0 * (ns / it->second - 1.0));
    }
    if (any_error_) std::printf("\nSome runs reported an error (above): exit status 1\n");
  }

  void NoteMedians() { any_median_ = true; }

 private:
  struct Row {
    int order = 0;
    std::string label, function;  // function: BENCHMARK_CAPTURE's includes "/<capture>"
    int threads = 1;
    bool valid = false;
    std::string error;  // non-empty: some run of this row reported it
    double cpu_ns = 0;
    std::map<std::string, double> counters;
    double Get(const std::string& k) const {
      auto it = counters.find(k);
      return it == counters.end() ? 0 : it->second;
    }
    bool IsPerEvent() const {
      return function != "BM_Tracer_Seal" && function != "BM_Tracer_ThreadPoolContention";
    }
  };
  std::map<std::string, Row> rows_;
  int next_order_ = 0;
  bool any_median_ = false;
  bool any_error_ = false;
};

}  // namespace

// Exits 1 if any run reported an error (dropped events, nothing sealed), so that a smoke run
// of a broken benchmark fails.
int main(int argc, char** argv) {
  const bool repetitions = bench::RepetitionsRequested(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  SummaryReporter reporter;
  if (repetitions) reporter.NoteMedians();
  benchmark::RunSpecifiedBenchmarks(&reporter);
  Session::StopAll();
  reporter.PrintSummary();
  benchmark::Shutdown();
  return reporter.any_error() ? 1 : 0;
}
