// A std::mutex the compiler checks: clang's -Wthread-safety sees Mutex's and MutexLock's
// annotations, so data marked ABSL_GUARDED_BY(mu) is only touched with mu held. (Not
// absl::Mutex: Debian's abseil is not built with TSan, whose builds must see every lock.)

#ifndef TRACER_TRACER_INTERNAL_MUTEX_H_
#define TRACER_TRACER_INTERNAL_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace tracer::tracer_internal {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  bool TryLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return mu_.try_lock(); }
  // Tries until `deadline` (yielding between tries); true if it took the lock. For a caller
  // that must finish in bounded time even if the holder never lets go (a cut from a signal
  // handler that interrupted the holder on its own thread).
  bool TryLockUntil(std::chrono::steady_clock::time_point deadline)
      ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (;;) {
      if (mu_.try_lock()) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::yield();
    }
  }
  // The BasicLockable names, for std::condition_variable_any (CondVar).
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  std::mutex mu_;
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

// A condition variable waited on with a Mutex held. Waits take no predicate (the analysis
// cannot see that a predicate runs with the lock held): callers loop on their condition.
class CondVar {
 public:
  // Releases `mu`, waits for a notification (or a spurious wake-up), takes `mu` again.
  void Wait(Mutex& mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { cv_.wait(mu); }
  // As Wait, but returns false if `deadline` passed first.
  bool WaitUntil(Mutex& mu, std::chrono::steady_clock::time_point deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return cv_.wait_until(mu, deadline) == std::cv_status::no_timeout;
  }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable_any cv_;
};

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_MUTEX_H_
