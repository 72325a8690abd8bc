// Applying state events to the tracked task states.

#include "tracer/internal/state_events.h"

#include <algorithm>

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

bool TaskStates::RunningElsewhere(uint64_t task, uint64_t thread, size_t r) const {
  if (thread == run_states_[r].thread) return false;
  auto it = std::lower_bound(run_of_thread_.begin(), run_of_thread_.end(),
                             std::pair<uint64_t, size_t>{thread, 0});
  if (it == run_of_thread_.end() || it->first != thread) return false;  // no run: no events
  const StateRun& y = (*runs_)[it->second];
  return run_states_[it->second].task == task && y.next != y.end;
}

bool TaskStates::CanApply(const StateEvent& e, const TrackedTask& t, size_t r) const {
  const bool seq_known = t.seq != 0;
  if (seq_known && e.a1 > t.seq + 1) return false;  // a start or unblock between is pending
  const bool running = t.status == format::TaskStatus::kRunning ||
                       t.status == format::TaskStatus::kSyscall;
  if (running && RunningElsewhere(t.id, t.thread, r)) return false;  // its block or yield is
  if (e.type() == EventType::kTaskStart && t.status == format::TaskStatus::kBlocked &&
      !(seq_known && e.a1 == t.seq + 1)) {
    return false;  // its unblock is pending
  }
  return true;
}

