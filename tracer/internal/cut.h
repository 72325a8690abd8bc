// The steps of a cut that touch the recording threads' state (thread_state.h, "Who runs
// alongside whom", steps 3-4): taking each thread's buffer of the ended generation, and
// draining the flush queue. Collector thread only (under the collector's control mutex).

#ifndef TRACER_TRACER_INTERNAL_CUT_H_
#define TRACER_TRACER_INTERNAL_CUT_H_

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "format/generation.h"
#include "tracer/internal/thread_registry.h"
#include "tracer/internal/thread_state.h"

namespace tracer::tracer_internal {

// What a cut collected for the generation it seals.
struct CutBatches {
  std::vector<Buffer*> batches;  // of the ended generation, now the collector's
  std::vector<format::ThreadInfo> threads;  // live and exited since the last cut
  std::vector<format::LossRecord> losses;   // reported now
};

// Spins until `ts` is outside its write section (seq even).
void WaitEven(ThreadState& ts);

// Step 3: for each registered thread, waits for its write section, takes its buffer if it is
// of `old_gen` (compare-exchange of `current`), and notes its name and unreported losses;
// then the threads that exited since the last cut. Takes the registry mutex.
void TakeThreadBuffers(uint32_t old_gen, CutBatches& out) ABSL_LOCKS_EXCLUDED(g_registry_mu);

// Step 4: everything queued so far. Buffers of `old_gen` (queued, or carried from the last
// cut) go to `batches`; those of the new generation are carried in `carry` to the next cut.
void DrainFlushQueue(uint32_t old_gen, std::vector<Buffer*>& batches,
                     std::vector<Buffer*>& carry);

// CPU time of the calling thread.
uint64_t ThreadCpuNs();

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_CUT_H_
