#include "tracer/internal/late_losses.h"

#include <atomic>

namespace tracer::tracer_internal {
namespace {

// A slot is free while tid == 0. A writer claims one by compare-exchanging its tid in (or
// finds its own), then adds its count and widens the tick span. The drain takes the count
// (exchange with 0) and frees a slot it found empty; a writer that matched the tid just before
// that free adds to a slot now under thread 0, which the next drain reports as thread 0.
struct Slot {
  std::atomic<uint64_t> tid{0};
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> first{~uint64_t{0}};
  std::atomic<uint64_t> last{0};
};
constexpr int kSlots = 64;
Slot g_slots[kSlots + 1];  // [kSlots]: the overflow slot, thread 0

void Widen(Slot& s, uint64_t first_tick, uint64_t last_tick) {
  // relaxed: the span is read by the drain after it took the count; a racing widen lands in
  // this drain or the next, never lost.
  uint64_t f = s.first.load(std::memory_order_relaxed);
  while (first_tick < f && !s.first.compare_exchange_weak(f, first_tick, std::memory_order_relaxed)) {
  }
  uint64_t l = s.last.load(std::memory_order_relaxed);
  while (last_tick > l && !s.last.compare_exchange_weak(l, last_tick, std::memory_order_relaxed)) {
  }
}

}  // namespace

void RecordLateLoss(uint64_t tid, uint64_t count, uint64_t first_tick, uint64_t last_tick) {
  Slot* slot = &g_slots[kSlots];
  if (tid != 0) {
    for (int i = 0; i < kSlots; ++i) {
      uint64_t t = g_slots[i].tid.load(std::memory_order_relaxed);
      if (t == tid ||
          (t == 0 && g_slots[i].tid.compare_exchange_strong(t, tid, std::memory_order_relaxed))) {
        slot = &g_slots[i];
        break;
      }
      if (t == tid) {  // another writer of the same thread claimed it first
        slot = &g_slots[i];
        break;
      }
    }
  }
  Widen(*slot, first_tick, last_tick);
  // release: pairs with the drain's acquire exchange, so the span widened above is seen with
  // the count.
  slot->count.fetch_add(count, std::memory_order_release);
}

void DrainLateLosses(std::vector<format::LossRecord>& out) {
  for (Slot& s : g_slots) {
    const uint64_t tid = s.tid.load(std::memory_order_relaxed);
    const uint64_t n = s.count.exchange(0, std::memory_order_acquire);
    if (n == 0) {
      uint64_t t = tid;
      if (t != 0) s.tid.compare_exchange_strong(t, 0, std::memory_order_relaxed);
      continue;
    }
    uint64_t first = s.first.exchange(~uint64_t{0}, std::memory_order_relaxed);
    uint64_t last = s.last.exchange(0, std::memory_order_relaxed);
    if (first > last) first = last;
    out.push_back({&s == &g_slots[kSlots] ? 0 : tid, n, first, last});
  }
}

}  // namespace tracer::tracer_internal
