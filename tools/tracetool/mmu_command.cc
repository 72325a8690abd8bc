// PLACEHOLDER: replaced by the mmu command's implementation.
#include "tools/tracetool/mmu_command.h"
#include "tools/tracetool/command.h"
namespace tracer::tracetool {
CLI::App* AddMmuCommand(CLI::App* app, MmuCommandOptions* opts) {
  CLI::App* cmd = app->add_subcommand("mmu", "(not yet implemented)");
  cmd->add_option("file", opts->file, "Trace file")->required();
  return cmd;
}
int RunMmu(const MmuCommandOptions&) { return ReportError("mmu: not yet implemented"); }
}  // namespace tracer::tracetool
