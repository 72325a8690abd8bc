// Task-state changes as the collector decodes them from batches (StateEvent), and the tracked
// state they advance from one generation to the next (TaskStates). Collector thread only.

#ifndef TRACER_TRACER_INTERNAL_STATE_EVENTS_H_
#define TRACER_TRACER_INTERNAL_STATE_EVENTS_H_

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "format/event_table.h"
#include "format/generation.h"
#include "tracer/internal/task_table.h"

namespace tracer::tracer_internal {

// A task-state change, as the collector decodes it from a batch: 40 bytes (the scan holds a
// bounded window of them, BatchScanner::kStateBudget, not a generation's ~0.5 M). The thread
// is the run's. a0-a2 are the event's first three arguments whole; a3 and a4 keep the low 32
// bits of the fourth and fifth, which ApplyStateEvent reads only as string, label-set or
// stack ids (intern slots): TaskCreate's labels and stack, TaskBlock's stack. (TaskUnblock's
// object and stack, its fourth and fifth, are not state.)
struct StateEvent {
  uint64_t key;  // (tick - the cut's base tick) << 8 | type: a generation spans far < 2^56 ticks
  uint64_t a0, a1, a2;
  uint32_t a3, a4;
  uint64_t tick() const { return key >> 8; }
  format::EventType type() const { return static_cast<format::EventType>(key & 0xff); }
};
static_assert(sizeof(StateEvent) == 40);

// True for the event types that change tracked task states (see TaskStates::Apply).
bool IsStateEvent(format::EventType type);

// While a cut applies one thread's run of state events: the task running on that thread.
struct RunState {
  uint64_t thread = 0;
  uint64_t task = 0;                    // 0: none
  uint32_t slot = TaskTable::kNoSlot;   // its slot, if known (check with TaskTable::Valid)
};

// One thread's run of state events (in time order) as the merge reads it: a window [next, end)
// of the records not yet applied. After a refill an empty window means the run has no more.
struct StateRun {
  const StateEvent* next = nullptr;
  const StateEvent* end = nullptr;
  uint64_t thread = 0;
};

// Gives the merge a run's next records when it has used up the window (the batch scanner
// decodes them then, so only a window of each run is ever held).
class StateRunSource {
 public:
  virtual ~StateRunSource() = default;
  // REQUIRES: run.next == run.end. Points the window at the run's next records; leaves it
  // empty when the run has none left.
  virtual void Refill(size_t r, StateRun& run) = 0;
};

// The runtime tasks, user tasks and the task running on each thread, at a generation's start.
class TaskStates {
 public:
  // Advances the states over one event (events come in time order) of the thread whose run
  // state is `run`. Start, block, yield, end and syscalls are written by the thread that runs
  // the task, so the run knows its running task's slot; unblocks come from wakers.
  void ApplyStateEvent(const StateEvent& e, RunState& run) { Apply(e, run, 0, /*force=*/true); }

  // Advances the states over a generation's runs, one per thread. The merge order is by
  // (tick, run), the order a stable sort by tick gives, except where a task's own order says
  // otherwise (ticks of different threads may disagree a little: TSC skew, or a hook that read
  // the clock late): a run whose next event must wait for an event of the same task on
  // another run (see CanApply) lets the others go first, for at most `max_wait_ticks` past that
  // event's tick; after that, or when no other run can go, it goes anyway (damaged or lost
  // events), so the merge always progresses. The order depends only on the runs' heads, never
  // on how much of each run a window holds. `source` refills an empty window (nullptr: each
  // window holds its whole run). Leaves every window empty.
  void ApplyRuns(std::vector<StateRun>& runs, StateRunSource* source, uint64_t max_wait_ticks);

  // The same over runs held whole in `events`: run r from runs[r] to the next run's start, of
  // thread run_threads[r]. (The unbounded form: tests compare the bounded scan with it.)
  void ApplyRuns(const std::vector<StateEvent>& events, const std::vector<size_t>& runs,
                 const std::vector<uint64_t>& run_threads, uint64_t max_wait_ticks);

