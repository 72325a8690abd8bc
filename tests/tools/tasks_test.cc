// The runtime-task analysis on a scripted pool: three jobs queued on one worker, a mutex wait
// woken by the main thread's task, a syscall, and a stop-the-world phase; and one job's
// timeline. One tick = 1 ns.

#include "tools/analysis/tasks.h"

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "format/byte_source.h"
#include "format/trace_reader.h"
#include "gtest/gtest.h"
#include "tests/tools/request_trace.h"

namespace tracer::analysis {
namespace {

size_t Blocked(BlockReason r) {
  return static_cast<size_t>(ThreadTimeState::kBlocked) + static_cast<size_t>(r);
}
constexpr size_t kRunning = static_cast<size_t>(ThreadTimeState::kRunning);
constexpr size_t kRunnable = static_cast<size_t>(ThreadTimeState::kRunnable);
constexpr size_t kSyscall = static_cast<size_t>(ThreadTimeState::kSyscall);
constexpr size_t kPhase = static_cast<size_t>(ThreadTimeState::kPhase);
constexpr size_t kStopped = static_cast<size_t>(ThreadTimeState::kStopped);

constexpr uint64_t kMainTask = 100;
enum : uint64_t { kSJob = 100, kSMainTask };

// `main` (running task 100 from 0 to 7 ms) creates jobs 1, 2, 3 ("job") at 0; `worker` runs
// them in turn: job 1 from 1 ms, blocked on the mutex 2..2.5 ms (woken by task 100 with the
// unlock stack), running again at 2.7, ends at 3; job 2 3..5 ms with a read 3.5..4; job 3
// 5..6 ms; main's stop-the-world "gc" 5.2..5.4 ms.
std::string MakePoolTrace(bool truncate = false) {
  std::string out;
  format::AppendFileHeader(&out);
  format::GenerationBuilder gb(1);
  gb.SetClock({kNsClock, 0, kMono0, kReal0});
  AddRequestTables(&gb);
  gb.AddString(kSJob, "job");
  gb.AddString(kSMainTask, "main task");
  format::EventEncoder main(0);
  main.Append(EventType::kTaskCreate, 0, {kMainTask, 0, kSMainTask, 0, 0});
  main.Append(EventType::kTaskStart, 0, {kMainTask, 1});
  for (uint64_t job = 1; job <= 3; ++job) {
    main.Append(EventType::kTaskCreate, 0, {job, kMainTask, kSJob, 0, kWaiterStack});
  }
  main.Append(EventType::kTaskUnblock, Us(2500), {1, 3, kMainTask, kMutexAddr, kWakerStack});
  main.Append(EventType::kPhaseBegin, Us(5200), {kSGc, format::kPhaseStopTheWorld});
  main.Append(EventType::kPhaseEnd, Us(5400), {kSGc});
  main.Append(EventType::kTaskEnd, Us(7000), {kMainTask});
  gb.AddBatch(kMain, 0, main.base_tick(), main.num_events(), main.data());
  format::EventEncoder worker(0);
  worker.Append(EventType::kTaskStart, Us(1000), {1, 2});
  worker.Append(EventType::kTaskBlock, Us(2000),
                {1, R(BlockReason::kMutex), kMutexAddr, kWaiterStack});
  worker.Append(EventType::kTaskStart, Us(2700), {1, 4});
  worker.Append(EventType::kTaskEnd, Us(3000), {1});
  worker.Append(EventType::kTaskStart, Us(3000), {2, 1});
  worker.Append(EventType::kSyscallBegin, Us(3500), {kSRead, 0});
  worker.Append(EventType::kSyscallEnd, Us(4000), {});
  worker.Append(EventType::kTaskEnd, Us(5000), {2});
  worker.Append(EventType::kTaskStart, Us(5000), {3, 1});
  worker.Append(EventType::kTaskEnd, Us(6000), {3});
  gb.AddBatch(kWorker, 0, worker.base_tick(), worker.num_events(), worker.data());
  gb.AppendTo(&out, /*compress=*/false);
  if (truncate) out.resize(out.size() - 7);
  return out;
}

absl::StatusOr<TasksReport> Compute(const std::string& data, TasksOptions options = {}) {
  absl::StatusOr<std::unique_ptr<format::TraceReader>> reader =
      format::TraceReader::FromSource(format::MakeStringSource(data));
  if (!reader.ok()) return reader.status();
  return ComputeTasks(reader->get(), options);
}

const TaskGroupReport* Group(const TasksReport& r, const std::string& name) {
  for (const TaskGroupReport& g : r.groups) {
    if (g.name == name) return &g;
  }
  return nullptr;
}

TEST(TasksTest, EachJobsLifeIsSplitByStateAndThePartsAddUp) {
  absl::StatusOr<TasksReport> r = Compute(MakePoolTrace());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->groups.size(), 2u);
  const TaskGroupReport* jobs = Group(*r, "job");
  ASSERT_NE(jobs, nullptr);
  EXPECT_EQ(r->groups[0].name, "job") << "14 ms of life against main's 7";
  EXPECT_EQ(jobs->count, 3u);
  EXPECT_EQ(jobs->alive_at_end, 0u);
  EXPECT_EQ(jobs->created_before_trace, 0u);
  EXPECT_EQ(jobs->life.sum(), 14'000'000);
  // Job 1: queued 1, running 1 + 0.3, mutex 0.5, runnable after the wake 0.2.
  // Job 2: queued 3, running 1.5, read 0.5. Job 3: queued 5, running 0.8, stopped 0.2.
  EXPECT_EQ(jobs->total.ns[kRunnable], 9'200'000);
  EXPECT_EQ(jobs->total.ns[kRunning], 3'600'000);
  EXPECT_EQ(jobs->total.ns[Blocked(BlockReason::kMutex)], 500'000);
  EXPECT_EQ(jobs->total.ns[kSyscall], 500'000);
  EXPECT_EQ(jobs->total.ns[kStopped], 200'000);
  EXPECT_EQ(jobs->total.total(), jobs->life.sum());
  // Per-task distributions: mean = total / count, quantiles within 1%.
  const LatencyHistogram& runnable = jobs->per_task[kRunnable];
  EXPECT_EQ(runnable.count(), 3u);
  EXPECT_NEAR(runnable.Quantile(0.5), 3'000'000, 30'000);
  EXPECT_EQ(runnable.max(), 5'000'000);
  EXPECT_EQ(jobs->per_task[kStopped].Quantile(0.5), 0) << "two of three jobs were never stopped";
  ASSERT_EQ(jobs->longest.size(), 3u);
  EXPECT_EQ(jobs->longest[0].id, 3u);
  EXPECT_EQ(jobs->longest[0].life_ns, 6'000'000);
  EXPECT_EQ(jobs->longest[2].id, 1u);
  EXPECT_EQ(jobs->longest[2].breakdown.ns[kRunnable], 1'200'000);
  for (const TaskInstance& t : jobs->longest) EXPECT_EQ(t.breakdown.total(), t.life_ns);

  const TaskGroupReport* main = Group(*r, "main task");
  ASSERT_NE(main, nullptr);
  EXPECT_EQ(main->count, 1u);
  EXPECT_EQ(main->total.ns[kPhase], 200'000) << "its own stop-the-world phase";
  EXPECT_EQ(main->total.ns[kRunning], 6'800'000);
}

TEST(TasksTest, NameFilterKeepsOneGroup) {
  TasksOptions options;
  options.name = "job";
  absl::StatusOr<TasksReport> r = Compute(MakePoolTrace(), options);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->groups.size(), 1u);
  EXPECT_EQ(r->groups[0].total.ns[kRunnable], 9'200'000);
}

TEST(TasksTest, TimelineShowsEachWaitAndItsWaker) {
  TasksOptions options;
  options.id = 1;
  absl::StatusOr<TasksReport> r = Compute(MakePoolTrace(), options);
  ASSERT_TRUE(r.ok()) << r.status();
  const TaskTimeline& tl = r->timeline;
  ASSERT_TRUE(tl.found);
  EXPECT_EQ(tl.name, "job");
  EXPECT_EQ(tl.parent, kMainTask);
  EXPECT_TRUE(tl.ended);
  ASSERT_EQ(tl.create_stack.size(), 3u);
  EXPECT_EQ(tl.create_stack[0], "tracer::Mutex::Lock");
  struct Want {
    int64_t begin_us, end_us;
    size_t state;
  };
  const Want want[] = {{0, 1000, kRunnable},
                       {1000, 2000, kRunning},
                       {2000, 2500, Blocked(BlockReason::kMutex)},
                       {2500, 2700, kRunnable},
                       {2700, 3000, kRunning}};
  std::vector<const TaskSpan*> spans;
  for (const TaskSpan& s : tl.spans) {
    if (s.end_ns > s.begin_ns) spans.push_back(&s);
  }
  ASSERT_EQ(spans.size(), std::size(want));
  for (size_t i = 0; i < spans.size(); ++i) {
    EXPECT_EQ(spans[i]->begin_ns, want[i].begin_us * 1000) << i;
    EXPECT_EQ(spans[i]->end_ns, want[i].end_us * 1000) << i;
    EXPECT_EQ(spans[i]->state, want[i].state) << i;
  }
  EXPECT_EQ(spans[0]->thread, 0u) << "queued: on no thread";
  EXPECT_EQ(spans[1]->thread, kWorker);
  const TaskSpan& wait = *spans[2];
  EXPECT_EQ(wait.object, kMutexAddr);
  ASSERT_EQ(wait.block_stack.size(), 3u);
  EXPECT_EQ(wait.block_stack[1], "Cache::Get");
  EXPECT_TRUE(wait.woken);
  EXPECT_EQ(wait.waker, kMainTask);
  EXPECT_EQ(wait.waker_name, "main task");
  EXPECT_EQ(wait.waker_thread, kMain);
  ASSERT_EQ(wait.waker_stack.size(), 3u);
  EXPECT_EQ(wait.waker_stack[0], "tracer::Mutex::Unlock");

  const std::string text = FormatTaskTimelineText(tl);
  EXPECT_TRUE(absl::StrContains(text, "woken by task 100 \"main task\"")) << text;
  EXPECT_TRUE(absl::StrContains(text, "Cache::Refresh")) << text;
  EXPECT_TRUE(absl::StrContains(text, "total 3.00ms")) << text;
  const std::string json = FormatTaskTimelineJson(tl);
  EXPECT_TRUE(absl::StrContains(json, "\"waker\":100")) << json;
}

TEST(TasksTest, UnknownIdSaysSo) {
  TasksOptions options;
  options.id = 12345;
  absl::StatusOr<TasksReport> r = Compute(MakePoolTrace(), options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->timeline.found);
  EXPECT_TRUE(absl::StrContains(FormatTaskTimelineText(r->timeline), "does not appear"));
}

TEST(TasksTest, RequestTraceTasksAddUpToTheirLives) {
  // Task 5 was running before the trace (no TaskCreate): counted from its first event.
  absl::StatusOr<TasksReport> r = Compute(MakeRequestTrace());
  ASSERT_TRUE(r.ok()) << r.status();
  for (const TaskGroupReport& g : r->groups) {
    EXPECT_EQ(g.total.total(), g.life.sum()) << g.name;
    EXPECT_EQ(g.count, g.alive_at_end) << g.name << ": no task ends in the request trace";
  }
  const TaskGroupReport* five = Group(*r, "task 5");
  ASSERT_NE(five, nullptr);
  EXPECT_EQ(five->created_before_trace, 1u);
  EXPECT_EQ(five->total.ns[Blocked(BlockReason::kMutex)], 2'300'000);  // 2000..4000, 5200..5500
}

TEST(TasksTest, TruncatedTraceReturnsTheReadersError) {
  absl::StatusOr<TasksReport> r = Compute(MakePoolTrace(/*truncate=*/true));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "offset")) << r.status();
}

TEST(TasksTest, TextReportStatesThePrecedenceAndEachState) {
  absl::StatusOr<TasksReport> r = Compute(MakePoolTrace());
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string text = FormatTasksText(*r);
  EXPECT_TRUE(absl::StrContains(text, "job: 3 tasks")) << text;
  EXPECT_TRUE(absl::StrContains(text, "blocked mutex")) << text;
  EXPECT_TRUE(absl::StrContains(text, "a task's own wait wins")) << text;
  const std::string json = FormatTasksJson(*r);
  EXPECT_TRUE(absl::StrContains(json, "\"runnable\":{\"total_ns\":9200000")) << json;
}

}  // namespace
}  // namespace tracer::analysis
