// tracetool's analyses on a large generated trace: events per second on one core, beside the
// floor (reading and merging the same trace with no analysis), and peak memory at two trace
// lengths 10x apart (each analysis in a tracetool process of its own, its ru_maxrss).
//
// Targets (tools/analysis): every analysis >= 20 M events/s with its output excluded; peak
// memory independent of the trace's length (rss_ratio_10x ~ 1). timeline's rate is its
// output's cost (JSON to a sink that drops it), stated apart.
//
// The trace: 8 threads, each running pool-job cycles of 10 us (TaskCreate, TaskStart, a user
// task and a region, a read syscall, a mutex wait woken by the next thread, a counter, TaskEnd:
// 15 events), and a 400 us stop-the-world phase every 1000 cycles; generations of 2000 cycles.

#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "format/byte_source.h"
#include "format/event_printer.h"
#include "format/event_table.h"
#include "format/generation.h"
#include "format/merged_generation_reader.h"
#include "format/trace_reader.h"
#include "format/trace_writer.h"
#include "tools/analysis/mmu.h"
#include "tools/analysis/pprof.h"
#include "tools/analysis/regions.h"
#include "tools/analysis/tasks.h"
#include "tools/analysis/timeline.h"
#include "tools/analysis/trace_stats.h"
#include "tools/analysis/user_tasks.h"

