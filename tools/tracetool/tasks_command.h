// `tracetool tasks [--name NAME] [--top N] [--id N] [--format=text|json] FILE`: Go's goroutine
// analysis for runtime tasks, and one task's timeline (tools/analysis/tasks.h).

#ifndef TRACER_TOOLS_TRACETOOL_TASKS_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_TASKS_COMMAND_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "tools/tracetool/symbol_options.h"

namespace tracer::tracetool {

struct TasksCommandOptions {
  std::string file;
  SymbolOptions symbols;
  std::string format = "text";
  std::string name;
  size_t top = 3;
  uint64_t id = 0;
};

// Adds the `tasks` subcommand to `app`, parsing into `opts` (which must outlive `app`).
CLI::App* AddTasksCommand(CLI::App* app, TasksCommandOptions* opts);
// Returns the process exit code.
int RunTasks(const TasksCommandOptions& opts);

}  // namespace tracer::tracetool

#endif  // TRACER_TOOLS_TRACETOOL_TASKS_COMMAND_H_
