// The running flight recorder's retained generations, for a fatal-signal handler: no lock, no
// allocation. The crash dump (a later layer) writes these, then the threads' unsealed events
// as crash batches (tracer/internal/crash_access.h).
//
// Pinning is for good: from then on the collector never overwrites the ring (each generation it
// seals is dropped instead, counted in RecorderStats::generations_dropped_for_crash), so the
// bytes handed out stay whole while they are written. The collector's side (Ring::OnGeneration)
// stores first_ (evicting) and then loads the pin before it copies a generation in; the pinner
// stores the pin and then loads first_: both seq_cst, so either the pinner sees the eviction or
// the collector sees the pin. A generation evicted by age after the pinner read first_ stays in
// place (only a copy-in overwrites bytes).

#ifndef TRACER_RECORDER_CRASH_RING_H_
#define TRACER_RECORDER_CRASH_RING_H_

#include <cstddef>
#include <cstdint>

namespace tracer::recorder_internal {

struct RetainedSpan {
  const char* data = nullptr;
  size_t len = 0;
};

// Pins the running recorder's ring and fills `out` (up to `max_spans`) with the bytes of its
// retained generations, oldest first: one span per generation, two when it wraps around the
// ring's end. Sets *generations to the generations covered. Returns the spans filled; 0 if no
// recorder runs. Generations that do not fit `out` are left out, oldest first kept.
// REQUIRES: a tracer_internal::CrashReadScope open on this thread (the ring is then never
// unmapped). Async-signal-safe.
size_t PinRetainedForCrash(RetainedSpan* out, size_t max_spans, uint64_t* generations);

// Tests only: lets the running recorder's collector overwrite its ring again.
void UnpinForTesting();

}  // namespace tracer::recorder_internal

#endif  // TRACER_RECORDER_CRASH_RING_H_
