// GenerationParser: the sections of one decompressed generation payload into a Generation.
//
// The payload is untrusted: every length, count, id and enumerator is checked before it is
// used, and an error names the payload offset (and the file offset when not compressed).

#ifndef TRACER_FORMAT_INTERNAL_GENERATION_PARSER_H_
#define TRACER_FORMAT_INTERNAL_GENERATION_PARSER_H_

#include <cstdint>
#include <string>
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

  // The memory bound (FORMAT.md, "What a reader validates"): the tables and indexes of a
  // generation whose raw payload is R bytes take at most kTableBytesPerPayloadByte * R +
  // kTableBytesFixed bytes (the id bitmaps, at most 3 * 512 KiB, come on top). Checked
  // before anything is reserved.
  static constexpr uint64_t kTableBytesPerPayloadByte = 40;
  static constexpr uint64_t kTableBytesFixed = 3 * IdIndex::kDenseMinSize * sizeof(int32_t);
  // The bytes the tables were planned to take (reserved up front, and inner vectors as they
  // were read): at most the bound. For tests.
  uint64_t planned_table_bytes() const { return planned_table_bytes_; }

 private:
  using Generation = format::Generation;

  absl::Status Error(const char* at, absl::string_view what);

  bool U(uint64_t* v);
  bool Byte(uint8_t* v);
  bool Count(uint64_t* n, uint64_t min_entry_bytes);
  // U() leaves cur_ at the varint it refused, so the message can say why.
  bool AtOverlongVarint() const;
  absl::Status Truncated(absl::string_view table);
  // The ids seen so far in one of the indexed tables (strings, stacks, label sets): a bitmap
  // over [1, kMaxTableId] grown to the largest id seen (at most 512 KiB), so that a repeat is
  // refused when it is read, before it is stored.
  struct IdTable {
    const char* name;
    std::vector<uint64_t> seen = {};
  };
  // Registers `id`; rejects 0, ids above kMaxTableId and an id the table already holds.
  absl::Status Index(IdTable* t, uint64_t id);
  // The next section's framing at *p (kind, then a length within the payload): sets cur_ and
  // end_ to its body and *p past it.
  absl::Status NextSection(const char** p, const char* end, uint8_t* kind);
  // Pass 1: counts every table's entries and the batch sections (each count checked against
  // its section's bytes), checks that what they need fits the memory bound (FORMAT.md, "What
  // a reader validates") and reserves exactly that.
  absl::Status CountAndReserve();
  // Adds `bytes` (an entry's frames or labels) to the planned table bytes; fails if that
  // passes the bound. Called before the allocation.
  absl::Status Plan(uint64_t bytes);
  // Builds `index` from `n` ids in table order.
  template <typename IdOf>
  void BuildIndex(IdIndex* index, size_t n, IdOf id_of);

  absl::Status ParseClock();
  absl::Status ParseStrings();
  absl::Status ParseStacks();
  absl::Status ParseThreads();
  // A task or live-task entry's status and block reason, checked (`what` names the table).
  absl::Status StatusAndReason(const char* what, uint64_t id, uint8_t status, uint8_t reason,
                               format::TaskStatus* status_out, format::BlockReason* reason_out);
  absl::Status ParseTasks();
  absl::Status ParseUserTasks();
  absl::Status ParseLiveTasks();
  absl::Status ParseLabelSets();
  absl::Status ParseLosses();
  absl::Status ParseMappings();
  absl::Status ParseBatch();
  // A crash batch (kind 12, crash generations only) starting at `section`: one that fails its
  // own CRC or whose header does not parse is dropped alone (Generation::dropped_batches);
  // the others join the batches, their events checked once the tables are read.
  absl::Status ParseCrashBatch(const char* section);
  // Decodes each crash batch against the tables: one that does not decode is dropped alone;
  // the others get their event count.
  void CheckCrashBatches();
  void DropCrashBatch(uint64_t payload_offset, uint64_t thread, std::string reason);
  // Table entries may refer to strings and label sets defined in any section order; check
  // them once everything is read.
  absl::Status CheckReferences();

  Generation* gen_;
  uint64_t payload_file_offset_;
  uint32_t untrusted_num_batches_;
  uint64_t batch_sections_ = 0;  // kinds 9 and 12, dropped crash batches included
  std::vector<std::pair<size_t, uint64_t>> crash_sections_;  // batch index, section offset
  IdTable strings_{"string"};
  IdTable stacks_{"stack"};
  IdTable label_sets_{"label set"};
  const char* cur_ = nullptr;
  const char* end_ = nullptr;
  bool store_ = true;  // false while pass 1 reads the indexed tables through
  uint64_t planned_table_bytes_ = 0;
  uint64_t table_bytes_bound_ = 0;
};

}  // namespace tracer::format_internal

#endif  // TRACER_FORMAT_INTERNAL_GENERATION_PARSER_H_
