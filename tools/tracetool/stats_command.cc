#include "tools/tracetool/stats_command.h"

#include "format/trace_reader.h"
#include "tools/analysis/trace_stats.h"
#include "tools/tracetool/command.h"
#include "tools/tracetool/dump_command.h"

namespace tracer::tracetool {

CLI::App* AddStatsCommand(CLI::App* app, StatsOptions* opts) {
  CLI::App* cmd = app->add_subcommand(
      "stats",
      "Summarize a trace: generations, threads, tasks, events by type, time span, losses. With "
      "filters (those of dump), the events, tasks and time span are of the matching events "
      "only, and the report starts with the filter.\n"
      "Example: tracetool stats --thread worker-1 --from 1s --to 1.5s app.trace");
  cmd->add_option("--format", opts->format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_str("text");
  AddEventFilterOptions(cmd, &opts->filter);
  cmd->add_option("file", opts->file, "Trace file")->required();
  return cmd;
}

int RunStats(const StatsOptions& opts) {
  if (const int rc = CheckEventFilter(opts.filter, "stats"); rc != kExitOk) return rc;
  // Events are still decoded with every bounds and id check by the stats pass itself.
  auto reader = OpenTrace(opts.file);
  if (!reader.ok()) return ReportError(reader.status());
  absl::StatusOr<analysis::TraceStats> stats =
      analysis::ComputeTraceStats(reader->get(), opts.filter);
  if (!stats.ok()) return ReportError(stats.status());
  return WriteStdout(opts.format == "json" ? analysis::FormatTraceStatsJson(*stats) + "\n"
                                           : analysis::FormatTraceStatsText(*stats));
}

}  // namespace tracer::tracetool
