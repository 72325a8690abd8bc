// Collector::Cut, driven through the internal API (AddConsumer, CutGeneration,
// RemoveConsumer): threads writing while cuts run, and idle threads whose buffers the cut
// takes. Every event is sealed exactly once.

#include <atomic>
#include <latch>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "format/trace_writer.h"
#include "gtest/gtest.h"
#include "tests/tracer/test_util.h"
#include "tracer/hooks.h"
#include "tracer/internal/collector.h"
#include "tracer/tracer.h"

namespace tracer::tracer_internal {
namespace {

#ifdef TRACER_TSAN
constexpr int kScale = 10;
#else
constexpr int kScale = 1;
#endif

using format::EventType;

// Keeps every generation delivered, each as a one-generation trace.
class Collect final : public GenerationConsumer {
 public:
  void OnGeneration(const SealedGeneration& gen) override {
    std::string t;
    format::AppendFileHeader(&t);
    t += *gen.raw;
    std::lock_guard<std::mutex> l(mu_);
    gens_.push_back(std::move(t));
  }
  std::vector<std::string> Take() {
    std::lock_guard<std::mutex> l(mu_);
    return std::move(gens_);
  }

 private:
  std::mutex mu_;
  std::vector<std::string> gens_;
};

// Counter events of each thread, by value (the tag), over the generations read.
struct Seen {
  std::map<int64_t, int> count;  // tag -> times sealed
  std::map<int64_t, size_t> generation;  // tag -> generation it was sealed in
  uint64_t lost = 0;
};

Seen Read(const std::vector<std::string>& gens) {
  Seen s;
  for (size_t g = 0; g < gens.size(); ++g) {
    auto rb = testing::ReadTrace(gens[g]);
    EXPECT_TRUE(rb.ok()) << rb.status();
    if (!rb.ok()) continue;
    s.lost += rb->lost;
    for (const auto& [e, unused] : rb->events) {
      if (e.type != EventType::kCounter) continue;
      const auto tag = static_cast<int64_t>(e.args[1]);
      ++s.count[tag];
      s.generation[tag] = g;
    }
  }
  return s;
}

const Name& CounterName() {
  static const Name* n = new Name("cut-test");
  return *n;
}

class CutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BufferConfig c;
    c.buffer_bytes = 64 << 10;
    c.pool_bytes = 32 << 20;
    ASSERT_TRUE(SetBufferConfig(c).ok());
    ConsumerOptions o;
    o.period = absl::Hours(1);  // only the test's cuts (and pressure, which it avoids)
    ASSERT_TRUE(AddConsumer(&collect_, o).ok());
  }
  void TearDown() override { (void)RemoveConsumer(&collect_); }
  Collect collect_;
};

TEST_F(CutTest, EveryEventOfBusyAndIdleThreadsIsSealedExactlyOnce) {
  constexpr int kWriters = 4, kIdle = 4;
  const int kPerWriter = 40000 / kScale;
  constexpr int kPerIdleBurst = 50;
  std::atomic<bool> go{false};
  std::latch idle_wrote(kIdle);
  std::latch idle_again(1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int i = 0; i < kPerWriter; ++i) hooks::Counter(CounterName(), t * 10000000 + i);
    });
  }
  // Idle threads record a burst, then sleep while cuts run: only the cut's taking of their
  // buffers can seal those events before they write again.
  for (int t = 0; t < kIdle; ++t) {
    threads.emplace_back([&, t] {
      const int64_t base = (kWriters + t) * 10000000;
      for (int i = 0; i < kPerIdleBurst; ++i) hooks::Counter(CounterName(), base + i);
      idle_wrote.count_down();
      idle_again.wait();
      for (int i = kPerIdleBurst; i < 2 * kPerIdleBurst; ++i) {
        hooks::Counter(CounterName(), base + i);
      }
    });
  }
  idle_wrote.wait();
  ASSERT_TRUE(CutGeneration().ok());
  // The idle threads' first bursts are in what has been sealed so far.
  {
    const Seen s = Read(collect_.Take());
    for (int t = 0; t < kIdle; ++t) {
      const int64_t base = (kWriters + t) * 10000000;
      for (int i = 0; i < kPerIdleBurst; ++i) {
        ASSERT_EQ(s.count.count(base + i), 1u) << "idle thread " << t << " event " << i
                                               << " not sealed by the cut";
      }
    }
  }
  go.store(true, std::memory_order_release);
  // Cuts while the writers write.
  int cuts = 0;
  for (; cuts < 200; ++cuts) {
    ASSERT_TRUE(CutGeneration().ok());
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  idle_again.count_down();
  for (auto& th : threads) th.join();
  ASSERT_TRUE(RemoveConsumer(&collect_).ok());  // the final cut

  const Seen s = Read(collect_.Take());
  EXPECT_EQ(s.lost, 0u);
  for (int t = 0; t < kWriters; ++t) {
    for (int i = 0; i < kPerWriter; ++i) {
      const auto it = s.count.find(t * 10000000 + i);
      ASSERT_TRUE(it != s.count.end()) << "writer " << t << " event " << i << " never sealed";
      ASSERT_EQ(it->second, 1) << "writer " << t << " event " << i;
    }
  }
  for (int t = 0; t < kIdle; ++t) {
    for (int i = kPerIdleBurst; i < 2 * kPerIdleBurst; ++i) {
      const auto it = s.count.find((kWriters + t) * 10000000 + i);
      ASSERT_TRUE(it != s.count.end()) << "idle thread " << t << " event " << i;
      ASSERT_EQ(it->second, 1);
    }
  }
  EXPECT_EQ(s.count.size(), static_cast<size_t>(kWriters * kPerWriter + kIdle * kPerIdleBurst))
      << "nothing else, nothing twice";
}

TEST_F(CutTest, ACutWithNothingRecordedSealsAnEmptyGeneration) {
  ASSERT_TRUE(CutGeneration().ok());
  const std::vector<std::string> gens = collect_.Take();
  ASSERT_EQ(gens.size(), 1u);
  const Seen s = Read(gens);
  EXPECT_TRUE(s.count.empty());
}

}  // namespace
}  // namespace tracer::tracer_internal
