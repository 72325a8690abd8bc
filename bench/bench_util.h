// Pieces every per-event benchmark of the project shares (tracer_bench, recorder_bench): the
// clocks, the floor, rdtsc alone, the run scope that interleaves both with the events and counts
// what was lost, and the summary line a per-event run prints.
//
// The floor is rdtsc + a 16-byte store into a thread-local buffer: the least an event can cost.
// On a VM rdtsc alone can be most of it (~10.5 ns of an ~11 ns floor here), so a ratio to the
// floor hides the hot path's own cost: every per-event run also reports rdtsc alone and the
// event's ns above it.
//
// Thread-safety: RunScope is per thread (each benchmark thread makes its own); the functions
// are safe from any thread. Counters are set by thread 0 only (the framework sums counters
// over threads, so the others' absence leaves thread 0's figures).

#ifndef TRACER_BENCH_BENCH_UTIL_H_
#define TRACER_BENCH_BENCH_UTIL_H_

#include <time.h>
#include <x86intrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "absl/base/attributes.h"
#include "absl/functional/function_ref.h"
#include "benchmark/benchmark.h"
#include "tracer/tracer.h"

namespace bench {

inline uint64_t NowNs(clockid_t clock = CLOCK_MONOTONIC) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}
// CPU time of the calling thread: other load on the machine inflates it less than wall time.
inline uint64_t ThreadCpuNs() { return NowNs(CLOCK_THREAD_CPUTIME_ID); }
// CPU time of the whole process (every thread, the collector's included).
inline uint64_t ProcessCpuNs() { return NowNs(CLOCK_PROCESS_CPUTIME_ID); }

// Events the tracer dropped so far (process-wide, monotone).
inline uint64_t EventsLost() { return tracer::GetTracerStats().events_lost; }

// ---- The floor and rdtsc alone. --------------------------------------------------------------

struct FloorBuffer {
  alignas(64) char data[64 << 10];
  size_t pos = 0;
  uint64_t n = 0;
};
// The calling thread's floor buffer.
inline FloorBuffer& ThreadFloorBuffer() {
  thread_local FloorBuffer b;
  return b;
}

// One floor operation: rdtsc + a 16-byte store.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void FloorOp(FloorBuffer& fb) {
  const uint64_t tsc = __rdtsc();
  char* p = fb.data + fb.pos;
  std::memcpy(p, &tsc, 8);
  std::memcpy(p + 8, &fb.n, 8);
  fb.pos = (fb.pos + 16) & (sizeof(fb.data) - 1);
  ++fb.n;
  benchmark::ClobberMemory();  // the stores happen, every iteration
}

// rdtsc alone, its result kept.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void RdtscOp() { benchmark::DoNotOptimize(__rdtsc()); }

// ---- One run of a per-event benchmark. -------------------------------------------------------

// Chunk sizes for RunScope::Loop. An event chunk must take long enough that the two
// CLOCK_THREAD_CPUTIME_ID reads around it (a syscall each on a VM, ~0.1-0.3 us) are noise:
// 4096 recorded events take >= 40 us; a disabled event takes ~0.2 ns, so 2^18 of them (~50 us).
constexpr int kChunkOn = 4096;
constexpr int kChunkOff = 1 << 18;

// Construct at the top of the benchmark on every thread, run Loop(), then End().
// `prepare` runs on thread 0 only, before losses are counted (start a session, empty the pool);
// the other threads wait at the timed loop's start barrier, so they see what it did.
class RunScope {
 public:
  RunScope(benchmark::State& state, int events_per_iter, absl::FunctionRef<void()> prepare)
      : state_(state), events_per_iter_(events_per_iter) {
    if (state.thread_index() == 0) {
      prepare();
      lost_before_ = EventsLost();
    }
  }

  // The timed loop, with the floor and rdtsc alone interleaved: chunks of `chunk` floor
  // operations, `chunk` rdtsc and `chunk` calls of `event` alternate, each chunk timed on its
  // own (thread CPU time), so the ratios compare the three over the same stretch of time (a
  // shared machine's speed drifts over seconds; a floor timed once, earlier, would not see it).
  // The framework's own time covers all three and is not the figure: the counters are.
  template <int chunk = kChunkOn, typename F>
  void Loop(F&& event) {
    FloorBuffer& fb = ThreadFloorBuffer();
    while (state_.KeepRunningBatch(chunk)) {
      const uint64_t t0 = ThreadCpuNs();
      for (int i = 0; i < chunk; ++i) FloorOp(fb);
      const uint64_t t1 = ThreadCpuNs();
      for (int i = 0; i < chunk; ++i) RdtscOp();
      const uint64_t t2 = ThreadCpuNs();
      for (int i = 0; i < chunk; ++i) event();
      const uint64_t t3 = ThreadCpuNs();
      floor_ns_ += t1 - t0;
      rdtsc_ns_ += t2 - t1;
      event_ns_ += t3 - t2;
      chunk_iters_ += chunk;
    }
  }

