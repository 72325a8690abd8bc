// The collector: activation, its thread's loop, deactivation, and the consumer API
// (collector.h). Cut is in cut.cc. Read thread_state.h first.

#include "tracer/internal/collector.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include "absl/strings/str_cat.h"

#include "tracer/internal/buffer_pool.h"
#include "tracer/internal/clock.h"
#include "tracer/internal/collector_impl.h"
#include "tracer/internal/crash_access.h"
#include "tracer/internal/membarrier.h"
#include "tracer/internal/self_task.h"
#include "tracer/internal/stats.h"
#include "tracer/internal/thread_registry.h"

namespace tracer::tracer_internal {

namespace {
// A generation is being delivered to consumers on this thread (InsideDelivery).
thread_local bool t_delivering = false;

absl::Status InsideDeliveryError(const char* what) {
  return absl::FailedPreconditionError(absl::StrCat(
      what, " called from inside a Sink or consumer while it receives a generation (the "
      "collector is delivering on this thread: it would deadlock)"));
}
}  // namespace

bool InsideDelivery() { return t_delivering; }

TracerCallScope::TracerCallScope() {
  ThreadState& ts = t_state;
  ts.in_api.store(ts.in_api.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}
TracerCallScope::~TracerCallScope() {
  ThreadState& ts = t_state;
  ts.in_api.store(ts.in_api.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

DeliveryScope::DeliveryScope() : was_(t_delivering) { t_delivering = true; }
DeliveryScope::~DeliveryScope() { t_delivering = was_; }

Collector*& CollectorSlot() {
  static Collector* c = new Collector;
  return c;
}
Collector& TheCollector() { return *CollectorSlot(); }

PoolLayout Collector::LayoutFor(const std::vector<Consumer>& with) const {
  size_t pool = 0, buffer = 0;
  bool use_config = with.empty();
  for (const Consumer& c : with) {
    if (c.options.pool_bytes == 0) {
      use_config = true;
    } else if (c.options.pool_bytes > pool) {
      pool = c.options.pool_bytes;
      buffer = c.options.buffer_bytes;
    }
  }
  if (use_config) {
    pool = config_.pool_bytes;
    buffer = config_.buffer_bytes;
  }
  return LayOutPool(pool, std::max<size_t>(buffer, 8 << 10));
}

void Collector::UpdatePool() {
  const Pool* cur = g_pool.load(std::memory_order_relaxed);
  if (cur != nullptr && cur->layout == want_layout_) return;
  absl::StatusOr<Pool*> p = NewPool(want_layout_);
  if (!p.ok()) return;  // keep tracing with the pool there is
  InstallPool(*p);
}

absl::Status Collector::Activate() {
  InitOnce();
  PublishTaskTableForCrash(&states_.tasks());  // the listing of a crash dump reads it
  // Without the registered barrier a cut could not tell which buffers threads still write.
  if (absl::Status s = MembarrierStatus(); !s.ok()) return s;
  // The configuration is fixed while tracing: SetConfig fails while consumers are attached.
  const BufferConfig& config = config_;
  g_stacks.store(config.stacks, std::memory_order_relaxed);
  g_region_stacks.store(config.region_stacks, std::memory_order_relaxed);
  absl::StatusOr<Pool*> pool = NewPool(want_layout_);
  if (!pool.ok()) return pool.status();
  InstallPool(*pool);
  gen_begin_ns_ = static_cast<int64_t>(MonotonicNs());
  do {
    ++last_gen_number_;
  } while (last_gen_number_ == 0);
  cur_gen_ = last_gen_number_;
  {
    MutexLock l(wake_mu_);
    stop_ = false;
    wake_ = false;
    started_ = false;
  }
  // A new session: threads announce their own tasks again (self_task.h). Relaxed: the store
  // of g_gen below publishes it.
  g_session.fetch_add(1, std::memory_order_relaxed);
  // Tracing on. Also a release: pairs with EmitSlow's acquire load (the pool is set up).
  g_gen.store(cur_gen_, std::memory_order_seq_cst);
  {
    // The collector thread takes no asynchronous signal: a process-directed one (SIGTERM,
    // SIGUSR1, a CPU-time timer) goes to an application thread, never to ours, whose handler
    // could call back into the tracer while this thread holds the collector's locks. Faults
    // (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT) stay deliverable for crash handlers.
    // The new thread inherits the mask; the caller's is restored at once.
    sigset_t all, old;
    sigfillset(&all);
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT}) sigdelset(&all, sig);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    thread_ = std::thread([this] { Loop(); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  }
  // Return only once the thread runs our code: a fork() right after activation then never
  // catches it inside the thread start-up (where a sanitizer's allocator, which has no fork
  // handlers, may hold a lock the child would inherit locked).
  {
    MutexLock l(wake_mu_);
    while (!started_) cv_.Wait(wake_mu_);
  }
  return absl::OkStatus();
}

// Seals a generation every period, or sooner when half the buffer pool is in use (so a burst
// is written out instead of dropped). Polls the pool at an interval adapted to the rate at which
// threads take buffers (PoolPollInterval): no wake-up from the hot path, which never makes a
// syscall.
void Collector::Loop() {
  pthread_setname_np(pthread_self(), "tracer-collect");
  {
    MutexLock l(wake_mu_);
    started_ = true;
  }
  cv_.NotifyAll();
  absl::Time last_cut = absl::Now();
  // The rate at which buffers leave the free list, smoothed over polls (buffers per ms). Each
  // poll compares the count in use with the previous poll's; a cut returns buffers and resets
  // the baseline.
  double rate = 0;
  size_t prev_in_use = 0;
  absl::Time prev_poll = last_cut;
  for (;;) {
    absl::Duration period;
    {
      MutexLock cl(control_mu_);
      period = std::min(Period(), absl::Seconds(60));
    }
    // In units of large buffers (the small class counts by its bytes). The pool may change at
    // any cut: its figures are read afresh each time.
    PoolFigures pf = PoolStats();
    const size_t stride = std::max<size_t>(pf.large_stride, 1);
    const size_t pool_units = pf.bytes / stride;
    const absl::Duration poll = PoolPollInterval(pool_units, pf.large_stride, rate);
    const absl::Duration wait = std::min(period - (absl::Now() - last_cut), poll);
    {
      const auto deadline = std::chrono::steady_clock::now() +
                            absl::ToChronoNanoseconds(std::max(wait, absl::ZeroDuration()));
      MutexLock l(wake_mu_);
      while (!stop_ && !wake_ && cv_.WaitUntil(wake_mu_, deadline)) {
      }
      const bool woken = stop_ || wake_;
      if (stop_) return;
      if (woken) {  // the consumers changed: re-read the period
        wake_ = false;
        continue;
      }
    }
    const absl::Time now = absl::Now();
    pf = PoolStats();
    const size_t in_use = (pf.bytes - pf.free_bytes) / stride;
    const double elapsed_ms = absl::ToDoubleMilliseconds(now - prev_poll);
    if (elapsed_ms > 0) {
      const double sample = in_use > prev_in_use ? (in_use - prev_in_use) / elapsed_ms : 0.0;
      // Rise at once (a burst must shorten the next wait), decay over a few polls.
      rate = sample > rate ? sample : rate * 0.75 + sample * 0.25;
    }
    prev_in_use = in_use;
    prev_poll = now;
    const bool due = now - last_cut >= period;
    const bool pressure = in_use * 2 > pool_units;
    if (!due && !pressure) continue;
    MutexLock cl(control_mu_);
    if (!consumers_.empty() && cur_gen_ != 0) Cut(/*final=*/false);
    last_cut = absl::Now();
    pf = PoolStats();
    prev_in_use = (pf.bytes - pf.free_bytes) / std::max<size_t>(pf.large_stride, 1);
    prev_poll = last_cut;
  }
}

void Collector::Deactivate() {
  {
    MutexLock l(wake_mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  deactivating_ = true;
  control_mu_.Unlock();  // the loop may be waiting for it
  if (thread_.joinable()) thread_.join();
  control_mu_.Lock();
  // Every buffer is back, unless the final cut could not take a thread's (it was inside a
  // write section the cut could not wait for: a signal handler on this thread, or a thread
  // stuck past the bound): then that pool is leaked rather than freed under the thread.
  if (const size_t leaked = ReleasePools(); leaked != 0) {
    g_pool_bytes_leaked.fetch_add(leaked, std::memory_order_relaxed);
  }
  deactivating_ = false;
  deactivated_cv_.NotifyAll();
}

absl::Status Collector::AddConsumer(GenerationConsumer* c, const ConsumerOptions& options) {
  if (InsideDelivery()) return InsideDeliveryError("AddConsumer (StartTrace, FlightRecorder::Start)");
  TracerCallScope call;
  MutexLock l(control_mu_);
  // The last consumer's removal may be joining the collector thread right now.
  while (deactivating_) deactivated_cv_.Wait(control_mu_);
  for (const Consumer& x : consumers_) {
    if (x.c == c) return absl::FailedPreconditionError("consumer already attached");
  }
  std::vector<Consumer> with = consumers_;
  with.push_back({c, options});
  want_layout_ = LayoutFor(with);
  if (consumers_.empty()) {
    if (absl::Status s = Activate(); !s.ok()) return s;
  } else {
    Cut(/*final=*/false);  // c's first generation starts now (in the pool it needs)
  }
  consumers_.push_back({c, options});
  {
    MutexLock w(wake_mu_);
    wake_ = true;
  }
  cv_.NotifyAll();  // the period may have shrunk
  return absl::OkStatus();
}

absl::Status Collector::RemoveConsumer(GenerationConsumer* c, bool listing) {
  if (InsideDelivery()) return InsideDeliveryError("RemoveConsumer (StopTrace, FlightRecorder::Stop)");
  TracerCallScope call;
  MutexLock l(control_mu_);
  auto it = std::find_if(consumers_.begin(), consumers_.end(),
                         [&](const Consumer& x) { return x.c == c; });
  if (it == consumers_.end()) return absl::NotFoundError("consumer not attached");
  const bool last = consumers_.size() == 1;
  if (!last) {
    // The next generation runs in the pool the remaining consumers need (a capture's large
    // pool does not outlive it).
    std::vector<Consumer> rest;
    for (const Consumer& x : consumers_) {
      if (x.c != c) rest.push_back(x);
    }
    want_layout_ = LayoutFor(rest);
  }
  Cut(/*final=*/last);
  if (listing) {
    // Encoded once, as the consumer writes generations (raw or lz4).
    const bool compress = it->options.compressed;
    std::string bytes;
    if (EncodeListing(&bytes, compress)) {
      SealedGeneration sg;
      sg.seq = gen_seq_;
      sg.listing = true;
      sg.raw = &bytes;
      sg.compressed = compress ? &bytes : nullptr;
      DeliveryScope delivering;
      c->OnGeneration(sg);
    }
  }
  if (last) states_.Clear();  // tracing is off: the next trace starts knowing no task
  consumers_.erase(std::find_if(consumers_.begin(), consumers_.end(),
                                [&](const Consumer& x) { return x.c == c; }));
  if (last) Deactivate();
  return absl::OkStatus();
}

absl::Status Collector::CutGeneration(std::string* listing, bool compress, uint64_t* listed) {
  if (InsideDelivery()) return InsideDeliveryError("CutGeneration (FlightRecorder::WriteTo)");
  TracerCallScope call;
  MutexLock l(control_mu_);
  if (consumers_.empty()) return absl::FailedPreconditionError("tracing is off");
  Cut(/*final=*/false);
  if (listed != nullptr) *listed = 0;
  if (listing != nullptr) (void)EncodeListing(listing, compress, listed);
  return absl::OkStatus();
}

absl::Status AddConsumer(GenerationConsumer* c, const ConsumerOptions& options) {
  return TheCollector().AddConsumer(c, options);
}
absl::Status RemoveConsumer(GenerationConsumer* c, bool listing) {
  return TheCollector().RemoveConsumer(c, listing);
}
absl::Status CutGeneration(std::string* listing, bool compress, uint64_t* listed) {
  return TheCollector().CutGeneration(listing, compress, listed);
}

}  // namespace tracer::tracer_internal
