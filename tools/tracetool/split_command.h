// `tracetool split --every DURATION | --generations N | --bytes SIZE -o DIR FILE`: smaller valid
// traces cut at generation boundaries (tools/analysis/split.h).

#ifndef TRACER_TOOLS_TRACETOOL_SPLIT_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_SPLIT_COMMAND_H_

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"

namespace tracer::tracetool {

struct SplitCommandOptions {
  std::string file;
  std::string out_dir;
  int64_t every_ns = 0;
  uint64_t generations = 0;
  uint64_t bytes = 0;
};

// Adds the `split` subcommand to `app`, parsing into `opts` (which must outlive `app`).
CLI::App* AddSplitCommand(CLI::App* app, SplitCommandOptions* opts);
// Returns the process exit code.
int RunSplit(const SplitCommandOptions& opts);

}  // namespace tracer::tracetool

#endif  // TRACER_TOOLS_TRACETOOL_SPLIT_COMMAND_H_
