// What the flight recorder costs a whole service: the demo (tools/demo/, the README's main
// job) run with the recorder on and with it off, in pairs, alternating which goes first, so a
// slow spell of the shared machine hits both sides alike.
//
//   BM_Demo_ClosedLoop   closed_loop = 2 x threads requests in flight, as fast as the service
//                        takes them: the maximum throughput. Counters: req_per_s_off,
//                        req_per_s_on (medians over the pairs) and on_over_off (the median of
//                        each pair's on/off; target >= 0.99, i.e. at most 1% lost).
//   BM_Demo_ClosedLoopNoStacks  the same with the recorder's stacks off (BufferConfig::stacks):
//                        what the waits' stacks cost of the closed-loop figure.
//   BM_Demo_FixedRate    the default open-loop rate: p99 latency of every request of a run
//                        (generator to writer). Counters: p99_ms_off, p99_ms_on (medians) and
//                        on_over_off (the median of each pair's on/off; target <= 1.02).
//
// Each benchmark is one iteration of --demo_pairs pairs of --demo_duration runs (defaults: 1
// pair of 1s, a smoke run; a result: --demo_pairs=7 --demo_duration=3s). The demo's
// misbehaviours (the slow read under the cache mutex, the stop-the-world compaction) stay on:
// this is the demo as users run it, so the fixed-rate p99 is mostly theirs, and the question is
// whether tracing moves it. The dumps a slow request triggers are written (to a temporary
// directory, removed at the end), as in the demo: their cost is part of "recorder on".

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "tracer/tracer.h"
#include "tools/demo/demo_service.h"

namespace {

int g_pairs = 1;
absl::Duration g_duration = absl::Seconds(1);
std::string g_dir;  // the runs' out_dir

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct RunFigures {
  double req_per_s = 0;
  double p99_ms = 0;
};

// One run of the demo; false (with the error set on `state`) if it failed.
bool RunOnce(benchmark::State& state, bool recorder, int closed_loop, bool stacks,
             RunFigures* out) {
  tracer::BufferConfig buffers = tracer::GetBufferConfig();
  buffers.stacks = stacks;
  if (absl::Status s = tracer::SetBufferConfig(buffers); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return false;
  }
  tracer::demo::DemoConfig config;
  config.out_dir = g_dir;
  config.duration = g_duration;
  config.recorder = recorder;
  config.closed_loop = closed_loop;
  absl::StatusOr<tracer::demo::DemoResult> r = tracer::demo::RunDemo(config);
  if (!r.ok()) {
    state.SkipWithError(std::string(r.status().message()).c_str());
    return false;
  }
  if (r->events_lost != 0) {
    state.SkipWithError("the tracer dropped events: not a result");
    return false;
  }
  std::vector<int64_t> all;
  for (const auto& e : r->endpoints) all.insert(all.end(), e.latency_ns.begin(), e.latency_ns.end());
  if (all.empty()) {
    state.SkipWithError("no request completed");
    return false;
  }
  std::sort(all.begin(), all.end());
  const size_t rank = (all.size() * 99 + 99) / 100;  // nearest rank
  out->p99_ms = static_cast<double>(all[std::min(all.size(), rank) - 1]) / 1e6;
  // Over the generator's duration only: RunDemo's wall time also holds the recorder's Start
  // (its buffer pool and ring faulted in) and Stop, which are not the service's throughput.
  out->req_per_s = static_cast<double>(all.size()) / absl::ToDoubleSeconds(config.duration);

  return true;
}

// --demo_pairs pairs, alternating which side runs first.
void RunPairs(benchmark::State& state, int closed_loop, bool by_throughput, bool stacks = true) {
  std::vector<double> off, on, ratio;
  for (auto _ : state) {
    for (int i = 0; i < g_pairs; ++i) {
      RunFigures f_off, f_on;
      const bool on_first = i % 2 == 1;
      if (on_first && !RunOnce(state, true, closed_loop, stacks, &f_on)) return;
      if (!RunOnce(state, false, closed_loop, stacks, &f_off)) return;
      if (!on_first && !RunOnce(state, true, closed_loop, stacks, &f_on)) return;
      const double a = by_throughput ? f_off.req_per_s : f_off.p99_ms;
      const double b = by_throughput ? f_on.req_per_s : f_on.p99_ms;
      off.push_back(a);
      on.push_back(b);
      ratio.push_back(a > 0 ? b / a : 0);
    }
  }
  const char* unit = by_throughput ? "req_per_s" : "p99_ms";
  state.counters[std::string(unit) + "_off"] = Median(off);
  state.counters[std::string(unit) + "_on"] = Median(on);
  state.counters["on_over_off"] = Median(ratio);
  state.counters["pairs"] = static_cast<double>(ratio.size());
}

void BM_Demo_ClosedLoop(benchmark::State& state) {
  RunPairs(state, /*closed_loop=*/2 * tracer::demo::DemoConfig().threads,
           /*by_throughput=*/true);
}
void BM_Demo_ClosedLoopNoStacks(benchmark::State& state) {
  RunPairs(state, /*closed_loop=*/2 * tracer::demo::DemoConfig().threads,
           /*by_throughput=*/true, /*stacks=*/false);
  tracer::BufferConfig buffers = tracer::GetBufferConfig();
  buffers.stacks = true;  // back to the default for the rows after
  (void)tracer::SetBufferConfig(buffers);
}
void BM_Demo_FixedRate(benchmark::State& state) {
  RunPairs(state, /*closed_loop=*/0, /*by_throughput=*/false);
}
BENCHMARK(BM_Demo_ClosedLoop)->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_Demo_ClosedLoopNoStacks)->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_Demo_FixedRate)->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);

// Takes this file's own flags out of argv (the framework rejects flags it does not know).
bool ParseOwnFlags(int* argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < *argc; ++i) {
    const char* a = argv[i];
    if (std::strncmp(a, "--demo_pairs=", 13) == 0) {
      if (!absl::SimpleAtoi(a + 13, &g_pairs) || g_pairs < 1) {
        std::fprintf(stderr, "demo_bench: --demo_pairs wants a positive count, got '%s'\n",
                     a + 13);
        return false;
      }
    } else if (std::strncmp(a, "--demo_duration=", 16) == 0) {
      if (!absl::ParseDuration(a + 16, &g_duration) || g_duration <= absl::ZeroDuration()) {
        std::fprintf(stderr, "demo_bench: --demo_duration wants a duration (3s), got '%s'\n",
                     a + 16);
        return false;
      }
    } else {
      argv[kept++] = argv[i];
    }
  }
  *argc = kept;
  argv[kept] = nullptr;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (!ParseOwnFlags(&argc, argv)) return 2;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::string tmpl = (std::filesystem::temp_directory_path() / "demo_bench.XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("demo_bench: mkdtemp");
    return 1;
  }
  g_dir = tmpl;
  std::printf("demo_bench: %d pair(s) of %s runs per benchmark, recorder off and on\n",
              g_pairs, absl::FormatDuration(g_duration).c_str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::error_code ec;
  std::filesystem::remove_all(g_dir, ec);
  return 0;
}
