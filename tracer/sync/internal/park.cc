#include "tracer/sync/internal/park.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "tracer/internal/self_task.h"

namespace tracer::sync_internal {
namespace {

using format::EventType;
using tracer_internal::t_state;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Sleeps while *word == expected, until the absolute CLOCK_MONOTONIC deadline.
void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, int64_t deadline_ns) {
  timespec ts;
  timespec* tp = nullptr;
  if (deadline_ns != kNoDeadline) {
    ts.tv_sec = deadline_ns / 1000000000;
    ts.tv_nsec = deadline_ns % 1000000000;
    tp = &ts;
  }
  // FUTEX_WAIT_BITSET takes an absolute time on CLOCK_MONOTONIC.
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_BITSET_PRIVATE, expected, tp,
          nullptr, FUTEX_BITSET_MATCH_ANY);
}

void FutexWake(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr,
          0);
}

}  // namespace

int64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t DeadlineAfter(absl::Duration timeout) {
  const int64_t now = MonotonicNowNs();
  if (timeout == absl::InfiniteDuration()) return kNoDeadline;
  if (timeout <= absl::ZeroDuration()) return now;
  const int64_t ns = absl::ToInt64Nanoseconds(timeout);  // saturates
  return ns > kNoDeadline - now ? kNoDeadline - 1 : now + ns;
}

void SpinLock::LockSlow() {
  for (int i = 0;; ++i) {
    if (!held_.load(std::memory_order_relaxed) &&
        !held_.exchange(true, std::memory_order_acquire)) {
      return;
    }
    if (i < 64) {
      CpuRelax();
    } else {
      sched_yield();  // the holder was preempted: let it run
    }
  }
}

bool Waiter::Park(int64_t deadline_ns) {
  for (int i = 0; i < 32; ++i) {  // a wake that is already coming costs no sleep
    if (woken.load(std::memory_order_acquire) != 0) return true;
    CpuRelax();
  }
  for (;;) {
    if (woken.load(std::memory_order_acquire) != 0) return true;
    if (deadline_ns != kNoDeadline && MonotonicNowNs() >= deadline_ns) return false;
    FutexWait(&woken, 0, deadline_ns);
  }
}

void Waiter::Wake(const void* object, uint64_t stack) {
  if (task != nullptr && tracer_internal::Enabled()) {
    tracer_internal::RunningTask();  // the waker is named: announce the thread's own task
    const uint64_t id = task->id;
    const uint64_t seq = task->seq + 1;
    task->seq = seq;
    tracer_internal::EmitEnabledArgs(EventType::kTaskUnblock, id, seq, t_state.current_task,
                                     reinterpret_cast<uintptr_t>(object), stack);
  }
  // Release: the waiter's acquire load sees the unblock's seq and what the primitive handed
  // over. After this store the Waiter may be gone: the wake uses only its address (a wake of
  // a reused address is a spurious wake, which every Park tolerates).
  std::atomic<uint32_t>* word = &woken;
  word->store(1, std::memory_order_release);
  FutexWake(word);
}

void WaitList::PushBack(Waiter* w) {
  w->next = nullptr;
  w->prev = tail_;
  if (tail_ != nullptr) tail_->next = w; else head_ = w;
  tail_ = w;
  w->queued = true;
}

void WaitList::PushFront(Waiter* w) {
  w->prev = nullptr;
  w->next = head_;
  if (head_ != nullptr) head_->prev = w; else tail_ = w;
  head_ = w;
  w->queued = true;
}

Waiter* WaitList::PopFront() {
  Waiter* w = head_;
  if (w != nullptr) Remove(w);
  return w;
}

bool WaitList::Remove(Waiter* w) {
  if (!w->queued) return false;
  if (w->prev != nullptr) w->prev->next = w->next; else head_ = w->next;
  if (w->next != nullptr) w->next->prev = w->prev; else tail_ = w->prev;
  w->prev = w->next = nullptr;
  w->queued = false;
  return true;
}

BlockScope::BlockScope(format::BlockReason reason, const void* object)
    : task_(tracer_internal::RunningTask()), reason_(reason), object_(object) {
  if (task_ != nullptr && tracer_internal::Enabled()) {
    stack_ = tracer_internal::StackForSlowEvent();
  }
  RecordBlock();
}

void BlockScope::RecordBlock() {
  blocked_ = true;
  if (task_ == nullptr) return;
  tracer_internal::LeaveTask(task_->id);
  if (!tracer_internal::Enabled()) return;
  tracer_internal::EmitEnabledArgs(EventType::kTaskBlock, task_->id,
                                   static_cast<uint64_t>(reason_),
                                   reinterpret_cast<uintptr_t>(object_), stack_);
}

void BlockScope::Resume() {
  if (!blocked_) return;
  blocked_ = false;
  tracer_internal::ResumeTask(task_);
}

void BlockScope::BlockAgain() {
  Resume();
  RecordBlock();
}

}  // namespace tracer::sync_internal
