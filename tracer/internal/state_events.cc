// Applying state events to the tracked task states.

#include "tracer/internal/state_events.h"

namespace tracer::tracer_internal {

using format::EventType;

bool IsStateEvent(EventType type) {
  switch (type) {
    case EventType::kTaskCreate: case EventType::kTaskStart: case EventType::kTaskBlock:
    case EventType::kTaskUnblock: case EventType::kTaskYield: case EventType::kTaskEnd:
    case EventType::kSyscallBegin: case EventType::kSyscallEnd: case EventType::kLabels:
    case EventType::kUserTaskBegin: case EventType::kUserTaskEnd:
      return true;
    default:
      return false;
  }
}

void TaskStates::ApplyStateEvent(const StateEvent& e, RunState& run) {
  // The slot of task `id`, from the run's running task when it is that one.
  auto slot_of = [&](uint64_t id) {
    return id == run.task && tasks_.Valid(run.slot, id) ? run.slot : tasks_.FindOrAdd(id);
  };
  switch (e.type()) {
    case EventType::kTaskCreate: {
      // Field by field: `state = {}` then the fields made GCC store the struct in pieces and
      // load it back whole (a store-forwarding stall per task).
      format::TaskState& t = tasks_.at(tasks_.FindOrAdd(e.a0));
      t.parent = e.a1;
      t.name = e.a2;
      t.status = format::TaskStatus::kRunnable;
      t.thread = 0;
      t.labels = e.a3;
      t.seq = 0;
      t.reason = format::BlockReason::kUnknown;
      break;
    }
    case EventType::kTaskStart: {
      const uint32_t slot = slot_of(e.a0);
      format::TaskState& t = tasks_.at(slot);
      t.status = format::TaskStatus::kRunning;
      t.thread = run.thread;
      t.seq = e.a1;
      run.task = e.a0;
      run.slot = slot;
      break;
    }
    case EventType::kTaskBlock:
    case EventType::kTaskYield: {
      format::TaskState& t = tasks_.at(slot_of(e.a0));
      t.status = e.type() == EventType::kTaskBlock ? format::TaskStatus::kBlocked
                                                 : format::TaskStatus::kRunnable;
      t.reason = e.type() == EventType::kTaskBlock ? static_cast<format::BlockReason>(e.a1)
                                                 : format::BlockReason::kUnknown;
      t.thread = 0;
      run.task = 0;
      break;
    }
    case EventType::kTaskUnblock: {
      format::TaskState& t = tasks_.at(tasks_.FindOrAdd(e.a0));
      t.status = format::TaskStatus::kRunnable;
      t.seq = e.a1;
      break;
    }
    case EventType::kTaskEnd:
      tasks_.Erase(e.a0);
      run.task = 0;
      break;
    case EventType::kSyscallBegin:
    case EventType::kSyscallEnd: {
      if (run.task == 0) break;
      if (!tasks_.Valid(run.slot, run.task)) {
        run.slot = tasks_.Find(run.task);
        if (run.slot == TaskTable::kNoSlot) break;
      }
      tasks_.at(run.slot).status = e.type() == EventType::kSyscallBegin
                                       ? format::TaskStatus::kSyscall
                                       : format::TaskStatus::kRunning;
      break;
    }
    case EventType::kLabels:
      if (const uint32_t slot = tasks_.Find(e.a0); slot != TaskTable::kNoSlot) {
        tasks_.at(slot).labels = e.a1;
      }
      break;
    case EventType::kUserTaskBegin:
      user_tasks_[e.a0] = {e.a0, e.a1, e.a2};
      break;
    case EventType::kUserTaskEnd:
      user_tasks_.erase(e.a0);
      break;
    default:
      break;
  }
}

void TaskStates::ApplyRuns(const std::vector<StateEvent>& state_events,
                           std::vector<size_t>& head, const std::vector<uint64_t>& run_threads) {
  // There are few threads, so the smallest head is found by a scan, and the run that has it
  // goes on while it stays ahead of every other head. Run r: [head[r], run_end[r]).
  const size_t num_runs = head.size();
  run_end_.resize(num_runs);
  run_states_.resize(num_runs);
  for (size_t r = 0; r < num_runs; ++r) {
    run_end_[r] = r + 1 < num_runs ? head[r + 1] : state_events.size();
    RunState& rs = run_states_[r];
    rs.thread = run_threads[r];
    auto it = running_on_thread_.find(rs.thread);
    rs.task = it == running_on_thread_.end() ? 0 : it->second;
    rs.slot = TaskTable::kNoSlot;  // looked up when first needed
  }
  for (;;) {
    size_t best = num_runs, second = num_runs;
    for (size_t r = 0; r < num_runs; ++r) {
      if (head[r] == run_end_[r]) continue;
      const uint64_t t = state_events[head[r]].tick();
      if (best == num_runs || t < state_events[head[best]].tick()) {
        second = best;
        best = r;
      } else if (second == num_runs || t < state_events[head[second]].tick()) {
        second = r;
      }
    }
    if (best == num_runs) break;
    size_t i = head[best];
    const size_t stop = run_end_[best];
    if (second == num_runs) {
      for (; i < stop; ++i) ApplyStateEvent(state_events[i], run_states_[best]);
    } else {
      const uint64_t t2 = state_events[head[second]].tick();
      const bool ties_first = best < second;
      do {
        ApplyStateEvent(state_events[i++], run_states_[best]);
      } while (i < stop && (state_events[i].tick() < t2 || (ties_first && state_events[i].tick() == t2)));
    }
    head[best] = i;
  }
  for (const RunState& rs : run_states_) {
    if (rs.task != 0) {
      running_on_thread_[rs.thread] = rs.task;
    } else {
      running_on_thread_.erase(rs.thread);
    }
  }
}

void TaskStates::Clear() {
  tasks_.Clear();
  user_tasks_.clear();
  running_on_thread_.clear();
}

}  // namespace tracer::tracer_internal
