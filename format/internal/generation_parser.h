// GenerationParser: the sections of one decompressed generation payload into a Generation.
//
// The payload is untrusted: every length, count, id and enumerator is checked before it is
// used, and an error names the payload offset (and the file offset when not compressed).

#ifndef TRACER_FORMAT_INTERNAL_GENERATION_PARSER_H_
#define TRACER_FORMAT_INTERNAL_GENERATION_PARSER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "format/generation.h"
#include "format/internal/id_index.h"

namespace tracer::format_internal {

// Parses gen->payload_ into gen's tables and batches. One use per generation; not
// thread-safe. `untrusted_num_batches` is the header's count, checked against the batch
// sections found.
class GenerationParser {
 public:
  GenerationParser(format::Generation* gen, uint64_t payload_file_offset,
                   uint32_t untrusted_num_batches)
      : gen_(gen),
        payload_file_offset_(payload_file_offset),
        untrusted_num_batches_(untrusted_num_batches) {}

  // Parses every section, builds the id indexes and checks cross-references; on success the
  // generation is complete and its batches are in (thread, seq) order.
  absl::Status Parse();

 private:
  using Generation = format::Generation;

  absl::Status Error(const char* at, absl::string_view what);

  bool U(uint64_t* v);
  bool Byte(uint8_t* v);
  bool Count(uint64_t* n, uint64_t min_entry_bytes);
  // U() leaves cur_ at the varint it refused, so the message can say why.
  bool AtOverlongVarint() const;
  absl::Status Truncated(absl::string_view table);
  // The ids of one table as parsed, for its IdIndex once the payload is read (duplicates are
  // found then, and reported where the repeat was).
  struct IdTable {
    const char* name;
    IdIndex* index;
    uint64_t (*id_of)(const Generation&, int32_t pos);
    std::vector<IdIndex::Entry> entries = {};
    std::vector<const char*> at = {};  // per position: where the parser was after the id
  };
  // Registers `id` at table position `pos`; rejects 0 and ids above kMaxTableId.
  absl::Status Index(IdTable* t, uint64_t id, size_t pos);

  absl::Status ParseClock();
  absl::Status ParseStrings();
  absl::Status ParseStacks();
  absl::Status ParseThreads();
  absl::Status ParseTasks();
  absl::Status ParseUserTasks();
  absl::Status ParseLabelSets();
  absl::Status ParseLosses();
  absl::Status ParseMappings();
  absl::Status ParseBatch();
  // Table entries may refer to strings and label sets defined in any section order; check
  // them once everything is read.
  absl::Status CheckReferences();

  Generation* gen_;
  uint64_t payload_file_offset_;
  uint32_t untrusted_num_batches_;
  IdTable strings_{"string", &gen_->string_index_,
                   [](const Generation& g, int32_t pos) { return g.strings_[pos].first; }};
  IdTable stacks_{"stack", &gen_->stack_index_,
                  [](const Generation& g, int32_t pos) { return g.stacks[pos].id; }};
  IdTable label_sets_{"label set", &gen_->label_index_,
                      [](const Generation& g, int32_t pos) { return g.label_sets[pos].id; }};
  const char* cur_ = nullptr;
  const char* end_ = nullptr;
};

}  // namespace tracer::format_internal

#endif  // TRACER_FORMAT_INTERNAL_GENERATION_PARSER_H_
