// tracer: an execution tracer for C++ (the public API).
//
//   tracer::StartTrace("/tmp/trace.out");          // or a Sink, or an fd
//   {
//     tracer::Task t = tracer::NewTask("HandleRequest");
//     tracer::CurrentTaskScope scope(t);            // regions/logs below attach to t
//     tracer::WithRegion(t, "decode", [&] { ... });
//     tracer::Log(t, "cache", "miss for key 42");
//   }
//   tracer::StopTrace();                            // everything recorded is in the sink
//
// Recording calls (tasks, regions, logs, and the runtime hooks in tracer/hooks.h) are safe from
// any thread, never block, lock, allocate or make a syscall on their common path, and cost one
// relaxed load and a predictable branch while nothing consumes the trace. Events that find the
// buffer pool exhausted are dropped and counted; the count is in the trace.

#ifndef TRACER_TRACER_TRACER_H_
#define TRACER_TRACER_TRACER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tracer/internal/thread_state.h"
#include "tracer/sink.h"

namespace tracer {

struct TraceOptions {
  // How often a generation is sealed and written (a self-contained piece of the trace).
  absl::Duration generation_period = absl::Seconds(1);
  // Store each generation as one lz4 block.
  bool compress = false;
};

// Process-wide recording resources, fixed when the first consumer (StartTrace or a
// FlightRecorder) starts; later consumers share them. Immutable while any consumer runs.
struct BufferConfig {
  size_t buffer_bytes = 64 << 10;  // a busy thread's batch; >= 8 KiB. A thread's first batch
                                   // of each generation is a small buffer (buffer_bytes / 16,
                                   // 2-4 KiB; a quarter of the pool), so a thread that records
                                   // little holds little: the default pool has room for ~2000
                                   // such threads and ~380 busy ones at once.
  size_t pool_bytes = 32 << 20;    // all buffers in flight; events beyond are dropped, counted.
                                   // Allocated and faulted in when tracing starts. <= 512 MiB
                                   // (a generation must fit the format's 1 GiB limit).
  bool stacks = true;              // stacks on task create, block, unblock and syscall begin
  bool region_stacks = false;      // stacks on region begin too (about 1 us each)
};
// Sets the config the next activation uses. Fails while a consumer runs.
absl::Status SetBufferConfig(const BufferConfig& config);
BufferConfig GetBufferConfig();

// Starts a capture to `sink` (which must outlive StopTrace). One capture at a time: a second
// StartTrace fails with FailedPrecondition. A FlightRecorder may run alongside.
absl::Status StartTrace(Sink& sink, const TraceOptions& options = {});
// Creates `path` (mode 0600) and captures to it.
absl::Status StartTrace(const std::string& path, const TraceOptions& options = {});
// Captures to `fd` (not closed).
absl::Status StartTrace(int fd, const TraceOptions& options = {});
// Seals the last generation and returns once everything recorded before the call is written
// and flushed. Returns the sink's first error if one ended the capture early.
absl::Status StopTrace();
bool IsTracing();

// A string interned once, so the hot path carries a small id and never hashes:
//   static const tracer::Name kDecode("decode");
// Thread-safe; cheap to copy. Interning never locks (see internal/intern_table.h).
//
// Names passed as strings. Every entry point below that takes a name also takes a string, and
// what it costs depends on the argument's type, never its correctness:
//   - a string literal (or any `const char` array): as cheap as a Name. The call site interns
//     the text on its first enabled call and keeps the id (see SiteName below); later calls
//     compare the array with the kept text (a few instructions for a short literal) instead of
//     hashing it. Disabled: one load and a branch.
//   - anything else (std::string, string_view, const char*, a mutable char buffer): interned on
//     every enabled call (a hash and a table probe, a few ns). Disabled: one load and a branch
//     (a const char* is measured by strlen at the call, before the check).
class Name;
class Region;
class Task;
namespace hooks {
uint64_t NewTaskId();  // tracer/hooks.h
}  // namespace hooks

namespace tracer_internal {

// The inline entry points' access to Region's and Task's private constructors.
struct ApiAccess;

// True for a `const char` array lvalue (a string literal or a const array): the argument kinds
// that take the per-call-site cache. Mutable `char` arrays are excluded (their text changes:
// they take the string_view overloads).
template <typename S>
concept ConstCharArray =
    std::is_lvalue_reference_v<S> && std::is_array_v<std::remove_reference_t<S>> &&
    std::extent_v<std::remove_reference_t<S>> != 0 &&
    std::is_same_v<std::remove_extent_t<std::remove_reference_t<S>>, const char>;

// One call site's name: the text of the first `const char` array the site interned, and its
// id. Written once (by the call that claims it), read-only after: a later call at the site
// takes `id` only if its array holds exactly `text`, so the id is right whatever the array
// holds (a const local array refilled per call, a stack address reused by another frame, a
// template that passes different literals through one site). Text that is not literal-shaped
// (a NUL before the last char, or none at the end), or a full string table, is never kept.
//
// Memory ordering: the claimer writes `id`, then publishes `text` with a release store; a
// reader's acquire load of a non-null `text` sees that `id`. `claimed` only elects the one
// writer (relaxed: it orders nothing).
struct SiteName {
  std::atomic<const char*> text{nullptr};  // the interned copy (N - 1 chars, process lifetime)
  uint32_t id = 0;                         // written before `text` is published, never after
  std::atomic<bool> claimed{false};
};
// One per call site: `Site` is a type unique to the call expression (a lambda's closure type
// in a default template argument; g++ 12 and clang 14 make one per call, with internal
// linkage, so a site in a header's inline function has one per translation unit), N the
// array's length. Constant-initialized: no guard on the hot path.
template <typename Site, size_t N>
inline constinit SiteName g_site_name;

// Out of line: the id of the array's text (up to its first NUL, at most n chars), interned
// (hashed); claims `site` for it if the site is unclaimed and the text is literal-shaped.
ABSL_ATTRIBUTE_NOINLINE uint32_t InternSiteName(SiteName& site, const char* s, size_t n);
// Out of line: interns `s` (a hash and a table probe). 0 for "" or a full table.
ABSL_ATTRIBUTE_NOINLINE uint32_t InternName(absl::string_view s);
// Calls of InternSiteName since the process started (for tests: a site that hits its cache
// does not call it).
uint64_t SiteNameInterns();

// The id of the name in `s` for the call site `Site`. Never hashes once the site holds this
// text; the comparison is against a constant for a literal (the compiler folds its bytes).
template <typename Site, size_t N>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint32_t SiteNameId(const char (&s)[N]) {
  if constexpr (N == 1) {
    if (s[0] == '\0') return 0;  // "": id 0, as InternString gives it
  }
  SiteName& site = g_site_name<Site, N>;
  // acquire: pairs with InternSiteName's release store of `text`, so `id` is its id.
  const char* text = site.text.load(std::memory_order_acquire);
  if (ABSL_PREDICT_TRUE(text != nullptr) && s[N - 1] == '\0' &&
      __builtin_memcmp(text, s, N - 1) == 0) {
    return site.id;
  }
  return InternSiteName(site, s, N);
}

}  // namespace tracer_internal

class Name {
 public:
  explicit Name(absl::string_view s);
  uint32_t id() const { return id_; }
  absl::string_view str() const;

