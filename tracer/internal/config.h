// The buffer configuration (SetBufferConfig): the one set, and the one tracing runs with.

#ifndef TRACER_TRACER_INTERNAL_CONFIG_H_
#define TRACER_TRACER_INTERNAL_CONFIG_H_

#include <cstddef>

#include "tracer/tracer.h"

namespace tracer::tracer_internal {

// The largest buffer pool: a generation holds at most the pool's bytes (plus bounded tables),
// and the format caps a generation's payload at 1 GiB.
inline constexpr size_t kMaxPoolBytes = size_t{512} << 20;

extern BufferConfig g_config;         // guarded by the collector's control_mu_
extern BufferConfig g_active_config;  // copied from g_config by Activate; fixed while tracing

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_CONFIG_H_
