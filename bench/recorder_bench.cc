// Benchmarks of the flight recorder (recorder/flight_recorder.h), each beside its floor, all
// read from one run.
//
//   BM_Recorder_Floor               rdtsc + a 16-byte store into a thread-local buffer: the
//                                   least any event can cost (bench_util.h, as tracer_bench's).
//   BM_Recorder_FloorRdtsc          rdtsc alone.
//   BM_Recorder_<Kind>/recorder     per-event cost with a FlightRecorder running and no
//                                   StartTrace capture (target <= 1.2x the floor, 1 and 2
//                                   threads). Region begin+end pair (2 events) and a counter.
//                                   Each runs in a bench::RunScope: the floor and rdtsc alone
//                                   interleaved with the events, chunk by chunk; counters
//                                   ns_per_event, floor_ns, rdtsc_ns, x_floor, over_rdtsc_ns.
//   BM_Recorder_WriteTo             WriteTo of a full 64 MiB recorder to a file in /tmp (then
//                                   unlinked), while 2 tracing threads emit events in a loop
//                                   and record the longest gap between consecutive iterations
//                                   (rdtsc). The time is the WriteTo wall time. Gaps are
//                                   reported for three phases of equal length:
//                                     max_gap_dump_us    during the WriteTo;
//                                     max_gap_idle_us    right after, with no dump;
//                                     max_gap_write_us   during a plain write(2)+fsync of the
//                                                        same bytes from memory (the I/O floor,
//                                                        which takes a core as the dump does);
//                                   target: the dump adds no stall > 50 us over the baseline.
//                                   gaps50_* count the gaps > 50 us in each phase. The tracing
//                                   threads' voluntary context switches during the dump
//                                   (waits_dump) must be 0 (recorder/DESIGN.md): any is an error.
//   BM_Recorder_Window/{raw,lz4}    the window one MiB of ring holds at a realistic mix (task
//                                   create/start/block/unblock/end, regions, syscalls, logs,
//                                   counters; events 20-2000 ns apart, log-uniform; one thread per core;
//                                   default stacks): an 8 MiB recorder with a huge min_age is
//                                   filled until it evicts a generation. Reports
//                                   window_ms_per_MiB (Stats().window over the ring's MiB, at
//                                   the achieved events_per_s), bytes_per_event (dump bytes over
//                                   the events emitted inside the dump's window) and
//                                   ms_per_MiB_at_1M (the window per MiB at 1 M events/s: the
//                                   rate-independent figure). The summary prints lz4 over raw.
//
// Per-event times are CPU times (CLOCK_THREAD_CPUTIME_ID), as in tracer_bench. Every run
// reports `dropped` (tracer::GetTracerStats().events_lost over the run); a run that dropped is
// not a result: it is reported as an error, so it never reaches a median. Tracing-on per-event
// runs have a fixed iteration count that fits in the recorder's pool (see kOnIterations).
// After the runs main prints a summary from the medians (or the single runs), and exits 1 if
// any run reported an error (dropped events, a ring that never filled, a tracing thread that
// waited during a dump).
//
// Recorders: one at a time per process, so benchmarks are registered grouped by recorder
// configuration and a recorder is started only when the configuration changes.
//
// Smoke mode (CI): recorder_bench --benchmark_min_time=0.01   (bounded: every non-per-event
//                  run is Iterations(1) with bounded fill times; ~15 s in all)
// Results:         recorder_bench --benchmark_repetitions=3
// Environment: RECORDER_BENCH_DUMP_MIB=<n> (WriteTo recorder's max_bytes, default 64),
// RECORDER_BENCH_WINDOW_MIB=<n> (window recorder's, default 8), RECORDER_BENCH_WINDOW_THREADS=<n>
// (default 3), RECORDER_BENCH_DEBUG=1 (a line per window run on stderr).

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "bench_util.h"
#include "benchmark/benchmark.h"
#include "recorder/flight_recorder.h"
#include "tracer/hooks.h"
#include "tracer/sink.h"
#include "tracer/tracer.h"

namespace {

[[noreturn]] void Die(const char* what, const absl::Status& st) {
  std::fprintf(stderr, "recorder_bench: %s: %s\n", what, st.ToString().c_str());
  std::abort();
}

constexpr double kMiB = 1024.0 * 1024.0;

using bench::EventsLost;
using bench::NowNs;

// rdtsc ticks per ns, calibrated once against CLOCK_MONOTONIC.
double TicksPerNs() {
  static const double k = [] {
    const uint64_t n0 = NowNs(), t0 = __rdtsc();
    while (NowNs() - n0 < 20'000'000) {
    }
    const uint64_t n1 = NowNs(), t1 = __rdtsc();
    return static_cast<double>(t1 - t0) / static_cast<double>(n1 - n0);
  }();
  return k;
}

// Busy-waits about `ticks` rdtsc ticks.
inline void SpinTicks(uint64_t ticks) {
  const uint64_t end = __rdtsc() + ticks;
  while (__rdtsc() < end) _mm_pause();
}

// ---- The recorder sessions. --------------------------------------------------------------

// Process-wide; only benchmark thread 0 (or a single-threaded benchmark) calls these, before
// its timed loop.
class Recorders {
 public:
  // Returns a running recorder with `config`, restarting it if the running one differs (or
  // always, with `fresh`). nullptr config: no recorder.
  static tracer::FlightRecorder* Ensure(const tracer::FlightRecorderConfig* config,
                                        bool fresh = false) {
    static std::unique_ptr<tracer::FlightRecorder>* cur =
        new std::unique_ptr<tracer::FlightRecorder>;
    if (*cur != nullptr && (fresh || config == nullptr || !Same((*cur)->config(), *config))) {
      if (absl::Status st = (*cur)->Stop(); !st.ok()) Die("Stop", st);
      cur->reset();
    }
    if (config != nullptr && *cur == nullptr) {
      *cur = std::make_unique<tracer::FlightRecorder>(*config);
      if (absl::Status st = (*cur)->Start(); !st.ok()) Die("Start", st);
    }
    return cur->get();
  }
  static void StopAll() { Ensure(nullptr); }

