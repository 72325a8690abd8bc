// Stack capture on the recording threads.

#include "tracer/internal/stacks.h"

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "absl/debugging/stacktrace.h"
#include "absl/types/span.h"
#include "tracer/internal/thread_state.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>

namespace tracer::tracer_internal {

StackTable& Stacks() {
  static StackTable* t = new StackTable(1 << 15);  // slots per half: 8.5 MiB each at most
  return *t;
}

// Copies of g_active_config's stack switches, read by recording threads (relaxed: a thread
// that sees the old value while a capture starts records or skips one stack, nothing more).
std::atomic<bool> g_stacks{true};
std::atomic<bool> g_region_stacks{false};

uint64_t CaptureStackId() {
  void* pcs[kMaxStackDepth + 1];
#ifdef TRACER_TSAN
  // libunwind's per-thread cache has a TSD destructor that crashes TSan's runtime at thread
  // exit; TSan builds (tests only) walk frame pointers instead.
  int n = absl::GetStackTrace(pcs, kMaxStackDepth + 1, 0);
#else
  // libunwind walks code built without frame pointers (most of Debian), and is signal-safe.
  int n = unw_backtrace(pcs, kMaxStackDepth + 1);
#endif
  constexpr int kSkip = 1;  // this function; frame 1 is the code that recorded the event
  if (n <= kSkip) return 0;
  uintptr_t frames[kMaxStackDepth];
  const int m = std::min(n - kSkip, kMaxStackDepth);
  for (int i = 0; i < m; ++i) frames[i] = reinterpret_cast<uintptr_t>(pcs[i + kSkip]);
  return Stacks().Intern(absl::Span<const uintptr_t>(frames, m));
}

}  // namespace tracer::tracer_internal
