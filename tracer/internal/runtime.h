// Internal entry points of the runtime used by the API implementation (tracer.cc, hooks.cc).

#ifndef TRACER_TRACER_INTERNAL_RUNTIME_H_
#define TRACER_TRACER_INTERNAL_RUNTIME_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "tracer/tracer.h"

namespace tracer::tracer_internal {

uint32_t InternString(absl::string_view s);
absl::string_view StringById(uint32_t id);
// Label sets: at most kMaxLabelSets distinct ones per process (labels are for low-cardinality
// keys: see tracer/scopes.h). A set past the cap is not interned: kLabelSetDropped, and the
// caller keeps the labels it had and calls CountLabelSetDropped. The empty set is 0. A key
// given twice keeps its last value.
inline constexpr size_t kMaxLabelSets = 1024;
inline constexpr uint32_t kLabelSetDropped = ~uint32_t{0};
uint32_t InternLabelSet(absl::Span<const std::pair<absl::string_view, absl::string_view>> l);
// Counts a dropped label set (TracerStats::label_sets_dropped) and, while tracing, records the
// count as the counter "tracer.label_sets_dropped".
void CountLabelSetDropped();
// The key=value pairs of a label set id, sorted by key.
std::vector<std::pair<std::string, std::string>> DecodeLabelSet(uint32_t id);
// A fresh task id: from a per-thread block, so no shared atomic per call.
uint64_t NewId();
absl::Status SetBufferConfigLocked(const BufferConfig& config);
BufferConfig GetBufferConfigLocked();
TracerStats GetStats();

// The runtime's one pthread_atfork handler runs these around its own: `prepare` before it
// takes its locks (so outer locks come first, as in every other path), `parent`/`child` after.
struct ForkHooks {
  void (*prepare)() = nullptr;
  void (*parent)() = nullptr;
  void (*child)() = nullptr;
};
// Adds a layer's hooks (at most 4: the capture, the recorder, ...); prepare hooks run in
// reverse order of registration, parent and child hooks in order. None may wait for a lock
// that a thread holds across I/O: fork() must never wait for a Sink.
void SetOuterForkHooks(const ForkHooks& hooks);

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_RUNTIME_H_
