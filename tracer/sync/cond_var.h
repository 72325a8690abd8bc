// tracer::CondVar: a condition variable for tracer::Mutex that traces its waits.
//
//   tracer::MutexLock l(mu);
//   while (!ready) cv.Wait(mu);
//
// Contract.
// - Wait atomically releases `mu` and sleeps until Signal/SignalAll wakes it (or spuriously:
//   always wait in a loop over the condition), then re-acquires `mu` before returning.
// - A waiting task is recorded as blocked (reason condvar, the CondVar's address, the waiting
//   site's stack); the signaller records the unblock, naming its own running task as the
//   waker, with its stack. Re-acquiring `mu` after the wake is a mutex wait like any other
//   (recorded only if contended).
// - Signal wakes the oldest waiter, SignalAll every waiter queued at the call; with none
//   waiting, they cost a short internal lock and record nothing.

#ifndef TRACER_TRACER_SYNC_COND_VAR_H_
#define TRACER_TRACER_SYNC_COND_VAR_H_

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "tracer/sync/internal/park.h"
#include "tracer/sync/mutex.h"

namespace tracer {

class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void Wait(Mutex& mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    WaitUntilNs(mu, sync_internal::kNoDeadline);
  }
  // Waits at most `timeout`; true if it timed out (as absl::CondVar::WaitWithTimeout).
  bool WaitFor(Mutex& mu, absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return WaitUntilNs(mu, sync_internal::DeadlineAfter(timeout));
  }
  void Signal();
  void SignalAll();

 private:
  bool WaitUntilNs(Mutex& mu, int64_t deadline_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  sync_internal::SpinLock q_;
  sync_internal::WaitList waiters_ ABSL_GUARDED_BY(q_);
};

}  // namespace tracer

#endif  // TRACER_TRACER_SYNC_COND_VAR_H_
