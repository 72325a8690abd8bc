#include "tools/tracetool/usertasks_command.h"

#include <cstdio>

#include "format/trace_reader.h"
#include "tools/analysis/user_tasks.h"
#include "tools/tracetool/command.h"

namespace tracer::tracetool {

CLI::App* AddUserTasksCommand(CLI::App* app, UserTasksCommandOptions* opts) {
  CLI::App* cmd = app->add_subcommand(
      "usertasks",
      "User-task (request) latencies per type: count, p50/p90/p99/max (within 1%), a "
      "histogram, where the time went (the time threads worked for each task by their state: "
      "running, runnable including a pool job's time queued, blocked by reason, syscall, "
      "phase, stopped; and the time between threads) and the slowest tasks.\n"
      "Example: tracetool usertasks --type 'GET /item' --top 3 slow.trace");
  cmd->add_option("--type", opts->type, "Only user tasks of this type (UserTaskBegin's name)");
  cmd->add_option("--top", opts->top, "Slowest tasks listed per type")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  cmd->add_option("--format", opts->format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_str("text");
  cmd->add_option("file", opts->file, "Trace file")->required();
  return cmd;
}

int RunUserTasks(const UserTasksCommandOptions& opts) {
  auto reader = OpenTrace(opts.file);
  if (!reader.ok()) return ReportError(reader.status());
  analysis::UserTasksOptions options;
  options.type = opts.type;
  options.top = opts.top;
  absl::StatusOr<analysis::UserTasksReport> report =
      analysis::ComputeUserTasks(reader->get(), options);
  if (!report.ok()) return ReportError(report.status());
  return WriteStdout(opts.format == "json" ? analysis::FormatUserTasksJson(*report) + "\n"
                                                : analysis::FormatUserTasksText(*report));
}

}  // namespace tracer::tracetool
