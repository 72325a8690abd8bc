// GenerationMerge: the events of one generation's batches in tick order, by a loser tree.
// MergedGenerationReader (format/merged_generation_reader.h) is its public face.

#ifndef TRACER_FORMAT_INTERNAL_GENERATION_MERGE_H_
#define TRACER_FORMAT_INTERNAL_GENERATION_MERGE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "format/batch_event_reader.h"
#include "format/generation.h"

namespace tracer::format_internal {

using format::BatchEventReader;
using format::Event;
using format::Generation;

// All events of one generation, merged across batches in tick order (ties: batch order, which
// is thread, then batch seq). An error in any batch ends the stream when the merge reaches the
// bad event. For speed it does not check that the varints inside events are minimal (an
// overlong one reads as its value): TraceReader's event validation did, unless the tool
// turned it off.
class GenerationMerge {
 public:
  explicit GenerationMerge(const Generation& gen);
  // The next event in time order, or nullptr at the end or on an error (see status()). The
  // event stays valid until the next call: no copy. Inline: the common event is a pointer into
  // its batch's block and one replay of the tree. The last key of a block (whose next is
  // kRefill) goes the slow way: the end of the block, and the key of an error (which stands
  // alone in an empty block).
  const Event* Next() {
    if (__builtin_expect(next_pending_key_ < win_.key || wide_ || win_.key == kNone, 0)) {
      return NextSlow();
    }
    const uint64_t* at = win_.at;
    const uint64_t key = at[1];
    if (__builtin_expect(key == kRefill, 0)) return NextSlow();
    const size_t k = static_cast<size_t>(at - keys_.get());
    const uint32_t slot = static_cast<uint32_t>(k >> key_shift_);
    const uint32_t i = static_cast<uint32_t>(k & ((size_t{1} << key_shift_) - 1));
    uint64_t next_key = key;
    const uint64_t* next_at = at + 1;
    uint64_t parent = win_.parent;
    ReplayPath(slot, &next_key, &next_at, &parent);
    win_ = Node{next_key, next_at, parent};
    return &events_[(size_t{slot} << block_shift_) + i];
  }
  // The same, copied into *e; false at the end or on an error.
  bool Next(Event* e) {
    const Event* next = Next();
    if (next == nullptr) return false;
    *e = *next;
    return true;
  }
  const absl::Status& status() const { return status_; }
  // What a merge of `gen` may hold at most, in bytes (FORMAT.md, "What a reader
  // validates"): kBytesPerBatch per batch for its decoder and place in the queue, plus the
  // slots: SlotBudget(gen), or if the batches are so many and small that even one-event
  // blocks exceed it, SlotBytes(0) for each of at most 2 * batches slots; doubling them holds
  // the old and the new arrays at once (x 1.5).
  static uint64_t MemoryBound(const Generation& gen);
  // The slots' budget: kMinSlotBudget, or twice the generation's event bytes if more.
  static uint64_t SlotBudget(const Generation& gen);
  static constexpr uint64_t kMinSlotBudget = uint64_t{8} << 20;
  static uint64_t SlotBytes(int block_shift);  // per slot, with a block of 1 << block_shift
  static constexpr uint64_t kBytesPerBatch = sizeof(BatchEventReader) + sizeof(unsigned __int128);
  int block_shift() const { return block_shift_; }  // for tests
  // For tests: tree nodes visited to build and change the tree, other than the replays of
  // Next() (which visit log2(slots) nodes per event). Grows like batches * log(batches).
  uint64_t tree_work() const { return tree_work_; }

 private:
  // Batches the merge has reached sit in the slots of a loser tree (a power of two of them,
  // about one per thread): each internal node holds the entry that lost the match there, so
  // replacing the winner's key replays one leaf-to-root path of branch-free compares.
  // Each slot decodes its batch a block of events at a time: decoding runs in a tight loop, and
  // the merge steps through the block's precomputed keys instead of waiting on the decoder.
  //
  // A key is ((tick - base_) << shift_ | batch index) in 64 bits: one compare orders by tick,
  // then batch. Should a tick lie too far from base_ for that (never in a sane trace), the
  // merge switches to `wide_` mode: the same lanes, with full (tick, batch) keys found by a scan.
  using Head = unsigned __int128;  // (tick << 32 | batch), for pending batches and wide mode
  static constexpr Head kNoHead = ~Head{0};
  static constexpr uint64_t kNone = ~uint64_t{0};       // an empty slot; above every key
  static constexpr uint64_t kRefill = ~uint64_t{0} - 1;  // ends each block's keys
  static constexpr uint32_t kFreeSlot = ~uint32_t{0};
  // Events per slot: kMaxBlockShift (32) unless that would make the slots of a generation of
  // many small batches take more than the budget (see MemoryBound), down to one. Keys per
  // slot: twice that (the block's keys and kRefill, in a power of two).
  static constexpr int kMaxBlockShift = 5;

  struct Node {
    uint64_t key;
    const uint64_t* at;  // where `key` sits in keys_: its slot and its event follow from it
    // The tree node above its slot's leaf, carried along so that the next replay can load its
    // first node without first working out the slot from `at`.
    uint64_t parent;
  };

