// The live tasks at the end of a trace (Go's goroutine dump), from the live-task listing a dump
// or a capture ends with (format/FORMAT.md, section 11): each task's state, wait reason and
// object, since when, and the stack where it blocked (or was created). What `tracetool live`
// prints: every task (Go's debug=2), or with `group` one entry per state and stack with its
// count (Go's debug=1).
//
// Reading: one pass; only the last listing is kept (a trace concatenated from several dumps
// has one per dump: the last is the end of the trace).

#ifndef TRACER_TOOLS_ANALYSIS_LIVE_H_
#define TRACER_TOOLS_ANALYSIS_LIVE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "format/trace_reader.h"
#include "tools/analysis/symbolizer.h"

namespace tracer::analysis {

struct LiveTaskEntry {
  uint64_t id = 0;
  uint64_t parent = 0;
  std::string name;
  std::string status;  // "running", "blocked", ... (format::TaskStatusName)
  std::string reason;  // when blocked: "mutex", ...
  uint64_t object = 0;
  uint64_t thread = 0;
  int64_t for_ns = -1;  // in its status when the listing was written; -1: since before the trace
  std::vector<std::pair<std::string, std::string>> labels;
  std::vector<std::string> stack;  // innermost first
  bool stack_is_create = false;    // the creation stack (not blocked), else where it blocked
};

struct LiveGroup {
  uint64_t count = 0;
  std::string status, reason;
  std::vector<std::string> stack;
  std::vector<uint64_t> ids;  // the first few, for `tasks --id`
  int64_t longest_ns = -1;    // the longest in its status
};

struct LiveReport {
  bool has_listing = false;
  int64_t at_ns = 0;  // when it was written, since the trace's first event
  std::vector<LiveTaskEntry> tasks;  // blocked first, then longest in their status
  std::vector<LiveGroup> groups;     // by count, largest first
};

// REQUIRES: the reader has not been read from. Returns the reader's error on a corrupt or
// truncated trace. `symbolizer` (may be null: the trace's names) gives the stacks file and line.
absl::StatusOr<LiveReport> ComputeLive(format::TraceReader* reader,
                                       Symbolizer* symbolizer = nullptr);

std::string FormatLiveText(const LiveReport& report, bool group);
std::string FormatLiveJson(const LiveReport& report, bool group);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_LIVE_H_
