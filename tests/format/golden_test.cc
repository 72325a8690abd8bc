// Golden traces: small traces checked into testdata/golden/ with their expected dumps.
//
// For each NAME:
//   NAME.trace  the trace bytes. Made by the generator below (so it can be re-made), but the
//               test reads the checked-in bytes: that is what guards the wire format against an
//               accidental change. The test also re-encodes and requires the same bytes.
//   NAME.txt    one line per event, in EventStream order (generations in file order, events
//               merged by tick within each): exactly the AppendEventText output followed by
//               '\n'. No header, no generation separators, no other text.
//   NAME.jsonl  the same events, one AppendEventJson object per line, each followed by '\n'.
//
// After an intended change of the format or of the printers, regenerate with
//   TRACER_UPDATE_GOLDEN=1 build/tests/format/format_golden_test
// and review the diff of testdata/golden/ like code.

#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "format/constants.h"
#include "format/event_printer.h"
#include "format/event_stream.h"
#include "format/trace_reader.h"
#include "gtest/gtest.h"
#include "tests/format/test_trace.h"

namespace tracer::format {
namespace {

using testing::ModelBatch;
using testing::ModelCrashBatch;
using testing::ModelEvent;
using testing::ModelGeneration;

const std::string kGoldenDir = std::string(TRACER_SOURCE_DIR) + "/testdata/golden/";

bool UpdateGolden() {
  const char* v = std::getenv("TRACER_UPDATE_GOLDEN");
  return v != nullptr && std::string(v) == "1";
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path
                         << " (run with TRACER_UPDATE_GOLDEN=1 to create it)";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

// 46.875 MHz: TSC ticks of 64 cycles at 3 GHz, as the runtime records them.
constexpr ClockSnapshot kClock{46875000, 1000, 1000000000, 1700000000000000000};

ModelEvent Ev(EventType type, uint64_t tick, std::vector<uint64_t> args, std::string bytes = {}) {
  ModelEvent m;
  m.type = type;
  m.tick = tick;
  m.args = std::move(args);
  m.bytes = std::move(bytes);
  return m;
}

// Two threads doing a request: every event type once or more, every table.
std::vector<ModelGeneration> Basic() {
  ModelGeneration g;
  g.seq = 1;
  g.clock = kClock;
  g.begin_ns = 1000000000;
  g.end_ns = 1000010000;
  g.strings = {{1, "worker-1"},  {2, "worker-2"},   {3, "handle_request"}, {4, "server.cc"},
               {5, "read"},      {6, "gc"},         {7, "rpc"},            {8, "queue_depth"},
               {9, "user"},      {10, "alice"},     {11, "db \"query\"\n"}, {12, "main"}};
  g.stacks = {Stack{1, {Frame{0x401000, 3, 4, 42}, Frame{0x400500, 12, 4, 7}}},
              Stack{2, {Frame{0x7f0000001234, 0, 0, 0}}}};
  g.threads = {ThreadInfo{101, 1}, ThreadInfo{102, 2}};
  g.tasks = {TaskState{7, 0, 3, TaskStatus::kRunnable, 0, 0, 4, BlockReason::kUnknown}};
  g.user_tasks = {UserTaskInfo{500, 0, 7}};
  g.label_sets = {LabelSet{1, {{9, 10}}}};
  g.losses = {LossRecord{102, 3, 1040, 1050}};
  g.mappings = {Mapping{0x400000, 0x500000, 0, 12, 0}};
  using T = EventType;
  g.batches.push_back(ModelBatch{
      101, 0, 1000,
      {Ev(T::kThreadStart, 1000, {}),
       Ev(T::kSetCurrentUserTask, 1001, {500}),
       Ev(T::kTaskCreate, 1002, {8, 7, 3, 1, 1}),
       Ev(T::kTaskStart, 1003, {7, 5}),
       Ev(T::kUserTaskBegin, 1003, {501, 500, 11, 0}),
       Ev(T::kRegionBegin, 1004, {7, 11, 1}),
       Ev(T::kLog, 1005, {7, 7}, "caf\xc3\xa9 \"quoted\"\tbad\xff\n"),
       Ev(T::kSyscallBegin, 1006, {5, 2}),
       Ev(T::kSyscallEnd, 1030, {}),
       Ev(T::kLabels, 1031, {7, 1}),
       Ev(T::kTaskBlock, 1032, {7, 1, 0xdeadbeef, 1}),
       Ev(T::kTaskStart, 1060, {7, 7}),
       Ev(T::kRegionEnd, 1061, {7, 11}),
       Ev(T::kUserTaskEnd, 1062, {501}),
       Ev(T::kTaskYield, 1063, {7}),
       Ev(T::kTaskEnd, 1070, {7}),
       Ev(T::kThreadStop, 1071, {})}});
  g.batches.push_back(ModelBatch{
      102, 0, 1000,
      {Ev(T::kThreadStart, 1000, {}),
       Ev(T::kPhaseBegin, 1010, {6, kPhaseStopTheWorld | kPhaseThreadScoped}),
       Ev(T::kCounter, 1011, {8, static_cast<uint64_t>(int64_t{-3})}),
       Ev(T::kPhaseEnd, 1020, {6}),
       Ev(T::kCpuSample, 1025, {0, 2}),
       Ev(T::kTaskUnblock, 1059, {7, 6, 8, 0xdeadbeef, 0}),
       Ev(T::kPhaseBegin, 1065, {6, 0}),
       Ev(T::kPhaseEnd, 1066, {6})}});
  return {g};
}

// Three generations of repetitive work; the middle one lz4-compressed.
std::vector<ModelGeneration> MultiGeneration() {
  std::vector<ModelGeneration> gens;
  uint64_t tick = 5000;
  for (uint64_t seq = 10; seq < 13; ++seq) {
    ModelGeneration g;
    g.seq = seq;
    g.compress = seq == 11;
    g.clock = kClock;
    g.clock.tick = tick;
    g.clock.mono_ns = 2000000000 + static_cast<int64_t>(seq) * 1000;
    g.begin_ns = g.clock.mono_ns;
    g.end_ns = g.begin_ns + 5000;
    g.strings = {{1, "poller"}, {2, "epoll_wait"}, {3, "request"}};
    g.threads = {ThreadInfo{201, 1}, ThreadInfo{202, 1}};
    for (uint64_t thread : {201, 202}) {
      ModelBatch b{thread, 0, tick, {}};
      uint64_t t = tick + (thread - 200);
      for (int i = 0; i < 6; ++i) {
        b.events.push_back(Ev(EventType::kSyscallBegin, t, {2, 0}));
        b.events.push_back(Ev(EventType::kSyscallEnd, t + 3, {}));
        b.events.push_back(Ev(EventType::kRegionBegin, t + 3, {0, 3, 0}));
        b.events.push_back(Ev(EventType::kRegionEnd, t + 9, {0, 3}));
        t += 11;
      }
      g.batches.push_back(std::move(b));
    }
    tick += 200;
    gens.push_back(std::move(g));
  }
  return gens;
}

// A seeded random generation: every event type with arbitrary arguments and bytes.
std::vector<ModelGeneration> RandomAllTypes() {
  testing::Rng rng(20240601);  // fixed: the golden files depend on it, not TRACER_TEST_SEED
  testing::RandomTraceOptions o;
  o.generations = 1;
  o.threads = 3;
  o.max_batches_per_thread = 1;
  o.max_events_per_batch = 25;
  o.big_tables = false;
  return testing::RandomTrace(rng, o);
}

// Format 2.0: a generation that states only the tasks that appear in it (task 20 runs, task 21
// is woken; task 22, parked all along, is absent), then the listing that ends a dump: every
// live task with its status, thread, reason, object, since when and stack.
std::vector<ModelGeneration> Listing() {
  using T = EventType;
  ModelGeneration g;
  g.seq = 40;
  g.clock = kClock;
  g.begin_ns = 1000000000;
  g.end_ns = 1000020000;
  g.strings = {{1, "worker"}, {2, "conn"}, {3, "pool-job"}, {4, "serve"}, {5, "net.cc"},
               {6, "endpoint"}, {7, "/get"}};
  g.stacks = {Stack{1, {Frame{0x401000, 4, 5, 88}}}, Stack{2, {Frame{0x401200, 4, 5, 120}}}};
  g.threads = {ThreadInfo{301, 1}};
  g.label_sets = {LabelSet{1, {{6, 7}}}};
  g.tasks = {TaskState{20, 0, 2, TaskStatus::kRunning, 301, 1, 3, BlockReason::kUnknown},
             TaskState{21, 20, 3, TaskStatus::kBlocked, 0, 0, 1, BlockReason::kChannel}};
  g.batches.push_back(ModelBatch{301, 0, 1000,
                                 {Ev(T::kTaskUnblock, 1005, {21, 2, 20, 0x5000, 2}),
                                  Ev(T::kTaskBlock, 1010, {20, 8, 0x6000, 1}),
                                  Ev(T::kTaskStart, 1011, {21, 3})}});
  ModelGeneration l;
  l.seq = 41;
  l.clock = kClock;
  l.clock.tick = 1020;
  l.begin_ns = l.end_ns = 1000020000;
  l.listing = true;
  l.strings = {{2, "conn"}, {3, "pool-job"}, {6, "endpoint"}, {7, "/get"}, {8, "ticker"},
               {4, "serve"}, {5, "net.cc"}};
  l.stacks = {Stack{1, {Frame{0x401000, 4, 5, 88}}}, Stack{2, {Frame{0x401200, 4, 5, 120}}}};
  l.label_sets = {LabelSet{1, {{6, 7}}}};
  l.live_tasks = {
      LiveTask{20, 0, 2, TaskStatus::kBlocked, 0, 1, BlockReason::kNetwork, 0x6000, 1010, 1},
      LiveTask{21, 20, 3, TaskStatus::kRunning, 301, 0, BlockReason::kUnknown, 0, 1011, 2},
      LiveTask{22, 0, 8, TaskStatus::kBlocked, 0, 0, BlockReason::kSleep, 0, 0, 0},
      LiveTask{23, 20, 3, TaskStatus::kSyscall, 301, 1, BlockReason::kUnknown, 0, 990, 2},
      LiveTask{24, 0, 3, TaskStatus::kRunnable, 0, 0, BlockReason::kUnknown, 0, 1015, 0}};
  l.user_tasks = {UserTaskInfo{600, 0, 4}};
  // A program with nothing live still ends with a listing, empty.
  ModelGeneration empty;
  empty.seq = 42;
  empty.clock = l.clock;
  empty.begin_ns = empty.end_ns = l.end_ns;
  empty.listing = true;
  return {g, l, empty};
}

// Format 2.0: a crash generation (kGenFlagCrash) as a crash handler writes it: a sealed batch,
// two crash batches copied from live buffers, one torn (its CRC fails) and one that does not
// decode. The dump holds the events of the three good batches; the two others are dropped
// alone (GoldenCrashTest).
std::vector<ModelGeneration> Crash() {
  using T = EventType;
  ModelGeneration g;
  g.seq = 50;
  g.crash = true;
  g.clock = kClock;
  g.begin_ns = g.end_ns = 1000050000;
  g.strings = {{1, "main"}, {2, "worker"}, {3, "handle"}, {4, "depth"}};
  g.threads = {ThreadInfo{401, 1}, ThreadInfo{402, 2}, ThreadInfo{403, 2}};
  g.batches.push_back(ModelBatch{401, 0, 1000,
                                 {Ev(T::kRegionBegin, 1001, {0, 3, 0}),
                                  Ev(T::kRegionEnd, 1009, {0, 3})}});
  auto crash = [](ModelBatch b) {
    ModelCrashBatch c;
    c.batch = std::move(b);
    return c;
  };
  g.crash_batches.push_back(crash(ModelBatch{
      401, 1, 1010, {Ev(T::kCounter, 1011, {4, 7}), Ev(T::kRegionBegin, 1012, {0, 3, 0})}}));
  g.crash_batches.push_back(crash(ModelBatch{402, 0, 1000, {Ev(T::kCounter, 1005, {4, 9})}}));
  ModelCrashBatch torn = crash(ModelBatch{403, 0, 1000, {Ev(T::kCounter, 1006, {4, 1})}});
  torn.torn = true;
  g.crash_batches.push_back(torn);
  ModelCrashBatch cut = crash(ModelBatch{403, 1, 1007, {}});
  cut.raw_events = std::string("\x13\x01\x04", 3);  // a counter (type 19) cut after its name
  g.crash_batches.push_back(cut);
  return {g};
}

struct Golden {
  const char* name;
  std::function<std::vector<ModelGeneration>()> make;
};
const Golden kGoldens[] = {
    {"basic", Basic},
    {"multi_generation", MultiGeneration},
    {"random_all_types", RandomAllTypes},
    {"listing", Listing},
    {"crash", Crash},
};

struct Dumps {
  std::string text;
  std::string jsonl;
  size_t events = 0;
  size_t compressed_generations = 0;
};

Dumps DumpTrace(const std::string& bytes) {
  Dumps d;
  auto reader = TraceReader::FromSource(MakeStringSource(bytes));
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return d;
  EventStream stream(reader->get());
  Event e;
  const Generation* last = nullptr;
  while (stream.Next(&e)) {
    if (&stream.generation() != last) {
      last = &stream.generation();
      d.compressed_generations += last->compressed;
    }
    AppendEventText(stream.generation(), e, &d.text);
    d.text.push_back('\n');
    AppendEventJson(stream.generation(), e, &d.jsonl);
    d.jsonl.push_back('\n');
    ++d.events;
  }
  EXPECT_TRUE(stream.status().ok()) << stream.status();
  return d;
}

class GoldenTest : public ::testing::TestWithParam<Golden> {};

TEST_P(GoldenTest, CheckedInTraceDumpsAsExpectedAndReencodesToTheSameBytes) {
  const Golden& golden = GetParam();
  const std::string base = kGoldenDir + golden.name;
  const std::vector<ModelGeneration> model = golden.make();
  const std::string encoded = testing::EncodeTrace(model);
  if (UpdateGolden()) {
    WriteFile(base + ".trace", encoded);
    Dumps d = DumpTrace(encoded);
    WriteFile(base + ".txt", d.text);
    WriteFile(base + ".jsonl", d.jsonl);
  }
  const std::string checked_in = ReadFileOrDie(base + ".trace");
  ASSERT_FALSE(checked_in.empty());
  EXPECT_TRUE(checked_in == encoded)
      << golden.name << ".trace differs from what the writer produces today ("
      << checked_in.size() << " vs " << encoded.size()
      << " bytes): the wire format changed. If intended, bump the version as FORMAT.md says "
         "and regenerate with TRACER_UPDATE_GOLDEN=1.";
  const Dumps d = DumpTrace(checked_in);
  size_t model_events = 0;
  for (const ModelGeneration& g : model) {
    for (const ModelBatch& b : g.batches) model_events += b.events.size();
    for (const ModelCrashBatch& c : g.crash_batches) {
      if (c.accepted()) model_events += c.batch.events.size();
    }
  }
  EXPECT_EQ(d.events, model_events);
  EXPECT_EQ(d.text, ReadFileOrDie(base + ".txt")) << golden.name << ".txt";
  EXPECT_EQ(d.jsonl, ReadFileOrDie(base + ".jsonl")) << golden.name << ".jsonl";
  if (std::string(golden.name) == "multi_generation") {
    EXPECT_EQ(d.compressed_generations, 1u) << "the middle generation should be lz4";
  }
}

INSTANTIATE_TEST_SUITE_P(Traces, GoldenTest, ::testing::ValuesIn(kGoldens),
                         [](const auto& info) { return std::string(info.param.name); });

std::vector<std::shared_ptr<const Generation>> ReadAll(const std::string& bytes,
                                                       uint16_t* major = nullptr) {
  std::vector<std::shared_ptr<const Generation>> out;
  auto reader = TraceReader::FromSource(MakeStringSource(bytes));
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return out;
  if (major != nullptr) *major = (*reader)->version_major();
  for (;;) {
    auto g = (*reader)->Next();
    EXPECT_TRUE(g.ok()) << g.status();
    if (!g.ok() || *g == nullptr) break;
    out.push_back(*g);
  }
  return out;
}

// The 1.0 files written before format 2.0 (testdata/golden/v1.0/) still read: as 1.x (each
// generation's task table lists every live task), with the same events as their 2.0
// re-encoding. 2.0 kept every 1.0 section's encoding: the files differ in the header's major
// version alone.
class GoldenV1Test : public ::testing::TestWithParam<Golden> {};

TEST_P(GoldenV1Test, ReadsAsOneXWithTheSameEventsAndDiffersInTheMajorVersionAlone) {
  const Golden& golden = GetParam();
  const std::string v1 = ReadFileOrDie(kGoldenDir + "v1.0/" + golden.name + ".trace");
  ASSERT_GT(v1.size(), kFileHeaderSize);
  uint16_t major = 0;
  const auto gens = ReadAll(v1, &major);
  EXPECT_EQ(major, 1);
  ASSERT_FALSE(gens.empty());
  for (const auto& g : gens) {
    EXPECT_TRUE(g->tasks_complete);
    EXPECT_FALSE(g->listing);
  }
  const Dumps d = DumpTrace(v1);
  EXPECT_EQ(d.text, ReadFileOrDie(kGoldenDir + golden.name + ".txt"));
  EXPECT_EQ(d.jsonl, ReadFileOrDie(kGoldenDir + golden.name + ".jsonl"));
  std::string v2 = testing::EncodeTrace(golden.make());
  ASSERT_EQ(v2.size(), v1.size());
  EXPECT_EQ(v2[8], 2);
  v2[8] = 1;
  EXPECT_TRUE(v2 == v1) << "2.0 re-encoded a 1.0 section differently";
}

INSTANTIATE_TEST_SUITE_P(Traces, GoldenV1Test, ::testing::ValuesIn(kGoldens, kGoldens + 3),
                         [](const auto& info) { return std::string(info.param.name); });

// The crash golden: the torn batch and the cut one are dropped alone, with their offsets and
// threads; the three good batches read.
TEST(GoldenCrashTest, TornAndCutBatchesAreDroppedAlone) {
  const std::string bytes = ReadFileOrDie(kGoldenDir + "crash.trace");
  const auto gens = ReadAll(bytes);
  ASSERT_EQ(gens.size(), 1u);
  const Generation& g = *gens[0];
  EXPECT_TRUE(g.crash);
  EXPECT_EQ(g.batches.size(), 3u);
  ASSERT_EQ(g.dropped_batches.size(), 2u);
  EXPECT_EQ(g.dropped_batches[0].thread, 403u);
  EXPECT_TRUE(absl::StrContains(g.dropped_batches[0].reason, "checksum mismatch"));
  EXPECT_EQ(g.dropped_batches[1].thread, 403u);
  EXPECT_TRUE(absl::StrContains(g.dropped_batches[1].reason, "does not decode"))
      << g.dropped_batches[1].reason;
  for (const DroppedBatch& d : g.dropped_batches) {
    ASSERT_LT(d.file_offset, bytes.size());
    EXPECT_EQ(static_cast<uint8_t>(bytes[d.file_offset]),
              static_cast<uint8_t>(SectionKind::kCrashBatch));
  }
}

// The listing golden reads back as written: a 2.0 generation states only its tasks, the
// listing holds every live task, and an empty listing is still a listing.
TEST(GoldenListingTest, ListingReadsBackAsWritten) {
  const std::vector<ModelGeneration> model = Listing();
  uint16_t major = 0;
  const auto gens = ReadAll(ReadFileOrDie(kGoldenDir + "listing.trace"), &major);
  EXPECT_EQ(major, 2);
  ASSERT_EQ(gens.size(), 3u);
  EXPECT_FALSE(gens[0]->tasks_complete);
  EXPECT_FALSE(gens[0]->listing);
  EXPECT_EQ(gens[0]->tasks, model[0].tasks);
  EXPECT_TRUE(gens[0]->live_tasks.empty());
  EXPECT_TRUE(gens[1]->listing);
  EXPECT_TRUE(gens[1]->batches.empty());
  EXPECT_EQ(gens[1]->live_tasks, model[1].live_tasks);
  EXPECT_EQ(gens[1]->String(gens[1]->live_tasks[2].name), "ticker");
  ASSERT_NE(gens[1]->FindStack(gens[1]->live_tasks[0].stack), nullptr);
  EXPECT_EQ(gens[1]->FindStack(gens[1]->live_tasks[0].stack)->frames[0].line, 88u);
  EXPECT_EQ(gens[1]->user_tasks, model[1].user_tasks);
  EXPECT_TRUE(gens[2]->listing);
  EXPECT_TRUE(gens[2]->live_tasks.empty());
}

// A hand-checked line, so the golden files cannot drift into nonsense unnoticed: 1006 ticks
// is 6 ticks (128 ns) after the snapshot at tick 1000.
TEST(GoldenFormatTest, TextAndJsonLinesHaveTheDocumentedShape) {
  const Dumps d = DumpTrace(testing::EncodeTrace(Basic()));
  EXPECT_NE(d.text.find("1000000128 T101 SyscallBegin name=\"read\" stack=2\n"), std::string::npos)
      << d.text;
  EXPECT_NE(d.text.find("T102 Counter name=\"queue_depth\" value=-3\n"), std::string::npos);
  EXPECT_NE(d.text.find("PhaseBegin name=\"gc\" flags=stw|thread\n"), std::string::npos);
  EXPECT_NE(d.text.find("TaskBlock task=7 reason=mutex object=3735928559 stack=1\n"),
            std::string::npos);
  EXPECT_NE(d.jsonl.find("{\"ts_ns\":1000000128,\"real_ns\":1700000000000000128,\"thread\":101,"
                         "\"type\":\"SyscallBegin\",\"name\":\"read\",\"stack\":2}\n"),
            std::string::npos)
      << d.jsonl;
  // Invalid UTF-8 in a log message becomes U+FFFD in JSON, a hex escape in text.
  EXPECT_NE(d.jsonl.find("bad\xef\xbf\xbd\\n"), std::string::npos);
  EXPECT_NE(d.text.find("bad\\xff\\n"), std::string::npos);
}

}  // namespace
}  // namespace tracer::format
