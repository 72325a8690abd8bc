// The decoded form of a generation: its tables and its batches. A Generation owns its
// (decompressed) payload; batches, strings and inline event bytes are views into it.
// Immutable once TraceReader returns it; safe to read from several threads.

#ifndef TRACER_FORMAT_GENERATION_H_
#define TRACER_FORMAT_GENERATION_H_

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "format/constants.h"
#include "format/event_table.h"
#include "format/internal/id_index.h"

namespace tracer::format_internal {
class GenerationParser;
struct GenerationIndexAccess;  // the event decoder's look-ups (batch_event_reader.cc)
}  // namespace tracer::format_internal

namespace tracer::format {

// A simultaneous reading of the tick counter and the two clocks. With the tick frequency it
// converts any tick of the generation to nanoseconds.
struct ClockSnapshot {
  uint64_t ticks_per_second = 0;  // frequency of the event timestamps (not always raw TSC)
  uint64_t tick = 0;
  int64_t mono_ns = 0;  // CLOCK_MONOTONIC
  int64_t real_ns = 0;  // CLOCK_REALTIME, ns since the Unix epoch
  bool operator==(const ClockSnapshot&) const = default;
};

struct Frame {
  uint64_t pc = 0;
  uint64_t func = 0;  // string id, 0 if unknown
  uint64_t file = 0;  // string id, 0 if unknown
  uint64_t line = 0;  // 0 if unknown
  bool operator==(const Frame&) const = default;
};

struct Stack {
  uint64_t id = 0;
  std::vector<Frame> frames;  // innermost first
  bool operator==(const Stack&) const = default;
};

struct ThreadInfo {
  uint64_t id = 0;    // OS thread id (gettid)
  uint64_t name = 0;  // string id
  bool operator==(const ThreadInfo&) const = default;
};

// A runtime task alive when the generation starts.
struct TaskState {
  uint64_t id = 0;
  uint64_t parent = 0;
  uint64_t name = 0;  // string id
  TaskStatus status = TaskStatus::kRunnable;
  uint64_t thread = 0;  // the thread running it (running or in a syscall), else 0
  uint64_t labels = 0;  // label-set id
  uint64_t seq = 0;     // the task's sequence number (see TaskStart/TaskUnblock)
  BlockReason reason = BlockReason::kUnknown;  // when blocked
  bool operator==(const TaskState&) const = default;
};

// A runtime task alive when a dump was written (section 11, the live-task listing: what a
// task dump shows). Written at the end of a dump, in a generation of its own.
struct LiveTask {
  uint64_t id = 0;
  uint64_t parent = 0;
  uint64_t name = 0;  // string id
  TaskStatus status = TaskStatus::kRunnable;
  uint64_t thread = 0;  // the thread running it (running or in a syscall), else 0
  uint64_t labels = 0;  // label-set id
  BlockReason reason = BlockReason::kUnknown;  // when blocked
  uint64_t object = 0;      // what it blocked on (the block's object), 0 if none or unknown
  uint64_t since_tick = 0;  // when it entered `status` (0: before anything the process traced)
  uint64_t stack = 0;       // stack id: where it blocked (blocked), else where it was created
  bool operator==(const LiveTask&) const = default;
};

// A crash batch (section 12) the reader dropped alone: torn by a thread caught mid-write,
// or damaged. The rest of its generation reads.
struct DroppedBatch {
  uint64_t file_offset = 0;     // of the section
  uint64_t payload_offset = 0;  // of the section within the payload
  uint64_t thread = 0;          // 0 if its header could not be read
  std::string reason;
  bool operator==(const DroppedBatch&) const = default;
};

// A user task (trace.NewTask) alive when the generation starts.
struct UserTaskInfo {
  uint64_t id = 0;
  uint64_t parent = 0;
  uint64_t name = 0;  // string id
  bool operator==(const UserTaskInfo&) const = default;
};

struct LabelSet {
  uint64_t id = 0;
  std::vector<std::pair<uint64_t, uint64_t>> labels;  // (key, value) string ids
  bool operator==(const LabelSet&) const = default;
};

// Events a thread could not record (its buffers were exhausted), counted exactly.
struct LossRecord {
  uint64_t thread = 0;
  uint64_t count = 0;
  uint64_t begin_tick = 0;
  uint64_t end_tick = 0;
  bool operator==(const LossRecord&) const = default;
};

// A mapped object file, so raw PCs of a stripped binary can be symbolized later.
struct Mapping {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t offset = 0;
  uint64_t path = 0;      // string id
  uint64_t build_id = 0;  // string id (hex)
  bool operator==(const Mapping&) const = default;
};

// Batch::num_events of a crash batch while the parser counts its events (crash batches carry
// no count); every batch a reader returns has its exact count.
inline constexpr uint64_t kUnknownEventCount = ~uint64_t{0};

struct Batch {
  uint64_t thread = 0;
  uint64_t seq = 0;        // per thread within the generation, from 0
  uint64_t base_tick = 0;  // the first event's delta is from here
  uint64_t num_events = 0;
  absl::string_view events;        // encoded events
  uint64_t payload_offset = 0;     // of `events` within the payload, for error messages
  bool crash = false;              // from a crash-batch section (checked alone)
};

// A decoded event. Arguments are in the order of its EventSpec; kSint arguments hold the
// two's-complement bits of the signed value; the kBytes argument is in `bytes`.
struct Event {
  EventType type = EventType::kInvalid;
  uint64_t thread = 0;
  uint64_t tick = 0;  // absolute
  uint64_t args[kMaxEventArgs] = {};
  absl::string_view bytes;
  const EventSpec& spec() const { return GetEventSpec(type); }
};


class Generation {
 public:
  uint64_t seq = 0;
  uint64_t file_offset = 0;  // of the generation header
  // Bytes of the header in the file: kGenerationHeaderSize, or more if a later minor version
  // appended fields (skipped). The payload starts at file_offset + header_size.
  uint32_t header_size = kGenerationHeaderSize;
  uint64_t file_size = 0;    // header + stored payload
  bool compressed = false;
  int64_t begin_ns = 0;  // CLOCK_MONOTONIC span of its events, from the header
  int64_t end_ns = 0;
  ClockSnapshot clock;
  std::vector<Stack> stacks;
  std::vector<ThreadInfo> threads;
  // 2.x: the tasks that appear in the generation (and those running at its start), each as
  // it was at the start; 1.x: every task alive at its start. See tasks_complete.
  std::vector<TaskState> tasks;
  bool tasks_complete = false;  // true for a 1.x file: `tasks` lists every live task
  bool crash = false;           // written by a crash handler (generation flag kGenFlagCrash)
  // The live-task listing (section 11) that ends a dump or a capture: `listing` is true when
  // the generation holds the section (even with no task in it).
  bool listing = false;
  std::vector<LiveTask> live_tasks;
  std::vector<DroppedBatch> dropped_batches;  // crash batches dropped alone
  std::vector<UserTaskInfo> user_tasks;
  std::vector<LabelSet> label_sets;
  std::vector<LossRecord> losses;
  std::vector<Mapping> mappings;
  std::vector<Batch> batches;