 private:
  uint32_t id_;
};

// A user task (Go's trace.NewTask): a logical operation, possibly across threads. Move-only;
// ends (records its end) on End() or destruction. May be moved to and ended on another thread.
class Task {
 public:
  Task() = default;
  Task(Task&& o) noexcept : id_(std::exchange(o.id_, 0)) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      End();
      id_ = std::exchange(o.id_, 0);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { End(); }

  uint64_t id() const { return id_; }  // 0 for a default-constructed or ended task
  void End();

 private:
  friend Task NewTaskWithId(uint64_t id);
  friend struct tracer_internal::ApiAccess;
  explicit Task(uint64_t id) : id_(id) {}
  uint64_t id_ = 0;
};

// A new task whose parent is this thread's current task (see CurrentTaskScope), or `parent`.
// (All forms call out of line for the task id; Task::End is a call too.)
Task NewTask(const Name& name);
Task NewTask(absl::string_view name);
Task NewTask(const Task& parent, const Name& name);
Task NewTask(const Task& parent, absl::string_view name);
// A literal name (see "Names passed as strings" above): interned once per call site.
template <typename S, typename Site = decltype([] {})>
  requires tracer_internal::ConstCharArray<S>
inline Task NewTask(const Task& parent, S&& name);
template <typename S, typename Site = decltype([] {})>
  requires tracer_internal::ConstCharArray<S>
inline Task NewTask(S&& name);

// Makes `task` this thread's current task for the scope's lifetime (restores the previous).
class CurrentTaskScope {
 public:
  explicit CurrentTaskScope(const Task& task);
  ~CurrentTaskScope();
  CurrentTaskScope(const CurrentTaskScope&) = delete;
  CurrentTaskScope& operator=(const CurrentTaskScope&) = delete;

 private:
  uint64_t previous_;
};
uint64_t CurrentTaskId();

// A region of one thread's time inside a task (Go's trace.WithRegion). Ends on End() or
// destruction, on the thread that started it.
class Region {
 public:
  Region() = default;
  Region(Region&& o) noexcept
      : task_(o.task_), name_(o.name_), active_(std::exchange(o.active_, false)) {}
  Region& operator=(Region&&) = delete;
  Region(const Region&) = delete;
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~Region() { End(); }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void End() {
    if (!active_) return;
    active_ = false;
    tracer_internal::Emit(format::EventType::kRegionEnd, task_, name_);
  }

