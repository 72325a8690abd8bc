// `tracetool mmu [--window DURATION]... [-o FILE.svg] [--format=text|json] FILE`: the minimum
// mutator utilization curve from the trace's phases (tools/analysis/mmu.h), as a table on
// stdout and, with -o, an SVG plot.

#ifndef TRACER_TOOLS_TRACETOOL_MMU_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_MMU_COMMAND_H_

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace tracer::tracetool {

struct MmuCommandOptions {
  std::string file;
  std::string format = "text";
  std::string svg;                  // the plot's file; empty: no plot
  std::vector<int64_t> windows_ns;  // window sizes besides the default ones
};

// Adds the `mmu` subcommand to `app`, parsing into `opts` (which must outlive `app`).
CLI::App* AddMmuCommand(CLI::App* app, MmuCommandOptions* opts);
// Returns the process exit code.
int RunMmu(const MmuCommandOptions& opts);

}  // namespace tracer::tracetool

#endif  // TRACER_TOOLS_TRACETOOL_MMU_COMMAND_H_
