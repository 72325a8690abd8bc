#include "tracer/sync/internal/channel_core.h"

#include "absl/base/internal/raw_logging.h"

namespace tracer::sync_internal {

namespace {

// Wins `w` for this operation (see "claim" in the header). REQUIRES: the lock of w's channel.
bool Claim(ChannelWaiter* w) {
  if (w->select == nullptr) return true;
  int expected = -1;
  // Relaxed: see SelectState::winner.
  return w->select->winner.compare_exchange_strong(expected, w->index,
                                                   std::memory_order_relaxed);
}

}  // namespace

size_t ChannelCore::size() const {
  SpinLockHolder h(mu_);
  return count_;
}

bool ChannelCore::HasWaiters() const {
  SpinLockHolder h(mu_);
  return !recvq_.empty() || !sendq_.empty();
}

ChannelWaiter* ChannelCore::PopClaimedLocked(WaitList& q) {
  while (Waiter* w = q.PopFront()) {
    auto* cw = static_cast<ChannelWaiter*>(w);  // a channel's queues hold ChannelWaiters only
    if (Claim(cw)) return cw;
  }
  return nullptr;
}

void ChannelCore::PushRingLocked(void* value) {
  PutLocked((head_ + count_) % capacity_, value);
  ++count_;
}

void ChannelCore::PopRingLocked(void* out) {
  TakeLocked(head_, out);
  head_ = (head_ + 1) % capacity_;
  --count_;
}

ChannelCore::Result ChannelCore::TrySendLocked(void* value, Waiter** wake) {
  if (closed_) return Result::kClosed;
  // A waiting receiver means an empty ring: the value goes straight to it.
  if (ChannelWaiter* r = PopClaimedLocked(recvq_)) {
    MoveLocked(value, r->slot);
    *wake = r->parker;
    return Result::kDone;
  }
  if (count_ < capacity_) {
    PushRingLocked(value);
    return Result::kDone;
  }
  return Result::kWouldBlock;
}

ChannelCore::Result ChannelCore::TryReceiveLocked(void* out, Waiter** wake) {
  // A waiting sender means a full ring (or none): take the oldest value, and the sender's
  // goes in behind the rest (FIFO), or straight to us when unbuffered.
  if (ChannelWaiter* s = PopClaimedLocked(sendq_)) {
    if (capacity_ == 0) {
      MoveLocked(s->slot, out);
    } else {
      PopRingLocked(out);
      PushRingLocked(s->slot);
    }
    *wake = s->parker;
    return Result::kDone;
  }
  if (count_ > 0) {
    PopRingLocked(out);
    return Result::kDone;
  }
  return closed_ ? Result::kClosed : Result::kWouldBlock;
}

void ChannelCore::EnqueueLocked(ChannelWaiter* w, bool send) {
  (send ? sendq_ : recvq_).PushBack(w);
}

void ChannelCore::RemoveLocked(ChannelWaiter* w, bool send) {
  (send ? sendq_ : recvq_).Remove(w);
}

bool ChannelCore::Send(void* value, bool block) {
  Waiter* wake = nullptr;
  Result r;
  {
    SpinLockHolder h(mu_);
    r = TrySendLocked(value, &wake);
  }
  if (r == Result::kWouldBlock) return block && Wait(value, /*send=*/true);
  if (wake != nullptr) wake->Wake(this, WakerStack());
  return r == Result::kDone;
}

void ChannelCore::Receive(void* out, bool block) {
  Waiter* wake = nullptr;
  Result r;
  {
    SpinLockHolder h(mu_);
    r = TryReceiveLocked(out, &wake);
  }
  if (r == Result::kWouldBlock) {
    if (block) Wait(out, /*send=*/false);
    return;
  }
  if (wake != nullptr) wake->Wake(this, WakerStack());
}

bool ChannelCore::Wait(void* slot, bool send) {
  // The block is recorded (with the waiting site's stack, outside mu_) before the waiter is
  // queued, so the unblock always follows it.
  BlockScope block(format::BlockReason::kChannel, this);
  ChannelWaiter w;
  w.task = block.task();
  w.slot = slot;
  Waiter* wake = nullptr;
  Result r;
  {
    SpinLockHolder h(mu_);
    r = send ? TrySendLocked(slot, &wake) : TryReceiveLocked(slot, &wake);
    if (r == Result::kWouldBlock) EnqueueLocked(&w, send);
  }
  if (r != Result::kWouldBlock) {
    // Possible after all: a short wait. Resume first, so the wake names a running waker.
    block.Resume();
    if (wake != nullptr) wake->Wake(this, WakerStack());
    return r == Result::kDone;
  }
  w.Park();  // acquire: sees the waker's move into (or out of) `slot`, and w.flags
  return !(w.flags & kChannelClosed);
}

void ChannelCore::Close() {
  Waiter* woken = nullptr;  // the claimed waiters' parkers, chained through Waiter::next
  {
    SpinLockHolder h(mu_);
    if (closed_) ABSL_RAW_LOG(FATAL, "tracer::Channel: Close of a closed channel");
    closed_ = true;
    Waiter** tail = &woken;
    for (WaitList* q : {&recvq_, &sendq_}) {
      while (ChannelWaiter* w = PopClaimedLocked(*q)) {
        w->flags |= kChannelClosed;  // receivers' outs stay nullopt; senders keep their values
        *tail = w->parker;
        tail = &w->parker->next;
      }
    }
    *tail = nullptr;
  }
  if (woken == nullptr) return;
  const uint64_t stack = WakerStack();
  while (woken != nullptr) {
    Waiter* w = woken;
    woken = w->next;  // before the wake: the waiter may be gone after it
    w->Wake(this, stack);
  }
}

}  // namespace tracer::sync_internal
