// PLACEHOLDER: replaced by the split command's implementation.
#ifndef TRACER_TOOLS_TRACETOOL_SPLIT_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_SPLIT_COMMAND_H_
#include <string>
#include "CLI/CLI.hpp"
namespace tracer::tracetool {
struct SplitCommandOptions { std::string file; };
CLI::App* AddSplitCommand(CLI::App* app, SplitCommandOptions* opts);
int RunSplit(const SplitCommandOptions& opts);
}  // namespace tracer::tracetool
#endif  // TRACER_TOOLS_TRACETOOL_SPLIT_COMMAND_H_
