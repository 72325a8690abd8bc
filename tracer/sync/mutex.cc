#include "tracer/sync/mutex.h"

namespace tracer {
namespace {

using sync_internal::BlockScope;
using sync_internal::MonotonicNowNs;
using sync_internal::SpinLockHolder;
using sync_internal::Waiter;

constexpr int kSpins = 40;                    // tries before a locker sleeps
constexpr int64_t kStarvationNs = 1000000;    // 1 ms: then the lock is handed over

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

void Mutex::LockSlow() {
  for (int i = 0; i < kSpins; ++i) {
    uint32_t s = state_.load(std::memory_order_relaxed);
    if (!(s & kLocked) && state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire,
                                                       std::memory_order_relaxed)) {
      return;
    }
    CpuRelax();
  }
  // The block is recorded before the waiter is queued, so an unblock always follows it.
  BlockScope block(format::BlockReason::kMutex, this);
  Waiter w;
  w.task = block.task();
  const int64_t since = MonotonicNowNs();
  bool again = false;  // woken, lost the lock to a newcomer: queue at the front
  for (;;) {
    {
      SpinLockHolder h(q_);
      uint32_t s = state_.load(std::memory_order_relaxed);
      for (;;) {
        if (!(s & kLocked)) {
          if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
            return;  // free after all: a short wait (the block scope resumes)
          }
          continue;
        }
        uint32_t want = s | kWaiters;
        if (again && MonotonicNowNs() - since > kStarvationNs) want |= kStarving;
        if (s == want || state_.compare_exchange_weak(s, want, std::memory_order_relaxed)) break;
      }
      w.woken.store(0, std::memory_order_relaxed);
      w.flags = 0;
      if (again) {
        waiters_.PushFront(&w);
      } else {
        waiters_.PushBack(&w);
      }
    }
    w.Park();
    if (w.flags & kHandedOver) {
      // The lock is ours. A waiter served within 1 ms ends hand-over mode (Go's rule).
      if (MonotonicNowNs() - since < kStarvationNs) {
        SpinLockHolder h(q_);
        state_.fetch_and(~kStarving, std::memory_order_relaxed);
      }
      return;
    }
    uint32_t s = state_.load(std::memory_order_relaxed);
    while (!(s & kLocked)) {
      if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return;
      }
    }
    again = true;
    block.BlockAgain();
  }
}

void Mutex::UnlockSlow() {
  uint32_t s = state_.load(std::memory_order_relaxed);
  while (!(s & kStarving)) {
    // Normal mode: free the lock first (a newcomer may take it at once), then wake the
    // oldest waiter to compete for it.
    if (state_.compare_exchange_weak(s, s & ~kLocked, std::memory_order_release,
                                     std::memory_order_relaxed)) {
      if (!(s & kWaiters)) return;
      Waiter* w;
      {
        SpinLockHolder h(q_);
        w = waiters_.PopFront();
        if (waiters_.empty()) state_.fetch_and(~kWaiters, std::memory_order_relaxed);
      }
      if (w != nullptr) w->Wake(this, sync_internal::WakerStack());
      return;
    }
  }
  // Hand-over mode: the lock goes to the oldest waiter without being free in between.
  const uint64_t stack = sync_internal::WakerStack();
  Waiter* w;
  {
    SpinLockHolder h(q_);
    w = waiters_.PopFront();
    if (w == nullptr) {  // (kStarving is only set with a waiter queued)
      state_.store(0, std::memory_order_release);
      return;
    }
    if (waiters_.empty()) state_.store(kLocked, std::memory_order_relaxed);
    w->flags = kHandedOver;
  }
  w->Wake(this, stack);  // release: the waiter's acquire sees our critical section
}

void RwMutex::LockSlow() { Acquire(/*writer=*/true); }
void RwMutex::ReaderLockSlow() { Acquire(/*writer=*/false); }

void RwMutex::Acquire(bool writer) {
  auto free_for_us = [writer](uint32_t s) { return writer ? s == 0 : !(s & (kWriter | kWaiters)); };
  auto taken = [writer](uint32_t s) { return writer ? kWriter : s + kReader; };
  for (int i = 0; i < kSpins; ++i) {
    uint32_t s = state_.load(std::memory_order_relaxed);
    if (free_for_us(s) && state_.compare_exchange_weak(s, taken(s), std::memory_order_acquire,
                                                       std::memory_order_relaxed)) {
      return;
    }
    CpuRelax();
  }
  BlockScope block(format::BlockReason::kRwMutex, this);
  Waiter w;
  w.task = block.task();
  w.flags = writer ? kWantsWrite : 0;
  {
    SpinLockHolder h(q_);
    uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if (free_for_us(s)) {
        if (state_.compare_exchange_weak(s, taken(s), std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
          return;
        }
        continue;
      }
      if ((s & kWaiters) ||
          state_.compare_exchange_weak(s, s | kWaiters, std::memory_order_relaxed)) {
        break;
      }
    }
    waiters_.PushBack(&w);
  }
  w.Park();  // the unlocker handed the lock to us
}

void RwMutex::UnlockSlow() {
  // Here the lock has no holder (a writer left, or the last reader) and kWaiters is set, so
  // nobody takes it outside q_: hand it to the next writer, or to the readers before it.
  Waiter* woken = nullptr;  // chained through Waiter::next once off the list
  {
    SpinLockHolder h(q_);
    Waiter* head = waiters_.front();
    uint32_t next = 0;
    if (head != nullptr && (head->flags & kWantsWrite)) {
      woken = waiters_.PopFront();
      next = kWriter;
    } else {
      Waiter** tail = &woken;
      while (waiters_.front() != nullptr && !(waiters_.front()->flags & kWantsWrite)) {
        Waiter* r = waiters_.PopFront();
        *tail = r;
        tail = &r->next;
        next += kReader;
      }
    }
    if (!waiters_.empty()) next |= kWaiters;
    state_.store(next, std::memory_order_release);
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
