#include "tools/tracetool/split_command.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "tools/analysis/histogram.h"
#include "tools/analysis/split.h"
#include "tools/tracetool/command.h"

namespace tracer::tracetool {
namespace {

// "100MB", "64KiB", "1GB", "4096": bytes (KB/MB/GB powers of 1000, KiB/MiB/GiB of 1024).
bool ParseSize(std::string v, uint64_t* out) {
  v = absl::AsciiStrToLower(v);
  struct Unit {
    const char* suffix;
    uint64_t factor;
  };
  const Unit units[] = {{"kib", 1ull << 10}, {"mib", 1ull << 20}, {"gib", 1ull << 30},
                        {"kb", 1000},        {"mb", 1000000},   {"gb", 1000000000},
                        {"b", 1}};
  uint64_t factor = 1;
  for (const Unit& u : units) {
    const std::string s = u.suffix;
    if (v.size() > s.size() && v.compare(v.size() - s.size(), s.size(), s) == 0) {
      v.resize(v.size() - s.size());
      factor = u.factor;
      break;
    }
  }
  uint64_t n;
  if (!absl::SimpleAtoi(v, &n) || n == 0 || n > UINT64_MAX / factor) return false;
  *out = n * factor;
  return true;
}

}  // namespace

CLI::App* AddSplitCommand(CLI::App* app, SplitCommandOptions* opts) {
  CLI::App* cmd = app->add_subcommand(
      "split",
      "Cut a trace into smaller valid traces at generation boundaries, each readable alone "
      "(a capture too big for a viewer, opened piece by piece): a new piece every DURATION "
      "of trace, every N generations, or before SIZE bytes. Pieces are DIR/NAME.000.trace, "
      ".001, ...; the live-task listing that ends a dump stays in the last piece.\n"
      "Example: tracetool split --every 10s -o pieces/ big.trace");
  auto* every = AddTimeOption(cmd, "--every", &opts->every_ns, "A new piece every DURATION");
  auto* gens = cmd->add_option("--generations", opts->generations, "N generations per piece")
                   ->check(CLI::PositiveNumber);
  auto* bytes = cmd->add_option_function<std::string>(
                       "--bytes",
                       [opts](const std::string& v) {
                         if (!ParseSize(v, &opts->bytes)) {
                           throw CLI::ValidationError(
                               "takes a size such as 100MB, 64KiB or 4096, not '" + v + "'");
                         }
                       },
                       "At most SIZE bytes per piece (a larger generation is a piece alone)")
                   ->type_name("SIZE");
  every->excludes(gens)->excludes(bytes);
  gens->excludes(bytes);
  cmd->add_option("-o,--output", opts->out_dir, "Directory for the pieces")->required();
  cmd->add_option("file", opts->file, "Trace file")->required();
  return cmd;
}

int RunSplit(const SplitCommandOptions& opts) {
  analysis::SplitOptions options;
  options.every_ns = opts.every_ns;
  options.generations = opts.generations;
  options.bytes = opts.bytes;
  if ((options.every_ns > 0) + (options.generations > 0) + (options.bytes > 0) != 1) {
    std::fprintf(stderr,
                 "tracetool: split takes one of --every, --generations or --bytes (see "
                 "'tracetool split --help')\n");
    return kExitUsage;
  }
  absl::StatusOr<analysis::SplitResult> r = analysis::SplitTrace(opts.file, options, opts.out_dir);
  if (!r.ok()) return ReportError(r.status());
  std::string out;
  for (const analysis::SplitPiece& p : r->pieces) {
    absl::StrAppendFormat(&out, "%s  %d generations, %.1f KiB, %s of trace\n", p.path,
                          p.generations, p.bytes / 1024.0,
                          analysis::DurationText(p.end_ns - p.begin_ns));
  }
  if (int rc = WriteStdout(out); rc != kExitOk) return rc;
  if (!r->error.ok()) {
    return ReportError(absl::StrCat(r->error.message(), " (the pieces above hold every whole "
                                    "generation before it)"));
  }
  return kExitOk;
}

}  // namespace tracer::tracetool
