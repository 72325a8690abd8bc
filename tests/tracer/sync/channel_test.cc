// tracer::Channel and tracer::Select: Go's semantics (order, rendezvous, close, hand-off,
// non-blocking forms), stress with every value counted, then the events a scripted scenario
// records (block reason and object, the waker on the other side) on plain threads.

#include <pthread.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/tracer/test_util.h"
#include "tracer/internal/self_task.h"
#include "tracer/sink.h"
#include "tracer/sync/channel.h"
#include "tracer/sync/select.h"
#include "tracer/tracer.h"

namespace tracer {
namespace {

using format::EventType;
using testing::ReadBack;
using testing::ReadTrace;

#ifdef TRACER_TSAN
constexpr int kScale = 10;
#else
constexpr int kScale = 1;
#endif

// Polls `cond` (which may have an effect, as a TrySend does) until it is true, for at most 2 s;
// it is not called again once it was true.
void WaitUntil(const std::function<bool()>& cond) {
  bool met = cond();
  for (int i = 0; i < 20000 && !met; ++i) {
    absl::SleepFor(absl::Microseconds(100));
    met = cond();
  }
  ASSERT_TRUE(met);
}

// Names the calling thread for the OS and for the tracer (which reads the OS name only when a
// thread first registers: the test binary's main thread registered in an earlier test).
void Name(const char* name) {
  pthread_setname_np(pthread_self(), name);
  SetThreadName(name);
}

// --- Channel semantics -----------------------------------------------------------------

TEST(ChannelTest, BufferedValuesAreReceivedInTheOrderSent) {
  Channel<int> ch(4);
  EXPECT_EQ(ch.capacity(), 4u);
  for (int round = 0; round < 3; ++round) {  // the ring wraps around
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(ch.Send(round * 10 + i));
    EXPECT_EQ(ch.size(), 3u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(ch.Receive(), round * 10 + i);
    EXPECT_EQ(ch.size(), 0u);
  }
}

TEST(ChannelTest, UnbufferedSendReturnsOnlyOnceAReceiverTookTheValue) {
  Channel<std::string> ch(0);
  EXPECT_EQ(ch.capacity(), 0u);
  std::atomic<bool> sent{false};
  std::thread sender([&] {
    EXPECT_TRUE(ch.Send("hello"));
    sent.store(true);
  });
  WaitUntil([&] { return ch.HasWaiters(); });
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_FALSE(sent.load()) << "no receiver yet: the send waits";
  EXPECT_EQ(ch.size(), 0u) << "an unbuffered channel holds nothing";
  EXPECT_EQ(ch.Receive(), "hello");
  sender.join();
  EXPECT_TRUE(sent.load());
}

TEST(ChannelTest, AReceiverWaitsForTheSender) {
  Channel<int> ch(0);
  std::optional<int> got;
  std::thread receiver([&] { got = ch.Receive(); });
  WaitUntil([&] { return ch.HasWaiters(); });
  EXPECT_TRUE(ch.Send(5)) << "handed straight to the waiting receiver";
  receiver.join();
  EXPECT_EQ(got, 5);
}

TEST(ChannelTest, ABlockedSendersValueGoesInBehindTheBufferedOnes) {
  Channel<int> ch(2);
  EXPECT_TRUE(ch.Send(1));
  EXPECT_TRUE(ch.Send(2));
  std::thread sender([&] { EXPECT_TRUE(ch.Send(3)); });
  WaitUntil([&] { return ch.HasWaiters(); });
  EXPECT_EQ(ch.Receive(), 1);  // makes room: the sender's 3 goes in behind 2
  sender.join();
  EXPECT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch.Receive(), 2);
  EXPECT_EQ(ch.Receive(), 3);
}

TEST(ChannelTest, MoveOnlyValuesAreMovedThrough) {
  Channel<std::unique_ptr<int>> ch(1);
  EXPECT_TRUE(ch.Send(std::make_unique<int>(7)));
  std::thread sender([&] { EXPECT_TRUE(ch.Send(std::make_unique<int>(8))); });
  std::optional<std::unique_ptr<int>> a = ch.Receive();
  std::optional<std::unique_ptr<int>> b = ch.Receive();
  sender.join();
  ASSERT_TRUE(a && *a && b && *b);
  EXPECT_EQ(**a, 7);
  EXPECT_EQ(**b, 8);
}

TEST(ChannelTest, TrySendAndTryReceiveNeverBlock) {
  Channel<int> buffered(1);
  EXPECT_EQ(buffered.TryReceive(), std::nullopt) << "empty";
  EXPECT_TRUE(buffered.TrySend(1));
  EXPECT_FALSE(buffered.TrySend(2)) << "full";
  EXPECT_EQ(buffered.TryReceive(), 1);
  EXPECT_EQ(buffered.TryReceive(), std::nullopt);

  Channel<int> unbuffered(0);
  EXPECT_FALSE(unbuffered.TrySend(1)) << "no receiver waits";
  EXPECT_EQ(unbuffered.TryReceive(), std::nullopt) << "no sender waits";
  std::optional<int> got;
  std::thread receiver([&] { got = unbuffered.Receive(); });
  WaitUntil([&] { return unbuffered.TrySend(2); });  // true once the receiver waits
  receiver.join();
  EXPECT_EQ(got, 2);
  std::thread sender([&] { EXPECT_TRUE(unbuffered.Send(3)); });
  std::optional<int> taken;
  WaitUntil([&] { return (taken = unbuffered.TryReceive()).has_value(); });
  sender.join();
  EXPECT_EQ(taken, 3);
}

TEST(ChannelTest, CloseFailsBlockedSendersAndLaterSends) {
  Channel<int> ch(1);
  EXPECT_TRUE(ch.Send(1));
  std::vector<std::thread> senders;
  std::atomic<int> failed{0};
  for (int i = 0; i < 3; ++i) {
    senders.emplace_back([&] {
      if (!ch.Send(2)) failed.fetch_add(1);
    });
  }
  absl::SleepFor(absl::Milliseconds(20));  // let them queue (a late one fails just the same)
  ch.Close();
  for (auto& t : senders) t.join();
  EXPECT_EQ(failed.load(), 3);
  EXPECT_FALSE(ch.Send(3));
  EXPECT_FALSE(ch.TrySend(3));
  EXPECT_EQ(ch.Receive(), 1) << "the buffered value is still received";
  EXPECT_EQ(ch.Receive(), std::nullopt);
}

TEST(ChannelTest, CloseWakesReceiversWhoSeeNulloptAfterTheBufferDrains) {
  Channel<int> ch(0);
  std::vector<std::thread> receivers;
  std::atomic<int> nullopts{0};
  for (int i = 0; i < 3; ++i) {
    receivers.emplace_back([&] {
      if (!ch.Receive().has_value()) nullopts.fetch_add(1);
    });
  }
  WaitUntil([&] { return ch.HasWaiters(); });
  ch.Close();
  for (auto& t : receivers) t.join();
  EXPECT_EQ(nullopts.load(), 3);
  EXPECT_EQ(ch.TryReceive(), std::nullopt);

  Channel<int> buffered(3);
  EXPECT_TRUE(buffered.Send(1));
  EXPECT_TRUE(buffered.Send(2));
  buffered.Close();
  EXPECT_EQ(buffered.Receive(), 1);
  EXPECT_EQ(buffered.TryReceive(), 2);
  EXPECT_EQ(buffered.Receive(), std::nullopt);
  EXPECT_EQ(buffered.Receive(), std::nullopt) << "and stays so";
}

TEST(ChannelDeathTest, ClosingAClosedChannelAborts) {
  EXPECT_DEATH(
      {
        Channel<int> ch(1);
        ch.Close();
        ch.Close();
      },
      "Close of a closed channel");
}

// Producers send disjoint ranges; every value must come out exactly once.
void ProducersAndConsumers(size_t capacity) {
  constexpr int kProducers = 3, kConsumers = 3;
  const int per_producer = 20000 / kScale;
  Channel<int> ch(capacity);
  std::vector<std::atomic<int>> seen(kProducers * per_producer);
  std::atomic<int64_t> sum{0};
  std::vector<std::thread> consumers, producers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&] {
      while (std::optional<int> v = ch.Receive()) {
        seen[*v].fetch_add(1, std::memory_order_relaxed);
        sum.fetch_add(*v, std::memory_order_relaxed);
      }
    });
  }
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        const int v = p * per_producer + i;
        if (i % 7 == 0 && ch.TrySend(v)) continue;  // some go the non-blocking way
        EXPECT_TRUE(ch.Send(v));
      }
    });
  }
  for (auto& t : producers) t.join();
  ch.Close();
  for (auto& t : consumers) t.join();
  const int64_t n = int64_t{kProducers} * per_producer;
  EXPECT_EQ(sum.load(), n * (n - 1) / 2);
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i].load(), 1) << "value " << i;
}

