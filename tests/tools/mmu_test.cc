// Minimum mutator utilization on scripted traces with known phases (one tick = 1 ns), and the
// exact sliding-window minimum against a brute force.

#include "tools/analysis/mmu.h"

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "format/byte_source.h"
#include "format/event_table.h"
#include "format/trace_reader.h"
#include "format/trace_writer.h"
#include "gtest/gtest.h"

namespace tracer::analysis {
namespace {

using format::EventType;

constexpr uint64_t kNsClock = 1'000'000'000;  // one tick = 1 ns
constexpr uint64_t kA = 10, kB = 11, kC = 12;
enum : uint64_t { kSGc = 1, kSAssist, kSMark, kSCount, kSA, kSB, kSC };
constexpr double kTolerance = 0.005;  // MMUs are checked to within 0.5 percentage points

int64_t Ms(int64_t ms) { return ms * 1'000'000; }

// One generation; each thread's events in the order added (ticks non-decreasing per thread).
class Script {
 public:
  void Add(uint64_t thread, EventType type, uint64_t tick, std::initializer_list<uint64_t> args) {
    encoders_.try_emplace(thread, 0).first->second.Append(type, tick, args);
  }
  std::string Build() const {
    std::string out;
    format::AppendFileHeader(&out);
    format::GenerationBuilder gb(1);
    gb.SetClock({kNsClock, 0, 1'000'000'000, 1'700'000'000'000'000'000});
    for (const auto& [id, s] : std::vector<std::pair<uint64_t, const char*>>{{kSGc, "gc"},
                                                                             {kSAssist, "assist"},
                                                                             {kSMark, "mark"},
                                                                             {kSCount, "count"},
                                                                             {kSA, "a"},
                                                                             {kSB, "b"},
                                                                             {kSC, "c"}}) {
      gb.AddString(id, s);
    }
    gb.AddThread({kA, kSA});
    gb.AddThread({kB, kSB});
    gb.AddThread({kC, kSC});
    for (const auto& [thread, enc] : encoders_) {
      gb.AddBatch(thread, 0, enc.base_tick(), enc.num_events(), enc.data());
    }
    gb.AppendTo(&out, /*compress=*/false);
    return out;
  }

 private:
  std::map<uint64_t, format::EventEncoder> encoders_;
};

absl::StatusOr<MmuReport> Compute(const std::string& data, MmuOptions options = {}) {
  absl::StatusOr<std::unique_ptr<format::TraceReader>> reader =
      format::TraceReader::FromSource(format::MakeStringSource(data));
  if (!reader.ok()) return reader.status();
  return ComputeMmu(reader->get(), options);
}

const MmuPoint* Find(const MmuReport& r, int64_t window_ns) {
  for (const MmuPoint& p : r.points) {
    if (p.window_ns == window_ns) return &p;
  }
  return nullptr;
}

double MmuAt(const MmuReport& r, int64_t window_ns) {
  const MmuPoint* p = Find(r, window_ns);
  return p == nullptr ? -1 : p->mmu;
}

// Threads a and b from 0 to 1 s; a stops the world for 20 ms every 100 ms, from 0.
std::string PeriodicStopTheWorld() {
  Script s;
  s.Add(kA, EventType::kThreadStart, 0, {});
  s.Add(kB, EventType::kThreadStart, 0, {});
  for (int64_t i = 0; i < 10; ++i) {
    s.Add(kA, EventType::kPhaseBegin, Ms(100 * i), {kSGc, format::kPhaseStopTheWorld});
    s.Add(kA, EventType::kPhaseEnd, Ms(100 * i + 20), {kSGc});
  }
  s.Add(kB, EventType::kThreadStop, Ms(1000), {});
  return s.Build();
}

TEST(MmuTest, PeriodicStopTheWorldGivesTheScriptsUtilizations) {
  absl::StatusOr<MmuReport> r = Compute(PeriodicStopTheWorld());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->span_ns, 1'000'000'000);
  EXPECT_EQ(r->threads, 2u);
  EXPECT_EQ(r->max_alive, 2u);
  EXPECT_EQ(r->stw_phases, 10u);
  EXPECT_EQ(r->stw_ns, Ms(200));
  EXPECT_NEAR(r->mean_utilization, 0.8, kTolerance);
  EXPECT_NEAR(MmuAt(*r, Ms(1)), 0.0, kTolerance) << "inside a pause";
  EXPECT_NEAR(MmuAt(*r, Ms(10)), 0.0, kTolerance);
  EXPECT_NEAR(MmuAt(*r, Ms(20)), 0.0, kTolerance) << "exactly one pause";
  EXPECT_NEAR(MmuAt(*r, Ms(50)), 0.6, kTolerance) << "(50 - 20) / 50";
  EXPECT_NEAR(MmuAt(*r, Ms(100)), 0.8, kTolerance) << "every 100 ms holds 20 ms of pause";
  EXPECT_NEAR(MmuAt(*r, Ms(200)), 0.8, kTolerance);
  EXPECT_NEAR(MmuAt(*r, Ms(1000)), 0.8, kTolerance) << "the whole trace";
  EXPECT_EQ(Find(*r, Ms(50))->worst_begin_ns, 0);
  // 1-2-5 steps from 1 us to 500 ms (18), and the span.
  ASSERT_EQ(r->points.size(), 19u);
  EXPECT_EQ(r->points.front().window_ns, 1000);
  EXPECT_EQ(r->points.back().window_ns, Ms(1000));
  int marked = 0;
  for (const MmuPoint& p : r->points) marked += p.marked;
  EXPECT_EQ(marked, 3);
  EXPECT_TRUE(Find(*r, Ms(1))->marked && Find(*r, Ms(10))->marked && Find(*r, Ms(100))->marked);

  const std::string text = FormatMmuText(*r);
  EXPECT_TRUE(absl::StrContains(text, "*      100ms  0.8000  +0ns\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "        50ms  0.6000  +0ns\n")) << text;
  EXPECT_TRUE(absl::StrContains(text, "*       10ms  0.0000")) << text;
  EXPECT_TRUE(absl::StrContains(text, "10 stop-the-world (200.00ms in all)")) << text;
  const std::string json = FormatMmuJson(*r);
  EXPECT_TRUE(absl::StrContains(
      json, "{\"window_ns\":100000000,\"mmu\":0.800000,\"worst_begin_ns\":0,\"marked\":true}"))
      << json;
  EXPECT_TRUE(absl::StrContains(json, "{\"window_ns\":50000000,\"mmu\":0.600000,")) << json;
}

TEST(MmuTest, ExtraWindowsAreComputedAndThoseLongerThanTheTraceDropped) {
  MmuOptions options;
  options.windows_ns = {Ms(120), Ms(5000), 0};
  absl::StatusOr<MmuReport> r = Compute(PeriodicStopTheWorld(), options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->points.size(), 20u);
  // [0, 120 ms] holds the pauses at 0 and 100 ms: (120 - 40) / 120.
  EXPECT_NEAR(MmuAt(*r, Ms(120)), 80.0 / 120.0, 1e-9);
  EXPECT_EQ(Find(*r, Ms(5000)), nullptr);
}

TEST(MmuTest, TheSvgPlotsEveryPointAndCallsOutTheMarkedWindows) {
  absl::StatusOr<MmuReport> r = Compute(PeriodicStopTheWorld());
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string svg = FormatMmuSvg(*r);
  EXPECT_TRUE(absl::StartsWith(svg, "<svg ")) << svg;
  EXPECT_TRUE(absl::EndsWith(svg, "</svg>\n")) << svg;
  const size_t at = svg.find("<polyline ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(svg.find("<polyline ", at + 1), std::string::npos) << "one curve";
  const size_t begin = svg.find("points=\"", at) + 8;
  const std::string points = svg.substr(begin, svg.find('"', begin) - begin);
  const std::vector<std::string> pairs = absl::StrSplit(points, ' ');
  EXPECT_EQ(pairs.size(), r->points.size()) << points;
  for (const std::string& p : pairs) EXPECT_TRUE(absl::StrContains(p, ",")) << p;
  EXPECT_TRUE(absl::StrContains(svg, ">1ms: 0.000</text>")) << svg;
  EXPECT_TRUE(absl::StrContains(svg, ">10ms: 0.000</text>")) << svg;
  EXPECT_TRUE(absl::StrContains(svg, ">100ms: 0.800</text>")) << svg;
  EXPECT_TRUE(absl::StrContains(svg, "minimum mutator utilization</text>"));
  EXPECT_TRUE(absl::StrContains(svg, "window (log scale)</text>"));
  // Every element opened is closed: the tags balance.
  size_t opened = 0, closed = 0;
  for (size_t i = 0; (i = svg.find('<', i)) != std::string::npos; ++i) {
    if (svg[i + 1] == '/') {
      ++closed;
    } else if (svg[svg.find('>', i) - 1] == '/') {
      ++opened, ++closed;
    } else {
      ++opened;
    }
  }
  EXPECT_EQ(opened, closed);
}

// a runs a 20 ms thread-scoped phase from 40 ms; b is alive throughout; the trace ends at 100 ms.
TEST(MmuTest, AThreadScopedPhaseTakesOnlyItsThreadsShare) {
  Script s;
  s.Add(kA, EventType::kThreadStart, 0, {});
  s.Add(kB, EventType::kThreadStart, 0, {});
  s.Add(kA, EventType::kPhaseBegin, Ms(40), {kSAssist, format::kPhaseThreadScoped});
  s.Add(kA, EventType::kPhaseEnd, Ms(60), {kSAssist});
  s.Add(kB, EventType::kThreadStop, Ms(100), {});
  absl::StatusOr<MmuReport> r = Compute(s.Build());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->thread_phases, 1u);
  EXPECT_EQ(r->thread_phase_ns, Ms(20));
  EXPECT_NEAR(MmuAt(*r, Ms(1)), 0.5, kTolerance);
  EXPECT_NEAR(MmuAt(*r, Ms(10)), 0.5, kTolerance) << "one of 2 threads";
  EXPECT_EQ(Find(*r, Ms(10))->worst_begin_ns, Ms(40));
  EXPECT_NEAR(MmuAt(*r, Ms(20)), 0.5, kTolerance);
  EXPECT_NEAR(MmuAt(*r, Ms(50)), (50 - 10) / 50.0, kTolerance);
  EXPECT_NEAR(MmuAt(*r, Ms(100)), 0.9, kTolerance);
}

TEST(MmuTest, AThreadFirstSeenLaterWithoutThreadStartCountsFromTheStart) {
  Script s;
  s.Add(kA, EventType::kThreadStart, 0, {});
  s.Add(kA, EventType::kPhaseBegin, Ms(40), {kSAssist, format::kPhaseThreadScoped});
  s.Add(kA, EventType::kPhaseEnd, Ms(60), {kSAssist});
  s.Add(kB, EventType::kCounter, Ms(80), {kSCount, 5});  // b existed before the trace
  s.Add(kA, EventType::kThreadStop, Ms(100), {});
  absl::StatusOr<MmuReport> r = Compute(s.Build());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->max_alive, 2u);
  EXPECT_NEAR(MmuAt(*r, Ms(10)), 0.5, kTolerance);
}

TEST(MmuTest, AThreadStartedAfterThePhaseDoesNotShareIt) {
  Script s;
  s.Add(kA, EventType::kThreadStart, 0, {});
  s.Add(kA, EventType::kPhaseBegin, Ms(40), {kSAssist, format::kPhaseThreadScoped});
  s.Add(kA, EventType::kPhaseEnd, Ms(60), {kSAssist});
  s.Add(kB, EventType::kThreadStart, Ms(80), {});
  s.Add(kB, EventType::kThreadStop, Ms(100), {});
  absl::StatusOr<MmuReport> r = Compute(s.Build());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->threads, 2u);
  EXPECT_EQ(r->max_alive, 2u) << "both from 80 ms";
  EXPECT_NEAR(MmuAt(*r, Ms(10)), 0.0, kTolerance) << "a was the only thread then";
}

// c's only event is its stop at 50 ms, inside a's phase (40-60 ms): 3 threads before, 2 after.
TEST(MmuTest, AThreadStoppingInsideAPhaseChangesTheShareThere) {
  Script s;
  s.Add(kA, EventType::kThreadStart, 0, {});
  s.Add(kB, EventType::kThreadStart, 0, {});
  s.Add(kA, EventType::kPhaseBegin, Ms(40), {kSAssist, format::kPhaseThreadScoped});
  s.Add(kC, EventType::kThreadStop, Ms(50), {});
  s.Add(kA, EventType::kPhaseEnd, Ms(60), {kSAssist});
  s.Add(kB, EventType::kThreadStop, Ms(100), {});
  absl::StatusOr<MmuReport> r = Compute(s.Build());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->max_alive, 3u);
  EXPECT_NEAR(MmuAt(*r, Ms(10)), 0.5, kTolerance);
  EXPECT_EQ(Find(*r, Ms(10))->worst_begin_ns, Ms(50));
  EXPECT_NEAR(MmuAt(*r, Ms(20)), (10 * 2.0 / 3 + 10 * 0.5) / 20, kTolerance);
}

TEST(MmuTest, NestedThreadScopedPhasesTakeTheirThreadOnce) {
  Script s;
  s.Add(kA, EventType::kThreadStart, 0, {});
  s.Add(kB, EventType::kThreadStart, 0, {});
  s.Add(kA, EventType::kPhaseBegin, Ms(40), {kSAssist, format::kPhaseThreadScoped});
  s.Add(kA, EventType::kPhaseBegin, Ms(45), {kSMark, format::kPhaseThreadScoped});
  s.Add(kA, EventType::kPhaseEnd, Ms(50), {kSMark});
  s.Add(kA, EventType::kPhaseEnd, Ms(60), {kSAssist});
  s.Add(kB, EventType::kThreadStop, Ms(100), {});
  absl::StatusOr<MmuReport> r = Compute(s.Build());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->thread_phases, 2u);
  EXPECT_NEAR(MmuAt(*r, Ms(10)), 0.5, kTolerance);
  EXPECT_NEAR(MmuAt(*r, Ms(20)), 0.5, kTolerance);
}

TEST(MmuTest, WithoutPhasesOrWithOnlyConcurrentOnesUtilizationIsOneEverywhere) {
  for (bool concurrent : {false, true}) {
    Script s;
    s.Add(kA, EventType::kThreadStart, 0, {});
    s.Add(kB, EventType::kThreadStart, 0, {});
    if (concurrent) {
      s.Add(kA, EventType::kPhaseBegin, Ms(10), {kSMark, 0});
      s.Add(kA, EventType::kPhaseEnd, Ms(40), {kSMark});
    }
    s.Add(kB, EventType::kThreadStop, Ms(100), {});
    absl::StatusOr<MmuReport> r = Compute(s.Build());
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->concurrent_phases, concurrent ? 1u : 0u);
    ASSERT_FALSE(r->points.empty());
    for (const MmuPoint& p : r->points) EXPECT_EQ(p.mmu, 1.0) << p.window_ns;
    EXPECT_EQ(r->mean_utilization, 1.0);
  }
}

TEST(MmuTest, PhaseEndsMatchByNameAndWhatIsOpenAtTheEndRunsToIt) {
  Script s;
  s.Add(kA, EventType::kThreadStart, 0, {});
  s.Add(kB, EventType::kThreadStart, 0, {});
  s.Add(kA, EventType::kPhaseEnd, Ms(5), {kSGc});  // began before the trace
  s.Add(kA, EventType::kPhaseBegin, Ms(10), {kSGc, format::kPhaseStopTheWorld});
  s.Add(kB, EventType::kPhaseEnd, Ms(20), {kSMark});  // nothing of that name is open
  s.Add(kB, EventType::kPhaseEnd, Ms(30), {kSGc});    // ends a's process-wide phase
  s.Add(kA, EventType::kPhaseBegin, Ms(90), {kSGc, format::kPhaseStopTheWorld});
  s.Add(kB, EventType::kThreadStop, Ms(100), {});
  absl::StatusOr<MmuReport> r = Compute(s.Build());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->unmatched_phase_ends, 2u);
  EXPECT_EQ(r->unended_phases, 1u);
  EXPECT_EQ(r->stw_ns, Ms(30));
  EXPECT_NEAR(MmuAt(*r, Ms(20)), 0.0, kTolerance);
  EXPECT_NEAR(MmuAt(*r, Ms(50)), 0.6, kTolerance) << "[0, 50 ms] holds the 20 ms pause";
  EXPECT_NEAR(MmuAt(*r, Ms(100)), 0.7, kTolerance);
  const std::string text = FormatMmuText(*r);
  EXPECT_TRUE(absl::StrContains(text, "2 phase ends with no begin")) << text;
  EXPECT_TRUE(absl::StrContains(text, "1 phases had not ended")) << text;
}

