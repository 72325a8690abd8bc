// fork(): the child has one thread and no collector. Hold the runtime's locks across fork so
// they are in a known state, then reset the child to "never traced" (its copy of the pool is
// leaked: untouched copy-on-write pages cost nothing).

#include <pthread.h>

#include <new>
#include <thread>

#include "tracer/internal/buffer_pool.h"
#include "tracer/internal/collector_impl.h"
#include "tracer/internal/runtime.h"
#include "tracer/internal/thread_registry.h"
#include "tracer/internal/thread_state.h"

namespace tracer::tracer_internal {
namespace {

ForkHooks g_outer_fork_hooks;

}  // namespace

// The handlers hold locks across fork() (taken in prepare, released in parent and child),
// which the analysis cannot follow through pthread_atfork.
struct ForkHandlers {
  static void Prepare() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (g_outer_fork_hooks.prepare != nullptr) g_outer_fork_hooks.prepare();
    Collector& col = TheCollector();
    col.control_mu_.Lock();
    g_registry_mu.Lock();
    // The collector thread takes wake_mu_ briefly around its waits: a fork in that window
    // would leave it locked in the child, where AddConsumer needs it.
    col.wake_mu_.Lock();
  }
  static void Parent() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    Collector& col = TheCollector();
    col.wake_mu_.Unlock();
    g_registry_mu.Unlock();
    col.control_mu_.Unlock();
    if (g_outer_fork_hooks.parent != nullptr) g_outer_fork_hooks.parent();
  }
  static void Child() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    Collector& col = TheCollector();
    g_gen.store(0, std::memory_order_relaxed);
    col.consumers_.clear();
    // The parent's collector thread does not exist here: forget its handle without joining,
    // and start from a condition variable that no (vanished) thread waits on.
    new (&col.thread_) std::thread();
    new (&col.cv_) CondVar();
    col.wake_mu_.Unlock();
    col.carry_.clear();
    col.states_.Clear();
    g_threads = nullptr;
    g_exited->clear();
    ThreadState& ts = t_state;
    ts.current.store(nullptr, std::memory_order_relaxed);
    ts.pos.store(nullptr, std::memory_order_relaxed);
    ts.end = nullptr;
    ts.gen = 0;
    ts.registered = false;
    ts.producer_token = nullptr;  // leaked: belongs to the parent's queue state
    ts.next = ts.prev = nullptr;
    g_small = {};
    g_large = {};
    g_pool_bytes = 0;
    g_pool_mem = nullptr;
    // A parent thread may have been inside the queue at fork time: start from a fresh one.
    if (g_flush != nullptr) g_flush = new BufferQueue(1024);
    g_registry_mu.Unlock();
    col.control_mu_.Unlock();
    if (g_outer_fork_hooks.child != nullptr) g_outer_fork_hooks.child();
  }
};

namespace {

[[maybe_unused]] const bool kAtforkRegistered = [] {
  pthread_atfork(ForkHandlers::Prepare, ForkHandlers::Parent, ForkHandlers::Child);
  return true;
}();

}  // namespace

void SetOuterForkHooks(const ForkHooks& hooks) { g_outer_fork_hooks = hooks; }

}  // namespace tracer::tracer_internal
