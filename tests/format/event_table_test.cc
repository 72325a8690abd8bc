// Invariants of the event table that the writer, reader and dumpers rely on.

#include "format/event_table.h"

#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "gtest/gtest.h"

namespace tracer::format {
namespace {

constexpr int kNumTypes = static_cast<int>(EventType::kNumEventTypes);

TEST(EventTableTest, EveryTypeByteOfTheVersionHasASpecIndexedByItself) {
  for (int t = 1; t < kNumTypes; ++t) {
    const EventSpec* spec = FindEventSpec(static_cast<uint8_t>(t));
    ASSERT_NE(spec, nullptr) << "type " << t;
    EXPECT_EQ(static_cast<int>(spec->type), t);
    EXPECT_EQ(&GetEventSpec(static_cast<EventType>(t)), spec);
  }
}

TEST(EventTableTest, InvalidAndUnknownTypeBytesHaveNoSpec) {
  EXPECT_EQ(FindEventSpec(0), nullptr);
  for (int t = kNumTypes; t < 256; ++t) EXPECT_EQ(FindEventSpec(static_cast<uint8_t>(t)), nullptr);
}

TEST(EventTableTest, NamesAreUniqueCamelCase) {
  std::set<std::string> names;
  for (int t = 1; t < kNumTypes; ++t) {
    const EventSpec& spec = GetEventSpec(static_cast<EventType>(t));
    std::string name = spec.name;
    ASSERT_FALSE(name.empty());
    EXPECT_TRUE(absl::ascii_isupper(name[0])) << name;
    for (char c : name) EXPECT_TRUE(absl::ascii_isalnum(c)) << name;
    EXPECT_TRUE(names.insert(name).second) << "duplicate event name " << name;
  }
}

TEST(EventTableTest, ArgumentsAreWithinLimitsNamedUniquelyAndBytesOnlyLast) {
  for (int t = 1; t < kNumTypes; ++t) {
    const EventSpec& spec = GetEventSpec(static_cast<EventType>(t));
    ASSERT_GE(spec.num_args, 0);
    ASSERT_LE(spec.num_args, kMaxEventArgs);
    std::set<std::string> arg_names;
    for (int a = 0; a < spec.num_args; ++a) {
      ASSERT_NE(spec.args[a].name, nullptr) << spec.name << " arg " << a;
      EXPECT_TRUE(arg_names.insert(spec.args[a].name).second)
          << spec.name << " repeats argument " << spec.args[a].name;
      // The JSON dump already uses these keys for every event.
      for (const char* reserved : {"ts_ns", "real_ns", "thread", "type"}) {
        EXPECT_NE(std::string(spec.args[a].name), reserved) << spec.name;
      }
      if (a + 1 < spec.num_args) {
        EXPECT_NE(spec.args[a].kind, ArgKind::kBytes) << spec.name << ": kBytes not last";
      }
    }
    EXPECT_EQ(spec.has_bytes(),
              spec.num_args > 0 && spec.args[spec.num_args - 1].kind == ArgKind::kBytes);
  }
}

TEST(EventTableTest, EventsThatTheDesignPromisesCarryTheirArguments) {
  // DESIGN.md: stack ids on syscall begin and on the unblock that names a waker, a lock's
  // identity on block and unblock, thread-scoped phases.
  auto has = [](EventType t, const char* name, ArgKind kind) {
    const EventSpec& s = GetEventSpec(t);
    for (int a = 0; a < s.num_args; ++a) {
      if (std::string(s.args[a].name) == name && s.args[a].kind == kind) return true;
    }
    return false;
  };
  EXPECT_TRUE(has(EventType::kSyscallBegin, "stack", ArgKind::kStack));
  EXPECT_TRUE(has(EventType::kTaskUnblock, "stack", ArgKind::kStack));
  EXPECT_TRUE(has(EventType::kTaskUnblock, "waker", ArgKind::kId));
  EXPECT_TRUE(has(EventType::kTaskBlock, "object", ArgKind::kId));
  EXPECT_TRUE(has(EventType::kTaskUnblock, "object", ArgKind::kId));
  EXPECT_TRUE(has(EventType::kTaskBlock, "reason", ArgKind::kReason));
  EXPECT_TRUE(has(EventType::kPhaseBegin, "flags", ArgKind::kPhaseFlags));
  EXPECT_TRUE(has(EventType::kCpuSample, "stack", ArgKind::kStack));
  EXPECT_TRUE(has(EventType::kLog, "message", ArgKind::kBytes));
}

TEST(EventTableTest, EveryBlockReasonAndTaskStatusHasADistinctName) {
  std::set<std::string> names;
  for (int r = 0; r < static_cast<int>(BlockReason::kNumBlockReasons); ++r) {
    std::string n(BlockReasonName(static_cast<BlockReason>(r)));
    EXPECT_NE(n, "invalid");
    EXPECT_TRUE(names.insert(n).second) << n;
  }
  EXPECT_EQ(BlockReasonName(BlockReason::kNumBlockReasons), "invalid");
  EXPECT_EQ(BlockReasonName(BlockReason::kMutex), "mutex");
  names.clear();
  for (int s = 1; s < static_cast<int>(TaskStatus::kNumTaskStatuses); ++s) {
    std::string n(TaskStatusName(static_cast<TaskStatus>(s)));
    EXPECT_NE(n, "invalid");
    EXPECT_TRUE(names.insert(n).second) << n;
  }
  EXPECT_EQ(TaskStatusName(static_cast<TaskStatus>(0)), "invalid");
  EXPECT_EQ(TaskStatusName(TaskStatus::kNumTaskStatuses), "invalid");
}

TEST(EventTableTest, TypeBytesAreFrozen) {
  // Values are part of the wire format: renumbering breaks every existing trace.
  EXPECT_EQ(static_cast<int>(EventType::kThreadStart), 1);
  EXPECT_EQ(static_cast<int>(EventType::kTaskBlock), 5);
  EXPECT_EQ(static_cast<int>(EventType::kSyscallBegin), 9);
  EXPECT_EQ(static_cast<int>(EventType::kLog), 17);
  EXPECT_EQ(static_cast<int>(EventType::kSetCurrentUserTask), 21);
  EXPECT_EQ(static_cast<int>(BlockReason::kPreempted), 10);
  EXPECT_EQ(static_cast<int>(kPhaseStopTheWorld), 1);
  EXPECT_EQ(static_cast<int>(kPhaseThreadScoped), 2);
}

}  // namespace
}  // namespace tracer::format