  // Starts a generation's application of events: ticks of the StateEvents to come are
  // relative to `tick_base`, and a task the generation's events name for the first time is
  // stated (its state before the event goes to stated()). Then lists, as stated, the tasks
  // running on a thread at the generation's start (a thread whose task records no state
  // event in the generation still needs it named). Returns them too, in stated().
  void BeginGeneration(uint64_t tick_base);
  // The tasks the generation's task table states: each as it was at the generation's start,
  // once, in the order they were first named (BeginGeneration's running ones first).
  const std::vector<format::TaskState>& stated() const { return stated_; }

  // Forgets everything (tracing turned off).
  void Clear();

  const TaskTable& tasks() const { return tasks_; }
  TaskTable& tasks() { return tasks_; }  // for moving the stack ids it keeps (cut.cc)
  const absl::flat_hash_map<uint64_t, format::UserTaskInfo>& user_tasks() const {
    return user_tasks_;
  }
  // The task running on `thread` (0: none) after the last ApplyRuns.
  uint64_t RunningOn(uint64_t thread) const {
    auto it = running_on_thread_.find(thread);
    return it == running_on_thread_.end() ? 0 : it->second;
  }

 private:
  // Applies `e` of run `r` (state `run`) and returns true; or, unless `force`, returns false
  // with nothing changed when CanApply says `e` must wait.
  bool Apply(const StateEvent& e, RunState& run, size_t r, bool force);
  // Whether a TaskStart or TaskUnblock `e` of run `r` may go now, `t` being its task's state
  // (the other events never wait). Sequence numbers: each recorded TaskStart and TaskUnblock of
  // a task carries the task's next number (hooks.h), so with t.seq known (nonzero) an event
  // whose seq is past t.seq + 1 waits for the one between. A start of a task still blocked
  // waits for its unblock (unless its seq says it is next), and a start or unblock of a task
  // that another unfinished run is still running waits for that run's block or yield.
  bool CanApply(const StateEvent& e, const TrackedTask& t, size_t r) const;
  // True if run `r`'s thread is not `thread` and a run of `thread` is still running `task`
  // with events left.
  bool RunningElsewhere(uint64_t task, uint64_t thread, size_t r) const;
  // Applies one event when the smallest head, that of run `m`, must wait: the smallest head
  // that may go within max_wait_ticks of it, else m's anyway.
  void ApplyOutOfOrder(size_t m, uint64_t max_wait_ticks);
  // Refills run r's window if it is empty and it has a source.
  void RefillIfEmpty(size_t r);
  // States `t` (see BeginGeneration) if this generation has not yet.
  // A task first seen in this generation (stated 0: met through an unblock or a start before
  // its create) has no known earlier state: it is marked, not listed. The scratch slot (id 0)
  // is never listed.
  void State(TrackedTask& t) {
    if (t.stated == stamp_ || t.id == 0) return;
    if (t.stated != 0) stated_.push_back(t.ToState());
    t.stated = stamp_;
  }

  TaskTable tasks_;
  absl::flat_hash_map<uint64_t, format::UserTaskInfo> user_tasks_;
  // thread -> the task running on it (read into run_states_ when a cut starts applying
  // events, written back when it is done).
  absl::flat_hash_map<uint64_t, uint64_t> running_on_thread_;
  // The cut being applied.
  std::vector<RunState> run_states_;                        // per run
  std::vector<std::pair<uint64_t, size_t>> run_of_thread_;  // (thread, run), sorted
  std::vector<StateRun>* runs_ = nullptr;
  StateRunSource* source_ = nullptr;
  std::vector<StateRun> whole_runs_;  // for the unbounded ApplyRuns
  uint64_t tick_base_ = 0;            // of the generation being applied
  uint32_t stamp_ = 1;                // of the generation being applied (TrackedTask::stated)
  std::vector<format::TaskState> stated_;
};

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_STATE_EVENTS_H_
