#include "tools/analysis/trace_stats.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "format/constants.h"
#include "format/event_table.h"
#include "format/generation.h"
#include "format/trace_reader.h"
#include "format/trace_writer.h"
#include "gtest/gtest.h"

namespace tracer::analysis {
namespace {

using format::EventType;

constexpr uint64_t kHz = 1'000'000'000 / 64;  // one tick = 64 ns: exact conversions
constexpr int64_t kMono0 = 1'000'000'000;
constexpr int64_t kReal0 = 1'700'000'000'000'000'000;  // 2023-11-14T22:13:20Z

size_t Idx(EventType t) { return static_cast<size_t>(t); }

// Two generations. The first (uncompressed): threads 10 "main" and 11 "worker", runtime tasks
// 5 (created by 10, parent 4) and 6 (in the task table), user task 1; a loss record for 11. The
// second (compressed): a state table naming task 7 and user task 2, thread 12 with no name,
// 200 counter events that compress well, a second loss record for 11.
class TraceStatsTest : public ::testing::Test {
 protected:
  static std::string MakeTrace() {
    std::string out;
    format::AppendFileHeader(&out);
    {
      format::GenerationBuilder gb(1);
      gb.SetClock({kHz, 1000, kMono0, kReal0});
      gb.AddString(1, "main");
      gb.AddString(2, "worker");
      gb.AddString(3, "req");
      gb.AddString(4, "parse");
      gb.AddThread({10, 1});
      gb.AddThread({11, 2});
      gb.AddTask({6, 0, 3, format::TaskStatus::kRunnable, 0, 0, 1, format::BlockReason::kUnknown});
      gb.AddLoss({11, 9, 1100, 1200});
      format::EventEncoder main(1000);
      main.Append(EventType::kThreadStart, 1000, {});           // first event: tick 1000
      main.Append(EventType::kTaskCreate, 1010, {5, 4, 3, 0, 0});
      main.Append(EventType::kUserTaskBegin, 1020, {1, 0, 3, 0});
      gb.AddBatch(10, 0, main.base_tick(), main.num_events(), main.data());
      format::EventEncoder worker(1000);
      worker.Append(EventType::kTaskStart, 1030, {5, 1});
      worker.Append(EventType::kRegionBegin, 1040, {1, 4, 0});
      worker.Append(EventType::kRegionEnd, 1050, {1, 4});
      worker.Append(EventType::kTaskBlock, 1060,
                    {5, static_cast<uint64_t>(format::BlockReason::kMutex), 0xabc, 0});
      gb.AddBatch(11, 0, worker.base_tick(), worker.num_events(), worker.data());
      gb.AppendTo(&out, /*compress=*/false);
    }
    {
      format::GenerationBuilder gb(2);
      gb.SetClock({kHz, 2000, kMono0 + 1000 * 64, kReal0 + 1000 * 64});
      gb.AddString(1, "main");
      gb.AddString(2, "q");
      gb.AddTask({7, 0, 0, format::TaskStatus::kBlocked, 0, 0, 3, format::BlockReason::kChannel});
      gb.AddUserTask({2, 0, 0});
      gb.AddThread({10, 1});
      gb.AddLoss({11, 4, 2000, 2001});
      format::EventEncoder t12(2000);
      for (int i = 0; i < 200; ++i) t12.Append(EventType::kCounter, 2000 + i, {2, 7});
      t12.Append(EventType::kTaskUnblock, 2500, {5, 2, 0, 0xabc, 0});  // last event: tick 2500
      gb.AddBatch(12, 0, t12.base_tick(), t12.num_events(), t12.data());
      gb.AppendTo(&out, /*compress=*/true);
    }
    return out;
  }

