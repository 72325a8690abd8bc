// The merged, time-ordered view: MergedGenerationReader within a generation, EventStream
// across generations, and the tick -> nanosecond conversion they report times with.

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "format/event_stream.h"
#include "format/trace_reader.h"
#include "gtest/gtest.h"
#include "tests/format/test_trace.h"

namespace tracer::format {
namespace {

using testing::ModelBatch;
using testing::ModelEvent;
using testing::ModelGeneration;
using testing::Rng;

// The expected merge, computed independently of the reader's heap: every event tagged with
// (tick, batch index in (thread, seq) order, position in batch), stably sorted.
std::vector<std::tuple<uint64_t, size_t, size_t>> ExpectedMerge(const ModelGeneration& g) {
  std::vector<std::tuple<uint64_t, size_t, size_t>> all;
  const std::vector<ModelBatch> batches = g.SortedBatches();
  for (size_t b = 0; b < batches.size(); ++b) {
    for (size_t i = 0; i < batches[b].events.size(); ++i) {
      all.emplace_back(batches[b].events[i].tick, b, i);
    }
  }
  std::sort(all.begin(), all.end());
  return all;
}

void CheckMergeOfRandomTrace(uint64_t fallback_seed, int threads, int max_batches_per_thread,
                             int max_events_per_batch) {
  const uint64_t seed = testing::TestSeed(fallback_seed);
  SCOPED_TRACE(absl::StrCat("seed ", seed, " (rerun with TRACER_TEST_SEED=", seed, ")"));
  Rng rng(seed);
  testing::RandomTraceOptions o;
  o.threads = threads;
  o.generations = 4;
  o.max_batches_per_thread = max_batches_per_thread;
  o.max_events_per_batch = max_events_per_batch;
  std::vector<ModelGeneration> gens = testing::RandomTrace(rng, o);
  testing::ReadResult res = testing::ReadAll(testing::EncodeTrace(gens));
  ASSERT_TRUE(res.status.ok()) << res.status;
  for (size_t gi = 0; gi < gens.size(); ++gi) {
    const Generation& g = *res.generations[gi];
    const std::vector<ModelBatch> batches = gens[gi].SortedBatches();
    const auto want = ExpectedMerge(gens[gi]);
    MergedGenerationReader merged(g);
    Event e;
    uint64_t last_tick = 0;
    for (size_t k = 0; k < want.size(); ++k) {
      ASSERT_TRUE(merged.Next(&e)) << k << ": " << merged.status();
      const auto& [tick, b, i] = want[k];
      const ModelEvent& m = batches[b].events[i];
      ASSERT_EQ(e.tick, tick) << "merged event " << k;
      ASSERT_GE(e.tick, last_tick);
      last_tick = e.tick;
      ASSERT_EQ(e.thread, batches[b].thread) << "merged event " << k;
      ASSERT_EQ(e.type, m.type) << "merged event " << k;
      for (size_t a = 0; a < m.args.size(); ++a) ASSERT_EQ(e.args[a], m.args[a]);
      ASSERT_EQ(e.bytes, m.bytes);
    }
    EXPECT_FALSE(merged.Next(&e));
    EXPECT_TRUE(merged.status().ok()) << merged.status();
  }
}

TEST(MergedStreamTest, MergeIsTickOrderedKeepsBatchOrderAndBreaksTiesByBatch) {
  CheckMergeOfRandomTrace(0x6d65726765, 12, 3, 200);
}

// Many threads with small batches: batches enter a tree of hundreds of slots one at a time (in
// O(log slots), wherever the free slot's old entry sits), and the slots double as they fill.
TEST(MergedStreamTest, ManyThreadsOfSmallBatchesMergeInOrder) {
  CheckMergeOfRandomTrace(0x6d616e79, 300, 6, 8);
}

// Hand-built ties: two threads, each with two batches, all events at the same few ticks.
TEST(MergedStreamTest, EqualTicksComeOutInThreadThenBatchSeqOrder) {
  ModelGeneration g;
  g.seq = 1;
  g.clock.ticks_per_second = 1000000000;
  auto ev = [](uint64_t tick, uint64_t task) {
    ModelEvent m;
    m.type = EventType::kTaskYield;
    m.tick = tick;
    m.args = {task};
    return m;
  };
  // Written out of order on purpose: the reader sorts batches by (thread, seq).
  g.batches.push_back(ModelBatch{20, 1, 10, {ev(10, 2011), ev(30, 2012)}});
  g.batches.push_back(ModelBatch{20, 0, 10, {ev(10, 2001), ev(10, 2002)}});
  g.batches.push_back(ModelBatch{10, 0, 5, {ev(10, 1001), ev(20, 1002), ev(30, 1003)}});
  testing::ReadResult res = testing::ReadAll(testing::EncodeTrace({g}));
  ASSERT_TRUE(res.status.ok()) << res.status;
  MergedGenerationReader merged(*res.generations[0]);
  std::vector<uint64_t> order;
  Event e;
  while (merged.Next(&e)) order.push_back(e.args[0]);
  ASSERT_TRUE(merged.status().ok());
  EXPECT_EQ(order, (std::vector<uint64_t>{1001, 2001, 2002, 2011, 1002, 1003, 2012}));
}

TEST(MergedStreamTest, EventStreamVisitsGenerationsInFileOrder) {
  Rng rng(testing::TestSeed(21));
  testing::RandomTraceOptions o;
  o.generations = 5;
  o.threads = 3;
  std::vector<ModelGeneration> gens = testing::RandomTrace(rng, o);
  auto reader = TraceReader::FromSource(MakeStringSource(testing::EncodeTrace(gens)));
  ASSERT_TRUE(reader.ok());
  EventStream stream(reader->get());
  std::vector<size_t> per_gen(gens.size());
  std::vector<uint64_t> gen_seqs;
  Event e;
  uint64_t last_tick = 0;
  while (stream.Next(&e)) {
    const uint64_t seq = stream.generation().seq;
    if (gen_seqs.empty() || gen_seqs.back() != seq) {
      gen_seqs.push_back(seq);
      last_tick = 0;
    }
    EXPECT_GE(e.tick, last_tick);
    last_tick = e.tick;
    ++per_gen[gen_seqs.size() - 1];
  }
  EXPECT_TRUE(stream.status().ok()) << stream.status();
  for (size_t i = 0; i < gens.size(); ++i) {
    size_t n = 0;
    for (const ModelBatch& b : gens[i].batches) n += b.events.size();
    EXPECT_EQ(per_gen[i], n) << "generation " << i;
    if (n > 0) {
      EXPECT_NE(std::find(gen_seqs.begin(), gen_seqs.end(), gens[i].seq), gen_seqs.end());
    }
  }
  EXPECT_TRUE(std::is_sorted(gen_seqs.begin(), gen_seqs.end()));
}

TEST(MergedStreamTest, EventStreamStopsAtTheFirstBadGenerationWithItsError) {
  ModelGeneration good;
  good.seq = 1;
  good.clock.ticks_per_second = 1;
  ModelEvent m;
  m.type = EventType::kThreadStart;
  m.tick = 3;
  good.batches.push_back(ModelBatch{1, 0, 0, {m}});
  std::string bytes = testing::EncodeTrace({good, good});
  bytes.back() ^= 0x40;  // damages the second generation's payload
  auto reader = TraceReader::FromSource(MakeStringSource(bytes));
  ASSERT_TRUE(reader.ok());
  EventStream stream(reader->get());
  Event e;
  ASSERT_TRUE(stream.Next(&e));
  EXPECT_EQ(e.type, EventType::kThreadStart);
  EXPECT_FALSE(stream.Next(&e));
  EXPECT_EQ(stream.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(stream.status().message().find("checksum"), std::string::npos) << stream.status();
  EXPECT_FALSE(stream.Next(&e));
}

Generation GenerationWithClock(uint64_t tps, uint64_t tick, int64_t mono, int64_t real) {
  ModelGeneration g;
  g.clock = ClockSnapshot{tps, tick, mono, real};
  testing::ReadResult res = testing::ReadAll(testing::EncodeTrace({g}));
  EXPECT_TRUE(res.status.ok()) << res.status;
  return *res.generations.at(0);
}

TEST(MergedStreamTest, TicksConvertToNanosecondsAroundTheClockSnapshot) {
  // Ticks of 64 TSC cycles at 3 GHz: 46.875 MHz, 21.333... ns per tick.
  Generation g = GenerationWithClock(3000000000ull / 64, 1000000, 5000000000, 1700000000000000000);
  EXPECT_EQ(g.TickDeltaNs(1000000), 0);
  EXPECT_EQ(g.TickToMonoNs(1000000), 5000000000);
  EXPECT_EQ(g.TickToMonoNs(1000003), 5000000064);        // 3 ticks = 192 cycles = 64 ns
  EXPECT_EQ(g.TickToMonoNs(1000001), 5000000021);        // truncated toward the snapshot
  EXPECT_EQ(g.TickToMonoNs(999997), 5000000000 - 64);    // before the snapshot
  EXPECT_EQ(g.TickToMonoNs(999999), 5000000000 - 21);
  EXPECT_EQ(g.TickToMonoNs(1000000 + 46875000), 6000000000);  // one second later
  EXPECT_EQ(g.TickToRealNs(1000000 + 46875000), 1700000001000000000);
  // An hour of ticks: the 128-bit intermediate keeps it exact.
  EXPECT_EQ(g.TickDeltaNs(1000000 + 3600ull * 46875000), 3600ll * 1000000000);

  Generation ns = GenerationWithClock(1000000000, 0, 0, 0);
  EXPECT_EQ(ns.TickToMonoNs(123456789012345), 123456789012345);
  // 2^64-1 ticks at 1 GHz is ~584 years: saturates instead of wrapping.
  EXPECT_EQ(ns.TickDeltaNs(UINT64_MAX), INT64_MAX);
}

TEST(MergedStreamTest, TickConversionMatchesTheExact128BitQuotient) {
  // The conversion splits the delta to stay in 64-bit divisions: the same result as the exact
  // quotient for every frequency and delta, the 18 GHz switch-over included.
  uint64_t x = 0x9e3779b97f4a7c15;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  const uint64_t freqs[] = {1, 3, 1000000000, 3000000000ull / 64, 2899999999, 18446744073ull,
                            18446744074ull, 1ull << 40, UINT64_MAX};
  for (uint64_t f : freqs) {
    Generation g = GenerationWithClock(f, 0, 0, 0);
    for (int i = 0; i < 2000; ++i) {
      const uint64_t d = next() >> (next() % 64);
      const unsigned __int128 exact = static_cast<unsigned __int128>(d) * 1000000000u / f;
      const int64_t want = exact > static_cast<unsigned __int128>(INT64_MAX)
                               ? INT64_MAX
                               : static_cast<int64_t>(exact);
      ASSERT_EQ(g.TickDeltaNs(d), want) << "f=" << f << " d=" << d;
    }
  }
}

TEST(MergedStreamTest, TickConversionSaturatesInsteadOfOverflowing) {
  // Values a corrupt-but-checksummed trace may carry; signed overflow would be UB.
  Generation hi = GenerationWithClock(1, 0, INT64_MAX - 5, INT64_MAX);
  EXPECT_EQ(hi.TickToMonoNs(UINT64_MAX), INT64_MAX);
  EXPECT_EQ(hi.TickToRealNs(1), INT64_MAX);
  Generation lo = GenerationWithClock(1, UINT64_MAX, INT64_MIN + 5, INT64_MIN);
  EXPECT_EQ(lo.TickToMonoNs(0), INT64_MIN);
  EXPECT_EQ(lo.TickToRealNs(UINT64_MAX - 1), INT64_MIN);
}

}  // namespace
}  // namespace tracer::format
