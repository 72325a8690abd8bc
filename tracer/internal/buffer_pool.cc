// The buffer pools' layout, carving, free lists and retirement.

#include "tracer/internal/buffer_pool.h"

#include "tracer/internal/abandoned.h"
#include "tracer/internal/crash_access.h"
#include <x86intrin.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace tracer::tracer_internal {

BufferQueue* g_flush = nullptr;
std::atomic<Pool*> g_pool{nullptr};

namespace {

std::atomic<int> g_pool_readers{0};      // PoolStats callers inside their read
std::vector<Pool*>* g_retired = nullptr;  // collector only

void DeletePool(Pool* p) {
  // A crash reader may be reading one of its buffers: the process is going down; keep it.
  if (CrashReadersActive()) {
    KeepReachable(p);
    return;
  }
  delete p->small.free;
  delete p->large.free;
  std::free(p->mem);
  delete p;
}

// Waits until no PoolStats reader can still hold `p` (it was unpublished before this call).
void WaitForStatsReaders() {
  while (g_pool_readers.load(std::memory_order_seq_cst) != 0) _mm_pause();
}

size_t FreeCount(const Pool& p) {
  size_t n = 0;
  for (const PoolClass* c : {&p.small, &p.large}) {
    if (c->free != nullptr) n += c->free->size_approx();
  }
  return n;
}

}  // namespace

size_t Pool::BytesInUse() const {
  size_t free_bytes = 0;
  for (const PoolClass* c : {&small, &large}) {
    if (c->free != nullptr) free_bytes += c->free->size_approx() * c->stride;
  }
  return bytes - std::min(free_bytes, bytes);
}

absl::StatusOr<Pool*> NewPool(const PoolLayout& layout) {
  auto* p = new Pool;
  p->layout = layout;
  p->small.count = layout.small_count;
  p->small.stride = layout.small_stride;
  p->large.count = layout.large_count;
  p->large.stride = layout.large_stride;
  p->bytes = layout.bytes();
  p->mem = static_cast<char*>(std::aligned_alloc(64, p->bytes));
  if (p->mem == nullptr) {
    delete p;
    return absl::ResourceExhaustedError("tracer: buffer pool");
  }
  char* next = p->mem;
  for (PoolClass* c : {&p->large, &p->small}) {
    c->capacity = c->stride > sizeof(Buffer) ? static_cast<uint32_t>(c->stride - sizeof(Buffer)) : 0;
    c->free = new BufferQueue(c->count + 64);
    std::vector<Buffer*> all;
    all.reserve(c->count);
    for (size_t i = 0; i < c->count; ++i, next += c->stride) {
      auto* b = reinterpret_cast<Buffer*>(next);
      b->capacity = c->capacity;
      all.push_back(b);
    }
    c->free->enqueue_bulk(all.data(), all.size());
  }
  for (size_t off = 0; off < p->bytes; off += 4096) {
    reinterpret_cast<volatile char*>(p->mem)[off] = 0;
  }
  return p;
}

void InstallPool(Pool* p) {
  Pool* old = g_pool.load(std::memory_order_relaxed);
  g_pool.store(p, std::memory_order_seq_cst);  // release for TakeBuffer; seq_cst for PoolStats
  if (old == nullptr) return;
  if (g_retired == nullptr) g_retired = new std::vector<Pool*>;
  old->outstanding = old->count();  // settled by SettleRetiredPools
  g_retired->push_back(old);
}

void SettleRetiredPools() {
  if (g_retired == nullptr || g_retired->empty()) return;
  WaitForStatsReaders();
  std::vector<Pool*> keep;
  for (Pool* p : *g_retired) {
    if (!p->settled) {  // first settle since it retired
      p->settled = true;
      const size_t free_now = FreeCount(*p);  // exact: nothing takes from it any more
      p->outstanding -= std::min(p->outstanding, free_now);
      // Its free lists are not used again: its buffers come back through ReturnBuffer.
    }
    if (p->outstanding == 0) {
      DeletePool(p);
    } else {
      keep.push_back(p);
    }
  }
  *g_retired = std::move(keep);
}

bool ReturnBuffer(Buffer* b) {
  Pool* p = g_pool.load(std::memory_order_relaxed);
  if (p != nullptr && p->Contains(b)) {
    (b->capacity == p->small.capacity && p->small.count != 0 ? p->small : p->large)
        .free->enqueue(b);
    return true;
  }
  if (g_retired != nullptr) {
    for (size_t i = 0; i < g_retired->size(); ++i) {
      Pool* r = (*g_retired)[i];
      if (!r->Contains(b)) continue;
      if (r->outstanding > 0) --r->outstanding;
      if (r->settled && r->outstanding == 0) {
        WaitForStatsReaders();
        DeletePool(r);
        g_retired->erase(g_retired->begin() + static_cast<ptrdiff_t>(i));
      }
      return true;
    }
  }
  return false;
}

Buffer* TakeBuffer(bool first, uint64_t need) {
  // acquire: pairs with InstallPool's store, so the free lists it carved are visible.
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p == nullptr) return nullptr;
  Buffer* b = nullptr;
  bool got = false;
  for (PoolClass* c : {first ? &p->small : &p->large, first ? &p->large : &p->small}) {
    if (c->count == 0 || c->capacity < need) continue;
    // try_dequeue may miss an item another thread is enqueueing right now: retry briefly.
    for (int attempt = 0; attempt < 3 && !got; ++attempt) got = c->free->try_dequeue(b);
    if (got) break;
  }
  return got ? b : nullptr;
}

size_t ReleasePools() {
  Pool* p = g_pool.load(std::memory_order_relaxed);
  g_pool.store(nullptr, std::memory_order_seq_cst);
  WaitForStatsReaders();
  size_t leaked = 0;
  if (p != nullptr) {
    if (FreeCount(*p) == p->count()) {
      DeletePool(p);
    } else {
      leaked += p->bytes;  // a thread still holds one of its buffers: never free under it
      KeepReachable(p);
    }
  }
  if (g_retired != nullptr) {
    SettleRetiredPools();
    for (Pool* r : *g_retired) {
      leaked += r->bytes;
      KeepReachable(r);
    }
    g_retired->clear();  // leaked: their buffers may still be written
  }
  return leaked;
}

PoolFigures PoolStats() {
  PoolFigures f;
  g_pool_readers.fetch_add(1, std::memory_order_seq_cst);
  if (const Pool* p = g_pool.load(std::memory_order_seq_cst); p != nullptr) {
    f.bytes = p->bytes;
    f.free_bytes = p->bytes - p->BytesInUse();
    f.large_stride = p->large.stride;
  }
  g_pool_readers.fetch_sub(1, std::memory_order_seq_cst);
  return f;
}

void ForgetPoolsAfterFork() {
  KeepReachable(g_pool.load(std::memory_order_relaxed));
  g_pool.store(nullptr, std::memory_order_relaxed);
  g_pool_readers.store(0, std::memory_order_relaxed);
  KeepReachable(g_retired);  // the parent's, with the pools it lists
  g_retired = nullptr;
  KeepReachable(g_flush);
  if (g_flush != nullptr) g_flush = new BufferQueue(1024);
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
