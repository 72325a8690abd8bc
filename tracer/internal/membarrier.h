// The process-wide barrier of a cut's step 2 (thread_state.h, "Who runs alongside whom").

#ifndef TRACER_TRACER_INTERNAL_MEMBARRIER_H_
#define TRACER_TRACER_INTERNAL_MEMBARRIER_H_

namespace tracer::tracer_internal {

// Registers the process for MEMBARRIER_CMD_PRIVATE_EXPEDITED; returns whether it could.
// Called once, before the first cut.
bool RegisterMembarrier();

// Makes every thread of the process execute a full memory barrier. A no-op under TSan (which
// does not model membarrier: thread_state.h uses seq_cst orders there instead).
void Membarrier();

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_MEMBARRIER_H_
