// SetBufferConfig's checks.

#include "tracer/internal/config.h"

#include <mutex>

#include "tracer/internal/collector_impl.h"
#include "tracer/internal/runtime.h"

namespace tracer::tracer_internal {

BufferConfig g_config;
BufferConfig g_active_config;

absl::Status SetBufferConfigLocked(const BufferConfig& config) {
  Collector& col = TheCollector();
  std::lock_guard<std::mutex> l(col.control_mu_);
  if (!col.consumers_.empty()) {
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
  g_config = config;
  return absl::OkStatus();
}

BufferConfig GetBufferConfigLocked() {
  Collector& col = TheCollector();
  std::lock_guard<std::mutex> l(col.control_mu_);
  return g_config;
}

}  // namespace tracer::tracer_internal
