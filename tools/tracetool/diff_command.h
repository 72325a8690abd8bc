// `tracetool diff --kind=KIND BEFORE AFTER`: per call site, the change in delay and count
// between two traces' profiles (tools/analysis/profile_diff.h).

#ifndef TRACER_TOOLS_TRACETOOL_DIFF_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_DIFF_COMMAND_H_

#include <cstddef>
#include <string>

#include "CLI/CLI.hpp"

namespace tracer::tracetool {

struct DiffCommandOptions {
  std::string before, after;
  std::string kind = "sync";
  std::string region;
  std::string format = "text";
  size_t top = 20;
};

// Adds the `diff` subcommand to `app`, parsing into `opts` (which must outlive `app`).
CLI::App* AddDiffCommand(CLI::App* app, DiffCommandOptions* opts);
// Returns the process exit code.
int RunDiff(const DiffCommandOptions& opts);

}  // namespace tracer::tracetool

#endif  // TRACER_TOOLS_TRACETOOL_DIFF_COMMAND_H_
