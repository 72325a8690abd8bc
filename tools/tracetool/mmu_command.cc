#include "tools/tracetool/mmu_command.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "format/trace_reader.h"
#include "tools/analysis/mmu.h"
#include "tools/tracetool/command.h"

namespace tracer::tracetool {
namespace {

// Writes `data` to `path`; returns "" or the message. A regular file is removed after a failed
// write (never a device or a pipe named by -o).
std::string WriteFile(const std::string& path, const std::string& data) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr)
    return absl::StrCat("cannot open ", path, " for writing: ", std::strerror(errno));
  struct stat st;
  const bool removable = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
  const bool written = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  const bool closed = std::fclose(f) == 0;
  if (written && closed) return "";
  const std::string message = absl::StrCat("error writing to ", path, ": ", std::strerror(errno));
  if (removable) std::remove(path.c_str());
  return message;
}

}  // namespace

CLI::App* AddMmuCommand(CLI::App* app, MmuCommandOptions* opts) {
  CLI::App* cmd = app->add_subcommand(
      "mmu",
      "Minimum mutator utilization (Go's MMU curve): for each window size from 1us to the "
      "trace's span (1-2-5 steps), the lowest mean share of the threads left running over any "
      "window of that size. A stop-the-world phase takes every thread; a thread-scoped phase "
      "takes its thread's share (1/n of the n threads alive: from ThreadStart, or the trace's "
      "start, to ThreadStop); a concurrent phase (neither flag) costs nothing. The 1ms, 10ms "
      "and 100ms rows are marked; each row gives where its worst window begins.\n"
      "Example: tracetool mmu --window 50ms -o mmu.svg app.trace");
  cmd->add_option_function<std::vector<std::string>>(
         "--window",
         [opts](const std::vector<std::string>& values) {
           for (const std::string& v : values) {
             absl::Duration d;
             if (!absl::ParseDuration(v, &d) || d <= absl::ZeroDuration()) {
               throw CLI::ValidationError("takes a positive duration such as 50ms or 2.5s, not '" +
                                          v + "'");
             }
             opts->windows_ns.push_back(absl::ToInt64Nanoseconds(d));
           }
         },
         "Also compute this window size (repeatable; longer than the trace: dropped)")
      ->type_name("DURATION");
  cmd->add_option("-o,--output", opts->svg, "Also write the curve as an SVG plot to this file");
  cmd->add_option("--format", opts->format, "Output format of the table")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_str("text");
  cmd->add_option("file", opts->file, "Trace file")->required();
  return cmd;
}

int RunMmu(const MmuCommandOptions& opts) {
  auto reader = OpenTrace(opts.file);
  if (!reader.ok()) return ReportError(reader.status());
  analysis::MmuOptions options;
  options.windows_ns = opts.windows_ns;
  absl::StatusOr<analysis::MmuReport> report = analysis::ComputeMmu(reader->get(), options);
  if (!report.ok()) return ReportError(report.status());
  if (!opts.svg.empty()) {
    if (std::string error = WriteFile(opts.svg, analysis::FormatMmuSvg(*report)); !error.empty()) {
      return ReportError(error);
    }
  }
  return WriteStdout(opts.format == "json" ? analysis::FormatMmuJson(*report) + "\n"
                                           : analysis::FormatMmuText(*report));
}

}  // namespace tracer::tracetool
