// Limits of the buffer configuration (SetBufferConfig; the configuration itself is the
// collector's, collector_impl.h).

#ifndef TRACER_TRACER_INTERNAL_CONFIG_H_
#define TRACER_TRACER_INTERNAL_CONFIG_H_

#include <cstddef>


namespace tracer::tracer_internal {

// The largest buffer pool: a generation holds at most the pool's bytes (plus bounded tables),
// and the format caps a generation's payload at 1 GiB.
inline constexpr size_t kMaxPoolBytes = size_t{512} << 20;

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_CONFIG_H_
