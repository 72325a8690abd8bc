// GetStats (runtime.h).

#include "tracer/internal/stats.h"

#include <mutex>

#include "tracer/internal/buffer_pool.h"
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
    std::lock_guard<std::mutex> l(g_registry_mu);
    s.threads_registered = g_threads_registered;
  }
  s.strings_dropped = Strings().misses();
  s.stacks_dropped = Stacks().misses();
  {
    Collector& col = TheCollector();
    std::lock_guard<std::mutex> l(col.control_mu_);  // the pool lives while consumers do
    if (g_large.free != nullptr && !col.consumers_.empty()) {
      s.pool_bytes = g_pool_bytes;
      s.pool_bytes_free = g_pool_bytes - PoolBytesInUse();
    }
  }
  return s;
}

}  // namespace tracer::tracer_internal
