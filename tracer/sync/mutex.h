// tracer::Mutex and tracer::RwMutex: real, fast locks that trace their own contention.
//
//   tracer::Mutex mu;
//   {
//     tracer::MutexLock l(mu);              // or std::lock_guard / std::unique_lock /
//     ...                                   // std::scoped_lock (lock, unlock, try_lock)
//   }
//
// Contract.
// - Uncontended: Lock and Unlock are one compare-and-swap each and record nothing (the cost of
//   std::mutex; bench/sync_bench.cc measures both against std::mutex and absl::Mutex).
// - Contended: a locker spins briefly, then records a block of the running task (reason
//   mutex, or rwmutex for RwMutex; the lock's address as the object; the waiting site's
//   stack) and sleeps. The unlocker that wakes it records the unblock, naming its own running
//   task as the waker, with the unlock site's stack (what Go's mutex profile and
//   `tracetool pprof --kind=mutex` charge the wait to), before the wake that lets it run. The
//   unlock site's stack costs about a microsecond, taken only on an unlock that wakes someone.
// - The running task is the ThreadPool job or scheduler's task running on the thread
//   (tracer/hooks.h), or else the thread itself as a task of its own.
// - Mutex is not fair in the common case: a woken waiter competes with threads arriving (it
//   is then recorded as blocked again), which keeps throughput up under contention. A waiter
//   that has waited over 1 ms switches the lock to hand-over mode (Go's starvation mode):
//   each unlock gives the lock to the oldest waiter until the queue drains or a waiter got it
//   within 1 ms.
// - Not recursive. Unlock from a thread that does not hold the lock is undefined, as for
//   std::mutex. Destroying a lock that is held or waited on is undefined.
// - While nothing traces, waits record nothing and cost what they cost untraced.

#ifndef TRACER_TRACER_SYNC_MUTEX_H_
#define TRACER_TRACER_SYNC_MUTEX_H_

#include <atomic>
#include <cstdint>

#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "tracer/sync/internal/park.h"

