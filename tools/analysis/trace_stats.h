// Whole-trace summary numbers (`tracetool stats`): sizes, generations, threads, tasks, events
// by type, time span and losses. Computed in one streaming pass; memory is one generation plus
// the sets of ids seen (and, with a filter, what tools/analysis/event_filter.h tracks).

#ifndef TRACER_TOOLS_ANALYSIS_TRACE_STATS_H_
#define TRACER_TOOLS_ANALYSIS_TRACE_STATS_H_

#include <array>
#include <cstdint>
#include <map>
#include <vector>
#include <string>

#include "absl/status/statusor.h"
#include "format/event_table.h"
#include "format/trace_reader.h"
#include "tools/analysis/event_filter.h"

namespace tracer::analysis {

struct ThreadStats {
  uint64_t id = 0;
  std::string name;          // the last non-empty name any generation's thread table gave
  uint64_t events = 0;       // events recorded in its batches
  uint64_t loss_records = 0;
  uint64_t lost_events = 0;  // sum of its loss records' counts
};

struct TraceStats {
  uint16_t version_major = 0;
  uint16_t version_minor = 0;
  uint64_t file_bytes = 0;  // every byte read: file header + every generation (header + payload)
  uint64_t generations = 0;  // with events: the live-task listings are counted apart
  uint64_t compressed_generations = 0;  // of `generations`
  uint64_t batches = 0;
  // Live-task listings (format 2.x, section 11: the generation a dump or a capture ends
  // with), and the tasks the last one lists, by status (index: format::TaskStatus).
  uint64_t listings = 0;
  uint64_t live_tasks = 0;
  std::array<uint64_t, static_cast<size_t>(format::TaskStatus::kNumTaskStatuses)>
      live_tasks_by_status{};

  // Threads by id: every thread named in a thread table, owning a batch, or in a loss record.
  std::map<uint64_t, ThreadStats> threads;
  // Distinct runtime task ids (Go's G): the `task` argument of TaskCreate/Start/Block/Unblock/
  // Yield/End, Labels and CpuSample, TaskCreate's `parent`, and the ids of the task-state
  // tables and of the live-task listing; 0 (the thread itself) is not a task. Counted in
  // memory bounded by the live tasks: an id named again after its TaskEnd's generation (which
  // a correct trace never does) counts again.
  uint64_t tasks = 0;
  // Distinct user task ids (trace.NewTask): the `task` argument of UserTaskBegin/End,
  // RegionBegin/End, Log and SetCurrentUserTask, UserTaskBegin's `parent`, and the ids of the
  // user-task tables; 0 (none) is not counted. Bounded the same way (by UserTaskEnd).
  uint64_t user_tasks = 0;

  // With a filter (`filter` not empty: its flags), `events`, `events_by_type`, each thread's
  // `events`, `tasks`, `user_tasks` (the ids the matching events name; the tables are not
  // counted) and the time span count only the matching events. Everything else (bytes,
  // generations, batches, listings, threads, losses, crash batches) describes the whole file.
  std::string filter;
  uint64_t total_events = 0;  // every event of the trace, matching or not
  uint64_t events = 0;
  std::array<uint64_t, static_cast<size_t>(format::EventType::kNumEventTypes)> events_by_type{};

  // Time span of the events, each converted with its own generation's clock snapshot. Only
  // meaningful when events > 0.
  int64_t first_event_mono_ns = 0;
  int64_t last_event_mono_ns = 0;
  int64_t first_event_real_ns = 0;  // wall-clock time of the first event, ns since the epoch

  uint64_t loss_records = 0;
  uint64_t lost_events = 0;

  // Crash generations (written by a crash handler) and the crash batches the reader dropped
  // alone (torn by a thread caught mid-write, or damaged), in file order.
  uint64_t crash_generations = 0;
  struct Dropped {
    uint64_t generation_seq = 0;
    format::DroppedBatch batch;
  };
  std::vector<Dropped> dropped_batches;

  int64_t duration_ns() const { return events > 0 ? last_event_mono_ns - first_event_mono_ns : 0; }
  double bytes_per_event() const {
    return total_events > 0 ? static_cast<double>(file_bytes) / static_cast<double>(total_events)
                            : 0.0;
  }
};

// Reads `reader` to its end and summarizes it, counting the events `filter` matches (all by
// default). On a corrupt or truncated trace returns the reader's error (which names the
// offset, generation and batch); no partial numbers.
// REQUIRES: `reader` has returned no generation yet.
absl::StatusOr<TraceStats> ComputeTraceStats(format::TraceReader* reader,
                                             const EventFilterOptions& filter = {});

// Human-readable report, several lines, each ending in '\n'.
std::string FormatTraceStatsText(const TraceStats& stats);
// One JSON object (no trailing newline); field names are the report's, in snake_case.
std::string FormatTraceStatsJson(const TraceStats& stats);

// RFC 3339 UTC time with nanoseconds, e.g. "2024-03-01T09:00:00.000125Z".
std::string FormatRfc3339(int64_t unix_ns);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_TRACE_STATS_H_
