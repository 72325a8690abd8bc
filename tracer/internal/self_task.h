// The task a blocking primitive (tracer/sync/) blocks and resumes: the one a scheduler runs on
// this thread (hooks::TaskStart set t_state.current_ref), else the thread itself. A thread
// that runs no scheduler's task is a task of its own: an id minted once per thread, created
// and started in the trace the first time it waits or wakes someone (in each tracing session),
// named after the thread, and ended when the thread exits. Block and unblock events then name
// who waited and who woke them on any std::thread, and the task tables list such threads like
// any task.

#ifndef TRACER_TRACER_INTERNAL_SELF_TASK_H_
#define TRACER_TRACER_INTERNAL_SELF_TASK_H_

#include <atomic>
#include <cstdint>

#include "tracer/hooks.h"

namespace tracer::tracer_internal {

// Bumped by every activation of the tracer (Collector::Activate, before tracing turns on): a
// thread's own task is announced again in each session, since a new session's task tables
// start empty.
extern std::atomic<uint32_t> g_session;

// The running task of this thread, announced in this session: the scheduler's task if one
// runs here, else the thread's own task (created and started in the trace now if it was not
// yet in this session). nullptr while tracing is off and no scheduler's task runs here: a wait
// then records nothing. Not async-signal-safe (the first call of a thread interns its name).
TaskRef* RunningTask();

// The running task resumes after a wait that RunningTask's result `ref` recorded as a block
// (TaskStart). The thread's own task is announced afresh if a new session began meanwhile.
// nullptr: nothing to do.
void ResumeTask(TaskRef* ref);

// This thread's own task's id (0: never minted). For tests.
uint64_t ThreadTaskId();

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_SELF_TASK_H_
