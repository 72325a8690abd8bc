// Property test: random traces (every event type, every table, many threads and generations,
// with and without lz4) read back exactly as written. Seeded; TRACER_TEST_SEED overrides.

#include <atomic>
#include <cstdlib>
#include <new>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "format/constants.h"
#include "format/internal/varint.h"
#include "format/trace_reader.h"
#include "format/trace_writer.h"
#include "gtest/gtest.h"
#include "tests/format/test_trace.h"

// The largest single allocation while g_track_allocations is set: a replacement of the global
// operator new for this test binary (new[] and the nothrow forms go through it).
namespace {
std::atomic<bool> g_track_allocations{false};
std::atomic<size_t> g_largest_allocation{0};
}  // namespace

__attribute__((noinline)) void* operator new(size_t n) {
  if (g_track_allocations.load(std::memory_order_relaxed)) {
    size_t seen = g_largest_allocation.load(std::memory_order_relaxed);
    while (n > seen && !g_largest_allocation.compare_exchange_weak(seen, n)) {
    }
  }
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) std::abort();
  return p;
}
// The nothrow forms too (std::stable_sort's buffer uses them): under ASan the default nothrow
// new is the sanitizer's, which the free() below would then report as a mismatch.
__attribute__((noinline)) void* operator new(size_t n, const std::nothrow_t&) noexcept {
  return std::malloc(n == 0 ? 1 : n);
}
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, size_t) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace tracer::format {
namespace {

using testing::ModelBatch;
using testing::ModelEvent;
using testing::ModelGeneration;
using testing::RandomTraceOptions;
using testing::Rng;

// Compares one decoded generation with what was written, field by field.
void ExpectGenerationMatches(const Generation& got, const ModelGeneration& want) {
  EXPECT_EQ(got.seq, want.seq);
  EXPECT_EQ(got.begin_ns, want.begin_ns);
  EXPECT_EQ(got.end_ns, want.end_ns);
  EXPECT_EQ(got.clock, want.clock);
  if (!want.compress) {
    EXPECT_FALSE(got.compressed);
  }

  ASSERT_EQ(got.strings().size(), want.strings.size());
  for (size_t i = 0; i < want.strings.size(); ++i) {
    EXPECT_EQ(got.strings()[i].first, want.strings[i].first);
    EXPECT_EQ(got.strings()[i].second, want.strings[i].second);
    EXPECT_EQ(got.String(want.strings[i].first), want.strings[i].second);
    EXPECT_TRUE(got.HasString(want.strings[i].first));
  }
  EXPECT_TRUE(got.HasString(0));
  EXPECT_EQ(got.String(0), "");
  EXPECT_EQ(got.stacks, want.stacks);
  for (const Stack& s : want.stacks) {
    ASSERT_NE(got.FindStack(s.id), nullptr) << s.id;
    EXPECT_EQ(*got.FindStack(s.id), s);
  }
  EXPECT_EQ(got.threads, want.threads);
  EXPECT_EQ(got.tasks, want.tasks);
  EXPECT_EQ(got.user_tasks, want.user_tasks);
  EXPECT_EQ(got.label_sets, want.label_sets);
  for (const LabelSet& l : want.label_sets) {
    ASSERT_NE(got.FindLabelSet(l.id), nullptr) << l.id;
    EXPECT_EQ(*got.FindLabelSet(l.id), l);
  }
  EXPECT_EQ(got.losses, want.losses);
  EXPECT_EQ(got.mappings, want.mappings);

  const std::vector<ModelBatch> batches = want.SortedBatches();
  ASSERT_EQ(got.batches.size(), batches.size());
  for (size_t b = 0; b < batches.size(); ++b) {
    SCOPED_TRACE(absl::StrCat("batch ", b));
    const Batch& gb = got.batches[b];
    const ModelBatch& wb = batches[b];
    EXPECT_EQ(gb.thread, wb.thread);
    EXPECT_EQ(gb.seq, wb.seq);
    EXPECT_EQ(gb.base_tick, wb.base_tick);
    EXPECT_EQ(gb.num_events, wb.events.size());
    BatchEventReader r(got, b);
    Event e;
    for (size_t i = 0; i < wb.events.size(); ++i) {
      const ModelEvent& w = wb.events[i];
      ASSERT_TRUE(r.Next(&e)) << "event " << i << ": " << r.status();
      ASSERT_EQ(e.type, w.type) << "event " << i;
      EXPECT_EQ(e.thread, wb.thread);
      EXPECT_EQ(e.tick, w.tick) << "event " << i;
      for (size_t a = 0; a < w.args.size(); ++a) {
        EXPECT_EQ(e.args[a], w.args[a]) << e.spec().name << " arg " << e.spec().args[a].name;
      }
      if (e.spec().has_bytes()) {
        EXPECT_EQ(e.bytes, w.bytes);
        EXPECT_EQ(e.args[e.spec().num_args - 1], w.bytes.size());
      } else {
        EXPECT_TRUE(e.bytes.empty());
      }
    }
    EXPECT_FALSE(r.Next(&e));
    EXPECT_TRUE(r.status().ok()) << r.status();
  }
}

void RoundTrip(uint64_t seed, const RandomTraceOptions& options) {
  SCOPED_TRACE(absl::StrCat("seed ", seed, " (rerun with TRACER_TEST_SEED=", seed, ")"));
  Rng rng(seed);
  std::vector<ModelGeneration> gens = testing::RandomTrace(rng, options);
  const std::string bytes = testing::EncodeTrace(gens);
  testing::ReadResult res = testing::ReadAll(bytes);
  ASSERT_TRUE(res.status.ok()) << res.status;
  ASSERT_EQ(res.generations.size(), gens.size());
  uint64_t offset = kFileHeaderSize;
  std::set<int> types_seen;
  for (size_t i = 0; i < gens.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("generation ", i));
    const Generation& g = *res.generations[i];
    EXPECT_EQ(g.file_offset, offset);
    offset += g.file_size;
    ExpectGenerationMatches(g, gens[i]);
    for (const ModelBatch& b : gens[i].batches) {
      for (const ModelEvent& e : b.events) types_seen.insert(static_cast<int>(e.type));
    }
  }
  EXPECT_EQ(offset, bytes.size());
  // The generator must have covered the whole table, or this test proves less than it claims.
  EXPECT_EQ(types_seen.size(), static_cast<size_t>(EventType::kNumEventTypes) - 1);
}

TEST(RoundTripTest, RandomTracesReadBackIdentically) {
  const uint64_t base = testing::TestSeed(0x7472616365);
  for (uint64_t i = 0; i < 12; ++i) {
    RandomTraceOptions o;
    o.generations = 4;
    o.threads = 1 + static_cast<int>(i % 12);
    RoundTrip(base + i, o);
    if (HasFatalFailure()) return;
  }
}

TEST(RoundTripTest, EveryGenerationCompressedReadsBackIdentically) {
  RandomTraceOptions o;
  o.compress_all = true;
  o.threads = 16;
  o.generations = 3;
  RoundTrip(testing::TestSeed(99), o);
}

TEST(RoundTripTest, UncompressedTraceReadsBackIdentically) {
  RandomTraceOptions o;
  o.compress_some = false;
  o.threads = 8;
  RoundTrip(testing::TestSeed(5), o);
}

TEST(RoundTripTest, CompressibleGenerationsAreStoredAsLz4) {
  Rng rng(testing::TestSeed(7));
  RandomTraceOptions o;
  o.compress_all = true;
  o.max_events_per_batch = 2000;
  std::vector<ModelGeneration> gens = testing::RandomTrace(rng, o);
  // A repetitive table guarantees lz4 pays off.
  for (ModelGeneration& g : gens) g.strings.emplace_back(kMaxTableId - 1, std::string(4096, 'a'));
  testing::ReadResult res = testing::ReadAll(testing::EncodeTrace(gens));
  ASSERT_TRUE(res.status.ok()) << res.status;
  for (const auto& g : res.generations) {
    EXPECT_TRUE(g->compressed) << g->seq;
  }
  EXPECT_EQ(res.generations.size(), gens.size());
}

TEST(RoundTripTest, EmptyGenerationsAndEmptyBatchesReadBack) {
  ModelGeneration g;
  g.seq = 3;
  g.clock.ticks_per_second = 1;
  g.batches.push_back(ModelBatch{/*thread=*/9, /*seq=*/0, /*base_tick=*/5, {}});
  ModelGeneration bare;
  bare.seq = 4;
  bare.compress = true;
  bare.clock.ticks_per_second = 2;
  testing::ReadResult res = testing::ReadAll(testing::EncodeTrace({g, bare}));
  ASSERT_TRUE(res.status.ok()) << res.status;
  ASSERT_EQ(res.generations.size(), 2u);
  ExpectGenerationMatches(*res.generations[0], g);
  ExpectGenerationMatches(*res.generations[1], bare);
  EXPECT_TRUE(res.generations[1]->batches.empty());
}

// Ids are the writer's choice, up to kMaxTableId. A few of them near the maximum must resolve
// (tables and events) without the reader sizing an index by the largest id (16 MiB of it).
TEST(RoundTripTest, SparseTableIdsNearTheMaximumResolveWithoutAHugeIndex) {
  const uint64_t max = kMaxTableId;
  ModelGeneration g;
  g.seq = 8;
  g.clock.ticks_per_second = 1000;
  g.strings = {{max, "max"}, {1, "one"}, {max / 2, "half"}};
  g.stacks = {Stack{max - 1, {Frame{0x1000, max, max / 2, 3}}}, Stack{2, {}}};
  g.label_sets = {LabelSet{max - 2, {{1, max}}}};
  g.threads = {ThreadInfo{7, max}};
  ModelBatch b{7, 0, 100, {}};
  b.events.push_back(ModelEvent{EventType::kSyscallBegin, 101, {max, max - 1}, ""});
  b.events.push_back(ModelEvent{EventType::kLabels, 102, {3, max - 2}, ""});
  b.events.push_back(ModelEvent{EventType::kSyscallBegin, 103, {max / 2, 2}, ""});
  // Far from the batch end, where the merge's unchecked run decodes (it hands sparse ids over
  // to the checked path).
  for (uint64_t t = 104; t < 144; ++t) {
    b.events.push_back(ModelEvent{EventType::kSyscallBegin, t, {t % 2 ? max : 1, max - 1}, ""});
  }
  g.batches.push_back(b);
  const std::string bytes = testing::EncodeTrace({g});

  g_largest_allocation = 0;
  g_track_allocations = true;
  testing::ReadResult res = testing::ReadAll(bytes);
  g_track_allocations = false;
  ASSERT_TRUE(res.status.ok()) << res.status;
  ASSERT_EQ(res.generations.size(), 1u);
  EXPECT_LT(g_largest_allocation.load(), size_t{1} << 20)
      << "an allocation sized by the largest id rather than by the entries";
  const Generation& got = *res.generations[0];
  ExpectGenerationMatches(got, g);
  EXPECT_EQ(got.String(max), "max");
  EXPECT_EQ(got.String(max / 2), "half");
  EXPECT_EQ(got.String(max - 1), "");
  EXPECT_FALSE(got.HasString(max - 1));
  EXPECT_FALSE(got.HasString(max + 1));
  EXPECT_EQ(got.FindStack(max), nullptr);
  EXPECT_EQ(got.FindLabelSet(max), nullptr);
  EXPECT_EQ(got.ThreadName(7), "max");
  // The merged reader gives the same events.
  MergedGenerationReader m(got);
  size_t n = 0;
  while (const Event* e = m.Next()) {
    ASSERT_LT(n, b.events.size());
    EXPECT_EQ(e->tick, b.events[n].tick);
    EXPECT_EQ(e->args[0], b.events[n].args[0]) << n;
    EXPECT_EQ(e->args[1], b.events[n].args[1]) << n;
    ++n;
  }
  EXPECT_TRUE(m.status().ok()) << m.status();
  EXPECT_EQ(n, b.events.size());

  // An event naming a sparse id that is not defined is still refused.
  ModelGeneration bad = g;
  bad.batches[0].events[2].args = {max - 3, 0};  // decoded by the checked path: refused
  testing::ReadResult refused = testing::ReadAll(testing::EncodeTrace({bad}));
  EXPECT_TRUE(absl::StrContains(refused.status.message(),
                                absl::StrCat("undefined string id ", max - 3)))
      << refused.status;
}

// raw_payload_bytes() is what the writer checks against the limit: it must be exact.
TEST(RoundTripTest, RawPayloadBytesIsTheSizeOfTheWrittenPayload) {
  Rng rng(testing::TestSeed(21));
  RandomTraceOptions o;
  o.compress_some = false;
  std::vector<ModelGeneration> gens = testing::RandomTrace(rng, o);
  ModelGeneration empty;
  empty.seq = 1;
  gens.push_back(empty);
  for (const ModelGeneration& g : gens) {
    GenerationBuilder gb(g.seq);
    testing::FillBuilder(g, gb);
    std::string out;
    const size_t appended = gb.AppendTo(&out, /*compress=*/false);
    ASSERT_EQ(appended, out.size());
    EXPECT_EQ(gb.raw_payload_bytes(), out.size() - kGenerationHeaderSize) << g.seq;
    EXPECT_EQ(format_internal::LoadLE32(out.data() + 36), gb.raw_payload_bytes());
  }
}

// Borrowed batches (the collector's way: no copy until encoding) encode to the same bytes as
// copied ones, raw and lz4, and a Reset builder forgets them.
TEST(RoundTripTest, BorrowedBatchesEncodeLikeCopiedOnes) {
  Rng rng(testing::TestSeed(23));
  RandomTraceOptions o;
  o.compress_some = false;
  const std::vector<ModelGeneration> gens = testing::RandomTrace(rng, o);
  ASSERT_FALSE(gens.empty());
  GenerationBuilder reused(0);
  for (const ModelGeneration& g : gens) {
    for (bool compress : {false, true}) {
      GenerationBuilder copied(g.seq);
      testing::FillBuilder(g, copied);
      std::string want;
      ASSERT_TRUE(copied.TryAppendTo(&want, compress).ok());

      std::vector<std::string> storage;
      reused.Reset(g.seq);
      testing::FillBuilder(g, reused, &storage);
      EXPECT_EQ(reused.raw_payload_bytes(), copied.raw_payload_bytes()) << g.seq;
      EXPECT_EQ(reused.num_batches(), g.batches.size());
      std::string got = "prefix";
      ASSERT_TRUE(reused.TryAppendTo(&got, compress).ok());
      EXPECT_EQ(got, "prefix" + want) << "generation " << g.seq << " compress " << compress;
    }
  }
  reused.Reset(99);
  EXPECT_EQ(reused.num_batches(), 0u);
  GenerationBuilder empty(99);
  std::string a, b;
  ASSERT_TRUE(reused.TryAppendTo(&a, false).ok());
  ASSERT_TRUE(empty.TryAppendTo(&b, false).ok());
  EXPECT_EQ(a, b);
}

// A payload over the format's limit (1 GiB: past it the reader refuses the generation and all
// after it; past 4 GiB the u32 lengths would wrap) is refused by the writer, which appends
// nothing. The limit is lowered here so the test needs no gigabyte.
TEST(RoundTripTest, WriterRefusesAPayloadOverTheLimitAndAppendsNothing) {
  Rng rng(testing::TestSeed(22));
  RandomTraceOptions o;
  o.generations = 1;
  ModelGeneration g = testing::RandomTrace(rng, o)[0];
  for (bool compress : {false, true}) {
    SCOPED_TRACE(compress ? "lz4" : "raw");
    g.compress = compress;
    GenerationBuilder gb(g.seq);
    testing::FillBuilder(g, gb);
    const size_t raw = gb.raw_payload_bytes();
    std::string out;
    AppendFileHeader(&out);
    const std::string before = out;

    gb.SetPayloadLimitForTesting(raw - 1);
    absl::StatusOr<size_t> refused = gb.TryAppendTo(&out, compress);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                  absl::StrCat("generation ", g.seq, ": the payload would be ",
                                               raw, " bytes, over the format's limit of ",
                                               raw - 1)))
        << refused.status();
    EXPECT_EQ(out, before);
    EXPECT_EQ(gb.AppendTo(&out, compress), 0u);
    EXPECT_EQ(out, before) << "a dropped generation leaves the file readable";

    gb.SetPayloadLimitForTesting(raw);  // exactly at the limit: written
    absl::StatusOr<size_t> written = gb.TryAppendTo(&out, compress);
    ASSERT_TRUE(written.ok()) << written.status();
    EXPECT_EQ(*written, out.size() - before.size());
    testing::ReadResult res = testing::ReadAll(out);
    ASSERT_TRUE(res.status.ok()) << res.status;
    ASSERT_EQ(res.generations.size(), 1u);
    ExpectGenerationMatches(*res.generations[0], g);
  }
}

