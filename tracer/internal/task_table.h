// The collector's table of tracked task states (the state at a generation's start).

#ifndef TRACER_TRACER_INTERNAL_TASK_TABLE_H_
#define TRACER_TRACER_INTERNAL_TASK_TABLE_H_

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/container/flat_hash_map.h"
#include "format/generation.h"
#include "tracer/internal/zeroed_array.h"

namespace tracer::tracer_internal {

// A tracked runtime task: its state as a generation's task table states it (format::TaskState)
// and what the live-task listing that ends a dump adds (format::LiveTask).
struct TrackedTask {  // trivially copyable: the table keeps it on zero pages
  uint64_t id = 0;
  uint64_t parent = 0;
  uint64_t name = 0;    // string id
  uint64_t thread = 0;  // the thread running it (running or in a syscall), else 0
  uint64_t labels = 0;  // label-set id
  uint64_t seq = 0;     // its sequence number (TaskStart/TaskUnblock)
  uint64_t object = 0;  // what it blocked on (TaskBlock's object), while blocked
  uint64_t since_tick = 0;  // when it entered `status` (0: before the trace)
  uint32_t create_stack = 0;  // stack ids
  uint32_t block_stack = 0;
  // TaskStates' generation stamp when the task was last stated (listed in a generation's task
  // table, or created in it): a task appears in a generation's table once, as it was at the
  // generation's start.
  uint32_t stated = 0;
  format::TaskStatus status = format::TaskStatus::kRunnable;
  format::BlockReason reason = format::BlockReason::kUnknown;  // when blocked

  format::TaskState ToState() const {
    return {id, parent, name, status, thread, labels, seq, reason};
  }
  format::LiveTask ToLive() const {
    const bool blocked = status == format::TaskStatus::kBlocked;
    return {id,     parent, name,       status, thread, labels, reason,
            blocked ? object : 0, since_tick, blocked ? block_stack : create_stack};
  }
};

static_assert(std::is_trivially_copyable_v<TrackedTask>);

// The tracked task states: entries in a slab, found through an id -> slot map. Slots stay put
// while others come and go, so a run of events can keep its running task's slot instead of
// looking the task up again at every event. Collector thread only.
class TaskTable {
 public:
  static constexpr uint32_t kNoSlot = ~uint32_t{0};
  uint32_t Find(uint64_t id) const {
    if (id == 0) return kNoSlot;
    const Entry& e = direct_[id & kDirectMask];
    if (e.id == id) return e.slot;
    if (overflow_.empty()) return kNoSlot;
    auto it = overflow_.find(id);
    return it == overflow_.end() ? kNoSlot : it->second;
  }
  // The slot of `id`, made (id set, every other field zero) if it was not tracked.
  // Id 0 (no task) gets the scratch slot, which is never listed.
  uint32_t FindOrAdd(uint64_t id) {
    if (ABSL_PREDICT_FALSE(id == 0)) {
      at(kScratch) = TrackedTask{};
      return kScratch;
    }
    Entry& e = direct_[id & kDirectMask];
    if (ABSL_PREDICT_TRUE(e.id == id)) return e.slot;
    if (!overflow_.empty()) {
      if (auto it = overflow_.find(id); it != overflow_.end()) return it->second;
    }
    uint32_t slot;
    if (free_.empty()) {
      if (ABSL_PREDICT_FALSE(!Grow())) {  // 16 M tasks tracked: this one is not
        ++untracked_;
        at(kScratch) = TrackedTask{};
        return kScratch;
      }
      slot = used_.load(std::memory_order_relaxed);
      used_.store(slot + 1, std::memory_order_release);
    } else {
      slot = free_.back();
      free_.pop_back();
    }
    at(slot) = TrackedTask{};
    at(slot).id = id;
    if (e.id == 0) {
      e = {id, slot};
    } else {
      overflow_.emplace(id, slot);
    }
    ++size_;
    return slot;
  }
  void Erase(uint64_t id) {
    if (id == 0) return;
    uint32_t slot;
    if (Entry& e = direct_[id & kDirectMask]; e.id == id) {
      slot = e.slot;
      e = {};
    } else {
      if (overflow_.empty()) return;
      auto it = overflow_.find(id);
      if (it == overflow_.end()) return;
      slot = it->second;
      overflow_.erase(it);
    }
    at(slot).id = 0;  // a slot kept by a run no longer names `id` (see Valid)
    free_.push_back(slot);
    --size_;
  }
  // True if `slot`, kept from an earlier lookup of `id`, still holds it.
  bool Valid(uint32_t slot, uint64_t id) const {
    return id != 0 && slot != kNoSlot && at(slot).id == id;
  }
  TrackedTask& at(uint32_t slot) { return chunks_[slot >> kChunkShift][slot & kChunkMask]; }
  const TrackedTask& at(uint32_t slot) const {
    return chunks_[slot >> kChunkShift][slot & kChunkMask];
  }
  size_t size() const { return size_; }
  uint64_t untracked() const { return untracked_; }  // tasks beyond kMaxSlots
  // Every tracked task, in slot order.
  template <typename F>
  void ForEach(F&& f) const {
    if (size_ == 0) return;
    const uint32_t used = used_.load(std::memory_order_relaxed);
    for (uint32_t s = 1; s < used; ++s) {
      if (at(s).id != 0) f(at(s));
    }
  }
  template <typename F>
  void ForEachMutable(F&& f) {
    if (size_ == 0) return;
    const uint32_t used = used_.load(std::memory_order_relaxed);
    for (uint32_t s = 1; s < used; ++s) {
      if (at(s).id != 0) f(at(s));
    }
  }
  // From a fatal-signal handler, while the collector may be changing the table: every slot
  // that names a task, copied out as it is then (a task the collector is updating at that
  // instant may come out half-updated). No lock, no allocation. Slots and chunks are
  // published with release order (used_, chunks_published_) after they are made, and a chunk
  // never moves or goes away while the table lives.
  size_t ForEachForCrash(void (*fn)(const TrackedTask&, void*), void* ctx) const {
    const uint32_t chunks = chunks_published_.load(std::memory_order_acquire);
    const uint32_t used = std::min(used_.load(std::memory_order_acquire), chunks * kChunk);
    size_t n = 0;
    for (uint32_t s = 1; s < used; ++s) {
      const TrackedTask t = at(s);
      if (t.id == 0) continue;
      fn(t, ctx);
      ++n;
    }
    return n;
  }
  void Clear() {
    ForEach([&](const TrackedTask& t) { direct_[t.id & kDirectMask] = {}; });
    const uint32_t used = used_.load(std::memory_order_relaxed);
    for (uint32_t s = 1; s < used; ++s) at(s).id = 0;
    overflow_.clear();
    used_.store(1, std::memory_order_release);  // the scratch slot; chunks are kept
    free_.clear();
    size_ = 0;
  }
  TaskTable() { (void)Grow(); }  // the first chunk: the scratch slot
  ~TaskTable() {
    for (uint32_t c = 0; c < chunks_published_.load(std::memory_order_relaxed); ++c) {
      munmap(chunks_[c], kChunk * sizeof(TrackedTask));
    }
  }
  TaskTable(const TaskTable&) = delete;
  TaskTable& operator=(const TaskTable&) = delete;

