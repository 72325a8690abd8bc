// Request report: latency per user-task type, the timeline of one request (its regions, the
// waits done on its behalf and who ended them, its syscalls, the stop-the-world phases it
// overlapped), and the blocking sites that cost the most time across the whole trace.
//
// Reading: at most two streaming passes. The first computes everything but the timeline and
// finds the slowest complete user task; a second runs only when that slowest one is to be
// explained (with RequestReportOptions::user_task_id set, one pass does it all). Memory: one
// generation at a time, what is live at a moment (open user tasks, each thread's open regions
// and syscall, blocked runtime tasks, open phases), and the results: 8 bytes per complete user
// task (percentiles are exact, from a sort), one entry per distinct blocking site, and the one
// request's timeline. Never the events themselves.
//
// Attribution: work is done on behalf of user task U on thread T while T's current user task
// (its last SetCurrentUserTask; cleared when T ends that task, as the runtime does) is U, or,
// when T has none, while T's innermost open region belongs to U (a RegionBegin's `task`, or
// T's current user task when that is 0). A thread pool worker so works for U between its
// SetCurrentUserTask(U) and SetCurrentUserTask(0), whichever thread began U.
//
// A wait is a runtime task's TaskBlock, the TaskUnblock that makes it runnable (its `waker` and
// `stack` are the waker's) and its next TaskStart; its duration runs from the block to that
// start. A wait whose TaskStart the trace does not hold is not counted in the sites. Merged
// events of one tick go in thread order, so a TaskStart ordered before its TaskUnblock (same
// tick on two threads) makes a wait with no waker.

#ifndef TRACER_TOOLS_ANALYSIS_REQUEST_REPORT_H_
#define TRACER_TOOLS_ANALYSIS_REQUEST_REPORT_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "format/event_table.h"

