#include "tracer/internal/membarrier.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tracer::tracer_internal {
namespace {

long RealMembarrier(int cmd, unsigned flags, int cpu_id) {
  return syscall(__NR_membarrier, cmd, flags, cpu_id);
}

MembarrierSyscall g_syscall = RealMembarrier;
// Set by RegisterMembarrier (InitOnce, before any cut; or a test, while tracing is off).
absl::Status* g_status = new absl::Status(
    absl::FailedPreconditionError("tracer: membarrier registration has not run"));

}  // namespace

void SetMembarrierSyscallForTest(MembarrierSyscall fn) {
  g_syscall = fn != nullptr ? fn : RealMembarrier;
}

absl::Status RegisterMembarrier() {
  if (g_syscall(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0) {
    *g_status = absl::OkStatus();
  } else {
    const int err = errno;
    *g_status = absl::FailedPreconditionError(absl::StrCat(
        "tracer: membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) failed: errno ", err, " (",
        std::strerror(err), "); the tracer needs Linux 4.14 or later with membarrier allowed"));
  }
  return *g_status;
}

absl::Status MembarrierStatus() {
#ifdef TRACER_TSAN
  return absl::OkStatus();
#else
  return *g_status;
#endif
}

void Membarrier() {
#ifndef TRACER_TSAN
  if (g_syscall(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return;
  // Registered (Activate checked), so this cannot fail; should it, a cut without the barrier
  // could seal a buffer a thread is still writing. The global command is slower but needs no
  // registration; without either the tracer cannot run correctly.
  if (g_syscall(MEMBARRIER_CMD_GLOBAL, 0, 0) == 0) return;
  const int err = errno;
  std::fprintf(stderr, "tracer: membarrier failed after registration (errno %d: %s)\n", err,
               std::strerror(err));
  std::abort();
#endif
}

}  // namespace tracer::tracer_internal