  static absl::StatusOr<TraceStats> Stats(std::string data,
                                          const EventFilterOptions& filter = {}) {
    auto reader = format::TraceReader::FromSource(format::MakeStringSource(std::move(data)));
    if (!reader.ok()) return reader.status();
    return ComputeTraceStats(reader->get(), filter);
  }
};

TEST_F(TraceStatsTest, CountsAreExact) {
  const std::string data = MakeTrace();
  absl::StatusOr<TraceStats> st = Stats(data);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->version_major, 2);
  EXPECT_EQ(st->version_minor, 0);
  EXPECT_EQ(st->file_bytes, data.size());
  EXPECT_EQ(st->generations, 2u);
  EXPECT_EQ(st->compressed_generations, 1u);
  EXPECT_EQ(st->batches, 3u);
  EXPECT_EQ(st->events, 208u);
  EXPECT_EQ(st->events_by_type[Idx(EventType::kCounter)], 200u);
  EXPECT_EQ(st->events_by_type[Idx(EventType::kThreadStart)], 1u);
  EXPECT_EQ(st->events_by_type[Idx(EventType::kTaskCreate)], 1u);
  EXPECT_EQ(st->events_by_type[Idx(EventType::kTaskUnblock)], 1u);
  EXPECT_EQ(st->events_by_type[Idx(EventType::kRegionEnd)], 1u);
  EXPECT_EQ(st->events_by_type[Idx(EventType::kLog)], 0u);
  // Runtime tasks: 5 (events), 4 (TaskCreate parent), 6 and 7 (task tables).
  EXPECT_EQ(st->tasks, 4u);
  // User tasks: 1 (events), 2 (user-task table).
  EXPECT_EQ(st->user_tasks, 2u);
  EXPECT_DOUBLE_EQ(st->bytes_per_event(), static_cast<double>(data.size()) / 208.0);
}

// Distinct tasks are counted in memory bounded by the live ones: an ended task is forgotten
// after its generation, never while another thread's batch of that generation may still name
// it (batch 11 below ends task 5 and is read before batch 12, whose unblock of 5 came first),
// and many short-lived tasks over many generations count once each.
TEST_F(TraceStatsTest, EndedTasksCountOnceAcrossBatchesAndGenerations) {
  std::string out;
  format::AppendFileHeader(&out);
  constexpr int kGenerations = 50, kTasksPerGeneration = 20;
  uint64_t next_task = 100;
  for (int g = 0; g < kGenerations; ++g) {
    format::GenerationBuilder gb(g + 1);
    const uint64_t t0 = 1000 + g * 1000;
    gb.SetClock({kHz, t0, kMono0 + static_cast<int64_t>(t0) * 64, kReal0});
    format::EventEncoder ender(t0), waker(t0);
    for (int i = 0; i < kTasksPerGeneration; ++i) {
      const uint64_t id = next_task++;
      const uint64_t at = t0 + i * 10;
      ender.Append(EventType::kTaskCreate, at, {id, 0, 0, 0, 0});
      waker.Append(EventType::kTaskUnblock, at + 1, {id, 0, 0, 0, 0});
      ender.Append(EventType::kTaskEnd, at + 2, {id});
      ender.Append(EventType::kUserTaskBegin, at + 3, {id, 0, 0, 0});
      waker.Append(EventType::kSetCurrentUserTask, at + 4, {id});
      ender.Append(EventType::kUserTaskEnd, at + 5, {id});
    }
    gb.AddBatch(11, 0, ender.base_tick(), ender.num_events(), ender.data());
    gb.AddBatch(12, 0, waker.base_tick(), waker.num_events(), waker.data());
    gb.AppendTo(&out, /*compress=*/false);
  }
  absl::StatusOr<TraceStats> st = Stats(out);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->tasks, static_cast<uint64_t>(kGenerations * kTasksPerGeneration));
  EXPECT_EQ(st->user_tasks, static_cast<uint64_t>(kGenerations * kTasksPerGeneration));
}

