// Benchmarks of the kit (tracer/sync/): each lock and the pool beside its std:: (and absl::)
// equivalent, tracing off and on, all read from one run.
//
//   BM_Sync_Mutex/<impl>/<mode>              uncontended Lock + Unlock, one thread; ns per pair.
//                                            impl: std (std::mutex), absl (absl::Mutex), tracer.
//   BM_Sync_RwMutexReader/<impl>/<mode>      uncontended ReaderLock + ReaderUnlock (std:
//                                            std::shared_mutex lock_shared/unlock_shared).
//   BM_Sync_RwMutexWriter/<impl>/<mode>      uncontended Lock + Unlock of the same locks.
//   BM_Sync_MutexContended/<impl>/<mode>     two threads (->Threads(2)) incrementing one counter
//                                            under one lock; ns per pair (wall time over both
//                                            threads' pairs). events_per_kop: trace events
//                                            sealed per 1000 pairs (tracer::Mutex's blocks and
//                                            unblocks, tracing on): how often the slow path ran.
//   BM_Sync_MutexContendedHold/<impl>/<mode> the same with the lock held ~2 us (kHoldNs): longer
//                                            than the spin, so nearly every unlock wakes a
//                                            parked waiter; tracing on, it records the unblock
//                                            with the unlock site's stack (on vs on_nostacks).
//                                            The summary prints cpu/wall (both threads' CPU
//                                            over wall time): in the hold-0 rows ~2 if they ran
//                                            at once, ~1 if a loaded machine time-sliced them.
//   BM_Sync_PoolLatency/<impl>/<mode>        submit-to-start latency of a 2-worker pool: kJobs
//                                            jobs submitted one at a time (the next once the
//                                            previous has started: an idle worker is woken each
//                                            time); p50_us / p99_us of (start - submit), steady
//                                            clock. impl: tracer (tracer::ThreadPool), std (a
//                                            std::mutex + std::condition_variable +
//                                            std::deque<std::function> pool written below).
//   BM_Sync_Channel/<impl>/<mode>            one producer, one consumer (its own thread), kItems
//                                            ints through a queue of kChannelDepth; ns per item
//                                            (wall). impl: tracer (tracer::Channel<int>), std (a
//                                            std::mutex + two std::condition_variable bounded
//                                            queue written below). events_per_kop: trace events
//                                            sealed per 1000 items (the waits of a side that
//                                            found the queue full or empty).
//   BM_Sync_ChannelUnbuffered/tracer/<mode>  the same through tracer::Channel<int>(0), Go's
//                                            rendezvous: every item is a hand-off (no std row).
//
// Modes: off (nothing traces), on_nostacks (a capture with stacks off), on (a capture with the
// default BufferConfig's stacks: the unlock that wakes a waiter captures its stack, ~1 us).
// on_nostacks vs on isolates what the unlock-site stack costs. A capture writes to a Sink that
// discards; benchmarks are registered grouped by mode, so each session starts once.
//
// The floor of each family is its std row in the same mode and the same run: the summary
// prints x std (the row over it) and x off (the row over the same impl tracing off). The
// per-pair rows (uncontended) also run in a bench::RunScope, so they carry the rdtsc + store
// floor interleaved chunk by chunk (floor_ns, x_floor), as tracer_bench's rows do.
// A run that dropped events is reported as an error (never a median) and main exits 1.
//
// Smoke mode (CI): sync_bench --benchmark_min_time=0.01   (a few seconds)
// Results:   sync_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench_util.h"
#include "benchmark/benchmark.h"
#include "tracer/internal/collector.h"
#include "tracer/sink.h"
#include "tracer/sync/channel.h"
#include "tracer/sync/mutex.h"
#include "tracer/sync/thread_pool.h"
#include "tracer/tracer.h"

