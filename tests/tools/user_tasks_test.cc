// User-task latencies and breakdowns on the scripted request trace (request_trace.h), and the
// queue time of a pool job created inside a request.

#include "tools/analysis/user_tasks.h"

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

absl::StatusOr<UserTasksReport> Compute(const std::string& data, UserTasksOptions options = {}) {
  absl::StatusOr<std::unique_ptr<format::TraceReader>> reader =
      format::TraceReader::FromSource(format::MakeStringSource(data));
  if (!reader.ok()) return reader.status();
  return ComputeUserTasks(reader->get(), options);
}

TEST(UserTasksTest, EachRequestIsChargedTheTimeItsWorkerSpentForIt) {
  absl::StatusOr<UserTasksReport> r = Compute(MakeRequestTrace());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->types.size(), 2u);
  const UserTaskTypeReport& request = r->types[0];  // 12.9 ms in total, ranked first
  EXPECT_EQ(request.name, "request");
  EXPECT_EQ(request.latency.count(), 2u);
  EXPECT_EQ(request.latency.max(), 8'000'000);
  EXPECT_EQ(request.incomplete, 1u) << "request 4 never ends";
  EXPECT_EQ(r->ended_before_trace, 1u) << "user task 99";
  ASSERT_EQ(request.slowest.size(), 2u);
  // Request 1: the worker works for it from 1500 to 5100 us (its SetCurrentUserTask(2)):
  // running 500 + 100 + 300, blocked on the mutex 2000, runnable 500, in the read 200.
  const UserTaskInstance& one = request.slowest[0];
  EXPECT_EQ(one.id, 1u);
  EXPECT_EQ(one.duration_ns, 8'000'000);
  EXPECT_EQ(one.breakdown.ns[kRunning], 900'000);
  EXPECT_EQ(one.breakdown.ns[Blocked(BlockReason::kMutex)], 2'000'000);
  EXPECT_EQ(one.breakdown.ns[kRunnable], 500'000);
  EXPECT_EQ(one.breakdown.ns[kSyscall], 200'000);
  EXPECT_EQ(one.between_threads_ns, 4'400'000);
  EXPECT_EQ(one.breakdown.total() + one.between_threads_ns, one.duration_ns);
  // Request 2: 5100 to 5700 us on the worker.
  const UserTaskInstance& two = request.slowest[1];
  EXPECT_EQ(two.id, 2u);
  EXPECT_EQ(two.breakdown.ns[kRunning], 200'000);
  EXPECT_EQ(two.breakdown.ns[Blocked(BlockReason::kMutex)], 300'000);
  EXPECT_EQ(two.breakdown.ns[kRunnable], 100'000);
  EXPECT_EQ(two.between_threads_ns, 4'300'000);
  const UserTaskTypeReport& health = r->types[1];
  EXPECT_EQ(health.name, "health");
  EXPECT_EQ(health.between_threads_ns, 100'000) << "no thread worked for it";

  UserTasksOptions only_health;
  only_health.type = "health";
  r = Compute(MakeRequestTrace(), only_health);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->types.size(), 1u);
  EXPECT_EQ(r->types[0].name, "health");
}

// main begins request 1 and, working for it, creates job task 7, which a worker starts 300 us
// later and runs for the request until it ends.
TEST(UserTasksTest, APoolJobsQueueTimeIsTheRequestsRunnableTime) {
  std::string out;
  format::AppendFileHeader(&out);
  format::GenerationBuilder gb(1);
  gb.SetClock({kNsClock, 0, kMono0, kReal0});
  AddRequestTables(&gb);
  format::EventEncoder main(0);
  main.Append(EventType::kUserTaskBegin, Us(0), {1, 0, kSRequest, 0});
  main.Append(EventType::kSetCurrentUserTask, Us(0), {1});
  main.Append(EventType::kTaskCreate, Us(100), {7, 0, kSWorker, 0, 0});
  main.Append(EventType::kSetCurrentUserTask, Us(100), {0});
  main.Append(EventType::kUserTaskEnd, Us(1000), {1});
  gb.AddBatch(kMain, 0, main.base_tick(), main.num_events(), main.data());
  format::EventEncoder worker(0);
  worker.Append(EventType::kTaskStart, Us(400), {7, 1});
  worker.Append(EventType::kSetCurrentUserTask, Us(400), {1});
  worker.Append(EventType::kTaskEnd, Us(900), {7});
  worker.Append(EventType::kSetCurrentUserTask, Us(900), {0});
  gb.AddBatch(kWorker, 0, worker.base_tick(), worker.num_events(), worker.data());
  gb.AppendTo(&out, /*compress=*/false);

  absl::StatusOr<UserTasksReport> r = Compute(out);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->types.size(), 1u);
  const UserTaskInstance& one = r->types[0].slowest.at(0);
  EXPECT_EQ(one.breakdown.ns[kRunnable], 300'000) << "created at 100, started at 400";
  EXPECT_EQ(one.breakdown.ns[kRunning], 600'000) << "main 0-100, the worker 400-900";
  EXPECT_EQ(one.between_threads_ns, 100'000);
  const std::string text = FormatUserTasksText(*r);
  EXPECT_TRUE(absl::StrContains(
      text, "running 600.0us (60.0%), runnable 300.0us (30.0%), between threads 100.0us (10.0%)"))
      << text;
  EXPECT_TRUE(absl::StrContains(FormatUserTasksJson(*r), "\"between_threads_ns\":100000"));
}

TEST(UserTasksTest, ATruncatedTraceIsTheReadersError) {
  const std::string data = MakeRequestTrace();
  absl::StatusOr<UserTasksReport> r = Compute(data.substr(0, data.size() - 40));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "offset")) << r.status();
}

}  // namespace
}  // namespace tracer::analysis
