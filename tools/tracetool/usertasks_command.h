// `tracetool usertasks [--type NAME] [--top N] [--format=text|json] FILE`: user-task latencies
// and where their time went (tools/analysis/user_tasks.h).

#ifndef TRACER_TOOLS_TRACETOOL_USERTASKS_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_USERTASKS_COMMAND_H_

#include <cstddef>
#include <string>

#include "CLI/CLI.hpp"

namespace tracer::tracetool {

struct UserTasksCommandOptions {
  std::string file;
  std::string format = "text";
  std::string type;
  size_t top = 5;
};

// Adds the `usertasks` subcommand to `app`, parsing into `opts` (which must outlive `app`).
CLI::App* AddUserTasksCommand(CLI::App* app, UserTasksCommandOptions* opts);
// Returns the process exit code.
int RunUserTasks(const UserTasksCommandOptions& opts);

}  // namespace tracer::tracetool

#endif  // TRACER_TOOLS_TRACETOOL_USERTASKS_COMMAND_H_
