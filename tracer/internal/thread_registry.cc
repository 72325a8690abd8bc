// Thread registration and exit.

#include "tracer/internal/thread_registry.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include <concurrentqueue/concurrentqueue.h>

#include "format/event_table.h"
#include "tracer/internal/buffer_pool.h"
#include "tracer/internal/clock.h"
#include "tracer/internal/crash_access.h"
#include "tracer/internal/ids.h"
#include "tracer/internal/membarrier.h"
#include "tracer/internal/slow_path.h"
#include "tracer/internal/stacks.h"

namespace tracer::tracer_internal {
namespace {

pthread_key_t g_exit_key;

}  // namespace

Mutex g_registry_mu;
ThreadState* g_threads = nullptr;
std::vector<ExitedThread>* g_exited = new std::vector<ExitedThread>;
std::atomic<uint64_t> g_threads_registered{0};

void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    InitClock();
    pthread_key_create(&g_exit_key, OnThreadExit);
    (void)RegisterMembarrier();  // Activate checks MembarrierStatus()
    g_flush = new BufferQueue(1024);
    Strings();
    Stacks();
    InitCrashSlots();
  });
}

bool Register(ThreadState& ts) {
  ts.tid = static_cast<uint64_t>(syscall(SYS_gettid));
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof(name));
  ts.name.store(Strings().Intern(name), std::memory_order_relaxed);
  ts.producer_token = new moodycamel::ProducerToken(*g_flush);
  pthread_setspecific(g_exit_key, &ts);
  MutexLock l(g_registry_mu);
  ts.next = g_threads;
  ts.prev = nullptr;
  if (g_threads != nullptr) g_threads->prev = &ts;
  g_threads = &ts;
  ts.registered = true;
  ts.need_thread_start = true;
  g_threads_registered.fetch_add(1, std::memory_order_relaxed);
  CrashRegister(ts);
  return true;
}

bool TakeUnreportedLosses(ThreadState& ts, format::LossRecord& out) {
  // The owner may drop an event (RecordLoss, DropNested) while these are read: read the
  // counts, the ticks, then the counts again, so the ticks belong to the counts reported
  // (a few tries; a thread dropping flat out gets the last try's values, clamped below).
  uint64_t total = 0, nested = 0, first = ~uint64_t{0}, last = 0;
  for (int attempt = 0; attempt < 4; ++attempt) {
    total = ts.lost_total.load(std::memory_order_acquire);
    nested = ts.nested_drops.load(std::memory_order_acquire);
    first = ~uint64_t{0};
    last = 0;
    if (total != ts.lost_reported) {
      first = ts.lost_first_tick.load(std::memory_order_relaxed);
      last = ts.lost_last_tick.load(std::memory_order_relaxed);
    }
    if (nested != ts.nested_reported) {
      first = std::min(first, ts.nested_first_tick.load(std::memory_order_relaxed));
      last = std::max(last, ts.nested_last_tick.load(std::memory_order_relaxed));
    }
    if (ts.lost_total.load(std::memory_order_acquire) == total &&
        ts.nested_drops.load(std::memory_order_acquire) == nested) {
      break;
    }
  }
  const uint64_t n = (total - ts.lost_reported) + (nested - ts.nested_reported);
  if (n == 0) return false;
  if (last < first) std::swap(first, last);
  // A drop counted in the last report but stamped after it was read leaves this run's first
  // tick behind the last record's end: never overlap it.
  first = std::max(first, ts.lost_reported_end);
  last = std::max(last, first);
  out = {ts.tid, n, first, last};
  ts.lost_reported = total;
  ts.nested_reported = nested;
  ts.lost_reported_end = last;
  // Release: pair with RecordLoss's and DropNested's acquire loads (a run begun after this
  // report starts a new span).
  ts.lost_ack.store(total, std::memory_order_release);
  ts.nested_ack.store(nested, std::memory_order_release);
  return true;
}

void OnThreadExit(void* arg) {
  auto& ts = *static_cast<ThreadState*>(arg);
  if (ts.exited) return;  // (never: an exited thread does not register again)
  if (Enabled()) Emit(format::EventType::kThreadStop);
  // From here on an event of this thread (a signal handler, a later key destructor) is
  // dropped and counted (EmitSlow). The signal fence keeps the store before the hand-over
  // for a handler on this thread.
  ts.exited = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  // Flush inside a write section so a concurrent cut waits for us (thread_state.h).
  const uint32_t s = ts.seq.load(std::memory_order_relaxed);
  ts.seq.store(s + 1, kOddOrder);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  HandOverCurrent(ts);
  ts.seq.store(s + 2, std::memory_order_release);  // pairs with WaitEven's acquire load
  delete static_cast<moodycamel::ProducerToken*>(ts.producer_token);  // items stay queued
  ts.producer_token = nullptr;
  {
    MutexLock l(g_registry_mu);
    if (ts.prev != nullptr) ts.prev->next = ts.next; else g_threads = ts.next;
    if (ts.next != nullptr) ts.next->prev = ts.prev;
    ts.next = ts.prev = nullptr;
    ts.registered = false;
    // A drop after this point goes to the late-loss table; one before it is in ts's counters,
    // read just below (same thread: program order and the fence order the two).
    ts.unlinked = true;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    format::LossRecord loss;
    const bool lost = TakeUnreportedLosses(ts, loss);
    g_exited->push_back({ts.tid, ts.name.load(std::memory_order_relaxed), lost ? loss.count : 0,
                         lost ? loss.begin_tick : 0, lost ? loss.end_tick : 0});
  }
  // Crash readers no longer find this thread; one that already did finishes before its TLS
  // goes (crash_access.h).
  CrashUnregister(ts);
}

}  // namespace tracer::tracer_internal
