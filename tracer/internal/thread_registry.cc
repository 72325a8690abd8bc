// Thread registration and exit.

#include "tracer/internal/thread_registry.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

#include <concurrentqueue/concurrentqueue.h>

#include "format/event_table.h"
#include "tracer/internal/buffer_pool.h"
#include "tracer/internal/clock.h"
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
uint64_t g_threads_registered = 0;

void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    InitClock();
    pthread_key_create(&g_exit_key, OnThreadExit);
    (void)RegisterMembarrier();  // Activate checks MembarrierStatus()
    g_flush = new BufferQueue(1024);
    Strings();
    Stacks();
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
  ++g_threads_registered;
  return true;
}

void OnThreadExit(void* arg) {
  auto& ts = *static_cast<ThreadState*>(arg);
  if (Enabled()) Emit(format::EventType::kThreadStop);
  // Flush inside a write section so a concurrent cut waits for us (thread_state.h).
  const uint32_t s = ts.seq.load(std::memory_order_relaxed);
  ts.seq.store(s + 1, kOddOrder);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  HandOverCurrent(ts);
  ts.seq.store(s + 2, std::memory_order_release);  // pairs with WaitEven's acquire load
  delete static_cast<moodycamel::ProducerToken*>(ts.producer_token);  // items stay queued
  ts.producer_token = nullptr;
  MutexLock l(g_registry_mu);
  if (ts.prev != nullptr) ts.prev->next = ts.next; else g_threads = ts.next;
  if (ts.next != nullptr) ts.next->prev = ts.prev;
  ts.next = ts.prev = nullptr;
  ts.registered = false;
  const uint64_t total = ts.lost_total.load(std::memory_order_relaxed);
  g_exited->push_back({ts.tid, ts.name.load(std::memory_order_relaxed), total - ts.lost_reported,
                       ts.lost_first_tick.load(std::memory_order_relaxed),
                       ts.lost_last_tick.load(std::memory_order_relaxed)});
}

}  // namespace tracer::tracer_internal
