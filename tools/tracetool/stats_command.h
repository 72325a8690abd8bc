// `tracetool stats [--format=text|json] FILE`: whole-trace summary (tools/analysis/trace_stats.h).

#ifndef TRACER_TOOLS_TRACETOOL_STATS_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_STATS_COMMAND_H_

#include <string>

#include "CLI/CLI.hpp"

namespace tracer::tracetool {

struct StatsOptions {
  std::string file;
  std::string format = "text";
};

// Adds the `stats` subcommand to `app`, parsing into `opts` (which must outlive `app`).
CLI::App* AddStatsCommand(CLI::App* app, StatsOptions* opts);
// Returns the process exit code.
int RunStats(const StatsOptions& opts);

}  // namespace tracer::tracetool

#endif  // TRACER_TOOLS_TRACETOOL_STATS_COMMAND_H_
