// The event table: the one description of every event on the wire. The writer, the reader,
// the validator and the text/JSON dumpers are all driven by it; FORMAT.md documents the same
// table for humans. Adding an event or an argument is a format change (see FORMAT.md,
// "Versioning"): new events take new type bytes, existing events never change shape within a
// major version.

#ifndef TRACER_FORMAT_EVENT_TABLE_H_
#define TRACER_FORMAT_EVENT_TABLE_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace tracer::format {

// Event type byte. Values are part of the format: never renumber.
enum class EventType : uint8_t {
  kInvalid = 0,
  // Threads (OS threads; Go's M).
  kThreadStart = 1,
  kThreadStop = 2,
  // Runtime tasks (a scheduler's unit of work; Go's G).
  kTaskCreate = 3,
  kTaskStart = 4,
  kTaskBlock = 5,
  kTaskUnblock = 6,
  kTaskYield = 7,
  kTaskEnd = 8,
  // Syscalls, on the running task (or the thread itself).
  kSyscallBegin = 9,
  kSyscallEnd = 10,
  // Runtime phases (GC-like): process-wide or thread-scoped, maybe stop-the-world.
  kPhaseBegin = 11,
  kPhaseEnd = 12,
  // User annotations (Go's trace.NewTask / WithRegion / Log).
  kUserTaskBegin = 13,
  kUserTaskEnd = 14,
  kRegionBegin = 15,
  kRegionEnd = 16,
  kLog = 17,
  // Labels: attach a label set (see the label-set table) to a task, or to the thread (task 0).
  kLabels = 18,
  // A named integer value over time.
  kCounter = 19,
  // A CPU profile sample taken on this thread.
  kCpuSample = 20,
  // Marks the user task (0 = none) that regions and logs of this thread attach to by default.
  kSetCurrentUserTask = 21,
  kNumEventTypes = 22,
};

// How an argument is encoded and what it refers to. Every kind but kBytes is one uvarint.
enum class ArgKind : uint8_t {
  kId,        // An opaque identifier (task id, thread id, object address); 0 means none.
  kString,    // An id in the generation's string table; 0 means the empty string.
  kStack,     // An id in the generation's stack table; 0 means no stack.
  kLabelSet,  // An id in the generation's label-set table; 0 means the empty set.
  kUint,      // An unsigned integer (sequence numbers, counts).
  kSint,      // A signed integer, zigzag-encoded.
  kReason,    // A BlockReason enumerator, < kNumBlockReasons.
  kPhaseFlags,  // A PhaseFlags bit set; unknown bits are an error.
  kBytes,     // Inline bytes: uvarint length then the bytes. Only ever the last argument.
};

// Why a task blocked. One list for every tool; values are part of the format.
enum class BlockReason : uint8_t {
  kUnknown = 0,
  kMutex = 1,
  kRwMutex = 2,
  kCondVar = 3,
  kChannel = 4,    // a channel or queue, send or receive
  kWaitGroup = 5,  // a wait group, latch, barrier or notification
  kSelect = 6,
  kSleep = 7,
  kNetwork = 8,
  kIo = 9,         // file or other blocking I/O
  kPreempted = 10, // descheduled by the runtime (yield to the run queue is kTaskYield)
  kOther = 11,
  kNumBlockReasons = 12,
};

// Flags on kPhaseBegin.
enum PhaseFlags : uint8_t {
  kPhaseStopTheWorld = 1 << 0,  // every application thread is stopped while the phase runs
  kPhaseThreadScoped = 1 << 1,  // the phase runs on this thread only (Go's mark assist)
  kPhaseKnownFlags = kPhaseStopTheWorld | kPhaseThreadScoped,
};

// A task's state at the start of a generation (the task-state table).
enum class TaskStatus : uint8_t {
  kRunnable = 1,
  kRunning = 2,
  kBlocked = 3,
  kSyscall = 4,
  kNumTaskStatuses = 5,
};

inline constexpr int kMaxEventArgs = 6;

struct ArgSpec {
  const char* name;
  ArgKind kind;
};

struct EventSpec {
  EventType type;
  const char* name;  // CamelCase, as printed by the dumpers.
  int num_args;
  ArgSpec args[kMaxEventArgs];
  // True if the last argument is kBytes.
  bool has_bytes() const { return num_args > 0 && args[num_args - 1].kind == ArgKind::kBytes; }
};

// The spec of `type`, or nullptr if the byte names no event of this format version.
const EventSpec* FindEventSpec(uint8_t type);
inline const EventSpec& GetEventSpec(EventType type) {
  return *FindEventSpec(static_cast<uint8_t>(type));
}

// Which ids an event's `task` argument (args[0]) names: runtime tasks (TaskCreate, Start,
// Block, Unblock, Yield, End, Labels, CpuSample), user tasks (UserTaskBegin/End, RegionBegin/
// End, Log, SetCurrentUserTask), or none (the event has no `task`).
enum class TaskSpace : uint8_t { kNone, kRuntime, kUser };
TaskSpace TaskArgSpace(EventType type);

absl::string_view BlockReasonName(BlockReason reason);  // "mutex", "channel", ...
absl::string_view TaskStatusName(TaskStatus status);    // "runnable", "running", ...

}  // namespace tracer::format

#endif  // TRACER_FORMAT_EVENT_TABLE_H_