TEST_F(TraceStatsTest, ThreadsComeFromTablesBatchesAndLosses) {
  absl::StatusOr<TraceStats> st = Stats(MakeTrace());
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_EQ(st->threads.size(), 3u);
  const ThreadStats& main = st->threads.at(10);
  EXPECT_EQ(main.name, "main");
  EXPECT_EQ(main.events, 3u);
  const ThreadStats& worker = st->threads.at(11);
  EXPECT_EQ(worker.name, "worker");  // named in generation 1 only: the name is kept
  EXPECT_EQ(worker.events, 4u);
  EXPECT_EQ(worker.loss_records, 2u);
  EXPECT_EQ(worker.lost_events, 13u);
  const ThreadStats& unnamed = st->threads.at(12);
  EXPECT_EQ(unnamed.name, "");
  EXPECT_EQ(unnamed.events, 201u);
  EXPECT_EQ(st->loss_records, 2u);
  EXPECT_EQ(st->lost_events, 13u);
}

TEST_F(TraceStatsTest, TimeSpanUsesEachGenerationsClock) {
  absl::StatusOr<TraceStats> st = Stats(MakeTrace());
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->first_event_mono_ns, kMono0);  // tick 1000 is generation 1's snapshot
  // Tick 2500 in generation 2: its snapshot (tick 2000) + 500 ticks of 64 ns.
  EXPECT_EQ(st->last_event_mono_ns, kMono0 + 1000 * 64 + 500 * 64);
  EXPECT_EQ(st->duration_ns(), 1500 * 64);
  EXPECT_EQ(st->first_event_real_ns, kReal0);
  EXPECT_EQ(FormatRfc3339(st->first_event_real_ns), "2023-11-14T22:13:20Z");
}

TEST_F(TraceStatsTest, Rfc3339KeepsNanoseconds) {
  EXPECT_EQ(FormatRfc3339(kReal0 + 1), "2023-11-14T22:13:20.000000001Z");
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
}

TEST_F(TraceStatsTest, EmptyTraceHasNoEventsAndNoSpan) {
  std::string data;
  format::AppendFileHeader(&data);
  absl::StatusOr<TraceStats> st = Stats(data);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->generations, 0u);
  EXPECT_EQ(st->events, 0u);
  EXPECT_EQ(st->file_bytes, 16u);
  EXPECT_EQ(st->duration_ns(), 0);
  EXPECT_EQ(st->bytes_per_event(), 0.0);
  EXPECT_TRUE(absl::StrContains(FormatTraceStatsText(*st), "no events"));
}

TEST_F(TraceStatsTest, TruncatedTraceIsAnErrorWithOffset) {
  std::string data = MakeTrace();
  data.resize(data.size() - 3);
  absl::StatusOr<TraceStats> st = Stats(data);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.status().message(), "offset")) << st.status();
}

TEST_F(TraceStatsTest, TextAndJsonReportTheNumbers) {
  absl::StatusOr<TraceStats> st = Stats(MakeTrace());
  ASSERT_TRUE(st.ok()) << st.status();
  const std::string text = FormatTraceStatsText(*st);
  EXPECT_TRUE(absl::StrContains(text, "generations:      2 (1 compressed), 3 batches")) << text;
  EXPECT_TRUE(absl::StrContains(text, "Counter              200")) << text;
  EXPECT_TRUE(absl::StrContains(text, "runtime tasks:    4")) << text;
  EXPECT_TRUE(absl::StrContains(text, "losses:           2 records, 13 events lost")) << text;
  EXPECT_TRUE(absl::StrContains(text, "wall-clock start: 2023-11-14T22:13:20Z")) << text;
  const std::string json = FormatTraceStatsJson(*st);
  EXPECT_TRUE(absl::StrContains(json, "\"events\":208,")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"events_by_type\":{\"ThreadStart\":1,")) << json;
  EXPECT_TRUE(absl::StrContains(json, "{\"id\":11,\"name\":\"worker\",\"events\":4,"
                                      "\"loss_records\":2,\"lost_events\":13}"))
      << json;
  EXPECT_TRUE(absl::StrContains(json, "\"duration_ns\":96000,")) << json;
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
}

