// EventFilter on scripted traces: the request trace (request_trace.h) for
// --thread, --type,
// --from/--to and --task, and a trace of tasks that create tasks and change
// labels for --task's descendants and --label. Every expectation lists the
// matching events by time and type.

#include "tools/analysis/event_filter.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "format/byte_source.h"
#include "format/merged_generation_reader.h"
#include "format/trace_reader.h"
#include "tests/tools/request_trace.h"
#include "gtest/gtest.h"

namespace tracer::analysis {
namespace {

using Events = std::vector<std::string>;

// The matching events of `data`, each as "<tick in us> T<thread> <Type>"; or
// the error.
absl::StatusOr<Events> Matching(const std::string &data,
                                EventFilterOptions options,
                                bool *past_end = nullptr) {
  absl::StatusOr<std::unique_ptr<format::TraceReader>> reader =
      format::TraceReader::FromSource(format::MakeStringSource(data));
  if (!reader.ok())
    return reader.status();
  EventFilter filter(std::move(options));
  Events out;
  for (;;) {
    auto next = (*reader)->Next();
    if (!next.ok())
      return next.status();
    if (*next == nullptr)
      break;
    const format::Generation &gen = **next;
    filter.BeginGeneration(gen);
    format::MergedGenerationReader events(gen);
    while (const format::Event *e = events.Next()) {
      if (filter.Match(gen, *e)) {
        out.push_back(
            absl::StrCat(e->tick / 1000, " T", e->thread, " ", e->spec().name));
      }
    }
    if (!events.status().ok())
      return events.status();
  }
  if (past_end != nullptr)
    *past_end = filter.past_end();
  return out;
}

size_t Count(const std::string &data, EventFilterOptions options) {
  absl::StatusOr<Events> r = Matching(data, std::move(options));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->size() : 0;
}

TEST(EventFilterTest, NoFilterMatchesEveryEvent) {
  EventFilterOptions none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.Description(), "");
  EXPECT_EQ(Count(MakeRequestTrace(), none), 32u)
      << "18 on main, 14 on the worker";
}

TEST(EventFilterTest, ThreadMatchesByIdOrByName) {
  EventFilterOptions by_name;
  by_name.threads = {"worker"};
  EXPECT_EQ(Count(MakeRequestTrace(), by_name), 14u);
  EventFilterOptions by_id;
  by_id.threads = {"10"};
  EXPECT_EQ(Count(MakeRequestTrace(), by_id), 18u);
  EventFilterOptions both;
  both.threads = {"main", "11"};
  EXPECT_EQ(Count(MakeRequestTrace(), both), 32u);
  EventFilterOptions nobody;
  nobody.threads = {"999"};
  EXPECT_EQ(Count(MakeRequestTrace(), nobody), 0u);
}

TEST(EventFilterTest, TypeKeepsTheNamedTypes) {
  absl::StatusOr<std::vector<format::EventType>> types =
      ParseEventTypes({"TaskBlock", "taskunblock"});
  ASSERT_TRUE(types.ok()) << types.status();
  EventFilterOptions options;
  options.types = *types;
  absl::StatusOr<Events> r = Matching(MakeRequestTrace(), options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (Events{"2000 T11 TaskBlock", "4000 T10 TaskUnblock",
                        "5200 T11 TaskBlock", "5500 T10 TaskUnblock",
                        "6100 T10 TaskBlock"}));
}

// The first event is at 500 us: the window is relative to it, both edges
// included.
TEST(EventFilterTest, FromAndToAreSinceTheFirstEventAndInclusive) {
  EventFilterOptions options;
  options.from_ns = 500'000;
  options.to_ns = 700'000;
  bool past_end = false;
  absl::StatusOr<Events> r = Matching(MakeRequestTrace(), options, &past_end);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (Events{"1000 T10 UserTaskBegin", "1100 T10 UserTaskBegin",
                        "1200 T10 UserTaskBegin"}));
  EXPECT_TRUE(past_end) << "events after 1200 us were seen";
  EventFilterOptions from_only;
  from_only.from_ns = 8'000'000; // 8500 us on: two UserTaskEnds
  EXPECT_EQ(Count(MakeRequestTrace(), from_only), 2u);
}