TEST(ChannelStressTest, UnbufferedProducersAndConsumersReceiveEveryValueExactlyOnce) {
  ProducersAndConsumers(0);
}
TEST(ChannelStressTest, OneSlotProducersAndConsumersReceiveEveryValueExactlyOnce) {
  ProducersAndConsumers(1);
}
TEST(ChannelStressTest, BufferedProducersAndConsumersReceiveEveryValueExactlyOnce) {
  ProducersAndConsumers(16);
}

// A receiver per value, in order: the FIFO holds across threads too.
TEST(ChannelStressTest, OneProducerOneConsumerKeepsOrder) {
  Channel<int> ch(3);
  const int n = 50000 / kScale;
  std::thread producer([&] {
    for (int i = 0; i < n; ++i) EXPECT_TRUE(ch.Send(i));
    ch.Close();
  });
  int next = 0;
  while (std::optional<int> v = ch.Receive()) ASSERT_EQ(*v, next++);
  producer.join();
  EXPECT_EQ(next, n);
}

// --- Select semantics ------------------------------------------------------------------

TEST(SelectTest, ReceivesFromWhicheverChannelIsReady) {
  Channel<int> a(1), b(1);
  EXPECT_TRUE(b.Send(2));
  std::optional<int> got;
  Select sel;
  sel.OnReceive(a, [&](std::optional<int>) { ADD_FAILURE() << "a is empty"; });
  sel.OnReceive(b, [&](std::optional<int> v) { got = v; });
  EXPECT_EQ(sel.Run(), 1);
  EXPECT_EQ(got, 2);
}

