#include "tools/tracetool/tasks_command.h"

#include <memory>

#include "tools/analysis/tasks.h"
#include "tools/tracetool/command.h"

namespace tracer::tracetool {

CLI::App* AddTasksCommand(CLI::App* app, TasksCommandOptions* opts) {
  CLI::App* cmd = app->add_subcommand(
      "tasks",
      "Runtime tasks (pool jobs, threads running as themselves, your scheduler's tasks) per "
      "name: count, life, and per state (running, runnable, blocked by reason, syscall, phase, "
      "stopped by a stop-the-world phase) the total, share, mean, p50 and p99 across the "
      "group's tasks (within 1%); the longest-lived tasks. With --id, one task's timeline: "
      "each state, each wait's object and stack, who woke it and the waker's stack.\n"
      "Example: tracetool tasks --name 'pool:handlers' slow.trace\n"
      "         tracetool tasks --id 1042 slow.trace");
  cmd->add_option("--name", opts->name, "Only tasks of this name (TaskCreate's name)");
  cmd->add_option("--top", opts->top, "Longest-lived tasks listed per name")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  cmd->add_option("--id", opts->id, "Print this task's timeline instead")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--format", opts->format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_str("text");
  AddSymbolOptions(cmd, &opts->symbols);
  cmd->add_option("file", opts->file, "Trace file")->required();
  return cmd;
}

int RunTasks(const TasksCommandOptions& opts) {
  auto reader = OpenTrace(opts.file);
  if (!reader.ok()) return ReportError(reader.status());
  analysis::TasksOptions options;
  options.name = opts.name;
  options.top = opts.top;
  options.id = opts.id;
  const std::unique_ptr<analysis::Symbolizer> symbolizer =
      opts.id != 0 ? MakeSymbolizer(opts.symbols) : nullptr;
  options.symbolizer = symbolizer.get();
  absl::StatusOr<analysis::TasksReport> report = analysis::ComputeTasks(reader->get(), options);
  if (!report.ok()) return ReportError(report.status());
  ReportSymbols(symbolizer.get());
  const bool json = opts.format == "json";
  if (opts.id != 0) {
    return WriteStdout(json ? analysis::FormatTaskTimelineJson(report->timeline) + "\n"
                            : analysis::FormatTaskTimelineText(report->timeline));
  }
  return WriteStdout(json ? analysis::FormatTasksJson(*report) + "\n"
                          : analysis::FormatTasksText(*report));
}

}  // namespace tracer::tracetool
