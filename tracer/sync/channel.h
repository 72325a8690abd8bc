// tracer::Channel<T>: Go's channel, a FIFO between tasks that traces its waits.
//
//   tracer::Channel<Request> ch(16);       // 0: unbuffered (a rendezvous)
//   pool.Submit([&] { while (auto r = ch.Receive()) Handle(*r); });
//   ch.Send(req);                          // blocks while full; false once closed
//   ch.Close();                            // receivers drain what is buffered, then nullopt
//
// Contract.
// - Capacity N > 0 buffers up to N values, received in the order sent. Capacity 0 is Go's
//   unbuffered channel: Send returns only once a receiver has taken the value.
// - Send blocks while the buffer is full (unbuffered: until a receiver takes the value). It
//   returns false, dropping the value, if the channel is closed before or while it waits (Go
//   panics instead). Receive blocks while the channel is empty; it returns nullopt once the
//   channel is closed and every buffered value was received.
// - TrySend and TryReceive never block: TrySend is false (the value dropped) if the channel is
//   closed or has neither room nor a waiting receiver; TryReceive is nullopt if nothing is
//   buffered and no sender waits (unbuffered: a value comes only from a waiting sender).
// - Close wakes every waiting sender (its Send returns false) and receiver (nullopt: a
//   receiver waits only while nothing is buffered). Closing a closed channel aborts the
//   process (Go panics).
// - Hand-off: a Send that finds a waiting receiver moves the value straight into it; a Receive
//   that finds a waiting sender (the buffer full, or unbuffered) takes the oldest value and
//   moves the sender's value into the buffer behind the rest (or takes it, unbuffered), then
//   wakes the sender. Senders, and receivers, are served in arrival order.
// - Tracing: an operation that must wait records a block of the running task (reason channel,
//   the channel's address as the object, the waiting site's stack) before it sleeps. The task
//   on the other side records the unblock, naming itself as the waker, with its stack: the
//   receiver that took the sender's value or made room, the sender that handed a value to the
//   receiver, or the closer. An operation that needs no wait records nothing.
// - Thread-safe; not copyable or movable. T must be move-constructible; its move runs under
//   the channel's internal spin lock, so keep it cheap (a std::string or a unique_ptr is).
//   Destroying a channel that a task waits on, in any operation or Select, is undefined.
// - tracer::Select (tracer/sync/select.h) waits on several channels at once.
//
// Memory ordering: as for a mutex-protected queue. Whatever a sender wrote before Send happens
// before what the receiver of that value does after Receive returns it (the channel's lock,
// or the hand-off's release/acquire pair on the woken task's futex word).

#ifndef TRACER_TRACER_SYNC_CHANNEL_H_
#define TRACER_TRACER_SYNC_CHANNEL_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <utility>

#include "tracer/sync/internal/channel_core.h"

namespace tracer {

class Select;

template <typename T>
class Channel : private sync_internal::ChannelCore {
 public:
  explicit Channel(size_t capacity)
      : ChannelCore(capacity),
        ring_(capacity > 0 ? std::make_unique<std::optional<T>[]>(capacity) : nullptr) {}
  ~Channel() override = default;

  bool Send(T value) { return ChannelCore::Send(&value, /*block=*/true); }
  std::optional<T> Receive() {
    std::optional<T> out;
    ChannelCore::Receive(&out, /*block=*/true);
    return out;
  }
  bool TrySend(T value) { return ChannelCore::Send(&value, /*block=*/false); }
  std::optional<T> TryReceive() {
    std::optional<T> out;
    ChannelCore::Receive(&out, /*block=*/false);
    return out;
  }
  using ChannelCore::Close;
  // The values buffered now (racy unless the caller orders it with every Send and Receive).
  using ChannelCore::size;
  using ChannelCore::capacity;
  // Whether a sender or receiver (or a Select's case) is queued to wait now (racy: for tests
  // and diagnostics, as Mutex::HasWaiters).
  using ChannelCore::HasWaiters;

 private:
  friend class Select;  // for the core, which it drives under the channel's lock
  sync_internal::ChannelCore* core() { return this; }

  void PutLocked(size_t i, void* value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) override {
    ring_[i].emplace(std::move(*static_cast<T*>(value)));
  }
  void TakeLocked(size_t i, void* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) override {
    static_cast<std::optional<T>*>(out)->emplace(std::move(*ring_[i]));
    ring_[i].reset();
  }
  void MoveLocked(void* value, void* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) override {
    static_cast<std::optional<T>*>(out)->emplace(std::move(*static_cast<T*>(value)));
  }

  // capacity() slots; slot i holds a value iff it is among the count_ from head_ on.
  const std::unique_ptr<std::optional<T>[]> ring_ ABSL_PT_GUARDED_BY(mu_);
};

}  // namespace tracer

#endif  // TRACER_TRACER_SYNC_CHANNEL_H_