 private:
  static bool Same(const tracer::FlightRecorderConfig& a, const tracer::FlightRecorderConfig& b) {
    return a.min_age == b.min_age && a.max_bytes == b.max_bytes && a.compress == b.compress;
  }
};

// The per-event recorder: 512 MiB, so its pool (max_bytes / 16 = 32 MiB) holds a whole run of
// kOnIterations on 2 threads (~10 MiB) even if the collector falls behind a tight loop.
const tracer::FlightRecorderConfig* PerEventConfig() {
  static const tracer::FlightRecorderConfig c{.min_age = absl::Seconds(10),
                                             .max_bytes = size_t{512} << 20,
                                             .compress = false};
  return &c;
}

// Counts bytes, keeps nothing.
class CountingSink final : public tracer::Sink {
 public:
  absl::Status Write(absl::string_view data) override {
    bytes_ += data.size();
    return absl::OkStatus();
  }
  uint64_t bytes() const { return bytes_; }

 private:
  uint64_t bytes_ = 0;
};

// ---- The per-event runs (bench::RunScope: the floor and rdtsc alone interleaved). --------

// A per-event run with `config` running (nullptr: no recorder). Thread 0 starts every run with
// an empty pool: WriteTo cuts a generation (handing every buffer in flight to the collector,
// which returns them once sealed), so a run of kOnIterations fits in the pool even when the
// collector is behind.
bench::RunScope PerEventRun(benchmark::State& state, const tracer::FlightRecorderConfig* config,
                            int events_per_iter) {
  return bench::RunScope(state, events_per_iter, [config] {
    if (tracer::FlightRecorder* fr = Recorders::Ensure(config); fr != nullptr) {
      CountingSink sink;
      if (absl::StatusOr<uint64_t> n = fr->WriteTo(sink); !n.ok()) Die("WriteTo", n.status());
    }
  });
}

// The floor itself, and rdtsc alone, as events (no recorder): their x floor shows the
// method's own noise.
void BM_Recorder_Floor(benchmark::State& state) {
  bench::RunScope run = PerEventRun(state, nullptr, 1);
  bench::FloorBuffer& fb = bench::ThreadFloorBuffer();
  run.Loop([&]() __attribute__((always_inline)) { bench::FloorOp(fb); });
  run.End();
}
void BM_Recorder_FloorRdtsc(benchmark::State& state) {
  bench::RunScope run = PerEventRun(state, nullptr, 1);
  run.Loop([&]() __attribute__((always_inline)) { bench::RdtscOp(); });
  run.End();
}

// ---- Per-event cost with the recorder on. ------------------------------------------------

const tracer::Name& RegionName() {
  static const tracer::Name n("bench-region");
  return n;
}
const tracer::Name& CounterName() {
  static const tracer::Name n("queue-depth");
  return n;
}

void BM_Recorder_RegionPair(benchmark::State& state, int) {
  bench::RunScope run = PerEventRun(state, PerEventConfig(), 2);
  const tracer::Task task;
  const tracer::Name& name = RegionName();
  run.Loop([&]() __attribute__((always_inline)) {
    tracer::Region r = tracer::StartRegion(task, name);
    r.End();
  });
  run.End();
}

void BM_Recorder_Counter(benchmark::State& state, int) {
  bench::RunScope run = PerEventRun(state, PerEventConfig(), 1);
  const tracer::Name& name = CounterName();
  int64_t v = 0;
  run.Loop([&]() __attribute__((always_inline)) { tracer::hooks::Counter(name, v++ & 1023); });
  run.End();
}

// ---- A realistic mix. --------------------------------------------------------------------

// One simulated runtime thread: tasks that start, run regions, make syscalls, log, sample a
// counter, block on a mutex and get woken, and end. Between events it spins a gap drawn
// log-uniformly from [min_gap_ns, max_gap_ns] (0: no gap).
class MixThread {
 public:
  MixThread(uint64_t seed, double min_gap_ns, double max_gap_ns)
      : rng_(seed * 0x9e3779b97f4a7c15u + 1),
        log_min_(std::log(std::max(min_gap_ns, 1.0) * TicksPerNs())),
        log_span_(std::log(std::max(max_gap_ns, 1.0) * TicksPerNs()) - log_min_),
        gaps_(max_gap_ns > 0) {}

