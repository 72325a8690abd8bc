#include "tracer/internal/clock.h"

#include <cpuid.h>

#include <algorithm>
#include <mutex>

namespace tracer::tracer_internal {

bool g_use_tsc = false;

namespace {

uint64_t g_ticks_per_second = 1000000000;
std::once_flag g_clock_once;

bool HasInvariantTsc() {
  unsigned a, b, c, d;
  if (__get_cpuid(0x80000000, &a, &b, &c, &d) == 0 || a < 0x80000007) return false;
  __get_cpuid(0x80000007, &a, &b, &c, &d);
  return (d & (1u << 8)) != 0;
}

// TSC cycles per second, measured against CLOCK_MONOTONIC over ~20 ms; the median of several
// short windows resists a preemption in one of them.
uint64_t CalibrateTsc() {
  constexpr int kRounds = 5;
  uint64_t rates[kRounds];
  for (int r = 0; r < kRounds; ++r) {
    uint64_t t0 = MonotonicNs(), c0 = __rdtsc();
    uint64_t t1;
    do {
      t1 = MonotonicNs();
    } while (t1 - t0 < 4000000);
    uint64_t c1 = __rdtsc();
    rates[r] = static_cast<uint64_t>(static_cast<double>(c1 - c0) * 1e9 /
                                     static_cast<double>(t1 - t0));
  }
  std::sort(rates, rates + kRounds);
  return rates[kRounds / 2];
}

}  // namespace

void InitClock() {
  std::call_once(g_clock_once, [] {
    if (HasInvariantTsc()) {
      g_ticks_per_second = CalibrateTsc() >> kTickShift;
      g_use_tsc = g_ticks_per_second > 0;
    }
    if (!g_use_tsc) g_ticks_per_second = 1000000000;
  });
}

uint64_t TicksPerSecond() { return g_ticks_per_second; }

format::ClockSnapshot TakeClockSnapshot() {
  format::ClockSnapshot s;
  s.ticks_per_second = g_ticks_per_second;
  timespec rt;
  // Bracket the tick read with the two clock reads; keep the tightest of a few tries.
  uint64_t best = UINT64_MAX;
  for (int i = 0; i < 3; ++i) {
    uint64_t m0 = MonotonicNs();
    uint64_t tick = ReadTicks();
    clock_gettime(CLOCK_REALTIME, &rt);
    uint64_t m1 = MonotonicNs();
    if (m1 - m0 < best) {
      best = m1 - m0;
      s.tick = tick;
      s.mono_ns = static_cast<int64_t>(m0 + (m1 - m0) / 2);
      s.real_ns = static_cast<int64_t>(rt.tv_sec) * 1000000000 + rt.tv_nsec;
    }
  }
  return s;
}

}  // namespace tracer::tracer_internal
