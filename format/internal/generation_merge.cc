#include "format/internal/generation_merge.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/base/optimization.h"

namespace tracer::format_internal {

using format::Batch;

GenerationMerge::GenerationMerge(const Generation& gen) {
  const size_t n = gen.batches.size();
  readers_.reserve(n);
  pending_.reserve(n);
  // Batches of one thread follow each other in time, so only about one per thread is in the
  // tree at once: the others wait in `pending_` (sorted once) until the merge reaches them.
  // A batch's key is the tick of its first event if that event's header is well-formed, else
  // its base tick (the error surfaces there); batches with nothing to say are left out.
  base_ = UINT64_MAX;
  for (size_t i = 0; i < n; ++i) {
    readers_.emplace_back(gen, i);
    BatchEventReader& r = readers_.back();
    base_ = std::min(base_, r.tick_);
    if (r.LoadHeader()) {
      pending_.push_back(static_cast<Head>(r.hdr_tick_) << 32 | i);
    } else if (!r.Finished()) {
      pending_.push_back(static_cast<Head>(r.tick_) << 32 | i);
    }
  }
  std::sort(pending_.begin(), pending_.end(), std::greater<Head>());
  // Blocks as large as the budget allows for as many slots as there could ever be (twice the
  // batches that take one): a trace of big batches gets full blocks, one of tiny batches (a
  // crafted file, say) small ones, and the slots never hold more than the budget (or, for
  // one-event blocks, kMinSlotBytes per batch).
  const uint64_t max_slots = 2 * std::max<uint64_t>(pending_.size(), 1);
  const uint64_t budget = SlotBudget(gen);
  while (block_shift_ > 0 && max_slots * SlotBytes(block_shift_) > budget) --block_shift_;
  key_shift_ = block_shift_ + 1;
  shift_ = 1;
  while (shift_ < 40 && (uint64_t{1} << shift_) < n) ++shift_;
  // The largest key, ((limit_ - 1) << shift_ | all ones), stays below kRefill.
  limit_ = (uint64_t{1} << (64 - shift_)) - 1;
  PopPending();  // loads next_pending_ from the back
  // One slot to start; TakeSlot doubles them as more batches overlap in time (about one per
  // thread in a sane trace), so the slots follow the overlap, not the number of batches.
  AddSlots();
}

uint64_t GenerationMerge::SlotBytes(int block_shift) {
  return (uint64_t{sizeof(Event)} << block_shift) + (uint64_t{sizeof(uint64_t)} << (block_shift + 1)) +
         2 * sizeof(Node) + 3 * sizeof(uint32_t) + 2 * sizeof(uint32_t);  // + free_slots_
}

uint64_t GenerationMerge::SlotBudget(const Generation& gen) {
  uint64_t event_bytes = 0;
  for (const Batch& b : gen.batches) event_bytes += b.events.size();
  return std::max(kMinSlotBudget, 2 * event_bytes);
}

uint64_t GenerationMerge::MemoryBound(const Generation& gen) {
  const uint64_t n = gen.batches.size();
  const uint64_t slots = std::max(SlotBudget(gen), 2 * std::max<uint64_t>(n, 1) * SlotBytes(0));
  return n * kBytesPerBatch + slots + slots / 2;
}

// Makes pending_.back() the next pending batch (the caller removed the previous one).
void GenerationMerge::PopPending() {
  if (pending_.empty()) {
    next_pending_ = kNoHead;
    next_pending_key_ = kNone;
    return;
  }
  next_pending_ = pending_.back();
  const uint64_t tick = static_cast<uint64_t>(next_pending_ >> 32);
  const uint64_t batch = static_cast<uint32_t>(next_pending_);
  next_pending_key_ = tick - base_ < limit_ ? (tick - base_) << shift_ | batch : kRefill;
}

// Doubles the slots (a first call makes one), moving the blocks. The caller rebuilds the tree.
void GenerationMerge::AddSlots() {
  const uint32_t old = slots_;
  slots_ = old == 0 ? 1 : old * 2;
  auto events = std::make_unique<Event[]>(size_t{slots_} << block_shift_);
  auto keys = std::make_unique<uint64_t[]>(size_t{slots_} << key_shift_);
  if (old > 0) {
    std::copy(events_.get(), events_.get() + (size_t{old} << block_shift_), events.get());
    std::copy(keys_.get(), keys_.get() + (size_t{old} << key_shift_), keys.get());
    for (Node& leaf : leaf_) {
      if (leaf.at != nullptr) leaf.at = keys.get() + (leaf.at - keys_.get());
    }
  }
  events_ = std::move(events);
  keys_ = std::move(keys);
  leaf_.resize(slots_, Node{kNone, nullptr, 0});
  loser_.assign(slots_, Node{kNone, nullptr, 0});
  slot_batch_.resize(slots_, kFreeSlot);
  slot_n_.resize(slots_, 0);
  slot_pos_.resize(slots_, 0);
  for (uint32_t s = 0; s < slots_; ++s) leaf_[s].parent = (s + slots_) >> 1;
  for (uint32_t s = slots_; s > old; --s) free_slots_.push_back(s - 1);
}

uint32_t GenerationMerge::TakeSlot(uint32_t batch) {
  if (free_slots_.empty()) AddSlots();  // more batches overlap in time than there are slots
  const uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  slot_batch_[slot] = batch;
  return slot;
}

void GenerationMerge::FreeSlot(uint32_t slot) {
  slot_batch_[slot] = kFreeSlot;
  leaf_[slot] = Node{kNone, nullptr, (slot + slots_) >> 1};
  free_slots_.push_back(slot);
}

bool GenerationMerge::Refill(uint32_t slot, uint64_t* key) {
  const uint32_t batch = slot_batch_[slot];
  BatchEventReader& r = readers_[batch];
  Event* const events = EventsOf(slot);
  uint64_t* const keys = KeysOf(slot);
  const uint32_t n = static_cast<uint32_t>(r.DecodeBlock(events, size_t{1} << block_shift_));
  slot_n_[slot] = n;
  slot_pos_[slot] = 0;
  if (n == 0) {
    if (r.status().ok()) {
      *key = kNone;
      return true;
    }
    if (r.tick_ - base_ >= limit_) return false;
    keys[0] = (r.tick_ - base_) << shift_ | batch;
    keys[1] = kRefill;
    *key = keys[0];
    return true;
  }
  if (events[n - 1].tick - base_ >= limit_) return false;  // ticks only grow in a batch
  for (uint32_t i = 0; i < n; ++i) keys[i] = (events[i].tick - base_) << shift_ | batch;
  keys[n] = kRefill;
  *key = keys[0];
  return true;
}

void GenerationMerge::SetLeaf(uint32_t slot, Node entry) {
  // other[h]: the winner of the subtree beside the path at height h (the sibling of the
  // path's node below height h + 1). Each entry on the path belongs to exactly one such
  // subtree, found from its slot; the slot's own old entry is dropped. Empty (kNone) entries
  // are interchangeable and fill the heights that got none.
  int height = 0;
  while ((uint32_t{1} << height) < slots_) ++height;
  Node other[33];
  for (int h = 0; h < height; ++h) other[h] = Node{kNone, nullptr, 0};
  auto place = [&](const Node& e) {
    if (e.key == kNone || e.at == nullptr) return;
    const uint32_t s = SlotOf(e.at);
    if (s == slot) return;
    other[31 - __builtin_clz(s ^ slot)] = e;
  };
  const uint64_t leaf_node = uint64_t{slot} + slots_;
  for (int h = 0; h < height; ++h) place(loser_[leaf_node >> (h + 1)]);
  place(win_);
  Node c = entry;
  for (int h = 0; h < height; ++h) {
    const Node& o = other[h];
    Node& at = loser_[leaf_node >> (h + 1)];
    if (o.key < c.key) {
      at = c;
      c = o;
    } else {
      at = o;
    }
  }
  win_ = c;
  leaf_[slot] = entry;
  tree_work_ += static_cast<uint64_t>(height) + 1;
}

void GenerationMerge::Rebuild() {
  tree_work_ += slots_;
  // winners[node] for internal nodes; children of node are 2node and 2node+1, where an index
  // >= slots_ names leaf (index - slots_).
  std::vector<Node> winners(2 * size_t{slots_});
  for (uint32_t s = 0; s < slots_; ++s) winners[slots_ + s] = leaf_[s];
  for (size_t node = slots_ - 1; node > 0; --node) {
    const Node a = winners[2 * node], b = winners[2 * node + 1];
    winners[node] = a.key < b.key ? a : b;
    loser_[node] = a.key < b.key ? b : a;
  }
  win_ = winners[1];
}

// Brings every pending batch whose first key is below the current winner into the tree.
void GenerationMerge::InsertPending() {
  while (!wide_ && next_pending_key_ < win_.key) {
    const uint32_t old_slots = slots_;
    const uint32_t slot = TakeSlot(static_cast<uint32_t>(next_pending_));
    pending_.pop_back();
    PopPending();
    uint64_t key;
    if (!Refill(slot, &key)) {
      SwitchToWide(slot);
      return;
    }
    if (key == kNone) {
      FreeSlot(slot);  // defensive: a pending batch has an event or an error
      if (slots_ != old_slots) Rebuild();
    } else if (slots_ != old_slots) {
      leaf_[slot] = Node{key, KeysOf(slot), (slot + slots_) >> 1};
      Rebuild();  // the slots doubled: O(slots), as often as they doubled
    } else {
      SetLeaf(slot, Node{key, KeysOf(slot), (slot + slots_) >> 1});
    }
  }
}

// Hands the slots over to NextWide: each one's position comes from its leaf, except for
// `fresh_slot`, whose new block starts at 0.
void GenerationMerge::SwitchToWide(uint32_t fresh_slot) {
  for (uint32_t s = 0; s < slots_; ++s) {
    if (slot_batch_[s] == kFreeSlot || s == fresh_slot || leaf_[s].at == nullptr) continue;
    slot_pos_[s] = static_cast<uint32_t>(leaf_[s].at - KeysOf(s));
  }
  slot_pos_[fresh_slot] = 0;
  wide_ = true;
}

bool GenerationMerge::Fail(uint32_t slot) {
  status_ = readers_[slot_batch_[slot]].status();
  pending_.clear();
  next_pending_ = kNoHead;
  next_pending_key_ = kNone;
  win_ = Node{kNone, nullptr, 0};
  wide_ = false;
  for (uint32_t s = 0; s < slots_; ++s) {
    if (slot_batch_[s] != kFreeSlot) FreeSlot(s);
  }
  return false;
}

// The exact but slower merge for ticks too far apart for 64-bit keys: a scan of the slots.
const Event* GenerationMerge::NextWide() {
  for (;;) {
    Head best = kNoHead;
    uint32_t best_slot = 0;
    for (uint32_t s = 0; s < slots_; ++s) {
      const uint32_t b = slot_batch_[s];
      if (b == kFreeSlot) continue;
      const uint32_t pos = slot_pos_[s];
      const uint64_t tick = pos < slot_n_[s] ? EventsOf(s)[pos].tick : readers_[b].tick_;
      const Head k = static_cast<Head>(tick) << 32 | b;
      if (k < best) {
        best = k;
        best_slot = s;
      }
    }
    if (next_pending_ < best) {
      const uint32_t slot = TakeSlot(static_cast<uint32_t>(next_pending_));
      pending_.pop_back();
      PopPending();
      uint64_t unused;
      Refill(slot, &unused);
      if (slot_n_[slot] == 0 && readers_[slot_batch_[slot]].status().ok()) FreeSlot(slot);
      continue;
    }
    if (best == kNoHead) return nullptr;
    const uint32_t slot = best_slot;
    if (slot_pos_[slot] >= slot_n_[slot]) {
      Fail(slot);
      return nullptr;
    }
    last_ = EventsOf(slot)[slot_pos_[slot]++];
    if (slot_pos_[slot] == slot_n_[slot]) {
      uint64_t unused;
      Refill(slot, &unused);
      if (slot_n_[slot] == 0 && readers_[slot_batch_[slot]].status().ok()) FreeSlot(slot);
    }
    return &last_;
  }
}

// Next() off its fast path: pending batches to bring in, wide mode, the end, or an error.
const Event* GenerationMerge::NextSlow() {
  if (ABSL_PREDICT_FALSE(next_pending_key_ < win_.key || wide_)) {
    InsertPending();
    if (wide_) return NextWide();
  }
  if (ABSL_PREDICT_FALSE(win_.key == kNone)) return nullptr;
  const uint64_t* at = win_.at;
  const size_t k = static_cast<size_t>(at - keys_.get());
  const uint32_t slot = static_cast<uint32_t>(k >> key_shift_);
  const uint32_t i = static_cast<uint32_t>(k & ((size_t{1} << key_shift_) - 1));
  if (ABSL_PREDICT_FALSE(i >= slot_n_[slot])) {  // the key promised an error
    Fail(slot);
    return nullptr;
  }
  const Event* e = &events_[(size_t{slot} << block_shift_) + i];
  ++at;
  uint64_t key = *at;
  if (ABSL_PREDICT_FALSE(key == kRefill)) {
    last_ = *e;  // the refill overwrites the block
    e = &last_;
    if (!Refill(slot, &key)) {
      SwitchToWide(slot);
      return e;
    }
    at = KeysOf(slot);
    if (key == kNone) {
      slot_batch_[slot] = kFreeSlot;
      free_slots_.push_back(slot);
    }
  }
  Replay(slot, key, at);
  return e;
}

}  // namespace tracer::format_internal
