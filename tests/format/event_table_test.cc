// Invariants of the event table that the writer, reader and dumpers rely on.

#include "format/event_table.h"

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
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

// The kind names FORMAT.md's event table uses ("name:kind").
absl::string_view KindName(ArgKind k) {
  switch (k) {
    case ArgKind::kId: return "id";
    case ArgKind::kString: return "string";
    case ArgKind::kStack: return "stack";
    case ArgKind::kLabelSet: return "labelset";
    case ArgKind::kUint: return "uint";
    case ArgKind::kSint: return "sint";
    case ArgKind::kReason: return "reason";
    case ArgKind::kPhaseFlags: return "phaseflags";
    case ArgKind::kBytes: return "bytes";
  }
  return "?";
}

struct DocRow {
  int type = 0;
  std::string name;
  std::string args;  // "task:id, seq:uint", or "" for none
};

// The rows of the table under "## Event table" in format/FORMAT.md.
std::vector<DocRow> ReadFormatMdEventTable() {
  std::ifstream in(std::string(TRACER_SOURCE_DIR) + "/format/FORMAT.md");
  EXPECT_TRUE(in.good()) << "cannot open format/FORMAT.md";
  std::vector<DocRow> rows;
  std::string line;
  bool in_section = false, in_table = false;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "## ")) {
      if (in_section) break;
      in_section = line == "## Event table";
      continue;
    }
    if (!in_section) continue;
    if (!absl::StartsWith(line, "|")) {
      if (in_table) break;  // the table ended
      continue;
    }
    in_table = true;
    std::vector<std::string> cells = absl::StrSplit(line, '|');
    // "| a | b |" splits into "", " a ", " b ", "".
    if (cells.size() < 5) continue;
    for (std::string& c : cells) c = std::string(absl::StripAsciiWhitespace(c));
    DocRow row;
    if (!absl::SimpleAtoi(cells[1], &row.type)) continue;  // the header and the rule
    row.name = cells[2];
    row.args = cells[3] == "—" ? "" : cells[3];
    rows.push_back(row);
  }
  return rows;
}

TEST(EventTableTest, FormatMdEventTableAgreesWithTheCode) {
  const std::vector<DocRow> rows = ReadFormatMdEventTable();
  ASSERT_EQ(rows.size(), static_cast<size_t>(kNumTypes - 1))
      << "FORMAT.md's event table should list every type byte 1.." << kNumTypes - 1;
  std::set<int> seen;
  for (const DocRow& row : rows) {
    SCOPED_TRACE("FORMAT.md row for type " + std::to_string(row.type) + " " + row.name);
    EXPECT_TRUE(seen.insert(row.type).second) << "listed twice";
    const EventSpec* spec = FindEventSpec(static_cast<uint8_t>(row.type));
    ASSERT_NE(spec, nullptr) << "no such type byte in format/event_table.cc";
    EXPECT_EQ(row.name, spec->name);
    std::vector<std::string> args;
    for (int a = 0; a < spec->num_args; ++a) {
      args.push_back(absl::StrCat(spec->args[a].name, ":", KindName(spec->args[a].kind)));
    }
    EXPECT_EQ(row.args, absl::StrJoin(args, ", "));
  }
}

// The parser above must be able to fail: a row that disagrees is seen as a disagreement.
TEST(EventTableTest, FormatMdEventTableParserReadsTheRowsItShould) {
  const std::vector<DocRow> rows = ReadFormatMdEventTable();
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.front().type, 1);
  EXPECT_EQ(rows.front().name, "ThreadStart");
  EXPECT_EQ(rows.front().args, "");
  const EventSpec& create = GetEventSpec(EventType::kTaskCreate);
  EXPECT_EQ(rows[2].name, create.name);
  EXPECT_NE(rows[2].args.find("labels:labelset"), std::string::npos);
}

// Every event whose args[0] is `task` names runtime or user tasks, and no other event does.
TEST(EventTableTest, TaskArgSpaceMatchesTheTaskArgument) {
  for (int t = 1; t < static_cast<int>(EventType::kNumEventTypes); ++t) {
    const EventType type = static_cast<EventType>(t);
    const EventSpec& spec = GetEventSpec(type);
    const bool has_task = spec.num_args > 0 && absl::string_view(spec.args[0].name) == "task";
    EXPECT_EQ(TaskArgSpace(type) != TaskSpace::kNone, has_task) << spec.name;
  }
  EXPECT_EQ(TaskArgSpace(EventType::kTaskBlock), TaskSpace::kRuntime);
  EXPECT_EQ(TaskArgSpace(EventType::kCpuSample), TaskSpace::kRuntime);
  EXPECT_EQ(TaskArgSpace(EventType::kRegionBegin), TaskSpace::kUser);
  EXPECT_EQ(TaskArgSpace(EventType::kCounter), TaskSpace::kNone);
}

}  // namespace
}  // namespace tracer::format
