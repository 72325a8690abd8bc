// SetBufferConfig: the configuration the next activation uses, and its checks.

#include "tracer/internal/config.h"

#include "tracer/internal/collector_impl.h"
#include "tracer/internal/runtime.h"

namespace tracer::tracer_internal {

absl::Status Collector::SetConfig(const BufferConfig& config) {
  if (InsideDelivery()) {
    return absl::FailedPreconditionError("SetBufferConfig called from inside a Sink");
  }
  MutexLock l(control_mu_);
  if (!consumers_.empty()) {
    return absl::FailedPreconditionError("buffer config cannot change while tracing");
  }
  if (config.buffer_bytes < (8 << 10) || config.buffer_bytes > (64 << 20)) {
    return absl::InvalidArgumentError("buffer_bytes must be in [8 KiB, 64 MiB]");
  }
  if (config.pool_bytes < 2 * config.buffer_bytes) {
    return absl::InvalidArgumentError("pool_bytes must hold at least two buffers");
  }
  if (config.pool_bytes > kMaxPoolBytes) {  // a generation must fit the format's 1 GiB payload
    return absl::InvalidArgumentError("pool_bytes must be at most 512 MiB");
  }
  config_ = config;
  return absl::OkStatus();
}

BufferConfig Collector::config() {
  MutexLock l(control_mu_);
  return config_;
}

// runtime.h's names: each takes the control mutex itself.
absl::Status SetBufferConfigLocked(const BufferConfig& config) {
  return TheCollector().SetConfig(config);
}
BufferConfig GetBufferConfigLocked() { return TheCollector().config(); }

}  // namespace tracer::tracer_internal