  // One task's life: ~14 events. Returns the number of events emitted.
  uint64_t RunTask() {
    static const tracer::Name kTask("rpc-handler");
    static const tracer::Name kRegions[] = {tracer::Name("parse"), tracer::Name("lookup"),
                                            tracer::Name("encode")};
    static const tracer::Name kSyscalls[] = {tracer::Name("read"), tracer::Name("write"),
                                             tracer::Name("epoll_wait")};
    static const tracer::Name kCategory("cache");
    static const tracer::Name kCounter("queue-depth");
    uint64_t n = 0;
    tracer::TaskRef t;
    tracer::hooks::TaskCreate(t, kTask);
    ++n;
    Gap();
    tracer::hooks::TaskStart(t);
    ++n;
    Gap();
    {
      tracer::Region r = tracer::StartRegion(tracer::Task(), kRegions[Next() % 3]);
      ++n;
      Gap();
      {
        tracer::hooks::ScopedSyscall sc(kSyscalls[Next() % 3]);
        ++n;
        Gap();
      }
      ++n;
      Gap();
      if (Next() % 4 == 0) {
        char msg[48];
        const int len = std::snprintf(msg, sizeof(msg), "miss for key %u",
                                      static_cast<unsigned>(Next() % 100000));
        tracer::Log(tracer::Task(), kCategory, absl::string_view(msg, len));
        ++n;
        Gap();
      }
    }
    ++n;
    Gap();
    tracer::hooks::Counter(kCounter, static_cast<int64_t>(Next() % 64));
    ++n;
    Gap();
    if (Next() % 2 == 0) {  // contended: block, get woken (recorded here), resume
      tracer::hooks::TaskBlock(t, tracer::BlockReason::kMutex, this);
      ++n;
      Gap();
      tracer::hooks::TaskUnblock(t, this);
      ++n;
      Gap();
      tracer::hooks::TaskStart(t);
      ++n;
      Gap();
    }
    {
      tracer::Region r = tracer::StartRegion(tracer::Task(), kRegions[2]);
      ++n;
      Gap();
    }
    ++n;
    Gap();
    tracer::hooks::TaskEnd(t);
    ++n;
    Gap();
    return n;
  }

 private:
  uint64_t Next() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  }
  void Gap() {
    if (!gaps_) return;
    const double u = static_cast<double>(Next() >> 11) * 0x1.0p-53;
    SpinTicks(static_cast<uint64_t>(std::exp(log_min_ + u * log_span_)));
  }

  uint64_t rng_;
  double log_min_, log_span_;
  bool gaps_;
};

// Runs `n` MixThreads until `stop`; each keeps checkpoints (CLOCK_MONOTONIC ns, events so far)
// so the events inside a time window can be counted afterwards.
class MixLoad {
 public:
  MixLoad(int n, double min_gap_ns, double max_gap_ns) : threads_(n) {
    for (int i = 0; i < n; ++i) {
      workers_.emplace_back([this, i, min_gap_ns, max_gap_ns] {
        MixThread m(static_cast<uint64_t>(i) + 7, min_gap_ns, max_gap_ns);
        PerThread& pt = threads_[i];
        uint64_t events = 0;
        pt.checkpoints.reserve(1 << 16);
        pt.checkpoints.push_back({NowNs(), 0});
        while (!stop_.load(std::memory_order_relaxed)) {
          for (int k = 0; k < 16; ++k) events += m.RunTask();
          pt.checkpoints.push_back({NowNs(), events});
        }
        pt.events = events;
      });
    }
  }
  ~MixLoad() { Stop(); }
  void Stop() {
    stop_ = true;
    for (std::thread& t : workers_) t.join();
    workers_.clear();
  }
  uint64_t Events() const {
    uint64_t s = 0;
    for (const PerThread& pt : threads_) s += pt.events;
    return s;
  }
  // Events emitted in [begin_ns, end_ns] (checkpoints bracket every 16 tasks; interpolated).
  double EventsIn(int64_t begin_ns, int64_t end_ns) const {
    double s = 0;
    for (const PerThread& pt : threads_) s += At(pt, end_ns) - At(pt, begin_ns);
    return s;
  }
  double DurationS() const {
    uint64_t b = UINT64_MAX, e = 0;
    for (const PerThread& pt : threads_) {
      if (pt.checkpoints.empty()) continue;
      b = std::min(b, pt.checkpoints.front().ns);
      e = std::max(e, pt.checkpoints.back().ns);
    }
    return e > b ? static_cast<double>(e - b) * 1e-9 : 0;
  }

