// `tracetool dump [--format=text|jsonl] [--limit N] [--stacks] [filters] FILE`: one event per
// line, in time order (generations in file order, threads merged by timestamp within each).
// The filters (--thread, --task, --type, --from/--to, --label) are
// tools/analysis/event_filter.h's; `stats` takes the same ones (AddEventFilterOptions).

#ifndef TRACER_TOOLS_TRACETOOL_DUMP_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_DUMP_COMMAND_H_

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "tools/analysis/event_filter.h"
#include "tools/tracetool/symbol_options.h"

namespace tracer::tracetool {

struct DumpOptions {
  std::string file;
  std::string format = "text";
  uint64_t limit = 0;   // 0: no limit
  bool stacks = false;  // each event's stack after it
  SymbolOptions symbols;  // for --stacks
  analysis::EventFilterOptions filter;
};

// Adds the filter flags to `cmd`, parsing into `filter` (which must outlive `cmd`). A bad value
// (an unknown type name, a label without '=', a duration that does not parse) is a usage
// error.
void AddEventFilterOptions(CLI::App* cmd, analysis::EventFilterOptions* filter);
// kExitOk if the filter's values agree with each other; else prints why and returns
// kExitUsage. `command` names the command in the message.
int CheckEventFilter(const analysis::EventFilterOptions& filter, const char* command);

// Adds the `dump` subcommand to `app`, parsing into `opts` (which must outlive `app`).
CLI::App* AddDumpCommand(CLI::App* app, DumpOptions* opts);
// Prints the matching events until the end, the limit, the first event after --to, or damage;
// events before the damage are printed, then the reader's error. Returns the process exit
// code.
int RunDump(const DumpOptions& opts);

}  // namespace tracer::tracetool

#endif  // TRACER_TOOLS_TRACETOOL_DUMP_COMMAND_H_
