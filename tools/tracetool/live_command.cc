#include "tools/tracetool/live_command.h"

#include <memory>

#include "tools/analysis/live.h"
#include "tools/tracetool/command.h"

namespace tracer::tracetool {

CLI::App* AddLiveCommand(CLI::App* app, LiveCommandOptions* opts) {
  CLI::App* cmd = app->add_subcommand(
      "live",
      "The tasks alive when a dump or capture was written (Go's goroutine dump), from the "
      "live-task listing it ends with: each task's state, wait reason and object, for how "
      "long, its labels and the stack where it waits (or was created). --group counts the "
      "tasks per state and stack (Go's debug=1); the default lists each (debug=2). A trace "
      "with no listing (cut short, or split) says so.\n"
      "Example: tracetool live --group slow.trace");
  cmd->add_flag("--group", opts->group, "One entry per state and stack, with its count");
  cmd->add_option("--format", opts->format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_str("text");
  AddSymbolOptions(cmd, &opts->symbols);
  cmd->add_option("file", opts->file, "Trace file")->required();
  return cmd;
}

int RunLive(const LiveCommandOptions& opts) {
  auto reader = OpenTrace(opts.file);
  if (!reader.ok()) return ReportError(reader.status());
  const std::unique_ptr<analysis::Symbolizer> symbolizer = MakeSymbolizer(opts.symbols);
  absl::StatusOr<analysis::LiveReport> report =
      analysis::ComputeLive(reader->get(), symbolizer.get());
  if (!report.ok()) return ReportError(report.status());
  ReportSymbols(symbolizer.get());
  return WriteStdout(opts.format == "json"
                         ? analysis::FormatLiveJson(*report, opts.group) + "\n"
                         : analysis::FormatLiveText(*report, opts.group));
}

}  // namespace tracer::tracetool
