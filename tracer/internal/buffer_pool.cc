// The buffer pool's layout, carving and free lists.

#include "tracer/internal/buffer_pool.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace tracer::tracer_internal {

BufferQueue* g_flush = nullptr;
char* g_pool_mem = nullptr;
PoolClass g_small, g_large;
size_t g_pool_bytes = 0;

size_t PoolBytesInUse() {
  size_t free_bytes = 0;
  for (const PoolClass* c : {&g_small, &g_large}) {
    if (c->free != nullptr) free_bytes += c->free->size_approx() * c->stride;
  }
  return g_pool_bytes - std::min(free_bytes, g_pool_bytes);
}

void ReturnBuffer(Buffer* b) {
  (b->capacity == g_small.capacity && g_small.count != 0 ? g_small : g_large).free->enqueue(b);
}

Buffer* TakeBuffer(bool first, uint64_t need) {
  Buffer* b = nullptr;
  bool got = false;
  for (PoolClass* c : {first ? &g_small : &g_large, first ? &g_large : &g_small}) {
    if (c->count == 0 || c->capacity < need) continue;
    // try_dequeue may miss an item another thread is enqueueing right now: retry briefly.
    for (int attempt = 0; attempt < 3 && !got; ++attempt) got = c->free->try_dequeue(b);
    if (got) break;
  }
  return got ? b : nullptr;
}

absl::Status CarvePool(const PoolLayout& layout) {
  g_small.count = layout.small_count;
  g_small.stride = layout.small_stride;
  g_large.count = layout.large_count;
  g_large.stride = layout.large_stride;
  g_pool_bytes = layout.bytes();
  g_pool_mem = static_cast<char*>(std::aligned_alloc(64, g_pool_bytes));
  if (g_pool_mem == nullptr) return absl::ResourceExhaustedError("tracer: buffer pool");
  char* next = g_pool_mem;
  for (PoolClass* c : {&g_large, &g_small}) {
    c->capacity = static_cast<uint32_t>(c->stride - sizeof(Buffer));
    c->free = new BufferQueue(c->count + 64);
    std::vector<Buffer*> all;
    for (size_t i = 0; i < c->count; ++i, next += c->stride) {
      auto* b = reinterpret_cast<Buffer*>(next);
      b->capacity = c->capacity;
      all.push_back(b);
    }
    c->free->enqueue_bulk(all.data(), all.size());
  }
  // Fault the pool in now (a few ms for the default 32 MiB): a thread that takes a fresh
  // buffer later must not take a page fault in its hot path.
  for (size_t off = 0; off < g_pool_bytes; off += 4096) {
    reinterpret_cast<volatile char*>(g_pool_mem)[off] = 0;
  }
  return absl::OkStatus();
}

void FreePool() {
  for (PoolClass* c : {&g_small, &g_large}) {
    delete c->free;
    *c = {};
  }
  g_pool_bytes = 0;
  std::free(g_pool_mem);
  g_pool_mem = nullptr;
}

PoolLayout LayOutPool(size_t pool_bytes, size_t buffer_bytes) {
  auto stride = [](size_t bytes) { return (sizeof(Buffer) + bytes + 63) & ~size_t{63}; };
  PoolLayout l;
  l.large_stride = stride(buffer_bytes);
  const size_t small_bytes = std::clamp<size_t>(buffer_bytes / 16, 2 << 10, 4 << 10);
  if (buffer_bytes >= 4 * small_bytes) {
    l.small_stride = stride(small_bytes);
    // A quarter of the pool, but never at the cost of the two large buffers.
    const size_t room = pool_bytes - std::min(pool_bytes, 2 * l.large_stride);
    l.small_count = std::min(pool_bytes / 4, room) / l.small_stride;
  }
  l.large_count = std::max<size_t>(
      (pool_bytes - std::min(pool_bytes, l.small_count * l.small_stride)) / l.large_stride, 2);
  return l;
}

// (collector.h) The collector must look at the pool often enough that a filling pool is cut
// before it runs dry, and rarely enough that an idle or lightly traced process is not woken for
// nothing. It cuts once half the pool is in use, so a poll for every eighth of the pool taken
// leaves three eighths for the cut's own latency. With no rate yet (idle, or just after a cut)
// it assumes an eighth of a fast burst (kBurstBytesPerMs): an idle 512 KiB pool is polled every
// 8 ms, the default 32 MiB one every 25 ms; never more often than every millisecond.
absl::Duration PoolPollInterval(size_t pool_count, size_t buffer_stride, double in_use_per_ms) {
  constexpr double kBurstBytesPerMs = 64 << 10;  // 64 MiB/s: several threads logging flat out
  constexpr absl::Duration kMin = absl::Milliseconds(1);
  constexpr absl::Duration kMax = absl::Milliseconds(25);
  if (pool_count == 0 || buffer_stride == 0) return kMax;
  const double eighth = static_cast<double>(pool_count) / 8;
  const double burst_per_ms = kBurstBytesPerMs / static_cast<double>(buffer_stride);
  const double per_ms = std::max(in_use_per_ms, burst_per_ms / 8);
  return std::clamp(absl::Microseconds(eighth / per_ms * 1e3), kMin, kMax);
}

}  // namespace tracer::tracer_internal
