// The recording slow path. Read thread_state.h first.

#include "tracer/internal/slow_path.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include <concurrentqueue/concurrentqueue.h>

#include "format/internal/varint.h"
#include "tracer/internal/buffer_pool.h"
#include "tracer/internal/clock.h"
#include "tracer/internal/late_losses.h"
#include "tracer/internal/stats.h"
#include "tracer/internal/thread_registry.h"

namespace tracer::tracer_internal {

using format::EventType;

std::atomic<uint32_t> g_gen{0};
constinit thread_local ThreadState t_state TRACER_TLS_MODEL;

uint64_t NextBatchSeq(ThreadState& ts, uint32_t gen) {
  if (ts.batch_seq_gen != gen) {
    ts.batch_seq_gen = gen;
    ts.next_batch_seq = 0;
  }
  return ts.next_batch_seq++;
}

namespace {

void Finalize(ThreadState& ts, Buffer* b) {
  b->len = static_cast<uint32_t>(ts.pos.load(std::memory_order_relaxed) - b->data);
}

}  // namespace

void HandOverCurrent(ThreadState& ts) {
  // acq_rel, as the cut's compare-exchange of `current` (TakeThreadBuffers) it races with:
  // whichever of the two gets the buffer owns it.
  if (Buffer* old = ts.current.exchange(nullptr, std::memory_order_acq_rel); old != nullptr) {
    Finalize(ts, old);
    g_flush->enqueue(*static_cast<moodycamel::ProducerToken*>(ts.producer_token), old);
  }
  ts.gen = 0;
  ts.end = nullptr;
  ts.pos.store(nullptr, std::memory_order_relaxed);
}

void RecordLoss(ThreadState& ts, uint64_t now) {
  const uint64_t total = ts.lost_total.load(std::memory_order_relaxed);
  // Acquire: pairs with the cut's release store of lost_ack (TakeThreadBuffers), after it
  // read the run's first and last ticks.
  if (total == ts.lost_ack.load(std::memory_order_acquire)) {
    ts.lost_first_tick.store(now, std::memory_order_relaxed);  // a new unreported run
  }
  ts.lost_last_tick.store(now, std::memory_order_relaxed);
  ts.lost_total.store(total + 1, std::memory_order_relaxed);
  g_events_lost.fetch_add(1, std::memory_order_relaxed);  // stats only; on the drop path
}

char* WriteEvent(char* p, EventType type, uint64_t delta, const uint64_t* args, int nargs,
                 const char* bytes, uint32_t nbytes, bool has_bytes) {
  *p++ = static_cast<char>(type);
  p = format_internal::EncodeVarint(p, delta);
  for (int i = 0; i < nargs; ++i) p = format_internal::EncodeVarint(p, args[i]);
  if (has_bytes) {
    p = format_internal::EncodeVarint(p, nbytes);
    std::memcpy(p, bytes, nbytes);
    p += nbytes;
  }
  return p;
}

void DropNested(ThreadState& ts) {
  // On this thread, inside a signal handler that interrupted a write section: only
  // async-signal-safe work (a TSC read, relaxed stores, one lock-free add for the stats).
  const uint64_t now = ReadTicks();
  const uint64_t total = ts.nested_drops.load(std::memory_order_relaxed);
  // acquire: pairs with the collector's release of nested_ack (cut.cc), so a run begun after
  // the collector's report starts a new span.
  if (total == ts.nested_ack.load(std::memory_order_acquire)) {
    ts.nested_first_tick.store(now, std::memory_order_relaxed);
  }
  ts.nested_last_tick.store(now, std::memory_order_relaxed);
  ts.nested_drops.store(total + 1, std::memory_order_relaxed);
  g_events_lost.fetch_add(1, std::memory_order_relaxed);  // stats only; on the drop path
  g_events_lost_nested.fetch_add(1, std::memory_order_relaxed);
}

namespace {

// An event of a thread whose exit destructor has run (thread_state.h, `exited`): dropped and
// counted, against the thread in its registry entry while it has one, else in the late-loss
// table. Never registers the thread again.
void DropAfterExit(ThreadState& ts) {
  const uint64_t now = ReadTicks();
  if (!ts.unlinked) {
    RecordLoss(ts, now);
    return;
  }
  RecordLateLoss(ts.tid, 1, now, now);
  g_events_lost.fetch_add(1, std::memory_order_relaxed);
}

// An event a signal handler (SignalScope) cannot write without the slow path's work: counted
// against the thread (its pending losses if it is registered, else the late-loss table under
// its tid), with async-signal-safe calls only (a TSC read, relaxed atomics, gettid).
void DropInSignal(ThreadState& ts) {
  const uint64_t now = ReadTicks();
  if (ts.registered) {
    RecordLoss(ts, now);
    return;
  }
  RecordLateLoss(static_cast<uint64_t>(syscall(SYS_gettid)), 1, now, now);
  g_events_lost.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

void EmitSlow(ThreadState& ts, EventType type, const uint64_t* args, int nargs,
              const char* bytes, uint32_t nbytes, bool has_bytes) {
  // We are inside the write section (seq odd).
  if (ABSL_PREDICT_FALSE(ts.exited)) {
    DropAfterExit(ts);
    return;
  }
  if (ABSL_PREDICT_FALSE(ts.in_signal != 0)) {
    DropInSignal(ts);
    return;
  }
  if (!ts.registered) {
    InitOnce();
    Register(ts);
  }
  // Acquire: pairs with Activate's seq_cst store that turns tracing on after the pool is
  // carved, so the free lists are seen set up.
  const uint32_t gen = g_gen.load(std::memory_order_acquire);
  if (gen == 0) return;  // tracing ended meanwhile
  const uint64_t need = kMaxFixedEventBytes + nbytes;
  uint64_t now = ReadTicks();
  if (gen != ts.gen || ts.end - ts.pos.load(std::memory_order_relaxed) < static_cast<long>(need)) {
    // A generation's first buffer is a small one; a thread that fills it gets large ones.
    const bool first = gen != ts.gen;
    HandOverCurrent(ts);
    Buffer* const b = TakeBuffer(first, need);
    if (b == nullptr) {
      RecordLoss(ts, now);
      return;
    }
    b->gen = gen;
    b->thread = ts.tid;
    b->base_tick = now;
    b->seq = NextBatchSeq(ts, gen);
    b->len = 0;
    b->counted = 0;
    b->count = 0;
    ts.pos.store(b->data, std::memory_order_relaxed);
    ts.end = b->data + b->capacity;
    ts.last_tick = now;
    ts.gen = gen;
    // Release: publishes the header to the cut's acquire load of `current`.
    ts.current.store(b, std::memory_order_release);
  }
  if (now < ts.last_tick) now = ts.last_tick;
  char* p = ts.pos.load(std::memory_order_relaxed);
  if (ABSL_PREDICT_FALSE(ts.need_thread_start)) {  // first event this thread ever records
    ts.need_thread_start = false;
    p = WriteEvent(p, EventType::kThreadStart, now - ts.last_tick, nullptr, 0, nullptr, 0, false);
    ts.last_tick = now;
  }
  p = WriteEvent(p, type, now - ts.last_tick, args, nargs, bytes, nbytes, has_bytes);
  ts.last_tick = now;
  ts.pos.store(p, std::memory_order_relaxed);
}

}  // namespace tracer::tracer_internal