namespace {

using bench::EventsLost;

// ---- Tracing sessions. -------------------------------------------------------------------

enum class Mode { kOff, kOnNoStacks, kOn };
const char* ModeName(Mode m) {
  return m == Mode::kOff ? "off" : m == Mode::kOnNoStacks ? "on_nostacks" : "on";
}

// Throws every generation away: the capture's cost without a write(2) per generation.
class DiscardSink final : public tracer::Sink {
 public:
  absl::Status Write(absl::string_view) override { return absl::OkStatus(); }
};

// Process-wide; only benchmark thread 0 calls Ensure, before its timed loop (the other threads
// wait at the loop's start barrier, so they see the new state). Generations are cut before and
// after each run (Cut), none by the clock inside it (a 30 s period).
class Session {
 public:
  static void Ensure(Mode mode) { Get().Switch(mode); }
  static void StopAll() { Get().Switch(Mode::kOff); }
  // Seals everything recorded so far (returns once it is delivered and its buffers are free).
  static void Cut() {
    if (!tracer::IsTracing()) return;
    if (absl::Status st = tracer::tracer_internal::CutGeneration(); !st.ok()) {
      Die("CutGeneration", st);
    }
  }

 private:
  static Session& Get() {
    static Session* s = new Session;
    return *s;
  }

  void Switch(Mode mode) {
    if (mode == mode_) return;
    if (mode_ != Mode::kOff) {
      if (absl::Status st = tracer::StopTrace(); !st.ok()) Die("StopTrace", st);
    }
    mode_ = mode;
    if (mode == Mode::kOff) return;
    tracer::BufferConfig c;
    c.pool_bytes = size_t{256} << 20;  // a contended tight loop records fast: no drops
    c.stacks = mode == Mode::kOn;
    if (absl::Status st = tracer::SetBufferConfig(c); !st.ok()) Die("SetBufferConfig", st);
    tracer::TraceOptions o;
    o.generation_period = absl::Seconds(30);
    if (absl::Status st = tracer::StartTrace(sink_, o); !st.ok()) Die("StartTrace", st);
  }

  [[noreturn]] static void Die(const char* what, const absl::Status& st) {
    std::fprintf(stderr, "sync_bench: %s: %s\n", what, st.ToString().c_str());
    std::abort();
  }

  DiscardSink sink_;
  Mode mode_ = Mode::kOff;
};

// ---- The locks, behind one set of names (inlined: the adapters add nothing). -------------

struct StdLock {
  std::mutex mu;
  void Lock() { mu.lock(); }
  void Unlock() { mu.unlock(); }
};
struct AbslLock {
  absl::Mutex mu;
  void Lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.Lock(); }
  void Unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.Unlock(); }
};
struct TracerLock {
  tracer::Mutex mu;
  void Lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.Lock(); }
  void Unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.Unlock(); }
};
struct StdRwLock {
  std::shared_mutex mu;
  void Lock() { mu.lock(); }
  void Unlock() { mu.unlock(); }
  void ReaderLock() { mu.lock_shared(); }
  void ReaderUnlock() { mu.unlock_shared(); }
};
struct TracerRwLock {
  tracer::RwMutex mu;
  void Lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.Lock(); }
  void Unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.Unlock(); }
  void ReaderLock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.ReaderLock(); }
  void ReaderUnlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu.ReaderUnlock(); }
};

// ---- Uncontended pairs: one thread, in a RunScope (the floor interleaved). ----------------

// A per-pair run: thread 0 starts the session of `mode` and seals earlier runs' events.
bench::RunScope PairRun(benchmark::State& state, Mode mode) {
  return bench::RunScope(state, /*events_per_iter=*/1, [mode] {
    Session::Ensure(mode);
    Session::Cut();
  });
}

template <typename L>
void BM_Sync_Mutex(benchmark::State& state, Mode mode) {
  bench::RunScope run = PairRun(state, mode);
  alignas(64) L l;
  run.Loop([&]() __attribute__((always_inline)) {
    l.Lock();
    l.Unlock();
  });
  run.End();
}

