#include "tools/tracetool/timeline_command.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "format/trace_reader.h"
#include "tools/analysis/timeline.h"
#include "tools/tracetool/command.h"

namespace tracer::tracetool {

CLI::App* AddTimelineCommand(CLI::App* app, TimelineCommandOptions* opts) {
  CLI::App* cmd = app->add_subcommand(
      "timeline",
      "The trace as Chrome Trace Event JSON, for Perfetto's UI (ui.perfetto.dev), "
      "chrome://tracing and speedscope: per thread a track of its state (the task running on "
      "it, runnable, blocked by reason, syscall, phase, stopped by another thread's "
      "stop-the-world phase) and a track of its regions (nested slices) and logs (instants); "
      "the process-wide phases; counters; user tasks; an arrow from each waker to the task it "
      "woke. Times are microseconds since the trace's first event.\n"
      "Size: each trace event becomes about 200 bytes of JSON. chrome://tracing and speedscope "
      "load up to about 250 MB (about a million entries), Perfetto's UI up to about 1 GB within "
      "the browser's memory (beyond that, open it through `trace_processor --httpd "
      "FILE.json`). Cut a larger trace into windows with --from/--to (`tracetool stats` gives "
      "its event count and span); reading stops at --to.\n"
      "Example: tracetool timeline --from 2s --to 2.5s -o slow.json slow.trace");
  cmd->add_option("-o,--output", opts->output, "Output file ('-': stdout)")->capture_default_str();
  AddTimeOption(cmd, "--from", &opts->from_ns,
                "Start of the window, from the trace's first event (e.g. 1.5s)");
  AddTimeOption(cmd, "--to", &opts->to_ns,
                "End of the window, from the trace's first event (default: the trace's end)");
  cmd->add_flag("--speedscope", opts->speedscope,
                "For speedscope, which names a slice by its name and args together: slices "
                "without args, and a task's slice by its name without its id, so the Sandwich "
                "and Left Heavy views sum each region, state and task name (Perfetto's UI "
                "shows the args: leave this off for it)");
  AddSymbolOptions(cmd, &opts->symbols);
  cmd->add_option("file", opts->file, "Trace file")->required();
  return cmd;
}

int RunTimeline(const TimelineCommandOptions& opts) {
  if (opts.to_ns >= 0 && opts.to_ns <= opts.from_ns) {
    std::fprintf(stderr,
                 "tracetool: --to must be after --from (see 'tracetool timeline --help')\n");
    return kExitUsage;
  }
  auto reader = OpenTrace(opts.file);
  if (!reader.ok()) return ReportError(reader.status());
  const bool to_stdout = opts.output.empty() || opts.output == "-";
  const std::string where = to_stdout ? "stdout" : opts.output;
  std::FILE* f = to_stdout ? stdout : std::fopen(opts.output.c_str(), "wb");
  if (f == nullptr) {
    return ReportError(absl::StrCat("cannot open ", where, " for writing: ", std::strerror(errno)));
  }
  // Only a regular file is removed after a failure (never a device or a pipe named by -o).
  struct stat st;
  const bool removable = !to_stdout && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
  analysis::TimelineOptions options;
  options.from_ns = opts.from_ns;
  options.to_ns = opts.to_ns < 0 ? analysis::kTimelineNoEnd : opts.to_ns;
  options.process_name = opts.file;
  options.speedscope = opts.speedscope;
  const std::unique_ptr<analysis::Symbolizer> symbolizer = MakeSymbolizer(opts.symbols);
  options.symbolizer = symbolizer.get();
  const analysis::TimelineSink sink = [&](absl::string_view chunk) -> absl::Status {
    if (std::fwrite(chunk.data(), 1, chunk.size(), f) != chunk.size()) {
      return absl::UnavailableError(
          absl::StrCat("error writing to ", where, ": ", std::strerror(errno)));
    }
    return absl::OkStatus();
  };
  absl::StatusOr<analysis::TimelineSummary> summary =
      analysis::WriteTimeline(reader->get(), options, sink);
  const bool closed = to_stdout ? std::fflush(stdout) == 0 : std::fclose(f) == 0;
  if (!summary.ok() || !closed) {
    if (removable) std::remove(opts.output.c_str());
    if (!summary.ok()) return ReportError(summary.status());
    return ReportError(absl::StrCat("error writing to ", where, ": ", std::strerror(errno)));
  }
  ReportSymbols(symbolizer.get());
  if (summary->span_ns < opts.from_ns) {
    std::fprintf(stderr,
                 "tracetool: warning: the trace ends %.6fs after its first event, before --from\n",
                 static_cast<double>(summary->span_ns) / 1e9);
  }
  if (!to_stdout) {
    std::printf(
        "%s: %llu trace events as %llu timeline entries (%llu slices, %llu wakeup arrows), "
        "%.1f MB; open it in ui.perfetto.dev, chrome://tracing or speedscope.app\n",
        opts.output.c_str(), static_cast<unsigned long long>(summary->events),
        static_cast<unsigned long long>(summary->json_events),
        static_cast<unsigned long long>(summary->slices),
        static_cast<unsigned long long>(summary->flows), static_cast<double>(summary->bytes) / 1e6);
  }
  return kExitOk;
}

}  // namespace tracer::tracetool
