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
  // Some thread's write section could not be waited for (SkipsSection): its buffer stayed
  // with it, and may still be taken from a retired pool, so retired pools are not settled.
  bool skipped = false;
  std::vector<Buffer*> late;  // taken back from threads after an earlier skip: lost (step 4)
};

// How long a cut waits, in all, for threads inside a write section (a section is a few dozen
// ns unless its thread is preempted there, or stopped in a signal handler that never returns).
// Past it, the cut leaves those threads' buffers with them and counts their events as lost:
// a stop at exit finishes in bounded time whatever the threads are doing.
inline constexpr int64_t kSectionWaitNs = 500'000'000;

// Spins until `ts` is outside its write section (seq even) or the clock passes `deadline_ns`
// (CLOCK_MONOTONIC); false then. The calling thread's own open section (a cut from a signal
// handler that interrupted a write) is never waited for: false at once.
bool WaitEven(ThreadState& ts, int64_t deadline_ns);

// The events of a buffer prefix [data, data + len) of our own writer: how many, and the tick
// of the last one (base_tick if none).
uint64_t CountEvents(const Buffer& b, uint32_t len, uint64_t* last_tick);

// Step 3: for each registered thread, waits for its write section, takes its buffer if it is
// of `old_gen` (compare-exchange of `current`), and notes its name and unreported losses;
// then the threads that exited since the last cut, and the late-loss table. A thread whose
// section cannot be waited for (WaitEven false) keeps its buffer: the events in it are
// counted as lost now (Buffer::counted), and dropped when the buffer comes back. Takes the
// registry mutex, giving up after kSectionWaitNs (a signal handler on the cutting thread that
// interrupted a registration holds it): then only the late losses are collected.
void TakeThreadBuffers(uint32_t old_gen, uint32_t new_gen, CutBatches& out)
    ABSL_LOCKS_EXCLUDED(g_registry_mu);

// Step 4: everything queued so far. Buffers of `old_gen` (queued, or carried from the last
// cut) go to `out.batches`; those of `new_gen` are carried in `carry` to the next cut; older
// ones (handed over after a cut skipped them) are counted as lost in `out.losses` and go back
// to their pool.
void DrainFlushQueue(uint32_t old_gen, uint32_t new_gen, CutBatches& out,
                     std::vector<Buffer*>& carry);

// CPU time of the calling thread.
uint64_t ThreadCpuNs();

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_CUT_H_
