#include "tools/tracetool/stats_command.h"

#include <cstdio>

#include "format/trace_reader.h"
#include "tools/analysis/trace_stats.h"
#include "tools/tracetool/command.h"

namespace tracer::tracetool {

CLI::App* AddStatsCommand(CLI::App* app, StatsOptions* opts) {
  CLI::App* cmd = app->add_subcommand(
      "stats", "Summarize a trace: generations, threads, tasks, events by type, time span, "
               "losses");
  cmd->add_option("--format", opts->format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_str("text");
  cmd->add_option("file", opts->file, "Trace file")->required();
  return cmd;
}

int RunStats(const StatsOptions& opts) {
  auto reader = format::TraceReader::Open(opts.file);
  if (!reader.ok()) return ReportError(reader.status());
  // Events are still decoded with every bounds and id check by the stats pass itself.
  (*reader)->set_validate_events(false);
  absl::StatusOr<analysis::TraceStats> stats = analysis::ComputeTraceStats(reader->get());
  if (!stats.ok()) return ReportError(stats.status());
  std::string out = opts.format == "json" ? analysis::FormatTraceStatsJson(*stats) + "\n"
                                          : analysis::FormatTraceStatsText(*stats);
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    return ReportError("error writing to stdout");
  }
  return kExitOk;
}

}  // namespace tracer::tracetool
