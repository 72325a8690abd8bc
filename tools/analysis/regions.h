// Region latencies: per region name, the count, latency quantiles and a text histogram, where
// the regions' time went, and the slowest instances with their own breakdown. What
// `tracetool regions` prints; Go's "user-defined regions" view for our traces.
//
// Where the time went. Every thread is in one state at a time, and a region's time is its
// thread's states between its begin and its end, so a breakdown's parts add up to the region's
// duration exactly. A thread's state, in this precedence (the first that holds wins):
//   blocked <reason>  its running task blocked (TaskBlock on the thread) and was not yet made
//                     runnable: the task's own wait wins over everything below;
//   runnable          the blocked task was unblocked (TaskUnblock, from any thread) and has
//                     not started again: scheduler latency;
//   syscall           inside SyscallBegin..SyscallEnd;
//   phase             the thread runs a runtime phase itself (a thread-scoped phase on it, or
//                     the stop-the-world phase it began);
//   stopped           a stop-the-world phase another thread began is open;
//   running           otherwise (a thread no task event names is running).
// With the kit (tracer/sync/), a task that blocks keeps its thread, so this is the task's state.
//
// Reading: one streaming pass. Memory: what is live (each thread's state and open regions, the
// blocked tasks, the open user tasks' names) and, per region name, a LatencyHistogram, the
// summed breakdown and the `top` slowest instances: independent of the trace's length.

#ifndef TRACER_TOOLS_ANALYSIS_REGIONS_H_
#define TRACER_TOOLS_ANALYSIS_REGIONS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "format/event_table.h"
#include "format/trace_reader.h"
#include "tools/analysis/histogram.h"

namespace tracer::analysis {

// A thread's states (see the header), the blocked ones one per reason.
enum class ThreadTimeState : uint8_t {
  kRunning = 0,
  kRunnable,
  kSyscall,
  kPhase,
  kStopped,
  kBlocked,  // + BlockReason: kBlocked + r for reason r
};
inline constexpr size_t kNumTimeStates =
    static_cast<size_t>(ThreadTimeState::kBlocked) +
    static_cast<size_t>(format::BlockReason::kNumBlockReasons);
// "running", "runnable", "syscall", "phase", "stopped", "blocked mutex", ...
std::string TimeStateName(size_t state);

// Nanoseconds in each state; the parts add up to the span they describe.
struct TimeBreakdown {
  std::array<int64_t, kNumTimeStates> ns{};
  int64_t total() const;
  TimeBreakdown& operator+=(const TimeBreakdown& o);
};

struct RegionInstance {
  int64_t begin_ns = 0;  // since the trace's first event
  int64_t duration_ns = 0;
  uint64_t thread = 0;
  uint64_t user_task = 0;       // the task it was attributed to (0: none)
  std::string user_task_name;   // its name, if its UserTaskBegin or a task table gave it
  TimeBreakdown breakdown;
};

struct RegionStats {
  std::string name;
  LatencyHistogram latency;  // complete instances
  TimeBreakdown breakdown;   // summed over them
  std::vector<RegionInstance> slowest;  // at most RegionsOptions::top, slowest first
  uint64_t incomplete = 0;   // begun, never ended in the trace
};

struct RegionsOptions {
  size_t top = 5;     // slowest instances kept per name
  std::string name;   // only this region name (empty: every name)
};

struct RegionsReport {
  std::vector<RegionStats> regions;  // by total time, largest first
  uint64_t ended_before_begin = 0;   // RegionEnds whose begin precedes the trace
  uint64_t events = 0;               // read
  uint64_t lost_events = 0;          // what loss records say was dropped: not seen here
};

// Reads every generation of `reader` once. On a corrupt or truncated trace returns the
// reader's error (offset, generation, batch).
absl::StatusOr<RegionsReport> ComputeRegions(format::TraceReader* reader,
                                             const RegionsOptions& options);

std::string FormatRegionsText(const RegionsReport& report);
std::string FormatRegionsJson(const RegionsReport& report);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_REGIONS_H_
