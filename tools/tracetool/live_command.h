// `tracetool live [--group] [--format=text|json] FILE`: the tasks alive at the end of a dump
// (tools/analysis/live.h).

#ifndef TRACER_TOOLS_TRACETOOL_LIVE_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_LIVE_COMMAND_H_

#include <string>

#include "CLI/CLI.hpp"
#include "tools/tracetool/symbol_options.h"

namespace tracer::tracetool {

struct LiveCommandOptions {
  std::string file;
  SymbolOptions symbols;
  std::string format = "text";
  bool group = false;
};

// Adds the `live` subcommand to `app`, parsing into `opts` (which must outlive `app`).
CLI::App* AddLiveCommand(CLI::App* app, LiveCommandOptions* opts);
// Returns the process exit code.
int RunLive(const LiveCommandOptions& opts);

}  // namespace tracer::tracetool

#endif  // TRACER_TOOLS_TRACETOOL_LIVE_COMMAND_H_
