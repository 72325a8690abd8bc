// The one streaming pass every analysis makes: each generation of the trace in file order, and
// its events merged across threads in time order. Holds one generation at a time.

#ifndef TRACER_TOOLS_ANALYSIS_EVENT_PASS_H_
#define TRACER_TOOLS_ANALYSIS_EVENT_PASS_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "format/generation.h"
#include "format/merged_generation_reader.h"
#include "format/trace_reader.h"

namespace tracer::analysis {

// Calls on_generation(gen) when a generation is read, then on_event(gen, event) for each of its
// events in time order. Returns the reader's error (offset, generation, batch) on a corrupt or
// truncated trace: what came before it was seen.
template <typename OnGeneration, typename OnEvent>
absl::Status ForEachEvent(format::TraceReader* reader, OnGeneration&& on_generation,
                          OnEvent&& on_event) {
  for (;;) {
    absl::StatusOr<std::shared_ptr<const format::Generation>> next = reader->Next();
    if (!next.ok()) return next.status();
    if (*next == nullptr) return absl::OkStatus();
    const format::Generation& gen = **next;
    on_generation(gen);
    format::MergedGenerationReader events(gen);
    while (const format::Event* e = events.Next()) on_event(gen, *e);
    if (!events.status().ok()) return events.status();
  }
}

// The events a generation's loss records say were dropped.
inline uint64_t LostEvents(const format::Generation& gen) {
  uint64_t n = 0;
  for (const format::LossRecord& l : gen.losses) n += l.count;
  return n;
}

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_EVENT_PASS_H_
