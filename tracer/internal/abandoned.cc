#include "tracer/internal/abandoned.h"

#include <atomic>

namespace tracer::tracer_internal {
namespace {
constexpr int kSlots = 256;
std::atomic<const void*> g_abandoned[kSlots];
std::atomic<int> g_next{0};
}  // namespace

void KeepReachable(const void* p) {
  if (p == nullptr) return;
  const int i = g_next.fetch_add(1, std::memory_order_relaxed);
  if (i < kSlots) g_abandoned[i].store(p, std::memory_order_relaxed);
}

}  // namespace tracer::tracer_internal