TEST(SelectTest, PicksAtRandomAmongReadyCases) {
  Channel<int> a(1), b(1);
  int fired[2] = {0, 0};
  for (int i = 0; i < 200; ++i) {
    EXPECT_TRUE(a.TrySend(i) || a.size() == 1);
    EXPECT_TRUE(b.TrySend(i) || b.size() == 1);
    Select sel;
    sel.OnReceive(a, [](std::optional<int>) {}).OnReceive(b, [](std::optional<int>) {});
    ++fired[sel.Run()];
  }
  EXPECT_GT(fired[0], 20);
  EXPECT_GT(fired[1], 20);
}

TEST(SelectTest, SendCaseFiresWhenThereIsRoomOrAWaitingReceiver) {
  Channel<int> full(1), roomy(1);
  EXPECT_TRUE(full.Send(0));
  bool sent = false;
  Select sel;
  sel.OnSend(full, 1, [] { ADD_FAILURE() << "full"; });
  sel.OnSend(roomy, 2, [&](bool ok) { sent = ok; });
  EXPECT_EQ(sel.Run(), 1);
  EXPECT_TRUE(sent);
  EXPECT_EQ(roomy.Receive(), 2);
  EXPECT_EQ(full.Receive(), 0);

  Channel<int> unbuffered(0);
  std::optional<int> got;
  std::thread receiver([&] { got = unbuffered.Receive(); });
  WaitUntil([&] { return unbuffered.HasWaiters(); });
  Select to_receiver;
  to_receiver.OnSend(unbuffered, 3, [] {});
  EXPECT_EQ(to_receiver.Run(), 0);
  receiver.join();
  EXPECT_EQ(got, 3);
}

TEST(SelectTest, DefaultRunsWhenNoCaseIsReady) {
  Channel<int> empty(1), full(1);
  EXPECT_TRUE(full.Send(0));
  bool ran_default = false;
  Select sel;
  sel.OnReceive(empty, [](std::optional<int>) { ADD_FAILURE(); });
  sel.OnDefault([&] { ran_default = true; });
  sel.OnSend(full, 1, [] { ADD_FAILURE(); });
  EXPECT_EQ(sel.Run(), 1) << "the default is numbered where it was added";
  EXPECT_TRUE(ran_default);

  Select ready;  // a ready case wins over the default
  ready.OnDefault([] { ADD_FAILURE(); }).OnReceive(full, [](std::optional<int>) {});
  EXPECT_EQ(ready.Run(), 1);

  Select only_default;
  only_default.OnDefault([&] {});
  EXPECT_EQ(only_default.Run(), 0);
}

