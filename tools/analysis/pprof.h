// Profiles from a trace, as `go tool trace -pprof` makes them, and one Go cannot make: the
// mutex profile at the unlock site. What `tracetool pprof` writes (a gzipped profile.proto).
//
// Kinds. Every kind but cpu has the sample types contentions/count and delay/nanoseconds; a
// sample is one call site (a stack, innermost first) and label set; its values add up the
// intervals charged to it.
//   sync     each wait on a mutex, rwmutex, condvar, channel, waitgroup or select, from the
//            TaskBlock to the TaskUnblock that ends it, at the waiter's stack (Go's
//            "synchronization blocking profile");
//   mutex    the mutex and rwmutex waits, at the stack of the unlock that ended each (the
//            TaskUnblock's stack): Go's mutex-profile semantics (contention charged to the
//            holder's release site), computed from the trace;
//   net      waits on the network (reason network), at the waiter's stack;
//   syscall  SyscallBegin to SyscallEnd, at the SyscallBegin's stack; label "syscall" = name;
//   sched    runnable time, TaskUnblock (or TaskCreate) to the next TaskStart: at the stack
//            of the wait it resumes from (or where the task was created);
//   region   RegionBegin to its RegionEnd, at the RegionBegin's stack; label "region" = name;
//   cpu      the CpuSample events: samples/count and cpu/nanoseconds (each sample stands for
//            `cpu_period_ns`).
// Labels: the waiting (or sampled) task's label set at the time (TaskCreate's, then its
// Labels events; a plain thread's own Labels), so `go tool pprof -tagfocus endpoint=/get`
// slices by them.
// `region` (Go's region-filtered profiles): only intervals that begin while their thread is
// inside a region of that name (a wait, a syscall, the wait a runnable interval follows; for
// kind region, the regions of that name).
//
// An interval recorded with no stack is charged to one frame of its own: "region NAME" for a
// region, "(no stack recorded)" otherwise.
// Frames: function, file and line as the trace's stack table has them (tools/analysis/
// stacks.h); each PC in its mapping (path, build id) from the trace's mappings table.
//
// Reading: one streaming pass. Memory: the open waits, syscalls and regions, and the profile's
// distinct samples and locations; never the trace's events.

#ifndef TRACER_TOOLS_ANALYSIS_PPROF_H_
#define TRACER_TOOLS_ANALYSIS_PPROF_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "format/trace_reader.h"
#include "tools/analysis/pprof_encoder.h"
#include "tools/analysis/symbolizer.h"

namespace tracer::analysis {

enum class ProfileKind { kSync, kMutex, kNet, kSyscall, kSched, kRegion, kCpu };
// "sync", "mutex", ...; ParseProfileKind is false for an unknown name.
absl::string_view ProfileKindName(ProfileKind kind);
bool ParseProfileKind(absl::string_view name, ProfileKind* kind);
// "sync|mutex|net|syscall|sched|region|cpu"
std::string ProfileKindList();

struct ProfileOptions {
  ProfileKind kind = ProfileKind::kSync;
  std::string region;  // non-empty: only what begins inside a region of this name
  int64_t cpu_period_ns = 10'000'000;  // what one CpuSample stands for (100 Hz)
  // Locations get file, line and inlined functions from DWARF through it (where the trace has
  // none); null: the trace's names, and pprof may symbolize address-only ones itself.
  Symbolizer* symbolizer = nullptr;
};

struct ProfileResult {
  std::unique_ptr<PprofBuilder> profile;
  uint64_t intervals = 0;  // waits, syscalls, regions or samples charged
  int64_t total_ns = 0;    // their summed delay (cpu: samples x period)
  uint64_t events = 0;
  uint64_t lost_events = 0;     // what loss records say was dropped: not seen here
  uint64_t unfinished = 0;      // begun, not ended by the trace's end: not charged
};

// Reads every generation of `reader` once. On a corrupt or truncated trace returns the
// reader's error (offset, generation, batch).
absl::StatusOr<ProfileResult> ComputeProfile(format::TraceReader* reader,
                                             const ProfileOptions& options);

// Per call site (the innermost function outside the tracer's own code), the summed values of the profile's last sample type,
// largest first: what the command prints as a summary and `diff` compares.
struct FlatEntry {
  std::string function;
  int64_t count = 0;  // the first sample type
  int64_t value = 0;  // the last
  // "file:line" of the function's line that holds the most of `value` (the wait's site, when
  // the profile has lines), or "".
  std::string where;
};
std::vector<FlatEntry> FlatProfile(const PprofBuilder& profile);
// "Service::Handle() (demo_service.cc:212)": the function, and where's file name without its
// directories; the function alone without a where.
std::string FlatEntryText(const FlatEntry& e);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_PPROF_H_
