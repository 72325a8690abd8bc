// The collector's batch scan: ScanVarint, and BatchScanner over batches written by the slow
// path's encoder (WriteEvent).

#include "tracer/internal/batch_scan.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "format/internal/varint.h"
#include "gtest/gtest.h"
#include "tracer/internal/slow_path.h"

namespace tracer::tracer_internal {
namespace {

using format::EventType;

TEST(BatchScanTest, ScanVarintDecodesEveryLength) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{127}, uint64_t{128}, uint64_t{300},
                     uint64_t{16383}, uint64_t{16384}, uint64_t{1} << 20, (uint64_t{1} << 21) - 1,
                     uint64_t{1} << 21, uint64_t{1} << 35, ~uint64_t{0}}) {
    char buf[32] = {};
    char* end = format_internal::EncodeVarint(buf, v);
    uint64_t got = 0;
    const char* p = ScanVarint(buf, &got);
    EXPECT_EQ(got, v);
    EXPECT_EQ(p, end) << v;
  }
  // ScanArgs: several in a row.
  char buf[64] = {};
  char* p = buf;
  const uint64_t in[6] = {5, 200, 70000, 1, uint64_t{1} << 40, 0};
  for (uint64_t v : in) p = format_internal::EncodeVarint(p, v);
  uint64_t out[6] = {};
  EXPECT_EQ(ScanArgs<6>(buf, out), p);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[i], in[i]);
}

TEST(BatchScanTest, ScanInfosFollowTheEventTable) {
  const ScanInfo* s = ScanInfos();
  const ScanInfo& create = s[static_cast<uint8_t>(EventType::kTaskCreate)];
  EXPECT_EQ(create.num_args, 5);
  EXPECT_TRUE(create.state);
  EXPECT_TRUE(create.refs);
  EXPECT_EQ(create.strings, 1u << 2);
  EXPECT_EQ(create.label_sets, 1u << 3);
  EXPECT_EQ(create.stacks, 1u << 4);
  const ScanInfo& log = s[static_cast<uint8_t>(EventType::kLog)];
  EXPECT_TRUE(log.bytes);
  EXPECT_FALSE(log.state);
  const ScanInfo& counter = s[static_cast<uint8_t>(EventType::kCounter)];
  EXPECT_FALSE(counter.state);
  EXPECT_EQ(counter.strings, 1u);
  EXPECT_FALSE(s[static_cast<uint8_t>(EventType::kThreadStart)].refs);
  EXPECT_TRUE(s[static_cast<uint8_t>(EventType::kUserTaskEnd)].state);
}

// A buffer with room for `capacity` event bytes, freed with std::free.
struct FreeBuffer {
  void operator()(Buffer* b) const { std::free(b); }
};
using BufferPtr = std::unique_ptr<Buffer, FreeBuffer>;
BufferPtr NewBuffer(uint64_t thread, uint64_t seq, uint64_t base_tick, uint32_t capacity) {
  auto* b = static_cast<Buffer*>(std::aligned_alloc(64, sizeof(Buffer) + capacity));
  b->gen = 1;
  b->capacity = capacity;
  b->thread = thread;
  b->base_tick = base_tick;
  b->seq = seq;
  b->len = 0;
  b->count = 0;
  return BufferPtr(b);
}

// Appends events to a buffer as the slow path writes them.
class Writer {
 public:
  explicit Writer(Buffer* b) : b_(b), p_(b->data) {}
  void Add(EventType type, uint64_t delta, std::vector<uint64_t> args,
           const std::string* bytes = nullptr) {
    p_ = WriteEvent(p_, type, delta, args.data(), static_cast<int>(args.size()),
                    bytes ? bytes->data() : nullptr, bytes ? bytes->size() : 0, bytes != nullptr);
    b_->len = static_cast<uint32_t>(p_ - b_->data);
    ASSERT_LE(b_->len, b_->capacity);
  }

 private:
  Buffer* b_;
  char* p_;
};