TEST(SelectTest, AClosedChannelIsSeenAsNulloptAndFailsSends) {
  Channel<int> ch(1);
  ch.Close();
  bool closed = false;
  Select recv;
  recv.OnReceive(ch, [&](std::optional<int> v) { closed = !v.has_value(); });
  EXPECT_EQ(recv.Run(), 0);
  EXPECT_TRUE(closed);
  bool sent = true;
  Select send;
  send.OnSend(ch, 1, [&](bool ok) { sent = ok; });
  EXPECT_EQ(send.Run(), 0);
  EXPECT_FALSE(sent);
}

TEST(SelectTest, ABlockedSelectIsWokenByALaterSend) {
  Channel<int> a(0), b(2);
  std::optional<int> got;
  int fired = -1;
  std::thread selector([&] {
    Select sel;
    sel.OnReceive(a, [&](std::optional<int>) { ADD_FAILURE() << "nothing on a"; });
    sel.OnReceive(b, [&](std::optional<int> v) { got = v; });
    fired = sel.Run();
  });
  WaitUntil([&] { return a.HasWaiters() && b.HasWaiters(); });
  EXPECT_TRUE(b.Send(9));
  selector.join();
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(got, 9);
  EXPECT_FALSE(a.HasWaiters()) << "the Select took its other case off a";
  EXPECT_FALSE(a.TrySend(1)) << "nobody receives on a any more";
  EXPECT_EQ(b.size(), 0u) << "handed over, not buffered";
}

TEST(SelectTest, ABlockedSendCaseIsWokenByALaterReceive) {
  Channel<int> a(0), b(0);
  bool sent = false;
  std::thread selector([&] {
    Select sel;
    sel.OnSend(a, 1, [&](bool ok) { sent = ok; });
    sel.OnReceive(b, [&](std::optional<int>) { ADD_FAILURE(); });
    EXPECT_EQ(sel.Run(), 0);
  });
  WaitUntil([&] { return a.HasWaiters() && b.HasWaiters(); });
  EXPECT_EQ(a.Receive(), 1);
  selector.join();
  EXPECT_TRUE(sent);
  EXPECT_FALSE(b.HasWaiters());
}

TEST(SelectTest, ABlockedSelectIsWokenOnceByClose) {
  Channel<int> ch(0);  // two cases on one channel: Close claims the Select once
  int fired = -1, calls = 0;
  std::thread selector([&] {
    Select sel;
    sel.OnReceive(ch, [&](std::optional<int> v) {
      EXPECT_FALSE(v.has_value());
      ++calls;
    });
    sel.OnSend(ch, 5, [&](bool ok) {
      EXPECT_FALSE(ok);
      ++calls;
    });
    fired = sel.Run();
  });
  WaitUntil([&] { return ch.HasWaiters(); });  // both cases: they are queued under one lock
  ch.Close();
  selector.join();
  EXPECT_TRUE(fired == 0 || fired == 1);
  EXPECT_EQ(calls, 1);
}

TEST(SelectDeathTest, ASelectWithNoCaseOrRunTwiceAborts) {
  EXPECT_DEATH(
      {
        Select sel;
        sel.Run();
      },
      "no case");
  EXPECT_DEATH(
      {
        Select sel;
        sel.OnDefault([] {});
        sel.Run();
        sel.Run();
      },
      "Run called twice");
}

