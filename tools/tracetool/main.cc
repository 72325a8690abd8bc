// tracetool: inspect tracer traces. A thin CLI: argument parsing here, the work in the command
// files and in tools/analysis.
//
// Exit codes: 0 success; 1 bad input (unreadable or corrupt trace), with one line
// "tracetool: <message>" on stderr; 2 bad usage (unknown command or flag, missing argument).

#include <cstdio>
#include <functional>
#include <vector>

#include "CLI/CLI.hpp"
#include "tools/tracetool/command.h"
#include "tools/tracetool/diff_command.h"
#include "tools/tracetool/dump_command.h"
#include "tools/tracetool/live_command.h"
#include "tools/tracetool/mmu_command.h"
#include "tools/tracetool/pprof_command.h"
#include "tools/tracetool/regions_command.h"
#include "tools/tracetool/split_command.h"
#include "tools/tracetool/stats_command.h"
#include "tools/tracetool/tasks_command.h"
#include "tools/tracetool/timeline_command.h"
#include "tools/tracetool/usertasks_command.h"

namespace {

using namespace tracer::tracetool;

// One subcommand: its CLI11 app and what runs it once parsed.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};

// Adds a subcommand whose options live in `opts` (which must outlive the parse and the run).
template <typename Options>
Command Add(CLI::App* (*add)(CLI::App*, Options*), int (*run)(const Options&), CLI::App* app,
            Options* opts) {
  return {add(app, opts), [run, opts] { return run(*opts); }};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("tracetool: inspect tracer execution traces", "tracetool");
  app.require_subcommand(1);
  StatsOptions stats;
  DumpOptions dump;
  TasksCommandOptions tasks;
  UserTasksCommandOptions usertasks;
  RegionsCommandOptions regions;
  PprofCommandOptions pprof;
  DiffCommandOptions diff;
  TimelineCommandOptions timeline;
  MmuCommandOptions mmu;
  LiveCommandOptions live;
  SplitCommandOptions split;
  const std::vector<Command> commands = {
      Add(AddStatsCommand, RunStats, &app, &stats),
      Add(AddDumpCommand, RunDump, &app, &dump),
      Add(AddTasksCommand, RunTasks, &app, &tasks),
      Add(AddUserTasksCommand, RunUserTasks, &app, &usertasks),
      Add(AddRegionsCommand, RunRegions, &app, &regions),
      Add(AddPprofCommand, RunPprof, &app, &pprof),
      Add(AddDiffCommand, RunDiff, &app, &diff),
      Add(AddTimelineCommand, RunTimeline, &app, &timeline),
      Add(AddMmuCommand, RunMmu, &app, &mmu),
      Add(AddLiveCommand, RunLive, &app, &live),
      Add(AddSplitCommand, RunSplit, &app, &split),
  };
  // CLI11 reports an unknown command as a missing one; name it instead.
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const Command& c : commands) known = known || argv[1] == c.app->get_name();
    if (!known) {
      std::fprintf(stderr, "tracetool: unknown command '%s' (see 'tracetool --help')\n", argv[1]);
      return kExitUsage;
    }
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
  for (const Command& c : commands) {
    if (c.app->parsed()) return c.run();
  }
  return kExitUsage;  // unreachable: one subcommand is required
}