TEST(BatchScanTest, CountsEventsNotesIdsAndCollectsStateRunsPerThread) {
  // Thread 10: two batches (seq 0, 1); thread 20: one. Many events, so most are scanned on
  // the fast path and the last few on the checked one.
  BufferPtr a0 = NewBuffer(10, 0, 1000, 64 << 10), a1 = NewBuffer(10, 1, 5000, 64 << 10);
  BufferPtr b0 = NewBuffer(20, 0, 900, 64 << 10);
  const std::string msg(300, 'x');
  {
    Writer w(a0.get());
    w.Add(EventType::kThreadStart, 0, {});
    w.Add(EventType::kTaskCreate, 5, {77, 0, /*name=*/11, /*labels=*/3, /*stack=*/4});
    for (int i = 0; i < 1000; ++i) w.Add(EventType::kCounter, 1, {/*name=*/12, 5});
    w.Add(EventType::kLog, 200, {77, /*category=*/13}, &msg);
    w.Add(EventType::kTaskStart, 1, {77, 1});
  }
  {
    Writer w(a1.get());
    w.Add(EventType::kTaskBlock, 3, {77, 2, 9999, 0});
    w.Add(EventType::kCounter, 1, {/*name=*/70000, 1});  // beyond the stamp table
  }
  {
    Writer w(b0.get());
    w.Add(EventType::kTaskUnblock, 40000, {77, 2, 0, 9999, /*stack=*/5});
    w.Add(EventType::kLog, 1, {0, 14}, &msg);
  }
  std::vector<Buffer*> batches = {a0.get(), a1.get(), b0.get()};  // sorted: thread, seq
  BatchScanner scanner;
  ScanResult r;
  TaskStates states;
  scanner.Scan(batches, r, states);
  EXPECT_EQ(a0->count, 1004u);
  EXPECT_EQ(a1->count, 2u);
  EXPECT_EQ(b0->count, 2u);
  EXPECT_EQ(r.events, 1008u);
  EXPECT_EQ(r.strings, (absl::flat_hash_set<uint32_t>{11, 12, 13, 14, 70000}));
  EXPECT_EQ(r.stacks, (absl::flat_hash_set<uint32_t>{4, 5}));
  EXPECT_EQ(r.labels, (absl::flat_hash_set<uint32_t>{3}));
  // The scan applied the state events in time order: created, started on thread 10, blocked
  // (tick 5003), then unblocked by thread 20 (tick 40900): runnable at the end.
  const uint32_t slot = states.tasks().Find(77);
  ASSERT_NE(slot, TaskTable::kNoSlot);
  bool seen = false;
  states.tasks().ForEach([&](const TrackedTask& t) {
    if (t.id != 77) return;
    seen = true;
    EXPECT_EQ(t.name, 11u);
    EXPECT_EQ(t.labels, 3u);
    EXPECT_EQ(t.status, format::TaskStatus::kRunnable);
  });
  EXPECT_TRUE(seen);

  // A second scan starts its stamps anew: ids seen by the first scan are noted again.
  ScanResult r2;
  TaskStates states2;
  scanner.Scan(absl::MakeConstSpan(batches).subspan(2), r2, states2);
  EXPECT_EQ(r2.events, 2u);
  EXPECT_EQ(r2.strings, (absl::flat_hash_set<uint32_t>{14}));
  EXPECT_EQ(r2.stacks, (absl::flat_hash_set<uint32_t>{5}));
}

TEST(BatchScanTest, EventsWithLongArgumentsAtTheEndOfAFullBatchAreScanned) {
  // Every argument at its longest, up to the last byte of the buffer: the checked path must
  // not read past len, and every event is counted.
  BufferPtr b = NewBuffer(1, 0, 0, 4096);
  Writer w(b.get());
  int n = 0;
  const uint64_t big = ~uint64_t{0} >> 1;
  while (b->len + 80 < b->capacity) {
    w.Add(EventType::kTaskUnblock, big, {big, big, big, big, big});
    ++n;
  }
  std::vector<Buffer*> batches = {b.get()};
  BatchScanner scanner;
  ScanResult r;
  TaskStates states;
  scanner.Scan(batches, r, states);
  EXPECT_EQ(r.events, static_cast<uint64_t>(n));
}

}  // namespace
}  // namespace tracer::tracer_internal
