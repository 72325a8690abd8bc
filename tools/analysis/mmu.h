// Minimum mutator utilization (Go's MMU curve): for a window size w, the lowest share of the
// application's threads left running, on average, over any w-long stretch of the trace. What
// `tracetool mmu` prints and plots.
//
// Utilization. At each moment t, with n(t) threads alive (the denominator Go takes as
// GOMAXPROCS):
//   u(t) = 0            while a stop-the-world phase (PhaseBegin with kPhaseStopTheWorld and
//                       not kPhaseThreadScoped) is open: every application thread loses it;
//   u(t) = 1 - k / n    otherwise, with k the alive threads inside a thread-scoped phase
//                       (kPhaseThreadScoped, Go's mark assist): each takes its own thread only,
//                       and a thread in several nested ones counts once.
// A phase with neither flag is concurrent work (Go's concurrent mark): it stops no mutator
// and costs no utilization; it is counted, nothing more. With n = 0 (no thread alive) u is 1.
//
// Threads alive. The trace's threads that record events: a thread counts from its ThreadStart
// until its ThreadStop. A thread whose first event in the trace is anything else existed
// before it and counts from the trace's start. A thread with no ThreadStop counts to the end.
//
// Phase matching. PhaseEnd(name) ends the innermost open phase of that name the same thread
// began; failing that, the innermost open process-wide one of that name (any thread may end
// it). A PhaseEnd that matches nothing (its phase began before the trace; its flags are
// unknown) changes nothing and is counted. Phases still open at the trace's last event end
// there; a thread's thread-scoped phases end at its ThreadStop. Both are counted.
//
// MMU(w) = min over t in [start, end - w] of (1/w) * integral of u over [t, t + w], exact: the
// integral is piecewise linear in t and bends only where t or t + w crosses a change of u, so
// the minimum is at one of those O(changes) places, visited in order with two cursors.
//
// Reading: one streaming pass. Memory: the changes of u, about two per phase (plus one per
// thread start or stop while a thread-scoped phase is open), and what is live (open phases,
// threads); not the events. Computing the curve then costs O(changes) per window size.

#ifndef TRACER_TOOLS_ANALYSIS_MMU_H_
#define TRACER_TOOLS_ANALYSIS_MMU_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "format/trace_reader.h"

namespace tracer::analysis {

// u(t) = util from `ns` until the next change (or the function's end).
struct UtilizationChange {
  int64_t ns = 0;
  double util = 1;
};

struct MmuWindow {
  double mmu = 1;
  int64_t begin_ns = 0;  // where the first window with that mean begins
};

// The minimum mean of u over windows of `window_ns` inside [changes[0].ns, end_ns].
// REQUIRES: changes non-empty, their ns strictly increasing and < end_ns;
// 0 < window_ns <= end_ns - changes[0].ns.
MmuWindow MinMutatorUtilization(absl::Span<const UtilizationChange> changes, int64_t end_ns,
                                int64_t window_ns);

struct MmuOptions {
  // Window sizes (ns) computed besides the 1-2-5 steps from 1 us and the trace's span; those
  // <= 0 or longer than the span are dropped.
  std::vector<int64_t> windows_ns;
};

struct MmuPoint {
  int64_t window_ns = 0;
  double mmu = 1;
  int64_t worst_begin_ns = 0;  // since the trace's first event
  bool marked = false;         // 1 ms, 10 ms or 100 ms: the windows called out
};

struct MmuReport {
  int64_t span_ns = 0;         // the trace's first to last event
  uint64_t threads = 0;        // threads that recorded events
  uint64_t max_alive = 0;      // the most alive at once
  uint64_t stw_phases = 0;     // begun in the trace
  int64_t stw_ns = 0;          // their durations, summed (overlapping ones count twice)
  uint64_t thread_phases = 0;  // thread-scoped
  int64_t thread_phase_ns = 0;
  uint64_t concurrent_phases = 0;  // neither flag: no cost
  uint64_t unended_phases = 0;     // open at the trace's end (or at their thread's stop)
  uint64_t unmatched_phase_ends = 0;
  double mean_utilization = 1;   // over the span
  std::vector<MmuPoint> points;  // by window size, ascending; empty for a span of 0
  uint64_t events = 0;
  uint64_t lost_events = 0;  // what loss records say was dropped: not seen here
};

// Reads every generation of `reader` once. On a corrupt or truncated trace returns the
// reader's error (offset, generation, batch).
absl::StatusOr<MmuReport> ComputeMmu(format::TraceReader* reader, const MmuOptions& options);

// The table: one row per window, the 1/10/100 ms rows marked.
std::string FormatMmuText(const MmuReport& report);
std::string FormatMmuJson(const MmuReport& report);
// A self-contained SVG plot: window on a log x axis, MMU 0..1 on y, gridlines, axis labels, the
// curve as one polyline through every point, the marked points labelled with their values.
std::string FormatMmuSvg(const MmuReport& report);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_MMU_H_
