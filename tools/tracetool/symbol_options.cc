#include "tools/tracetool/symbol_options.h"

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tracer::tracetool {

void AddSymbolOptions(CLI::App* cmd, SymbolOptions* opts) {
  cmd->add_flag("--no-symbolize", opts->no_symbolize,
                "Only the names the trace carries: do not read file and line from the "
                "binaries' DWARF");
  cmd->add_option("--binary-dir", opts->binary_dirs,
                  "Also look here for the traced binaries (by file name) and for separate debug "
                  "files (DIR/.build-id/xx/yyyy.debug), when they are not at the paths the trace "
                  "records (another machine, a container); repeat for several. /usr/lib/debug is "
                  "always searched; a binary whose build id differs is never used")
      ->type_name("DIR");
}

std::unique_ptr<analysis::Symbolizer> MakeSymbolizer(const SymbolOptions& opts) {
  if (opts.no_symbolize) return nullptr;
  analysis::Symbolizer::Options options;
  options.search_dirs = opts.binary_dirs;
  return std::make_unique<analysis::Symbolizer>(std::move(options));
}

void ReportSymbols(const analysis::Symbolizer* symbolizer) {
  if (symbolizer == nullptr) return;
  const analysis::Symbolizer::Stats stats = symbolizer->stats();
  uint64_t missing = 0;
  std::string why;
  bool elsewhere = false, no_debug_info = false;
  for (const auto& [reason, n] : stats.not_symbolized) {
    missing += n;
    absl::StrAppend(&why, why.empty() ? "" : ", ", reason, " ", n);
    elsewhere |= reason == "binary not found" || reason == "build id differs";
    no_debug_info |= reason == "no DWARF" || reason == "no line info";
  }
  if (missing == 0) return;
  std::string hints;
  if (elsewhere) hints += "; --binary-dir DIR looks for the binaries elsewhere";
  if (no_debug_info) {
    hints += "; binaries built without -g need their debug files (Debian: the -dbgsym package)";
  }
  std::fflush(stdout);
  std::fprintf(stderr, "tracetool: file and line for %llu of %llu distinct PCs; none for %llu: %s%s\n",
               static_cast<unsigned long long>(stats.symbolized),
               static_cast<unsigned long long>(stats.symbolized + missing),
               static_cast<unsigned long long>(missing), why.c_str(), hints.c_str());
}

}  // namespace tracer::tracetool
