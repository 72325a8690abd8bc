// `tracetool dump [--format=text|jsonl] [--limit N] FILE`: one event per line, in time order
// (generations in file order, threads merged by timestamp within each).

#ifndef TRACER_TOOLS_TRACETOOL_DUMP_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_DUMP_COMMAND_H_

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"

namespace tracer::tracetool {

struct DumpOptions {
  std::string file;
  std::string format = "text";
  uint64_t limit = 0;  // 0: no limit
};

// Adds the `dump` subcommand to `app`, parsing into `opts` (which must outlive `app`).
CLI::App* AddDumpCommand(CLI::App* app, DumpOptions* opts);
// Prints events until the end, the limit, or damage; events before the damage are printed,
// then the reader's error. Returns the process exit code.
int RunDump(const DumpOptions& opts);

}  // namespace tracer::tracetool

#endif  // TRACER_TOOLS_TRACETOOL_DUMP_COMMAND_H_