  const Event* NextSlow();
  // Replays the winner's path after its entry (in slot `slot`) became (key, at). Branch-free:
  // which batch wins is a coin flip when threads interleave. On x86-64 each level is a compare
  // and four conditional moves (2 cycles on the key's dependency chain; left to itself the
  // compiler turns the pointer select into a branch); elsewhere mask arithmetic.
  void Replay(uint32_t slot, uint64_t key, const uint64_t* at) {
    uint64_t parent = (slot + slots_) >> 1;
    ReplayPath(slot, &key, &at, &parent);
    win_ = Node{key, at, parent};
  }
  // The same on the caller's copy of the winner, which ends as the new winner. *parent_io is
  // the parent of `slot`'s leaf on entry.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void ReplayPath(uint32_t slot, uint64_t* key_io,
                                               const uint64_t** at_io, uint64_t* parent_io) {
    uint64_t key = *key_io;
    uintptr_t a = reinterpret_cast<uintptr_t>(*at_io);
    uint64_t up = *parent_io;
    leaf_[slot] = Node{key, *at_io, up};
    Node* const loser = loser_.data();
    for (size_t node = up; node > 0; node >>= 1) {
      uint64_t o_key = loser[node].key;
      uintptr_t o_a = reinterpret_cast<uintptr_t>(loser[node].at);
      uint64_t o_up = loser[node].parent;
#if defined(__x86_64__)
      uint64_t w_key = key;
      uintptr_t w_a = a;
      uint64_t w_up = up;
      // If the node's entry is smaller, it wins and (key, a, up) stays at the node.
      __asm__("cmp %[key], %[o_key]\n\t"
              "cmovb %[o_key], %[w_key]\n\t"
              "cmovb %[o_a], %[w_a]\n\t"
              "cmovb %[o_up], %[w_up]\n\t"
              "cmovb %[key], %[o_key]\n\t"
              "cmovb %[a], %[o_a]\n\t"
              "cmovb %[up], %[o_up]"
              : [w_key] "+&r"(w_key), [w_a] "+&r"(w_a), [w_up] "+&r"(w_up),
                [o_key] "+&r"(o_key), [o_a] "+&r"(o_a), [o_up] "+&r"(o_up)
              : [key] "r"(key), [a] "r"(a), [up] "r"(up)
              : "cc");
      key = w_key;
      a = w_a;
      up = w_up;
#else
      const uint64_t m = 0 - static_cast<uint64_t>(o_key < key);  // all ones: the node's wins
      const uint64_t dk = (o_key ^ key) & m;
      const uintptr_t da = (o_a ^ a) & m;
      const uint64_t du = (o_up ^ up) & m;
      o_key ^= dk;
      o_a ^= da;
      o_up ^= du;
      key ^= dk;
      a ^= da;
      up ^= du;
#endif
      loser[node] = Node{o_key, reinterpret_cast<const uint64_t*>(o_a), o_up};
    }
    *key_io = key;
    *at_io = reinterpret_cast<const uint64_t*>(a);
    *parent_io = up;
  }
  // Builds the tree from the leaves: O(slots). Only after the slots were doubled.
  void Rebuild();
  // Sets `slot`'s entry to `entry` in O(log slots), wherever the slot's old entry sits (a
  // replay only handles the winner's slot): the entries on the slot's path, with the winner,
  // are the winners of the subtrees beside the path, each placed by its slot.
  void SetLeaf(uint32_t slot, Node entry);
  void InsertPending();
  void PopPending();
  uint32_t TakeSlot(uint32_t batch);
  void FreeSlot(uint32_t slot);
  // Decodes the next block of the batch in `slot` and stores its first key in *key: the tick of
  // its first event; or, if there is none, kNone at a clean end and the last good tick after
  // an error (so the error surfaces in tick order). False if a key does not fit in 64 bits.
  bool Refill(uint32_t slot, uint64_t* key);
  void AddSlots();
  void SwitchToWide(uint32_t fresh_slot);
  const Event* NextWide();
  bool Fail(uint32_t slot);
  Event* EventsOf(uint32_t slot) { return events_.get() + (size_t{slot} << block_shift_); }
  uint64_t* KeysOf(uint32_t slot) { return keys_.get() + (size_t{slot} << key_shift_); }
  uint32_t SlotOf(const uint64_t* at) const {
    return static_cast<uint32_t>((at - keys_.get()) >> key_shift_);
  }

  std::vector<BatchEventReader> readers_;
  std::vector<Head> pending_;     // batches not reached yet, largest key first; keys are final
  Head next_pending_ = kNoHead;   // pending_.back(), or kNoHead
  uint64_t next_pending_key_ = kNone;  // it as a key (kRefill if it does not fit)
  uint64_t base_ = 0;   // the smallest base tick
  uint32_t shift_ = 1;  // bits of batch index in a key
  uint64_t limit_ = 0;  // ticks from base_ that fit in a key
  bool wide_ = false;
  Node win_{kNone, nullptr, 0};  // the smallest key in the tree
  uint32_t slots_ = 0;
  std::vector<Node> leaf_;    // per slot: its batch's current entry, or kNone if free
  std::vector<Node> loser_;   // internal nodes 1 .. slots_-1
  std::vector<uint32_t> slot_batch_;  // per slot: its batch, or kFreeSlot
  std::vector<uint32_t> slot_n_;      // per slot: events in its block; a winner beyond: error
  std::vector<uint32_t> slot_pos_;    // per slot, wide mode: the next event in its block
  std::vector<uint32_t> free_slots_;
  int block_shift_ = kMaxBlockShift;  // events per slot: 1 << block_shift_; immutable
  int key_shift_ = kMaxBlockShift + 1;  // keys per slot: 1 << key_shift_; immutable
  std::unique_ptr<Event[]> events_;  // per slot, a block of decoded events
  std::unique_ptr<uint64_t[]> keys_;  // per slot: their keys, then kRefill
  uint64_t tree_work_ = 0;
  Event last_;  // what NextSlow returns when the event's block is refilled or in wide mode
  absl::Status status_;
};

}  // namespace tracer::format_internal

#endif  // TRACER_FORMAT_INTERNAL_GENERATION_MERGE_H_
