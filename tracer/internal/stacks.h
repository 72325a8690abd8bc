// The process-wide stack table: stacks captured by recording threads (CaptureStackId,
// thread_state.h), read by the collector when it seals a generation.

#ifndef TRACER_TRACER_INTERNAL_STACKS_H_
#define TRACER_TRACER_INTERNAL_STACKS_H_

#include "tracer/internal/intern_table.h"

namespace tracer::tracer_internal {

// Made on first use and never freed.
StackTable& Stacks();

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_STACKS_H_
