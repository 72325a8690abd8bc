// PLACEHOLDER: replaced by the mmu command's implementation.
#ifndef TRACER_TOOLS_TRACETOOL_MMU_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_MMU_COMMAND_H_
#include <string>
#include "CLI/CLI.hpp"
namespace tracer::tracetool {
struct MmuCommandOptions { std::string file; };
CLI::App* AddMmuCommand(CLI::App* app, MmuCommandOptions* opts);
int RunMmu(const MmuCommandOptions& opts);
}  // namespace tracer::tracetool
#endif  // TRACER_TOOLS_TRACETOOL_MMU_COMMAND_H_
