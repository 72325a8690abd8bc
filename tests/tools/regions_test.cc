// Region latencies and breakdowns on the scripted request trace (request_trace.h), whose one
// region has a known history, and on a trace made for the precedence of the states.

#include "tools/analysis/regions.h"

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

absl::StatusOr<RegionsReport> Compute(const std::string& data, RegionsOptions options = {}) {
  absl::StatusOr<std::unique_ptr<format::TraceReader>> reader =
      format::TraceReader::FromSource(format::MakeStringSource(data));
  if (!reader.ok()) return reader.status();
  return ComputeRegions(reader->get(), options);
}

TEST(RegionsTest, TheLookupRegionsTimeIsItsThreadsStates) {
  absl::StatusOr<RegionsReport> r = Compute(MakeRequestTrace());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->regions.size(), 1u);
  const RegionStats& s = r->regions[0];
  EXPECT_EQ(s.name, "lookup");
  EXPECT_EQ(s.latency.count(), 1u);
  EXPECT_EQ(s.latency.max(), 3'400'000);
  EXPECT_EQ(s.incomplete, 0u);
  // 1600-2000 running, 2000-4000 blocked on the mutex (the gc at 3000-3200 does not count:
  // the task's own wait wins), 4000-4500 runnable (woken, not started), 4500-4600 running,
  // 4600-4800 in the read, 4800-5000 running.
  const TimeBreakdown& b = s.breakdown;
  EXPECT_EQ(b.ns[kRunning], 700'000);
  EXPECT_EQ(b.ns[Blocked(BlockReason::kMutex)], 2'000'000);
  EXPECT_EQ(b.ns[kRunnable], 500'000);
  EXPECT_EQ(b.ns[kSyscall], 200'000);
  EXPECT_EQ(b.ns[kStopped], 0);
  EXPECT_EQ(b.total(), 3'400'000) << "the parts add up to the duration";
  ASSERT_EQ(s.slowest.size(), 1u);
  EXPECT_EQ(s.slowest[0].thread, kWorker);
  EXPECT_EQ(s.slowest[0].user_task, 1u) << "SetCurrentUserTask(1) on the worker";
  EXPECT_EQ(s.slowest[0].user_task_name, "request");
  EXPECT_EQ(s.slowest[0].begin_ns, 1'100'000) << "from the trace's first event, at 500 us";
}

// A region on a thread that a stop-the-world phase of another thread stops, one inside a
// thread-scoped phase of its own, and one that is left open; --name filters.
std::string MakePhaseTrace() {
  std::string out;
  format::AppendFileHeader(&out);
  format::GenerationBuilder gb(1);
  gb.SetClock({kNsClock, 0, kMono0, kReal0});
  AddRequestTables(&gb);
  format::EventEncoder main(0);
  main.Append(EventType::kPhaseBegin, Us(100), {kSGc, format::kPhaseStopTheWorld});
  main.Append(EventType::kPhaseEnd, Us(400), {kSGc});
  gb.AddBatch(kMain, 0, main.base_tick(), main.num_events(), main.data());
  format::EventEncoder worker(0);
  worker.Append(EventType::kRegionBegin, Us(0), {0, kSLookup, 0});
  worker.Append(EventType::kRegionEnd, Us(1000), {0, kSLookup});     // 300 us stopped
  worker.Append(EventType::kRegionBegin, Us(2000), {0, kSRead, 0});  // "read": a region too
  worker.Append(EventType::kPhaseBegin, Us(2100), {kSMark, format::kPhaseThreadScoped});
  worker.Append(EventType::kPhaseEnd, Us(2600), {kSMark});
  worker.Append(EventType::kRegionEnd, Us(3000), {0, kSRead});       // 500 us in the phase
  worker.Append(EventType::kRegionBegin, Us(3500), {0, kSLookup, 0});  // never ends
  worker.Append(EventType::kRegionEnd, Us(3600), {0, kSGc});  // "gc" began before the trace
  gb.AddBatch(kWorker, 0, worker.base_tick(), worker.num_events(), worker.data());
  gb.AppendTo(&out, /*compress=*/false);
  return out;
}

TEST(RegionsTest, PhasesStopOtherThreadsAndCountAsTheirOwnThreadsWork) {
  absl::StatusOr<RegionsReport> r = Compute(MakePhaseTrace());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->regions.size(), 2u);
  const RegionStats& lookup = r->regions[0];  // 1 ms in total, ranked first
  EXPECT_EQ(lookup.name, "lookup");
  EXPECT_EQ(lookup.breakdown.ns[kStopped], 300'000);
  EXPECT_EQ(lookup.breakdown.ns[kRunning], 700'000);
  EXPECT_EQ(lookup.incomplete, 1u);
  const RegionStats& read = r->regions[1];
  EXPECT_EQ(read.name, "read");
  EXPECT_EQ(read.breakdown.ns[kPhase], 500'000);
  EXPECT_EQ(read.breakdown.ns[kRunning], 500'000);
  EXPECT_EQ(r->ended_before_begin, 1u);

  RegionsOptions only_read;
  only_read.name = "read";
  r = Compute(MakePhaseTrace(), only_read);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->regions.size(), 1u);
  EXPECT_EQ(r->regions[0].name, "read");
}

TEST(RegionsTest, TextAndJsonSayWhereTheTimeWent) {
  absl::StatusOr<RegionsReport> r = Compute(MakeRequestTrace());
  ASSERT_TRUE(r.ok());
  const std::string text = FormatRegionsText(*r);
  EXPECT_TRUE(absl::StrContains(text, "region \"lookup\": 1 complete")) << text;
  EXPECT_TRUE(absl::StrContains(text, "p99 3.40ms")) << text;
  EXPECT_TRUE(absl::StrContains(text, "blocked mutex 2.00ms (58.8%), running 700.0us (20.6%), "
                                      "runnable 500.0us (14.7%), syscall 200.0us (5.9%)"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "on T11, user task 1 \"request\"")) << text;
  const std::string json = FormatRegionsJson(*r);
  EXPECT_TRUE(absl::StrContains(json, "\"name\":\"lookup\",\"count\":1")) << json;
  EXPECT_TRUE(absl::StrContains(json, "\"blocked mutex\":2000000")) << json;
}

TEST(RegionsTest, ATruncatedTraceIsTheReadersError) {
  const std::string data = MakeRequestTrace();
  absl::StatusOr<RegionsReport> r = Compute(data.substr(0, data.size() - 40));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "offset")) << r.status();
}

}  // namespace
}  // namespace tracer::analysis
