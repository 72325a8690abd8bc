#include "tracer/sync/cond_var.h"

namespace tracer {

using sync_internal::SpinLockHolder;
using sync_internal::Waiter;

bool CondVar::WaitUntilNs(Mutex& mu, int64_t deadline_ns) {
  bool timed_out = false;
  {
    sync_internal::BlockScope block(format::BlockReason::kCondVar, this);
    Waiter w;
    w.task = block.task();
    {
      SpinLockHolder h(q_);
      waiters_.PushBack(&w);  // queued before mu is released: no signal is lost
    }
    mu.Unlock();
    if (!w.Park(deadline_ns)) {
      bool removed;
      {
        SpinLockHolder h(q_);
        removed = waiters_.Remove(&w);
      }
      if (removed) {
        timed_out = true;
      } else {
        w.Park();  // a signaller took us off the list first: its wake is on the way
      }
    }
  }  // the task runs again
  mu.Lock();
  return timed_out;
}

void CondVar::Signal() {
  Waiter* w;
  {
    SpinLockHolder h(q_);
    w = waiters_.PopFront();
  }
  if (w != nullptr) w->Wake(this, sync_internal::WakerStack());
}

void CondVar::SignalAll() {
  Waiter* woken = nullptr;
  {
    SpinLockHolder h(q_);
    Waiter** tail = &woken;
    while (Waiter* w = waiters_.PopFront()) {
      *tail = w;
      tail = &w->next;
    }
  }
  if (woken == nullptr) return;
  const uint64_t stack = sync_internal::WakerStack();
  while (woken != nullptr) {
    Waiter* w = woken;
    woken = w->next;  // before the wake: the waiter may be gone after it
    w->Wake(this, stack);
  }
}

}  // namespace tracer
