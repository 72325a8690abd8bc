#include "tools/tracetool/dump_command.h"

#include <cstdio>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "format/event_printer.h"
#include "format/merged_generation_reader.h"
#include "format/trace_reader.h"
#include "tools/analysis/stacks.h"
#include "tools/tracetool/command.h"

namespace tracer::tracetool {
namespace {

constexpr size_t kFlushBytes = 64 << 10;

bool Flush(std::string* buf) {
  const bool ok = std::fwrite(buf->data(), 1, buf->size(), stdout) == buf->size();
  buf->clear();
  return ok;
}

// A validator that accepts non-negative decimal integers, shown in the help as `name`.
CLI::Validator Unsigned(const std::string& name) {
  return CLI::Validator(
      [](std::string& v) {
        return !v.empty() && v.find_first_not_of("0123456789") == std::string::npos
                   ? std::string()
                   : "takes a non-negative integer, not '" + v + "'";
      },
      name);
}

// Calls fn(argument name, stack) for each stack argument of `e` that names a known stack.
template <typename F>
void ForEachStack(const format::Generation& gen, const format::Event& e, F fn) {
  const format::EventSpec& spec = e.spec();
  for (int i = 0; i < spec.num_args; ++i) {
    if (spec.args[i].kind != format::ArgKind::kStack || e.args[i] == 0) continue;
    if (const format::Stack* stack = gen.FindStack(e.args[i])) fn(spec.args[i].name, *stack);
  }
}

// After the text line of `e`: each frame of each of its stacks, indented; a frame without file
// and line says why ("[no file:line: no DWARF]") when a symbolizer was asked.
void AppendStacksText(const format::Generation& gen, const format::Event& e,
                      analysis::Symbolizer* symbolizer, std::string* out) {
  ForEachStack(gen, e, [&](absl::string_view, const format::Stack& stack) {
    for (const format::Frame& frame : stack.frames) {
      const analysis::ResolvedFrame r = analysis::ResolveFrame(gen, frame, symbolizer);
      for (size_t l = 0; l < r.lines.size(); ++l) {
        absl::StrAppend(out, "\n    ", analysis::FrameLineText(r.lines[l], r.pc));
        if (l + 1 < r.lines.size()) *out += " [inlined]";
      }
      if (symbolizer != nullptr && !r.why_not.empty()) {
        absl::StrAppend(out, " [no file:line: ", r.why_not, "]");
      }
    }
  });
}

// Inside the JSON object of `e` (before its closing brace): for each stack argument `x` with
// frames, "x_frames":[{"pc":…,"func":…,"file":…,"line":…},…], innermost first; func, file and
// line only when known; a function inlined at the pc is a frame of its own with "inlined":true
// before its caller; "unsymbolized":"<why>" when a symbolizer found no file and line.
void AppendStacksJson(const format::Generation& gen, const format::Event& e,
                      analysis::Symbolizer* symbolizer, std::string* out) {
  ForEachStack(gen, e, [&](absl::string_view name, const format::Stack& stack) {
    absl::StrAppend(out, ",\"", name, "_frames\":[");
    bool first = true;
    for (const format::Frame& frame : stack.frames) {
      const analysis::ResolvedFrame r = analysis::ResolveFrame(gen, frame, symbolizer);
      for (size_t l = 0; l < r.lines.size(); ++l) {
        const analysis::FrameLine& line = r.lines[l];
        absl::StrAppend(out, first ? "" : ",", "{\"pc\":", r.pc);
        first = false;
        if (!line.function.empty()) {
          *out += ",\"func\":";
          format::AppendJsonString(line.function, out);
        }
        if (!line.file.empty()) {
          *out += ",\"file\":";
          format::AppendJsonString(line.file, out);
        }
        if (line.line != 0) absl::StrAppend(out, ",\"line\":", line.line);
        if (l + 1 < r.lines.size()) *out += ",\"inlined\":true";
        if (symbolizer != nullptr && !r.why_not.empty()) {
          *out += ",\"unsymbolized\":";
          format::AppendJsonString(r.why_not, out);
        }
        *out += '}';
      }
    }
    *out += ']';
  });
}

}  // namespace

void AddEventFilterOptions(CLI::App* cmd, analysis::EventFilterOptions* filter) {
  cmd->add_option("--thread", filter->threads,
                  "Only the events of this thread, by id or by name (repeat for several)")
      ->type_name("ID|NAME");
  cmd->add_option("--task", filter->tasks,
                  "Only the events of runtime task N and of the tasks it created, transitively: "
                  "the task events naming them, and the other events of a thread while it runs "
                  "one (comma-separated or repeated for several)")
      ->delimiter(',')
      ->check(Unsigned(""))
      ->type_name("N");
  cmd->add_option_function<std::vector<std::string>>(
         "--type",
         [filter](const std::vector<std::string>& values) {
           absl::StatusOr<std::vector<format::EventType>> types =
               analysis::ParseEventTypes(values);
           if (!types.ok()) {
             throw CLI::ValidationError("--type", std::string(types.status().message()));
           }
           filter->types = *std::move(types);
         },
         "Only events of these types, named as dump prints them (TaskBlock, RegionBegin, ...; "
         "comma-separated or repeated)")
      ->type_name("TYPE");
  AddTimeOption(cmd, "--from", &filter->from_ns,
                "Only events from this time on, from the trace's first event (e.g. 1.5s, 200ms)");
  AddTimeOption(cmd, "--to", &filter->to_ns,
                "Only events up to this time (included), from the trace's first event");
  cmd->add_option_function<std::vector<std::string>>(
         "--label",
         [filter](const std::vector<std::string>& values) {
           filter->labels.clear();
           for (const std::string& v : values) {
             auto label = analysis::ParseLabel(v);
             if (!label.ok()) {
               throw CLI::ValidationError("--label", std::string(label.status().message()));
             }
             filter->labels.push_back(*std::move(label));
           }
         },
         "Only events of tasks (or, running none, threads) whose current label set holds "
         "key=value (repeat: all must hold)")
      ->type_name("KEY=VALUE");
}

int CheckEventFilter(const analysis::EventFilterOptions& filter, const char* command) {
  if (filter.to_ns != analysis::kFilterNoEnd && filter.to_ns < filter.from_ns) {
    std::fprintf(stderr, "tracetool: --to must not be before --from (see 'tracetool %s --help')\n",
                 command);
    return kExitUsage;
  }
  return kExitOk;
}

CLI::App* AddDumpCommand(CLI::App* app, DumpOptions* opts) {
  CLI::App* cmd = app->add_subcommand(
      "dump",
      "Print the events of a trace, one per line, in time order. Filters combine: an event is "
      "printed when it passes every one given; reading stops after --to.\n"
      "Example: tracetool dump --task 1000 --type TaskBlock,TaskUnblock --stacks app.trace");
  cmd->add_option("--format", opts->format,
                  "text: '<ns> T<thread> <Type> arg=value ...'; jsonl: one JSON object per "
                  "line with ts_ns, real_ns, thread, type and every argument by name")
      ->check(CLI::IsMember({"text", "jsonl"}))
      ->default_str("text");
  cmd->add_option("--limit", opts->limit, "Print at most N events (0: all)")->check(Unsigned("N"));
  cmd->add_flag("--stacks", opts->stacks,
                "After each event with a stack, its frames, innermost first, with function, "
                "file and line (from the trace, else from the binary's DWARF; a frame that has "
                "none says why): indented lines in text, '<arg>_frames' in jsonl");
  AddSymbolOptions(cmd, &opts->symbols);
  AddEventFilterOptions(cmd, &opts->filter);
  cmd->add_option("file", opts->file, "Trace file")->required();
  return cmd;
}

int RunDump(const DumpOptions& opts) {
  if (const int rc = CheckEventFilter(opts.filter, "dump"); rc != kExitOk) return rc;
  auto reader = OpenTrace(opts.file);
  if (!reader.ok()) return ReportError(reader.status());
  const bool json = opts.format == "jsonl";
  const bool filtered = !opts.filter.empty();
  analysis::EventFilter filter(opts.filter);
  const std::unique_ptr<analysis::Symbolizer> symbolizer =
      opts.stacks ? MakeSymbolizer(opts.symbols) : nullptr;
  std::string buf;
  uint64_t printed = 0;
  absl::Status status;
  bool done = false;
  while (!done) {
    absl::StatusOr<std::shared_ptr<const format::Generation>> next = (*reader)->Next();
    if (!next.ok()) {
      status = next.status();
      break;
    }
    if (*next == nullptr) break;
    const format::Generation& gen = **next;
    if (filtered) filter.BeginGeneration(gen);
    format::MergedGenerationReader events(gen);
    while (const format::Event* e = events.Next()) {
      if (opts.limit != 0 && printed >= opts.limit) break;
      if (filtered && !filter.Match(gen, *e)) {
        if (filter.past_end()) break;
        continue;
      }
      if (json) {
        format::AppendEventJson(gen, *e, &buf);
        if (opts.stacks) {
          buf.pop_back();  // the object's closing brace
          AppendStacksJson(gen, *e, symbolizer.get(), &buf);
          buf.push_back('}');
        }
      } else {
        format::AppendEventText(gen, *e, &buf);
        if (opts.stacks) AppendStacksText(gen, *e, symbolizer.get(), &buf);
      }
      buf.push_back('\n');
      ++printed;
      if (buf.size() >= kFlushBytes && !Flush(&buf)) return ReportError("error writing to stdout");
    }
    if (!events.status().ok()) {
      status = events.status();
      break;
    }
    done = (opts.limit != 0 && printed >= opts.limit) || filter.past_end();
  }
  if (!Flush(&buf) || std::fflush(stdout) != 0) return ReportError("error writing to stdout");
  ReportSymbols(symbolizer.get());
  if (!status.ok()) return ReportError(status);
  return kExitOk;
}

}  // namespace tracer::tracetool
