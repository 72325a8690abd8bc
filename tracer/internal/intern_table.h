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

#include "absl/functional/function_ref.h"
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

// Stacks are interned the same way, into one of two halves, so that the table never fills
// however many distinct stacks a long-running process records (CPU samples, blocking sites):
// the collector, which alone reads stacks (to write each generation's table), rotates the
// halves when the active one passes a quarter full. A rotation empties the other half (its pages
// go back to the kernel) and makes it the active one; the ids it held expire.
//
// Ids are (epoch & 63) << kEpochShift | (slot + 1): the epoch is the number of rotations when
// the half became active, and half = epoch & 1. An id whose epoch bits are not its half's
// current epoch has expired: Get returns no frames (counted), so a generation that names it
// defines it as an empty stack and the trace stays readable.
//
// The collector rotates at most once per cut, after the generation is sealed, so an id stays
// readable until the end of the cut after the one that deactivated its half: an event is
// sealed in time if it is written before that next cut takes its thread's buffer. Only a
// thread that interned, then waited a whole generation before writing its event, records an
// expired id. Rotating at a quarter full, the active half absorbs about a third of its slots
// of new distinct stacks within one generation (up to about 60% load, where its probes stay
// within reach); a larger burst is dropped and counted (misses()).
//
// Memory ordering: as StringTable's per slot. An interner enters a half (its `interning`
// count, seq_cst), then checks that the half is still the active one (else it leaves and
// starts over), interns, and leaves (release). A rotation empties a half only when no
// interner is in it (acquire; else it waits for the next cut), and publishes the half with a
// release store of `active_`, which interners load with acquire order: an emptied slot is
// never written by an intern begun before the emptying. (Dekker's pattern: the interner's
// count then check, the rotation's flip then, a cut later, its count read; all seq_cst.) An id
// of an emptied half reads as expired, not as another stack (only an id held across 64
// rotations, at least 64 cuts, would match its half's epoch bits again: the caller's kept ids
// are moved at every rotation, and an event is written within microseconds of its intern).
class StackTable {
 public:
  // 6 bits of epoch above 16 of slot: ids stay within the format's 22 bits (kMaxTableId).
  static constexpr int kEpochShift = 16;
  static constexpr uint32_t kEpochMask = 63;
  static constexpr uint32_t kSlotMask = (uint32_t{1} << kEpochShift) - 1;

  // `slots_per_half` is a power of two, at most 2^15.
  explicit StackTable(size_t slots_per_half);
  ~StackTable();
  uint32_t Intern(absl::Span<const uintptr_t> pcs);  // 0 if empty, or no slot within reach
  // The frames of `id`; empty for 0, an unknown id or an expired one (counted: expired()).
  // Collector thread only (with RotateIfFull).
  absl::Span<const uintptr_t> Get(uint32_t id) const;
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  uint64_t expired() const { return expired_.load(std::memory_order_relaxed); }
  uint64_t rotations() const { return rotations_.load(std::memory_order_relaxed); }
  // Slots in use in the active half (approximate while threads intern).
  size_t active_used() const {
    return halves_[Active() & 1].used.load(std::memory_order_relaxed);
  }
  size_t slots_per_half() const { return mask_ + 1; }

  // The ids a caller keeps across rotations (the stacks of live tasks): `visit(fn)` calls
  // fn(id) on each of them, by reference, so a rotation can move them to the new half.
  using KeptIds = absl::FunctionRef<void(absl::FunctionRef<void(uint32_t&)>)>;
  // Called by the collector once per cut, after the generation was sealed: rotates when the
  // active half is at least a quarter full and no interner is still in the other one (else at
  // a later cut). Returns true if it rotated.
  bool RotateIfFull(KeptIds kept);
  // Rotates now: the kept ids of the half about to be emptied are copied out, the half is
  // emptied (its pages returned) and made active, and they are interned there again (a kept
  // id becomes 0 if that fails). Waits for interners still in the half to be emptied.
  // Collector only; also for tests.
  void Rotate(KeptIds kept);

 private:
  struct Slot {  // as StringTable's: zero pages, `state` through std::atomic_ref
    uint64_t state;
    uint32_t depth;
    uintptr_t pcs[kMaxStackDepth];
  };
  struct Half {
    Slot* slots = nullptr;
    std::atomic<uint64_t> epoch{0};  // the rotation count when it last became active
    std::atomic<size_t> used{0};     // slots claimed since then
    std::atomic<int> interning{0};   // interners inside it now
  };
  uint64_t Active() const { return active_.load(std::memory_order_acquire); }
  static uint32_t EpochBits(uint64_t epoch) { return static_cast<uint32_t>(epoch) & kEpochMask; }
  uint32_t InternInto(uint64_t epoch, absl::Span<const uintptr_t> pcs);

  Half halves_[2];
  size_t mask_;
  std::atomic<uint64_t> active_{0};  // the active half's epoch (half = epoch & 1)
  std::atomic<uint64_t> misses_{0};
  mutable std::atomic<uint64_t> expired_{0};
  std::atomic<uint64_t> rotations_{0};
};

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_INTERN_TABLE_H_
