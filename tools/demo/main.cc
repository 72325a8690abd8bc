// tracer-demo: a small service that misbehaves on purpose (a contended cache mutex held across
// a slow disk read, stop-the-world compactions) under a flight recorder that dumps the recent
// past when a request misses its latency budget; then explains the slowest request of a dump.
// The service is tools/demo/demo_service.h; the explanation is tools/analysis/request_report.h.
//
// Exit codes: 0 success; 1 the run failed (no dump written, a dump unreadable, a file not
// writable), with one line "tracer-demo: <message>" on stderr; 2 bad usage.

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "format/trace_reader.h"
#include "tools/analysis/histogram.h"
#include "tools/analysis/pprof.h"
#include "tools/analysis/request_report.h"
#include "tools/analysis/request_report_text.h"
#include "tools/demo/demo_service.h"

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// Nearest-rank percentile (as tools/analysis computes it): the ceil(p/100 * n)-th smallest.
int64_t Percentile(std::vector<int64_t> sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

std::string Ms(int64_t ns) { return absl::StrFormat("%.2fms", static_cast<double>(ns) / 1e6); }

// tracetool as built next to this binary (build/tools/tracetool/tracetool), else from PATH.
std::string TracetoolPath() {
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    std::string dir(self, static_cast<size_t>(n));
    dir.resize(dir.rfind('/'));
    const std::string built = dir + "/../tracetool/tracetool";
    if (::access(built.c_str(), X_OK) == 0) {
      char real[PATH_MAX];
      if (::realpath(built.c_str(), real) != nullptr) return real;
    }
    const std::string installed = dir + "/tracetool";
    if (::access(installed.c_str(), X_OK) == 0) return installed;
  }
  return "tracetool";
}

// A CLI11 validator for absl durations ("8s", "250ms", "1m30s").
struct DurationValidator : CLI::Validator {
  DurationValidator() {
    name_ = "DURATION";
    func_ = [](const std::string& s) -> std::string {
      absl::Duration d;
      if (!absl::ParseDuration(s, &d) || d <= absl::ZeroDuration()) {
        return "'" + s + "' is not a positive duration (e.g. 8s, 250ms, 1m30s)";
      }
      return "";
    };
  }
};

// The top call sites of one profile of the dump, as `tracetool pprof` summarizes them.
void PrintProfileTop(const std::string& path, tracer::analysis::ProfileKind kind,
                     const char* title) {
  auto reader = tracer::format::TraceReader::Open(path);
  if (!reader.ok()) return;
  tracer::analysis::ProfileOptions options;
  options.kind = kind;
  // File and line from the binaries' DWARF (the demo's service is built with line tables).
  tracer::analysis::Symbolizer symbolizer({});
  options.symbolizer = &symbolizer;
  absl::StatusOr<tracer::analysis::ProfileResult> p =
      tracer::analysis::ComputeProfile(reader->get(), options);
  if (!p.ok()) {
    std::printf("(%s: %s)\n", title, std::string(p.status().message()).c_str());
    return;
  }
  std::printf("%s: %s over %llu waits\n", title,
              tracer::analysis::DurationText(p->total_ns).c_str(),
              static_cast<unsigned long long>(p->intervals));
  const std::vector<tracer::analysis::FlatEntry> flat = tracer::analysis::FlatProfile(*p->profile);
  for (size_t i = 0; i < flat.size() && i < 3; ++i) {
    std::printf("  %10s %5.1f%% %6lld  %s\n", tracer::analysis::DurationText(flat[i].value).c_str(),
                p->total_ns > 0 ? 100.0 * flat[i].value / p->total_ns : 0.0,
                static_cast<long long>(flat[i].count),
                tracer::analysis::FlatEntryText(flat[i]).c_str());
  }
}