// The listing that ends a dump is counted apart from the generations with events, its tasks
// by status (the last listing's), and its task ids join the distinct runtime tasks.
TEST_F(TraceStatsTest, ListingIsCountedApartWithItsTasksByStatus) {
  std::string data = MakeTrace();
  format::GenerationBuilder gb(3);
  gb.SetClock({kHz, 3000, kMono0 + 2000 * 64, kReal0 + 2000 * 64});
  gb.SetListing();
  gb.AddString(3, "req");
  using format::BlockReason;
  using format::TaskStatus;
  gb.AddLiveTask({5, 4, 3, TaskStatus::kRunnable, 0, 0, BlockReason::kUnknown, 0, 2500, 0});
  gb.AddLiveTask({7, 0, 3, TaskStatus::kBlocked, 0, 0, BlockReason::kChannel, 0x10, 900, 0});
  gb.AddLiveTask({8, 0, 3, TaskStatus::kBlocked, 0, 0, BlockReason::kSleep, 0, 950, 0});
  gb.AddLiveTask({9, 0, 3, TaskStatus::kSyscall, 10, 0, BlockReason::kUnknown, 0, 2900, 0});
  gb.AppendTo(&data, /*compress=*/false);
  absl::StatusOr<TraceStats> st = Stats(data);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->generations, 2u);
  EXPECT_EQ(st->listings, 1u);
  EXPECT_EQ(st->live_tasks, 4u);
  const auto n = [&](TaskStatus s) { return st->live_tasks_by_status[static_cast<size_t>(s)]; };
  EXPECT_EQ(n(TaskStatus::kBlocked), 2u);
  EXPECT_EQ(n(TaskStatus::kRunnable), 1u);
  EXPECT_EQ(n(TaskStatus::kSyscall), 1u);
  EXPECT_EQ(n(TaskStatus::kRunning), 0u);
  EXPECT_EQ(st->tasks, 6u) << "4, 5, 6, 7 from the generations; 8 and 9 from the listing";
  const std::string text = FormatTraceStatsText(*st);
  EXPECT_TRUE(absl::StrContains(
      text, "live at the end:  4 (0 running, 1 in syscall, 1 runnable, 2 blocked)\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(FormatTraceStatsJson(*st),
                                "\"listings\":1,\"live_tasks\":{\"total\":4,\"running\":0,"
                                "\"syscall\":1,\"runnable\":1,\"blocked\":2}"));
}

// A crash dump's dropped batches are reported with their generation, offset and thread; the
// events of the batches that read are counted.
TEST_F(TraceStatsTest, CrashBatchesDroppedAreReportedWithOffsetAndThread) {
  std::string data;
  format::AppendFileHeader(&data);
  format::GenerationBuilder gb(9);
  gb.SetClock({kHz, 1000, kMono0, kReal0});
  gb.SetCrash();
  gb.AddString(2, "q");
  format::EventEncoder good(1000);
  good.Append(EventType::kCounter, 1001, {2, 5});
  good.Append(EventType::kCounter, 1002, {2, 6});
  gb.AddCrashBatch(20, 0, good.base_tick(), good.data());
  gb.AddCrashBatchWithCrcForTesting(21, 0, good.base_tick(), good.data(), 12345);
  gb.AppendTo(&data, /*compress=*/false);
  absl::StatusOr<TraceStats> st = Stats(data);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->events, 2u);
  EXPECT_EQ(st->crash_generations, 1u);
  ASSERT_EQ(st->dropped_batches.size(), 1u);
  EXPECT_EQ(st->dropped_batches[0].generation_seq, 9u);
  EXPECT_EQ(st->dropped_batches[0].batch.thread, 21u);
  EXPECT_EQ(static_cast<uint8_t>(data[st->dropped_batches[0].batch.file_offset]),
            static_cast<uint8_t>(format::SectionKind::kCrashBatch));
  const std::string text = FormatTraceStatsText(*st);
  EXPECT_TRUE(absl::StrContains(text, "crash dump:       1 crash generations, 1 batches dropped\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, absl::StrCat("  generation 9, file offset ", st->dropped_batches[0].batch.file_offset,
                         ", T21: crash batch checksum mismatch")))
      << text;
  EXPECT_TRUE(absl::StrContains(FormatTraceStatsJson(*st), "\"dropped_batches\":[{\"generation\":9,"));
}