TEST(RoundTripTest, FileWithOnlyAHeaderHasNoGenerations) {
  std::string bytes;
  AppendFileHeader(&bytes);
  testing::ReadResult res = testing::ReadAll(bytes);
  EXPECT_TRUE(res.status.ok()) << res.status;
  EXPECT_TRUE(res.generations.empty());
}

TEST(RoundTripTest, ReadingWithoutEventValidationGivesTheSameGenerations) {
  Rng rng(testing::TestSeed(11));
  const std::string bytes = testing::EncodeTrace(testing::RandomTrace(rng, {}));
  testing::ReadResult checked = testing::ReadAll(bytes, true);
  testing::ReadResult fast = testing::ReadAll(bytes, false);
  ASSERT_TRUE(checked.status.ok());
  ASSERT_TRUE(fast.status.ok());
  ASSERT_EQ(checked.generations.size(), fast.generations.size());
  for (size_t i = 0; i < checked.generations.size(); ++i) {
    EXPECT_EQ(testing::CanonicalDump(*checked.generations[i]),
              testing::CanonicalDump(*fast.generations[i]));
  }
}

TEST(RoundTripTest, FileSourceReadsTheSameAsStringSource) {
  Rng rng(testing::TestSeed(12));
  const std::string bytes = testing::EncodeTrace(testing::RandomTrace(rng, {}));
  const std::string path = ::testing::TempDir() + "/round_trip_file_source.trace";
  {
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
    std::fclose(f);
  }
  auto reader = TraceReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->version_major(), kVersionMajor);
  EXPECT_EQ((*reader)->version_minor(), kVersionMinor);
  testing::ReadResult want = testing::ReadAll(bytes);
  for (const auto& w : want.generations) {
    auto g = (*reader)->Next();
    ASSERT_TRUE(g.ok()) << g.status();
    ASSERT_NE(*g, nullptr);
    EXPECT_EQ(testing::CanonicalDump(**g), testing::CanonicalDump(*w));
  }
  auto end = (*reader)->Next();
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, nullptr);
  EXPECT_EQ((*reader)->offset(), bytes.size());
  std::remove(path.c_str());
}

TEST(RoundTripTest, MissingFileIsNotFound) {
  auto reader = TraceReader::Open("/nonexistent/dir/x.trace");
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(reader.status().message().find("/nonexistent/dir/x.trace"), std::string::npos);
}

}  // namespace
}  // namespace tracer::format
