// The collector's state (one per process, TheCollector) and the steps it runs: Activate and
// Deactivate around its thread's Loop, and Cut, which ends a generation and seals it
// (cut.cc). collector.h's functions call the public methods of TheCollector(). Read
// thread_state.h first.

#ifndef TRACER_TRACER_INTERNAL_COLLECTOR_IMPL_H_
#define TRACER_TRACER_INTERNAL_COLLECTOR_IMPL_H_

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "format/generation.h"
#include "format/trace_writer.h"
#include "tracer/internal/batch_scan.h"
#include "tracer/internal/collector.h"
#include "tracer/internal/cut.h"
#include "tracer/internal/mappings.h"
#include "tracer/internal/mutex.h"
#include "tracer/internal/state_events.h"
#include "tracer/internal/symbols.h"
#include "tracer/internal/thread_state.h"
#include "tracer/tracer.h"

namespace tracer::tracer_internal {

struct Consumer {
  GenerationConsumer* c;
  ConsumerOptions options;
};

class Collector {
 public:
  // collector.h's API, on this collector.
  absl::Status AddConsumer(GenerationConsumer* c, const ConsumerOptions& options)
      ABSL_LOCKS_EXCLUDED(control_mu_);
  absl::Status RemoveConsumer(GenerationConsumer* c, bool listing)
      ABSL_LOCKS_EXCLUDED(control_mu_);
  absl::Status CutGeneration(std::string* listing, bool compress, uint64_t* listed)
      ABSL_LOCKS_EXCLUDED(control_mu_);
  // SetBufferConfig's checks; fails while tracing.
  absl::Status SetConfig(const BufferConfig& config) ABSL_LOCKS_EXCLUDED(control_mu_);
  BufferConfig config() ABSL_LOCKS_EXCLUDED(control_mu_);

 private:
  friend struct ForkHandlers;  // fork.cc: the child starts from a fresh collector

  // Starts tracing: the pool, the first generation, the collector thread.
  absl::Status Activate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  // Stops the collector thread and frees the pool. REQUIRES: the final cut already switched
  // tracing off. Lets go of control_mu_ while it joins the thread.
  void Deactivate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  // Ends the current generation, seals it and delivers it to every consumer; the final cut
  // turns tracing off (no next generation). REQUIRES: tracing on.
  void Cut(bool final) ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  // The collector thread's body.
  void Loop() ABSL_LOCKS_EXCLUDED(control_mu_, wake_mu_);
  // The smallest of the consumers' periods.
  absl::Duration Period() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_) {
    absl::Duration p = absl::InfiniteDuration();
    for (const Consumer& c : consumers_) p = std::min(p, c.options.period);
    return p;
  }
  // Cut's steps (thread_state.h, "Who runs alongside whom", and cut.h).
  // 1-2: the next generation number (0 if final) is stored in g_gen and made visible to
  // every thread. Returns the generation that ended.
  uint32_t SwitchGeneration(bool final) ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  // The pool the consumers `with` need (ConsumerOptions::pool_bytes, else config_).
  PoolLayout LayoutFor(const std::vector<Consumer>& with) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  // At a cut that starts a generation: if want_layout_ differs from the pool threads take
  // from, makes that pool and installs it (the old one retires: buffer_pool.h). A pool that
  // cannot be had leaves the old one in place.
  void UpdatePool() ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  // 5: resets builder_ and adds the states at the generation's start (tasks, user tasks).
  void AddStartStates(const format::ClockSnapshot& clock, int64_t end_ns, ScanResult& scan)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  // The live-task listing that ends a dump, appended to `out`: a generation of its own, with
  // no batches, listing every tracked task as format::LiveTask (the state at the end of the
  // generation just sealed), the user tasks alive, and the tables they name. False (nothing
  // appended) if it is over the format's payload limit.
  // Appends the listing to `out`; false (nothing appended) if over the format's limit.
  // `*listed` (if given) counts the tasks it lists.
  bool EncodeListing(std::string* out, bool compress, uint64_t* listed = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  // 5, after the scan: the task table (the tasks the scan stated, TaskStates::stated).
  void AddStatedTasks(ScanResult& scan) ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);
  // 6: adds the other tables (threads, losses, label sets, stacks, mappings, strings) and the
  // batches.
  void AddTables(const CutBatches& in, ScanResult& scan) ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_);

  // One cut at a time; consumers and the configuration change under it. Taken before
  // wake_mu_ and the registry mutex when more than one is held.
  Mutex control_mu_;
  std::vector<Consumer> consumers_ ABSL_GUARDED_BY(control_mu_);
  BufferConfig config_ ABSL_GUARDED_BY(control_mu_);
  // The collector thread: started by Activate and joined by Deactivate, both under
  // control_mu_ except for the join itself, which deactivating_ keeps Activate away from.
  std::thread thread_;
  // Deactivate lets go of control_mu_ while it joins the collector thread; meanwhile no
  // consumer may activate tracing again (deactivated_cv_ announces the end).
  bool deactivating_ ABSL_GUARDED_BY(control_mu_) = false;
  CondVar deactivated_cv_;  // waited on with control_mu_

  // The collector thread's wake-ups and start-up. Taken briefly, never while waiting for
  // another lock.
  Mutex wake_mu_;
  CondVar cv_;  // waited on with wake_mu_
  bool stop_ ABSL_GUARDED_BY(wake_mu_) = false;
  bool wake_ ABSL_GUARDED_BY(wake_mu_) = false;
  bool started_ ABSL_GUARDED_BY(wake_mu_) = false;  // the collector thread runs its loop

  // The pool the attached consumers need; installed at the next cut (UpdatePool).
  PoolLayout want_layout_ ABSL_GUARDED_BY(control_mu_);
  uint32_t last_gen_number_ ABSL_GUARDED_BY(control_mu_) = 0;
  uint32_t cur_gen_ ABSL_GUARDED_BY(control_mu_) = 0;
  uint64_t gen_seq_ ABSL_GUARDED_BY(control_mu_) = 0;  // written in generation headers
  int64_t gen_begin_ns_ ABSL_GUARDED_BY(control_mu_) = 0;
  // Buffers of the next generation, drained early.
  std::vector<Buffer*> carry_ ABSL_GUARDED_BY(control_mu_);
  TaskStates states_ ABSL_GUARDED_BY(control_mu_);  // state at generation start
  SymbolCache symbols_ ABSL_GUARDED_BY(control_mu_);
  // Reused by every cut, so a steady trace allocates (and faults in) nothing per generation.
  BatchScanner scanner_ ABSL_GUARDED_BY(control_mu_);
  ScanResult scan_ ABSL_GUARDED_BY(control_mu_);
  std::string raw_ ABSL_GUARDED_BY(control_mu_);
  std::string compressed_ ABSL_GUARDED_BY(control_mu_);
  format::GenerationBuilder builder_ ABSL_GUARDED_BY(control_mu_){0};
  MappingCache mappings_ ABSL_GUARDED_BY(control_mu_);
};

Collector& TheCollector();
// The process's collector; a fork() child replaces it with a fresh one (fork.cc).
Collector*& CollectorSlot();

// Marks the calling thread as delivering a generation (InsideDelivery) for its scope.
class DeliveryScope {
 public:
  DeliveryScope();
  ~DeliveryScope();
  DeliveryScope(const DeliveryScope&) = delete;
  DeliveryScope& operator=(const DeliveryScope&) = delete;

 private:
  bool was_;
};

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_COLLECTOR_IMPL_H_
