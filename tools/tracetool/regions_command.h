// `tracetool regions [--name NAME] [--top N] [--format=text|json] FILE`: region latencies and
// where their time went (tools/analysis/regions.h).

#ifndef TRACER_TOOLS_TRACETOOL_REGIONS_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_REGIONS_COMMAND_H_

#include <cstddef>
#include <string>

#include "CLI/CLI.hpp"

namespace tracer::tracetool {

struct RegionsCommandOptions {
  std::string file;
  std::string format = "text";
  std::string name;
  size_t top = 5;
};

// Adds the `regions` subcommand to `app`, parsing into `opts` (which must outlive `app`).
CLI::App* AddRegionsCommand(CLI::App* app, RegionsCommandOptions* opts);
// Returns the process exit code.
int RunRegions(const RegionsCommandOptions& opts);

}  // namespace tracer::tracetool

#endif  // TRACER_TOOLS_TRACETOOL_REGIONS_COMMAND_H_
