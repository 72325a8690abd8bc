// GetStats (runtime.h).

#include "tracer/internal/stats.h"

#include "tracer/internal/collector_impl.h"
#include "tracer/internal/ids.h"
#include "tracer/internal/runtime.h"
#include "tracer/internal/stacks.h"
#include "tracer/internal/thread_registry.h"

namespace tracer::tracer_internal {

std::atomic<uint64_t> g_events_lost{0};
std::atomic<uint64_t> g_events_lost_nested{0};
std::atomic<uint64_t> g_generations{0};
std::atomic<uint64_t> g_events_sealed{0};
std::atomic<uint64_t> g_seal_cpu_ns{0};

TracerStats GetStats() {
  TracerStats s;
  s.events_lost = g_events_lost.load(std::memory_order_relaxed);
  s.generations = g_generations.load(std::memory_order_relaxed);
  s.events_sealed = g_events_sealed.load(std::memory_order_relaxed);
  s.seal_cpu_ns = g_seal_cpu_ns.load(std::memory_order_relaxed);
  {
    MutexLock l(g_registry_mu);
    s.threads_registered = g_threads_registered;
  }
  s.strings_dropped = Strings().misses();
  s.stacks_dropped = Stacks().misses();
  size_t pool_bytes = 0, pool_free = 0;
  if (TheCollector().PoolStats(pool_bytes, pool_free)) {
    s.pool_bytes = pool_bytes;
    s.pool_bytes_free = pool_free;
  }
  return s;
}

}  // namespace tracer::tracer_internal
