// The collector's scan of a generation's batches: counts their events, notes the string,
// stack and label-set ids they reference, and applies their task-state changes, holding only a
// bounded window of them.

#ifndef TRACER_TRACER_INTERNAL_BATCH_SCAN_H_
#define TRACER_TRACER_INTERNAL_BATCH_SCAN_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/container/flat_hash_set.h"
#include "absl/types/span.h"
#include "format/event_table.h"
#include "format/internal/varint.h"
#include "tracer/internal/state_events.h"
#include "tracer/internal/thread_state.h"
#include "tracer/internal/zeroed_array.h"

namespace tracer::tracer_internal {

// What the collector's scan of a batch needs per type byte, flattened from the event table so
// the per-event loop makes no call and branches little.
struct ScanInfo {
  uint8_t type = 0;
  uint8_t num_args = 0;
  bool refs = false;   // has a string, stack, label-set or inline-bytes argument
  bool state = false;  // changes the tracked task states (see ApplyStateEvent)
  bool bytes = false;  // the last argument is inline bytes' length
  // Bit i: argument i is a string id, a stack id, a label-set id.
  uint8_t strings = 0, stacks = 0, label_sets = 0;
};

// The table of ScanInfo by type byte (all zero for bytes that name no event type).
const ScanInfo* ScanInfos();

// DecodeVarintPredicted with a third inline length: task ids pass 2^14 after the first 16 Ki
// tasks, so a busy program's task events carry 3-byte ids that would otherwise all take the
// out-of-line long path.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline const char* ScanVarint(const char* p, uint64_t* v) {
  const uint64_t b0 = static_cast<unsigned char>(p[0]);
  if (ABSL_PREDICT_TRUE(b0 < 0x80)) {
    *v = b0;
    return p + 1;
  }
  const uint64_t b1 = static_cast<unsigned char>(p[1]);
  if (ABSL_PREDICT_TRUE(b1 < 0x80)) {
    *v = (b0 & 0x7f) | b1 << 7;
    return p + 2;
  }
  const uint64_t b2 = static_cast<unsigned char>(p[2]);
  if (ABSL_PREDICT_TRUE(b2 < 0x80)) {
    *v = (b0 & 0x7f) | (b1 & 0x7f) << 7 | b2 << 14;
    return p + 3;
  }
  return format_internal::DecodeVarintLong<false>(p, v);
}

// Decodes N varints at p into a[0..N) (see ScanVarint); returns their end.
template <int N>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline const char* ScanArgs(const char* p, uint64_t* a) {
#pragma GCC unroll 6
  for (int i = 0; i < N; ++i) p = ScanVarint(p, &a[i]);
  return p;
}
static_assert(format::kMaxEventArgs == 6, "ScanArgs' switch covers 0..6 arguments");

// An event starting at least this far before the end of its batch can be scanned without
// bounds checks: type, delta and arguments, plus the 8 bytes DecodeVarintFast may load.
constexpr ptrdiff_t kScanMargin = 1 + (1 + format::kMaxEventArgs) * format_internal::kMaxVarintBytes + 8;

// What a scan found, for the cut that encodes the generation.
struct ScanResult {
  uint64_t events = 0;
  absl::flat_hash_set<uint32_t> strings, stacks, labels;  // ids referenced (0 excluded)
};

// Scans batches and applies their task-state changes as it goes; keeps the per-id stamps and
// its windows between scans so that a steady trace allocates nothing per generation.
class BatchScanner {
 public:
  // The budget: the most StateEvent records a scan holds at once, 4096 (128 KiB), shared
  // evenly by the generation's runs (one per thread), and at least one per run: at most
  // max(budget, threads) records whatever the generation's size. (A TaskYield+TaskStart pair
  // is ~8 bytes in a batch and 64 as records, so holding a generation's records whole took up
  // to ~8x its batches' bytes.) Each run's window is refilled, by decoding more of its
  // batches, when the merge has used it up.
  static constexpr size_t kStateBudget = 4096;

  // `max_wait_ticks` bounds how long a task's event waits for one of its own on another
  // thread (TaskStates::ApplyRuns); 0: 1 ms of ReadTicks (TicksPerSecond() / 1000).
  explicit BatchScanner(size_t state_budget = kStateBudget, uint64_t max_wait_ticks = 0)
      : state_budget_(state_budget == 0 ? 1 : state_budget), max_wait_ticks_(max_wait_ticks) {}

  // Scans `batches` (our own writer's: trusted), sorted by thread then seq, once each: sets
  // each one's count, sets out.events, adds the ids they reference to out's sets, and advances
  // `states` over their state events (TaskStates::ApplyRuns). REQUIRES: the caller listed the
  // states at the generation's start first (this changes them).
  void Scan(absl::Span<Buffer* const> batches, ScanResult& out, TaskStates& states);

  // The records the last scan's windows could hold (the budget as allocated).
  size_t state_window_capacity() const { return window_.capacity(); }

 private:
  // Where a run's scan stopped: in batches_[batch] (one of [batch, batch_end)), at p (nullptr:
  // the batch not begun) with the tick of the event before p.
  struct Cursor {
    size_t batch = 0, batch_end = 0;
    const char* p = nullptr;
    uint64_t tick = 0;
  };
  class Source;

  // Decodes run r's events from its cursor until `room` state events are in `out` or the run
  // ends; returns how many it wrote.
  size_t ScanRun(Cursor& c, StateEvent* out, size_t room);
  // Notes id (not 0) in `set` once per scan.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Note(ZeroedArray<uint32_t>& stamps,
                                         absl::flat_hash_set<uint32_t>& set, uint64_t id) {
    if (id == 0) return;
    if (id < stamps.size()) {
      if (stamps[id] == cut_stamp_) return;
      stamps[id] = cut_stamp_;
    }
    set.insert(static_cast<uint32_t>(id));
  }

  const size_t state_budget_;
  const uint64_t max_wait_ticks_;
  uint32_t cut_stamp_ = 0;
  // Zero pages: only the pages of ids in use are ever touched.
  ZeroedArray<uint32_t> string_stamps_{1 << 16};
  ZeroedArray<uint32_t> stack_stamps_{1 << 14};
  ZeroedArray<uint32_t> label_stamps_{1 << 16};
  // The scan in progress.
  absl::Span<Buffer* const> batches_;
  ScanResult* out_ = nullptr;
  uint64_t base_tick_ = 0;  // records' ticks are relative to it (StateEvent::key)
  std::vector<Cursor> cursors_;  // per run
  std::vector<StateRun> runs_;
  std::vector<StateEvent> window_;  // run r's window: [r * share, (r + 1) * share)
};

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_BATCH_SCAN_H_
