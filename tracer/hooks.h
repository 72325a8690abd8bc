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
#include "tracer/tracer.h"

namespace tracer {

// The tracer's view of one runtime task. Embed one in the runtime's task object.
struct TaskRef {
  uint64_t id = 0;      // assigned by TaskCreate
  uint64_t seq = 0;     // bumped by TaskUnblock/TaskStart; lets readers check cross-thread order
  uint32_t labels = 0;  // label-set id (inherited from the creating task)
};

using format::BlockReason;

namespace hooks {

void TaskCreate(TaskRef& task, const Name& name);
void TaskStart(TaskRef& task);
void TaskBlock(TaskRef& task, BlockReason reason, const void* object = nullptr);
void TaskUnblock(TaskRef& task, const void* object = nullptr);
void TaskYield(TaskRef& task);
void TaskEnd(TaskRef& task);

// A blocking system call on the current task (or the thread itself).
void SyscallBegin(const Name& name);
void SyscallEnd();
class ScopedSyscall {
 public:
  explicit ScopedSyscall(const Name& name) { SyscallBegin(name); }
  ~ScopedSyscall() { SyscallEnd(); }
  ScopedSyscall(const ScopedSyscall&) = delete;
  ScopedSyscall& operator=(const ScopedSyscall&) = delete;
};

// A runtime phase (GC-like): process-wide unless `thread_scoped`; `stop_the_world` says every
// application thread is stopped while it runs. Begin and end on the same thread.
void PhaseBegin(const Name& name, bool stop_the_world, bool thread_scoped = false);
void PhaseEnd(const Name& name);

// Sets the labels (key=value pairs) of `task` (or, with task.id == 0, of this thread). Tasks
// created by a task or thread inherit its labels. At most 64 labels.
void SetLabels(TaskRef& task, std::initializer_list<std::pair<absl::string_view, absl::string_view>> labels);

// A named integer value over time (queue depth, heap bytes).
void Counter(const Name& name, int64_t value);

// Ids for runtime tasks and user tasks come from one process-wide space.
uint64_t NewTaskId();

}  // namespace hooks
}  // namespace tracer

#endif  // TRACER_TRACER_HOOKS_H_