template <typename L>
void BM_Sync_RwMutexReader(benchmark::State& state, Mode mode) {
  bench::RunScope run = PairRun(state, mode);
  alignas(64) L l;
  run.Loop([&]() __attribute__((always_inline)) {
    l.ReaderLock();
    l.ReaderUnlock();
  });
  run.End();
}

template <typename L>
void BM_Sync_RwMutexWriter(benchmark::State& state, Mode mode) {
  bench::RunScope run = PairRun(state, mode);
  alignas(64) L l;
  run.Loop([&]() __attribute__((always_inline)) {
    l.Lock();
    l.Unlock();
  });
  run.End();
}

// ---- Contended hand-off: two threads, one lock, one counter. -------------------------------

constexpr uint64_t kHoldNs = 2000;

// Shared by the benchmark's threads; one per lock type (a run of one type at a time).
template <typename L>
struct Contended {
  alignas(64) L lock;
  alignas(64) uint64_t counter = 0;  // guarded by lock
  uint64_t lost_before = 0;          // thread 0's, around the run
  uint64_t sealed_before = 0;
};

// Busy for about `ns` (the holder's critical section in the Hold rows).
inline void SpinFor(uint64_t ns) {
  const uint64_t until = bench::NowNs() + ns;
  while (bench::NowNs() < until) {
  }
}

// `hold_ns`: 0, the hand-off of a bare ++counter (a waiter's spin nearly always wins: the
// slow path is rare); kHoldNs, a critical section longer than the spin, so nearly every
// unlock wakes a parked waiter and (tracing on) records the unblock with the unlock site's
// stack: the rows that price that stack.
template <typename L>
void BM_Sync_MutexContended(benchmark::State& state, Mode mode, uint64_t hold_ns) {
  static Contended<L> c;
  if (state.thread_index() == 0) {
    Session::Ensure(mode);
    Session::Cut();
    c.counter = 0;
    c.lost_before = EventsLost();
    c.sealed_before = tracer::GetTracerStats().events_sealed;
  }
  for (auto _ : state) {  // starts and ends with a barrier of every thread
    c.lock.Lock();
    ++c.counter;
    if (hold_ns != 0) SpinFor(hold_ns);
    c.lock.Unlock();
  }
  if (state.thread_index() != 0) return;
  Session::Cut();  // the other thread is past its loop (the end barrier): seal its events too
  const uint64_t sealed = tracer::GetTracerStats().events_sealed - c.sealed_before;
  const uint64_t dropped = EventsLost() - c.lost_before;
  const double pairs = static_cast<double>(state.iterations()) * state.threads();
  state.counters["events_per_kop"] = 1000.0 * static_cast<double>(sealed) / pairs;
  state.counters["dropped"] = static_cast<double>(dropped);
  if (c.counter != static_cast<uint64_t>(pairs)) {
    state.SkipWithError("lost increments: the lock let two holders in");
  } else if (dropped != 0) {
    state.SkipWithError(("dropped " + std::to_string(dropped) + " events: not a result").c_str());
  }
}

// ---- Submit-to-start latency. ------------------------------------------------------------

// The plain pool the kit's is compared with: what a program without the kit writes.
class StdPool {
 public:
  explicit StdPool(int threads) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Worker(); });
  }
  ~StdPool() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  StdPool(const StdPool&) = delete;
  StdPool& operator=(const StdPool&) = delete;

  void Submit(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> l(mu_);
      queue_.push_back(std::move(fn));
    }
    cv_.notify_one();
  }

 private:
  void Worker() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stop_, drained
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stop_ = false;                        // guarded by mu_
  std::vector<std::thread> workers_;
};

constexpr int kPoolThreads = 2;
constexpr int kJobs = 2000;

