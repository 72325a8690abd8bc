// tracetool: inspect tracer traces. A thin CLI: argument parsing here, the work in the command
// files and in tools/analysis.
//
// Exit codes: 0 success; 1 bad input (unreadable or corrupt trace), with one line
// "tracetool: <message>" on stderr; 2 bad usage (unknown command or flag, missing argument).

#include <cstdio>

#include "CLI/CLI.hpp"
#include "tools/tracetool/command.h"
#include "tools/tracetool/dump_command.h"
#include "tools/tracetool/regions_command.h"
#include "tools/tracetool/stats_command.h"
#include "tools/tracetool/usertasks_command.h"

int main(int argc, char** argv) {
  using namespace tracer::tracetool;
  CLI::App app("tracetool: inspect tracer execution traces", "tracetool");
  app.require_subcommand(1);
  StatsOptions stats;
  DumpOptions dump;
  RegionsCommandOptions regions;
  CLI::App* stats_cmd = AddStatsCommand(&app, &stats);
  CLI::App* dump_cmd = AddDumpCommand(&app, &dump);
  CLI::App* regions_cmd = AddRegionsCommand(&app, &regions);
  UserTasksCommandOptions usertasks;
  CLI::App* usertasks_cmd = AddUserTasksCommand(&app, &usertasks);
  // CLI11 reports an unknown command as a missing one; name it instead.
  if (argc > 1 && argv[1][0] != '-' && argv[1] != stats_cmd->get_name() &&
      argv[1] != dump_cmd->get_name() && argv[1] != regions_cmd->get_name() &&
      argv[1] != usertasks_cmd->get_name()) {
    std::fprintf(stderr, "tracetool: unknown command '%s' (see 'tracetool --help')\n", argv[1]);
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // prints the help of the (sub)command asked about; exit 0
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11's own exit codes (105, 106, 109...) would read as "bad input"; usage is 2.
    std::fprintf(stderr, "tracetool: %s (see 'tracetool --help')\n", e.what());
    return kExitUsage;
  }
  if (stats_cmd->parsed()) return RunStats(stats);
  if (dump_cmd->parsed()) return RunDump(dump);
  if (regions_cmd->parsed()) return RunRegions(regions);
  if (usertasks_cmd->parsed()) return RunUserTasks(usertasks);
  return kExitUsage;  // unreachable: one subcommand is required
}
