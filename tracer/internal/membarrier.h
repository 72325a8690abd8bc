// The process-wide barrier of a cut's step 2 (thread_state.h, "Who runs alongside whom").

#ifndef TRACER_TRACER_INTERNAL_MEMBARRIER_H_
#define TRACER_TRACER_INTERNAL_MEMBARRIER_H_

#include "absl/status/status.h"

namespace tracer::tracer_internal {

// Registers the process for MEMBARRIER_CMD_PRIVATE_EXPEDITED (InitOnce calls it once; again
// only from tests). The result is kept: MembarrierStatus.
absl::Status RegisterMembarrier();

// Whether cuts can run: the last registration's result (FailedPrecondition naming membarrier
// and errno if it failed; Activate then refuses to start). Always OK under TSan, whose builds
// use seq_cst orders instead of the barrier (thread_state.h).
absl::Status MembarrierStatus();

// Makes every thread of the process execute a full memory barrier. REQUIRES:
// MembarrierStatus() is OK. A no-op under TSan.
void Membarrier();

// Tests only: the syscall the functions above make (nullptr: the real one).
using MembarrierSyscall = long (*)(int cmd, unsigned flags, int cpu_id);
void SetMembarrierSyscallForTest(MembarrierSyscall fn);

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_MEMBARRIER_H_