absl::Duration ParsedDuration(const std::string& s) {
  absl::Duration d;
  absl::ParseDuration(s, &d);  // validated by DurationValidator
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  tracer::demo::DemoConfig config;
  config.out_dir = "./tracer-demo-out";
  std::string duration = "8s", budget = "15ms", dump_interval = "2s", min_age = "3s";
  const DurationValidator kDuration;

  CLI::App app(
      "tracer-demo: a service that misbehaves on purpose, under a flight recorder.\n"
      "Open-loop requests (user tasks \"GET /item\", \"GET /search\"; regions parse, lookup,\n"
      "encode; labels endpoint and shard) run on a tracer::ThreadPool. A refresher holds the\n"
      "cache mutex across a slow pread; a compactor stops the world (RwMutex, phase\n"
      "\"compaction\"). A request slower than --budget makes a dumper thread write the\n"
      "flight recorder's window to --out. At the end: latency per endpoint, the dumps, and\n"
      "the slowest request of the oldest dump kept, explained.",
      "tracer-demo");
  app.add_option("--rate", config.rate, "Requests per second, sent on schedule (open loop)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", config.threads, "Handler pool workers")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--duration", duration, "How long to send requests (e.g. 8s, 2500ms)")
      ->capture_default_str()
      ->type_name("DURATION")
      ->check(kDuration);
  app.add_option("--budget", budget,
                 "Latency budget: a request slower than this (generator to writer) asks for "
                 "a dump")
      ->capture_default_str()
      ->type_name("DURATION")
      ->check(kDuration);
  app.add_option("--out", config.out_dir,
                 "Directory for the dumps (mode 0600) and the refresher's data file; created "
                 "(0700) if missing")
      ->capture_default_str();
  app.add_option("--dump-interval", dump_interval, "At most one dump per interval")
      ->capture_default_str()
      ->type_name("DURATION")
      ->check(kDuration);
  app.add_option("--keep-dumps", config.keep_dumps,
                 "Keep only the newest N dumps of this run (older ones are deleted)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--min-age", min_age,
                 "The flight recorder's min_age: a dump covers at least this much of the "
                 "recent past")
      ->capture_default_str()
      ->type_name("DURATION")
      ->check(kDuration);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "tracer-demo: %s (see 'tracer-demo --help')\n", e.what());
    return kExitUsage;
  }
  config.duration = ParsedDuration(duration);
  config.budget = ParsedDuration(budget);
  config.dump_interval = ParsedDuration(dump_interval);
  config.min_age = ParsedDuration(min_age);

  std::printf("tracer-demo: %.0f req/s on %d threads for %s, budget %s; dumps in %s\n",
              config.rate, config.threads, absl::FormatDuration(config.duration).c_str(),
              absl::FormatDuration(config.budget).c_str(), config.out_dir.c_str());
  std::fflush(stdout);
  absl::StatusOr<tracer::demo::DemoResult> result = tracer::demo::RunDemo(config);
  if (!result.ok()) {
    std::fprintf(stderr, "tracer-demo: %s\n", std::string(result.status().message()).c_str());
    return kExitFailure;
  }

  std::printf("\n== Requests (latency measured in-process: generator to writer)\n");
  std::printf("%-12s %8s %10s %10s %10s\n", "endpoint", "count", "p50", "p99", "max");
  for (const tracer::demo::EndpointResult& e : result->endpoints) {
    std::vector<int64_t> sorted = e.latency_ns;
    std::sort(sorted.begin(), sorted.end());
    std::printf("%-12s %8zu %10s %10s %10s\n", e.name.c_str(), sorted.size(),
                Ms(Percentile(sorted, 50)).c_str(), Ms(Percentile(sorted, 99)).c_str(),
                Ms(sorted.empty() ? 0 : sorted.back()).c_str());
  }
  std::printf("%llu requests, %llu over the %s budget; %llu slow reads under the cache "
              "mutex, %llu compactions; %llu events lost\n",
              static_cast<unsigned long long>(result->requests),
              static_cast<unsigned long long>(result->over_budget),
              absl::FormatDuration(config.budget).c_str(),
              static_cast<unsigned long long>(result->slow_reads),
              static_cast<unsigned long long>(result->compactions),
              static_cast<unsigned long long>(result->events_lost));

  std::printf("\n== Dumps (at most one per %s, newest %d kept)\n",
              absl::FormatDuration(config.dump_interval).c_str(), config.keep_dumps);
  const tracer::demo::DumpRecord* first = nullptr;
  for (const tracer::demo::DumpRecord& d : result->dumps) {
    std::printf("%s  %7.1f KiB, %s window, for a %s of %s%s\n", d.path.c_str(),
                static_cast<double>(d.bytes) / 1024.0, absl::FormatDuration(d.covered).c_str(),
                d.trigger.c_str(), absl::FormatDuration(d.trigger_latency).c_str(),
                d.removed ? "  (deleted: --keep-dumps)" : "");
    if (!d.removed && first == nullptr) first = &d;
  }
  if (first == nullptr) {
    std::fprintf(stderr,
                 "tracer-demo: no dump was written (no request exceeded --budget %s; lower "
                 "it, or run longer)\n",
                 absl::FormatDuration(config.budget).c_str());
    return kExitFailure;
  }

  std::printf("\n== The slowest request in %s\n", first->path.c_str());
  absl::StatusOr<tracer::analysis::RequestReport> report =
      tracer::analysis::BuildRequestReport(first->path, {});
  if (!report.ok()) {
    std::fprintf(stderr, "tracer-demo: reading %s: %s\n", first->path.c_str(),
                 std::string(report.status().message()).c_str());
    return kExitFailure;
  }
  std::fputs(tracer::analysis::FormatRequestReport(*report).c_str(), stdout);

  std::printf("\n== Who made them wait (pprof of the dump)\n");
  PrintProfileTop(first->path, tracer::analysis::ProfileKind::kMutex,
                  "mutex (charged to the unlock site: who held the lock)");
  PrintProfileTop(first->path, tracer::analysis::ProfileKind::kSync,
                  "sync (charged to the waiter)");

  const std::string tool = TracetoolPath();
  std::printf("\n== Next\n");
  std::printf("%s usertasks %s      # request latency, where it went\n", tool.c_str(),
              first->path.c_str());
  std::printf("%s tasks %s          # pool jobs: queued, running, blocked (then --id N)\n",
              tool.c_str(), first->path.c_str());
  std::printf("%s pprof --kind=mutex -o mutex.pb.gz %s && go tool pprof -top mutex.pb.gz\n",
              tool.c_str(), first->path.c_str());
  std::printf("%s timeline -o timeline.json %s   # open in ui.perfetto.dev\n", tool.c_str(),
              first->path.c_str());
  std::printf("%s regions --name lookup %s\n", tool.c_str(), first->path.c_str());
  std::printf("%s stats %s\n", tool.c_str(), first->path.c_str());
  std::printf("%s dump --limit 50 %s\n", tool.c_str(), first->path.c_str());
  std::printf("%s dump %s | grep -E 'TaskBlock|PhaseBegin'\n", tool.c_str(),
              first->path.c_str());
  return 0;
}
