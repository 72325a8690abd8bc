// The untyped half of tracer::Channel<T> (tracer/sync/channel.h) and the hooks tracer::Select
// (tracer/sync/select.h) drives it by: the lock, the ring's bookkeeping, the two wait queues,
// closing, and the hand-off rules. The element type enters only through three moves the
// template supplies (PutLocked, TakeLocked, MoveLocked), so everything that blocks, wakes and
// records is compiled once, here.
//
// Terms.
// - A *value* is a T* (a sender's value); an *out* is a std::optional<T>* (a receiver's
//   storage, nullopt until something is moved into it).
// - A *channel waiter* is a ChannelWaiter on recvq_ or sendq_: a blocked Send or Receive (its
//   own Waiter parks), or one case of a blocked Select (the Select's one parker parks; each
//   case has a ChannelWaiter on its channel's queue).
// - To *claim* a popped waiter is to win it: always for a Send or Receive; for a Select case,
//   by a compare-and-swap of its SelectState::winner from -1 to the case's index. A waker that
//   loses the claim leaves that waiter alone (its Select already fired elsewhere) and tries the
//   next one.
//
// Invariants (under mu_): sendq_ is non-empty only while the ring is full (count_ ==
// capacity_, which is 0 when unbuffered); recvq_ only while it is empty; both are empty once
// closed_.
//
// Memory ordering. Every queue edit, ring edit and hand-off move happens under mu_, or on a
// waiter already off the queue and not yet woken (nobody else can reach it). The waker's
// release store of the parker's Waiter::woken (Waiter::Wake) publishes the moved value and
// Waiter::flags to the woken thread's acquire in Park. SelectState::winner needs no order of
// its own (see there).
//
// Lifetime. A Select case's SelectState lives on the selecting thread's stack; a waker that
// loses the claim touches it only under the channel's lock, and the selecting thread takes its
// waiters off every channel, each under that channel's lock, before it returns: so no waker
// holds a pointer into a finished Select.

#ifndef TRACER_TRACER_SYNC_INTERNAL_CHANNEL_CORE_H_
#define TRACER_TRACER_SYNC_INTERNAL_CHANNEL_CORE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "tracer/sync/internal/park.h"

namespace tracer::sync_internal {

struct SelectState;

// Waiter::flags of a channel waiter: woken by Close, nothing was moved.
inline constexpr uint32_t kChannelClosed = 1;

// One waiter on a channel's queue. `slot` is its value (on sendq_) or its out (on recvq_).
struct ChannelWaiter : Waiter {
  // The Waiter to wake once this one is claimed: this one for a Send or Receive, the Select's
  // parker for a case.
  Waiter* parker = this;
  SelectState* select = nullptr;  // nullptr: a plain Send or Receive
  int index = 0;                  // the case's index in its Select
};

// What a blocked Select shares with its wakers. On the selecting thread's stack.
struct SelectState {
  // The index of the case that fired, -1 until one did. Claimed by one compare-and-swap, under
  // the lock of the claiming case's channel. Relaxed suffices: the CAS's atomicity alone picks
  // one winner, the loser touches nothing else, and the selecting thread reads `winner` only
  // after its acquire of parker.woken, which the winner's later release store (Wake) follows.
  std::atomic<int> winner{-1};
  Waiter parker;  // the one the selecting thread parks on; its task is the Select's task
};

class ChannelCore {
 public:
  enum class Result {
    kDone,        // the value went (Send) or an out was filled (Receive)
    kClosed,      // the channel is closed (Receive: and drained); nothing moved
    kWouldBlock,  // nothing is possible without waiting
  };

  explicit ChannelCore(size_t capacity) : capacity_(capacity) {}
  ChannelCore(const ChannelCore&) = delete;
  ChannelCore& operator=(const ChannelCore&) = delete;

  // Sends *value (moved from only if it went). `block`: waits for room or a receiver. False if
  // the channel is closed (before or while waiting) or, without `block`, it would block.
  bool Send(void* value, bool block);
  // Fills *out (a std::optional<T>, nullopt on entry) with the oldest value; leaves it nullopt
  // once the channel is closed and drained or, without `block`, nothing is there.
  void Receive(void* out, bool block);
  // Closes the channel: every waiter is woken with kChannelClosed. Twice aborts.
  void Close();
  size_t size() const;
  size_t capacity() const { return capacity_; }
  bool HasWaiters() const;

  // For Select, which holds the locks of all its channels at once, in address order.
  SpinLock& lock() ABSL_LOCK_RETURNED(mu_) { return mu_; }
  // The operation now, if it needs no wait. kDone may leave a claimed waiter's parker in
  // *wake, to wake (Waiter::Wake with this channel as the object) once mu_ is released.
  Result TrySendLocked(void* value, Waiter** wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Result TryReceiveLocked(void* out, Waiter** wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues `w` to wait (its slot set: a value if `send`, else an out).
  void EnqueueLocked(ChannelWaiter* w, bool send) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes `w` off its queue if it is still on it.
  void RemoveLocked(ChannelWaiter* w, bool send) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

 protected:
  // Destroying a channel that a task waits on is undefined (as for tracer::Mutex).
  virtual ~ChannelCore() = default;

  // The element type's moves, all under mu_ (keep T's move cheap: it runs in the lock's
  // short section). Ring slot `i` < capacity_.
  virtual void PutLocked(size_t i, void* value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;
  virtual void TakeLocked(size_t i, void* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;
  // *out = std::move(*value): a hand-off past the ring.
  virtual void MoveLocked(void* value, void* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;

  mutable SpinLock mu_;

 private:
  // Pops waiters off `q` until one is claimed (nullptr: none).
  ChannelWaiter* PopClaimedLocked(WaitList& q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PushRingLocked(void* value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PopRingLocked(void* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The blocking half of Send and Receive: records the block, re-tries, queues, parks.
  bool Wait(void* slot, bool send);

  const size_t capacity_;
  size_t head_ ABSL_GUARDED_BY(mu_) = 0;   // the ring's oldest slot
  size_t count_ ABSL_GUARDED_BY(mu_) = 0;  // values in the ring
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  WaitList recvq_ ABSL_GUARDED_BY(mu_);
  WaitList sendq_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tracer::sync_internal

#endif  // TRACER_TRACER_SYNC_INTERNAL_CHANNEL_CORE_H_
