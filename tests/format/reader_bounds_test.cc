// The reader's resource bounds on hostile input (issue #15, defect 7): the memory a generation
// may take (FORMAT.md, "What a reader validates"), measured with a counting operator new, and
// the merge's work, counted by the merge itself, growing like n log n in the batches.

#include <malloc.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "format/constants.h"
#include "format/internal/generation_merge.h"
#include "format/internal/generation_parser.h"
#include "format/trace_reader.h"
#include "format/trace_writer.h"
#include "gtest/gtest.h"

// ---- A counting heap: live bytes and their peak, for every operator new of the binary. ----

namespace {
std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};

void* CountedAlloc(size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  const int64_t live =
      g_live.fetch_add(static_cast<int64_t>(malloc_usable_size(p)), std::memory_order_relaxed) +
      static_cast<int64_t>(malloc_usable_size(p));
  int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (live > peak && !g_peak.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
  return p;
}
void CountedFree(void* p) {
  if (p == nullptr) return;
  g_live.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
  std::free(p);
}
}  // namespace

void* operator new(size_t n) { return CountedAlloc(n); }
void* operator new[](size_t n) { return CountedAlloc(n); }
void operator delete(void* p) noexcept { CountedFree(p); }
void operator delete[](void* p) noexcept { CountedFree(p); }
void operator delete(void* p, size_t) noexcept { CountedFree(p); }
void operator delete[](void* p, size_t) noexcept { CountedFree(p); }

