// Task-state changes as the collector decodes them from batches (StateEvent), and the tracked
// state they advance from one generation to the next (TaskStates). Collector thread only.

#ifndef TRACER_TRACER_INTERNAL_STATE_EVENTS_H_
#define TRACER_TRACER_INTERNAL_STATE_EVENTS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "format/event_table.h"
#include "format/generation.h"
#include "tracer/internal/task_table.h"

namespace tracer::tracer_internal {

// A task-state change, as the collector decodes it from a batch: 32 bytes (a generation of a
// busy pool holds ~0.5 M of them, written by the scan and read back by the merge). The thread
// is the run's. a2 and a3 keep their low 32 bits: the only ones ApplyStateEvent reads are
// string or label-set ids (TaskCreate's name and labels, UserTaskBegin's name: intern slots);
// the wider ones (TaskBlock's and TaskUnblock's object, the waker) are not state.
struct StateEvent {
  uint64_t key;  // (tick - the cut's base tick) << 8 | type: a generation spans far < 2^56 ticks
  uint64_t a0, a1;
  uint32_t a2, a3;
  uint64_t tick() const { return key >> 8; }
  format::EventType type() const { return static_cast<format::EventType>(key & 0xff); }
};
static_assert(sizeof(StateEvent) == 32);

// True for the event types that change tracked task states (see TaskStates::Apply).
bool IsStateEvent(format::EventType type);

// While a cut applies one thread's run of state events: the task running on that thread.
struct RunState {
  uint64_t thread = 0;
  uint64_t task = 0;                    // 0: none
  uint32_t slot = TaskTable::kNoSlot;   // its slot, if known (check with TaskTable::Valid)
};

// The runtime tasks, user tasks and the task running on each thread, at a generation's start.
class TaskStates {
 public:
  // Advances the states over one event (events come in time order) of the thread whose run
  // state is `run`. Start, block, yield, end and syscalls are written by the thread that runs
  // the task, so the run knows its running task's slot; unblocks come from wakers.
  void ApplyStateEvent(const StateEvent& e, RunState& run);

  // Advances the states over a generation's state events: `events` holds one run per thread
  // (in time order), run r from runs[r] to the next run's start, of thread run_threads[r].
  // The runs are merged by (tick, run), the order a stable sort by tick would give. `runs` is
  // used up (each entry ends at its run's end).
  void ApplyRuns(const std::vector<StateEvent>& events, std::vector<size_t>& runs,
                 const std::vector<uint64_t>& run_threads);

  // Forgets everything (tracing turned off).
  void Clear();

  const TaskTable& tasks() const { return tasks_; }
  const absl::flat_hash_map<uint64_t, format::UserTaskInfo>& user_tasks() const {
    return user_tasks_;
  }
  // The task running on `thread` (0: none) after the last ApplyRuns.
  uint64_t RunningOn(uint64_t thread) const {
    auto it = running_on_thread_.find(thread);
    return it == running_on_thread_.end() ? 0 : it->second;
  }

 private:
  TaskTable tasks_;
  absl::flat_hash_map<uint64_t, format::UserTaskInfo> user_tasks_;
  // thread -> the task running on it (read into run_states_ when a cut starts applying
  // events, written back when it is done).
  absl::flat_hash_map<uint64_t, uint64_t> running_on_thread_;
  std::vector<RunState> run_states_;  // per run of the cut being applied
  std::vector<size_t> run_end_;
};

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_STATE_EVENTS_H_
