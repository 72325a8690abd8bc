// Runtime-task analysis (Go's goroutine analysis): per task name, how many tasks, how long they
// lived and where that time went, by state, with total/mean/p50/p99 across the group's tasks;
// and, for one task, its timeline of states with each wait's reason, object, waker and the
// waker's stack. What `tracetool tasks` prints.
//
// A runtime task is a pool job or a thread running as itself (tracer/sync/), or a task of the
// program's own scheduler (tracer/hooks.h). Its life runs from its TaskCreate (or, created
// before the trace, its first appearance) to its TaskEnd (or the trace's end: "alive at end").
// Its time, in the precedence of tools/analysis/thread_states.h (a task's own wait wins over
// being runnable, which wins over a syscall, its own phase, and being stopped by another
// thread's stop-the-world phase; running is what is left), so the parts add up to the life:
//   - from TaskStart on a thread until another task starts there or it ends, the task is the
//     thread's: it is charged the thread's states (the kit keeps a blocked task on its thread,
//     so this covers its waits and the runnable time after the wake too);
//   - off a thread: queued after TaskCreate, or unblocked, or yielded: runnable (Go's scheduler
//     latency); blocked and no longer on the thread it blocked on: blocked by its reason.
//
// Reading: one streaming pass. Memory: the live tasks and threads, per name a
// LatencyHistogram per state and the `top` longest-lived tasks, and, with `id`, that task's
// timeline; never the trace's events.

#ifndef TRACER_TOOLS_ANALYSIS_TASKS_H_
#define TRACER_TOOLS_ANALYSIS_TASKS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "format/trace_reader.h"
#include "tools/analysis/histogram.h"
#include "tools/analysis/symbolizer.h"
#include "tools/analysis/thread_states.h"

namespace tracer::analysis {

struct TaskInstance {
  uint64_t id = 0;
  int64_t begin_ns = 0;  // since the trace's first event
  int64_t life_ns = 0;
  TimeBreakdown breakdown;  // adds up to life_ns
  bool alive_at_end = false;
  bool created_before_trace = false;
};

struct TaskGroupReport {
  std::string name;
  uint64_t count = 0;
  uint64_t alive_at_end = 0;          // no TaskEnd in the trace
  uint64_t created_before_trace = 0;  // no TaskCreate in the trace: life counted from first seen
  LatencyHistogram life;
  TimeBreakdown total;  // summed over the group's tasks
  // Per state, one value per task of the group (zeros included): so mean = total / count.
  std::array<LatencyHistogram, kNumTimeStates> per_task;
  std::vector<TaskInstance> longest;  // at most TasksOptions::top, longest life first
};

// One stretch of a task's timeline in one state.
struct TaskSpan {
  int64_t begin_ns = 0;  // since the trace's first event
  int64_t end_ns = 0;
  size_t state = 0;      // index into TimeBreakdown::ns
  uint64_t thread = 0;   // the thread it was on, 0 off any thread
  // A wait (a blocked state): what TaskBlock said, and who ended it (TaskUnblock).
  uint64_t object = 0;
  std::vector<std::string> block_stack;  // the waiter's frames, innermost first
  bool woken = false;
  uint64_t waker = 0;         // task id, 0 if the thread itself or unknown
  std::string waker_name;     // the waker task's name, or its thread's
  uint64_t waker_thread = 0;
  std::vector<std::string> waker_stack;  // innermost first
};

struct TaskTimeline {
  uint64_t id = 0;
  bool found = false;
  std::string name;
  uint64_t parent = 0;
  std::vector<std::string> create_stack;
  std::vector<TaskSpan> spans;  // in time order, adjacent
  bool ended = false;
};

struct TasksOptions {
  std::string name;  // only tasks of this name (empty: all)
  size_t top = 3;    // longest-lived tasks listed per group
  uint64_t id = 0;   // non-zero: also build this task's timeline
  // The timeline's stacks get file and line from DWARF through it; null: the trace's names.
  Symbolizer* symbolizer = nullptr;
};

struct TasksReport {
  std::vector<TaskGroupReport> groups;  // by summed life, largest first
  TaskTimeline timeline;                // when TasksOptions::id was set
  uint64_t events = 0;
  uint64_t lost_events = 0;  // what loss records say was dropped: not seen here
  int64_t duration_ns = 0;   // first to last event
};

// Reads every generation of `reader` once. On a corrupt or truncated trace returns the
// reader's error (offset, generation, batch).
absl::StatusOr<TasksReport> ComputeTasks(format::TraceReader* reader, const TasksOptions& options);

std::string FormatTasksText(const TasksReport& report);
std::string FormatTasksJson(const TasksReport& report);
// The timeline of report.timeline (TasksOptions::id).
std::string FormatTaskTimelineText(const TaskTimeline& timeline);
std::string FormatTaskTimelineJson(const TaskTimeline& timeline);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_TASKS_H_
