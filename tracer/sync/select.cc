#include "tracer/sync/select.h"

#include <algorithm>
#include <cstdint>

#include "absl/base/internal/raw_logging.h"

namespace tracer {

using sync_internal::ChannelCore;
using sync_internal::SelectCase;
using sync_internal::SpinLockHolder;
using sync_internal::Waiter;

namespace {

using Cases = std::vector<std::unique_ptr<SelectCase>>;

// A per-thread xorshift64*: the poll order needs no quality, only no fixed preference.
uint64_t NextRandom() {
  thread_local uint64_t state = 0;
  if (state == 0) {
    state = (reinterpret_cast<uintptr_t>(&state) ^
             static_cast<uint64_t>(sync_internal::MonotonicNowNs())) |
            1;
  }
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1Dull;
}

void Shuffle(std::vector<int>& v) {
  for (size_t i = v.size(); i > 1; --i) {
    std::swap(v[i - 1], v[NextRandom() % i]);
  }
}

// The analysis cannot follow a set of locks held at once: every case's channel, in address
// order (the order every Select takes them in, so none deadlocks; a plain Send or Receive
// holds one lock only).
void LockAll(const std::vector<ChannelCore*>& channels) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  for (ChannelCore* c : channels) c->lock().Lock();
}
void UnlockAll(const std::vector<ChannelCore*>& channels) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  for (auto it = channels.rbegin(); it != channels.rend(); ++it) (*it)->lock().Unlock();
}

// Tries the cases in `order` (REQUIRES: every case's channel locked); the first that can
// proceed does its operation. Returns its index (-1: none), with *closed and *wake set.
int PollLocked(const Cases& cases, const std::vector<int>& order, bool* closed, Waiter** wake)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  for (int i : order) {
    SelectCase& c = *cases[i];
    const ChannelCore::Result r = c.send ? c.channel->TrySendLocked(c.waiter.slot, wake)
                                         : c.channel->TryReceiveLocked(c.waiter.slot, wake);
    if (r != ChannelCore::Result::kWouldBlock) {
      *closed = r == ChannelCore::Result::kClosed;
      return i;
    }
  }
  return -1;
}

}  // namespace

Select& Select::OnDefault(absl::AnyInvocable<void() &&> fn) {
  if (default_index_ >= 0) ABSL_RAW_LOG(FATAL, "tracer::Select: a second default case");
  default_index_ = static_cast<int>(cases_.size());
  default_ = std::move(fn);
  cases_.push_back(nullptr);
  return *this;
}

int Select::Run() {
  if (ran_) ABSL_RAW_LOG(FATAL, "tracer::Select: Run called twice");
  ran_ = true;
  std::vector<int> order;  // the channel cases, in the random order they are tried
  std::vector<ChannelCore*> channels;
  for (size_t i = 0; i < cases_.size(); ++i) {
    if (cases_[i] == nullptr) continue;
    order.push_back(static_cast<int>(i));
    channels.push_back(cases_[i]->channel);
  }
  if (order.empty()) {
    if (default_index_ < 0) ABSL_RAW_LOG(FATAL, "tracer::Select: Run with no case");
    std::move(default_)();
    return default_index_;
  }
  Shuffle(order);
  std::sort(channels.begin(), channels.end(), std::less<ChannelCore*>());
  channels.erase(std::unique(channels.begin(), channels.end()), channels.end());

  bool closed = false;
  Waiter* wake = nullptr;  // the other side's task, to wake once the locks are released
  LockAll(channels);
  int fired = PollLocked(cases_, order, &closed, &wake);
  UnlockAll(channels);
  if (fired < 0 && default_index_ >= 0) {
    std::move(default_)();
    return default_index_;
  }
  if (fired < 0) {
    // Wait. The block is recorded (stack outside every lock) before any waiter is queued.
    sync_internal::BlockScope block(format::BlockReason::kSelect, nullptr);
    sync_internal::SelectState state;
    state.parker.task = block.task();
    for (int i : order) {
      sync_internal::ChannelWaiter& w = cases_[i]->waiter;
      w.parker = &state.parker;
      w.select = &state;
      w.index = i;
    }
    LockAll(channels);
    fired = PollLocked(cases_, order, &closed, &wake);
    if (fired < 0) {
      for (int i : order) cases_[i]->channel->EnqueueLocked(&cases_[i]->waiter, cases_[i]->send);
    }
    UnlockAll(channels);
    // Possible after all (a short wait): the scope's end resumes the task before the wake
    // below, which must name a running waker.
    if (fired < 0) {
      state.parker.Park();  // acquire: sees the winner's claim, its move and its flags
      fired = state.winner.load(std::memory_order_relaxed);  // see SelectState::winner
      closed = cases_[fired]->waiter.flags & sync_internal::kChannelClosed;
      // Off every other queue before `state` goes (the winner's waker took its own off).
      for (int i : order) {
        SelectCase& c = *cases_[i];
        SpinLockHolder h(c.channel->lock());
        c.channel->RemoveLocked(&c.waiter, c.send);
      }
    }
  }
  if (wake != nullptr) wake->Wake(cases_[fired]->channel, sync_internal::WakerStack());
  cases_[fired]->Fire(closed);
  return fired;
}

}  // namespace tracer
