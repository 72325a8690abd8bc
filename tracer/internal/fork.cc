// fork(): the child has one thread (the forking one) and no collector. The handlers take no
// lock: a parent thread may hold the collector's locks across I/O (a cut delivering to a slow
// Sink) or across a wait (a stop joining the collector thread), and fork() must never wait for
// either. Instead the child starts from scratch: a fresh collector (keeping the BufferConfig),
// registry and flush queue, locks made anew, pools forgotten (the child's copies are leaked:
// untouched copy-on-write pages cost nothing), its own thread unregistered.

#include <pthread.h>

#include <atomic>
#include <new>
#include <vector>

#include "tracer/internal/abandoned.h"
#include "tracer/internal/buffer_pool.h"
#include "tracer/internal/collector_impl.h"
#include "tracer/internal/crash_access.h"
#include "tracer/internal/runtime.h"
#include "tracer/internal/thread_registry.h"
#include "tracer/internal/thread_state.h"

namespace tracer::tracer_internal {
namespace {

constexpr int kMaxOuterHooks = 4;
ForkHooks g_outer_fork_hooks[kMaxOuterHooks];
std::atomic<int> g_num_outer_hooks{0};

}  // namespace

struct ForkHandlers {
  static void Prepare() {
    for (int i = g_num_outer_hooks.load(std::memory_order_acquire) - 1; i >= 0; --i) {
      if (g_outer_fork_hooks[i].prepare != nullptr) g_outer_fork_hooks[i].prepare();
    }
  }
  static void Parent() {
    for (int i = 0; i < g_num_outer_hooks.load(std::memory_order_acquire); ++i) {
      if (g_outer_fork_hooks[i].parent != nullptr) g_outer_fork_hooks[i].parent();
    }
  }
  // Single-threaded: nothing here races, and the parent's state is read only to be dropped.
  static void Child() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    g_gen.store(0, std::memory_order_relaxed);
    Collector* old = CollectorSlot();
    auto* fresh = new Collector;
    fresh->config_ = old->config_;  // the user's configuration survives; nothing else does
    CollectorSlot() = fresh;         // the old one is abandoned: a parent thread may hold its locks
    KeepReachable(old);
    new (&g_registry_mu) Mutex();
    g_threads = nullptr;
    KeepReachable(g_exited);
    g_exited = new std::vector<ExitedThread>;  // the old one may be mid-update: abandoned
    ForgetPoolsAfterFork();
    ThreadState& ts = t_state;
    ts.current.store(nullptr, std::memory_order_relaxed);
    ts.pos.store(nullptr, std::memory_order_relaxed);
    ts.end = nullptr;
    ts.gen = 0;
    ts.registered = false;
    ts.exited = false;
    ts.unlinked = false;
    KeepReachable(ts.producer_token);
    ts.producer_token = nullptr;  // abandoned: belongs to the parent's queue
    ts.next = ts.prev = nullptr;
    ResetCrashSlotsAfterFork();  // the parent's threads are not the child's
    ts.crash_slot = -1;
    for (int i = 0; i < g_num_outer_hooks.load(std::memory_order_acquire); ++i) {
      if (g_outer_fork_hooks[i].child != nullptr) g_outer_fork_hooks[i].child();
    }
  }
};

namespace {

[[maybe_unused]] const bool kAtforkRegistered = [] {
  pthread_atfork(ForkHandlers::Prepare, ForkHandlers::Parent, ForkHandlers::Child);
  return true;
}();

}  // namespace

void SetOuterForkHooks(const ForkHooks& hooks) {
  const int i = g_num_outer_hooks.load(std::memory_order_relaxed);
  if (i >= kMaxOuterHooks) return;
  g_outer_fork_hooks[i] = hooks;
  g_num_outer_hooks.store(i + 1, std::memory_order_release);
}

}  // namespace tracer::tracer_internal
