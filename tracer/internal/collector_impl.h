// The collector's state (one per process, TheCollector) and the steps it runs: Activate and
// Deactivate around its thread's Loop, and Cut, which ends a generation and seals it. The API
// over it (AddConsumer, RemoveConsumer, CutGeneration) is in collector.h. Read thread_state.h
// first.

#ifndef TRACER_TRACER_INTERNAL_COLLECTOR_IMPL_H_
#define TRACER_TRACER_INTERNAL_COLLECTOR_IMPL_H_

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "format/generation.h"
#include "format/trace_writer.h"
#include "tracer/internal/batch_scan.h"
#include "tracer/internal/collector.h"
#include "tracer/internal/cut.h"
#include "tracer/internal/mappings.h"
#include "tracer/internal/state_events.h"
#include "tracer/internal/symbols.h"
#include "tracer/internal/thread_state.h"

namespace tracer::tracer_internal {

struct Consumer {
  GenerationConsumer* c;
  ConsumerOptions options;
};

class Collector {
 public:
  // All guarded by control_mu_ (one cut at a time; consumers change under it).
  std::mutex control_mu_;
  std::vector<Consumer> consumers_;
  std::thread thread_;
  std::condition_variable cv_;
  std::mutex wake_mu_;
  bool stop_ = false;
  bool wake_ = false;  // guarded by wake_mu_
  bool started_ = false;  // guarded by wake_mu_: the collector thread runs its loop
  // Deactivate lets go of control_mu_ while it joins the collector thread; meanwhile no
  // consumer may activate tracing again (guarded by control_mu_; deactivated_cv_ announces
  // the end).
  bool deactivating_ = false;
  std::condition_variable deactivated_cv_;

  uint32_t last_gen_number_ = 0;
  uint32_t cur_gen_ = 0;
  uint64_t gen_seq_ = 0;  // sequence number written in generation headers
  int64_t gen_begin_ns_ = 0;
  std::vector<Buffer*> carry_;  // buffers of the next generation, drained early
  TaskStates states_;  // state at generation start
  SymbolCache symbols_;
  // Reused by every cut, so a steady trace allocates (and faults in) nothing per generation.
  BatchScanner scanner_;
  ScanResult scan_;
  std::string raw_, compressed_;
  format::GenerationBuilder builder_{0};
  MappingCache mappings_;

  // Starts tracing: the pool, generation 1, the collector thread. REQUIRES: control_mu_.
  absl::Status Activate();
  // Stops the collector thread and frees the pool. REQUIRES: control_mu_ held; the final cut
  // already switched tracing off. Lets go of control_mu_ while it joins the thread.
  void Deactivate();
  // Ends the current generation, seals it and delivers it to every consumer; the final cut
  // turns tracing off (no next generation). REQUIRES: control_mu_, tracing on.
  void Cut(bool final);
  // The collector thread's body.
  void Loop();
  absl::Duration Period() const {
    absl::Duration p = absl::InfiniteDuration();
    for (const Consumer& c : consumers_) p = std::min(p, c.options.period);
    return p;
  }

 private:
  // Cut's steps (thread_state.h, "Who runs alongside whom", and cut.h).
  // 1-2: the next generation number (0 if final) is stored in g_gen and made visible to
  // every thread. Returns the generation that ended.
  uint32_t SwitchGeneration(bool final);
  // 5: resets builder_ and adds the states at the generation's start (tasks, user tasks).
  void AddStartStates(const format::ClockSnapshot& clock, int64_t end_ns, ScanResult& scan);
  // 6: adds the other tables (threads, losses, label sets, stacks, mappings, strings) and the
  // batches.
  void AddTables(const CutBatches& in, ScanResult& scan);
};

Collector& TheCollector();

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_COLLECTOR_IMPL_H_