TEST(MmuTest, ATruncatedTraceIsTheReadersError) {
  const std::string data = PeriodicStopTheWorld();
  absl::StatusOr<MmuReport> r = Compute(data.substr(0, data.size() - 20));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "offset")) << r.status();
}

TEST(MmuTest, AnEmptySpanHasNoWindows) {
  Script s;
  s.Add(kA, EventType::kThreadStart, Ms(1), {});
  absl::StatusOr<MmuReport> r = Compute(s.Build());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->points.empty());
  EXPECT_TRUE(absl::StrContains(FormatMmuText(*r), "no window"));
  EXPECT_TRUE(absl::EndsWith(FormatMmuSvg(*r), "</svg>\n"));
}

// On integer change points and windows the minimum is at an integer start, so trying every
// integer start, summing unit cells, is an exact reference.
TEST(MmuTest, TheSlidingMinimumMatchesABruteForceOnRandomFunctions) {
  std::mt19937 rng(42);
  const double levels[] = {0.0, 0.25, 0.5, 2.0 / 3, 1.0};
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t start = rng() % 50, length = 1 + rng() % 120;
    std::vector<double> cell(length);
    std::vector<UtilizationChange> changes;
    for (int64_t i = 0; i < length; ++i) {
      if (i == 0 || rng() % 6 == 0) changes.push_back({start + i, levels[rng() % 5]});
      cell[i] = changes.back().util;
    }
    for (int64_t w = 1; w <= length; ++w) {
      double best = 2;
      int64_t best_at = 0;
      for (int64_t t = 0; t + w <= length; ++t) {
        double sum = 0;
        for (int64_t i = t; i < t + w; ++i) sum += cell[i];
        if (sum / w < best - 1e-12) best = sum / w, best_at = start + t;
      }
      const MmuWindow got = MinMutatorUtilization(changes, start + length, w);
      ASSERT_NEAR(got.mmu, best, 1e-9) << "trial " << trial << " window " << w;
      ASSERT_EQ(got.begin_ns, best_at) << "trial " << trial << " window " << w;
    }
  }
}

}  // namespace
}  // namespace tracer::analysis