// Task 5 runs on the worker the whole time it has events there: all 14 worker
// events, and the two TaskUnblocks of 5 on main. Task 50's TaskBlock and
// TaskStart on main, then main's events while it runs 50 (UserTaskBegin 4, two
// UserTaskEnds); not the TaskUnblocks 50 is the waker of, nor UserTaskEnd 2 at
// 6000 us (main ran no task then).
TEST(EventFilterTest, TaskKeepsItsTaskEventsAndItsThreadsEventsWhileItRuns) {
  EventFilterOptions five;
  five.tasks = {5};
  absl::StatusOr<Events> r = Matching(MakeRequestTrace(), five);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 16u);
  EXPECT_EQ(r->front(), "1500 T11 TaskStart");
  EXPECT_EQ((*r)[4], "4000 T10 TaskUnblock");
  EXPECT_EQ(r->back(), "5900 T11 SyscallEnd");
  EventFilterOptions fifty;
  fifty.tasks = {50};
  r = Matching(MakeRequestTrace(), fifty);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (Events{"6100 T10 TaskBlock", "7100 T10 TaskStart",
                        "8000 T10 UserTaskBegin", "8500 T10 UserTaskEnd",
                        "9000 T10 UserTaskEnd"}));
}

TEST(EventFilterTest, FiltersCombineAsAnd) {
  EventFilterOptions options;
  options.threads = {"worker"};
  options.types = {format::EventType::kTaskStart};
  EXPECT_EQ(Count(MakeRequestTrace(), options), 3u);

  EventFilterOptions task_window;
  task_window.tasks = {5};
  task_window.from_ns = 4'000'000; // from 4500 us
  EXPECT_EQ(Count(MakeRequestTrace(), task_window), 11u);

  EventFilterOptions task_thread;
  task_thread.tasks = {5};
  task_thread.threads = {"main"};
  absl::StatusOr<Events> r = Matching(MakeRequestTrace(), task_thread);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (Events{"4000 T10 TaskUnblock", "5500 T10 TaskUnblock"}));

  EventFilterOptions task_type;
  task_type.tasks = {50};
  task_type.types = {format::EventType::kUserTaskEnd};
  EXPECT_EQ(Count(MakeRequestTrace(), task_type), 2u);
}

// Strings and label sets of the family trace.
enum : uint64_t {
  kSPool = 1,
  kSDb,
  kSWeb,
  kSEndpoint,
  kSA,
  kSMainName,
  kSWorkerName,
  kSJob
};
enum : uint64_t { kDbSet = 1, kWebASet = 2, kWebSet = 3 };

void AddFamilyTables(format::GenerationBuilder *gb) {
  gb->SetClock({kNsClock, 0, kMono0, kReal0});
  for (const auto &[id, s] :
       std::vector<std::pair<uint64_t, const char *>>{{kSPool, "pool"},
                                                      {kSDb, "db"},
                                                      {kSWeb, "web"},
                                                      {kSEndpoint, "endpoint"},
                                                      {kSA, "/a"},
                                                      {kSMainName, "main"},
                                                      {kSWorkerName, "worker"},
                                                      {kSJob, "job"}}) {
    gb->AddString(id, s);
  }
  gb->AddLabelSet(kDbSet,
                  std::vector<std::pair<uint64_t, uint64_t>>{{kSPool, kSDb}});
  gb->AddLabelSet(kWebASet, std::vector<std::pair<uint64_t, uint64_t>>{
                                {kSPool, kSWeb}, {kSEndpoint, kSA}});
  gb->AddLabelSet(kWebSet,
                  std::vector<std::pair<uint64_t, uint64_t>>{{kSPool, kSWeb}});
  gb->AddThread({kMain, kSMainName});
  gb->AddThread({kWorker, kSWorkerName});
}

