#include "tracer/sync/wait_group.h"

#include "absl/base/internal/raw_logging.h"
#include "absl/time/clock.h"

namespace tracer {

using sync_internal::SpinLockHolder;
using sync_internal::Waiter;

namespace {

// Takes every waiter off `list` (REQUIRES its lock); returns them chained through `next`.
Waiter* TakeAll(sync_internal::WaitList& list) {
  Waiter* all = nullptr;
  Waiter** tail = &all;
  while (Waiter* w = list.PopFront()) {
    *tail = w;
    tail = &w->next;
  }
  return all;
}

void WakeAll(Waiter* all, const void* object) {
  if (all == nullptr) return;
  const uint64_t stack = sync_internal::WakerStack();
  while (all != nullptr) {
    Waiter* w = all;
    all = w->next;  // before the wake: the waiter may be gone after it
    w->Wake(object, stack);
  }
}

// The common wait: sleeps on `list` (guarded by `q`) until `done()` (checked under q) or the
// deadline. True if done.
template <typename Done>
bool WaitOn(sync_internal::SpinLock& q, sync_internal::WaitList& list, const void* object,
            int64_t deadline_ns, Done done) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  {
    SpinLockHolder h(q);
    if (done()) return true;  // no sleep: nothing recorded
  }
  sync_internal::BlockScope block(format::BlockReason::kWaitGroup, object);
  Waiter w;
  w.task = block.task();
  {
    SpinLockHolder h(q);
    if (done()) return true;
    list.PushBack(&w);
  }
  if (w.Park(deadline_ns)) return true;
  bool removed;
  {
    SpinLockHolder h(q);
    removed = list.Remove(&w);
  }
  if (!removed) {
    w.Park();  // released just as the deadline passed: its wake is on the way
    return true;
  }
  return false;
}

}  // namespace

void WaitGroup::Add(int64_t n) {
  Waiter* all = nullptr;
  {
    SpinLockHolder h(q_);
    count_ += n;
    if (count_ < 0) ABSL_RAW_LOG(FATAL, "tracer::WaitGroup: negative count (%lld)",
                                 static_cast<long long>(count_));
    if (count_ == 0) all = TakeAll(waiters_);
  }
  WakeAll(all, this);
}

void WaitGroup::Wait() { WaitUntilNs(sync_internal::kNoDeadline); }
bool WaitGroup::WaitFor(absl::Duration timeout) {
  return WaitUntilNs(sync_internal::DeadlineAfter(timeout));
}
bool WaitGroup::WaitUntilNs(int64_t deadline_ns) {
  return WaitOn(q_, waiters_, this, deadline_ns,
                [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return count_ == 0; });
}

void Notification::Notify() {
  Waiter* all;
  {
    SpinLockHolder h(q_);
    if (notified_.exchange(true, std::memory_order_release)) {
      ABSL_RAW_LOG(FATAL, "tracer::Notification: Notify called twice");
    }
    all = TakeAll(waiters_);
  }
  WakeAll(all, this);
}

void Notification::WaitForNotification() {
  if (HasBeenNotified()) return;
  WaitUntilNs(sync_internal::kNoDeadline);
}
bool Notification::WaitForNotificationWithTimeout(absl::Duration timeout) {
  if (HasBeenNotified()) return true;
  return WaitUntilNs(sync_internal::DeadlineAfter(timeout));
}
bool Notification::WaitUntilNs(int64_t deadline_ns) {
  return WaitOn(q_, waiters_, this, deadline_ns,
                [this] { return notified_.load(std::memory_order_acquire); });
}

void SleepFor(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return;
  sync_internal::BlockScope block(format::BlockReason::kSleep, nullptr);
  absl::SleepFor(d);
}

}  // namespace tracer
