// Scoped helpers for code that makes blocking calls, runs runtime phases or slices its work by
// labels. Each records its begin where it is constructed and its end where it is destroyed,
// on the same thread.
//
//   {
//     tracer::ScopedSyscall s("pread");              // a blocking call of the running task
//     n = ::pread(fd, buf, len, off);
//   }
//   {
//     tracer::ScopedPhase p("compaction", /*stop_the_world=*/true);   // GC-like, process-wide
//     Compact();
//   }
//   tracer::WithLabels({{"endpoint", "/get"}, {"shard", "3"}}, [&] { Handle(req); });
//
// Names: a string literal costs what a tracer::Name costs (interned once per call site); a
// Name is interned once where it is made; any other string is interned on every enabled call
// (see "Names passed as strings" in tracer/tracer.h). Disabled: one load and a branch (labels
// excepted: see WithLabels).

#ifndef TRACER_TRACER_SCOPES_H_
#define TRACER_TRACER_SCOPES_H_

#include <cstdint>
#include <initializer_list>
#include <utility>

#include "absl/strings/string_view.h"
#include "format/event_table.h"
#include "tracer/tracer.h"

namespace tracer {

namespace tracer_internal {
TRACER_HOOK void SyscallBeginId(uint32_t name) {
  EmitEnabledArgs(format::EventType::kSyscallBegin, name, StackForSlowEvent());
}
TRACER_HOOK void PhaseBeginId(uint32_t name, bool stop_the_world, bool thread_scoped) {
  EmitEnabledArgs(format::EventType::kPhaseBegin, name,
                  (stop_the_world ? format::kPhaseStopTheWorld : 0) |
                      (thread_scoped ? format::kPhaseThreadScoped : 0));
}
}  // namespace tracer_internal

// A blocking system call (or any call that waits on the kernel: a read of a slow disk, a DNS
// lookup) of the running task, with the call site's stack. While it lasts the task is "in
// syscall" (tracetool's tasks and pprof --kind=syscall). Pass the call's name.
class ScopedSyscall {
 public:
  TRACER_HOOK explicit ScopedSyscall(const Name& name) {
    if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
    tracer_internal::SyscallBeginId(name.id());
  }
  template <typename S, typename Site = decltype([] {})>
    requires tracer_internal::ConstCharArray<S>
  TRACER_HOOK explicit ScopedSyscall(S&& name) {
    if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
    tracer_internal::SyscallBeginId(tracer_internal::SiteNameId<Site>(name));
  }
  TRACER_HOOK explicit ScopedSyscall(absl::string_view name) {
    if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
    tracer_internal::SyscallBeginId(tracer_internal::InternName(name));
  }
  // An end with no begin (tracing started inside the scope) is harmless: readers ignore it.
  TRACER_HOOK ~ScopedSyscall() { tracer_internal::Emit(format::EventType::kSyscallEnd); }
  ScopedSyscall(const ScopedSyscall&) = delete;
  ScopedSyscall& operator=(const ScopedSyscall&) = delete;
};

// A runtime phase, Go's GC analog: compaction, a snapshot, a rebalance. Process-wide: with
// `stop_the_world`, every application thread is meant to be stopped while it runs (the
// program's own mechanism stops them, e.g. an RwMutex the workers hold shared; the phase says
// why they waited, and tracetool charges their time to it and computes MMU from it).
class ScopedPhase {
 public:
  TRACER_HOOK ScopedPhase(const Name& name, bool stop_the_world) {
    Begin(name.id(), stop_the_world);
  }
  template <typename S, typename Site = decltype([] {})>
    requires tracer_internal::ConstCharArray<S>
  TRACER_HOOK ScopedPhase(S&& name, bool stop_the_world) {
    if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
    Begin(tracer_internal::SiteNameId<Site>(name), stop_the_world);
  }
  TRACER_HOOK ScopedPhase(absl::string_view name, bool stop_the_world) {
    if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
    Begin(tracer_internal::InternName(name), stop_the_world);
  }
  TRACER_HOOK ~ScopedPhase() {
    if (name_ != 0) tracer_internal::Emit(format::EventType::kPhaseEnd, name_);
  }
  ScopedPhase(const ScopedPhase&) = delete;
  ScopedPhase& operator=(const ScopedPhase&) = delete;

 protected:
  ScopedPhase() = default;
  TRACER_HOOK void Begin(uint32_t name, bool stop_the_world, bool thread_scoped = false) {
    if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled()) || name == 0) return;
    name_ = name;
    tracer_internal::PhaseBeginId(name, stop_the_world, thread_scoped);
  }

 private:
  uint32_t name_ = 0;  // 0: nothing begun (tracing was off, or an empty name)
};

// A phase that runs on this thread only, on behalf of the runtime (Go's mark assist: a
// request thread that does a slice of compaction before it may go on). Other threads run on;
// MMU counts this thread's time as lost while it lasts.
class ScopedThreadPhase : public ScopedPhase {
 public:
  TRACER_HOOK explicit ScopedThreadPhase(const Name& name) {
    Begin(name.id(), /*stop_the_world=*/false, /*thread_scoped=*/true);
  }
  template <typename S, typename Site = decltype([] {})>
    requires tracer_internal::ConstCharArray<S>
  TRACER_HOOK explicit ScopedThreadPhase(S&& name) {
    if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
    Begin(tracer_internal::SiteNameId<Site>(name), false, true);
  }
  TRACER_HOOK explicit ScopedThreadPhase(absl::string_view name) {
    if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
    Begin(tracer_internal::InternName(name), false, true);
  }
};

// Labels (Go's pprof.Do): key=value pairs on the running task (a ThreadPool job, a scheduler's
// task, or the thread running as itself), merged over the labels it has (a key given again
// takes the new value), for the scope's lifetime. They survive the task's waits and resumes,
// are inherited by every task created inside (pool jobs submitted there), and slice tracetool's
// profiles (`-tagfocus endpoint=/get`).
//
// Labels are for LOW-CARDINALITY keys: endpoint, pool, shard, tenant tier. Never a request id,
// user id or key: every distinct set is kept for the life of the process, and profiles split
// into one sample per set. The process keeps at most 1024 distinct label sets; a scope whose
// set would pass the cap applies nothing (the task keeps the labels it had), and the drop is
// counted in TracerStats::label_sets_dropped and, in the trace, in the counter
// "tracer.label_sets_dropped". Costs: applying a set sorts and looks it up under a lock (a few
// hundred ns; always, even while nothing traces, so a capture that starts mid-scope sees them).
using Label = std::pair<absl::string_view, absl::string_view>;

class ScopedLabels {
 public:
  explicit ScopedLabels(std::initializer_list<Label> labels);
  ~ScopedLabels();
  ScopedLabels(const ScopedLabels&) = delete;
  ScopedLabels& operator=(const ScopedLabels&) = delete;

 private:
  uint32_t previous_ = 0;
  bool applied_ = false;
};

// Runs fn() with `labels` applied (see ScopedLabels); returns what fn returns.
template <typename Fn>
decltype(auto) WithLabels(std::initializer_list<Label> labels, Fn&& fn) {
  ScopedLabels scope(labels);
  return std::forward<Fn>(fn)();
}

// The running task's labels now, sorted by key (for tests and diagnostics).
std::vector<std::pair<std::string, std::string>> CurrentLabels();

}  // namespace tracer

#endif  // TRACER_TRACER_SCOPES_H_