// Generation 1: main creates task 5 {pool=web, endpoint=/a} and task 8
// {pool=db}. On the worker, 5 creates 6 (no labels), changes its set to
// {pool=web}, makes a syscall and yields; the worker, running no task, counts,
// labels itself {pool=db}, counts again; 6 runs, creates 7 {pool=web,
// endpoint=/a}, logs and ends. On main, 7 runs, logs and ends; 8 runs, is
// sampled and ends; main logs, running nothing. Generation 2 states (child
// first) task 11 (parent 5) and task 12 (parent 11, {pool=web}) running on the
// worker, which makes a syscall in 12.
std::string MakeFamilyTrace() {
  using format::EventType;
  std::string out;
  format::AppendFileHeader(&out);
  {
    format::GenerationBuilder gb(1);
    AddFamilyTables(&gb);
    format::EventEncoder main(0);
    main.Append(EventType::kTaskCreate, Us(100), {5, 0, kSJob, kWebASet, 0});
    main.Append(EventType::kTaskCreate, Us(110), {8, 0, kSJob, kDbSet, 0});
    main.Append(EventType::kTaskStart, Us(400), {7, 1});
    main.Append(EventType::kLog, Us(410), {0, kSJob}, "seven");
    main.Append(EventType::kTaskEnd, Us(420), {7});
    main.Append(EventType::kTaskStart, Us(430), {8, 1});
    main.Append(EventType::kCpuSample, Us(440), {8, 0});
    main.Append(EventType::kTaskEnd, Us(450), {8});
    main.Append(EventType::kLog, Us(460), {0, kSJob}, "nobody");
    gb.AddBatch(kMain, 0, main.base_tick(), main.num_events(), main.data());
    format::EventEncoder worker(0);
    worker.Append(EventType::kTaskStart, Us(200), {5, 1});
    worker.Append(EventType::kTaskCreate, Us(210), {6, 5, kSJob, 0, 0});
    worker.Append(EventType::kLabels, Us(220), {5, kWebSet});
    worker.Append(EventType::kSyscallBegin, Us(230), {kSJob, 0});
    worker.Append(EventType::kSyscallEnd, Us(240), {});
    worker.Append(EventType::kTaskYield, Us(250), {5});
    worker.Append(EventType::kCounter, Us(260), {kSJob, 1});
    worker.Append(EventType::kLabels, Us(270), {0, kDbSet});
    worker.Append(EventType::kCounter, Us(280), {kSJob, 2});
    worker.Append(EventType::kTaskStart, Us(300), {6, 1});
    worker.Append(EventType::kTaskCreate, Us(310), {7, 6, kSJob, kWebASet, 0});
    worker.Append(EventType::kLog, Us(320), {0, kSJob}, "six");
    worker.Append(EventType::kTaskEnd, Us(330), {6});
    gb.AddBatch(kWorker, 0, worker.base_tick(), worker.num_events(),
                worker.data());
    gb.AppendTo(&out, /*compress=*/false);
  }
  {
    format::GenerationBuilder gb(2);
    AddFamilyTables(&gb);
    gb.AddTask({12, 11, kSJob, format::TaskStatus::kRunning, kWorker, kWebSet,
                1, format::BlockReason::kUnknown});
    gb.AddTask({11, 5, kSJob, format::TaskStatus::kRunnable, 0, 0, 1,
                format::BlockReason::kUnknown});
    format::EventEncoder worker(Us(1000));
    worker.Append(EventType::kSyscallBegin, Us(1000), {kSJob, 0});
    worker.Append(EventType::kSyscallEnd, Us(1010), {});
    worker.Append(EventType::kTaskEnd, Us(1020), {12});
    gb.AddBatch(kWorker, 0, worker.base_tick(), worker.num_events(),
                worker.data());
    gb.AppendTo(&out, /*compress=*/false);
  }
  return out;
}

TEST(EventFilterTest, TaskKeepsTheTasksItCreatedTransitively) {
  EventFilterOptions five;
  five.tasks = {5};
  absl::StatusOr<Events> r = Matching(MakeFamilyTrace(), five);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(
      *r,
      (Events{
          "100 T10 TaskCreate", "200 T11 TaskStart", "210 T11 TaskCreate",
          "220 T11 Labels", "230 T11 SyscallBegin", "240 T11 SyscallEnd",
          "250 T11 TaskYield", "300 T11 TaskStart", "310 T11 TaskCreate",
          "320 T11 Log", "330 T11 TaskEnd", "400 T10 TaskStart", "410 T10 Log",
          "420 T10 TaskEnd",
          // 12 descends from 5 through 11, by the second generation's table.
          "1000 T11 SyscallBegin", "1010 T11 SyscallEnd", "1020 T11 TaskEnd"}));
  EventFilterOptions six;
  six.tasks = {6};
  r = Matching(MakeFamilyTrace(), six);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (Events{"210 T11 TaskCreate", "300 T11 TaskStart",
                        "310 T11 TaskCreate", "320 T11 Log", "330 T11 TaskEnd",
                        "400 T10 TaskStart", "410 T10 Log", "420 T10 TaskEnd"}))
      << "not its parent 5, nor 12 (a descendant of 5 through 11, not of 6)";
}

