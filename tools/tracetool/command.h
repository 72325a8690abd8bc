// What every tracetool command shares: exit codes, the one-line error report, opening the
// trace and writing the result.

#ifndef TRACER_TOOLS_TRACETOOL_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_COMMAND_H_

#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "CLI/CLI.hpp"
#include "format/trace_reader.h"

namespace tracer::tracetool {

inline constexpr int kExitOk = 0;
inline constexpr int kExitBadInput = 1;  // unreadable or corrupt trace, failed write
inline constexpr int kExitUsage = 2;     // unknown command or flag, missing argument

// Prints "tracetool: <message>" on stderr and returns kExitBadInput.
inline int ReportError(absl::string_view message) {
  std::fflush(stdout);  // what was printed before the error comes first
  std::fprintf(stderr, "tracetool: %.*s\n", static_cast<int>(message.size()), message.data());
  return kExitBadInput;
}
inline int ReportError(const absl::Status& status) { return ReportError(status.message()); }

// Opens `file` for one streaming pass. Each event is still fully checked as it is decoded;
// skipping the reader's up-front pass over a generation means what precedes damage inside a
// generation is seen too, and the error names where the damage is.
inline absl::StatusOr<std::unique_ptr<format::TraceReader>> OpenTrace(const std::string& file) {
  auto reader = format::TraceReader::Open(file);
  if (reader.ok()) (*reader)->set_validate_events(false);
  return reader;
}

// Writes `out` to stdout; returns kExitOk, or reports the failed write.
inline int WriteStdout(absl::string_view out) {
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    return ReportError("error writing to stdout");
  }
  return kExitOk;
}

// Adds a time option (`--from 1.5s`, `--to 200ms`: an absl duration, relative to the trace's
// first event) that stores nanoseconds in `*ns`.
inline CLI::Option* AddTimeOption(CLI::App* cmd, const std::string& name, int64_t* ns,
                                  const std::string& description) {
  return cmd
      ->add_option_function<std::string>(
          name,
          [ns](const std::string& v) {
            absl::Duration d;
            if (!absl::ParseDuration(v, &d) || d < absl::ZeroDuration()) {
              throw CLI::ValidationError(
                  "takes a duration from the trace's start such as 1.5s, 200ms or 50us, not '" +
                  v + "'");
            }
            *ns = absl::ToInt64Nanoseconds(d);
          },
          description)
      ->type_name("DURATION");
}

}  // namespace tracer::tracetool

#endif  // TRACER_TOOLS_TRACETOOL_COMMAND_H_
