#include "tools/analysis/request_report.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "format/event_table.h"
#include "format/generation.h"
#include "format/trace_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tools/request_trace.h"
#include "tools/analysis/request_report_text.h"

namespace tracer::analysis {
namespace {

using ::testing::ElementsAre;

class RequestReportTest : public ::testing::Test {
 protected:
  static RequestReport Report(const std::string& data, RequestReportOptions options = {}) {
    absl::StatusOr<RequestReport> r = BuildRequestReportFromBytes(data, options);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : RequestReport{};
  }
};

TEST(SiteFramesTest, DropsTheInnermostTracerFramesAndKeepsDepth) {
  using V = std::vector<std::string>;
  EXPECT_EQ(SiteFrames({"tracer::Mutex::Lock()", "tracer::x()", "Cache::Get()", "main"}, 0),
            (V{"Cache::Get()", "main"}));
  EXPECT_EQ(SiteFrames({"tracer::Mutex::Lock()", "Cache::Get()", "tracer::Pool::Run()"}, 1),
            (V{"Cache::Get()"}));
  // All tracer frames: all kept, so the site still says where it is.
  EXPECT_EQ(SiteFrames({"tracer::a()", "tracer::b()"}, 0), (V{"tracer::a()", "tracer::b()"}));
  EXPECT_EQ(SiteFrames({}, 3), V{});
}

TEST_F(RequestReportTest, CountsAndPercentilesPerUserTaskType) {
  const RequestReport r = Report(MakeRequestTrace());
  ASSERT_EQ(r.user_task_types.size(), 2u);
  const UserTaskTypeStats& health = r.user_task_types[0];
  EXPECT_EQ(health.name, "health");
  EXPECT_EQ(health.count, 1u);
  EXPECT_EQ(health.incomplete, 0u);
  EXPECT_EQ(health.p50_ns, 100'000);
  EXPECT_EQ(health.p99_ns, 100'000);
  EXPECT_EQ(health.max_ns, 100'000);
  const UserTaskTypeStats& request = r.user_task_types[1];
  EXPECT_EQ(request.name, "request");
  EXPECT_EQ(request.count, 2u);
  EXPECT_EQ(request.incomplete, 1u) << "request 4 never ends";
  EXPECT_EQ(request.p50_ns, 4'900'000);
  EXPECT_EQ(request.p99_ns, 8'000'000);
  EXPECT_EQ(request.max_ns, 8'000'000);
  EXPECT_EQ(request.total_ns, 12'900'000);
  EXPECT_EQ(r.complete_user_tasks, 3u);
  EXPECT_EQ(r.incomplete_user_tasks, 2u) << "request 4, and user task 99 (no begin, no name)";
}

TEST_F(RequestReportTest, PercentilesAreNearestRankOverExactDurations) {
  std::string data;
  format::AppendFileHeader(&data);
  format::GenerationBuilder gb(1);
  gb.SetClock({kNsClock, 0, kMono0, kReal0});
  gb.AddString(1, "rpc");
  format::EventEncoder begins(0), ends(0);
  for (uint64_t k = 1; k <= 100; ++k) {
    begins.Append(EventType::kUserTaskBegin, k, {k, 0, 1, 0});
    ends.Append(EventType::kUserTaskEnd, k + k * 1000, {k});  // task k lasts k us
  }
  gb.AddBatch(kMain, 0, 0, begins.num_events(), begins.data());
  gb.AddBatch(kWorker, 0, 0, ends.num_events(), ends.data());
  gb.AppendTo(&data, /*compress=*/true);
  const RequestReport r = Report(data);
  ASSERT_EQ(r.user_task_types.size(), 1u);
  EXPECT_EQ(r.user_task_types[0].count, 100u);
  EXPECT_EQ(r.user_task_types[0].p50_ns, 50'000);
  EXPECT_EQ(r.user_task_types[0].p99_ns, 99'000);
  EXPECT_EQ(r.user_task_types[0].max_ns, 100'000);
  ASSERT_TRUE(r.timeline.has_value());
  EXPECT_EQ(r.timeline->user_task, 100u);
  EXPECT_EQ(r.timeline->duration_ns(), 100'000);
}

TEST_F(RequestReportTest, SlowestRequestTimelineHasItsRegionsWaitsSyscallsAndPhases) {
  const RequestReport r = Report(MakeRequestTrace());
  ASSERT_TRUE(r.timeline.has_value());
  const RequestTimeline& t = *r.timeline;
  EXPECT_EQ(t.user_task, 1u);
  EXPECT_EQ(t.name, "request");
  EXPECT_TRUE(t.slowest);
  EXPECT_EQ(t.thread, kMain);
  EXPECT_EQ(t.begin_ns, MonoUs(1000));
  EXPECT_EQ(t.end_ns, MonoUs(9000));
  EXPECT_TRUE(t.ended);

  ASSERT_EQ(t.regions.size(), 1u);
  EXPECT_EQ(t.regions[0].name, "lookup");
  EXPECT_EQ(t.regions[0].thread, kWorker);
  EXPECT_EQ(t.regions[0].begin_ns, MonoUs(1600));
  EXPECT_EQ(t.regions[0].end_ns, MonoUs(5000));
  EXPECT_TRUE(t.regions[0].ended);

  // The job for request 2 waits on the same mutex: that wait is request 2's, not request 1's.
  ASSERT_EQ(t.waits.size(), 1u);
  const TimelineWait& w = t.waits[0];
  EXPECT_EQ(w.task, 5u);
  EXPECT_EQ(w.thread, kWorker);
  EXPECT_EQ(w.reason, BlockReason::kMutex);
  EXPECT_EQ(w.object, kMutexAddr);
  EXPECT_EQ(w.block_ns, MonoUs(2000));
  EXPECT_TRUE(w.unblocked);
  EXPECT_EQ(w.unblock_ns, MonoUs(4000));
  EXPECT_TRUE(w.resumed);
  EXPECT_EQ(w.resume_ns, MonoUs(4500));
  EXPECT_EQ(w.duration_ns, 2'500'000) << "block to the next TaskStart, not to the unblock";
  EXPECT_EQ(w.waker, 50u);
  EXPECT_THAT(w.waker_stack,
              ElementsAre("tracer::Mutex::Unlock", "Cache::Refresh", "Refresher::Run"));
  EXPECT_THAT(w.waiter_stack, ElementsAre("tracer::Mutex::Lock", "Cache::Get", "Handler::Serve"));

  ASSERT_EQ(t.syscalls.size(), 1u) << "the read after SetCurrentUserTask(0) is nobody's";
  EXPECT_EQ(t.syscalls[0].name, "read");
  EXPECT_EQ(t.syscalls[0].thread, kWorker);
  EXPECT_EQ(t.syscalls[0].begin_ns, MonoUs(4600));
  EXPECT_EQ(t.syscalls[0].end_ns, MonoUs(4800));

  ASSERT_EQ(t.stw_phases.size(), 1u) << "the gc before the request and the non-STW mark are out";
  EXPECT_EQ(t.stw_phases[0].name, "gc");
  EXPECT_EQ(t.stw_phases[0].thread, 0u);
  EXPECT_EQ(t.stw_phases[0].begin_ns, MonoUs(3000));
  EXPECT_EQ(t.stw_phases[0].end_ns, MonoUs(3200));
}

TEST_F(RequestReportTest, UserTaskIdPicksTheRequestToExplain) {
  RequestReportOptions options;
  options.user_task_id = 2;
  const RequestReport r = Report(MakeRequestTrace(), options);
  ASSERT_TRUE(r.timeline.has_value());
  const RequestTimeline& t = *r.timeline;
  EXPECT_EQ(t.user_task, 2u);
  EXPECT_FALSE(t.slowest);
  EXPECT_EQ(t.duration_ns(), 4'900'000);
  EXPECT_TRUE(t.regions.empty());
  EXPECT_TRUE(t.syscalls.empty());
  ASSERT_EQ(t.waits.size(), 1u);
  EXPECT_EQ(t.waits[0].block_ns, MonoUs(5200));
  EXPECT_EQ(t.waits[0].duration_ns, 400'000);
  EXPECT_EQ(t.waits[0].waker, 50u);
  ASSERT_EQ(t.stw_phases.size(), 1u);
  EXPECT_EQ(t.stw_phases[0].begin_ns, MonoUs(3000));
  // The rest of the report does not depend on which request is explained.
  EXPECT_EQ(r.user_task_types.size(), 2u);
  EXPECT_EQ(r.waits, 3u);
}

TEST_F(RequestReportTest, UnknownUserTaskIdIsNotFound) {
  RequestReportOptions options;
  options.user_task_id = 77;
  absl::StatusOr<RequestReport> r = BuildRequestReportFromBytes(MakeRequestTrace(), options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "77")) << r.status();
}

TEST_F(RequestReportTest, BlockingSitesAreRankedByTotalTimeWithoutTracerFrames) {
  const RequestReport r = Report(MakeRequestTrace());
  EXPECT_EQ(r.waits, 3u);
  EXPECT_EQ(r.blocked_ns, 3'900'000);
  EXPECT_EQ(r.unresumed_waits, 0u);
  ASSERT_EQ(r.blocking_sites.size(), 2u);
  EXPECT_EQ(r.blocking_sites[0].reason, BlockReason::kMutex);
  EXPECT_THAT(r.blocking_sites[0].frames, ElementsAre("Cache::Get", "Handler::Serve"));
  EXPECT_EQ(r.blocking_sites[0].count, 2u);
  EXPECT_EQ(r.blocking_sites[0].total_ns, 2'900'000);
  EXPECT_EQ(r.blocking_sites[0].max_ns, 2'500'000);
  EXPECT_EQ(r.blocking_sites[1].reason, BlockReason::kSleep);
  EXPECT_THAT(r.blocking_sites[1].frames, ElementsAre("Sleeper::Nap"));
  EXPECT_EQ(r.blocking_sites[1].count, 1u);
  EXPECT_EQ(r.blocking_sites[1].total_ns, 1'000'000);
  // Only the mutex waits were done on behalf of a request (the worker's SetCurrentUserTask);
  // main's nap was its own.
  EXPECT_EQ(r.request_waits, 2u);
  EXPECT_EQ(r.request_blocked_ns, 2'900'000);
  ASSERT_EQ(r.request_blocking_sites.size(), 1u);
  EXPECT_EQ(r.request_blocking_sites[0].reason, BlockReason::kMutex);
  EXPECT_THAT(r.request_blocking_sites[0].frames, ElementsAre("Cache::Get", "Handler::Serve"));
  EXPECT_EQ(r.request_blocking_sites[0].total_ns, 2'900'000);
  // The mutex view blames the unlocker's stack.
  ASSERT_EQ(r.mutex_sites.size(), 1u);
  EXPECT_THAT(r.mutex_sites[0].frames, ElementsAre("Cache::Refresh", "Refresher::Run"));
  EXPECT_EQ(r.mutex_sites[0].count, 2u);
  EXPECT_EQ(r.mutex_sites[0].total_ns, 2'900'000);
}

TEST_F(RequestReportTest, TopNAndSiteDepthShapeTheSites) {
  RequestReportOptions options;
  options.top_n = 1;
  options.site_depth = 1;
  const RequestReport r = Report(MakeRequestTrace(), options);
  ASSERT_EQ(r.blocking_sites.size(), 1u);
  EXPECT_THAT(r.blocking_sites[0].frames, ElementsAre("Cache::Get"));
  EXPECT_EQ(r.blocking_sites[0].total_ns, 2'900'000);
  ASSERT_EQ(r.mutex_sites.size(), 1u);
  EXPECT_THAT(r.mutex_sites[0].frames, ElementsAre("Cache::Refresh"));
  EXPECT_EQ(r.blocked_ns, 3'900'000) << "totals count every site, shown or not";
}

// A worker that never sets its current user task still works for the request inside a region
// that names it; outside the region, its waits are nobody's. A wait woken with no waker and no
// stack has neither.
TEST_F(RequestReportTest, RegionNamingTheTaskIsTheFallbackAttribution) {
  std::string data;
  format::AppendFileHeader(&data);
  format::GenerationBuilder gb(1);
  gb.SetClock({kNsClock, 0, kMono0, kReal0});
  AddRequestTables(&gb);
  format::EventEncoder main(0);
  main.Append(EventType::kUserTaskBegin, Us(100), {1, 0, kSRequest, 0});
  main.Append(EventType::kTaskUnblock, Us(300), {5, 2, 0, 0x10, 0});
  main.Append(EventType::kTaskUnblock, Us(700), {5, 4, 0, 0x10, 0});
  main.Append(EventType::kUserTaskEnd, Us(1000), {1});
  gb.AddBatch(kMain, 0, 0, main.num_events(), main.data());
  format::EventEncoder worker(0);
  worker.Append(EventType::kRegionBegin, Us(150), {1, kSLookup, 0});
  worker.Append(EventType::kTaskBlock, Us(200), {5, R(BlockReason::kChannel), 0x10, 0});
  worker.Append(EventType::kTaskStart, Us(350), {5, 3});
  worker.Append(EventType::kRegionEnd, Us(400), {1, kSLookup});
  worker.Append(EventType::kTaskBlock, Us(500), {5, R(BlockReason::kChannel), 0x10, 0});
  worker.Append(EventType::kTaskStart, Us(800), {5, 5});
  gb.AddBatch(kWorker, 0, 0, worker.num_events(), worker.data());
  gb.AppendTo(&data, /*compress=*/false);

  const RequestReport r = Report(data);
  ASSERT_TRUE(r.timeline.has_value());
  ASSERT_EQ(r.timeline->regions.size(), 1u);
  EXPECT_EQ(r.timeline->regions[0].duration_ns(), 250'000);
  ASSERT_EQ(r.timeline->waits.size(), 1u);
  const TimelineWait& w = r.timeline->waits[0];
  EXPECT_EQ(w.reason, BlockReason::kChannel);
  EXPECT_EQ(w.duration_ns, 150'000);
  EXPECT_TRUE(w.unblocked);
  EXPECT_EQ(w.waker, 0u);
  EXPECT_TRUE(w.waker_stack.empty());
  EXPECT_TRUE(w.waiter_stack.empty());
  EXPECT_EQ(r.waits, 2u) << "the wait outside the region still counts for the sites";
  EXPECT_TRUE(r.mutex_sites.empty());
}

// A request and its wait that span two generations with different clocks and different ids
// for the same strings and stacks: each time is converted with its own generation's clock, and
// the sites of both generations meet by function name. A user task the second generation's
// table names (begun before the trace) that ends is incomplete, counted under its type.
TEST_F(RequestReportTest, GenerationsConvertWithTheirOwnClocksAndSitesMeetByName) {
  std::string data;
  format::AppendFileHeader(&data);
  constexpr uint64_t k64nsClock = 1'000'000'000 / 64;
  {
    format::GenerationBuilder gb(1);
    gb.SetClock({k64nsClock, 1000, kMono0, kReal0});
    gb.AddString(1, "request");
    gb.AddString(2, "Cache::Get");
    gb.AddStack(1, std::vector<format::Frame>{{0x1, 2, 0, 0}});
    format::EventEncoder main(1000);
    main.Append(EventType::kUserTaskBegin, 1100, {1, 0, 1, 0});  // kMono0 + 6400
    main.Append(EventType::kSetCurrentUserTask, 1100, {1});
    main.Append(EventType::kTaskBlock, 1200, {5, R(BlockReason::kMutex), 0x10, 1});  // +12800
    gb.AddBatch(kMain, 0, 1000, main.num_events(), main.data());
    gb.AppendTo(&data, /*compress=*/false);
  }
  {
    format::GenerationBuilder gb(2);
    gb.SetClock({kNsClock, 0, kMono0 + 10'000'000, kReal0 + 10'000'000});
    gb.AddString(5, "Cache::Get");
    gb.AddString(6, "request");
    gb.AddStack(9, std::vector<format::Frame>{{0x1, 5, 0, 0}});
    gb.AddUserTask({1, 0, 6});
    gb.AddUserTask({8, 0, 6});
    format::EventEncoder main(0);
    main.Append(EventType::kTaskStart, 2000, {5, 3});  // kMono0 + 10 ms + 2000
    main.Append(EventType::kTaskBlock, 2100, {5, R(BlockReason::kMutex), 0x10, 9});
    main.Append(EventType::kTaskStart, 2600, {5, 5});
    main.Append(EventType::kUserTaskEnd, 3000, {8});
    main.Append(EventType::kUserTaskEnd, 4000, {1});
    gb.AddBatch(kMain, 0, 0, main.num_events(), main.data());
    gb.AppendTo(&data, /*compress=*/true);
  }
  const RequestReport r = Report(data);
  ASSERT_EQ(r.user_task_types.size(), 1u);
  EXPECT_EQ(r.user_task_types[0].count, 1u);
  EXPECT_EQ(r.user_task_types[0].incomplete, 1u) << "user task 8 began before the trace";
  EXPECT_EQ(r.user_task_types[0].max_ns, 10'000'000 + 4000 - 6400);
  ASSERT_TRUE(r.timeline.has_value());
  EXPECT_EQ(r.timeline->begin_ns, kMono0 + 6400);
  ASSERT_EQ(r.timeline->waits.size(), 2u);
  EXPECT_EQ(r.timeline->waits[0].duration_ns, 10'000'000 + 2000 - 12800);
  EXPECT_EQ(r.timeline->waits[1].duration_ns, 500);
  ASSERT_EQ(r.blocking_sites.size(), 1u);
  EXPECT_THAT(r.blocking_sites[0].frames, ElementsAre("Cache::Get"));
  EXPECT_EQ(r.blocking_sites[0].count, 2u);
}

TEST_F(RequestReportTest, TextShowsTypesTimelineInTimeOrderAndSites) {
  const std::string text = FormatRequestReport(Report(MakeRequestTrace()));
  const std::vector<std::string> in_order = {
      "user tasks: 3 complete, 2 incomplete\n",
      "  health                          1          0    100.0us    100.0us    100.0us\n",
      "  request                         2          1     4.90ms     8.00ms     8.00ms\n",
      "slowest request: user task 1 \"request\", 8.00ms, begun on T10\n",
      "  +0.00ms  begin request\n",
      "  +0.60ms  region lookup on T11 ... 3.40ms\n",
      "  +1.00ms  blocked on mutex 0xabc for 2.50ms (task 5 on T11), woken by task 50 at "
      "Cache::Refresh <- Refresher::Run\n"
      "           waiting at Cache::Get <- Handler::Serve\n",
      "  +2.00ms  stop-the-world gc ... 200.0us\n",
      "  +3.60ms  syscall read on T11 ... 200.0us\n",
      "  +8.00ms  end request\n",
      "what requests waited on: top blocking sites of waits on behalf of a user task (2 "
      "waits, 2.90ms):\n",
      "      2.90ms      2  mutex      Cache::Get <- Handler::Serve\n",
      "top blocking sites of every task, idle waits included (3 waits, 3.90ms; 0 not "
      "resumed):\n",
      "      2.90ms      2  mutex      Cache::Get <- Handler::Serve\n",
      "      1.00ms      1  sleep      Sleeper::Nap\n",
      "mutex contention by the unlocker's stack (Go's mutex profile):\n",
      "      2.90ms      2  Cache::Refresh <- Refresher::Run\n",
  };
  size_t at = 0;
  for (const std::string& line : in_order) {
    const size_t found = text.find(line, at);
    ASSERT_NE(found, std::string::npos) << "missing, or out of order: " << line << "\n" << text;
    at = found + line.size();
  }
}

TEST_F(RequestReportTest, TraceWithNoUserTaskHasNoTimeline) {
  std::string data;
  format::AppendFileHeader(&data);
  const RequestReport r = Report(data);
  EXPECT_TRUE(r.user_task_types.empty());
  EXPECT_FALSE(r.timeline.has_value());
  const std::string text = FormatRequestReport(r);
  EXPECT_TRUE(absl::StrContains(text, "no complete user task to explain")) << text;
}

TEST_F(RequestReportTest, TruncatedTraceIsTheReadersErrorWithOffset) {
  std::string data = MakeRequestTrace();
  data.resize(data.size() - 3);
  absl::StatusOr<RequestReport> r = BuildRequestReportFromBytes(data, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "offset")) << r.status();
}

TEST_F(RequestReportTest, FlippedPayloadByteIsAnErrorNotACrash) {
  const std::string good = MakeRequestTrace();
  for (size_t i = 16 + 56; i < good.size(); i += 7) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    absl::StatusOr<RequestReport> r = BuildRequestReportFromBytes(bad, {});
    EXPECT_FALSE(r.ok()) << "byte " << i;
  }
}

TEST_F(RequestReportTest, SampleTraceExplainsAHandledRequest) {
  absl::StatusOr<RequestReport> r =
      BuildRequestReport(TRACER_SOURCE_DIR "/testdata/sample.trace", {});
  ASSERT_TRUE(r.ok()) << r.status();
  bool found = false;
  for (const UserTaskTypeStats& t : r->user_task_types) {
    if (t.name != "handle_request") continue;
    found = true;
    EXPECT_GT(t.count, 0u);
    EXPECT_LE(t.p50_ns, t.p99_ns);
    EXPECT_LE(t.p99_ns, t.max_ns);
  }
  EXPECT_TRUE(found);
  ASSERT_TRUE(r->timeline.has_value());
  EXPECT_EQ(r->timeline->name, "handle_request");
  EXPECT_FALSE(r->timeline->waits.empty());
  EXPECT_FALSE(r->blocking_sites.empty());
  EXPECT_FALSE(r->mutex_sites.empty());
}

TEST_F(RequestReportTest, MissingFileIsAnError) {
  absl::StatusOr<RequestReport> r = BuildRequestReport("/nonexistent/trace.bin", {});
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace tracer::analysis
