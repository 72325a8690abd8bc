// The buffer pool: its layout, the collector's poll interval, and carving, taking and
// returning buffers.

#include "tracer/internal/buffer_pool.h"

#include <algorithm>
#include <set>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tracer/internal/collector.h"

namespace tracer::tracer_internal {
namespace {

// The collector's pool poll: often enough that half a pool taken at the current rate is seen
// before the rest runs out, never a busy loop, and rare when the pool is big and idle.
TEST(PoolPollTest, IntervalFollowsThePoolSizeAndTheRateThreadsTakeBuffers) {
  constexpr size_t kStride = 32 << 10;
  // Idle: a small pool (16 buffers) is still polled within a few ms, a big one rarely.
  const absl::Duration small_idle = PoolPollInterval(16, kStride, 0);
  EXPECT_LE(small_idle, absl::Milliseconds(10));
  EXPECT_EQ(PoolPollInterval(1024, kStride, 0), absl::Milliseconds(25));
  // Busy: at r buffers/ms a poll comes before an eighth of the pool is taken.
  for (double rate : {0.5, 1.0, 1.5, 2.0}) {
    const absl::Duration d = PoolPollInterval(16, kStride, rate);
    EXPECT_LE(absl::ToDoubleMilliseconds(d) * rate, 16.0 / 8 + 1e-4) << rate;  // to the ns
    EXPECT_LE(d, small_idle) << rate;
  }
  EXPECT_LT(PoolPollInterval(16, kStride, 2.0), PoolPollInterval(16, kStride, 1.0));
  // Never more often than every millisecond, however fast; never above 25 ms, however slow.
  EXPECT_EQ(PoolPollInterval(16, kStride, 1e6), absl::Milliseconds(1));
  EXPECT_EQ(PoolPollInterval(2, 8 << 10, 0), absl::Milliseconds(1));  // a tiny pool, idle
  EXPECT_EQ(PoolPollInterval(1 << 20, kStride, 0), absl::Milliseconds(25));
  EXPECT_EQ(PoolPollInterval(0, kStride, 0), absl::Milliseconds(25));
  EXPECT_EQ(PoolPollInterval(16, 0, 0), absl::Milliseconds(25));
}

// The pool's two classes: a quarter of the bytes in small buffers (each thread's first of a
// generation), the rest in large ones, within the configured bytes.
TEST(PoolLayoutTest, AQuarterOfThePoolIsSmallBuffersTheRestLarge) {
  for (size_t buffer : {size_t{8} << 10, size_t{32} << 10, size_t{64} << 10, size_t{1} << 20}) {
    for (size_t pool : {2 * buffer, 2 * buffer + (64 << 10), size_t{64} << 10, size_t{512} << 10,
                        size_t{32} << 20, size_t{512} << 20}) {
      if (pool < 2 * buffer) continue;  // SetBufferConfig refuses it
      const PoolLayout l = LayOutPool(pool, buffer);
      SCOPED_TRACE(::testing::Message() << "pool " << pool << " buffer " << buffer);
      EXPECT_GE(l.large_count, 2u);
      EXPECT_GE(l.large_stride, buffer);
      EXPECT_LT(l.large_stride, buffer + 256);
      // Within the configured bytes, but for the headers of the two large buffers it must have.
      EXPECT_LE(l.bytes(), std::max(pool, 2 * l.large_stride));
      ASSERT_GT(l.small_stride, 0u);
      EXPECT_GE(l.small_stride, size_t{2} << 10);
      EXPECT_LT(l.small_stride * 3, l.large_stride);  // strides include the header
      EXPECT_LE(l.small_count * l.small_stride, pool / 4);
      if (pool >= pool / 4 + 2 * l.large_stride) {  // room for the quarter beside two large
        EXPECT_GT((l.small_count + 1) * l.small_stride, pool / 4);
      }
    }
  }
  // The default config: ~2000 threads can each hold a small buffer.
  const PoolLayout d = LayOutPool(32 << 20, 64 << 10);
  EXPECT_GE(d.small_count, 1900u);
  EXPECT_GE(d.large_count, 380u);
}

// Carving: every buffer on its class's free list, inside the pool, not overlapping; a thread's
// first buffer of a generation is small, later ones large, each class falls back on the other,
// and an empty pool gives none. Returned buffers go back to their own class.
TEST(BufferPoolTest, CarvedBuffersAreTakenByClassAndReturnedToTheirOwn) {
  const PoolLayout layout = LayOutPool(256 << 10, 32 << 10);
  ASSERT_GT(layout.small_count, 0u);
  absl::StatusOr<Pool*> made = NewPool(layout);
  ASSERT_TRUE(made.ok());
  Pool* pool = *made;
  InstallPool(pool);
  EXPECT_EQ(pool->bytes, layout.bytes());
  EXPECT_EQ(pool->BytesInUse(), 0u);
  EXPECT_EQ(PoolStats().bytes, layout.bytes());
  EXPECT_EQ(pool->small.capacity, layout.small_stride - sizeof(Buffer));
  EXPECT_EQ(pool->large.capacity, layout.large_stride - sizeof(Buffer));

  std::vector<Buffer*> taken;
  // First buffers: small until they run out, then large.
  for (size_t i = 0; i < layout.small_count; ++i) {
    Buffer* b = TakeBuffer(/*first=*/true, 100);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->capacity, pool->small.capacity);
    taken.push_back(b);
  }
  Buffer* b = TakeBuffer(/*first=*/true, 100);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->capacity, pool->large.capacity) << "small class empty: a large one";
  taken.push_back(b);
  // Later buffers are large; a need beyond a small buffer's capacity never gets a small one.
  while ((b = TakeBuffer(/*first=*/false, pool->small.capacity + 1)) != nullptr) {
    EXPECT_EQ(b->capacity, pool->large.capacity);
    taken.push_back(b);
  }
  EXPECT_EQ(taken.size(), layout.small_count + layout.large_count);
  EXPECT_EQ(pool->BytesInUse(), pool->bytes);
  EXPECT_EQ(PoolStats().free_bytes, 0u);
  EXPECT_EQ(TakeBuffer(/*first=*/true, 100), nullptr) << "pool exhausted";