  // Table look-ups; ids were validated when the generation was read.
  absl::string_view String(uint64_t id) const {
    const int32_t i = string_index_.Find(id);
    return i >= 0 ? strings_[i].second : absl::string_view();
  }
  bool HasString(uint64_t id) const { return id == 0 || string_index_.Find(id) >= 0; }
  const Stack* FindStack(uint64_t id) const {
    const int32_t i = stack_index_.Find(id);
    return i >= 0 ? &stacks[i] : nullptr;
  }
  const LabelSet* FindLabelSet(uint64_t id) const;
  const std::vector<std::pair<uint64_t, absl::string_view>>& strings() const { return strings_; }
  absl::string_view ThreadName(uint64_t thread) const;

  // Tick conversions with the generation's clock snapshot. Ticks before the snapshot give
  // times before it; the arithmetic is exact to the nanosecond for spans under ~292 years.
  // Results saturate at the int64 range (a checksummed but nonsensical clock must not
  // overflow).
  int64_t TickToMonoNs(uint64_t tick) const { return AddSaturated(clock.mono_ns, TickDeltaNs(tick)); }
  int64_t TickToRealNs(uint64_t tick) const { return AddSaturated(clock.real_ns, TickDeltaNs(tick)); }
  int64_t TickDeltaNs(uint64_t tick) const {
    // Inline, the common case: a tick at or after the snapshot and close enough that d * 1e9
    // fits in 64 bits (18 s of a 1 GHz clock; generations span about a second): one exact
    // division, no call. Every analysis converts every event's tick.
    constexpr uint64_t kNsPerSecond = 1000000000u;
    if (tick >= clock.tick && tick - clock.tick <= UINT64_MAX / kNsPerSecond &&
        clock.ticks_per_second >= 2) {  // >= 2: the quotient fits in int64
      return static_cast<int64_t>((tick - clock.tick) * kNsPerSecond / clock.ticks_per_second);
    }
    return TickDeltaNsSlow(tick);
  }

 private:
  int64_t TickDeltaNsSlow(uint64_t tick) const;
  static int64_t AddSaturated(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
  }

  friend class format_internal::GenerationParser;
  friend class TraceReader;
  friend struct format_internal::GenerationIndexAccess;
  std::string payload_;  // owns every view above
  std::vector<std::pair<uint64_t, absl::string_view>> strings_;
  // id -> index in strings_, stacks, label_sets. Sized by the entry count, not the largest id.
  format_internal::IdIndex string_index_;
  format_internal::IdIndex stack_index_;
  format_internal::IdIndex label_index_;
};

}  // namespace tracer::format

#endif  // TRACER_FORMAT_GENERATION_H_
