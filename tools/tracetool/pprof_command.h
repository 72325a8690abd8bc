// `tracetool pprof --kind=KIND [--region NAME] -o FILE TRACE`: a gzipped pprof profile from the
// trace (tools/analysis/pprof.h), for `go tool pprof` and fleet profilers.

#ifndef TRACER_TOOLS_TRACETOOL_PPROF_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_PPROF_COMMAND_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "tools/tracetool/symbol_options.h"

namespace tracer::tracetool {

struct PprofCommandOptions {
  std::string file;
  SymbolOptions symbols;
  std::string kind = "sync";
  std::string region;
  std::string out;
  int64_t cpu_period_ns = 10'000'000;
  size_t top = 10;
};

// Adds the `pprof` subcommand to `app`, parsing into `opts` (which must outlive `app`).
CLI::App* AddPprofCommand(CLI::App* app, PprofCommandOptions* opts);
// Returns the process exit code.
int RunPprof(const PprofCommandOptions& opts);

}  // namespace tracer::tracetool

#endif  // TRACER_TOOLS_TRACETOOL_PPROF_COMMAND_H_
