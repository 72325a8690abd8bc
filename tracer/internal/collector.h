// The collector: seals generations and hands them to consumers (StartTrace's writer, the
// FlightRecorder). One per process; its thread runs while at least one consumer is attached.
// See thread_state.h for how a generation is cut without stopping the traced threads.

#ifndef TRACER_TRACER_INTERNAL_COLLECTOR_H_
#define TRACER_TRACER_INTERNAL_COLLECTOR_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace tracer::tracer_internal {

// One sealed generation, encoded and ready to write (the bytes include the generation header).
struct SealedGeneration {
  uint64_t seq = 0;
  int64_t begin_ns = 0;  // CLOCK_MONOTONIC span
  int64_t end_ns = 0;
  uint64_t events = 0;
  uint64_t events_lost = 0;
  const std::string* raw = nullptr;         // uncompressed payload
  const std::string* compressed = nullptr;  // lz4 payload, if any consumer asked for it
  // A live-task listing (the generation that ends a dump, FORMAT.md section 11), given to
  // the one consumer that asked for it (RemoveConsumer): written out, never kept. It is
  // encoded once, in the form the consumer asked for: `raw` and `compressed` (if it asked for
  // lz4) are the same bytes.
  bool listing = false;
};

// Receives every generation sealed while it is attached, in order, on the collector thread
// (or on the thread calling CutGeneration/RemoveConsumer), never two calls at once.
// OnGeneration (and the Sinks it writes to) may record events and read statistics; the
// collector's own API called from inside it fails with FailedPrecondition (InsideDelivery).
class GenerationConsumer {
 public:
  virtual ~GenerationConsumer() = default;
  virtual void OnGeneration(const SealedGeneration& gen) = 0;
};

struct ConsumerOptions {
  absl::Duration period = absl::Seconds(1);  // the collector seals at the smallest period
  bool compressed = false;
  // The buffer pool this consumer needs; 0: the process's BufferConfig (SetBufferConfig). A
  // FlightRecorder passes its share of max_bytes. While any consumer uses the BufferConfig,
  // the pool is the BufferConfig's; otherwise the largest pool asked for. It follows the
  // consumers: a pool no longer needed is replaced at the next cut (buffer_pool.h).
  size_t pool_bytes = 0;
  size_t buffer_bytes = 0;  // with pool_bytes
};

// True on a thread that is delivering a generation to consumers right now (a Sink of a
// capture or a dump runs on it): the collector's API, StartTrace/StopTrace and the recorder's
// Start/Stop/WriteTo fail there instead of deadlocking.
bool InsideDelivery();

// Marks the calling thread, for its scope, as inside a call that may wait for the collector
// (ThreadState::in_api). Every entry point that cuts or waits for a cut holds one.
class TracerCallScope {
 public:
  TracerCallScope();
  ~TracerCallScope();
  TracerCallScope(const TracerCallScope&) = delete;
  TracerCallScope& operator=(const TracerCallScope&) = delete;
};

// Attaches `c` (activating tracing if it is the first). The first generation `c` sees starts
// after this call returns. Fails if `c` is already attached.
absl::Status AddConsumer(GenerationConsumer* c, const ConsumerOptions& options);
// Seals the current generation (delivered to every consumer, `c` included), then detaches `c`;
// the last consumer's removal turns tracing off. Returns once `c` will not be called again.
// With `listing`, `c` then gets the live-task listing (SealedGeneration::listing) as its last
// generation: a capture's stop ends its file with it.
absl::Status RemoveConsumer(GenerationConsumer* c, bool listing = false);
// Seals the current generation now and delivers it before returning (e.g. WriteTo). With
// `listing`, also appends to it the live-task listing as of that cut (lz4 if `compress`):
// the generation a dump ends with, and sets `*listed` (if given) to the tasks it lists. A
// listing over the format's limit is left out (`*listing` unchanged, `*listed` 0).
absl::Status CutGeneration(std::string* listing = nullptr, bool compress = false,
                           uint64_t* listed = nullptr);

// How the buffer pool of `pool_bytes` is carved: large buffers of `buffer_bytes` (a busy
// thread's batches) and, when they are at least 8 KiB, a quarter of the pool in small ones
// (buffer_bytes / 16, 2-4 KiB) that each thread takes first in a generation, so threads that
// record little hold little. At least two large buffers. Strides include the buffer header.
struct PoolLayout {
  size_t small_count = 0, small_stride = 0;
  size_t large_count = 0, large_stride = 0;
  size_t bytes() const { return small_count * small_stride + large_count * large_stride; }
  bool operator==(const PoolLayout&) const = default;
};
PoolLayout LayOutPool(size_t pool_bytes, size_t buffer_bytes);

// How long the collector sleeps before it looks at the buffer pool again (it seals a generation
// early once half the pool is in use): for a pool of `pool_count` buffers of `buffer_stride`
// bytes that threads take at `in_use_per_ms` buffers per ms (0 when idle). Between 1 and
// 25 ms; an idle small pool is still polled within a few ms, in case a burst starts.
absl::Duration PoolPollInterval(size_t pool_count, size_t buffer_stride, double in_use_per_ms);

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_COLLECTOR_H_