inline int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// `make_pool()` returns the pool; `submit(pool, fn)` queues fn. Each job records its start;
// the submitter waits (yielding) until it has, then submits the next, so each job finds an
// idle pool: the figure is the wake-up path, not queueing behind earlier jobs.
template <typename MakePool, typename SubmitFn>
void PoolLatency(benchmark::State& state, Mode mode, MakePool make_pool, SubmitFn submit) {
  Session::Ensure(mode);
  Session::Cut();
  const uint64_t lost_before = EventsLost();
  std::vector<int64_t> latency_ns;
  latency_ns.reserve(static_cast<size_t>(kJobs) * 4);
  {
    auto pool = make_pool();
    std::vector<int64_t> submit_ns(kJobs), start_ns(kJobs);
    for (auto _ : state) {
      for (int i = 0; i < kJobs; ++i) {
        std::atomic<bool> started{false};
        submit_ns[i] = SteadyNs();
        submit(*pool, [&started, &start_ns, i] {
          start_ns[i] = SteadyNs();
          started.store(true, std::memory_order_release);  // pairs with the acquire below
        });
        // acquire: start_ns[i] is visible once started is.
        while (!started.load(std::memory_order_acquire)) std::this_thread::yield();
      }
      for (int i = 0; i < kJobs; ++i) latency_ns.push_back(start_ns[i] - submit_ns[i]);
    }
  }  // the pool joins its workers here: every job has returned
  Session::Cut();
  std::sort(latency_ns.begin(), latency_ns.end());
  auto pct = [&](double p) {
    if (latency_ns.empty()) return 0.0;
    const size_t i = std::min(latency_ns.size() - 1,
                              static_cast<size_t>(p * static_cast<double>(latency_ns.size())));
    return static_cast<double>(latency_ns[i]) / 1e3;
  };
  state.counters["p50_us"] = pct(0.50);
  state.counters["p99_us"] = pct(0.99);
  state.counters["jobs"] = static_cast<double>(latency_ns.size());
  const uint64_t dropped = EventsLost() - lost_before;
  state.counters["dropped"] = static_cast<double>(dropped);
  if (dropped != 0) {
    state.SkipWithError(("dropped " + std::to_string(dropped) + " events: not a result").c_str());
  }
}

void BM_Sync_PoolLatencyTracer(benchmark::State& state, Mode mode) {
  PoolLatency(
      state, mode, [] { return std::make_unique<tracer::ThreadPool>("bench", kPoolThreads); },
      [](tracer::ThreadPool& p, auto fn) {
        if (!p.Submit(std::move(fn))) std::abort();
      });
}
void BM_Sync_PoolLatencyStd(benchmark::State& state, Mode mode) {
  PoolLatency(
      state, mode, [] { return std::make_unique<StdPool>(kPoolThreads); },
      [](StdPool& p, auto fn) { p.Submit(std::move(fn)); });
}

// ---- Channel throughput: one producer, one consumer. ---------------------------------------

constexpr int kItems = 20000;
constexpr size_t kChannelDepth = 64;

// A bounded FIFO of std:: parts, the floor tracer::Channel is read against: Send blocks while
// full, Receive while empty; Close ends the Receives once drained.
class StdChannel {
 public:
  explicit StdChannel(size_t capacity) : capacity_(capacity) {}
  void Send(int v) {
    {
      std::unique_lock<std::mutex> l(mu_);
      not_full_.wait(l, [&] { return queue_.size() < capacity_; });
      queue_.push_back(v);
    }
    not_empty_.notify_one();
  }
  std::optional<int> Receive() {
    int v;
    {
      std::unique_lock<std::mutex> l(mu_);
      not_empty_.wait(l, [&] { return closed_ || !queue_.empty(); });
      if (queue_.empty()) return std::nullopt;
      v = queue_.front();
      queue_.pop_front();
    }
    not_full_.notify_one();
    return v;
  }
  void Close() {
    {
      std::lock_guard<std::mutex> l(mu_);
      closed_ = true;
    }
    not_empty_.notify_all();
  }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<int> queue_;
  bool closed_ = false;
};

