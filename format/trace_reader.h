// TraceReader: a streaming reader of a trace file, generation by generation.
//
// Input is untrusted. Every length, id, varint and enumerator is checked; a corrupt or
// truncated trace yields an absl::Status naming the file offset, the generation and the batch.
// Generations before the damage were already returned intact; nothing after it is guessed at.
// Memory: one generation at a time (plus what callers keep), whatever the file size; within
// it, what FORMAT.md ("What a reader validates") bounds.
//
// The readers of what Next() returns come with this header, so one include reads a trace:
// BatchEventReader (one batch's events) and MergedGenerationReader (a generation's events in
// time order). EventStream (format/event_stream.h) chains generations.

#ifndef TRACER_FORMAT_TRACE_READER_H_
#define TRACER_FORMAT_TRACE_READER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "format/batch_event_reader.h"
#include "format/byte_source.h"
#include "format/generation.h"
#include "format/merged_generation_reader.h"

namespace tracer::format {

// Reads a trace generation by generation. Not thread-safe; the generations it returns are
// immutable and may outlive the reader.
class TraceReader {
 public:
  // Opens and checks the file header. Fails on a missing file, a bad magic, a major version
  // newer than this reader, or a file flag outside kFileFlagsKnown | kFileFlagsIgnorable.
  static absl::StatusOr<std::unique_ptr<TraceReader>> Open(const std::string& path);
  static absl::StatusOr<std::unique_ptr<TraceReader>> FromSource(std::unique_ptr<ByteSource> src);

  // The next generation, fully checked (header CRC, payload CRC, every section and batch
  // header, and every event: see ValidateGeneration), or nullptr at a clean end of file.
  // After an error every later call returns the same error.
  absl::StatusOr<std::shared_ptr<const Generation>> Next();

  uint16_t version_major() const { return major_; }
  uint16_t version_minor() const { return minor_; }
  uint32_t file_flags() const { return flags_; }  // as read: may hold ignorable bits
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
  uint32_t flags_ = 0;
  uint64_t offset_ = 0;
  uint64_t generations_read_ = 0;
  bool validate_events_ = true;
  absl::Status sticky_;
};

// Decodes every event of every batch and checks it against the event table and the
// generation's tables. TraceReader::Next calls it unless told not to.
absl::Status ValidateGeneration(const Generation& gen);


}  // namespace tracer::format

#endif  // TRACER_FORMAT_TRACE_READER_H_
