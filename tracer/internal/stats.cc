// GetStats (runtime.h).

#include "tracer/internal/stats.h"

#include "tracer/internal/buffer_pool.h"
#include "tracer/internal/ids.h"
#include "tracer/internal/runtime.h"
#include "tracer/internal/stacks.h"
#include "tracer/internal/thread_registry.h"

namespace tracer::tracer_internal {

std::atomic<uint64_t> g_events_lost{0};
std::atomic<uint64_t> g_events_lost_nested{0};
std::atomic<uint64_t> g_pool_bytes_leaked{0};
std::atomic<uint64_t> g_generations{0};
std::atomic<uint64_t> g_events_sealed{0};
std::atomic<uint64_t> g_seal_cpu_ns{0};

// Lock-free: a Sink, a metrics thread or a signal handler may call it while a cut or a dump
// is in progress, and it never waits for one.
TracerStats GetStats() {
  TracerStats s;
  s.events_lost = g_events_lost.load(std::memory_order_relaxed);
  s.events_lost_in_signal_handlers = g_events_lost_nested.load(std::memory_order_relaxed);
  s.generations = g_generations.load(std::memory_order_relaxed);
  s.events_sealed = g_events_sealed.load(std::memory_order_relaxed);
  s.seal_cpu_ns = g_seal_cpu_ns.load(std::memory_order_relaxed);
  s.threads_registered = g_threads_registered.load(std::memory_order_relaxed);
  s.strings_dropped = Strings().misses();
  s.stacks_dropped = Stacks().misses();
  s.stacks_expired = Stacks().expired();
  s.stack_table_rotations = Stacks().rotations();
  const PoolFigures pool = PoolStats();
  s.pool_bytes = pool.bytes;
  s.pool_bytes_free = pool.free_bytes;
  s.pool_bytes_leaked = g_pool_bytes_leaked.load(std::memory_order_relaxed);
  s.label_sets_dropped = g_label_sets_dropped.load(std::memory_order_relaxed);
  return s;
}

}  // namespace tracer::tracer_internal