namespace tracer::format {
namespace {

// Heap growth (peak minus the live bytes at the start) while `fn` runs.
template <typename Fn>
int64_t PeakHeapGrowth(Fn fn) {
  const int64_t base = g_live.load(std::memory_order_relaxed);
  g_peak.store(base, std::memory_order_relaxed);
  fn();
  return g_peak.load(std::memory_order_relaxed) - base;
}

struct Encoded {
  std::string file;
  uint64_t stored_bytes = 0;  // S: the generation's payload as stored
  uint64_t raw_bytes = 0;     // R: decompressed
};

Encoded Encode(const GenerationBuilder& gb, bool compress) {
  Encoded e;
  e.raw_bytes = gb.raw_payload_bytes();
  AppendFileHeader(&e.file);
  const size_t n = gb.AppendTo(&e.file, compress);
  EXPECT_GT(n, 0u);
  e.stored_bytes = n - kGenerationHeaderSize;
  return e;
}

// Reads the one generation of `file`; its status, and the heap growth the read took.
absl::Status ReadOne(const std::string& file, int64_t* peak) {
  absl::Status status;
  *peak = PeakHeapGrowth([&] {
    auto reader = TraceReader::FromSource(MakeStringSource(file));
    if (!reader.ok()) {
      status = reader.status();
      return;
    }
    absl::StatusOr<std::shared_ptr<const Generation>> g = (*reader)->Next();
    status = g.ok() ? absl::OkStatus() : g.status();
  });
  return status;
}

// FORMAT.md's bound for a generation: max(2S, S + R, R + T) <= 2S + R + T, with the tables T
// at most kTableBytesPerPayloadByte * R + kTableBytesFixed plus the id bitmaps (3 * 512 KiB at
// most), and 64 KiB for the reader itself and the file header's copy.
int64_t StatedBound(const Encoded& e) {
  using P = format_internal::GenerationParser;
  return static_cast<int64_t>(2 * e.stored_bytes + e.raw_bytes +
                              P::kTableBytesPerPayloadByte * e.raw_bytes + P::kTableBytesFixed +
                              3 * (512 << 10) + (64 << 10));
}

GenerationBuilder ClockedBuilder() {
  GenerationBuilder gb(1);
  ClockSnapshot c;
  c.ticks_per_second = 1000000000;
  gb.SetClock(c);
  return gb;
}

// 2.6 million copies of one string entry compress ~250-fold: the defect's 31 KB file. The old
// reader stored every entry (and its index entry) before it looked for repeats: 227 MiB.
TEST(ReaderBoundsTest, DuplicateStringsInASmallLz4FileAreRefusedBeforeTheyAreStored) {
  GenerationBuilder gb = ClockedBuilder();
  for (int i = 0; i < 2600000; ++i) gb.AddString(1, "");
  const Encoded e = Encode(gb, /*compress=*/true);
  ASSERT_LT(e.file.size(), 64u << 10);
  ASSERT_GT(e.raw_bytes, 4u << 20);
  int64_t peak = 0;
  const absl::Status s = ReadOne(e.file, &peak);
  std::printf("duplicate strings: file %zu B, S %lu, R %lu, peak heap growth %ld B\n",
              e.file.size(), static_cast<unsigned long>(e.stored_bytes),
              static_cast<unsigned long>(e.raw_bytes), static_cast<long>(peak));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("duplicate string id 1"), std::string::npos) << s;
  // Refused while the tables were read through, before they were reserved: the payload and a
  // few KiB, far below the bound for a valid payload of this size.
  EXPECT_LE(peak, static_cast<int64_t>(2 * e.stored_bytes + e.raw_bytes) + (256 << 10))
      << "S=" << e.stored_bytes << " R=" << e.raw_bytes;
}

TEST(ReaderBoundsTest, DuplicateStacksAndLabelSetsAreRefusedBeforeTheyAreStored) {
  for (int table = 0; table < 2; ++table) {
    GenerationBuilder gb = ClockedBuilder();
    const std::vector<Frame> frames(4, Frame{0x1234, 0, 0, 7});
    const std::vector<std::pair<uint64_t, uint64_t>> labels(4, {0, 0});
    for (int i = 0; i < 200000; ++i) {
      if (table == 0) gb.AddStack(9, frames);
      if (table == 1) gb.AddLabelSet(9, labels);
    }
    const Encoded e = Encode(gb, /*compress=*/true);
    int64_t peak = 0;
    const absl::Status s = ReadOne(e.file, &peak);
    EXPECT_NE(s.message().find(table == 0 ? "duplicate stack id 9" : "duplicate label set id 9"),
              std::string::npos)
        << s;
    EXPECT_LE(peak, static_cast<int64_t>(2 * e.stored_bytes + e.raw_bytes) + (256 << 10))
        << "table " << table << " S=" << e.stored_bytes << " R=" << e.raw_bytes;
  }
}

// Valid but huge tables from a small file: distinct ids (1 .. 2^20), every entry the
// smallest it can be (so the most entries per payload byte; lz4 cannot shrink distinct ids).
// The read succeeds within the stated bound.
TEST(ReaderBoundsTest, HugeDistinctTablesAreReadWithinTheStatedBound) {
  GenerationBuilder gb = ClockedBuilder();
  const uint64_t n = uint64_t{1} << 20;
  for (uint64_t id = 1; id <= n; ++id) gb.AddString(id, "");
  for (uint64_t id = 1; id <= n / 4; ++id) gb.AddStack(id, {});
  for (uint64_t id = 1; id <= n / 4; ++id) gb.AddLabelSet(id, {});
  for (uint64_t t = 0; t < n / 4; ++t) gb.AddThread(ThreadInfo{t, 0});
  const Encoded e = Encode(gb, /*compress=*/true);
  int64_t peak = 0;
  const absl::Status s = ReadOne(e.file, &peak);
  std::printf("huge tables: file %zu B, S %lu, R %lu, peak heap growth %ld B, bound %ld B\n",
              e.file.size(), static_cast<unsigned long>(e.stored_bytes),
              static_cast<unsigned long>(e.raw_bytes), static_cast<long>(peak),
              static_cast<long>(StatedBound(e)));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_LE(peak, StatedBound(e)) << "S=" << e.stored_bytes << " R=" << e.raw_bytes;
}

// ---- The merge's work ----

// n batches, each on its own thread. kSingle: one event each, at ticks 1..n (a batch enters
// and leaves the tree before the next one comes). kOverlapping: two events each, at i and
// n + i, so all n batches are in the tree at once.
enum class Shape { kSingle, kOverlapping };

std::shared_ptr<const Generation> ManyBatches(uint64_t n, Shape shape,
                                              uint64_t* file_bytes = nullptr) {
  GenerationBuilder gb = ClockedBuilder();
  for (uint64_t i = 0; i < n; ++i) {
    EventEncoder enc(0);
    enc.Append(EventType::kTaskYield, i + 1, {i});
    if (shape == Shape::kOverlapping) enc.Append(EventType::kTaskYield, n + i + 1, {i});
    gb.AddBatch(/*thread=*/i + 1, /*seq=*/0, enc.base_tick(), enc.num_events(), enc.data());
  }
  std::string file;
  AppendFileHeader(&file);
  EXPECT_GT(gb.AppendTo(&file, /*compress=*/false), 0u);
  if (file_bytes != nullptr) *file_bytes = file.size();
  auto reader = TraceReader::FromSource(MakeStringSource(file));
  EXPECT_TRUE(reader.ok()) << reader.status();
  absl::StatusOr<std::shared_ptr<const Generation>> g = (*reader)->Next();
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? *g : nullptr;
}

// Merges `gen`, checks the events come out in tick order, and returns the merge's tree work.
uint64_t MergeWork(const Generation& gen, uint64_t want_events) {
  format_internal::GenerationMerge merge(gen);
  uint64_t events = 0;
  uint64_t last = 0;
  while (const Event* e = merge.Next()) {
    EXPECT_GE(e->tick, last);
    last = e->tick;
    ++events;
  }
  EXPECT_TRUE(merge.status().ok()) << merge.status();
  EXPECT_EQ(events, want_events);
  return merge.tree_work();
}

// The old merge rebuilt its whole tree (one slot per thread) for every batch it took in:
// 20,000 single-event batches took 1.6 s. Its work grew 64-fold from 5k to 40k batches; n log n
// grows about 10-fold.
TEST(ReaderBoundsTest, MergeWorkGrowsLikeNLogNInTheBatches) {
  for (Shape shape : {Shape::kSingle, Shape::kOverlapping}) {
    const uint64_t per_batch = shape == Shape::kSingle ? 1 : 2;
    auto small = ManyBatches(5000, shape);
    auto big = ManyBatches(40000, shape);
    ASSERT_NE(small, nullptr);
    ASSERT_NE(big, nullptr);
    const uint64_t w_small = MergeWork(*small, 5000 * per_batch);
    const uint64_t w_big = MergeWork(*big, 40000 * per_batch);
    const double nlogn_ratio = 40000 * std::log2(40000.0) / (5000 * std::log2(5000.0));
    std::printf("merge shape %d: tree work %lu (5k batches) -> %lu (40k)\n",
                static_cast<int>(shape), static_cast<unsigned long>(w_small),
                static_cast<unsigned long>(w_big));
    SCOPED_TRACE(absl::StrCat("shape ", static_cast<int>(shape), ": work ", w_small, " -> ",
                              w_big));
    EXPECT_LE(static_cast<double>(w_big), 1.5 * nlogn_ratio * static_cast<double>(w_small));
    // And in absolute terms: a few tree levels per batch, not a tree per batch.
    EXPECT_LE(w_big, 40000 * 4 * static_cast<uint64_t>(std::log2(40000.0) + 2));
  }
}

// The merge's slots follow the batches that overlap in time; 40,000 tiny batches that all
// overlap would have taken 65,536 slots of 32-event blocks (222 MB for a 0.5 MB payload).
// Their blocks shrink to stay within the budget, and the whole merge within MemoryBound.
TEST(ReaderBoundsTest, MergeOfManyOverlappingTinyBatchesStaysWithinItsBound) {
  uint64_t file_bytes = 0;
  auto gen = ManyBatches(40000, Shape::kOverlapping, &file_bytes);
  ASSERT_NE(gen, nullptr);
  const uint64_t bound = format_internal::GenerationMerge::MemoryBound(*gen);
  int block_shift = -1;
  const int64_t peak = PeakHeapGrowth([&] {
    format_internal::GenerationMerge merge(*gen);
    block_shift = merge.block_shift();
    uint64_t events = 0;
    while (merge.Next() != nullptr) ++events;
    EXPECT_EQ(events, 80000u);
  });
  std::printf("overlapping merge: payload ~%lu B, block 2^%d, peak heap growth %ld B, bound %lu B\n",
              static_cast<unsigned long>(file_bytes), block_shift, static_cast<long>(peak),
              static_cast<unsigned long>(bound));
  EXPECT_LE(peak, static_cast<int64_t>(bound));
  // FORMAT.md's form of it: at most 80 bytes per payload byte and 12 MiB.
  EXPECT_LE(bound, 80 * file_bytes + (12u << 20));
}

// A generation of a few big batches keeps full 32-event blocks.
TEST(ReaderBoundsTest, MergeOfBigBatchesKeepsFullBlocks) {
  GenerationBuilder gb = ClockedBuilder();
  for (uint64_t t = 0; t < 64; ++t) {
    EventEncoder enc(0);
    for (uint64_t i = 0; i < 2000; ++i) enc.Append(EventType::kTaskYield, i * 64 + t, {i});
    gb.AddBatch(t + 1, 0, enc.base_tick(), enc.num_events(), enc.data());
  }
  std::string file;
  AppendFileHeader(&file);
  ASSERT_GT(gb.AppendTo(&file, /*compress=*/false), 0u);
  auto reader = TraceReader::FromSource(MakeStringSource(file));
  ASSERT_TRUE(reader.ok());
  absl::StatusOr<std::shared_ptr<const Generation>> g = (*reader)->Next();
  ASSERT_TRUE(g.ok()) << g.status();
  format_internal::GenerationMerge merge(**g);
  EXPECT_EQ(merge.block_shift(), 5);
  MergeWork(**g, 64 * 2000);  // every event, in tick order
}

}  // namespace
}  // namespace tracer::format
