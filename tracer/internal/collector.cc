// The collector: activation, its thread's loop, deactivation, and the consumer API
// (collector.h). Cut is in cut.cc. Read thread_state.h first.

#include "tracer/internal/collector.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include "tracer/internal/buffer_pool.h"
#include "tracer/internal/clock.h"
#include "tracer/internal/collector_impl.h"
#include "tracer/internal/membarrier.h"
#include "tracer/internal/thread_registry.h"

namespace tracer::tracer_internal {

Collector& TheCollector() {
  static Collector* c = new Collector;
  return *c;
}

absl::Status Collector::Activate() {
  InitOnce();
  // Without the registered barrier a cut could not tell which buffers threads still write.
  if (absl::Status s = MembarrierStatus(); !s.ok()) return s;
  // The configuration is fixed while tracing: SetConfig fails while consumers are attached.
  const BufferConfig& config = config_;
  g_stacks.store(config.stacks, std::memory_order_relaxed);
  g_region_stacks.store(config.region_stacks, std::memory_order_relaxed);
  const size_t buffer_bytes = std::max<size_t>(config.buffer_bytes, 8 << 10);
  if (absl::Status s = CarvePool(LayOutPool(config.pool_bytes, buffer_bytes));
      !s.ok()) {
    return s;
  }
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
  // Tracing on. Also a release: pairs with EmitSlow's acquire load (the pool is set up).
  g_gen.store(cur_gen_, std::memory_order_seq_cst);
  thread_ = std::thread([this] { Loop(); });
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
    // In units of large buffers (the small class counts by its bytes).
    const size_t pool_units = g_pool_bytes / g_large.stride;
    const absl::Duration poll = PoolPollInterval(pool_units, g_large.stride, rate);
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
    const size_t in_use = PoolBytesInUse() / g_large.stride;
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
    prev_in_use = PoolBytesInUse() / g_large.stride;
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
  // Every buffer is back: the final cut took each thread's current one, and no thread
  // acquires a buffer while g_gen is 0.
  FreePool();
  deactivating_ = false;
  deactivated_cv_.NotifyAll();
}

absl::Status Collector::AddConsumer(GenerationConsumer* c, const ConsumerOptions& options) {
  MutexLock l(control_mu_);
  // The last consumer's removal may be joining the collector thread right now.
  while (deactivating_) deactivated_cv_.Wait(control_mu_);
  for (const Consumer& x : consumers_) {
    if (x.c == c) return absl::FailedPreconditionError("consumer already attached");
  }
  if (consumers_.empty()) {
    if (absl::Status s = Activate(); !s.ok()) return s;
  } else {
    Cut(/*final=*/false);  // c's first generation starts now
  }
  consumers_.push_back({c, options});
  {
    MutexLock w(wake_mu_);
    wake_ = true;
  }
  cv_.NotifyAll();  // the period may have shrunk
  return absl::OkStatus();
}

absl::Status Collector::RemoveConsumer(GenerationConsumer* c) {
  MutexLock l(control_mu_);
  auto it = std::find_if(consumers_.begin(), consumers_.end(),
                         [&](const Consumer& x) { return x.c == c; });
  if (it == consumers_.end()) return absl::NotFoundError("consumer not attached");
  const bool last = consumers_.size() == 1;
  Cut(/*final=*/last);
  consumers_.erase(std::find_if(consumers_.begin(), consumers_.end(),
                                [&](const Consumer& x) { return x.c == c; }));
  if (last) Deactivate();
  return absl::OkStatus();
}

absl::Status Collector::CutGeneration() {
  MutexLock l(control_mu_);
  if (consumers_.empty()) return absl::FailedPreconditionError("tracing is off");
  Cut(/*final=*/false);
  return absl::OkStatus();
}

bool Collector::PoolStats(size_t& bytes, size_t& free_bytes) {
  MutexLock l(control_mu_);  // the pool lives while consumers do
  if (g_large.free == nullptr || consumers_.empty()) return false;
  bytes = g_pool_bytes;
  free_bytes = g_pool_bytes - PoolBytesInUse();
  return true;
}

absl::Status AddConsumer(GenerationConsumer* c, const ConsumerOptions& options) {
  return TheCollector().AddConsumer(c, options);
}
absl::Status RemoveConsumer(GenerationConsumer* c) { return TheCollector().RemoveConsumer(c); }
absl::Status CutGeneration() { return TheCollector().CutGeneration(); }

}  // namespace tracer::tracer_internal
