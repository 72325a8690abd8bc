#include "tools/tracetool/diff_command.h"

#include "absl/strings/str_cat.h"
#include "tools/analysis/profile_diff.h"
#include "tools/tracetool/command.h"

namespace tracer::tracetool {
namespace {

absl::StatusOr<analysis::ProfileResult> Profile(const std::string& file,
                                                const analysis::ProfileOptions& options) {
  auto reader = OpenTrace(file);
  if (!reader.ok()) return reader.status();
  absl::StatusOr<analysis::ProfileResult> r = analysis::ComputeProfile(reader->get(), options);
  if (!r.ok()) return absl::Status(r.status().code(), absl::StrCat(file, ": ", r.status().message()));
  return r;
}

}  // namespace

CLI::App* AddDiffCommand(CLI::App* app, DiffCommandOptions* opts) {
  CLI::App* cmd = app->add_subcommand(
      "diff",
      "Compare two traces' profiles of one kind (see 'tracetool pprof --help') per call site "
      "(the innermost function outside the tracer): the change in total delay and in count, "
      "absolute and in percent, largest change first. A before/after check of a fix.\n"
      "Example: tracetool diff --kind=mutex before.trace after.trace");
  cmd->add_option("--kind", opts->kind, "Profile kind: " + analysis::ProfileKindList())
      ->check(CLI::IsMember({"sync", "mutex", "net", "syscall", "sched", "region", "cpu"}))
      ->capture_default_str();
  cmd->add_option("--region", opts->region, "Only what begins inside a region of this name");
  cmd->add_option("--top", opts->top, "Call sites listed")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--format", opts->format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_str("text");
  cmd->add_option("before", opts->before, "The trace before the change")->required();
  cmd->add_option("after", opts->after, "The trace after it")->required();
  return cmd;
}

int RunDiff(const DiffCommandOptions& opts) {
  analysis::ProfileOptions options;
  if (!analysis::ParseProfileKind(opts.kind, &options.kind)) {
    return ReportError(absl::StrCat("unknown profile kind ", opts.kind));
  }
  options.region = opts.region;
  absl::StatusOr<analysis::ProfileResult> before = Profile(opts.before, options);
  if (!before.ok()) return ReportError(before.status());
  absl::StatusOr<analysis::ProfileResult> after = Profile(opts.after, options);
  if (!after.ok()) return ReportError(after.status());
  const analysis::ProfileDiff diff = analysis::DiffProfiles(*before, *after, options.kind);
  return WriteStdout(opts.format == "json" ? analysis::FormatProfileDiffJson(diff, opts.top) + "\n"
                                           : analysis::FormatProfileDiffText(diff, opts.top));
}

}  // namespace tracer::tracetool