 private:
  struct Checkpoint {
    uint64_t ns, events;
  };
  struct PerThread {
    std::vector<Checkpoint> checkpoints;
    uint64_t events = 0;
  };
  static double At(const PerThread& pt, int64_t t) {
    const auto& c = pt.checkpoints;
    if (c.empty() || t <= static_cast<int64_t>(c.front().ns)) return 0;
    if (t >= static_cast<int64_t>(c.back().ns)) return static_cast<double>(c.back().events);
    auto it = std::lower_bound(c.begin(), c.end(), static_cast<uint64_t>(t),
                               [](const Checkpoint& a, uint64_t v) { return a.ns < v; });
    const Checkpoint& hi = *it;
    const Checkpoint& lo = *(it - 1);
    const double f = static_cast<double>(t - static_cast<int64_t>(lo.ns)) /
                     static_cast<double>(std::max<uint64_t>(hi.ns - lo.ns, 1));
    return static_cast<double>(lo.events) + f * static_cast<double>(hi.events - lo.events);
  }

  std::vector<PerThread> threads_;
  std::vector<std::thread> workers_;
  std::atomic<bool> stop_{false};
};

// ---- WriteTo of a full recorder, and the stall tracing threads see. ----------------------

size_t DumpRecorderBytes() {
  static const size_t b = [] {
    const char* e = std::getenv("RECORDER_BENCH_DUMP_MIB");
    const long mib = e != nullptr ? std::atol(e) : 64;
    return static_cast<size_t>(std::max(mib, 2L)) << 20;
  }();
  return b;
}

const tracer::FlightRecorderConfig* DumpConfig() {
  // min_age huge: nothing is evicted by age, the ring fills to its byte bound.
  static const tracer::FlightRecorderConfig c{.min_age = absl::Hours(1),
                                             .max_bytes = DumpRecorderBytes(),
                                             .compress = false};
  return &c;
}

// Fills `fr` with the realistic mix (2 threads, no gaps: fast) until bytes_retained reaches
// 90% of the ring or it evicts, for at most `max_s`. Returns the fill fraction.
double FillRecorder(tracer::FlightRecorder& fr, double max_s) {
  MixLoad load(2, 0, 0);
  const uint64_t t0 = NowNs();
  for (;;) {
    const tracer::RecorderStats s = fr.Stats();
    if (s.generations_evicted > 0 || s.bytes_retained >= s.ring_bytes * 9 / 10) break;
    if (static_cast<double>(NowNs() - t0) * 1e-9 > max_s) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  load.Stop();
  const tracer::RecorderStats s = fr.Stats();
  return static_cast<double>(s.bytes_retained) / static_cast<double>(s.ring_bytes);
}

// Two threads emitting events in a loop (region pair + counter, then ~1 us of spinning), each
// recording the longest gap between consecutive iterations, per phase.
class StallProbe {
 public:
  enum Phase { kWarm = 0, kDump, kIdle, kWrite, kPhases };
  static constexpr int kMaxThreads = 8;

  // Probe threads: RECORDER_BENCH_PROBE_THREADS, default 1, so that on a 2-core machine the
  // probe and the dump each have a core and the gaps measure the dump, not the scheduler
  // sharing a core between busy threads (2 probe threads show ms-long preemptions in every
  // phase alike).
  static int Threads() {
    const char* e = std::getenv("RECORDER_BENCH_PROBE_THREADS");
    return std::clamp(e != nullptr ? std::atoi(e) : 1, 1, kMaxThreads);
  }

  StallProbe() : num_threads_(Threads()) {
    const uint64_t over = static_cast<uint64_t>(50'000 * TicksPerNs());
    const uint64_t spin = static_cast<uint64_t>(1'000 * TicksPerNs());
    for (int i = 0; i < num_threads_; ++i) {
      threads_.emplace_back([this, i, over, spin] {
        static const tracer::Name kRegion("probe");
        static const tracer::Name kCounter("probe-count");
        PerThread& pt = per_[i];
        uint64_t prev = __rdtsc();
        int64_t n = 0;
        int last_phase = phase_.load(std::memory_order_relaxed);
        rusage ru_start;
        getrusage(RUSAGE_THREAD, &ru_start);
        // Context switches of this thread, charged to the phase they happened in: a
        // voluntary one means the thread waited (a lock, a futex, I/O); the hot path has no
        // reason to, so during a dump there must be none.
        auto charge = [&](int phase) {
          rusage ru;
          getrusage(RUSAGE_THREAD, &ru);
          pt.voluntary[phase] += static_cast<uint64_t>(ru.ru_nvcsw - ru_start.ru_nvcsw);
          pt.involuntary[phase] += static_cast<uint64_t>(ru.ru_nivcsw - ru_start.ru_nivcsw);
          ru_start = ru;
        };
        while (!stop_.load(std::memory_order_relaxed)) {
          const uint64_t now = __rdtsc();
          const uint64_t gap = now - prev;
          prev = now;
          const int ph = phase_.load(std::memory_order_relaxed);
          if (ph != last_phase) {
            charge(last_phase);
            last_phase = ph;
          }
          if (gap > pt.max_gap[ph]) pt.max_gap[ph] = gap;
          if (gap > over) ++pt.over[ph];
          {
            tracer::Region r = tracer::StartRegion(tracer::Task(), kRegion);
          }
          tracer::hooks::Counter(kCounter, n++ & 255);
          SpinTicks(spin);
        }
        charge(last_phase);
      });
    }
  }
  ~StallProbe() { Stop(); }
  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }
  int num_threads() const { return num_threads_; }
  void SetPhase(Phase p) { phase_.store(p, std::memory_order_relaxed); }
  // Max over threads, in us; call after the phase ended (the fields are racy reads of plain
  // counters, fine for a report: each is a monotone max written by one thread).
  double MaxGapUs(Phase p) const {
    uint64_t m = 0;
    for (int i = 0; i < num_threads_; ++i) m = std::max(m, per_[i].max_gap[p]);
    return static_cast<double>(m) / TicksPerNs() * 1e-3;
  }
  uint64_t Over50(Phase p) const {
    uint64_t s = 0;
    for (int i = 0; i < num_threads_; ++i) s += per_[i].over[p];
    return s;
  }
  // REQUIRES: Stop() ran.
  uint64_t Voluntary(Phase p) const {
    uint64_t s = 0;
    for (int i = 0; i < num_threads_; ++i) s += per_[i].voluntary[p];
    return s;
  }
  uint64_t Involuntary(Phase p) const {
    uint64_t s = 0;
    for (int i = 0; i < num_threads_; ++i) s += per_[i].involuntary[p];
    return s;
  }

 private:
  struct alignas(64) PerThread {
    uint64_t max_gap[kPhases] = {};
    uint64_t over[kPhases] = {};
    uint64_t voluntary[kPhases] = {};
    uint64_t involuntary[kPhases] = {};
  };
  const int num_threads_;
  PerThread per_[kMaxThreads];
  std::atomic<int> phase_{kWarm};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// Writes `bytes` of `data` to a new file with write(2) and fsyncs it (what FdSink does).
void PlainWrite(const std::string& path, const std::string& data, uint64_t bytes) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) Die("open", absl::ErrnoToStatus(errno, path));
  uint64_t off = 0;
  while (off < bytes) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(bytes - off, 1 << 20));
    const ssize_t n = write(fd, data.data() + (off % (data.size() - chunk + 1)), chunk);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      Die("write", absl::ErrnoToStatus(errno, path));
    }
    off += static_cast<uint64_t>(n);
  }
  fsync(fd);
  close(fd);
  unlink(path.c_str());
}

