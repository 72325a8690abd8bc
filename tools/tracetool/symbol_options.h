// The symbol options of the commands that print or export stacks (dump --stacks, tasks --id,
// live, pprof, timeline): file and line from the binaries' DWARF, where to find the binaries,
// and the summary of the PCs that could not be symbolized.

#ifndef TRACER_TOOLS_TRACETOOL_SYMBOL_OPTIONS_H_
#define TRACER_TOOLS_TRACETOOL_SYMBOL_OPTIONS_H_

#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "tools/analysis/symbolizer.h"

namespace tracer::tracetool {

struct SymbolOptions {
  bool no_symbolize = false;
  std::vector<std::string> binary_dirs;
};

// Adds --no-symbolize and --binary-dir.
void AddSymbolOptions(CLI::App* cmd, SymbolOptions* opts);

// The Symbolizer the options ask for; null with --no-symbolize.
std::unique_ptr<analysis::Symbolizer> MakeSymbolizer(const SymbolOptions& opts);

// When some PCs got no file and line, says on stderr how many and why ("tracetool: file and
// line for 41 of 53 PCs; none for 12: no DWARF 10, binary not found 2 (--binary-dir ...)").
// Nothing for a null symbolizer or when every PC was symbolized.
void ReportSymbols(const analysis::Symbolizer* symbolizer);

}  // namespace tracer::tracetool

#endif  // TRACER_TOOLS_TRACETOOL_SYMBOL_OPTIONS_H_
