// Lock-free access to the threads' unsealed buffers for a fatal-signal handler.

#include "tracer/internal/crash_access.h"

#include "tracer/internal/task_table.h"

#include <sched.h>
#include <sys/mman.h>
#include <x86intrin.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace tracer::tracer_internal {
namespace {

std::atomic<ThreadState*>* g_slots = nullptr;  // kCrashThreadSlots, zero pages
std::atomic<int> g_readers{0};
std::atomic<size_t> g_hint{0};  // where the next claim starts looking
std::atomic<uint64_t> g_untracked{0};
std::atomic<const TaskTable*> g_task_table{nullptr};

}  // namespace

void PublishTaskTableForCrash(const TaskTable* table) {
  g_task_table.store(table, std::memory_order_release);
}

size_t ForEachLiveTaskForCrash(void (*fn)(const format::LiveTask&, void*), void* ctx) {
  const TaskTable* table = g_task_table.load(std::memory_order_acquire);
  if (table == nullptr) return 0;
  struct Forward {
    void (*fn)(const format::LiveTask&, void*);
    void* ctx;
  } forward{fn, ctx};
  return table->ForEachForCrash(
      [](const TrackedTask& t, void* c) {
        auto* f = static_cast<Forward*>(c);
        f->fn(t.ToLive(), f->ctx);
      },
      &forward);
}

void InitCrashSlots() {
  void* p = mmap(nullptr, kCrashThreadSlots * sizeof(std::atomic<ThreadState*>),
                 PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {  // at start-up only
    perror("tracer: mmap of the crash thread slots");
    std::abort();
  }
  g_slots = static_cast<std::atomic<ThreadState*>*>(p);  // zero: every slot empty
}

CrashReadScope::CrashReadScope() { g_readers.fetch_add(1, std::memory_order_seq_cst); }
CrashReadScope::~CrashReadScope() { g_readers.fetch_sub(1, std::memory_order_seq_cst); }
bool CrashReadersActive() { return g_readers.load(std::memory_order_seq_cst) != 0; }

void CrashRegister(ThreadState& ts) {
  ts.crash_slot = -1;
  if (g_slots == nullptr) return;
  const size_t start = g_hint.load(std::memory_order_relaxed);
  for (size_t k = 0; k < kCrashThreadSlots; ++k) {
    const size_t i = (start + k) % kCrashThreadSlots;
    ThreadState* expected = nullptr;
    if (g_slots[i].compare_exchange_strong(expected, &ts, std::memory_order_seq_cst)) {
      ts.crash_slot = static_cast<int32_t>(i);
      g_hint.store((i + 1) % kCrashThreadSlots, std::memory_order_relaxed);
      return;
    }
  }
  g_untracked.fetch_add(1, std::memory_order_relaxed);
}

void CrashUnregister(ThreadState& ts) {
  if (ts.crash_slot < 0) return;
  g_slots[ts.crash_slot].store(nullptr, std::memory_order_seq_cst);
  ts.crash_slot = -1;
  // A reader that loaded the slot before the store may still read `ts`: its TLS must outlive
  // that read. A crash reader runs until its process dies, so this may wait for good.
  while (g_readers.load(std::memory_order_seq_cst) != 0) sched_yield();
}

void ResetCrashSlotsAfterFork() {
  g_readers.store(0, std::memory_order_relaxed);
  if (g_slots == nullptr) return;
  for (size_t i = 0; i < kCrashThreadSlots; ++i) {
    if (g_slots[i].load(std::memory_order_relaxed) != nullptr) {
      g_slots[i].store(nullptr, std::memory_order_relaxed);
    }
  }
}

uint64_t CrashUntrackedThreads() { return g_untracked.load(std::memory_order_relaxed); }

size_t ForEachUnsealedBatch(void (*fn)(const UnsealedBatch&, void*), void* ctx) {
  if (g_slots == nullptr) return 0;
  size_t visited = 0;
  for (size_t i = 0; i < kCrashThreadSlots; ++i) {
    ThreadState* ts = g_slots[i].load(std::memory_order_seq_cst);
    if (ts == nullptr) continue;
    ++visited;
    // Pairs with the owner's release store of an even seq: the pos it then published, and the
    // bytes before it, are visible. An odd seq: the event in progress lies past pos.
    const uint32_t seq = ts->seq.load(std::memory_order_acquire);
    Buffer* b = ts->current.load(std::memory_order_acquire);
    const char* pos = ts->pos.load(std::memory_order_acquire);
    if (b == nullptr || pos == nullptr) continue;
    if (pos < b->data || pos > b->data + b->capacity) continue;  // pos of another buffer
    UnsealedBatch u;
    u.thread = b->thread;
    u.name = ts->name.load(std::memory_order_relaxed);
    u.seq = b->seq;
    u.base_tick = b->base_tick;
    u.gen = b->gen;
    u.data = b->data;
    u.len = static_cast<size_t>(pos - b->data);
    u.mid_write = (seq & 1) != 0;
    if (u.len == 0) continue;
    fn(u, ctx);
  }
  return visited;
}

}  // namespace tracer::tracer_internal
