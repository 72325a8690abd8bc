// MergedGenerationReader: the events of one generation, merged across batches in time order.
// How it merges (a loser tree over blocks of decoded events) is internal
// (format/internal/generation_merge.h); this is all a caller sees.

#ifndef TRACER_FORMAT_MERGED_GENERATION_READER_H_
#define TRACER_FORMAT_MERGED_GENERATION_READER_H_

#include "absl/status/status.h"
#include "format/generation.h"
#include "format/internal/generation_merge.h"

namespace tracer::format {

// All events of one generation in tick order (ties: batch order, which is thread, then batch
// seq). An error in any batch ends the stream when the merge reaches the bad event. For speed
// it does not check that the varints inside events are minimal (an overlong one reads as its
// value): TraceReader's event validation did, unless the tool turned it off. The generation
// must outlive the reader. Not thread-safe. Building it costs O(batches log batches), each
// event O(log threads), whatever the number of batches.
class MergedGenerationReader {
 public:
  explicit MergedGenerationReader(const Generation& gen) : merge_(gen) {}
  // The next event in time order, or nullptr at the end or on an error (see status()). The
  // event stays valid until the next call: no copy. Inline: the merge's fast path.
  const Event* Next() { return merge_.Next(); }
  // The same, copied into *e; false at the end or on an error.
  bool Next(Event* e) {
    const Event* next = merge_.Next();
    if (next == nullptr) return false;
    *e = *next;
    return true;
  }
  const absl::Status& status() const { return merge_.status(); }

 private:
  format_internal::GenerationMerge merge_;
};

}  // namespace tracer::format

#endif  // TRACER_FORMAT_MERGED_GENERATION_READER_H_
