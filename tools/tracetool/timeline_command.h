// `tracetool timeline [-o FILE.json] [--from D] [--to D] FILE`: the trace as Chrome Trace Event
// JSON for Perfetto's UI, chrome://tracing and speedscope (tools/analysis/timeline.h).

#ifndef TRACER_TOOLS_TRACETOOL_TIMELINE_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_TIMELINE_COMMAND_H_

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "tools/tracetool/symbol_options.h"

namespace tracer::tracetool {

struct TimelineCommandOptions {
  std::string file;
  SymbolOptions symbols;
  std::string output = "-";  // "-": stdout
  int64_t from_ns = 0;       // since the trace's first event
  int64_t to_ns = -1;        // -1: to the end
  bool speedscope = false;   // analysis::TimelineOptions::speedscope
};

// Adds the `timeline` subcommand to `app`, parsing into `opts` (which must outlive `app`).
CLI::App* AddTimelineCommand(CLI::App* app, TimelineCommandOptions* opts);
// Returns the process exit code. A failed read or write removes a partial output file.
int RunTimeline(const TimelineCommandOptions& opts);

}  // namespace tracer::tracetool

#endif  // TRACER_TOOLS_TRACETOOL_TIMELINE_COMMAND_H_
