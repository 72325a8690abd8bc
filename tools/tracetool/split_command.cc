// PLACEHOLDER: replaced by the split command's implementation.
#include "tools/tracetool/split_command.h"
#include "tools/tracetool/command.h"
namespace tracer::tracetool {
CLI::App* AddSplitCommand(CLI::App* app, SplitCommandOptions* opts) {
  CLI::App* cmd = app->add_subcommand("split", "(not yet implemented)");
  cmd->add_option("file", opts->file, "Trace file")->required();
  return cmd;
}
int RunSplit(const SplitCommandOptions&) { return ReportError("split: not yet implemented"); }
}  // namespace tracer::tracetool
