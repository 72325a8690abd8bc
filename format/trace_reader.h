// Decoding: a streaming reader of generations, an event reader per batch, and a merged,
// time-ordered event stream across threads.
//
// Input is untrusted. Every length, id, varint and enumerator is checked; a corrupt or
// truncated trace yields an absl::Status naming the file offset, the generation and the batch.
// Generations before the damage were already returned intact; nothing after it is guessed at.
// Memory: one generation at a time (plus what callers keep), whatever the file size.

#ifndef TRACER_FORMAT_TRACE_READER_H_
#define TRACER_FORMAT_TRACE_READER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "format/generation.h"

namespace tracer::format {

// Where a TraceReader gets bytes.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `n` bytes into `buf`; returns how many (0 only at the end) or an error.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;
};

std::unique_ptr<ByteSource> MakeStringSource(std::string data);
// Reads from `fd`; closes it on destruction if `owned`.
std::unique_ptr<ByteSource> MakeFdSource(int fd, bool owned);

// Reads a trace generation by generation. Not thread-safe; the generations it returns are
// immutable and may outlive the reader.
class TraceReader {
 public:
  // Opens and checks the file header. Fails on a missing file, a bad magic, or a major version
  // newer than this reader.
  static absl::StatusOr<std::unique_ptr<TraceReader>> Open(const std::string& path);
  static absl::StatusOr<std::unique_ptr<TraceReader>> FromSource(std::unique_ptr<ByteSource> src);

  // The next generation, fully checked (header CRC, payload CRC, every section and batch
  // header, and every event: see ValidateGeneration), or nullptr at a clean end of file.
  // After an error every later call returns the same error.
  absl::StatusOr<std::shared_ptr<const Generation>> Next();

  uint16_t version_major() const { return major_; }
  uint16_t version_minor() const { return minor_; }
  uint64_t offset() const { return offset_; }  // bytes consumed so far

  // Skip per-event validation in Next() (tables and framing are still checked; event decoding
  // stays bounds-checked, and BatchEventReader reports bad events as errors). For tools that
  // stream a trace once and want the speed.
  void set_validate_events(bool v) { validate_events_ = v; }

 private:
  explicit TraceReader(std::unique_ptr<ByteSource> src) : src_(std::move(src)) {}
  absl::Status ReadHeader();
  // Reads exactly n bytes; returns how many were available (fewer at end of file).
  absl::StatusOr<size_t> ReadFull(char* buf, size_t n);

  std::unique_ptr<ByteSource> src_;
  uint16_t major_ = 0;
  uint16_t minor_ = 0;
  uint64_t offset_ = 0;
  uint64_t generations_read_ = 0;
  bool validate_events_ = true;
  absl::Status sticky_;
};

// Decodes every event of every batch and checks it against the event table and the
// generation's tables. TraceReader::Next calls it unless told not to.
absl::Status ValidateGeneration(const Generation& gen);

struct DecodeTypeInfo;  // per type byte: what the decoder checks (trace_reader.cc)

// Decodes the events of one batch, in order. The generation must outlive the reader.
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
  bool Fail(const char* what, uint64_t detail);
  bool NextSlow(Event* e);

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
  absl::Status status_;
};

// All events of one generation, merged across batches in tick order (ties: batch order, which
// is thread, then batch seq). An error in any batch ends the stream when the merge reaches the
// bad event.
class MergedGenerationReader {
 public:
  explicit MergedGenerationReader(const Generation& gen);
  bool Next(Event* e);
  const absl::Status& status() const { return status_; }

 private:
  // (tick << 32 | batch index) of each batch's next event: one compare orders by tick, then
  // batch. Events are decoded straight into the caller's Event, never copied through the heap.
  using Head = unsigned __int128;
  void SiftDown();
  void Push(Head h);


  const Generation* gen_;
  std::vector<BatchEventReader> readers_;
  std::vector<Head> heap_;     // batches whose first event the merge has reached
  std::vector<Head> pending_;  // the others, largest key first; a key is final until pushed
  absl::Status status_;
};

// The whole trace as one time-ordered stream: generations in file order, events merged within
// each. Holds one generation at a time.
class EventStream {
 public:
  explicit EventStream(TraceReader* reader) : reader_(reader) {}
  // Returns true with the next event, false at the end or on an error (see status()).
  bool Next(Event* e);
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

#endif  // TRACER_FORMAT_TRACE_READER_H_