namespace {

using tracer::format::BlockReason;
using tracer::format::EventType;

constexpr uint64_t kThreads = 8;
constexpr uint64_t kCyclesPerGeneration = 2000;
constexpr uint64_t kCycleTicks = 10'000;  // 1 tick = 1 ns
enum : uint64_t { kSJob = 1, kSReq, kSLookup, kSRead, kSQueue, kSGc, kSLock, kSGet, kSUnlock };

// A trace of `generations` generations (about 240k events each).
std::string MakeTrace(uint64_t generations) {
  std::string out;
  tracer::format::AppendFileHeader(&out);
  uint64_t next_id = 1;
  for (uint64_t g = 0; g < generations; ++g) {
    tracer::format::GenerationBuilder gb(g + 1);
    gb.SetClock({1'000'000'000, 0, 1'000'000'000, 1'700'000'000'000'000'000});
    const std::pair<uint64_t, const char*> strings[] = {
        {kSJob, "job"}, {kSReq, "GET /item"}, {kSLookup, "lookup"}, {kSRead, "pread"},
        {kSQueue, "queue"}, {kSGc, "gc"}, {kSLock, "tracer::Mutex::Lock"},
        {kSGet, "Cache::Get"}, {kSUnlock, "Cache::Refresh"}};
    for (const auto& [id, s] : strings) gb.AddString(id, s);
    gb.AddStack(1, std::vector<tracer::format::Frame>{{0x1001, kSLock, 0, 0}, {0x1002, kSGet, 0, 0}});
    gb.AddStack(2, std::vector<tracer::format::Frame>{{0x2001, kSUnlock, 0, 0}});
    const uint64_t first_id = next_id;
    for (uint64_t t = 0; t < kThreads; ++t) {
      gb.AddThread({100 + t, kSJob});
      tracer::format::EventEncoder enc(0);
      for (uint64_t c = 0; c < kCyclesPerGeneration; ++c) {
        const uint64_t cycle = g * kCyclesPerGeneration + c;
        const uint64_t base = cycle * kCycleTicks + t;
        const uint64_t job = first_id + c * kThreads + t;
        const uint64_t prev = first_id + c * kThreads + (t + kThreads - 1) % kThreads;
        enc.Append(EventType::kTaskCreate, base, {job, 0, kSJob, 0, 1});
        enc.Append(EventType::kTaskStart, base + 100, {job, 1});
        enc.Append(EventType::kUserTaskBegin, base + 150, {job, 0, kSReq, 0});
        enc.Append(EventType::kSetCurrentUserTask, base + 160, {job});
        enc.Append(EventType::kRegionBegin, base + 200, {0, kSLookup, 0});
        enc.Append(EventType::kSyscallBegin, base + 1000, {kSRead, 2});
        enc.Append(EventType::kSyscallEnd, base + 2000, {});
        enc.Append(EventType::kTaskBlock, base + 3000,
                   {job, static_cast<uint64_t>(BlockReason::kMutex), 0xabc, 1});
        // The previous thread's job, blocked at its base + 3000 - 1, woken from here.
        enc.Append(EventType::kTaskUnblock, base + 5000, {prev, 2, job, 0xabc, 2});
        enc.Append(EventType::kTaskStart, base + 6000, {job, 3});
        enc.Append(EventType::kRegionEnd, base + 8000, {0, kSLookup});
        enc.Append(EventType::kUserTaskEnd, base + 8100, {job});
        enc.Append(EventType::kCounter, base + 8200, {kSQueue, c % 17});
        enc.Append(EventType::kTaskEnd, base + 9000, {job});
        if (t == 0 && c % 1000 == 999) {
          enc.Append(EventType::kPhaseBegin, base + 9100, {kSGc, tracer::format::kPhaseStopTheWorld});
          enc.Append(EventType::kPhaseEnd, base + 9500, {kSGc});
        }
      }
      gb.AddBatch(100 + t, 0, enc.base_tick(), enc.num_events(), enc.data());
    }
    next_id += kCyclesPerGeneration * kThreads;
    gb.AppendTo(&out, /*compress=*/false);
  }
  return out;
}

const std::string& Trace() {
  static const std::string* trace = new std::string(MakeTrace(20));  // ~4.8 M events
  return *trace;
}

std::unique_ptr<tracer::format::TraceReader> Reader() {
  auto reader = tracer::format::TraceReader::FromSource(tracer::format::MakeStringSource(Trace()));
  if (!reader.ok()) {
    std::fprintf(stderr, "tracetool_bench: %s\n", std::string(reader.status().message()).c_str());
    std::abort();
  }
  (*reader)->set_validate_events(false);  // as tracetool reads
  return std::move(*reader);
}

// Runs `analysis` (returning the events it read, or an error) once per iteration.
template <typename F>
void RunAnalysis(benchmark::State& state, F analysis) {
  uint64_t events = 0;
  for (auto _ : state) {
    absl::StatusOr<uint64_t> n = analysis(Reader().get());
    if (!n.ok()) {
      state.SkipWithError(std::string(n.status().message()).c_str());
      return;
    }
    events += *n;
  }
  state.SetItemsProcessed(static_cast<int64_t>(events));
  state.counters["Mevents_per_s"] =
      benchmark::Counter(static_cast<double>(events) / 1e6, benchmark::Counter::kIsRate);
}

// The floor: read and merge every event, nothing else.
void BM_Analysis_Floor_ReadMerged(benchmark::State& state) {
  RunAnalysis(state, [](tracer::format::TraceReader* reader) -> absl::StatusOr<uint64_t> {
    uint64_t n = 0;
    for (;;) {
      auto gen = reader->Next();
      if (!gen.ok()) return gen.status();
      if (*gen == nullptr) return n;
      tracer::format::MergedGenerationReader events(**gen);
      while (events.Next() != nullptr) ++n;
      if (!events.status().ok()) return events.status();
    }
  });
}
BENCHMARK(BM_Analysis_Floor_ReadMerged)->Unit(benchmark::kMillisecond);

void BM_Analysis_Stats(benchmark::State& state) {
  RunAnalysis(state, [](tracer::format::TraceReader* r) -> absl::StatusOr<uint64_t> {
    auto s = tracer::analysis::ComputeTraceStats(r);
    if (!s.ok()) return s.status();
    return s->events;
  });
}
BENCHMARK(BM_Analysis_Stats)->Unit(benchmark::kMillisecond);

void BM_Analysis_Tasks(benchmark::State& state) {
  RunAnalysis(state, [](tracer::format::TraceReader* r) -> absl::StatusOr<uint64_t> {
    auto s = tracer::analysis::ComputeTasks(r, {});
    if (!s.ok()) return s.status();
    return s->events;
  });
}
BENCHMARK(BM_Analysis_Tasks)->Unit(benchmark::kMillisecond);

void BM_Analysis_UserTasks(benchmark::State& state) {
  RunAnalysis(state, [](tracer::format::TraceReader* r) -> absl::StatusOr<uint64_t> {
    auto s = tracer::analysis::ComputeUserTasks(r, {});
    if (!s.ok()) return s.status();
    return s->events;
  });
}
BENCHMARK(BM_Analysis_UserTasks)->Unit(benchmark::kMillisecond);

void BM_Analysis_Regions(benchmark::State& state) {
  RunAnalysis(state, [](tracer::format::TraceReader* r) -> absl::StatusOr<uint64_t> {
    auto s = tracer::analysis::ComputeRegions(r, {});
    if (!s.ok()) return s.status();
    return s->events;
  });
}
BENCHMARK(BM_Analysis_Regions)->Unit(benchmark::kMillisecond);

void BM_Analysis_Mmu(benchmark::State& state) {
  RunAnalysis(state, [](tracer::format::TraceReader* r) -> absl::StatusOr<uint64_t> {
    auto s = tracer::analysis::ComputeMmu(r, {});
    if (!s.ok()) return s.status();
    return s->events;
  });
}
BENCHMARK(BM_Analysis_Mmu)->Unit(benchmark::kMillisecond);

// Arg: ProfileKind.
void BM_Analysis_Pprof(benchmark::State& state) {
  tracer::analysis::ProfileOptions options;
  options.kind = static_cast<tracer::analysis::ProfileKind>(state.range(0));
  state.SetLabel(std::string(tracer::analysis::ProfileKindName(options.kind)));
  RunAnalysis(state, [&](tracer::format::TraceReader* r) -> absl::StatusOr<uint64_t> {
    auto s = tracer::analysis::ComputeProfile(r, options);
    if (!s.ok()) return s.status();
    benchmark::DoNotOptimize(s->profile->Encode());
    return s->events;
  });
}
BENCHMARK(BM_Analysis_Pprof)
    ->DenseRange(0, static_cast<int>(tracer::analysis::ProfileKind::kRegion))
    ->Unit(benchmark::kMillisecond);

// The output is the cost: JSON for every event, handed to a sink that only counts it.
void BM_Analysis_Timeline(benchmark::State& state) {
  uint64_t bytes = 0;
  RunAnalysis(state, [&](tracer::format::TraceReader* r) -> absl::StatusOr<uint64_t> {
    auto s = tracer::analysis::WriteTimeline(r, {}, [&](absl::string_view chunk) {
      bytes += chunk.size();
      return absl::OkStatus();
    });
    if (!s.ok()) return s.status();
    return s->events;
  });
  state.counters["json_MB_per_s"] =
      benchmark::Counter(static_cast<double>(bytes) / 1e6, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Analysis_Timeline)->Unit(benchmark::kMillisecond);

// `tracetool dump`'s work: every event as its text line, in 64 KiB pieces (as the command
// writes to stdout); the output is the cost.
void BM_Analysis_DumpText(benchmark::State& state) {
  uint64_t bytes = 0;
  RunAnalysis(state, [&](tracer::format::TraceReader* r) -> absl::StatusOr<uint64_t> {
    uint64_t events = 0;
    std::string buf;
    for (;;) {
      auto gen = r->Next();
      if (!gen.ok()) return gen.status();
      if (*gen == nullptr) break;
      tracer::format::MergedGenerationReader merged(**gen);
      while (const tracer::format::Event* e = merged.Next()) {
        tracer::format::AppendEventText(**gen, *e, &buf);
        buf.push_back('\n');
        ++events;
        if (buf.size() >= (64 << 10)) {
          bytes += buf.size();
          benchmark::DoNotOptimize(buf.data());
          buf.clear();
        }
      }
      if (!merged.status().ok()) return merged.status();
    }
    bytes += buf.size();
    return events;
  });
  state.counters["text_MB_per_s"] =
      benchmark::Counter(static_cast<double>(bytes) / 1e6, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Analysis_DumpText)->Unit(benchmark::kMillisecond);

// ---- Peak memory: tracetool on a trace and on one 10x longer. -------------------------------

std::string WriteTraceFile(uint64_t generations) {
  const std::string path = absl::StrCat(P_tmpdir, "/tracetool_bench.", getpid(), ".", generations,
                                        ".trace");
  const std::string data = MakeTrace(generations);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(data.data(), 1, data.size(), f) != data.size() ||
      std::fclose(f) != 0) {
    return "";
  }
  return path;
}

// tracetool's peak RSS in KiB running `args` on `file`, or -1.
long PeakRssKib(std::vector<std::string> args, const std::string& file) {
  args.insert(args.begin(), TRACER_TRACETOOL_PATH);
  args.push_back(file);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // fork, not posix_spawn: posix_spawn's vfork-style child shares this process's memory until
  // exec, and exec records that memory's high-water mark in the child's ru_maxrss. A forked
  // child's copy starts at what is resident now; it execs at once, before touching anything.
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, STDOUT_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  if (wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return -1;
  }
  return usage.ru_maxrss;
}

// Arg: which command (see kCommands). Counters: peak RSS on the short and the 10x trace.
const std::vector<std::vector<std::string>> kCommands = {
    {"stats"}, {"tasks"}, {"usertasks"}, {"regions"},
    {"pprof", "--kind=sync", "-o", "/dev/null"}, {"pprof", "--kind=mutex", "-o", "/dev/null"},
    {"timeline", "-o", "/dev/null"}, {"mmu"}};

void BM_Analysis_PeakRss(benchmark::State& state) {
  static const std::string short_trace = WriteTraceFile(2);   // ~480 k events
  static const std::string long_trace = WriteTraceFile(20);   // ~4.8 M events
  const std::vector<std::string>& cmd = kCommands[state.range(0)];
  std::string label;
  for (const std::string& a : cmd) absl::StrAppend(&label, label.empty() ? "" : " ", a);
  state.SetLabel(label);
  long short_kib = 0, long_kib = 0;
  for (auto _ : state) {
    short_kib = PeakRssKib(cmd, short_trace);
    long_kib = PeakRssKib(cmd, long_trace);
    if (short_kib < 0 || long_kib < 0) {
      state.SkipWithError("tracetool failed (or the trace files could not be written)");
      return;
    }
  }
  state.counters["rss_kib_1x"] = static_cast<double>(short_kib);
  state.counters["rss_kib_10x"] = static_cast<double>(long_kib);
  state.counters["rss_ratio_10x"] = static_cast<double>(long_kib) / static_cast<double>(short_kib);
}
BENCHMARK(BM_Analysis_PeakRss)
    ->DenseRange(0, 7)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  for (uint64_t g : {2, 20}) {
    std::remove(absl::StrCat(P_tmpdir, "/tracetool_bench.", getpid(), ".", g, ".trace").c_str());
  }
  return 0;
}
