// PLACEHOLDER: replaced by the live command's implementation.
#ifndef TRACER_TOOLS_TRACETOOL_LIVE_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_LIVE_COMMAND_H_
#include <string>
#include "CLI/CLI.hpp"
namespace tracer::tracetool {
struct LiveCommandOptions { std::string file; };
CLI::App* AddLiveCommand(CLI::App* app, LiveCommandOptions* opts);
int RunLive(const LiveCommandOptions& opts);
}  // namespace tracer::tracetool
#endif  // TRACER_TOOLS_TRACETOOL_LIVE_COMMAND_H_