// Selecting senders (one value offered on every channel at once: exactly one takes it) and
// plain senders against selecting and plain receivers, over an unbuffered, a one-slot and a
// buffered channel. Selects meet Selects, so the claim of the other side's Select is tested.
TEST(SelectStressTest, SelectsAgainstSendersDeliverEveryValueExactlyOnce) {
  constexpr int kChannels = 3;
  Channel<int> c0(0), c1(1), c2(4);
  Channel<int>* chans[kChannels] = {&c0, &c1, &c2};
  const int per_sender = 6000 / kScale;
  constexpr int kPlainSenders = 2, kSelectSenders = 2;
  const int total = (kPlainSenders + kSelectSenders) * per_sender;
  std::vector<std::atomic<int>> seen(total);
  std::atomic<int64_t> sum{0};
  auto record = [&](int v) {
    seen[v].fetch_add(1, std::memory_order_relaxed);
    sum.fetch_add(v, std::memory_order_relaxed);
  };
  std::vector<std::thread> senders, receivers;
  for (int s = 0; s < kPlainSenders; ++s) {
    senders.emplace_back([&, s] {
      for (int i = 0; i < per_sender; ++i) {
        EXPECT_TRUE(chans[i % kChannels]->Send(s * per_sender + i));
      }
    });
  }
  for (int s = kPlainSenders; s < kPlainSenders + kSelectSenders; ++s) {
    senders.emplace_back([&, s] {
      for (int i = 0; i < per_sender; ++i) {
        const int v = s * per_sender + i;
        int sent = 0;
        Select sel;
        for (Channel<int>* ch : chans) sel.OnSend(*ch, v, [&](bool ok) { sent += ok; });
        sel.Run();
        EXPECT_EQ(sent, 1);
      }
    });
  }
  for (int r = 0; r < 2; ++r) {  // selecting receivers, until every channel is closed
    receivers.emplace_back([&] {
      bool open[kChannels] = {true, true, true};
      for (;;) {
        Select sel;
        int cases = 0;
        for (int c = 0; c < kChannels; ++c) {
          if (!open[c]) continue;
          ++cases;
          sel.OnReceive(*chans[c], [&, c](std::optional<int> v) {
            if (v) record(*v); else open[c] = false;
          });
        }
        if (cases == 0) return;
        sel.Run();
      }
    });
  }
  receivers.emplace_back([&] {  // a plain receiver
    while (std::optional<int> v = c0.Receive()) record(*v);
  });
  for (auto& t : senders) t.join();
  for (Channel<int>* ch : chans) ch->Close();
  for (auto& t : receivers) t.join();
  EXPECT_EQ(sum.load(), int64_t{total} * (total - 1) / 2);
  for (int i = 0; i < total; ++i) ASSERT_EQ(seen[i].load(), 1) << "value " << i;
}

// --- Events ----------------------------------------------------------------------------

class ChannelEventsTest : public ::testing::Test {
 protected:
  void Start() {
    TraceOptions o;
    o.generation_period = absl::Milliseconds(50);
    ASSERT_TRUE(StartTrace(sink_, o).ok());
  }
  ReadBack Stop() {
    EXPECT_TRUE(StopTrace().ok());
    auto rb = ReadTrace(sink_.Release());
    EXPECT_TRUE(rb.ok()) << rb.status();
    return rb.ok() ? *std::move(rb) : ReadBack{};
  }
  // The events of `type` whose first argument (the task) is `task`.
  static std::vector<std::pair<format::Event, size_t>> Of(const ReadBack& rb, EventType type,
                                                          uint64_t task) {
    std::vector<std::pair<format::Event, size_t>> out;
    for (const auto& e : rb.events) {
      if (e.first.type == type && e.first.args[0] == task) out.push_back(e);
    }
    return out;
  }
  static bool StackNames(const ReadBack& rb, size_t gen, uint64_t stack, absl::string_view fn) {
    const format::Stack* st = rb.generations[gen]->FindStack(stack);
    if (st == nullptr) return false;
    for (const auto& f : st->frames) {
      if (absl::StrContains(rb.generations[gen]->String(f.func), fn)) return true;
    }
    return false;
  }
  // Exactly one block of `task` (reason, object, a stack naming `site`) and one unblock after
  // it naming `waker`, with `unblock_object` and a stack naming `waker_site`.
  static void ExpectOneWait(const ReadBack& rb, uint64_t task, format::BlockReason reason,
                            const void* block_object, absl::string_view site, uint64_t waker,
                            const void* unblock_object, absl::string_view waker_site) {
    auto blocks = Of(rb, EventType::kTaskBlock, task);
    auto unblocks = Of(rb, EventType::kTaskUnblock, task);
    ASSERT_EQ(blocks.size(), 1u);
    ASSERT_EQ(unblocks.size(), 1u);
    const auto& [b, bg] = blocks[0];
    EXPECT_EQ(b.args[1], static_cast<uint64_t>(reason));
    EXPECT_EQ(b.args[2], reinterpret_cast<uintptr_t>(block_object));
    EXPECT_TRUE(StackNames(rb, bg, b.args[3], site)) << "the waiting site's stack";
    const auto& [u, ug] = unblocks[0];
    EXPECT_EQ(u.args[2], waker) << "the other side is the waker";
    EXPECT_EQ(u.args[3], reinterpret_cast<uintptr_t>(unblock_object));
    EXPECT_TRUE(StackNames(rb, ug, u.args[4], waker_site)) << "the waking site's stack";
    EXPECT_GE(u.tick, b.tick);
  }
  StringSink sink_;
};

