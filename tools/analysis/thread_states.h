// ThreadStateTracker: each thread's state over time, from the task, syscall and phase events,
// with the time it spent in each state so far. What the regions and user-task analyses charge
// time by; their parts add up to the span they charge.
//
// A thread's state, in this precedence (the first that holds wins):
//   blocked <reason>  its running task blocked (TaskBlock on the thread) and was not yet made
//                     runnable: the task's own wait wins over everything below;
//   runnable          the blocked task was unblocked (TaskUnblock, from any thread) and has
//                     not started again: scheduler latency;
//   syscall           inside SyscallBegin..SyscallEnd;
//   phase             the thread runs a runtime phase itself (a thread-scoped phase on it, or
//                     the stop-the-world phase it began);
//   stopped           a stop-the-world phase another thread began is open;
//   running           otherwise (a thread no task event names is running).
// With the kit (tracer/sync/), a task that blocks keeps its thread, so this is the task's state.
//
// Memory: per thread its state and counters, and the blocked tasks: what is live.

#ifndef TRACER_TOOLS_ANALYSIS_THREAD_STATES_H_
#define TRACER_TOOLS_ANALYSIS_THREAD_STATES_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "format/event_table.h"
#include "format/generation.h"

namespace tracer::analysis {

// The states, the blocked ones one per reason: kBlocked + r for reason r.
enum class ThreadTimeState : uint8_t {
  kRunning = 0,
  kRunnable,
  kSyscall,
  kPhase,
  kStopped,
  kBlocked,
};
inline constexpr size_t kNumTimeStates =
    static_cast<size_t>(ThreadTimeState::kBlocked) +
    static_cast<size_t>(format::BlockReason::kNumBlockReasons);
// "running", "runnable", "syscall", "phase", "stopped", "blocked mutex", ...
std::string TimeStateName(size_t state);

// Nanoseconds in each state.
struct TimeBreakdown {
  std::array<int64_t, kNumTimeStates> ns{};
  int64_t total() const;
  TimeBreakdown& operator+=(const TimeBreakdown& o);
  TimeBreakdown operator-(const TimeBreakdown& o) const;
};

class ThreadStateTracker {
 public:
  struct Thread {
    int64_t last_ns = 0;  // cum is up to date to here
    TimeBreakdown cum;    // time in each state since the thread was first seen
    uint64_t current_user_task = 0;  // its last SetCurrentUserTask
   private:
    friend class ThreadStateTracker;
    int blocked_reason = -1;  // >= 0: its task is blocked
    uint64_t blocked_task = 0;
    bool runnable = false;
    int syscall_depth = 0;
    int phase_depth = 0;  // thread-scoped phases, and stop-the-world ones it began
  };

  // Applies the event's effect on the threads' states (task, syscall, phase and
  // SetCurrentUserTask events; others change nothing), after charging their time up to `now`.
  // Returns the event's thread, up to date at `now`.
  Thread& Apply(const format::Event& e, int64_t now);
  // The thread, its time charged up to `now` (first seen: from `now` on). A look-up in a small
  // direct-mapped cache first (every event does one; a hash look-up was a sixth of an
  // analysis's time), then in the map, whose nodes never move or go away.
  Thread& At(uint64_t id, int64_t now) {
    CacheSlot& slot = cache_[id % kCacheSlots];
    Thread* t = slot.id == id && slot.thread != nullptr ? slot.thread : Find(id, now);
    Advance(*t, now);
    return *t;
  }
  // Every thread seen, its time charged up to `now`.
  void AdvanceAll(int64_t now);
  const absl::node_hash_map<uint64_t, Thread>& threads() const { return threads_; }

  // The thread's state now: an index into TimeBreakdown::ns.
  size_t StateOf(const Thread& t) const;

 private:
  void Advance(Thread& t, int64_t now) {
    if (now > t.last_ns) {
      t.cum.ns[StateOf(t)] += now - t.last_ns;
      t.last_ns = now;
    }
  }
  // The thread in the map (added, its time starting at `now`, if new), put in the cache.
  Thread* Find(uint64_t id, int64_t now);

  static constexpr size_t kCacheSlots = 64;
  struct CacheSlot {
    uint64_t id = 0;
    Thread* thread = nullptr;
  };
  std::array<CacheSlot, kCacheSlots> cache_{};
  int stw_depth_ = 0;
  absl::node_hash_map<uint64_t, Thread> threads_;  // nodes: the cache holds pointers
  absl::flat_hash_map<uint64_t, uint64_t> blocked_on_;  // blocked task -> its thread
  std::vector<uint64_t> stw_threads_;  // the threads that began the open stop-the-world phases
};

// "blocked mutex 2.00ms (58.8%), running 700.0us (20.6%), ...": the non-zero parts, largest
// first, each as a share of the total.
std::string BreakdownText(const TimeBreakdown& b);
// {"running":700000,"blocked mutex":2000000,...}: the non-zero parts.
void AppendBreakdownJson(const TimeBreakdown& b, std::string* out);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_THREAD_STATES_H_
