// The thread registry: every thread that has recorded an event, from its first event (Register)
// until it exits (OnThreadExit), and the threads that exited since the last cut.

#ifndef TRACER_TRACER_INTERNAL_THREAD_REGISTRY_H_
#define TRACER_TRACER_INTERNAL_THREAD_REGISTRY_H_

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "format/generation.h"
#include "tracer/internal/mutex.h"
#include "tracer/internal/thread_state.h"

namespace tracer::tracer_internal {

// Guards the thread registry (the list of ThreadStates) and the exited-thread list. Taken by
// threads at registration and exit, and by the collector during a cut. Never on a hot path.
// Also guards each ThreadState's next, prev and lost_reported (thread_state.h).
extern Mutex g_registry_mu;
extern ThreadState* g_threads ABSL_GUARDED_BY(g_registry_mu);  // intrusive list

// A thread that exited since the last cut: the cut lists it and reports its last losses
// (pool drops and drops inside signal handlers, merged).
struct ExitedThread {
  uint64_t tid;
  uint32_t name;
  uint64_t lost;  // losses not yet reported
  uint64_t lost_first, lost_last;
};
extern std::vector<ExitedThread>* g_exited ABSL_PT_GUARDED_BY(g_registry_mu);
// Threads ever registered (relaxed: stats; written under g_registry_mu).
extern std::atomic<uint64_t> g_threads_registered;

// The losses of `ts` not yet reported (pool drops and nested drops merged), marked reported.
// REQUIRES: g_registry_mu held; `ts` outside a write section, or the calling thread's own.
// False if there are none.
bool TakeUnreportedLosses(ThreadState& ts, format::LossRecord& out)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_registry_mu);

// The runtime's one-time set-up (clock, thread-exit key, membarrier, flush queue, tables).
// Called by the first event of any thread and by Activate.
void InitOnce();

// Adds the calling thread's `ts` to the registry. REQUIRES: InitOnce done; `ts` is t_state.
bool Register(ThreadState& ts) ABSL_LOCKS_EXCLUDED(g_registry_mu);

// The thread-exit destructor of a registered thread: records ThreadStop, marks the thread
// exited (later events are dropped and counted, never registered again: thread_state.h),
// hands its buffer over and moves it to the exited list.
void OnThreadExit(void* arg) ABSL_LOCKS_EXCLUDED(g_registry_mu);

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_THREAD_REGISTRY_H_
