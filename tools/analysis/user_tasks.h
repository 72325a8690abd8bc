// User-task latencies (Go's "user-defined tasks" view): per task type (UserTaskBegin's name),
// the count, latency quantiles and a text histogram, where the time went, and the slowest
// instances with their breakdown. What `tracetool usertasks` prints.
//
// Where the time went. A thread works for user task U while its current user task (its last
// SetCurrentUserTask) is U, or, with none, while its innermost open region belongs to U (as in
// request_report.h). Each such stretch of a thread's time is charged to U by the thread's state
// (tools/analysis/thread_states.h): running, runnable, blocked by reason, syscall, phase,
// stopped. A runtime task created while its creator worked for U (a pool job Submitted inside
// the request) is queued for U until it first starts: that time is U's runnable time too (Go's
// scheduler latency). What is left of U's wall time, when no thread worked for it (a value in
// a channel between stages, say), is "between threads". The parts add up to the wall time,
// unless threads worked for U in parallel: then they add up to more, and "between threads" is 0.
//
// Reading: one streaming pass. Memory: what is live (open user tasks and their sums, threads,
// queued tasks) and, per type, a LatencyHistogram, the summed breakdown and the `top` slowest.

#ifndef TRACER_TOOLS_ANALYSIS_USER_TASKS_H_
#define TRACER_TOOLS_ANALYSIS_USER_TASKS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "format/trace_reader.h"
#include "tools/analysis/histogram.h"
#include "tools/analysis/thread_states.h"

namespace tracer::analysis {

struct UserTaskInstance {
  uint64_t id = 0;
  int64_t begin_ns = 0;  // since the trace's first event
  int64_t duration_ns = 0;
  TimeBreakdown breakdown;  // thread time charged to it
  int64_t between_threads_ns = 0;
};

struct UserTaskTypeReport {
  std::string name;
  LatencyHistogram latency;  // complete tasks
  TimeBreakdown breakdown;   // summed over them
  int64_t between_threads_ns = 0;
  std::vector<UserTaskInstance> slowest;  // at most UserTasksOptions::top, slowest first
  uint64_t incomplete = 0;  // begun, never ended in the trace
};

struct UserTasksOptions {
  size_t top = 5;    // slowest instances kept per type
  std::string type;  // only this type (empty: every type)
};

struct UserTasksReport {
  std::vector<UserTaskTypeReport> types;  // by total time, largest first
  uint64_t ended_before_trace = 0;  // UserTaskEnds whose begin precedes the trace: not timed
  uint64_t events = 0;
  uint64_t lost_events = 0;  // what loss records say was dropped: not seen here
};

// Reads every generation of `reader` once. On a corrupt or truncated trace returns the
// reader's error (offset, generation, batch).
absl::StatusOr<UserTasksReport> ComputeUserTasks(format::TraceReader* reader,
                                                 const UserTasksOptions& options);

std::string FormatUserTasksText(const UserTasksReport& report);
std::string FormatUserTasksJson(const UserTasksReport& report);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_USER_TASKS_H_
