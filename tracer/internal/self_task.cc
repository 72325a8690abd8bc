#include "tracer/internal/self_task.h"

#include <pthread.h>

#include "tracer/internal/runtime.h"

namespace tracer::tracer_internal {

std::atomic<uint32_t> g_session{0};

namespace {

struct ThreadTask {
  TaskRef ref;
  uint32_t session = 0;  // the session it was last announced in (0: never)

  // Thread exit (C++ thread_local destructors run before the tracer's pthread key destructor
  // hands the thread's last buffer over, so the end is in the trace).
  ~ThreadTask() {
    if (session == 0 || session != g_session.load(std::memory_order_relaxed)) return;
    LeaveTask(ref.id);
    Emit(format::EventType::kTaskEnd, ref.id);
  }
};
thread_local ThreadTask t_thread_task;

// Creates and starts the thread's own task in the trace. REQUIRES: Enabled().
void Announce(ThreadTask& tt, uint32_t session) {
  if (tt.ref.id == 0) tt.ref.id = NewId();
  uint32_t name = t_state.name.load(std::memory_order_relaxed);
  if (name == 0) {
    char buf[64] = {};
    if (pthread_getname_np(pthread_self(), buf, sizeof buf) != 0) buf[0] = '\0';
    name = InternString(buf[0] != '\0' ? buf : "thread");
  }
  tt.ref.labels = t_state.thread_labels;
  tt.session = session;
  EmitEnabledArgs(format::EventType::kTaskCreate, tt.ref.id, uint64_t{0}, name, tt.ref.labels,
                  StackForSlowEvent());
  hooks::TaskStart(tt.ref);
}

}  // namespace

TaskRef* RunningTask() {
  TaskRef* r = t_state.current_ref;
  ThreadTask& tt = t_thread_task;
  if (r != nullptr && r != &tt.ref) return r;  // a scheduler's task
  // Acquire: pairs with Activate's store of g_gen, so a thread that sees this session's
  // generation sees its g_session too.
  if (g_gen.load(std::memory_order_acquire) == 0) return nullptr;
  const uint32_t session = g_session.load(std::memory_order_relaxed);
  if (tt.session != session) {
    Announce(tt, session);
  } else if (r == nullptr) {
    hooks::TaskStart(tt.ref);  // a scheduler's task ran here and left
  }
  return &tt.ref;
}

void ResumeTask(TaskRef* ref) {
  if (ref == nullptr) return;
  ThreadTask& tt = t_thread_task;
  if (ref == &tt.ref && g_gen.load(std::memory_order_acquire) != 0) {  // see RunningTask
    const uint32_t session = g_session.load(std::memory_order_relaxed);
    if (tt.session != session) {
      Announce(tt, session);
      return;
    }
  }
  hooks::TaskStart(*ref);
}

uint64_t ThreadTaskId() { return t_thread_task.ref.id; }

}  // namespace tracer::tracer_internal