ABSL_ATTRIBUTE_NOINLINE std::optional<int> ChanTestReceiveSite(Channel<int>& ch) {
  std::optional<int> v = ch.Receive();
  asm volatile("" ::: "memory");  // not a tail call: the frame stays on the stack
  return v;
}
ABSL_ATTRIBUTE_NOINLINE bool ChanTestSendSite(Channel<int>& ch, int v) {
  const bool ok = ch.Send(v);
  asm volatile("" ::: "memory");
  return ok;
}
ABSL_ATTRIBUTE_NOINLINE void ChanTestCloseSite(Channel<int>& ch) {
  ch.Close();
  asm volatile("" ::: "memory");
}
ABSL_ATTRIBUTE_NOINLINE int ChanTestSelectSite(Select& sel) {
  const int fired = sel.Run();
  asm volatile("" ::: "memory");
  return fired;
}

TEST_F(ChannelEventsTest, ABlockedReceiveIsUnblockedByTheSenderThatHandedItTheValue) {
  Channel<int> ch(0);
  Start();
  uint64_t receiver_task = 0;
  std::optional<int> got;
  std::thread receiver([&] {
    Name("chan-receiver");
    got = ChanTestReceiveSite(ch);
    receiver_task = tracer_internal::ThreadTaskId();
  });
  WaitUntil([&] { return ch.HasWaiters(); });
  EXPECT_TRUE(ChanTestSendSite(ch, 7));
  const uint64_t sender_task = tracer_internal::ThreadTaskId();
  receiver.join();
  ReadBack rb = Stop();
  EXPECT_EQ(got, 7);
  ASSERT_NE(receiver_task, 0u);
  ASSERT_NE(sender_task, 0u);
  ASSERT_NE(receiver_task, sender_task);
  ExpectOneWait(rb, receiver_task, format::BlockReason::kChannel, &ch, "ChanTestReceiveSite",
                sender_task, &ch, "ChanTestSendSite");
  EXPECT_TRUE(Of(rb, EventType::kTaskBlock, sender_task).empty()) << "the sender never waited";
}

TEST_F(ChannelEventsTest, ASenderBlockedOnAFullBufferIsUnblockedByTheReceiverThatMadeRoom) {
  Channel<int> ch(1);
  Start();
  EXPECT_TRUE(ch.Send(1));  // room: records nothing
  uint64_t sender_task = 0;
  std::thread sender([&] {
    Name("chan-sender");
    EXPECT_TRUE(ChanTestSendSite(ch, 2));
    sender_task = tracer_internal::ThreadTaskId();
  });
  WaitUntil([&] { return ch.HasWaiters(); });
  EXPECT_EQ(ChanTestReceiveSite(ch), 1);
  const uint64_t receiver_task = tracer_internal::ThreadTaskId();
  sender.join();
  EXPECT_EQ(ch.Receive(), 2);  // buffered: no wait
  ReadBack rb = Stop();
  ASSERT_NE(sender_task, 0u);
  ASSERT_NE(receiver_task, 0u);
  ExpectOneWait(rb, sender_task, format::BlockReason::kChannel, &ch, "ChanTestSendSite",
                receiver_task, &ch, "ChanTestReceiveSite");
  EXPECT_TRUE(Of(rb, EventType::kTaskBlock, receiver_task).empty());
}

