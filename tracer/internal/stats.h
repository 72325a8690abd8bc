// The runtime's counters behind TracerStats (GetStats, runtime.h). All relaxed: read for
// reporting only.

#ifndef TRACER_TRACER_INTERNAL_STATS_H_
#define TRACER_TRACER_INTERNAL_STATS_H_

#include <atomic>
#include <cstdint>

namespace tracer::tracer_internal {

extern std::atomic<uint64_t> g_events_lost;    // dropped (pool exhausted, encoding failed, ...)
// Of those, dropped because a signal handler emitted inside a write section of its thread.
extern std::atomic<uint64_t> g_events_lost_nested;
// Bytes of buffer pools never freed because a thread still held one of their buffers.
extern std::atomic<uint64_t> g_pool_bytes_leaked;
extern std::atomic<uint64_t> g_generations;    // sealed
extern std::atomic<uint64_t> g_events_sealed;  // in sealed generations
extern std::atomic<uint64_t> g_seal_cpu_ns;    // collector CPU time spent in cuts
extern std::atomic<uint64_t> g_label_sets_dropped;  // past kMaxLabelSets (ids.cc)

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_STATS_H_
