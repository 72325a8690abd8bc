// EventStream: a whole trace as one time-ordered stream of events.

#ifndef TRACER_FORMAT_EVENT_STREAM_H_
#define TRACER_FORMAT_EVENT_STREAM_H_

#include <memory>

#include "absl/status/status.h"
#include "format/generation.h"
#include "format/merged_generation_reader.h"
#include "format/trace_reader.h"

namespace tracer::format {

// The whole trace as one time-ordered stream: generations in file order, events merged within
// each. Holds one generation at a time.
class EventStream {
 public:
  explicit EventStream(TraceReader* reader) : reader_(reader) {}
  // The next event, or nullptr at the end or on an error (see status()); valid until the next
  // call.
  const Event* Next();
  // The same, copied into *e; false at the end or on an error.
  bool Next(Event* e) {
    const Event* next = Next();
    if (next == nullptr) return false;
    *e = *next;
    return true;
  }
  // The generation of the event last returned.
  const Generation& generation() const { return *gen_; }
  std::shared_ptr<const Generation> generation_ptr() const { return gen_; }
  const absl::Status& status() const { return status_; }

 private:
  TraceReader* reader_;
  std::shared_ptr<const Generation> gen_;
  std::unique_ptr<MergedGenerationReader> merged_;
  absl::Status status_;
};

}  // namespace tracer::format

#endif  // TRACER_FORMAT_EVENT_STREAM_H_
