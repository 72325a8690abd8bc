// PLACEHOLDER: replaced by the live command's implementation.
#include "tools/tracetool/live_command.h"
#include "tools/tracetool/command.h"
namespace tracer::tracetool {
CLI::App* AddLiveCommand(CLI::App* app, LiveCommandOptions* opts) {
  CLI::App* cmd = app->add_subcommand("live", "(not yet implemented)");
  cmd->add_option("file", opts->file, "Trace file")->required();
  return cmd;
}
int RunLive(const LiveCommandOptions&) { return ReportError("live: not yet implemented"); }
}  // namespace tracer::tracetool