 private:
  friend struct tracer_internal::ApiAccess;
  Region(uint64_t task, uint32_t name) : task_(task), name_(name), active_(true) {}
  uint64_t task_ = 0;
  uint32_t name_ = 0;
  bool active_ = false;
};

namespace tracer_internal {
struct ApiAccess {
  // REQUIRES: Enabled() was just true.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static Region BeginRegion(uint64_t task, uint32_t name) {
    EmitEnabledArgs(format::EventType::kRegionBegin, task, name, StackForRegion());
    return Region(task, name);
  }
  static Task MakeTask(uint64_t id) { return Task(id); }
};
}  // namespace tracer_internal

// StartRegion: every form is inline and checks first, so disabled costs one load and a branch.
TRACER_HOOK Region StartRegionWithId(uint64_t task, uint32_t name) {
  if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return Region();
  return tracer_internal::ApiAccess::BeginRegion(task, name);
}
TRACER_HOOK Region StartRegion(const Task& task, const Name& name) {
  return StartRegionWithId(task.id(), name.id());
}
// A literal name: interned once per call site (see "Names passed as strings").
template <typename S, typename Site = decltype([] {})>
  requires tracer_internal::ConstCharArray<S>
TRACER_HOOK Region StartRegion(const Task& task, S&& name) {
  if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return Region();
  return tracer_internal::ApiAccess::BeginRegion(task.id(),
                                                 tracer_internal::SiteNameId<Site>(name));
}
TRACER_HOOK Region StartRegion(const Task& task, absl::string_view name) {
  if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return Region();
  return tracer_internal::ApiAccess::BeginRegion(task.id(), tracer_internal::InternName(name));
}
// In this thread's current task (see CurrentTaskScope).
TRACER_HOOK Region StartRegion(const Name& name) {
  return StartRegionWithId(tracer_internal::t_state.current_user_task, name.id());
}
template <typename S, typename Site = decltype([] {})>
  requires tracer_internal::ConstCharArray<S>
TRACER_HOOK Region StartRegion(S&& name) {
  if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return Region();
  return tracer_internal::ApiAccess::BeginRegion(tracer_internal::t_state.current_user_task,
                                                 tracer_internal::SiteNameId<Site>(name));
}
TRACER_HOOK Region StartRegion(absl::string_view name) {
  if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return Region();
  return tracer_internal::ApiAccess::BeginRegion(tracer_internal::t_state.current_user_task,
                                                 tracer_internal::InternName(name));
}

// Runs fn() inside a region of `task`; returns what fn returns.
template <typename Fn>
TRACER_HOOK decltype(auto) WithRegion(const Task& task, const Name& name, Fn&& fn) {
  Region r = StartRegion(task, name);
  return std::forward<Fn>(fn)();
}
template <typename S, typename Fn, typename Site = decltype([] {})>
  requires tracer_internal::ConstCharArray<S>
TRACER_HOOK decltype(auto) WithRegion(const Task& task, S&& name, Fn&& fn) {
  Region r = StartRegion<S, Site>(task, name);  // this call site's cache is the caller's
  return std::forward<Fn>(fn)();
}
template <typename Fn>
TRACER_HOOK decltype(auto) WithRegion(const Task& task, absl::string_view name, Fn&& fn) {
  Region r = StartRegion(task, name);
  return std::forward<Fn>(fn)();
}

// A log message in a task (Go's trace.Log). Messages over 4000 bytes are truncated.
// Inline: a short message with a pre-interned category is a hot-path event like any other.
TRACER_HOOK void LogWithId(uint64_t task, uint32_t category, absl::string_view message) {
  if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
  if (ABSL_PREDICT_FALSE(message.size() > tracer_internal::kMaxLogBytes)) {
    message = message.substr(0, tracer_internal::kMaxLogBytes);
  }
  const uint64_t args[2] = {task, category};
  tracer_internal::EmitEnabled(format::EventType::kLog, args, 2, message.data(),
                               static_cast<uint32_t>(message.size()), /*has_bytes=*/true);
}
TRACER_HOOK void Log(const Task& task, const Name& category, absl::string_view message) {
  if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
  LogWithId(task.id(), category.id(), message);
}
// A literal category: interned once per call site (see "Names passed as strings").
template <typename S, typename Site = decltype([] {})>
  requires tracer_internal::ConstCharArray<S>