bool TaskStates::Apply(const StateEvent& e, RunState& run, size_t r, bool force) {
  // The slot of task `id`, from the run's running task when it is that one.
  auto slot_of = [&](uint64_t id) {
    return id == run.task && tasks_.Valid(run.slot, id) ? run.slot : tasks_.FindOrAdd(id);
  };
  const uint64_t tick = tick_base_ + e.tick();
  switch (e.type()) {
    case EventType::kTaskCreate: {
      // Field by field: `state = {}` then the fields made GCC store the struct in pieces and
      // load it back whole (a store-forwarding stall per task).
      TrackedTask& t = tasks_.at(tasks_.FindOrAdd(e.a0));
      t.parent = e.a1;
      t.name = e.a2;
      t.status = format::TaskStatus::kRunnable;
      t.thread = 0;
      t.labels = e.a3;
      t.seq = 0;
      t.reason = format::BlockReason::kUnknown;
      t.object = 0;
      t.since_tick = tick;
      t.create_stack = e.a4;
      t.block_stack = 0;
      t.stated = stamp_;  // created here: no state at the generation's start to list
      break;
    }
    case EventType::kTaskStart: {
      const uint32_t slot = slot_of(e.a0);
      TrackedTask& t = tasks_.at(slot);
      if (!force && !CanApply(e, t, r)) return false;
      State(t);
      t.status = format::TaskStatus::kRunning;
      t.thread = run.thread;
      t.seq = e.a1;
      t.since_tick = tick;
      run.task = e.a0;
      run.slot = slot;
      break;
    }
    case EventType::kTaskBlock:
    case EventType::kTaskYield: {
      TrackedTask& t = tasks_.at(slot_of(e.a0));
      State(t);
      const bool block = e.type() == EventType::kTaskBlock;
      t.status = block ? format::TaskStatus::kBlocked : format::TaskStatus::kRunnable;
      t.reason = block ? static_cast<format::BlockReason>(e.a1) : format::BlockReason::kUnknown;
      t.object = block ? e.a2 : 0;
      t.block_stack = block ? e.a3 : 0;
      t.thread = 0;
      t.since_tick = tick;
      run.task = 0;
      break;
    }
    case EventType::kTaskUnblock: {
      TrackedTask& t = tasks_.at(tasks_.FindOrAdd(e.a0));
      if (!force && !CanApply(e, t, r)) return false;
      State(t);
      t.status = format::TaskStatus::kRunnable;
      t.seq = e.a1;
      t.object = 0;
      t.since_tick = tick;
      break;
    }
    case EventType::kTaskEnd:
      if (const uint32_t slot = tasks_.Find(e.a0); slot != TaskTable::kNoSlot) {
        State(tasks_.at(slot));
        tasks_.Erase(e.a0);
      }
      run.task = 0;
      break;
    case EventType::kSyscallBegin:
    case EventType::kSyscallEnd: {
      if (run.task == 0) break;
      if (!tasks_.Valid(run.slot, run.task)) {
        run.slot = tasks_.Find(run.task);
        if (run.slot == TaskTable::kNoSlot) break;
      }
      TrackedTask& t = tasks_.at(run.slot);
      State(t);
      t.status = e.type() == EventType::kSyscallBegin ? format::TaskStatus::kSyscall
                                                     : format::TaskStatus::kRunning;
      t.since_tick = tick;
      break;
    }
    case EventType::kLabels:
      if (const uint32_t slot = tasks_.Find(e.a0); slot != TaskTable::kNoSlot) {
        TrackedTask& t = tasks_.at(slot);
        State(t);
        t.labels = e.a1;
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
  return true;
}

void TaskStates::BeginGeneration(uint64_t tick_base) {
  tick_base_ = tick_base;
  if (++stamp_ == 0) stamp_ = 1;  // 0 marks a task not yet stated in any generation
  stated_.clear();
  for (const auto& [thread, task] : running_on_thread_) {
    if (const uint32_t slot = tasks_.Find(task); slot != TaskTable::kNoSlot) {
      State(tasks_.at(slot));
    }
  }
}

void TaskStates::RefillIfEmpty(size_t r) {
  StateRun& run = (*runs_)[r];
  if (run.next == run.end && source_ != nullptr) source_->Refill(r, run);
}

void TaskStates::ApplyOutOfOrder(size_t m, uint64_t max_wait_ticks) {
  std::vector<StateRun>& runs = *runs_;
  const uint64_t tm = runs[m].next->tick();
  const uint64_t limit = tm + std::min(max_wait_ticks, ~uint64_t{0} - tm);
  size_t pick = m;
  uint64_t pick_tick = 0;
  for (size_t r = 0; r < runs.size(); ++r) {
    if (r == m || runs[r].next == runs[r].end) continue;
    const StateEvent& e = *runs[r].next;
    const uint64_t t = e.tick();
    if (t > limit || (pick != m && t >= pick_tick)) continue;  // (tick, run): ties keep the first
    if (e.type() == EventType::kTaskStart || e.type() == EventType::kTaskUnblock) {
      const uint32_t slot = tasks_.Find(e.a0);
      if (slot != TaskTable::kNoSlot && !CanApply(e, tasks_.at(slot), r)) continue;
    }
    pick = r;
    pick_tick = t;
  }
  Apply(*runs[pick].next, run_states_[pick], pick, /*force=*/true);
  ++runs[pick].next;
  RefillIfEmpty(pick);
}

void TaskStates::ApplyRuns(std::vector<StateRun>& runs, StateRunSource* source,
                           uint64_t max_wait_ticks) {
  // There are few threads, so the smallest head is found by a scan, and the run that has it
  // goes on while it stays ahead of every other head. Invariant: a run's window is empty only
  // when the run has no events left.
  const size_t num_runs = runs.size();
  runs_ = &runs;
  source_ = source;
  run_states_.resize(num_runs);
  run_of_thread_.resize(num_runs);
  for (size_t r = 0; r < num_runs; ++r) {
    RunState& rs = run_states_[r];
    rs.thread = runs[r].thread;
    auto it = running_on_thread_.find(rs.thread);
    rs.task = it == running_on_thread_.end() ? 0 : it->second;
    rs.slot = TaskTable::kNoSlot;  // looked up when first needed
    run_of_thread_[r] = {rs.thread, r};
    RefillIfEmpty(r);
  }
  std::sort(run_of_thread_.begin(), run_of_thread_.end());
  for (;;) {
    size_t best = num_runs, second = num_runs;
    for (size_t r = 0; r < num_runs; ++r) {
      if (runs[r].next == runs[r].end) continue;
      const uint64_t t = runs[r].next->tick();
      if (best == num_runs || t < runs[best].next->tick()) {
        second = best;
        best = r;
      } else if (second == num_runs || t < runs[second].next->tick()) {
        second = r;
      }
    }
    if (best == num_runs) break;
    StateRun& run = runs[best];
    RunState& rs = run_states_[best];
    // Goes on while the head stays before t2 (ties: the lower run first).
    const uint64_t t2 = second == num_runs ? ~uint64_t{0} : runs[second].next->tick();
    const bool ties_first = second == num_runs || best < second;
    bool waits = false;
    for (;;) {
      if (!Apply(*run.next, rs, best, /*force=*/false)) {
        waits = true;
        break;
      }
      if (++run.next == run.end) {
        RefillIfEmpty(best);
        if (run.next == run.end) break;
      }
      const uint64_t t = run.next->tick();
      if (!(t < t2 || (ties_first && t == t2))) break;
    }
    if (waits) ApplyOutOfOrder(best, max_wait_ticks);
  }
  for (const RunState& rs : run_states_) {
    if (rs.task != 0) {
      running_on_thread_[rs.thread] = rs.task;
    } else {
      running_on_thread_.erase(rs.thread);
    }
  }
  runs_ = nullptr;
  source_ = nullptr;
}

void TaskStates::ApplyRuns(const std::vector<StateEvent>& events, const std::vector<size_t>& runs,
                           const std::vector<uint64_t>& run_threads, uint64_t max_wait_ticks) {
  whole_runs_.resize(runs.size());
  for (size_t r = 0; r < runs.size(); ++r) {
    const size_t end = r + 1 < runs.size() ? runs[r + 1] : events.size();
    whole_runs_[r] = {events.data() + runs[r], events.data() + end, run_threads[r]};
  }
  ApplyRuns(whole_runs_, nullptr, max_wait_ticks);
}

void TaskStates::Clear() {
  tasks_.Clear();
  user_tasks_.clear();
  running_on_thread_.clear();
  stated_.clear();
}

}  // namespace tracer::tracer_internal
