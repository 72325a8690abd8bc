#include "tools/tracetool/pprof_command.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/analysis/histogram.h"
#include "tools/analysis/pprof.h"
#include "tools/tracetool/command.h"

namespace tracer::tracetool {
namespace {

// Writes `data` to `path` ("-": stdout); an error names the file and why.
absl::Status WriteFile(const std::string& path, const std::string& data) {
  if (path == "-") {
    if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size() ||
        std::fflush(stdout) != 0) {
      return absl::UnavailableError("error writing the profile to stdout");
    }
    return absl::OkStatus();
  }
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  // Only a regular file is removed after a failure (never a device such as /dev/full).
  struct stat st;
  const bool removable = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
  const bool wrote = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  const int saved = errno;
  const bool closed = std::fclose(f) == 0;
  if (!wrote || !closed) {
    if (removable) std::remove(path.c_str());  // a partial profile would read as a wrong one
    return absl::UnavailableError(
        absl::StrCat("error writing ", path, ": ", std::strerror(wrote ? errno : saved)));
  }
  return absl::OkStatus();
}

}  // namespace

CLI::App* AddPprofCommand(CLI::App* app, PprofCommandOptions* opts) {
  CLI::App* cmd = app->add_subcommand(
      "pprof",
      "Write a pprof profile (gzipped profile.proto) of the trace's waits, for go tool pprof, "
      "speedscope and fleet profilers. Kinds: sync (each wait on a mutex, rwmutex, condvar, "
      "channel, waitgroup or select, at the waiter's stack), mutex (mutex and rwmutex waits "
      "at the stack of the unlock that ended them: who held the lock), net, syscall, sched "
      "(runnable time), region (time inside regions), cpu (CPU samples). Sample types "
      "contentions/count and delay/nanoseconds (cpu: samples/count, cpu/nanoseconds); the "
      "tasks' labels are sample labels.\n"
      "Example: tracetool pprof --kind=mutex -o mutex.pb.gz slow.trace && "
      "go tool pprof -top mutex.pb.gz\n"
      "         go tool pprof -tagfocus endpoint=/get -top mutex.pb.gz");
  cmd->add_option("--kind", opts->kind, "What the profile charges: " +
                                            analysis::ProfileKindList())
      ->check(CLI::IsMember({"sync", "mutex", "net", "syscall", "sched", "region", "cpu"}))
      ->capture_default_str();
  cmd->add_option("--region", opts->region,
                  "Only what begins inside a region of this name (Go's region-filtered "
                  "profiles)");
  cmd->add_option("-o,--output", opts->out, "Profile file to write ('-': stdout)")->required();
  cmd->add_option("--top", opts->top, "Call sites in the summary printed")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  AddTimeOption(cmd, "--cpu-period", &opts->cpu_period_ns,
                "What one CPU sample stands for (default 10ms: 100 Hz)");
  AddSymbolOptions(cmd, &opts->symbols);
  cmd->add_option("file", opts->file, "Trace file")->required();
  return cmd;
}

int RunPprof(const PprofCommandOptions& opts) {
  auto reader = OpenTrace(opts.file);
  if (!reader.ok()) return ReportError(reader.status());
  analysis::ProfileOptions options;
  if (!analysis::ParseProfileKind(opts.kind, &options.kind)) {
    return ReportError(absl::StrCat("unknown profile kind ", opts.kind));
  }
  options.region = opts.region;
  options.cpu_period_ns = opts.cpu_period_ns;
  const std::unique_ptr<analysis::Symbolizer> symbolizer = MakeSymbolizer(opts.symbols);
  options.symbolizer = symbolizer.get();
  absl::StatusOr<analysis::ProfileResult> result =
      analysis::ComputeProfile(reader->get(), options);
  if (!result.ok()) return ReportError(result.status());
  ReportSymbols(symbolizer.get());
  absl::StatusOr<std::string> gz = analysis::Gzip(result->profile->Encode());
  if (!gz.ok()) return ReportError(gz.status());
  if (absl::Status s = WriteFile(opts.out, *gz); !s.ok()) return ReportError(s);
  if (opts.out == "-") return kExitOk;  // stdout holds the profile: no summary
  std::string summary = absl::StrFormat(
      "wrote %s: %s profile, %d samples, %d %s totalling %s\n", opts.out, opts.kind,
      result->profile->samples().size(), result->intervals,
      options.kind == analysis::ProfileKind::kCpu ? "CPU samples" : "intervals",
      analysis::DurationText(result->total_ns));
  if (result->unfinished > 0) {
    absl::StrAppendFormat(&summary, "%d intervals still open at the trace's end are not in it\n",
                          result->unfinished);
  }
  if (result->lost_events > 0) {
    absl::StrAppendFormat(&summary,
                          "warning: the trace lost %d events (loss records): the profile misses "
                          "what they held\n",
                          result->lost_events);
  }
  const std::vector<analysis::FlatEntry> flat = analysis::FlatProfile(*result->profile);
  for (size_t i = 0; i < flat.size() && i < opts.top; ++i) {
    absl::StrAppendFormat(&summary, "  %10s %6.1f%% %8d  %s\n",
                          analysis::DurationText(flat[i].value),
                          result->total_ns > 0 ? 100.0 * flat[i].value / result->total_ns : 0.0,
                          flat[i].count, analysis::FlatEntryText(flat[i]));
  }
  absl::StrAppendFormat(&summary, "Read it: go tool pprof -top %s (or -http=: for a browser)\n",
                        opts.out);
  return WriteStdout(summary);
}

}  // namespace tracer::tracetool
