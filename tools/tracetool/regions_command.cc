#include "tools/tracetool/regions_command.h"

#include <cstdio>

#include "format/trace_reader.h"
#include "tools/analysis/regions.h"
#include "tools/tracetool/command.h"

namespace tracer::tracetool {

CLI::App* AddRegionsCommand(CLI::App* app, RegionsCommandOptions* opts) {
  CLI::App* cmd = app->add_subcommand(
      "regions",
      "Region latencies per name: count, p50/p90/p99/max (within 1%), a histogram, where the "
      "time went (running, runnable, blocked by reason, syscall, phase, stopped by a "
      "stop-the-world phase; the parts add up to the total) and the slowest instances with "
      "their thread and user task.\n"
      "Example: tracetool regions --name lookup --top 3 slow.trace");
  cmd->add_option("--name", opts->name, "Only regions of this name");
  cmd->add_option("--top", opts->top, "Slowest instances listed per name")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  cmd->add_option("--format", opts->format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_str("text");
  cmd->add_option("file", opts->file, "Trace file")->required();
  return cmd;
}

int RunRegions(const RegionsCommandOptions& opts) {
  auto reader = OpenTrace(opts.file);
  if (!reader.ok()) return ReportError(reader.status());
  analysis::RegionsOptions options;
  options.name = opts.name;
  options.top = opts.top;
  absl::StatusOr<analysis::RegionsReport> report =
      analysis::ComputeRegions(reader->get(), options);
  if (!report.ok()) return ReportError(report.status());
  return WriteStdout(opts.format == "json" ? analysis::FormatRegionsJson(*report) + "\n"
                                                : analysis::FormatRegionsText(*report));
}

}  // namespace tracer::tracetool
