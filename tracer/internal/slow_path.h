// The recording slow path (EmitSlow, thread_state.h): registration on a thread's first event,
// taking a new buffer when the generation changed or the current one is full, the hand-over
// of the old one, and losses when the pool is empty.

#ifndef TRACER_TRACER_INTERNAL_SLOW_PATH_H_
#define TRACER_TRACER_INTERNAL_SLOW_PATH_H_

#include <cstdint>

#include "format/event_table.h"
#include "tracer/internal/thread_state.h"

namespace tracer::tracer_internal {

// The batch sequence number of this thread's next buffer in generation `gen` (0, 1, ...).
uint64_t NextBatchSeq(ThreadState& ts, uint32_t gen);

// Hands this thread's current buffer to the flush queue, unless the collector already took
// it: the exchange decides (thread_state.h). REQUIRES: inside a write section.
void HandOverCurrent(ThreadState& ts);

// Counts one event dropped at tick `now` (pool exhausted) in the thread's pending losses.
void RecordLoss(ThreadState& ts, uint64_t now);

// Encodes one event at `p` (exact varints, no scratch bytes past the end); returns its end.
char* WriteEvent(char* p, format::EventType type, uint64_t delta, const uint64_t* args,
                 int nargs, const char* bytes, uint32_t nbytes, bool has_bytes);

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_SLOW_PATH_H_
