// Hooks for runtimes that schedule work: thread pools, fiber and coroutine schedulers, and our
// own instrumented Mutex/CondVar/Channel. See tracer/HOOKS.md for a worked example.
//
// A runtime keeps one TaskRef per task it schedules and calls, from the thread where each
// transition happens:
//   TaskCreate   when the task is made (on the creating thread; it inherits its labels),
//   TaskStart    when a thread starts or resumes running it,
//   TaskBlock    when it stops to wait (reason + the object waited on, e.g. the mutex),
//   TaskUnblock  when something makes it runnable again (on the waker's thread: the current
//                task there is recorded as the waker),
//   TaskYield    when it goes back to the run queue voluntarily,
//   TaskEnd      when it finishes.
// The runtime must serialize a task's transitions (it does: they happen under its own lock or
// on one thread at a time). Between TaskStart and Block/Yield/End the task is this thread's
// current task: syscalls, CPU samples, labels and user annotations attach to it.
// All hooks are no-ops while nothing consumes the trace.

#ifndef TRACER_TRACER_HOOKS_H_
#define TRACER_TRACER_HOOKS_H_

#include <cstdint>
#include <initializer_list>
#include <utility>

#include "absl/strings/string_view.h"
#include "format/event_table.h"
#include "tracer/scopes.h"
#include "tracer/tracer.h"

namespace tracer {

// The tracer's view of one runtime task. Embed one in the runtime's task object.
struct TaskRef {
  uint64_t id = 0;      // assigned by TaskCreate
  uint64_t seq = 0;     // bumped by each recorded TaskUnblock/TaskStart: orders them across threads
  uint32_t labels = 0;  // label-set id (inherited from the creating task)
};

using format::BlockReason;

namespace tracer_internal {
// The thread stops running task `id` (blocks, yields or ends it): it runs as itself again.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void LeaveTask(uint64_t id) {
  if (t_state.current_task == id) {
    t_state.current_task = 0;
    t_state.current_ref = nullptr;
  }
}
}  // namespace tracer_internal

namespace hooks {

// Every hook below is forced inline (TRACER_HOOK; GCC would otherwise keep the larger ones out
// of line, turning the disabled check into a call): with nothing consuming the trace it costs one relaxed load and
// a branch (plus, in TaskStart/Block/Yield/End, the plain thread-local stores that keep the
// thread's current task right, so a capture that starts mid-task attributes it correctly).
// TaskRef::seq only moves while tracing: a trace needs its recorded starts and unblocks in
// increasing order, not a count of the transitions nobody recorded, and a disabled hook then
// never writes to the runtime's task object.

void TaskCreate(TaskRef& task, const Name& name);  // out of line: assigns an id

TRACER_HOOK void TaskStart(TaskRef& task) {
  tracer_internal::t_state.current_task = task.id;
  tracer_internal::t_state.current_ref = &task;
  tracer_internal::t_state.labels = task.labels;
  if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
  // The new seq goes to the event from a register: reading it back with task.id would be one
  // 16-byte load over the 8 bytes just stored, which store forwarding cannot serve (a stall
  // of ~15 cycles, measured as a third of a block/unblock pair).
  const uint64_t id = task.id;
  const uint64_t seq = task.seq + 1;
  task.seq = seq;
  tracer_internal::EmitEnabledArgs(format::EventType::kTaskStart, id, seq);
}

TRACER_HOOK void TaskBlock(TaskRef& task, BlockReason reason, const void* object = nullptr) {
  tracer_internal::LeaveTask(task.id);
  if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
  tracer_internal::EmitEnabledArgs(format::EventType::kTaskBlock, task.id,
                                   static_cast<uint64_t>(reason),
                                   reinterpret_cast<uintptr_t>(object),
                                   tracer_internal::StackForSlowEvent());
}

// Records the current task of this thread as the waker.
TRACER_HOOK void TaskUnblock(TaskRef& task, const void* object = nullptr) {
  if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
  const uint64_t id = task.id;  // see TaskStart
  const uint64_t seq = task.seq + 1;
  task.seq = seq;
  tracer_internal::EmitEnabledArgs(format::EventType::kTaskUnblock, id, seq,
                                   tracer_internal::t_state.current_task,
                                   reinterpret_cast<uintptr_t>(object),
                                   tracer_internal::StackForSlowEvent());
}

TRACER_HOOK void TaskYield(TaskRef& task) {
  tracer_internal::LeaveTask(task.id);
  tracer_internal::Emit(format::EventType::kTaskYield, task.id);
}

TRACER_HOOK void TaskEnd(TaskRef& task) {
  tracer_internal::LeaveTask(task.id);
  tracer_internal::Emit(format::EventType::kTaskEnd, task.id);
}

// A blocking system call on the current task (or the thread itself).
TRACER_HOOK void SyscallBegin(const Name& name) {
  if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
  tracer_internal::EmitEnabledArgs(format::EventType::kSyscallBegin, name.id(),
                                   tracer_internal::StackForSlowEvent());
}
TRACER_HOOK void SyscallEnd() { tracer_internal::Emit(format::EventType::kSyscallEnd); }

// The scoped form (one implementation, in tracer/scopes.h).
using ::tracer::ScopedSyscall;

// A runtime phase (GC-like): process-wide unless `thread_scoped`; `stop_the_world` says every
// application thread is stopped while it runs. Begin and end on the same thread.
TRACER_HOOK void PhaseBegin(const Name& name, bool stop_the_world, bool thread_scoped = false) {
  tracer_internal::Emit(format::EventType::kPhaseBegin, name.id(),
                        (stop_the_world ? format::kPhaseStopTheWorld : 0) |
                            (thread_scoped ? format::kPhaseThreadScoped : 0));
}
TRACER_HOOK void PhaseEnd(const Name& name) {
  tracer_internal::Emit(format::EventType::kPhaseEnd, name.id());
}

// Sets the labels (key=value pairs) of `task` (or, with task.id == 0, of this thread). Tasks
// created by a task or thread inherit its labels. At most 64 labels.
void SetLabels(TaskRef& task,
               std::initializer_list<std::pair<absl::string_view, absl::string_view>> labels);

// A named integer value over time (queue depth, heap bytes).
TRACER_HOOK void Counter(const Name& name, int64_t value) {
  tracer_internal::Emit(format::EventType::kCounter, name.id(), format_internal::ZigZag(value));
}

// Ids for runtime tasks and user tasks come from one process-wide space.
uint64_t NewTaskId();

}  // namespace hooks
}  // namespace tracer

#endif  // TRACER_TRACER_HOOKS_H_