// Each iteration moves kItems through a new channel from this thread to a consumer thread.
template <typename Ch>
void BM_Sync_Channel(benchmark::State& state, Mode mode, size_t depth) {
  Session::Ensure(mode);
  Session::Cut();
  const uint64_t lost_before = EventsLost();
  const uint64_t sealed_before = tracer::GetTracerStats().events_sealed;
  int64_t sum = 0;
  for (auto _ : state) {
    Ch ch(depth);
    std::thread consumer([&] {
      while (std::optional<int> v = ch.Receive()) sum += *v;
    });
    for (int i = 0; i < kItems; ++i) ch.Send(i);
    ch.Close();
    consumer.join();
  }
  Session::Cut();
  const int64_t n = kItems;
  if (sum != static_cast<int64_t>(state.iterations()) * n * (n - 1) / 2) {
    state.SkipWithError("items lost or repeated: not a result");
  }
  const uint64_t dropped = EventsLost() - lost_before;
  if (dropped != 0) {
    state.SkipWithError(("dropped " + std::to_string(dropped) + " events: not a result").c_str());
  }
  const double items = static_cast<double>(state.iterations()) * kItems;
  state.counters["events_per_kop"] =
      static_cast<double>(tracer::GetTracerStats().events_sealed - sealed_before) * 1000 / items;
  state.SetItemsProcessed(static_cast<int64_t>(items));
}

// ---- Registration: grouped by mode, so each session starts once. --------------------------

