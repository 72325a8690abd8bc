// The live-task listing read as Go's goroutine dump: each task with its state, for how long,
// its labels and stack; grouped per state and stack; and a trace with no listing.

#include "tools/analysis/live.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "format/byte_source.h"
#include "format/trace_reader.h"
#include "gtest/gtest.h"
#include "tests/tools/request_trace.h"

namespace tracer::analysis {
namespace {

using format::TaskStatus;

// The request trace (events up to 9 ms), then a listing generation: tasks 5 and 6 blocked on
// the mutex since 6 ms and 8 ms (same stack), task 50 running since 7.1 ms with labels, task 7
// blocked since before the trace.
std::string MakeTraceWithListing() {
  std::string out = MakeRequestTrace();
  format::GenerationBuilder gb(2);
  gb.SetClock({kNsClock, 0, kMono0, kReal0});
  AddRequestTables(&gb);
  gb.AddString(100, "endpoint");
  gb.AddString(101, "/get");
  const std::pair<uint64_t, uint64_t> labels[] = {{100, 101}};
  gb.AddLabelSet(1, labels);
  gb.SetListing();
  gb.AddLiveTask({5, 0, kSWorker, TaskStatus::kBlocked, 0, 0, BlockReason::kMutex, kMutexAddr,
                  Us(6000), kWaiterStack});
  gb.AddLiveTask({6, 0, kSWorker, TaskStatus::kBlocked, 0, 0, BlockReason::kMutex, kMutexAddr,
                  Us(8000), kWaiterStack});
  gb.AddLiveTask({50, 0, kSMain, TaskStatus::kRunning, kMain, 1, BlockReason::kUnknown, 0,
                  Us(7100), kWakerStack});
  gb.AddLiveTask({7, 0, kSWorker, TaskStatus::kBlocked, 0, 0, BlockReason::kChannel, 0, 0, 0});
  gb.AppendTo(&out, /*compress=*/false);
  return out;
}

absl::StatusOr<LiveReport> Compute(const std::string& data) {
  absl::StatusOr<std::unique_ptr<format::TraceReader>> reader =
      format::TraceReader::FromSource(format::MakeStringSource(data));
  if (!reader.ok()) return reader.status();
  return ComputeLive(reader->get());
}

TEST(LiveTest, ListsEachTaskWithItsStateSinceWhenAndStack) {
  absl::StatusOr<LiveReport> r = Compute(MakeTraceWithListing());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_listing);
  ASSERT_EQ(r->tasks.size(), 4u);
  // The listing is written at the trace's last event (9 ms after the 500 us first one).
  EXPECT_EQ(r->at_ns, 8'500'000);
  // Blocked first, longest first; the one blocked since before the trace has no duration.
  EXPECT_EQ(r->tasks[0].id, 5u);
  EXPECT_EQ(r->tasks[0].for_ns, 3'000'000);
  EXPECT_EQ(r->tasks[0].reason, "mutex");
  EXPECT_EQ(r->tasks[0].object, kMutexAddr);
  EXPECT_EQ(r->tasks[0].stack[1], "Cache::Get");
  EXPECT_FALSE(r->tasks[0].stack_is_create);
  EXPECT_EQ(r->tasks[1].id, 6u);
  EXPECT_EQ(r->tasks[2].id, 7u);
  EXPECT_EQ(r->tasks[2].for_ns, -1);
  const LiveTaskEntry& running = r->tasks[3];
  EXPECT_EQ(running.id, 50u);
  EXPECT_EQ(running.status, "running");
  EXPECT_EQ(running.thread, kMain);
  EXPECT_EQ(running.for_ns, 1'900'000);
  ASSERT_EQ(running.labels.size(), 1u);
  EXPECT_EQ(running.labels[0].second, "/get");
  EXPECT_TRUE(running.stack_is_create);
  const std::string text = FormatLiveText(*r, /*group=*/false);
  EXPECT_TRUE(absl::StrContains(text, "task 5 \"worker\" blocked mutex on 0xabc for 3.00ms"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "since before the trace")) << text;
  EXPECT_TRUE(absl::StrContains(text, "labels endpoint=/get")) << text;
}

TEST(LiveTest, GroupCountsTasksPerStateAndStack) {
  absl::StatusOr<LiveReport> r = Compute(MakeTraceWithListing());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->groups.size(), 3u);
  EXPECT_EQ(r->groups[0].count, 2u);
  EXPECT_EQ(r->groups[0].reason, "mutex");
  EXPECT_EQ(r->groups[0].ids, (std::vector<uint64_t>{5, 6}));
  EXPECT_EQ(r->groups[0].longest_ns, 3'000'000);
  const std::string text = FormatLiveText(*r, /*group=*/true);
  EXPECT_TRUE(absl::StrContains(text, "2 tasks: blocked mutex, the longest for 3.00ms (task 5, 6)"))
      << text;
  const std::string json = FormatLiveJson(*r, /*group=*/true);
  EXPECT_TRUE(absl::StrContains(json, "\"count\":2")) << json;
}

TEST(LiveTest, TraceWithoutListingSaysSo) {
  absl::StatusOr<LiveReport> r = Compute(MakeRequestTrace());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->has_listing);
  EXPECT_TRUE(absl::StrContains(FormatLiveText(*r, false), "no live-task listing"));
  EXPECT_TRUE(absl::StrContains(FormatLiveJson(*r, false), "\"has_listing\":false"));
}

TEST(LiveTest, TruncatedTraceReturnsTheReadersError) {
  std::string data = MakeTraceWithListing();
  data.resize(data.size() - 5);
  absl::StatusOr<LiveReport> r = Compute(data);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "offset")) << r.status();
}

}  // namespace
}  // namespace tracer::analysis
