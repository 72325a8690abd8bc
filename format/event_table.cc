#include "format/event_table.h"

namespace tracer::format {
namespace {

constexpr ArgSpec kTask{"task", ArgKind::kId};
constexpr ArgSpec kStackArg{"stack", ArgKind::kStack};

// Indexed by type byte. Keep in step with FORMAT.md, section "Event table".
constexpr EventSpec kSpecs[] = {
    {EventType::kInvalid, "Invalid", 0, {}},
    {EventType::kThreadStart, "ThreadStart", 0, {}},
    {EventType::kThreadStop, "ThreadStop", 0, {}},
    {EventType::kTaskCreate,
     "TaskCreate",
     5,
     {kTask, {"parent", ArgKind::kId}, {"name", ArgKind::kString},
      {"labels", ArgKind::kLabelSet}, kStackArg}},
    {EventType::kTaskStart, "TaskStart", 2, {kTask, {"seq", ArgKind::kUint}}},
    {EventType::kTaskBlock,
     "TaskBlock",
     4,
     {kTask, {"reason", ArgKind::kReason}, {"object", ArgKind::kId}, kStackArg}},
    {EventType::kTaskUnblock,
     "TaskUnblock",
     5,
     {kTask, {"seq", ArgKind::kUint}, {"waker", ArgKind::kId}, {"object", ArgKind::kId},
      kStackArg}},
    {EventType::kTaskYield, "TaskYield", 1, {kTask}},
    {EventType::kTaskEnd, "TaskEnd", 1, {kTask}},
    {EventType::kSyscallBegin, "SyscallBegin", 2, {{"name", ArgKind::kString}, kStackArg}},
    {EventType::kSyscallEnd, "SyscallEnd", 0, {}},
    {EventType::kPhaseBegin,
     "PhaseBegin",
     2,
     {{"name", ArgKind::kString}, {"flags", ArgKind::kPhaseFlags}}},
    {EventType::kPhaseEnd, "PhaseEnd", 1, {{"name", ArgKind::kString}}},
    {EventType::kUserTaskBegin,
     "UserTaskBegin",
     4,
     {kTask, {"parent", ArgKind::kId}, {"name", ArgKind::kString}, kStackArg}},
    {EventType::kUserTaskEnd, "UserTaskEnd", 1, {kTask}},
    {EventType::kRegionBegin,
     "RegionBegin",
     3,
     {kTask, {"name", ArgKind::kString}, kStackArg}},
    {EventType::kRegionEnd, "RegionEnd", 2, {kTask, {"name", ArgKind::kString}}},
    {EventType::kLog,
     "Log",
     3,
     {kTask, {"category", ArgKind::kString}, {"message", ArgKind::kBytes}}},
    {EventType::kLabels, "Labels", 2, {kTask, {"labels", ArgKind::kLabelSet}}},
    {EventType::kCounter, "Counter", 2, {{"name", ArgKind::kString}, {"value", ArgKind::kSint}}},
    {EventType::kCpuSample, "CpuSample", 2, {kTask, kStackArg}},
    {EventType::kSetCurrentUserTask, "SetCurrentUserTask", 1, {kTask}},
};
static_assert(sizeof(kSpecs) / sizeof(kSpecs[0]) ==
              static_cast<size_t>(EventType::kNumEventTypes));

constexpr bool SpecsAreIndexedByType() {
  for (size_t i = 0; i < sizeof(kSpecs) / sizeof(kSpecs[0]); ++i) {
    if (static_cast<size_t>(kSpecs[i].type) != i) return false;
    for (int a = 0; a + 1 < kSpecs[i].num_args; ++a) {
      if (kSpecs[i].args[a].kind == ArgKind::kBytes) return false;  // kBytes only last
    }
  }
  return true;
}
static_assert(SpecsAreIndexedByType());

constexpr absl::string_view kReasonNames[] = {
    "unknown", "mutex", "rwmutex", "condvar", "channel", "waitgroup",
    "select",  "sleep", "network", "io",      "preempted", "other",
};
static_assert(sizeof(kReasonNames) / sizeof(kReasonNames[0]) ==
              static_cast<size_t>(BlockReason::kNumBlockReasons));

}  // namespace

const EventSpec* FindEventSpec(uint8_t type) {
  if (type == 0 || type >= static_cast<uint8_t>(EventType::kNumEventTypes)) return nullptr;
  return &kSpecs[type];
}

TaskSpace TaskArgSpace(EventType type) {
  switch (type) {
    case EventType::kTaskCreate:
    case EventType::kTaskStart:
    case EventType::kTaskBlock:
    case EventType::kTaskUnblock:
    case EventType::kTaskYield:
    case EventType::kTaskEnd:
    case EventType::kLabels:
    case EventType::kCpuSample:
      return TaskSpace::kRuntime;
    case EventType::kUserTaskBegin:
    case EventType::kUserTaskEnd:
    case EventType::kRegionBegin:
    case EventType::kRegionEnd:
    case EventType::kLog:
    case EventType::kSetCurrentUserTask:
      return TaskSpace::kUser;
    default:
      return TaskSpace::kNone;
  }
}

absl::string_view BlockReasonName(BlockReason reason) {
  auto i = static_cast<size_t>(reason);
  return i < sizeof(kReasonNames) / sizeof(kReasonNames[0]) ? kReasonNames[i] : "invalid";
}

absl::string_view TaskStatusName(TaskStatus status) {
  switch (status) {
    case TaskStatus::kRunnable: return "runnable";
    case TaskStatus::kRunning: return "running";
    case TaskStatus::kBlocked: return "blocked";
    case TaskStatus::kSyscall: return "syscall";
    default: return "invalid";
  }
}

}  // namespace tracer::format
