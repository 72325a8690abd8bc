// Encoding: the file header, events into a batch body, and whole generations.
// Nothing here knows about threads or clocks; the tracer runtime and tests drive it.

#ifndef TRACER_FORMAT_TRACE_WRITER_H_
#define TRACER_FORMAT_TRACE_WRITER_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "format/constants.h"
#include "format/event_table.h"
#include "format/generation.h"

namespace tracer::format {

// Appends the 16-byte file header of the current format version to `out`.
void AppendFileHeader(std::string* out);

// Appends events to one batch body. Not thread-safe.
class EventEncoder {
 public:
  explicit EventEncoder(uint64_t base_tick) : base_tick_(base_tick), last_tick_(base_tick) {}

  // REQUIRES: tick >= the previous event's tick (and >= base_tick); `args` has exactly the
  // spec's arguments (kSint ones as two's-complement bits), the kBytes one excluded and given
  // as `bytes`.
  void Append(EventType type, uint64_t tick, std::initializer_list<uint64_t> args,
              absl::string_view bytes = {});
  void Append(const Event& e);

  uint64_t base_tick() const { return base_tick_; }
  uint64_t last_tick() const { return last_tick_; }
  uint64_t num_events() const { return num_events_; }
  const std::string& data() const { return data_; }

 private:
  void AppendArgs(const EventSpec& spec, const uint64_t* args, int n, absl::string_view bytes);

  uint64_t base_tick_;
  uint64_t last_tick_;
  uint64_t num_events_ = 0;
  std::string data_;
};

// Encodes one self-contained generation: header + (optionally lz4-compressed) payload.
// Callers add every string, stack and label set their events refer to; the reader rejects a
// generation that refers to an id it does not define. Not thread-safe.
class GenerationBuilder {
 public:
  explicit GenerationBuilder(uint64_t seq) : seq_(seq) {}
  // Starts over as generation `seq`, keeping the memory of the previous one's tables and
  // batches (for a caller that builds one generation after another).
  void Reset(uint64_t seq) {
    seq_ = seq;
    clock_ = {};
    begin_ns_ = end_ns_ = 0;
    for (Table* t : {&strings_, &stacks_, &threads_, &tasks_, &user_tasks_, &label_sets_,
                     &losses_, &mappings_, &live_tasks_}) {
      t->count = 0;
      t->body.clear();
    }
    listing_ = false;
    crash_ = false;
    batches_.clear();
    borrowed_.clear();
    borrowed_bytes_ = 0;
    num_batches_ = 0;
  }

  void SetClock(const ClockSnapshot& clock) { clock_ = clock; }
  // The CLOCK_MONOTONIC span of the generation's events (written in the header so tools can
  // skip or split a trace without decoding).
  void SetTimeSpan(int64_t begin_ns, int64_t end_ns) {
    begin_ns_ = begin_ns;
    end_ns_ = end_ns;
  }
  void AddString(uint64_t id, absl::string_view s);
  void AddStack(uint64_t id, absl::Span<const Frame> frames);
  void AddThread(const ThreadInfo& t);
  void AddTask(const TaskState& t);
  void AddUserTask(const UserTaskInfo& t);
  // An entry of the live-task listing (section 11): written in the generation that ends a dump.
  void AddLiveTask(const LiveTask& t);
  // Marks the generation as the listing: its section 11 is written even with no entry, so a
  // reader tells the listing of a program with no live task from an ordinary generation.
  void SetListing() { listing_ = true; }
  // Marks the generation as written by a crash handler (kGenFlagCrash): it is never
  // compressed, and may hold crash batches.
  void SetCrash() { crash_ = true; }
  // A crash batch (section 12): events a crash handler copied from a live buffer, checked by
  // their own CRC; no event count (the reader counts them). REQUIRES: SetCrash().
  void AddCrashBatch(uint64_t thread, uint64_t seq, uint64_t base_tick, absl::string_view events);
  // The same with a given CRC, so tests can write a torn batch.
  void AddCrashBatchWithCrcForTesting(uint64_t thread, uint64_t seq, uint64_t base_tick,
                                      absl::string_view events, uint32_t crc);
  void AddLabelSet(uint64_t id, absl::Span<const std::pair<uint64_t, uint64_t>> labels);
  void AddLoss(const LossRecord& l);
  void AddMapping(const Mapping& m);
  void AddBatch(uint64_t thread, uint64_t seq, uint64_t base_tick, uint64_t num_events,
                absl::string_view events);

  // The same, without copying the events: `events` must stay valid and unchanged until the
  // last TryAppendTo/AppendTo before the next Reset (the collector seals batches still in the
  // tracer's buffers this way: one copy of the events, straight into the encoded generation).
  void AddBatchBorrowed(uint64_t thread, uint64_t seq, uint64_t base_tick, uint64_t num_events,
                        absl::string_view events);

  // Room for batches of `bytes` event bytes in all (framing included), so that adding them
  // copies each once.
  void ReserveBatches(size_t count, size_t bytes) { batches_.reserve(bytes + count * 48); }
  size_t num_batches() const { return num_batches_; }

  // Bytes of the uncompressed payload AppendTo would write (sections and batches, no header).
  // The format holds at most kMaxPayloadBytes (1 GiB): a caller that builds large generations
  // cuts before this passes it.
  size_t raw_payload_bytes() const;

  // Appends the encoded generation to `out`. With `compress`, the payload is stored as one
  // lz4 block unless that does not make it smaller. Returns the bytes appended; or, if the
  // raw payload is over kMaxPayloadBytes (its u32 length fields would overflow, or readers
  // would refuse it and every generation after it), OutOfRange with nothing appended.
  absl::StatusOr<size_t> TryAppendTo(std::string* out, bool compress) const;
  // The same for callers without a use for the reason: a generation the format cannot hold is
  // dropped (nothing appended, returns 0), so the file around it stays readable.
  size_t AppendTo(std::string* out, bool compress) const {
    absl::StatusOr<size_t> n = TryAppendTo(out, compress);
    return n.ok() ? *n : 0;
  }

  // Lowers the payload limit, so tests can reach it without a gigabyte of data.
  void SetPayloadLimitForTesting(size_t bytes) {
    max_payload_bytes_ = bytes < kMaxPayloadBytes ? bytes : kMaxPayloadBytes;
  }

 private:
  // Each table is encoded as it is added: count + entries.
  struct Table {
    uint64_t count = 0;
    std::string body;
  };
  static void AppendSection(std::string* payload, uint8_t kind, const Table& t);

  uint64_t seq_;
  ClockSnapshot clock_;
  int64_t begin_ns_ = 0;
  int64_t end_ns_ = 0;
  Table strings_, stacks_, threads_, tasks_, user_tasks_, label_sets_, losses_, mappings_,
      live_tasks_;
  bool listing_ = false;
  bool crash_ = false;
  std::string batches_;  // already-framed batch sections
  // Borrowed batch bodies: each goes after batches_[0, at) and before the rest.
  struct Borrowed {
    size_t at;
    absl::string_view events;
  };
  std::vector<Borrowed> borrowed_;
  size_t borrowed_bytes_ = 0;
  size_t num_batches_ = 0;
  size_t max_payload_bytes_ = kMaxPayloadBytes;
};

}  // namespace tracer::format

#endif  // TRACER_FORMAT_TRACE_WRITER_H_