namespace tracer::analysis {

struct RequestReportOptions {
  size_t top_n = 10;          // entries kept in blocking_sites and in mutex_sites
  uint64_t user_task_id = 0;  // the user task to explain; 0: the slowest complete one
  // Frames of a site's stack that make its key, counted from the innermost after the tracer's
  // own frames are dropped (see BlockingSite); 0: every frame.
  size_t site_depth = 4;
};

// Latency of the user tasks of one type (UserTaskBegin's `name`), begin to end. Percentiles are
// nearest-rank over the exact sorted durations: pN is the ceil(N/100 * count)-th smallest.
struct UserTaskTypeStats {
  std::string name;
  uint64_t count = 0;       // complete: both UserTaskBegin and UserTaskEnd are in the trace
  uint64_t incomplete = 0;  // begun but not ended, or ended with no begin (named by a table)
  int64_t p50_ns = 0;       // of the complete ones; 0 when count is 0
  int64_t p99_ns = 0;
  int64_t max_ns = 0;
  int64_t total_ns = 0;
};

// A span of the timeline: a region, a syscall or a stop-the-world phase. Times are
// CLOCK_MONOTONIC ns, each converted with its own generation's clock.
struct TimelineSpan {
  std::string name;
  uint64_t thread = 0;  // where it ran; 0 for a process-wide phase
  int64_t begin_ns = 0;
  int64_t end_ns = 0;  // the trace's last event when !ended
  bool ended = false;  // its end is in the trace
  int64_t duration_ns() const { return end_ns - begin_ns; }
};

// One wait done on the request's behalf. Stacks are function names, innermost first, as the
// generation's stack table gives them ("0x<pc>" for a frame with no name), tracer frames kept.
struct TimelineWait {
  uint64_t task = 0;    // the runtime task that blocked
  uint64_t thread = 0;  // where it blocked
  format::BlockReason reason = format::BlockReason::kUnknown;
  uint64_t object = 0;  // what it waited on (e.g. the mutex's address), 0 if none
  int64_t block_ns = 0;
  bool unblocked = false;  // a TaskUnblock followed
  int64_t unblock_ns = 0;
  bool resumed = false;  // a TaskStart followed
  int64_t resume_ns = 0;
  int64_t duration_ns = 0;  // block to resume; 0 when !resumed
  uint64_t waker = 0;       // TaskUnblock's `waker` (0: the thread itself, unknown, or none)
  std::vector<std::string> waker_stack;   // TaskUnblock's stack
  std::vector<std::string> waiter_stack;  // TaskBlock's stack
};

// The explained user task. Each vector is in begin order.
struct RequestTimeline {
  uint64_t user_task = 0;
  std::string name;
  bool slowest = false;  // chosen as the slowest complete user task, not by id
  uint64_t thread = 0;   // where UserTaskBegin was recorded
  int64_t begin_ns = 0;
  int64_t end_ns = 0;  // the trace's last event when !ended
  bool ended = false;
  std::vector<TimelineSpan> regions;     // the regions that belong to it
  std::vector<TimelineWait> waits;       // blocks on threads working for it
  std::vector<TimelineSpan> syscalls;    // begun on threads working for it
  std::vector<TimelineSpan> stw_phases;  // stop-the-world phases overlapping its life
  int64_t duration_ns() const { return end_ns - begin_ns; }
};

// Waits grouped by (reason, the blocking stack's key): the TaskBlock stack's function names,
// innermost first, after the innermost frames whose function starts with "tracer::" (the
// tracer's own wrappers) are dropped (all kept if every frame is one), cut to
// RequestReportOptions::site_depth. Stack ids are per generation: sites are keyed by names.
struct BlockingSite {
  format::BlockReason reason = format::BlockReason::kUnknown;
  std::vector<std::string> frames;  // empty: the wait had no stack
  uint64_t count = 0;
  int64_t total_ns = 0;
  int64_t max_ns = 0;
};

// Mutex and rwmutex waits grouped by the waker's (the unlocker's) stack, keyed as BlockingSite
// keys the waiter's: Go's mutex profile, which blames the holder that made others wait.
struct ContentionSite {
  std::vector<std::string> frames;  // empty: no TaskUnblock stack
  uint64_t count = 0;
  int64_t total_ns = 0;
};

struct RequestReport {
  std::vector<UserTaskTypeStats> user_task_types;  // by name
  uint64_t complete_user_tasks = 0;
  // Every incomplete user task: those of user_task_types, and those ended with no begin
  // whose name no user-task table gave.
  uint64_t incomplete_user_tasks = 0;
  // The explained user task: the one asked for, else the slowest complete one (ties: the
  // first to end); none if no user task is complete.
  std::optional<RequestTimeline> timeline;
  uint64_t waits = 0;            // waits resumed in the trace, every task's
  int64_t blocked_ns = 0;        // their total duration
  uint64_t unresumed_waits = 0;  // blocks with no TaskStart after them in the trace
  // The top RequestReportOptions::top_n by total_ns (ties: count, then reason, then frames).
  std::vector<BlockingSite> blocking_sites;
  // The same for the waits on behalf of a user task only (the waiting thread worked for one
  // when it blocked, see Attribution): what requests waited on, without the idle waits of
  // consumers and background loops between their work.
  uint64_t request_waits = 0;
  int64_t request_blocked_ns = 0;
  std::vector<BlockingSite> request_blocking_sites;
  std::vector<ContentionSite> mutex_sites;
};

// Reads the trace at `path` (or in `data`, copied once per pass) and builds the report. On a
// corrupt or truncated trace returns the reader's error (naming the offset, generation and
// batch); NotFound if options.user_task_id is set and no UserTaskBegin of it is in the trace.
absl::StatusOr<RequestReport> BuildRequestReport(const std::string& path,
                                                 const RequestReportOptions& options);
absl::StatusOr<RequestReport> BuildRequestReportFromBytes(absl::string_view data,
                                                          const RequestReportOptions& options);

// A blocking or contention site's frames (see BlockingSite): the innermost frames whose
// function starts with "tracer::" dropped (all kept if all are), at most `depth` kept (0: all).
std::vector<std::string> SiteFrames(std::vector<std::string> frames, size_t depth);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_REQUEST_REPORT_H_
