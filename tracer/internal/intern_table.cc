#include "tracer/internal/intern_table.h"

#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <vector>
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

StackTable::StackTable(size_t slots_per_half) : mask_(slots_per_half - 1) {
  if (slots_per_half > (size_t{1} << 15) || (slots_per_half & mask_) != 0) std::abort();
  // The mappings' zero pages are empty slots already: nothing is touched until used.
  for (Half& h : halves_) h.slots = static_cast<Slot*>(MapZeroed(slots_per_half * sizeof(Slot)));
  halves_[1].epoch.store(1, std::memory_order_relaxed);  // never active yet: no id of it exists
}

StackTable::~StackTable() {
  for (Half& h : halves_) munmap(h.slots, (mask_ + 1) * sizeof(Slot));
}

uint32_t StackTable::Intern(absl::Span<const uintptr_t> pcs) {
  if (pcs.empty()) return 0;
  for (;;) {
    const uint64_t epoch = Active();
    Half& h = halves_[epoch & 1];
    h.interning.fetch_add(1, std::memory_order_seq_cst);
    if (active_.load(std::memory_order_seq_cst) != epoch) {  // rotated meanwhile: start over
      h.interning.fetch_sub(1, std::memory_order_release);
      continue;
    }
    const uint32_t id = InternInto(epoch, pcs);
    h.interning.fetch_sub(1, std::memory_order_release);  // pairs with Rotate's acquire load
    return id;
  }
}

uint32_t StackTable::InternInto(uint64_t epoch, absl::Span<const uintptr_t> pcs) {
  if (pcs.empty()) return 0;
  if (pcs.size() > kMaxStackDepth) pcs = pcs.subspan(0, kMaxStackDepth);
  Half& h = halves_[epoch & 1];
  const uint32_t id_epoch = EpochBits(epoch) << kEpochShift;
  const uint64_t tag = Tag(absl::HashOf(pcs));
  auto same = [&](const Slot& slot) {
    return slot.depth == pcs.size() &&
           std::memcmp(slot.pcs, pcs.data(), pcs.size() * sizeof(uintptr_t)) == 0;
  };
  size_t i = tag & mask_;
  for (size_t probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & mask_) {
    Slot& slot = h.slots[i];
    uint64_t st = std::atomic_ref<uint64_t>(slot.state).load(std::memory_order_acquire);
    if (st == tag && same(slot)) return id_epoch | static_cast<uint32_t>(i + 1);
    if (st != kEmpty) continue;
    if (!std::atomic_ref<uint64_t>(slot.state).compare_exchange_strong(st, kBusy, std::memory_order_acquire)) {
      if (st == tag && same(slot)) return id_epoch | static_cast<uint32_t>(i + 1);
      continue;
    }
    h.used.fetch_add(1, std::memory_order_relaxed);
    std::memcpy(slot.pcs, pcs.data(), pcs.size() * sizeof(uintptr_t));
    slot.depth = static_cast<uint32_t>(pcs.size());
    std::atomic_ref<uint64_t>(slot.state).store(tag, std::memory_order_release);
    return id_epoch | static_cast<uint32_t>(i + 1);
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

absl::Span<const uintptr_t> StackTable::Get(uint32_t id) const {
  if (id == 0) return {};
  const uint32_t bits = id >> kEpochShift;
  const size_t slot = (id & kSlotMask) - 1;
  if (bits > kEpochMask || slot > mask_) return {};
  const Half& h = halves_[bits & 1];
  if (EpochBits(h.epoch.load(std::memory_order_relaxed)) != bits) {
    expired_.fetch_add(1, std::memory_order_relaxed);
    return {};
  }
  Slot& s = h.slots[slot];
  if (std::atomic_ref<uint64_t>(s.state).load(std::memory_order_acquire) <= kBusy) return {};
  return absl::Span<const uintptr_t>(s.pcs, std::min<size_t>(s.depth, kMaxStackDepth));
}

bool StackTable::RotateIfFull(KeptIds kept) {
  if (active_used() < (mask_ + 1) / 4) return false;
  // An interner that entered the other half before the last rotation and is still there (a
  // preempted thread): empty it at a later cut.
  if (halves_[(Active() + 1) & 1].interning.load(std::memory_order_seq_cst) != 0) return false;
  Rotate(kept);
  return true;
}

void StackTable::Rotate(KeptIds kept) {
  const uint64_t next = Active() + 1;
  Half& h = halves_[next & 1];  // the half of epoch next - 2: emptied, then made active
  const uint32_t old_bits = EpochBits(h.epoch.load(std::memory_order_relaxed));
  // The kept ids of that half, with their frames, before it is emptied.
  struct Moved {
    uint32_t from = 0, to = 0;
    uint32_t depth = 0;
    uintptr_t pcs[kMaxStackDepth];
  };
  std::vector<Moved> moved;
  kept([&](uint32_t& id) {
    if (id == 0 || (id >> kEpochShift) != old_bits) return;
    const absl::Span<const uintptr_t> pcs = Get(id);
    Moved m;
    m.from = id;
    m.depth = static_cast<uint32_t>(pcs.size());
    std::copy(pcs.begin(), pcs.end(), m.pcs);
    moved.push_back(m);
  });
  std::sort(moved.begin(), moved.end(), [](const Moved& a, const Moved& b) { return a.from < b.from; });
  // No intern may still write into the half (see the header): wait for those inside it.
  while (h.interning.load(std::memory_order_acquire) != 0) sched_yield();
  moved.erase(std::unique(moved.begin(), moved.end(),
                          [](const Moved& a, const Moved& b) { return a.from == b.from; }),
              moved.end());
  // Emptied: its pages go back to the kernel and read as zero (empty slots) from now on.
  const size_t bytes = (mask_ + 1) * sizeof(Slot);
  if (madvise(h.slots, bytes, MADV_DONTNEED) != 0) {
    std::memset(static_cast<void*>(h.slots), 0, bytes);  // not expected for a private mapping
  }
  h.used.store(0, std::memory_order_relaxed);
  h.epoch.store(next, std::memory_order_relaxed);
  // Pairs with the interners' acquire load in Active(): they see the half emptied.
  active_.store(next, std::memory_order_release);
  rotations_.fetch_add(1, std::memory_order_relaxed);
  if (moved.empty()) return;
  for (Moved& m : moved) {
    m.to = InternInto(next, absl::Span<const uintptr_t>(m.pcs, m.depth));
  }
  kept([&](uint32_t& id) {
    if (id == 0 || (id >> kEpochShift) != old_bits) return;
    auto it = std::lower_bound(moved.begin(), moved.end(), id,
                               [](const Moved& m, uint32_t v) { return m.from < v; });
    id = it != moved.end() && it->from == id ? it->to : 0;
  });
}

}  // namespace tracer::tracer_internal
