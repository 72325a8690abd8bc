#include "tracer/internal/membarrier.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace tracer::tracer_internal {
namespace {

bool g_have_membarrier = false;  // set once by RegisterMembarrier, before any cut

}  // namespace

bool RegisterMembarrier() {
  g_have_membarrier =
      syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
  return g_have_membarrier;
}

void Membarrier() {
#ifndef TRACER_TSAN
  if (g_have_membarrier &&
      syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) {
    return;
  }
  // Fallback: the global command waits for every CPU to pass a quiescent state (slow, rare).
  syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0);
#endif
}

}  // namespace tracer::tracer_internal
