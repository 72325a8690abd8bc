// BatchEventReader: the events of one batch of a generation, decoded in order and checked
// against the event table and the generation's tables.

#ifndef TRACER_FORMAT_BATCH_EVENT_READER_H_
#define TRACER_FORMAT_BATCH_EVENT_READER_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "format/generation.h"

namespace tracer::format_internal {
struct DecodeTypeInfo;  // per type byte: what the decoder checks (batch_event_reader.cc)
class GenerationMerge;
}  // namespace tracer::format_internal

namespace tracer::format {

// Decodes the events of one batch, in order. The generation must outlive the reader. Not
// thread-safe; readers of one generation may run on different threads.
class BatchEventReader {
 public:
  BatchEventReader(const Generation& gen, size_t batch_index);
  // Fills `e` and returns true, or returns false at the end or on an error (see status()).
  bool Next(Event* e);
  // True if Next() has something to say (an event, or the error it will report), with the
  // tick of that event (or of the last one, if the next is malformed) in `tick`. False at a
  // clean end and after an error. Does not consume anything.
  bool PeekTick(uint64_t* tick) const;
  const absl::Status& status() const { return status_; }
  uint64_t next_tick_hint() const { return tick_; }

 private:
  friend class format_internal::GenerationMerge;
  using DecodeTypeInfo = format_internal::DecodeTypeInfo;

  bool Fail(const char* what, uint64_t detail);
  bool NextSlow(Event* e);
  // Decodes the arguments of the event at p_ (whose type and delta end at `q`) into `e`.
  // Returns the end of the event, or nullptr after Fail. kFast: the event starts at least
  // kFastMargin bytes before end_, so its varints need no bounds checks.
  template <bool kFast>
  const char* DecodeArgs(const DecodeTypeInfo& info, const char* q, Event* e);
  // For the merge: decodes the tick of the event at p_ into hdr_tick_ and returns true if the
  // event is due and its type and tick are well-formed; else false (the end, or an error).
  bool LoadHeader();
  // Decodes up to `max` events into `out`; returns how many. Fewer than `max` means the end
  // or an error (status()).
  size_t DecodeBlock(Event* out, size_t max);
  bool NextImpl(Event* e);
  bool Finished() const { return p_ >= end_ && decoded_ == num_events_ && status_.ok(); }

  const Generation* gen_;
  const DecodeTypeInfo* types_;
  size_t batch_index_;
  const char* begin_;
  const char* p_;
  const char* end_;
  uint64_t tick_;
  uint64_t thread_;
  uint64_t num_events_;
  uint64_t decoded_ = 0;
  uint64_t hdr_tick_ = 0;  // the tick LoadHeader() decoded
  absl::Status status_;
};

}  // namespace tracer::format

#endif  // TRACER_FORMAT_BATCH_EVENT_READER_H_
