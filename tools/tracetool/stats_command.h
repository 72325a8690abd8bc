// `tracetool stats [--format=text|json] [filters] FILE`: whole-trace summary
// (tools/analysis/trace_stats.h); with filters (dump's: --thread, --task, --type, --from/--to,
// --label) its event counts are of the matching events, and it says so.

#ifndef TRACER_TOOLS_TRACETOOL_STATS_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_STATS_COMMAND_H_

#include <string>

#include "CLI/CLI.hpp"
#include "tools/analysis/event_filter.h"

namespace tracer::tracetool {

struct StatsOptions {
  std::string file;
  std::string format = "text";
  analysis::EventFilterOptions filter;
};

// Adds the `stats` subcommand to `app`, parsing into `opts` (which must outlive `app`).
CLI::App* AddStatsCommand(CLI::App* app, StatsOptions* opts);
// Returns the process exit code.
int RunStats(const StatsOptions& opts);

}  // namespace tracer::tracetool

#endif  // TRACER_TOOLS_TRACETOOL_STATS_COMMAND_H_
