// tracer::WaitGroup (Go's sync.WaitGroup) and tracer::Notification (absl::Notification's
// contract): waits that trace themselves with reason waitgroup.
//
//   tracer::WaitGroup wg;
//   wg.Add(n);
//   for (...) pool.Submit([&] { Work(); wg.Done(); });
//   wg.Wait();                   // blocked (waitgroup) until the last Done, which is its waker
//
// A waiter is recorded as blocked (reason waitgroup, the object's address, its stack); the
// task whose Done (or Notify) released it records the unblock with its stack. A wait that
// needs no sleep records nothing.

#ifndef TRACER_TRACER_SYNC_WAIT_GROUP_H_
#define TRACER_TRACER_SYNC_WAIT_GROUP_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "tracer/sync/internal/park.h"

namespace tracer {

class WaitGroup {
 public:
  explicit WaitGroup(int64_t count = 0) : count_(count) {}
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  // Adds `n` (may be negative) to the count. When it reaches zero, every waiter is released.
  // A count below zero is a bug in the caller: the process aborts (Go panics).
  void Add(int64_t n);
  void Done() { Add(-1); }
  // Returns once the count is zero.
  void Wait();
  // Waits at most `timeout`; true if the count reached zero.
  bool WaitFor(absl::Duration timeout);

 private:
  bool WaitUntilNs(int64_t deadline_ns);

  sync_internal::SpinLock q_;
  int64_t count_ ABSL_GUARDED_BY(q_);
  sync_internal::WaitList waiters_ ABSL_GUARDED_BY(q_);
};

// A one-shot event: Notify once; every wait returns from then on.
class Notification {
 public:
  Notification() = default;
  Notification(const Notification&) = delete;
  Notification& operator=(const Notification&) = delete;

  // Releases every waiter. At most once: a second Notify aborts (as absl::Notification).
  void Notify();
  bool HasBeenNotified() const { return notified_.load(std::memory_order_acquire); }
  void WaitForNotification();
  // True if notified within `timeout`.
  bool WaitForNotificationWithTimeout(absl::Duration timeout);

 private:
  bool WaitUntilNs(int64_t deadline_ns);

  std::atomic<bool> notified_{false};
  sync_internal::SpinLock q_;
  sync_internal::WaitList waiters_ ABSL_GUARDED_BY(q_);
};

// Sleeps for `d`, recorded as a block of the running task with reason sleep (no waker: the
// task wakes by itself).
void SleepFor(absl::Duration d);

}  // namespace tracer

#endif  // TRACER_TRACER_SYNC_WAIT_GROUP_H_
