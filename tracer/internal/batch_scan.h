// The collector's scan of a generation's batches: counts their events, notes the string,
// stack and label-set ids they reference, and collects their task-state changes.

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
  // Each thread's state events, in time order: run r starts at state_runs[r] and belongs to
  // state_run_threads[r].
  std::vector<StateEvent> state_events;
  std::vector<size_t> state_runs;
  std::vector<uint64_t> state_run_threads;
};

// Scans batches; keeps the per-id stamps (and the result's vectors, when reused) between scans
// so that a steady trace allocates nothing per generation.
class BatchScanner {
 public:
  // Scans `batches` (our own writer's: trusted), sorted by thread then seq, and sets each
  // one's count. Clears `out`'s state vectors first; adds to its id sets.
  void Scan(absl::Span<Buffer* const> batches, ScanResult& out);

 private:
  uint32_t cut_stamp_ = 0;
  std::vector<uint32_t> string_stamps_ = std::vector<uint32_t>(1 << 16);
  std::vector<uint32_t> stack_stamps_ = std::vector<uint32_t>(1 << 14);
  std::vector<uint32_t> label_stamps_ = std::vector<uint32_t>(1 << 16);
};

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_BATCH_SCAN_H_
