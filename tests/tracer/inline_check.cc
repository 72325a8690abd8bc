// Calls every hot-path entry point from code shaped like a runtime's (several call sites, one
// larger function). The check_inlined test then fails if the binary holds an out-of-line copy
// of any of them: GCC keeps large `inline` functions out of line as weak symbols, which turns
// the disabled check into a call and adds a call to every event (see TRACER_HOOK).

#include <cstdint>
#include <cstdio>

#include "absl/strings/string_view.h"
#include "tracer/hooks.h"
#include "tracer/tracer.h"

namespace {

const tracer::Name& N(int i) {
  static const tracer::Name names[] = {tracer::Name("a"), tracer::Name("b"), tracer::Name("c")};
  return names[i % 3];
}

// The same sequence at several call sites, as a scheduler's lock, condvar and queue would.
#define TRACER_EVERY_HOOK(ref, other, obj, i)                              \
  do {                                                                     \
    tracer::hooks::TaskStart(ref);                                         \
    tracer::hooks::TaskBlock(ref, tracer::BlockReason::kMutex, obj);       \
    tracer::hooks::TaskUnblock(other, obj);                                \
    tracer::hooks::TaskYield(ref);                                         \
    tracer::hooks::TaskEnd(other);                                         \
    tracer::hooks::SyscallBegin(N(i));                                     \
    tracer::hooks::SyscallEnd();                                           \
    { tracer::hooks::ScopedSyscall s(N(i + 1)); }                          \
    tracer::hooks::PhaseBegin(N(i), (i) & 1);                              \
    tracer::hooks::PhaseEnd(N(i));                                         \
    tracer::hooks::Counter(N(i + 2), i);                                   \
    {                                                                      \
      tracer::Region r = tracer::StartRegion(task, N(i));                  \
      tracer::Region r2 = tracer::StartRegion(N(i + 1));                   \
      r2.End();                                                            \
    }                                                                      \
    tracer::Log(task, N(i), "message");                                    \
    /* The string forms: a literal (interned once per call site), a view. */ \
    {                                                                      \
      tracer::Region r = tracer::StartRegion(task, "literal");             \
      tracer::Region r2 = tracer::StartRegion("current");                  \
      tracer::Region r3 = tracer::StartRegion(task, view);                 \
      tracer::Region r4 = tracer::StartRegion(view);                       \
    }                                                                      \
    tracer::WithRegion(task, "with", [&] { ++lock; });                     \
    tracer::WithRegion(task, N(i), [&] { ++lock; });                       \
    tracer::WithRegion(task, view, [&] { ++lock; });                       \
    tracer::Log(task, "category", "message");                              \
    tracer::Log("category", "message");                                    \
    tracer::Log(task, view, "message");                                    \
    tracer::Log(view, "message");                                          \
    tracer::Log(N(i), "message");                                          \
    { tracer::Task t = tracer::NewTask("task"); }                          \
    { tracer::Task t = tracer::NewTask(task, "child"); }                   \
  } while (0)

__attribute__((noinline)) uint64_t Scheduler(int rounds, const tracer::Task& task,
                                             absl::string_view view) {
  tracer::TaskRef a, b;
  int lock = 0, cond = 0, queue = 0;
  for (int i = 0; i < rounds; ++i) {
    TRACER_EVERY_HOOK(a, b, &lock, i);
    TRACER_EVERY_HOOK(b, a, &cond, i + 1);
    TRACER_EVERY_HOOK(a, b, &queue, i + 2);
    TRACER_EVERY_HOOK(b, a, &lock, i + 3);
  }
  return a.seq + b.seq;
}

}  // namespace

int main() {
  const tracer::Task task;
  std::printf("%llu\n", static_cast<unsigned long long>(Scheduler(3, task, "view")));
  return 0;
}
