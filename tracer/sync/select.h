// tracer::Select: Go's select over tracer::Channel operations, traced like the channels.
//
//   tracer::Select sel;
//   sel.OnReceive(requests, [&](std::optional<Request> r) { ... });  // nullopt: closed
//   sel.OnSend(replies, reply, [&] { ... });                         // or [&](bool sent)
//   sel.OnDefault([&] { ... });                                      // optional
//   int fired = sel.Run();       // the index of the case that ran, in the order added
//
// Contract.
// - Run performs exactly one case's operation and then runs that case's callback (outside
//   every lock; the callback may use the channels again). Among the cases that can proceed
//   now, one is picked at random (Go's rule: no case starves another). With none, Run runs
//   the default case if there is one, else it waits until some case can proceed.
// - A receive case can proceed when a value is buffered or a sender waits, or the channel is
//   closed (drained): its callback then gets nullopt. A send case can proceed when a receiver
//   waits or the buffer has room, or the channel is closed: the value is dropped, and a
//   callback taking a bool gets false (a callback taking nothing cannot tell; Go panics).
// - Values and hand-offs follow tracer::Channel: a case that fires against a waiting task on
//   the other side moves the value straight to or from it and wakes it; a blocked Select is
//   matched the same way by the later operation that completes one of its cases, and only
//   one (the first to claim it).
// - A Select is a one-shot object, used from one thread: add cases, then Run once (a second
//   Run aborts; a loop makes a Select per iteration). Adding a case allocates it. Cases are
//   numbered from 0 in the order they were added, the default among them. A Select with no
//   case, or with a second default, aborts (Go's empty select blocks forever).
// - Tracing: a Select that waits records a block of the running task (reason select, object
//   none: it waits on several channels) with the waiting site's stack; the operation that
//   completes one of its cases records the unblock, naming its task as the waker and its
//   channel as the object, with its stack (a Close is its closer). A Select that does not
//   wait records nothing.
//
// How it works (Go's selectgo): Run locks every distinct channel of its cases, in address
// order (so two Selects never deadlock), and tries the cases in a random order. If none can
// proceed it queues one waiter per case, each pointing at a SelectState on its stack, unlocks,
// and parks once. The first operation to pop one of those waiters claims the Select by a
// compare-and-swap of SelectState::winner, moves the value, and wakes it; an operation that
// loses the claim skips that waiter. Woken, Run takes its other waiters off their channels,
// one channel lock at a time (see tracer/sync/internal/channel_core.h, "Lifetime").

#ifndef TRACER_TRACER_SYNC_SELECT_H_
#define TRACER_TRACER_SYNC_SELECT_H_

#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "tracer/sync/channel.h"
#include "tracer/sync/internal/channel_core.h"

namespace tracer {

namespace sync_internal {

// One channel case of a Select: the channel, the direction, the waiter the case queues while
// its Select waits, and (in the subclass) its value or out and its callback.
class SelectCase {
 public:
  SelectCase(ChannelCore* channel, bool send) : channel(channel), send(send) {}
  virtual ~SelectCase() = default;
  SelectCase(const SelectCase&) = delete;
  SelectCase& operator=(const SelectCase&) = delete;

  // Runs the callback, once the operation is done (`closed`: the channel was closed).
  virtual void Fire(bool closed) = 0;

  ChannelCore* const channel;
  const bool send;
  ChannelWaiter waiter;  // slot: the case's value (send) or its out (receive)
};

template <typename T, typename F>
class ReceiveCase final : public SelectCase {
 public:
  ReceiveCase(ChannelCore* channel, F fn) : SelectCase(channel, false), fn_(std::move(fn)) {
    waiter.slot = &out_;
  }
  void Fire(bool) override { fn_(std::move(out_)); }

 private:
  std::optional<T> out_;  // filled by the operation (nullopt: closed)
  F fn_;
};

template <typename T, typename F>
class SendCase final : public SelectCase {
 public:
  SendCase(ChannelCore* channel, T value, F fn)
      : SelectCase(channel, true), value_(std::move(value)), fn_(std::move(fn)) {
    waiter.slot = &value_;
  }
  void Fire(bool closed) override {
    if constexpr (std::is_invocable_v<F&, bool>) {
      fn_(!closed);
    } else {
      fn_();
    }
  }

 private:
  T value_;  // moved from by the operation (kept if the channel was closed)
  F fn_;
};

}  // namespace sync_internal

class Select {
 public:
  Select() = default;
  Select(const Select&) = delete;
  Select& operator=(const Select&) = delete;

  // A receive from `ch`; `fn(std::optional<T>)` gets the value, or nullopt if `ch` is closed
  // and drained. `ch` must outlive Run.
  template <typename T, typename F>
  Select& OnReceive(Channel<T>& ch, F fn) {
    static_assert(std::is_invocable_v<F&, std::optional<T>>,
                  "OnReceive's callback takes a std::optional<T>");
    cases_.push_back(
        std::make_unique<sync_internal::ReceiveCase<T, F>>(ch.core(), std::move(fn)));
    return *this;
  }
  // A send of `value` on `ch`; `fn()` or `fn(bool sent)` runs once it went (sent: true) or
  // `ch` was closed (false; the value dropped). `ch` must outlive Run.
  template <typename T, typename F>
  Select& OnSend(Channel<T>& ch, std::type_identity_t<T> value, F fn) {
    static_assert(std::is_invocable_v<F&, bool> || std::is_invocable_v<F&>,
                  "OnSend's callback takes nothing or a bool");
    cases_.push_back(std::make_unique<sync_internal::SendCase<T, F>>(ch.core(), std::move(value),
                                                                     std::move(fn)));
    return *this;
  }
  // Runs `fn()` if no case can proceed at once: Run then never waits. At most one.
  Select& OnDefault(absl::AnyInvocable<void() &&> fn);

  // Performs one case and runs its callback; returns its index. Once per Select.
  int Run();

 private:
  // Every case in the order added; nullptr at the default's index.
  std::vector<std::unique_ptr<sync_internal::SelectCase>> cases_;
  absl::AnyInvocable<void() &&> default_;
  int default_index_ = -1;
  bool ran_ = false;
};

}  // namespace tracer

#endif  // TRACER_TRACER_SYNC_SELECT_H_
