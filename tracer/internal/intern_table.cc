#include "tracer/internal/intern_table.h"

#include <sys/mman.h>

#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "absl/hash/hash.h"

namespace tracer::tracer_internal {
namespace {

constexpr uint64_t kEmpty = 0;
constexpr uint64_t kBusy = 1;
constexpr size_t kMaxProbes = 64;

// Anonymous mappings: untouched pages cost nothing, so tables can be generous.
void* MapZeroed(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {  // only at start-up, never on a hot path
    perror("tracer: mmap of an intern table");
    std::abort();
  }
  return p;
}

uint64_t Tag(size_t h) { return (static_cast<uint64_t>(h) | 2) & ~uint64_t{1}; }

}  // namespace

StringTable::StringTable(size_t slots, size_t arena_bytes)
    : slots_(static_cast<Slot*>(MapZeroed(slots * sizeof(Slot)))),
      mask_(slots - 1),
      arena_(static_cast<char*>(MapZeroed(arena_bytes))),
      arena_bytes_(arena_bytes) {
  // The mapping's zero pages are empty slots already: nothing is touched until used.
}

StringTable::~StringTable() {
  munmap(slots_, (mask_ + 1) * sizeof(Slot));
  munmap(arena_, arena_bytes_);
}

uint32_t StringTable::Intern(absl::string_view s) {
  if (s.empty()) return 0;
  const uint64_t tag = Tag(absl::HashOf(s));
  size_t i = tag & mask_;
  for (size_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & mask_) {
    Slot& slot = slots_[i];
    uint64_t st = std::atomic_ref<uint64_t>(slot.state).load(std::memory_order_acquire);
    if (st == tag && slot.len == s.size() && std::memcmp(slot.data, s.data(), s.size()) == 0) {
      return static_cast<uint32_t>(i + 1);
    }
    if (st != kEmpty) continue;
    if (!std::atomic_ref<uint64_t>(slot.state).compare_exchange_strong(st, kBusy, std::memory_order_acquire)) {
      if (st == tag && slot.len == s.size() && std::memcmp(slot.data, s.data(), s.size()) == 0) {
        return static_cast<uint32_t>(i + 1);  // lost the race to the same string
      }
      continue;
    }
    size_t off = arena_used_.fetch_add(s.size(), std::memory_order_relaxed);
    if (off + s.size() > arena_bytes_) {
      std::atomic_ref<uint64_t>(slot.state).store(kEmpty, std::memory_order_release);
      break;
    }
    std::memcpy(arena_ + off, s.data(), s.size());
    slot.data = arena_ + off;
    slot.len = static_cast<uint32_t>(s.size());
    std::atomic_ref<uint64_t>(slot.state).store(tag, std::memory_order_release);  // publishes data and len
    return static_cast<uint32_t>(i + 1);
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

absl::string_view StringTable::Get(uint32_t id) const {
  if (id == 0 || id > mask_ + 1) return {};
  Slot& slot = slots_[id - 1];
  if (std::atomic_ref<uint64_t>(slot.state).load(std::memory_order_acquire) <= kBusy) return {};
  return absl::string_view(slot.data, slot.len);
}

StackTable::StackTable(size_t slots)
    : slots_(static_cast<Slot*>(MapZeroed(slots * sizeof(Slot)))), mask_(slots - 1) {
  // The mapping's zero pages are empty slots already: nothing is touched until used.
}

StackTable::~StackTable() { munmap(slots_, (mask_ + 1) * sizeof(Slot)); }

uint32_t StackTable::Intern(absl::Span<const uintptr_t> pcs) {
  if (pcs.empty()) return 0;
  if (pcs.size() > kMaxStackDepth) pcs = pcs.subspan(0, kMaxStackDepth);
  const uint64_t tag = Tag(absl::HashOf(pcs));
  auto same = [&](const Slot& slot) {
    return slot.depth == pcs.size() &&
           std::memcmp(slot.pcs, pcs.data(), pcs.size() * sizeof(uintptr_t)) == 0;
  };
  size_t i = tag & mask_;
  for (size_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & mask_) {
    Slot& slot = slots_[i];
    uint64_t st = std::atomic_ref<uint64_t>(slot.state).load(std::memory_order_acquire);
    if (st == tag && same(slot)) return static_cast<uint32_t>(i + 1);
    if (st != kEmpty) continue;
    if (!std::atomic_ref<uint64_t>(slot.state).compare_exchange_strong(st, kBusy, std::memory_order_acquire)) {
      if (st == tag && same(slot)) return static_cast<uint32_t>(i + 1);
      continue;
    }
    std::memcpy(slot.pcs, pcs.data(), pcs.size() * sizeof(uintptr_t));
    slot.depth = static_cast<uint32_t>(pcs.size());
    std::atomic_ref<uint64_t>(slot.state).store(tag, std::memory_order_release);
    return static_cast<uint32_t>(i + 1);
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

absl::Span<const uintptr_t> StackTable::Get(uint32_t id) const {
  if (id == 0 || id > mask_ + 1) return {};
  Slot& slot = slots_[id - 1];
  if (std::atomic_ref<uint64_t>(slot.state).load(std::memory_order_acquire) <= kBusy) return {};
  return absl::Span<const uintptr_t>(slot.pcs, slot.depth);
}

}  // namespace tracer::tracer_internal