void BM_Recorder_WriteTo(benchmark::State& state) {
  tracer::FlightRecorder* fr = Recorders::Ensure(DumpConfig());
  static double fill = -1;  // filled once; later runs keep it full (the probe keeps tracing)
  if (fill < 0) fill = FillRecorder(*fr, 20.0);
  static const std::string* floor_data = [] {
    auto* s = new std::string(DumpRecorderBytes(), '\0');
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i + 8 <= s->size(); i += 8) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      std::memcpy(s->data() + i, &x, 8);
    }
    return s;
  }();
  const std::string path = "/tmp/recorder_bench." + std::to_string(getpid()) + ".trace";
  const uint64_t lost_before = EventsLost();
  const tracer::RecorderStats before = fr->Stats();

  StallProbe probe;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  tracer::DumpStats st;
  double dump_s = 0, write_s = 0;
  for (auto _ : state) {
    probe.SetPhase(StallProbe::kDump);
    const uint64_t t0 = NowNs();
    absl::StatusOr<uint64_t> n = fr->WriteTo(path, &st);
    const uint64_t t1 = NowNs();
    unlink(path.c_str());
    if (!n.ok()) Die("WriteTo", n.status());
    dump_s = static_cast<double>(t1 - t0) * 1e-9;
    probe.SetPhase(StallProbe::kIdle);
    std::this_thread::sleep_for(std::chrono::nanoseconds(t1 - t0));
    probe.SetPhase(StallProbe::kWrite);
    const uint64_t t2 = NowNs();
    PlainWrite(path + ".floor", *floor_data, *n);
    write_s = static_cast<double>(NowNs() - t2) * 1e-9;
    probe.SetPhase(StallProbe::kWarm);
    state.SetIterationTime(dump_s);
  }
  probe.Stop();
  const uint64_t dropped = EventsLost() - lost_before;
  state.counters["probe_threads"] = probe.num_threads();
  state.counters["waits_dump"] = static_cast<double>(probe.Voluntary(StallProbe::kDump));
  state.counters["waits_idle"] = static_cast<double>(probe.Voluntary(StallProbe::kIdle));
  state.counters["preempt_dump"] = static_cast<double>(probe.Involuntary(StallProbe::kDump));
  state.counters["preempt_idle"] = static_cast<double>(probe.Involuntary(StallProbe::kIdle));
  state.counters["dump_MiB"] = static_cast<double>(st.bytes) / kMiB;
  state.counters["fill"] = static_cast<double>(before.bytes_retained) /
                           static_cast<double>(before.ring_bytes);
  state.counters["dump_gens"] = static_cast<double>(st.generations);
  state.counters["dump_MiB_per_s"] = static_cast<double>(st.bytes) / kMiB / dump_s;
  state.counters["write_floor_ms"] = write_s * 1e3;
  state.counters["x_write_floor"] = dump_s / write_s;
  state.counters["max_gap_dump_us"] = probe.MaxGapUs(StallProbe::kDump);
  state.counters["max_gap_idle_us"] = probe.MaxGapUs(StallProbe::kIdle);
  state.counters["max_gap_write_us"] = probe.MaxGapUs(StallProbe::kWrite);
  state.counters["gaps50_dump"] = static_cast<double>(probe.Over50(StallProbe::kDump));
  state.counters["gaps50_idle"] = static_cast<double>(probe.Over50(StallProbe::kIdle));
  state.counters["gaps50_write"] = static_cast<double>(probe.Over50(StallProbe::kWrite));
  state.counters["dropped"] = static_cast<double>(dropped);
  const uint64_t waits = probe.Voluntary(StallProbe::kDump);
  if (dropped != 0) {
    state.SkipWithError(("dropped " + std::to_string(dropped) + " events: not a result").c_str());
  } else if (waits != 0) {
    // recorder/DESIGN.md: a tracing thread never waits for a dump.
    state.SkipWithError(("a tracing thread waited " + std::to_string(waits) +
                         " times during the dump (voluntary context switches; must be 0)")
                            .c_str());
  }
}

