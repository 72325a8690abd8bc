// The buffer pool: one allocation carved into buffers of two size classes, each with a free
// list, and the flush queue on which threads hand filled buffers to the collector. Laid out
// by LayOutPool (collector.h). Everything here is set up by Activate before tracing is on
// (g_gen non-zero) and torn down by Deactivate after it is off; while tracing is on it is
// immutable except for the queues' contents.

#ifndef TRACER_TRACER_INTERNAL_BUFFER_POOL_H_
#define TRACER_TRACER_INTERNAL_BUFFER_POOL_H_

#include <cstddef>
#include <cstdint>

#include <concurrentqueue/concurrentqueue.h>

#include "absl/status/status.h"
#include "tracer/internal/collector.h"
#include "tracer/internal/thread_state.h"

namespace tracer::tracer_internal {

using BufferQueue = moodycamel::ConcurrentQueue<Buffer*>;

// Filled buffers, thread -> collector; created once (InitOnce), never freed (a forked child
// makes a fresh one).
extern BufferQueue* g_flush;
extern char* g_pool_mem;

// The pool's two size classes, carved from g_pool_mem. A thread takes a small buffer for its
// first events of a generation and large ones once it fills that: a thread that records a few
// events per generation holds 4 KiB, not 64, so a process with thousands of live threads still
// fits in the pool (DESIGN.md principle 4).
struct PoolClass {
  BufferQueue* free = nullptr;  // its free list
  size_t count = 0;
  size_t stride = 0;  // bytes per buffer, header included
  uint32_t capacity = 0;  // event bytes per buffer
};
extern PoolClass g_small, g_large;
extern size_t g_pool_bytes;  // both classes

// Bytes of the pool not on a free list: in threads' hands, queued for the collector, or being
// sealed (approximate: the free lists' sizes are).
size_t PoolBytesInUse();

// Back to its class's free list (the classes differ in capacity).
void ReturnBuffer(Buffer* b);

// A free buffer with room for `need` event bytes: from the small class first if `first` (a
// thread's first buffer of a generation), else from the large one, then the other. nullptr if
// both are empty.
Buffer* TakeBuffer(bool first, uint64_t need);

// Allocates the pool as `layout` says, fills the free lists and faults the memory in.
// REQUIRES: tracing off and no pool. Fails (ResourceExhausted) if the memory cannot be had.
absl::Status CarvePool(const PoolLayout& layout);
// Frees the pool. REQUIRES: tracing off and every buffer back on its free list.
void FreePool();

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_BUFFER_POOL_H_
