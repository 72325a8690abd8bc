// The kit's one way to block and wake a task (every primitive in tracer/sync/ is built on it):
// a waiter parks on a futex word of its own, queued on the primitive's list; the waker takes
// it off the list, records the unblock (naming its own running task as the waker, with its
// stack), then wakes it. The trace therefore always has the block before the unblock before the
// waiter's resume, and the waker never waits for the waiter.
//
// Memory ordering: the waker's writes (the unblock's sequence number in the waiter's TaskRef,
// a handed-over value or ownership) happen before its release store of Waiter::woken; the
// waiter's acquire load of `woken` then sees them. The futex calls only sleep and wake: TSan,
// which cannot see them, sees the atomics.

#ifndef TRACER_TRACER_SYNC_INTERNAL_PARK_H_
#define TRACER_TRACER_SYNC_INTERNAL_PARK_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "format/event_table.h"
#include "tracer/hooks.h"

namespace tracer::sync_internal {

// CLOCK_MONOTONIC, ns.
int64_t MonotonicNowNs();
// The monotonic deadline `timeout` from now (saturating; a negative timeout is now).
int64_t DeadlineAfter(absl::Duration timeout);
inline constexpr int64_t kNoDeadline = INT64_MAX;

// A test-and-test-and-set lock for the primitives' short internal sections (queue edits,
// never I/O or a stack capture): it spins with a pause, then yields.
class ABSL_LOCKABLE SpinLock {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    if (ABSL_PREDICT_TRUE(!held_.exchange(true, std::memory_order_acquire))) return;
    LockSlow();
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() { held_.store(false, std::memory_order_release); }

 private:
  void LockSlow();
  std::atomic<bool> held_{false};
};

class ABSL_SCOPED_LOCKABLE SpinLockHolder {
 public:
  explicit SpinLockHolder(SpinLock& l) ABSL_EXCLUSIVE_LOCK_FUNCTION(l) : l_(l) { l_.Lock(); }
  ~SpinLockHolder() ABSL_UNLOCK_FUNCTION() { l_.Unlock(); }
  SpinLockHolder(const SpinLockHolder&) = delete;
  SpinLockHolder& operator=(const SpinLockHolder&) = delete;

 private:
  SpinLock& l_;
};

// One parked task. Lives on the waiting thread's stack while it waits.
struct Waiter {
  TaskRef* task = nullptr;  // the task to unblock (nullptr: nothing is recorded)
  Waiter* prev = nullptr;   // on the primitive's list (its lock)
  Waiter* next = nullptr;
  bool queued = false;      // on a list now (the list's lock)
  // Set by the waker before it wakes the waiter (primitive-defined: a hand-over of
  // ownership, which kind of wait this is, the case that fired).
  uint32_t flags = 0;
  void* slot = nullptr;     // primitive-defined (a channel's value)
  std::atomic<uint32_t> woken{0};

  // Sleeps until Wake (true), or until the monotonic `deadline_ns` passes (false; the waker
  // may still come: a primitive that times out must take the waiter off its list itself, or,
  // if a waker already did, wait with Park() for its Wake).
  bool Park(int64_t deadline_ns = kNoDeadline);
  // On the waker's thread, after taking the waiter off the list: records the unblock (waker:
  // this thread's running task; `stack`: from WakerStack, 0 for none), then wakes it. The
  // waiter may return (and its Waiter go) as soon as `woken` is set: nothing touches it after.
  void Wake(const void* object, uint64_t stack);
};

// An intrusive FIFO of waiters, guarded by its primitive's lock.
class WaitList {
 public:
  bool empty() const { return head_ == nullptr; }
  Waiter* front() const { return head_; }
  void PushBack(Waiter* w);
  void PushFront(Waiter* w);
  Waiter* PopFront();  // nullptr if empty
  // Takes `w` off the list if it is on it; false if a waker took it first.
  bool Remove(Waiter* w);

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
};

// The stack of the waking site, for the unblock (0 while nothing traces or stacks are off).
// Taken before the primitive's lock: a stack costs about a microsecond.
inline uint64_t WakerStack() {
  return tracer_internal::Enabled() ? tracer_internal::StackForSlowEvent() : 0;
}

// The running task's wait, from construction (the block is recorded, with the waiting site's
// stack, before the caller queues itself) to Resume (the task runs again) or destruction.
// Constructed only when the caller is about to sleep: an uncontended path records nothing.
class BlockScope {
 public:
  BlockScope(format::BlockReason reason, const void* object);
  ~BlockScope() { Resume(); }
  BlockScope(const BlockScope&) = delete;
  BlockScope& operator=(const BlockScope&) = delete;

  TaskRef* task() const { return task_; }  // for Waiter::task
  // The task runs again (TaskStart). Idempotent.
  void Resume();
  // Woken, the task found the resource taken and waits again (a resume, then a new block
  // with the same reason, object and stack).
  void BlockAgain();

 private:
  void RecordBlock();
  TaskRef* task_;
  format::BlockReason reason_;
  const void* object_;
  uint64_t stack_ = 0;
  bool blocked_ = false;
};

}  // namespace tracer::sync_internal

#endif  // TRACER_TRACER_SYNC_INTERNAL_PARK_H_