// ---- The window a MiB of ring holds. -----------------------------------------------------

// Every window run's figures, by variant, also those that dropped (the summary shows their
// median marked "not a result", so a loaded machine still says something).
struct WindowRun {
  double window_ms_per_mib, bytes_per_event, events_per_s, dropped;
};
std::map<std::string, std::vector<WindowRun>> g_window_runs;

size_t WindowRecorderBytes() {
  const char* e = std::getenv("RECORDER_BENCH_WINDOW_MIB");
  return static_cast<size_t>(std::max(e != nullptr ? std::atol(e) : 8L, 1L)) << 20;
}
int WindowThreads() {
  const char* e = std::getenv("RECORDER_BENCH_WINDOW_THREADS");
  // Default: one per core, so the collector is not starved by busier-than-cores tracing
  // threads (with more, it can fall behind and drop; the drops are counted and reported).
  const int cores = static_cast<int>(std::max(std::thread::hardware_concurrency(), 1u));
  return std::max(e != nullptr ? std::atoi(e) : cores, 1);
}

void BM_Recorder_Window(benchmark::State& state, bool compress) {
  const tracer::FlightRecorderConfig config{
      .min_age = absl::Hours(1), .max_bytes = WindowRecorderBytes(), .compress = compress};
  double window_ms_per_mib = 0, bytes_per_event = 0, events_per_s = 0, fill = 0;
  uint64_t dropped = 0;
  bool evicted = false;
  int attempts = 0;
  for (auto _ : state) {
  // A flood this fast into a small recorder drops now and then on a loaded 2-core machine (the
  // collector loses its core for a few ms): such a run is not a result, so it is run again, up
  // to three times; only a recorder that drops every time reports the error below.
  for (attempts = 1; attempts <= 3; ++attempts) {
    dropped = 0;
    tracer::FlightRecorder* fr = Recorders::Ensure(&config, /*fresh=*/true);
    const uint64_t lost_before = EventsLost();
    MixLoad load(WindowThreads(), 20, 2000);
    const uint64_t t0 = NowNs();
    tracer::RecorderStats s;
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      s = fr->Stats();
      if (s.generations_evicted > 0) break;
      if (NowNs() - t0 > 15'000'000'000u) break;  // bounded (smoke mode)
    }
    load.Stop();
    evicted = s.generations_evicted > 0;
    CountingSink sink;
    tracer::DumpStats st;
    if (absl::StatusOr<uint64_t> n = fr->WriteTo(sink, &st); !n.ok()) Die("WriteTo", n.status());
    dropped += EventsLost() - lost_before;
    if (std::getenv("RECORDER_BENCH_DEBUG") != nullptr) {
      std::fprintf(stderr,
                   "window: evicted=%lu retained=%lu gens=%lu window=%s dropped=%lu events=%lu "
                   "dur=%.3fs dump.gens=%lu dump.lost=%lu pool=%zu ring=%zu\n", s.generations_evicted, s.bytes_retained, s.generations_retained, absl::FormatDuration(s.window).c_str(), EventsLost() - lost_before, load.Events(), load.DurationS(), st.generations, st.events_lost, s.pool_bytes, s.ring_bytes);
    }
    window_ms_per_mib = absl::ToDoubleMilliseconds(s.window) /
                        (static_cast<double>(s.ring_bytes) / kMiB);
    fill = static_cast<double>(s.bytes_retained) / static_cast<double>(s.ring_bytes);
    const double events = load.EventsIn(st.window_begin_ns, st.window_end_ns);
    bytes_per_event = events > 0 ? static_cast<double>(st.bytes) / events : 0;
    events_per_s = static_cast<double>(load.Events()) / std::max(load.DurationS(), 1e-9);
    if (dropped == 0 || attempts == 3) break;
  }
  }
  Recorders::StopAll();
  g_window_runs[compress ? "lz4" : "raw"].push_back(
      {window_ms_per_mib, bytes_per_event, events_per_s, static_cast<double>(dropped)});
  state.counters["window_ms_per_MiB"] = window_ms_per_mib;
  state.counters["bytes_per_event"] = bytes_per_event;
  state.counters["ms_per_MiB_at_1M"] = bytes_per_event > 0 ? kMiB / bytes_per_event / 1e3 : 0;
  state.counters["events_per_s"] = events_per_s;
  state.counters["fill"] = fill;
  state.counters["dropped"] = static_cast<double>(dropped);
  state.counters["attempts"] = attempts;
  if (!evicted) {
    state.SkipWithError("ring never filled (no eviction within 15 s): not a result");
  } else if (dropped != 0) {
    state.SkipWithError(("dropped " + std::to_string(dropped) + " events: not a result").c_str());
  }
}

