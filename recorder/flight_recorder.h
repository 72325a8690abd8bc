// FlightRecorder: always-on tracing into a bounded in-memory ring; WriteTo dumps the most
// recent window (at least `min_age` of it when it fits in `max_bytes`) as a normal trace.
// recorder/DESIGN.md states the guarantees and how they are kept.
//
//   tracer::FlightRecorder fr({.min_age = absl::Seconds(10), .max_bytes = 64 << 20});
//   absl::Status s = fr.Start();
//   ...
//   if (slow) { tracer::DumpStats st; auto n = fr.WriteTo("/tmp/slow.trace", &st); }
//
// One recorder at a time per process (Start fails if another runs); it runs alongside a
// StartTrace capture, and starting or stopping either never disturbs the other.
// Thread-safe: every method may be called from any thread. Concurrent WriteTo calls are
// serialized (the second waits for the first); Enabled and Stats never wait for a dump.
// WriteTo, Start and Stop called from inside a Sink (this recorder's dump, or a capture's)
// fail with FailedPrecondition instead of deadlocking. After fork() the child holds no
// running recorder: the parent's object reads as stopped there, and a new one may Start.

#ifndef TRACER_RECORDER_FLIGHT_RECORDER_H_
#define TRACER_RECORDER_FLIGHT_RECORDER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tracer/sink.h"

namespace tracer {

struct FlightRecorderConfig {
  // The dump covers at least this much recent time, when it fits in max_bytes.
  absl::Duration min_age = absl::Seconds(10);
  // A bound, not a hint: retained generations plus the buffers in flight. >= 1 MiB.
  size_t max_bytes = 64 << 20;
  // Keep generations lz4-compressed: a longer window in the same bytes, for some CPU.
  bool compress = false;
};

// What a dump covers, for the caller to log.
struct DumpStats {
  uint64_t bytes = 0;
  uint64_t generations = 0;
  int64_t window_begin_ns = 0;  // CLOCK_MONOTONIC
  int64_t window_end_ns = 0;
  absl::Duration covered;
  // min_age - covered when max_bytes (or the time since Start) did not allow min_age; else 0.
  absl::Duration shortfall;
  uint64_t events_lost = 0;  // inside the window (also in the dump's loss records)
  // The dump ends with a listing of every live task as of its cut (FORMAT.md, section 11):
  // one more generation, not counted in `generations`. The tasks it lists.
  uint64_t tasks_listed = 0;
};

struct RecorderStats {
  uint64_t generations_retained = 0;
  uint64_t bytes_retained = 0;
  uint64_t generations_evicted = 0;     // oldest-first, by age or by bytes
  uint64_t generations_too_large = 0;   // larger than the ring: dropped whole (counted)
  // Of generations_evicted: evicted before min_age because the ring's index was full (more
  // generations within min_age than it has entries; recorder/DESIGN.md, "Memory").
  uint64_t generations_evicted_by_index = 0;
  // Sealed after a crash reader pinned the ring (recorder/crash_ring.h): dropped, not written
  // over what the crash dump is sending.
  uint64_t generations_dropped_for_crash = 0;
  absl::Duration window;                // span of the retained generations
  absl::Duration generation_period;
  size_t ring_bytes = 0;
  size_t pool_bytes = 0;
};

class FlightRecorder {
 public:
  explicit FlightRecorder(const FlightRecorderConfig& config);
  ~FlightRecorder();  // stops if running
  FlightRecorder(const FlightRecorder&) = delete;
  FlightRecorder& operator=(const FlightRecorder&) = delete;

  // Reserves the ring and starts recording. Fails if running, if another recorder runs, or on
  // a bad config.
  absl::Status Start();
  // Stops recording and frees the ring. Waits for a WriteTo in progress to finish.
  absl::Status Stop();
  bool Enabled() const;

  // Cuts a generation (so the latest events are in), then streams the retained generations,
  // oldest first, as a complete trace, while threads keep tracing. Returns bytes written; on a
  // sink error, the error (what was written is a valid, truncated trace prefix) and the
  // recorder keeps going. FailedPrecondition if not running.
  absl::StatusOr<uint64_t> WriteTo(Sink& sink, DumpStats* stats = nullptr);
  // Creates `path` with mode 0600.
  absl::StatusOr<uint64_t> WriteTo(const std::string& path, DumpStats* stats = nullptr);
  absl::StatusOr<uint64_t> WriteTo(int fd, DumpStats* stats = nullptr);

  RecorderStats Stats() const;
  const FlightRecorderConfig& config() const { return config_; }

 private:
  class Ring;
  friend struct RecorderForkAccess;
  friend struct RecorderCrashAccess;
  const FlightRecorderConfig config_;
  // Held for the whole of Start, Stop and WriteTo: dumps are serialized, and Stop waits for a
  // dump in progress (so the ring never disappears under one). Never taken by Enabled or
  // Stats, so a dump to a slow sink stalls neither; never taken by fork() handlers.
  std::mutex dump_mu_;
  // Guards ring_ and pool_bytes_ (which change only under dump_mu_ as well); held briefly,
  // never across I/O or a wait for the collector.
  mutable std::mutex state_mu_;
  std::unique_ptr<Ring> ring_;  // non-null while running
  size_t pool_bytes_ = 0;
  std::atomic<bool> running_{false};  // ring_ != nullptr (relaxed: a status read)
};

}  // namespace tracer

#endif  // TRACER_RECORDER_FLIGHT_RECORDER_H_