TRACER_HOOK void Log(const Task& task, S&& category, absl::string_view message) {
  if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
  LogWithId(task.id(), tracer_internal::SiteNameId<Site>(category), message);
}
TRACER_HOOK void Log(const Task& task, absl::string_view category, absl::string_view message) {
  if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
  LogWithId(task.id(), tracer_internal::InternName(category), message);
}
// In this thread's current task.
TRACER_HOOK void Log(const Name& category, absl::string_view message) {
  if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
  LogWithId(tracer_internal::t_state.current_user_task, category.id(), message);
}
template <typename S, typename Site = decltype([] {})>
  requires tracer_internal::ConstCharArray<S>
TRACER_HOOK void Log(S&& category, absl::string_view message) {
  if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
  LogWithId(tracer_internal::t_state.current_user_task, tracer_internal::SiteNameId<Site>(category),
            message);
}
TRACER_HOOK void Log(absl::string_view category, absl::string_view message) {
  if (ABSL_PREDICT_TRUE(!tracer_internal::Enabled())) return;
  LogWithId(tracer_internal::t_state.current_user_task, tracer_internal::InternName(category),
            message);
}

template <typename S, typename Site>
  requires tracer_internal::ConstCharArray<S>
TRACER_HOOK Task NewTask(const Task& parent, S&& name) {
  const uint64_t id = hooks::NewTaskId();
  if (tracer_internal::Enabled()) {
    tracer_internal::Emit(format::EventType::kUserTaskBegin, id, parent.id(),
                          tracer_internal::SiteNameId<Site>(name),
                          tracer_internal::StackForSlowEvent());
  }
  return tracer_internal::ApiAccess::MakeTask(id);
}
template <typename S, typename Site>
  requires tracer_internal::ConstCharArray<S>
TRACER_HOOK Task NewTask(S&& name) {
  const uint64_t id = hooks::NewTaskId();
  if (tracer_internal::Enabled()) {
    tracer_internal::Emit(format::EventType::kUserTaskBegin, id,
                          tracer_internal::t_state.current_user_task,
                          tracer_internal::SiteNameId<Site>(name),
                          tracer_internal::StackForSlowEvent());
  }
  return tracer_internal::ApiAccess::MakeTask(id);
}

// Names this thread in traces (the OS thread name is left alone). Without it, a trace shows
// the OS name (pthread_getname_np) read when the thread registers.
void SetThreadName(absl::string_view name);

// Counters of what the runtime dropped since the process started (for tests and /debug).
// Lock-free: safe from a Sink, a metrics thread or a signal handler; never waits for a cut or
// a dump in progress.
struct TracerStats {
  uint64_t events_lost = 0;      // every drop: pool exhausted, inside a signal handler, ...
  // Of those: emitted by a signal handler that interrupted its thread's own event write (the
  // event cannot be written there; it is counted in the trace's loss records too).
  uint64_t events_lost_in_signal_handlers = 0;
  uint64_t generations = 0;      // sealed
  uint64_t threads_registered = 0;
  uint64_t strings_dropped = 0;  // intern table full (id 0 recorded instead)
  // Stacks not recorded: no free slot within reach in the stack table's active half (the
  // collector rotates the halves before it fills: only a burst of distinct stacks within one
  // generation can do it).
  uint64_t stacks_dropped = 0;
  // Stack ids written in an event after their half of the table was emptied (a thread that
  // captured a stack and waited more than a generation before recording its event): defined
  // in the trace as an empty stack. The halves' rotations so far.
  uint64_t stacks_expired = 0;
  uint64_t stack_table_rotations = 0;
  // The buffer pool's bytes while something traces (both 0 otherwise; headers included): a
  // pool that stays mostly in use means the collector is behind, or more threads record at
  // once than it has room for (BufferConfig), and events are about to be dropped.
  uint64_t pool_bytes = 0;
  uint64_t pool_bytes_free = 0;  // approximate
  // Pool bytes never freed because a thread still held one of their buffers when tracing
  // stopped (it was inside an event write the stop could not wait for: a signal handler that
  // stopped tracing, or a thread stuck for longer than the stop's bound).
  uint64_t pool_bytes_leaked = 0;
  // The collector's own cost, beyond the hot path: events in the generations it sealed, and
  // the CPU time (its thread's) it spent sealing them (scan, task states, tables, encoding;
  // not the consumers' writes). seal_cpu_ns / events_sealed is the per-event cost.
  uint64_t events_sealed = 0;
  uint64_t seal_cpu_ns = 0;
  // Label sets not applied: the process already had 1024 distinct ones (tracer/scopes.h). The
  // trace records the count too, as the counter "tracer.label_sets_dropped".
  uint64_t label_sets_dropped = 0;
};
TracerStats GetTracerStats();

}  // namespace tracer

#endif  // TRACER_TRACER_TRACER_H_