 private:
  // The index: task ids come from per-thread blocks of consecutive numbers (NewId), so the
  // live ones mostly differ in their low bits. A direct-mapped table on those bits finds a task
  // with one load; an id whose entry is taken by another live task goes to `overflow_`. An id
  // is in one of the two, never both. (Task id 0 is never tracked: it marks an empty entry.)
  struct Entry {
    uint64_t id = 0;
    uint32_t slot = 0;
  };
  static constexpr uint64_t kDirectMask = (uint64_t{1} << 12) - 1;  // 4 Ki entries, 64 KiB
  ZeroedArray<Entry> direct_{kDirectMask + 1};  // zero pages: touched as ids come
  absl::flat_hash_map<uint64_t, uint32_t> overflow_;
  static constexpr uint32_t kScratch = 0;
  // The slab: chunks of kChunk tasks that never move (a crash handler may read them), made
  // as the table grows and kept until it is destroyed.
  static constexpr uint32_t kChunkShift = 12;
  static constexpr uint32_t kChunk = uint32_t{1} << kChunkShift;
  static constexpr uint32_t kChunkMask = kChunk - 1;
  static constexpr uint32_t kMaxChunks = 4096;  // 16 M tasks
  // Makes room for slot used_ (a new chunk if it starts one); false at kMaxChunks.
  bool Grow() {
    const uint32_t used = used_.load(std::memory_order_relaxed);
    const uint32_t chunks = chunks_published_.load(std::memory_order_relaxed);
    if (used < chunks * kChunk) return true;
    if (chunks == kMaxChunks) return false;
    // Zero pages (an all-zero TrackedTask is a free slot): only the slots used cost memory.
    void* p = mmap(nullptr, kChunk * sizeof(TrackedTask), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    chunks_[chunks] = static_cast<TrackedTask*>(p);
    chunks_published_.store(chunks + 1, std::memory_order_release);  // the chunk, then its count
    return true;
  }
  TrackedTask* chunks_[kMaxChunks] = {};
  std::atomic<uint32_t> chunks_published_{0};
  std::atomic<uint32_t> used_{1};  // slots [0, used_) were ever handed out; [0]: scratch
  std::vector<uint32_t> free_;
  size_t size_ = 0;
  uint64_t untracked_ = 0;
};

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_TASK_TABLE_H_