// ---- Registration: grouped by recorder configuration (one recorder at a time). ------------

BENCHMARK(BM_Recorder_Floor)->Threads(1)->Threads(2);
BENCHMARK(BM_Recorder_FloorRdtsc)->Threads(1)->Threads(2);

// Recorder on: a fixed iteration count keeps each run's events (<= ~10 MiB on 2 threads)
// inside the recorder's 32 MiB pool, so a run measures recording, not the drop path.
constexpr int kOnIterations = 1 << 19;  // a multiple of bench::kChunkOn
BENCHMARK_CAPTURE(BM_Recorder_RegionPair, recorder, 0)
    ->Iterations(kOnIterations)->Threads(1)->Threads(2);
BENCHMARK_CAPTURE(BM_Recorder_Counter, recorder, 0)
    ->Iterations(kOnIterations)->Threads(1)->Threads(2);

BENCHMARK(BM_Recorder_WriteTo)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

BENCHMARK_CAPTURE(BM_Recorder_Window, raw, false)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Recorder_Window, lz4, true)->Iterations(1)->Unit(benchmark::kMillisecond);

// ---- The summary: medians, ratios. -------------------------------------------------------

class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  SummaryReporter() : ConsoleReporter(OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& reports) override {
    for (const Run& r : reports) {
      std::string label = r.run_name.function_name +
                          (r.run_name.args.empty() ? "" : "/" + r.run_name.args);
      const bool per_event = r.run_name.function_name.find("Window") == std::string::npos &&
                             r.run_name.function_name.find("WriteTo") == std::string::npos;
      if (r.threads > 1 || per_event) {
        label += "/threads:" + std::to_string(r.threads);
      }
      Row& row = rows_[label];
      if (row.order == 0) row.order = ++next_order_;
      row.label = label;
      row.function = r.run_name.function_name;
      row.threads = static_cast<int>(r.threads);
      if (r.error_occurred) {
        row.error = true;
        row.error_message = r.error_message;
        any_error_ = true;
        continue;
      }
      if (!bench::IsRepresentative(r)) continue;
      row.real_ms = r.GetAdjustedRealTime() * Scale(r.time_unit) * 1e-6;
      for (const auto& [k, c] : r.counters) row.counters[k] = c.value;
      row.valid = true;
    }
    ConsoleReporter::ReportRuns(reports);
  }

  void PrintSummary() const {
    std::vector<const Row*> rows;
    for (const auto& [k, row] : rows_) rows.push_back(&row);
    std::sort(rows.begin(), rows.end(),
              [](const Row* a, const Row* b) { return a->order < b->order; });
    const char* what = any_median_ ? "medians" : "single runs";
    std::printf("\nSummary (%s)\n", what);
    std::printf("Per-event cost, recorder on, no StartTrace (target <= 1.2x the floor)\n");
    bench::PrintPerEventHeader();
    for (const Row* r : rows) {
      if (r->function.find("Floor") == std::string::npos &&
          r->function.find("/recorder") == std::string::npos) {
        continue;
      }
      if (r->error || !r->valid) {
        std::printf("%-52s ERROR (%s): not a result\n", r->label.c_str(),
                    r->error_message.c_str());
        continue;
      }
      bench::PrintPerEventRow(r->label, r->counters, /*disabled=*/false);
    }
    bench::PrintPerEventLegend();
    for (const Row* r : rows) {
      if (r->function != "BM_Recorder_WriteTo") continue;
      std::printf("\nWriteTo of a full %zu MiB recorder to /tmp (%.0f tracing thread(s) running)\n",
                  DumpRecorderBytes() >> 20, r->Get("probe_threads"));
      if (r->error || !r->valid) {
        std::printf("  ERROR (%s): not a result\n", r->error_message.c_str());
        continue;
      }
      std::printf("  dump %.1f MiB (ring %.0f%% full) in %.1f ms = %.0f MiB/s; plain "
                  "write+fsync of the same bytes %.1f ms (dump x%.2f)\n",
                  r->Get("dump_MiB"), 100 * r->Get("fill"), r->real_ms,
                  r->Get("dump_MiB_per_s"), r->Get("write_floor_ms"), r->Get("x_write_floor"));
      std::printf("  max gap between tracing-loop iterations: during dump %.1f us, idle %.1f "
                  "us, during plain write %.1f us\n",
                  r->Get("max_gap_dump_us"), r->Get("max_gap_idle_us"),
                  r->Get("max_gap_write_us"));
      std::printf("  stall added by the dump (target <= 50 us): %+.1f us over idle, %+.1f us "
                  "over plain write; gaps > 50 us: dump %.0f, idle %.0f, write %.0f\n",
                  r->Get("max_gap_dump_us") - r->Get("max_gap_idle_us"),
                  r->Get("max_gap_dump_us") - r->Get("max_gap_write_us"), r->Get("gaps50_dump"),
                  r->Get("gaps50_idle"), r->Get("gaps50_write"));
      std::printf("  tracing threads' waits (voluntary context switches) during dump %.0f "
                  "(target 0), idle %.0f; preemptions during dump %.0f, idle %.0f\n",
                  r->Get("waits_dump"), r->Get("waits_idle"), r->Get("preempt_dump"),
                  r->Get("preempt_idle"));
    }
    const Row* raw = nullptr;
    const Row* lz4 = nullptr;
    for (const Row* r : rows) {
      // BENCHMARK_CAPTURE names the function "BM_Recorder_Window/<variant>".
      if (!absl::StartsWith(r->function, "BM_Recorder_Window")) continue;
      if (r->label.find("/raw") != std::string::npos) raw = r;
      if (r->label.find("/lz4") != std::string::npos) lz4 = r;
    }
    std::printf("\nWindow held by a %zu MiB recorder at a realistic mix (%d threads, events "
                "20-2000 ns apart)\n", WindowRecorderBytes() >> 20, WindowThreads());
    std::printf("%-28s %14s %14s %16s %14s\n", "benchmark", "window ms/MiB", "bytes/event",
                "ms/MiB @1M ev/s", "events/s");
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v.empty() ? 0.0 : v[v.size() / 2];
    };
    std::map<std::string, WindowRun> med;
    for (const auto& [variant, runs] : g_window_runs) {
      std::vector<double> w, b, e, d;
      for (const WindowRun& x : runs) {
        w.push_back(x.window_ms_per_mib);
        b.push_back(x.bytes_per_event);
        e.push_back(x.events_per_s);
        d.push_back(x.dropped);
      }
      med[variant] = {median(w), median(b), median(e), median(d)};
      const WindowRun& m = med[variant];
      const Row* r = variant == "raw" ? raw : lz4;
      const bool ok = r != nullptr && r->valid && !r->error;
      std::printf("%-28s %14.1f %14.2f %16.1f %14.0f%s\n",
                  ("BM_Recorder_Window/" + variant).c_str(), m.window_ms_per_mib,
                  m.bytes_per_event, m.bytes_per_event > 0 ? kMiB / m.bytes_per_event / 1e3 : 0,
                  m.events_per_s,
                  ok ? ""
                     : m.dropped > 0
                         ? ("   (NOT A RESULT: median dropped " +
                            std::to_string(static_cast<long>(m.dropped)) + " events)")
                               .c_str()
                         : "   (NOT A RESULT: the run reported an error, see above)");
    }
    if (med.count("raw") && med.count("lz4") && med["raw"].window_ms_per_mib > 0 &&
        med["lz4"].bytes_per_event > 0) {
      std::printf("lz4 / raw: window per MiB x%.2f (at the rates achieved), bytes/event "
                  "x%.2f smaller (rate-independent)%s\n",
                  med["lz4"].window_ms_per_mib / med["raw"].window_ms_per_mib,
                  med["raw"].bytes_per_event / med["lz4"].bytes_per_event,
                  (raw && lz4 && raw->valid && lz4->valid && !raw->error && !lz4->error)
                      ? ""
                      : " (from runs that dropped: NOT A RESULT)");
    }
  }

  void NoteMedians() { any_median_ = true; }
  bool any_error() const { return any_error_; }

 private:
  static double Scale(benchmark::TimeUnit u) {
    return u == benchmark::kMicrosecond   ? 1e3
           : u == benchmark::kMillisecond ? 1e6
           : u == benchmark::kSecond      ? 1e9
                                          : 1.0;
  }
  struct Row {
    int order = 0;
    std::string label, function;
    int threads = 1;
    bool valid = false, error = false;
    std::string error_message;
    double real_ms = 0;
    std::map<std::string, double> counters;
    double Get(const std::string& k) const {
      auto it = counters.find(k);
      return it == counters.end() ? 0 : it->second;
    }
  };
  std::map<std::string, Row> rows_;
  int next_order_ = 0;
  bool any_median_ = false;
  bool any_error_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  const bool repetitions = bench::RepetitionsRequested(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  TicksPerNs();  // calibrate outside any timing
  SummaryReporter reporter;
  if (repetitions) reporter.NoteMedians();
  benchmark::RunSpecifiedBenchmarks(&reporter);
  Recorders::StopAll();
  reporter.PrintSummary();
  benchmark::Shutdown();
  return reporter.any_error() ? 1 : 0;
}