TEST(EventFilterTest, LabelMatchesTheCurrentSetOfTheTaskOrElseOfTheThread) {
  EventFilterOptions web;
  web.labels = {{"pool", "web"}};
  absl::StatusOr<Events> r = Matching(MakeFamilyTrace(), web);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r,
            (Events{"100 T10 TaskCreate", "200 T11 TaskStart", "220 T11 Labels",
                    "230 T11 SyscallBegin", "240 T11 SyscallEnd",
                    "250 T11 TaskYield", "310 T11 TaskCreate",
                    "400 T10 TaskStart", "410 T10 Log", "420 T10 TaskEnd",
                    // 12's set from the second generation's table.
                    "1000 T11 SyscallBegin", "1010 T11 SyscallEnd",
                    "1020 T11 TaskEnd"}));

  EventFilterOptions endpoint;
  endpoint.labels = {{"endpoint", "/a"}};
  r = Matching(MakeFamilyTrace(), endpoint);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (Events{"100 T10 TaskCreate", "200 T11 TaskStart",
                        "310 T11 TaskCreate", "400 T10 TaskStart",
                        "410 T10 Log", "420 T10 TaskEnd"}))
      << "5's Labels at 220 us drops endpoint: that event and 5's later ones "
         "do not match";

  // The worker's own set (Labels with task 0) applies to its events while it
  // runs no task; main never labelled itself, so its Log at 460 us does not
  // match.
  EventFilterOptions db;
  db.labels = {{"pool", "db"}};
  r = Matching(MakeFamilyTrace(), db);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (Events{"110 T10 TaskCreate", "270 T11 Labels",
                        "280 T11 Counter", "430 T10 TaskStart",
                        "440 T10 CpuSample", "450 T10 TaskEnd"}));

  EventFilterOptions both;
  both.labels = {{"pool", "db"}, {"endpoint", "/a"}};
  EXPECT_EQ(Count(MakeFamilyTrace(), both), 0u) << "every label must hold";
  EventFilterOptions no_value;
  no_value.labels = {{"pool", ""}};
  EXPECT_EQ(Count(MakeFamilyTrace(), no_value), 0u);
}

TEST(EventFilterTest, TaskAndLabelAndTypeCombine) {
  EventFilterOptions options;
  options.tasks = {5};
  options.labels = {{"endpoint", "/a"}};
  absl::StatusOr<Events> r = Matching(MakeFamilyTrace(), options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 6u)
      << "every endpoint=/a event is 5's or a descendant's";
  options.types = {format::EventType::kLog};
  r = Matching(MakeFamilyTrace(), options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (Events{"410 T10 Log"}));
  options.threads = {"worker"};
  EXPECT_EQ(Count(MakeFamilyTrace(), options), 0u);
}

TEST(EventFilterTest, ATruncatedTraceIsTheReadersError) {
  const std::string data = MakeRequestTrace();
  EventFilterOptions options;
  options.tasks = {5};
  absl::StatusOr<Events> r =
      Matching(data.substr(0, data.size() - 40), options);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "offset")) << r.status();
}

TEST(EventFilterTest, TypeNamesParseWithoutCaseAndCommaSeparated) {
  absl::StatusOr<std::vector<format::EventType>> types =
      ParseEventTypes({"TaskBlock,regionbegin", " Log "});
  ASSERT_TRUE(types.ok()) << types.status();
  EXPECT_EQ(*types,
            (std::vector<format::EventType>{format::EventType::kTaskBlock,
                                            format::EventType::kRegionBegin,
                                            format::EventType::kLog}));
  types = ParseEventTypes({"NoSuchType"});
  ASSERT_FALSE(types.ok());
  EXPECT_TRUE(absl::StrContains(types.status().message(),
                                "unknown event type 'NoSuchType'"));
  EXPECT_TRUE(absl::StrContains(types.status().message(), "SetCurrentUserTask"))
      << "lists the valid names";
  EXPECT_FALSE(ParseEventTypes({"TaskBlock,"}).ok()) << "an empty name";
  EXPECT_FALSE(ParseEventTypes({"Invalid"}).ok()) << "type 0 is no event";
}

TEST(EventFilterTest, LabelsParseAsKeyEqualsValue) {
  auto label = ParseLabel("endpoint=/a=b");
  ASSERT_TRUE(label.ok());
  EXPECT_EQ(label->first, "endpoint");
  EXPECT_EQ(label->second, "/a=b");
  label = ParseLabel("pool=");
  ASSERT_TRUE(label.ok());
  EXPECT_EQ(label->second, "");
  EXPECT_FALSE(ParseLabel("pool").ok());
  EXPECT_FALSE(ParseLabel("=db").ok());
}

TEST(EventFilterTest, DescriptionIsTheFlags) {
  EventFilterOptions options;
  options.threads = {"worker", "12"};
  options.tasks = {5, 6};
  options.types = {format::EventType::kTaskBlock, format::EventType::kLog};
  options.from_ns = 1'500'000'000;
  options.to_ns = 2'000'000'000;
  options.labels = {{"pool", "db"}};
  EXPECT_FALSE(options.empty());
  EXPECT_EQ(options.Description(), "--thread worker --thread 12 --task 5,6 "
                                   "--type TaskBlock,Log --from 1.5s --to 2s "
                                   "--label pool=db");
}

} // namespace
} // namespace tracer::analysis
