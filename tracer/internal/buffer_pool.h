// The buffer pool: one allocation carved into buffers of two size classes, each with a free
// list, and the flush queue on which threads hand filled buffers to the collector. Laid out by
// LayOutPool (collector.h).
//
// Pools are made by the collector and replaced at a cut when the consumers' needs change (a
// capture stops and a small recorder stays: its pool shrinks to the recorder's share). The
// replaced pool *retires*: no thread takes from it once the cut that replaced it has waited
// for every write section (step 3), and it is freed when its last buffer comes back. A pool
// whose buffers never all come back (a thread stuck in a write section at the final cut) is
// leaked rather than freed under that thread.
//
// Memory ordering. g_pool is stored with release by the collector after the pool is carved
// and loaded with acquire by recording threads in their slow path (TakeBuffer), which then see
// its free lists. Stats readers (PoolStats) announce themselves in g_pool_readers (seq_cst,
// Dekker with the collector's seq_cst clear of g_pool) so a pool is never freed under them.

#ifndef TRACER_TRACER_INTERNAL_BUFFER_POOL_H_
#define TRACER_TRACER_INTERNAL_BUFFER_POOL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <concurrentqueue/concurrentqueue.h>

#include "absl/status/statusor.h"
#include "tracer/internal/collector.h"
#include "tracer/internal/thread_state.h"

namespace tracer::tracer_internal {

using BufferQueue = moodycamel::ConcurrentQueue<Buffer*>;

// Filled buffers, thread -> collector; created once (InitOnce), never freed (a forked child
// makes a fresh one).
extern BufferQueue* g_flush;

// One size class: a thread takes a small buffer for its first events of a generation and
// large ones once it fills that, so a thread that records a few events per generation holds
// 4 KiB, not 64 (DESIGN.md principle 4).
struct PoolClass {
  BufferQueue* free = nullptr;  // its free list
  size_t count = 0;
  size_t stride = 0;      // bytes per buffer, header included
  uint32_t capacity = 0;  // event bytes per buffer
};

// A carved pool. Immutable after NewPool but for the free lists' contents and `outstanding`.
struct Pool {
  char* mem = nullptr;
  size_t bytes = 0;  // both classes
  PoolLayout layout;
  PoolClass small, large;
  // Retired pools only (collector only): buffers not yet back (freed at 0), and whether the
  // free list's count has been taken off (SettleRetiredPools, once).
  size_t outstanding = 0;
  bool settled = false;
  bool Contains(const Buffer* b) const {
    const char* p = reinterpret_cast<const char*>(b);
    return p >= mem && p < mem + bytes;
  }
  size_t count() const { return small.count + large.count; }
  // Bytes not on a free list: in threads' hands, queued, or being sealed (approximate).
  size_t BytesInUse() const;
};

// The pool recording threads take from; nullptr while tracing is off.
extern std::atomic<Pool*> g_pool;

// Allocates a pool as `layout` says, fills its free lists and faults the memory in (a thread
// taking a fresh buffer must not page-fault on its hot path). ResourceExhausted without memory.
absl::StatusOr<Pool*> NewPool(const PoolLayout& layout);

// Collector only. Makes `p` the pool threads take from; the one before it (if any) retires.
// REQUIRES: followed, in the same cut and after the wait for every write section (step 3), by
// SettleRetiredPools.
void InstallPool(Pool* p);
// Collector only, after a cut's step 3: no thread takes from a retired pool any more, so what
// its free list holds is final; frees every retired pool whose buffers are all back.
void SettleRetiredPools();

// Collector only: a buffer of the ended generation back to its pool (a retired one counts it
// and is freed with its last). Returns false for a buffer of no known pool (dropped).
bool ReturnBuffer(Buffer* b);

// Recording threads (slow path, inside a write section): a free buffer of the active pool with
// room for `need` event bytes: small class first if `first` (a thread's first buffer of a
// generation), else large, then the other. nullptr if both are empty or tracing is off.
Buffer* TakeBuffer(bool first, uint64_t need);

// Collector only, tracing off: frees the active pool and retired ones whose buffers are all
// back; leaks the rest (returns how many bytes were leaked; they stay mapped, never reused).
size_t ReleasePools();

// The active pool's size and free bytes, for TracerStats; {0, 0} while off. Lock-free; any
// thread (a Sink, a signal handler).
struct PoolFigures {
  size_t bytes = 0, free_bytes = 0;
  size_t large_stride = 0;  // bytes per large buffer, header included
};
PoolFigures PoolStats();

// fork() child: forgets every pool (the child's copies are leaked; untouched copy-on-write
// pages cost nothing) and makes a fresh flush queue.
void ForgetPoolsAfterFork();

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_BUFFER_POOL_H_