void RegisterAll() {
  for (Mode mode : {Mode::kOff, Mode::kOnNoStacks, Mode::kOn}) {
    const std::string m = ModeName(mode);
    auto name = [&](const char* family, const char* impl) {
      return std::string("BM_Sync_") + family + "/" + impl + "/" + m;
    };
    // Uncontended pairs record nothing in any mode: off and on (not on_nostacks) suffice.
    if (mode != Mode::kOnNoStacks) {
      benchmark::RegisterBenchmark(name("Mutex", "std").c_str(), BM_Sync_Mutex<StdLock>, mode);
      benchmark::RegisterBenchmark(name("Mutex", "absl").c_str(), BM_Sync_Mutex<AbslLock>, mode);
      benchmark::RegisterBenchmark(name("Mutex", "tracer").c_str(), BM_Sync_Mutex<TracerLock>,
                                   mode);
      benchmark::RegisterBenchmark(name("RwMutexReader", "std").c_str(),
                                   BM_Sync_RwMutexReader<StdRwLock>, mode);
      benchmark::RegisterBenchmark(name("RwMutexReader", "tracer").c_str(),
                                   BM_Sync_RwMutexReader<TracerRwLock>, mode);
      benchmark::RegisterBenchmark(name("RwMutexWriter", "std").c_str(),
                                   BM_Sync_RwMutexWriter<StdRwLock>, mode);
      benchmark::RegisterBenchmark(name("RwMutexWriter", "tracer").c_str(),
                                   BM_Sync_RwMutexWriter<TracerRwLock>, mode);
    }
    for (const uint64_t hold : {uint64_t{0}, kHoldNs}) {
      const char* family = hold == 0 ? "MutexContended" : "MutexContendedHold";
      benchmark::RegisterBenchmark(name(family, "std").c_str(), BM_Sync_MutexContended<StdLock>,
                                   mode, hold)
          ->Threads(2)->UseRealTime();
      benchmark::RegisterBenchmark(name(family, "absl").c_str(),
                                   BM_Sync_MutexContended<AbslLock>, mode, hold)
          ->Threads(2)->UseRealTime();
      benchmark::RegisterBenchmark(name(family, "tracer").c_str(),
                                   BM_Sync_MutexContended<TracerLock>, mode, hold)
          ->Threads(2)->UseRealTime();
    }
    benchmark::RegisterBenchmark(name("Channel", "std").c_str(), BM_Sync_Channel<StdChannel>,
                                 mode, kChannelDepth)
        ->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(name("Channel", "tracer").c_str(),
                                 BM_Sync_Channel<tracer::Channel<int>>, mode, kChannelDepth)
        ->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(name("ChannelUnbuffered", "tracer").c_str(),
                                 BM_Sync_Channel<tracer::Channel<int>>, mode, 0)
        ->UseRealTime()->Unit(benchmark::kMillisecond);
    // One iteration = kJobs jobs (~0.1 s): one per run, in smoke mode as in a result.
    benchmark::RegisterBenchmark(name("PoolLatency", "std").c_str(), BM_Sync_PoolLatencyStd,
                                 mode)
        ->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(name("PoolLatency", "tracer").c_str(),
                                 BM_Sync_PoolLatencyTracer, mode)
        ->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
}

// ---- The summary: each row's median figure beside its std row and its off row. -----------

// Forwards to the console and keeps each benchmark's representative run (bench::
// IsRepresentative) and whether any run reported an error.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  SummaryReporter() : ConsoleReporter(OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& reports) override {
    for (const Run& r : reports) {
      // "BM_Sync_<Family>/<impl>/<mode>" (RegisterBenchmark's name; threads kept apart).
      const std::string key = r.run_name.function_name;
      Row& row = rows_[key];
      if (row.order == 0) row.order = ++next_order_;
      if (r.error_occurred) {
        row.error = r.error_message.empty() ? "error" : r.error_message;
        any_error_ = true;
        continue;
      }
      if (!bench::IsRepresentative(r)) continue;
      const double unit = r.time_unit == benchmark::kMicrosecond   ? 1e3
                          : r.time_unit == benchmark::kMillisecond ? 1e6
                          : r.time_unit == benchmark::kSecond      ? 1e9
                                                                   : 1.0;
      row.real_ns = r.GetAdjustedRealTime() * unit;
      row.cpu_ns = r.GetAdjustedCPUTime() * unit;
      for (const auto& [k, c] : r.counters) row.counters[k] = c.value;
      row.valid = true;
    }
    ConsoleReporter::ReportRuns(reports);
  }

  bool any_error() const { return any_error_; }
  void NoteMedians() { any_median_ = true; }

  void PrintSummary() const {
    std::vector<std::pair<int, std::string>> order;
    for (const auto& [k, row] : rows_) order.emplace_back(row.order, k);
    std::sort(order.begin(), order.end());
    // Sections by family, rows in registration order within each.
    const struct {
      const char* family;
      const char* title;
      const char* unit;
    } kSections[] = {
        {"Mutex", "Uncontended Lock+Unlock (thread CPU, one thread)", "ns/pair"},
        {"RwMutexReader", "Uncontended ReaderLock+ReaderUnlock", "ns/pair"},
        {"RwMutexWriter", "Uncontended Lock+Unlock of an RwMutex", "ns/pair"},
        {"MutexContended", "Contended: 2 threads, one lock, ++counter (wall time / all pairs)",
         "ns/pair"},
        {"MutexContendedHold",
         "Contended, the lock held ~2 us (nearly every unlock wakes a parked waiter)",
         "ns/pair"},
        {"PoolLatency", "Pool submit-to-start latency, 2 workers, one job at a time", "p50 us"},
        {"Channel", "Channel, one producer and one consumer, depth 64 (wall time / items)",
         "ns/item"},
        {"ChannelUnbuffered", "Unbuffered channel (a hand-off per item)", "ns/item"},
    };
    std::printf("\nSummary (%s; x std: over the std row of the same mode; x off: over the same "
                "impl tracing off)\n",
                any_median_ ? "medians" : "single runs");
    for (const auto& s : kSections) {
      std::printf("\n%s\n%-44s %10s %8s %8s  %s\n", s.title, "benchmark", s.unit, "x std",
                  "x off", "also");
      for (const auto& [o, key] : order) {
        const std::vector<std::string> parts = absl::StrSplit(key, '/');
        if (parts.size() != 3 || parts[0] != std::string("BM_Sync_") + s.family) continue;
        const Row& row = rows_.at(key);
        if (!row.error.empty()) {
          std::printf("%-44s ERROR (%s): not a result\n", key.c_str(), row.error.c_str());
          continue;
        }
        if (!row.valid) continue;
        const double v = Value(row, s.family);
        auto ratio = [&](const std::string& other) -> std::string {
          auto it = rows_.find(other);
          if (it == rows_.end() || !it->second.valid || !it->second.error.empty()) return "-";
          const double b = Value(it->second, s.family);
          if (b <= 0) return "-";
          char buf[32];
          std::snprintf(buf, sizeof(buf), "%.2f", v / b);
          return buf;
        };
        const std::string x_std = ratio(parts[0] + "/std/" + parts[2]);
        const std::string x_off = ratio(parts[0] + "/" + parts[1] + "/off");
        char also[96] = "";
        if (row.counters.count("floor_ns")) {
          std::snprintf(also, sizeof(also), "floor %.2f ns, x floor %.2f", row.Get("floor_ns"),
                        row.Get("x_floor"));
        } else if (row.counters.count("events_per_kop") &&
                   absl::StartsWith(s.family, "Channel")) {
          std::snprintf(also, sizeof(also), "%.1f trace events / 1000 items",
                        row.Get("events_per_kop"));
        } else if (row.counters.count("events_per_kop")) {
          // Both threads' CPU over wall time. Hold 0 (both spin, never park): ~2 when they
          // really ran at once; ~1 on a loaded machine that time-sliced them (then the row is
          // no hand-off figure). Hold rows: below 2 by the waiter's parked time, by design.
          const double par = row.real_ns > 0 ? row.cpu_ns / row.real_ns : 0;
          const bool sliced = std::string(s.family) == "MutexContended" && par < 1.5;
          std::snprintf(also, sizeof(also), "%.1f trace events / 1000 pairs, cpu/wall %.2f%s",
                        row.Get("events_per_kop"), par, sliced ? " (time-sliced)" : "");
        } else if (row.counters.count("p99_us")) {
          std::snprintf(also, sizeof(also), "p99 %.1f us over %.0f jobs", row.Get("p99_us"),
                        row.Get("jobs"));
        }
        std::printf("%-44s %10.2f %8s %8s  %s\n", key.c_str(), v, x_std.c_str(), x_off.c_str(),
                    also);
      }
    }
    if (any_error_) std::printf("\nSome runs reported an error (above): exit status 1\n");
  }

 private:
  struct Row {
    int order = 0;
    bool valid = false;
    std::string error;  // non-empty: some run of this row reported it
    double real_ns = 0;
    double cpu_ns = 0;  // summed over the benchmark's threads
    std::map<std::string, double> counters;
    double Get(const std::string& k) const {
      auto it = counters.find(k);
      return it == counters.end() ? 0 : it->second;
    }
  };
  // The figure a row is read by: ns per pair (RunScope's counter; the contended rows' wall time
  // per iteration, which the framework divides over both threads' iterations), or p50.
  static double Value(const Row& row, absl::string_view family) {
    if (family == "PoolLatency") return row.Get("p50_us");
    if (family == "Channel" || family == "ChannelUnbuffered") return row.real_ns / kItems;
    if (family == "MutexContended" || family == "MutexContendedHold") return row.real_ns;
    return row.Get("ns_per_event");
  }

  std::map<std::string, Row> rows_;
  int next_order_ = 0;
  bool any_median_ = false;
  bool any_error_ = false;
};

}  // namespace

// Exits 1 if any run reported an error (dropped events, lost increments), so that a smoke run
// of a broken benchmark fails.
int main(int argc, char** argv) {
  const bool repetitions = bench::RepetitionsRequested(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RegisterAll();
  SummaryReporter reporter;
  if (repetitions) reporter.NoteMedians();
  benchmark::RunSpecifiedBenchmarks(&reporter);
  Session::StopAll();
  reporter.PrintSummary();
  benchmark::Shutdown();
  return reporter.any_error() ? 1 : 0;
}