TEST_F(ChannelEventsTest, TheCloserIsTheWakerOfBlockedSendersAndReceivers) {
  Channel<int> recv_ch(0), send_ch(0);
  Start();
  uint64_t receiver_task = 0, sender_task = 0;
  std::thread receiver([&] {
    Name("chan-receiver");
    EXPECT_EQ(ChanTestReceiveSite(recv_ch), std::nullopt);
    receiver_task = tracer_internal::ThreadTaskId();
  });
  std::thread sender([&] {
    Name("chan-sender");
    EXPECT_FALSE(ChanTestSendSite(send_ch, 1));
    sender_task = tracer_internal::ThreadTaskId();
  });
  WaitUntil([&] { return recv_ch.HasWaiters() && send_ch.HasWaiters(); });
  ChanTestCloseSite(recv_ch);
  ChanTestCloseSite(send_ch);
  const uint64_t closer_task = tracer_internal::ThreadTaskId();
  receiver.join();
  sender.join();
  ReadBack rb = Stop();
  ASSERT_NE(closer_task, 0u);
  ExpectOneWait(rb, receiver_task, format::BlockReason::kChannel, &recv_ch,
                "ChanTestReceiveSite", closer_task, &recv_ch, "ChanTestCloseSite");
  ExpectOneWait(rb, sender_task, format::BlockReason::kChannel, &send_ch, "ChanTestSendSite",
                closer_task, &send_ch, "ChanTestCloseSite");
}

TEST_F(ChannelEventsTest, ABlockedSelectRecordsSelectAndIsUnblockedByTheSenderOnItsChannel) {
  Channel<int> a(0), b(1);
  Start();
  uint64_t selector_task = 0;
  int fired = -1;
  std::optional<int> got;
  std::thread selector([&] {
    Name("chan-selector");
    Select sel;
    sel.OnReceive(a, [](std::optional<int>) {});
    sel.OnReceive(b, [&](std::optional<int> v) { got = v; });
    fired = ChanTestSelectSite(sel);
    selector_task = tracer_internal::ThreadTaskId();
  });
  WaitUntil([&] { return a.HasWaiters() && b.HasWaiters(); });
  EXPECT_TRUE(ChanTestSendSite(b, 4));
  const uint64_t sender_task = tracer_internal::ThreadTaskId();
  selector.join();
  ReadBack rb = Stop();
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(got, 4);
  ASSERT_NE(selector_task, 0u);
  ExpectOneWait(rb, selector_task, format::BlockReason::kSelect, nullptr, "ChanTestSelectSite",
                sender_task, &b, "ChanTestSendSite");
}

TEST_F(ChannelEventsTest, ASelectSendingToAWaitingReceiverIsItsWaker) {
  Channel<int> ch(0);
  Start();
  uint64_t receiver_task = 0;
  std::thread receiver([&] {
    Name("chan-receiver");
    EXPECT_EQ(ChanTestReceiveSite(ch), 3);
    receiver_task = tracer_internal::ThreadTaskId();
  });
  WaitUntil([&] { return ch.HasWaiters(); });
  Select sel;
  sel.OnSend(ch, 3, [] {});
  EXPECT_EQ(ChanTestSelectSite(sel), 0);
  const uint64_t selector_task = tracer_internal::ThreadTaskId();
  receiver.join();
  ReadBack rb = Stop();
  ExpectOneWait(rb, receiver_task, format::BlockReason::kChannel, &ch, "ChanTestReceiveSite",
                selector_task, &ch, "ChanTestSelectSite");
}

TEST_F(ChannelEventsTest, OperationsThatNeedNoWaitRecordNothing) {
  Channel<int> ch(2);
  Start();
  std::thread t([&] {
    EXPECT_TRUE(ch.Send(1));
    EXPECT_TRUE(ch.TrySend(2));
    EXPECT_FALSE(ch.TrySend(3));
    EXPECT_EQ(ch.Receive(), 1);
    EXPECT_EQ(ch.TryReceive(), 2);
    EXPECT_EQ(ch.TryReceive(), std::nullopt);
    Select sel;
    sel.OnReceive(ch, [](std::optional<int>) {}).OnDefault([] {});
    EXPECT_EQ(sel.Run(), 1);
    ch.Close();
    EXPECT_EQ(ch.Receive(), std::nullopt);
  });
  t.join();
  ReadBack rb = Stop();
  for (const auto& [e, g] : rb.events) {
    EXPECT_NE(e.type, EventType::kTaskBlock);
    EXPECT_NE(e.type, EventType::kTaskUnblock);
  }
}

}  // namespace
}  // namespace tracer
