#include "tools/tracetool/dump_command.h"

#include <cstdio>

#include "format/event_printer.h"
#include "format/event_stream.h"
#include "format/trace_reader.h"
#include "tools/tracetool/command.h"

namespace tracer::tracetool {
namespace {

constexpr size_t kFlushBytes = 64 << 10;

bool Flush(std::string* buf) {
  const bool ok = std::fwrite(buf->data(), 1, buf->size(), stdout) == buf->size();
  buf->clear();
  return ok;
}

}  // namespace

CLI::App* AddDumpCommand(CLI::App* app, DumpOptions* opts) {
  CLI::App* cmd = app->add_subcommand("dump", "Print the events of a trace, one per line, in "
                                              "time order");
  cmd->add_option("--format", opts->format,
                  "text: '<ns> T<thread> <Type> arg=value ...'; jsonl: one JSON object per "
                  "line with ts_ns, real_ns, thread, type and every argument by name")
      ->check(CLI::IsMember({"text", "jsonl"}))
      ->default_str("text");
  cmd->add_option("--limit", opts->limit, "Print at most N events (0: all)")
      ->check(CLI::Validator(
          [](std::string& v) {
            return v.find_first_not_of("0123456789") == std::string::npos
                       ? std::string()
                       : "takes a non-negative integer, not '" + v + "'";
          },
          "N"));
  cmd->add_option("file", opts->file, "Trace file")->required();
  return cmd;
}

int RunDump(const DumpOptions& opts) {
  auto reader = format::TraceReader::Open(opts.file);
  if (!reader.ok()) return ReportError(reader.status());
  // Each event is still fully checked as it is decoded; skipping the up-front pass over the
  // generation means the events before damage inside a generation are printed too.
  (*reader)->set_validate_events(false);
  const bool json = opts.format == "jsonl";
  format::EventStream stream(reader->get());
  format::Event e;
  std::string buf;
  uint64_t printed = 0;
  while ((opts.limit == 0 || printed < opts.limit) && stream.Next(&e)) {
    if (json) {
      format::AppendEventJson(stream.generation(), e, &buf);
    } else {
      format::AppendEventText(stream.generation(), e, &buf);
    }
    buf.push_back('\n');
    ++printed;
    if (buf.size() >= kFlushBytes && !Flush(&buf)) return ReportError("error writing to stdout");
  }
  if (!Flush(&buf) || std::fflush(stdout) != 0) return ReportError("error writing to stdout");
  if (!stream.status().ok()) return ReportError(stream.status());
  return kExitOk;
}

}  // namespace tracer::tracetool
