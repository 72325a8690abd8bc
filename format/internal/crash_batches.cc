// GenerationParser's crash batches (format/FORMAT.md, section 12): each checked alone, and
// dropped alone when torn or undecodable, so the rest of a crash generation reads.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "format/batch_event_reader.h"
#include "format/internal/generation_parser.h"
#include "format/internal/payload_crc.h"
#include "format/internal/varint.h"

namespace tracer::format_internal {

using format::Batch;

void GenerationParser::DropCrashBatch(uint64_t payload_offset, uint64_t thread,
                                      std::string reason) {
  format::DroppedBatch d;
  d.payload_offset = payload_offset;
  d.file_offset = payload_file_offset_ + payload_offset;  // crash generations are never lz4
  d.thread = thread;
  d.reason = std::move(reason);
  gen_->dropped_batches.push_back(std::move(d));
}

absl::Status GenerationParser::ParseCrashBatch(const char* section) {
  const uint64_t at = static_cast<uint64_t>(section - gen_->payload_.data());
  const char* const body = cur_;
  cur_ = end_;  // whatever happens below, the section is consumed
  if (end_ - body < 4) {
    DropCrashBatch(at, 0, "crash batch shorter than its checksum");
    return absl::OkStatus();
  }
  const uint32_t want = LoadLE32(body);
  const uint32_t got = Crc32(0, body + 4, static_cast<size_t>(end_ - body - 4));
  // Its header, for the thread to name even if the checksum fails.
  Batch b;
  uint64_t len = 0;
  cur_ = body + 4;
  const bool header_read = U(&b.thread) && U(&b.seq) && U(&b.base_tick) && U(&len);
  const char* const events = cur_;
  cur_ = end_;
  if (got != want) {
    DropCrashBatch(at, header_read ? b.thread : 0,
                   absl::StrFormat("crash batch checksum mismatch (stored 0x%08x, computed "
                                   "0x%08x): torn by a thread caught mid-write, or damaged",
                                   want, got));
    return absl::OkStatus();
  }
  if (!header_read || len != static_cast<uint64_t>(end_ - events)) {
    DropCrashBatch(at, header_read ? b.thread : 0,
                   "crash batch header is malformed or its length disagrees with its section");
    return absl::OkStatus();
  }
  b.events = absl::string_view(events, len);
  b.payload_offset = static_cast<uint64_t>(events - gen_->payload_.data());
  b.num_events = format::kUnknownEventCount;  // counted by CheckCrashBatches
  b.crash = true;
  crash_sections_.push_back({gen_->batches.size(), at});
  gen_->batches.push_back(b);
  return absl::OkStatus();
}

void GenerationParser::CheckCrashBatches() {
  std::vector<Batch>& batches = gen_->batches;
  size_t kept = 0, next_crash = 0;
  for (size_t i = 0; i < batches.size(); ++i) {
    if (batches[i].crash) {
      const uint64_t section = crash_sections_[next_crash++].second;
      format::BatchEventReader r(*gen_, i);
      format::Event e;
      uint64_t n = 0;
      while (r.Next(&e)) ++n;
      if (!r.status().ok()) {
        DropCrashBatch(section, batches[i].thread,
                       absl::StrCat("crash batch does not decode: ", r.status().message()));
        continue;
      }
      batches[i].num_events = n;
    }
    if (kept != i) batches[kept] = batches[i];
    ++kept;
  }
  batches.resize(kept);
}

}  // namespace tracer::format_internal
