// The timeline export: a trace as Chrome Trace Event JSON (the JSON Object Format), which
// Perfetto's UI, chrome://tracing and speedscope open. What `tracetool timeline` writes; Go's
// `go tool trace` timeline for our traces.
//
// Layout. One process (pid 1). Thread k of the trace (k = 0, 1, ... in the order first seen)
// has two tracks, each a tid of its own so that its slices nest strictly by construction:
//   tid 2k+2  "<name> T<id>": its state, one slice at a time, never nested (ThreadStateTracker's
//             states, tools/analysis/thread_states.h): "<task name> (task N)" or "task N" while
//             a task runs on it, "running" with none, "runnable", "blocked <reason>",
//             "syscall <name>", "phase <name>" (a thread-scoped phase, or the stop-the-world
//             phase it began), "stopped (<phase>)" (another thread's stop-the-world phase);
//   tid 2k+3  "<name> T<id> regions": its regions as nested slices, and its logs as instants
//             ("i", args category and message).
// tid 1 "phases" holds the process-wide phases as nested slices. A stop-the-world phase shows
// on every thread's state track (as "stopped", "phase" on the thread that began it), not as a
// global-scope instant ("s":"g"): chrome://tracing draws those across the view, but Perfetto
// puts them on one track of their own and speedscope drops instants, while a slice on each
// track reads the same in all three and gives each thread's stopped time its true length.
// Counters are "C" events of the process. User tasks are async slices ("b"/"e", id = the user
// task). A flow arrow ("s" on the waker's state track at its TaskUnblock, "f" with "bp":"e" on
// the woken task's next running slice, one id per wakeup) joins each waker to the task it woke;
// both ends are written when the task starts, so every "s" has its "f". Loss records are
// process-scoped instants "lost N events".
//
// Strict nesting. Each track keeps a stack of open slices. A RegionEnd (or PhaseEnd) that ends
// a slice with others open inside it ends those first, then its own, then begins them again
// with "continued":true, so a track's "B"/"E" always pair innermost-first. "E" carries the
// name of the slice it ends. A slice still open when the output ends is ended there with
// "open_at_end":"trace" (or "window"); one open when the window begins is begun at its start
// with "begun_before_window":true. A RegionEnd whose begin precedes the trace is an instant.
//
// Time: "ts" in microseconds since the trace's first event, with nanosecond precision
// (1234.567); "displayTimeUnit":"ns". Each track's events are in time order.
//
// Reading: one streaming pass; output goes to the sink in chunks as it is produced. Memory:
// what is live (per thread its open slices and state, runnable tasks' pending wakeups, live
// tasks' names, open user tasks), not the trace's length.

#ifndef TRACER_TOOLS_ANALYSIS_TIMELINE_H_
#define TRACER_TOOLS_ANALYSIS_TIMELINE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "format/trace_reader.h"
#include "tools/analysis/symbolizer.h"

namespace tracer::analysis {

inline constexpr int64_t kTimelineNoEnd = -1;

struct TimelineOptions {
  // The window, in ns since the trace's first event: events in [from_ns, to_ns] are written,
  // slices open across its edges are cut there. Reading stops after to_ns.
  int64_t from_ns = 0;
  int64_t to_ns = kTimelineNoEnd;  // kTimelineNoEnd: to the trace's end
  std::string process_name = "traced process";
  size_t chunk_bytes = 64 << 10;  // the sink is called with about this much at a time
  // Stacks in the args get file and line from DWARF through it; null: the trace's names.
  Symbolizer* symbolizer = nullptr;
  // For speedscope, which names each slice by its name and its args together: slices ("B",
  // "E") carry no args and a task's state slice is its name without "(task N)", so each
  // region, state and task name is one function in speedscope's Sandwich and Left Heavy views
  // instead of one per instance. Instants, counters and flows are as always (speedscope
  // ignores them).
  bool speedscope = false;
};

// What was written.
struct TimelineSummary {
  uint64_t events = 0;       // trace events read
  uint64_t json_events = 0;  // entries of traceEvents
  uint64_t slices = 0;       // "B" entries (continued ones included)
  uint64_t flows = 0;        // "s"/"f" pairs
  uint64_t bytes = 0;        // handed to the sink
  uint64_t lost_events = 0;  // what loss records say was dropped: not seen here
  int64_t span_ns = 0;       // the last event read, in ns since the first
};

// Receives the output in order; an error stops the export and is returned by WriteTimeline.
using TimelineSink = std::function<absl::Status(absl::string_view chunk)>;

// Reads `reader` once and writes the timeline JSON to `sink`. On a corrupt or truncated trace
// returns the reader's error (offset, generation, batch), after the sink may have received
// part of the output.
absl::StatusOr<TimelineSummary> WriteTimeline(format::TraceReader* reader,
                                              const TimelineOptions& options,
                                              const TimelineSink& sink);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_TIMELINE_H_
