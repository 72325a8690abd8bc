// Process-wide interning of strings and stacks, readable without locks.
//
// Ids are small dense integers (slot index + 1), stable for the life of the process, so an
// event can carry an id and the collector can emit its definition in every generation that
// uses it. A fixed number of slots is allocated on first use and never moved: look-ups and
// inserts take no lock, and a full table returns id 0 (and counts the miss) instead of growing.
//
// Memory ordering: an inserter claims a slot by CAS on `state` (kEmpty -> kBusy), writes the
// payload, then publishes it with a release store of the key hash. Readers acquire-load the
// state: a published hash guarantees the payload is visible. A reader that meets a kBusy slot
// skips it (at worst the same key is stored twice, under two ids; both remain valid).
// The collector learns which ids a generation uses by decoding its events.

#ifndef TRACER_TRACER_INTERNAL_INTERN_TABLE_H_
#define TRACER_TRACER_INTERNAL_INTERN_TABLE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tracer::tracer_internal {

inline constexpr int kMaxStackDepth = 32;

class StringTable {
 public:
  // `slots` is a power of two; `arena_bytes` bounds the total string bytes.
  StringTable(size_t slots, size_t arena_bytes);
  ~StringTable();

  // The id of `s` (inserting it), or 0 if the table or arena is full. s.empty() is id 0.
  // Lock-free; the first insert of a string copies it into the arena.
  uint32_t Intern(absl::string_view s);
  absl::string_view Get(uint32_t id) const;  // REQUIRES: id was returned by Intern
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }

 private:
  // Slots live on zero-filled anonymous pages, never constructed: all-zero is an empty slot,
  // so untouched slots cost no memory. `state` is accessed through std::atomic_ref only.
  struct Slot {
    uint64_t state;  // 0 empty, 1 busy, else hash | 2
    uint32_t len;
    const char* data;
  };
  Slot* slots_;
  size_t mask_;
  char* arena_;
  size_t arena_bytes_;
  std::atomic<size_t> arena_used_{0};
  std::atomic<uint64_t> misses_{0};
};

class StackTable {
 public:
  explicit StackTable(size_t slots);
  ~StackTable();
  uint32_t Intern(absl::Span<const uintptr_t> pcs);  // 0 if empty or full
  absl::Span<const uintptr_t> Get(uint32_t id) const;
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }

 private:
  struct Slot {  // as StringTable's: zero pages, `state` through std::atomic_ref
    uint64_t state;
    uint32_t depth;
    uintptr_t pcs[kMaxStackDepth];
  };
  Slot* slots_;
  size_t mask_;
  std::atomic<uint64_t> misses_{0};
};

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_INTERN_TABLE_H_
