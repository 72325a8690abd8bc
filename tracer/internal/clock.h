// Event timestamps ("ticks"): the TSC divided by 64 (as Go does) when the CPU has an invariant
// TSC, else CLOCK_MONOTONIC in ns. Chosen once, at first use; the frequency is calibrated
// against CLOCK_MONOTONIC so a reader converts ticks to ns with the per-generation snapshot.

#ifndef TRACER_TRACER_INTERNAL_CLOCK_H_
#define TRACER_TRACER_INTERNAL_CLOCK_H_

#include <time.h>
#include <x86intrin.h>

#include <cstdint>

#include "format/generation.h"

namespace tracer::tracer_internal {

inline constexpr int kTickShift = 6;  // one tick = 64 TSC cycles

// Immutable after InitClock(); read on the hot path without synchronization (InitClock runs
// before any consumer can enable tracing, and enabling publishes it with a release store).
extern bool g_use_tsc;

inline uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // vDSO: no syscall
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + ts.tv_nsec;
}

inline uint64_t ReadTicks() {
  if (__builtin_expect(g_use_tsc, 1)) return __rdtsc() >> kTickShift;
  return MonotonicNs();
}

// Detects the invariant TSC and calibrates it (about 20 ms, once per process). Thread-safe.
void InitClock();
// Ticks per second of ReadTicks(). REQUIRES: InitClock() ran.
uint64_t TicksPerSecond();
// A simultaneous (as near as possible) reading of ticks, CLOCK_MONOTONIC and CLOCK_REALTIME.
format::ClockSnapshot TakeClockSnapshot();

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_CLOCK_H_
