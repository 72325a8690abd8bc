// Losses that no registered thread can carry: events recorded by a thread after its exit
// destructor unlinked it (a signal handler, a pthread key destructor that runs after ours).
// They are counted here under the thread's id and reported by the next cut as loss records.
//
// Written from any thread, signal handlers included: lock-free and allocation-free (a fixed
// table of slots claimed by compare-exchange). More distinct threads at once than the table
// has slots are counted under thread 0 ("a thread that had exited").

#ifndef TRACER_TRACER_INTERNAL_LATE_LOSSES_H_
#define TRACER_TRACER_INTERNAL_LATE_LOSSES_H_

#include <cstdint>
#include <vector>

#include "format/generation.h"

namespace tracer::tracer_internal {

// Adds `count` events of thread `tid` lost between the two ticks.
void RecordLateLoss(uint64_t tid, uint64_t count, uint64_t first_tick, uint64_t last_tick);

// Appends what was recorded since the last call, one record per thread, and resets it.
// Collector only (one caller at a time).
void DrainLateLosses(std::vector<format::LossRecord>& out);

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_LATE_LOSSES_H_
