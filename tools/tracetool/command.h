// What every tracetool command shares: exit codes and the one-line error report.

#ifndef TRACER_TOOLS_TRACETOOL_COMMAND_H_
#define TRACER_TOOLS_TRACETOOL_COMMAND_H_

#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

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

}  // namespace tracer::tracetool

#endif  // TRACER_TOOLS_TRACETOOL_COMMAND_H_