namespace tracer {

class ABSL_LOCKABLE Mutex {
 public:
  constexpr Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    uint32_t expected = 0;
    if (ABSL_PREDICT_TRUE(state_.compare_exchange_weak(
            expected, kLocked, std::memory_order_acquire, std::memory_order_relaxed))) {
      return;
    }
    LockSlow();
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    uint32_t expected = kLocked;
    if (ABSL_PREDICT_TRUE(state_.compare_exchange_strong(
            expected, 0, std::memory_order_release, std::memory_order_relaxed))) {
      return;
    }
    UnlockSlow();
  }
  // Takes the lock if it is free; never waits, never records.
  bool TryLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    uint32_t s = state_.load(std::memory_order_relaxed);
    while (!(s & kLocked)) {
      if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  // The standard library's Lockable names, for std::lock_guard, std::unique_lock,
  // std::scoped_lock and std::condition_variable_any.
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { Lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { Unlock(); }
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return TryLock(); }

  // Whether a locker is queued asleep now (racy: for tests and diagnostics).
  bool HasWaiters() const { return state_.load(std::memory_order_relaxed) & kWaiters; }

 private:
  // kStarving implies kLocked: in hand-over mode the lock passes from holder to waiter
  // without ever being free. kWaiters: the list is not empty (changed under q_ only).
  static constexpr uint32_t kLocked = 1;
  static constexpr uint32_t kWaiters = 2;
  static constexpr uint32_t kStarving = 4;
  static constexpr uint32_t kHandedOver = 1;  // Waiter::flags: the lock is the waiter's

  void LockSlow();
  void UnlockSlow();

  std::atomic<uint32_t> state_{0};
  sync_internal::SpinLock q_;
  sync_internal::WaitList waiters_ ABSL_GUARDED_BY(q_);
};

// Holds `mu` for its scope.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

// A reader-writer lock. Writer-preferring: once a writer waits, new readers queue behind it,
// and the lock is handed, in queue order, to the next writer or to the readers queued before
// the next writer. Waits are recorded as for Mutex with reason rwmutex; the unblock names the
// unlocker (the writer, or the last reader out) with its stack.
class ABSL_LOCKABLE RwMutex {
 public:
  constexpr RwMutex() = default;
  RwMutex(const RwMutex&) = delete;
  RwMutex& operator=(const RwMutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    uint32_t expected = 0;
    if (ABSL_PREDICT_TRUE(state_.compare_exchange_weak(
            expected, kWriter, std::memory_order_acquire, std::memory_order_relaxed))) {
      return;
    }
    LockSlow();
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    uint32_t expected = kWriter;
    if (ABSL_PREDICT_TRUE(state_.compare_exchange_strong(
            expected, 0, std::memory_order_release, std::memory_order_relaxed))) {
      return;
    }
    UnlockSlow();
  }
  void ReaderLock() ABSL_SHARED_LOCK_FUNCTION() {
    uint32_t s = state_.load(std::memory_order_relaxed);
    if (ABSL_PREDICT_TRUE(!(s & (kWriter | kWaiters))) &&
        state_.compare_exchange_weak(s, s + kReader, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      return;
    }
    ReaderLockSlow();
  }
  void ReaderUnlock() ABSL_UNLOCK_FUNCTION() {
    // acq_rel: the last reader out hands the lock over, and the next writer must see every
    // reader's section before its own (free on x86: a locked xadd either way).
    const uint32_t s = state_.fetch_sub(kReader, std::memory_order_acq_rel);
    if (ABSL_PREDICT_FALSE(s - kReader == kWaiters)) UnlockSlow();  // the last reader out
  }
  bool TryLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    uint32_t expected = 0;
    return state_.compare_exchange_strong(expected, kWriter, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  bool ReaderTryLock() ABSL_SHARED_TRYLOCK_FUNCTION(true) {
    uint32_t s = state_.load(std::memory_order_relaxed);
    while (!(s & (kWriter | kWaiters))) {
      if (state_.compare_exchange_weak(s, s + kReader, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  // The standard library's names (std::unique_lock, std::shared_lock).
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { Lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { Unlock(); }
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return TryLock(); }
  void lock_shared() ABSL_SHARED_LOCK_FUNCTION() { ReaderLock(); }
  void unlock_shared() ABSL_UNLOCK_FUNCTION() { ReaderUnlock(); }
  bool try_lock_shared() ABSL_SHARED_TRYLOCK_FUNCTION(true) { return ReaderTryLock(); }

  // Whether a locker is queued asleep now (racy: for tests and diagnostics).
  bool HasWaiters() const { return state_.load(std::memory_order_relaxed) & kWaiters; }

 private:
  // While kWaiters is set no lock is taken outside q_: the lock is handed to waiters in order.
  static constexpr uint32_t kWriter = 1;
  static constexpr uint32_t kWaiters = 2;
  static constexpr uint32_t kReader = 4;      // the readers' count, in units of kReader
  static constexpr uint32_t kWantsWrite = 1;  // Waiter::flags

  void LockSlow();
  void ReaderLockSlow();
  // The lock is free of holders and has waiters: hand it over.
  void UnlockSlow();
  void Acquire(bool writer);

  std::atomic<uint32_t> state_{0};
  sync_internal::SpinLock q_;
  sync_internal::WaitList waiters_ ABSL_GUARDED_BY(q_);
};

// Holds `mu` shared (ReaderLock) for its scope.
class ABSL_SCOPED_LOCKABLE ReaderMutexLock {
 public:
  explicit ReaderMutexLock(RwMutex& mu) ABSL_SHARED_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_.ReaderLock();
  }
  ~ReaderMutexLock() ABSL_UNLOCK_FUNCTION() { mu_.ReaderUnlock(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  RwMutex& mu_;
};

// Holds `mu` exclusively for its scope.
class ABSL_SCOPED_LOCKABLE WriterMutexLock {
 public:
  explicit WriterMutexLock(RwMutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_.Lock();
  }
  ~WriterMutexLock() ABSL_UNLOCK_FUNCTION() { mu_.Unlock(); }
  WriterMutexLock(const WriterMutexLock&) = delete;
  WriterMutexLock& operator=(const WriterMutexLock&) = delete;

 private:
  RwMutex& mu_;
};

}  // namespace tracer

#endif  // TRACER_TRACER_SYNC_MUTEX_H_