  // Call right after Loop(). On thread 0 sets the counters (plain numbers, per event; a pair
  // of calls is two events): ns_per_event, floor_ns, rdtsc_ns, x_floor (ns_per_event over
  // floor_ns), over_rdtsc_ns (ns_per_event minus rdtsc_ns), dropped. A run that dropped is
  // not a result: it is reported as an error, so it never reaches a median.
  void End() {
    if (state_.thread_index() != 0) return;
    const uint64_t dropped = EventsLost() - lost_before_;
    const double iters = static_cast<double>(std::max<uint64_t>(chunk_iters_, 1));
    const double ns = static_cast<double>(event_ns_) / (iters * events_per_iter_);
    const double floor_ns = static_cast<double>(floor_ns_) / iters;
    const double rdtsc_ns = static_cast<double>(rdtsc_ns_) / iters;
    state_.counters["ns_per_event"] = ns;
    state_.counters["floor_ns"] = floor_ns;
    state_.counters["rdtsc_ns"] = rdtsc_ns;
    state_.counters["x_floor"] = floor_ns > 0 ? ns / floor_ns : 0;
    state_.counters["over_rdtsc_ns"] = ns - rdtsc_ns;
    state_.counters["dropped"] = static_cast<double>(dropped);
    if (dropped != 0) {
      state_.SkipWithError(
          ("dropped " + std::to_string(dropped) + " events (pool exhausted): not a result")
              .c_str());
    }
  }

 private:
  benchmark::State& state_;
  const int events_per_iter_;
  uint64_t lost_before_ = 0;
  uint64_t floor_ns_ = 0, rdtsc_ns_ = 0, event_ns_ = 0, chunk_iters_ = 0;
};

// ---- Reading runs back, for the summaries. ---------------------------------------------------

// True if argv asks for more than one repetition (the summaries then read medians).
inline bool RepetitionsRequested(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--benchmark_repetitions=", 24) == 0 &&
        std::atoi(argv[i] + 24) > 1) {
      return true;
    }
  }
  return false;
}

// The run that represents a benchmark in a summary: the median aggregate with repetitions,
// else the single run.
inline bool IsRepresentative(const benchmark::BenchmarkReporter::Run& r) {
  return (r.run_type == benchmark::BenchmarkReporter::Run::RT_Aggregate &&
          r.aggregate_name == "median") ||
         (r.run_type == benchmark::BenchmarkReporter::Run::RT_Iteration && r.repetitions <= 1);
}

// The per-event table: a header, then one line per RunScope run from its counters.
// `disabled` rows (tracing off) have no rdtsc in them: their ns/event is the figure, and
// "over rdtsc" is printed as "-".
inline void PrintPerEventHeader() {
  std::printf("%-52s %9s %9s %9s %8s %11s\n", "benchmark", "ns/event", "floor ns", "rdtsc ns",
              "x floor", "over rdtsc");
}
inline void PrintPerEventRow(const std::string& label,
                             const std::map<std::string, double>& counters, bool disabled) {
  auto get = [&](const char* k) {
    auto it = counters.find(k);
    return it == counters.end() ? 0.0 : it->second;
  };
  if (disabled) {
    std::printf("%-52s %9.3f %9.2f %9.2f %8.3f %11s\n", label.c_str(), get("ns_per_event"),
                get("floor_ns"), get("rdtsc_ns"), get("x_floor"), "-");
  } else {
    std::printf("%-52s %9.2f %9.2f %9.2f %8.2f %+11.2f\n", label.c_str(), get("ns_per_event"),
                get("floor_ns"), get("rdtsc_ns"), get("x_floor"), get("over_rdtsc_ns"));
  }
}
inline void PrintPerEventLegend() {
  std::printf(
      "(per event, thread 0's; floor = rdtsc + 16-byte store and rdtsc alone, both interleaved "
      "with the events in the same run, chunk by chunk; x floor = ns/event over the floor; over "
      "rdtsc = ns/event minus rdtsc alone: the hot path's own cost)\n");
}

}  // namespace bench

#endif  // TRACER_BENCH_BENCH_UTIL_H_