// --task 5: its TaskCreate on main, its four events on the worker (the regions while it runs
// there), its TaskUnblock in generation 2. The counts are of those six; the file's numbers stay.
TEST_F(TraceStatsTest, AFilterCountsOnlyTheMatchingEvents) {
  const std::string data = MakeTrace();
  EventFilterOptions filter;
  filter.tasks = {5};
  absl::StatusOr<TraceStats> st = Stats(data, filter);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->filter, "--task 5");
  EXPECT_EQ(st->events, 6u);
  EXPECT_EQ(st->total_events, 208u);
  EXPECT_EQ(st->events_by_type[Idx(EventType::kCounter)], 0u);
  EXPECT_EQ(st->events_by_type[Idx(EventType::kThreadStart)], 0u);
  EXPECT_EQ(st->events_by_type[Idx(EventType::kRegionBegin)], 1u);
  EXPECT_EQ(st->events_by_type[Idx(EventType::kTaskUnblock)], 1u);
  EXPECT_EQ(st->threads.at(10).events, 1u);
  EXPECT_EQ(st->threads.at(11).events, 4u);
  EXPECT_EQ(st->threads.at(12).events, 1u);
  EXPECT_EQ(st->tasks, 2u) << "5, and 4 as its TaskCreate's parent; not the tables' 6 and 7";
  EXPECT_EQ(st->user_tasks, 1u) << "the regions' user task 1; not the table's 2";
  EXPECT_EQ(st->first_event_mono_ns, kMono0 + 10 * 64);  // the TaskCreate at tick 1010
  EXPECT_EQ(st->last_event_mono_ns, kMono0 + 1000 * 64 + 500 * 64);
  EXPECT_EQ(st->generations, 2u);
  EXPECT_EQ(st->batches, 3u);
  EXPECT_EQ(st->lost_events, 13u);
  EXPECT_EQ(st->file_bytes, data.size());
  EXPECT_DOUBLE_EQ(st->bytes_per_event(), static_cast<double>(data.size()) / 208.0);
  const std::string text = FormatTraceStatsText(*st);
  EXPECT_TRUE(absl::StartsWith(text, "filter:           --task 5 (")) << text;
  EXPECT_TRUE(absl::StrContains(text, "events:           6 matching of 208 (")) << text;
  const std::string json = FormatTraceStatsJson(*st);
  EXPECT_TRUE(absl::StrContains(json, "\"filter\":\"--task 5\",\"total_events\":208,\"events\":6,"))
      << json;
}

// The window is in ns since the first event (tick 1000): generation 2's counters are at
// 1000 + i ticks of 64 ns from there.
TEST_F(TraceStatsTest, AWindowAndATypeCountTheEventsInBoth) {
  EventFilterOptions filter;
  filter.types = {EventType::kCounter};
  filter.from_ns = (1000 + 100) * 64;
  absl::StatusOr<TraceStats> st = Stats(MakeTrace(), filter);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->events, 100u) << "counters 100..199; not the TaskUnblock after them";
  filter.to_ns = (1000 + 109) * 64;
  st = Stats(MakeTrace(), filter);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->events, 10u) << "counters 100..109, both edges included";
  EXPECT_EQ(st->duration_ns(), 9 * 64);
}

TEST_F(TraceStatsTest, WithoutAFilterEveryEventCountsAndNoneIsNamed) {
  absl::StatusOr<TraceStats> st = Stats(MakeTrace());
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->filter, "");
  EXPECT_EQ(st->total_events, st->events);
  EXPECT_FALSE(absl::StrContains(FormatTraceStatsText(*st), "filter")) << "no filter line";
  EXPECT_TRUE(absl::StrContains(FormatTraceStatsJson(*st), "\"filter\":\"\",\"total_events\":208,"));
}

TEST_F(TraceStatsTest, ATruncatedTraceIsAnErrorWithAFilterToo) {
  std::string data = MakeTrace();
  data.resize(data.size() - 3);
  EventFilterOptions filter;
  filter.threads = {"worker"};
  absl::StatusOr<TraceStats> st = Stats(data, filter);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.status().message(), "offset")) << st.status();
}

}  // namespace
}  // namespace tracer::analysis