  // Distinct, inside the pool, and not overlapping.
  std::vector<Buffer*> sorted = taken;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    const char* p = reinterpret_cast<const char*>(sorted[i]);
    EXPECT_TRUE(pool->Contains(sorted[i]));
    EXPECT_LE(p + sizeof(Buffer) + sorted[i]->capacity, pool->mem + pool->bytes);
    if (i + 1 < sorted.size()) {
      EXPECT_LE(p + sizeof(Buffer) + sorted[i]->capacity,
                reinterpret_cast<const char*>(sorted[i + 1]));
    }
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  }

  for (Buffer* x : taken) EXPECT_TRUE(ReturnBuffer(x));
  EXPECT_EQ(pool->BytesInUse(), 0u);
  EXPECT_EQ(pool->small.free->size_approx(), layout.small_count);
  EXPECT_EQ(pool->large.free->size_approx(), layout.large_count);
  EXPECT_EQ(ReleasePools(), 0u) << "every buffer back: freed, nothing leaked";
  EXPECT_EQ(g_pool.load(), nullptr);
  EXPECT_EQ(PoolStats().bytes, 0u);
}

// Buffers too small to split (under 8 KiB; Activate never asks for them) make no small class:
// first buffers come from the large one, and go back to it.
TEST(BufferPoolTest, WithoutASmallClassFirstBuffersAreLarge) {
  const PoolLayout layout = LayOutPool(64 << 10, 4 << 10);
  ASSERT_EQ(layout.small_count, 0u);
  absl::StatusOr<Pool*> made = NewPool(layout);
  ASSERT_TRUE(made.ok());
  InstallPool(*made);
  Buffer* b = TakeBuffer(/*first=*/true, 100);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->capacity, (*made)->large.capacity);
  EXPECT_TRUE(ReturnBuffer(b));
  EXPECT_EQ((*made)->large.free->size_approx(), layout.large_count);
  EXPECT_EQ(ReleasePools(), 0u);
}

// A replaced pool retires: new buffers come from the new one; the old one's buffers go back to
// it (not to the new one's free lists) and it is freed with its last. A buffer still out when
// tracing stops keeps its pool alive: leaked, never freed under its holder.
TEST(BufferPoolTest, AReplacedPoolRetiresAndIsFreedWithItsLastBuffer) {
  absl::StatusOr<Pool*> big = NewPool(LayOutPool(512 << 10, 64 << 10));
  ASSERT_TRUE(big.ok());
  InstallPool(*big);
  Buffer* a = TakeBuffer(false, 100);
  Buffer* b = TakeBuffer(false, 100);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  absl::StatusOr<Pool*> small = NewPool(LayOutPool(128 << 10, 16 << 10));
  ASSERT_TRUE(small.ok());
  InstallPool(*small);  // `big` retires
  SettleRetiredPools();
  EXPECT_EQ(PoolStats().bytes, (*small)->bytes) << "stats follow the new pool";
  Buffer* c = TakeBuffer(false, 100);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE((*small)->Contains(c)) << "new buffers come from the new pool";
  const size_t small_free = (*small)->large.free->size_approx();
  EXPECT_TRUE(ReturnBuffer(a));  // to the retired pool: counted, not reused
  EXPECT_EQ((*small)->large.free->size_approx(), small_free);
  EXPECT_TRUE(ReturnBuffer(c));
  // b is still out: at the stop, the retired pool cannot be freed under its holder.
  EXPECT_EQ(ReleasePools(), (*big)->bytes);
  Buffer stray{};
  EXPECT_FALSE(ReturnBuffer(&stray)) << "a buffer of no known pool is refused";
}

}  // namespace
}  // namespace tracer::tracer_internal
