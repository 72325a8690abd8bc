#include "tools/analysis/trace_stats.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "format/event_printer.h"
#include "format/merged_generation_reader.h"

namespace tracer::analysis {
namespace {

using format::EventType;
using format::TaskArgSpace;
using format::TaskSpace;

// Index of the argument named `name` in the event's spec, or -1.
int ArgIndex(const format::EventSpec& spec, absl::string_view name) {
  for (int i = 0; i < spec.num_args; ++i) {
    if (name == spec.args[i].name) return i;
  }
  return -1;
}

// Counts distinct task ids in memory bounded by the live tasks: a task's id is forgotten once
// it has ended, at the end of the generation that holds its end (batches are read one thread
// at a time, so another thread's batch read later may still name it, at an earlier time).
class DistinctTasks {
 public:
  void See(uint64_t id) {
    if (id != 0 && live_.insert(id).second) ++count_;
  }
  void Ended(uint64_t id) {
    if (id != 0) ended_.push_back(id);
  }
  void EndGeneration() {
    for (uint64_t id : ended_) live_.erase(id);
    ended_.clear();
  }
  uint64_t count() const { return count_; }

 private:
  absl::flat_hash_set<uint64_t> live_;
  std::vector<uint64_t> ended_;
  uint64_t count_ = 0;
};

}  // namespace

absl::StatusOr<TraceStats> ComputeTraceStats(format::TraceReader* reader,
                                             const EventFilterOptions& filter) {
  TraceStats st;
  st.version_major = reader->version_major();
  st.version_minor = reader->version_minor();
  st.filter = filter.Description();
  const bool filtered = !filter.empty();
  // With a filter, the events are judged in time order (what EventFilter needs): merged
  // across each generation's batches instead of read batch by batch.
  std::unique_ptr<EventFilter> matcher;
  if (filtered) matcher = std::make_unique<EventFilter>(filter);
  DistinctTasks tasks, user_tasks;
  auto thread = [&](uint64_t id) -> ThreadStats& {
    ThreadStats& t = st.threads[id];
    t.id = id;
    return t;
  };
  // Counts one event of `gen` (a matching one, with a filter) on its thread `ts`.
  auto count = [&](const format::Generation& gen, const format::Event& e, ThreadStats& ts) {
    const format::EventSpec& spec = e.spec();
    ++ts.events;
    ++st.events_by_type[static_cast<size_t>(e.type)];
    const int64_t mono = gen.TickToMonoNs(e.tick);
    if (st.events == 0 || mono < st.first_event_mono_ns) {
      st.first_event_mono_ns = mono;
      st.first_event_real_ns = gen.TickToRealNs(e.tick);
    }
    if (st.events == 0 || mono > st.last_event_mono_ns) st.last_event_mono_ns = mono;
    ++st.events;
    const TaskSpace space = TaskArgSpace(e.type);
    if (space != TaskSpace::kNone) {
      DistinctTasks& set = space == TaskSpace::kRuntime ? tasks : user_tasks;
      const uint64_t id = e.args[ArgIndex(spec, "task")];
      set.See(id);
      if (const int p = ArgIndex(spec, "parent"); p >= 0) set.See(e.args[p]);
      if (e.type == EventType::kTaskEnd || e.type == EventType::kUserTaskEnd) set.Ended(id);
    }
  };
  for (;;) {
    absl::StatusOr<std::shared_ptr<const format::Generation>> next = reader->Next();
    if (!next.ok()) return next.status();
    if (*next == nullptr) break;
    const format::Generation& gen = **next;
    if (gen.listing) {
      ++st.listings;
      st.live_tasks = gen.live_tasks.size();
      st.live_tasks_by_status.fill(0);
      for (const format::LiveTask& t : gen.live_tasks) {
        ++st.live_tasks_by_status[static_cast<size_t>(t.status)];
        if (!filtered) tasks.See(t.id);
      }
    } else {
      ++st.generations;
      if (gen.compressed) ++st.compressed_generations;
    }
    st.batches += gen.batches.size();
    if (gen.crash) ++st.crash_generations;
    for (const format::DroppedBatch& d : gen.dropped_batches) {
      st.dropped_batches.push_back({gen.seq, d});
    }
    for (const format::ThreadInfo& t : gen.threads) {
      ThreadStats& ts = thread(t.id);
      if (!gen.String(t.name).empty()) ts.name = std::string(gen.String(t.name));
    }
    if (!filtered) {
      for (const format::TaskState& t : gen.tasks) tasks.See(t.id);
      for (const format::UserTaskInfo& t : gen.user_tasks) user_tasks.See(t.id);
    }
    for (const format::LossRecord& l : gen.losses) {
      ThreadStats& ts = thread(l.thread);
      ++ts.loss_records;
      ts.lost_events += l.count;
      ++st.loss_records;
      st.lost_events += l.count;
    }
    if (filtered) {
      for (const format::Batch& b : gen.batches) thread(b.thread);
      matcher->BeginGeneration(gen);
      format::MergedGenerationReader events(gen);
      while (const format::Event* e = events.Next()) {
        ++st.total_events;
        if (matcher->Match(gen, *e)) count(gen, *e, thread(e->thread));
      }
      if (!events.status().ok()) return events.status();
      tasks.EndGeneration();
      user_tasks.EndGeneration();
      continue;
    }
    for (size_t b = 0; b < gen.batches.size(); ++b) {
      ThreadStats& ts = thread(gen.batches[b].thread);
      format::BatchEventReader events(gen, b);
      format::Event e;
      while (events.Next(&e)) count(gen, e, ts);
      if (!events.status().ok()) return events.status();
    }
    st.total_events = st.events;
    tasks.EndGeneration();
    user_tasks.EndGeneration();
  }
  st.tasks = tasks.count();
  st.user_tasks = user_tasks.count();
  st.file_bytes = reader->offset();
  return st;
}

std::string FormatRfc3339(int64_t unix_ns) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", absl::FromUnixNanos(unix_ns),
                          absl::UTCTimeZone());
}

std::string FormatTraceStatsText(const TraceStats& st) {
  std::string out;
  if (!st.filter.empty()) {
    absl::StrAppendFormat(&out,
                          "filter:           %s (events, tasks and the time span: of the "
                          "matching events only)\n",
                          st.filter);
  }
  absl::StrAppendFormat(&out, "format version:   %d.%d\n", st.version_major, st.version_minor);
  absl::StrAppendFormat(&out, "bytes on disk:    %d\n", st.file_bytes);
  absl::StrAppendFormat(&out, "generations:      %d (%d compressed), %d batches\n",
                        st.generations, st.compressed_generations, st.batches);
  absl::StrAppendFormat(&out, "threads:          %d\n", st.threads.size());
  for (const auto& [id, t] : st.threads) {
    absl::StrAppendFormat(&out, "  T%-10d %-16s %d events\n", id,
                          t.name.empty() ? "-" : absl::StrCat("\"", t.name, "\""), t.events);
  }
  absl::StrAppendFormat(&out, "runtime tasks:    %d\n", st.tasks);
  if (st.listings > 0) {
    using format::TaskStatus;
    const auto n = [&](TaskStatus s) { return st.live_tasks_by_status[static_cast<size_t>(s)]; };
    absl::StrAppendFormat(&out,
                          "live at the end:  %d (%d running, %d in syscall, %d runnable, %d "
                          "blocked)\n",
                          st.live_tasks, n(TaskStatus::kRunning), n(TaskStatus::kSyscall),
                          n(TaskStatus::kRunnable), n(TaskStatus::kBlocked));
  }
  absl::StrAppendFormat(&out, "user tasks:       %d\n", st.user_tasks);
  if (st.filter.empty()) {
    absl::StrAppendFormat(&out, "events:           %d (%.2f bytes/event)\n", st.events,
                          st.bytes_per_event());
  } else {
    absl::StrAppendFormat(&out, "events:           %d matching of %d (%.2f bytes/event)\n",
                          st.events, st.total_events, st.bytes_per_event());
  }
  for (size_t i = 0; i < st.events_by_type.size(); ++i) {
    if (st.events_by_type[i] == 0) continue;
    absl::StrAppendFormat(&out, "  %-20s %d\n",
                          format::GetEventSpec(static_cast<EventType>(i)).name,
                          st.events_by_type[i]);
  }
  if (st.events > 0) {
    absl::StrAppendFormat(&out, "first event:      %d ns (CLOCK_MONOTONIC)\n",
                          st.first_event_mono_ns);
    absl::StrAppendFormat(&out, "last event:       %d ns (CLOCK_MONOTONIC)\n",
                          st.last_event_mono_ns);
    absl::StrAppendFormat(&out, "duration:         %s\n",
                          absl::FormatDuration(absl::Nanoseconds(st.duration_ns())));
    absl::StrAppendFormat(&out, "wall-clock start: %s\n", FormatRfc3339(st.first_event_real_ns));
  } else {
    out += "time span:        no events\n";
  }
  absl::StrAppendFormat(&out, "losses:           %d records, %d events lost\n", st.loss_records,
                        st.lost_events);
  for (const auto& [id, t] : st.threads) {
    if (t.loss_records == 0) continue;
    absl::StrAppendFormat(&out, "  T%-10d %d events lost in %d records\n", id, t.lost_events,
                          t.loss_records);
  }
  if (st.crash_generations > 0) {
    absl::StrAppendFormat(&out, "crash dump:       %d crash generations, %d batches dropped\n",
                          st.crash_generations, st.dropped_batches.size());
    for (const TraceStats::Dropped& d : st.dropped_batches) {
      absl::StrAppendFormat(&out, "  generation %d, file offset %d, T%d: %s\n",
                            d.generation_seq, d.batch.file_offset, d.batch.thread,
                            d.batch.reason);
    }
  }
  return out;
}

std::string FormatTraceStatsJson(const TraceStats& st) {
  std::string out;
  absl::StrAppendFormat(&out,
                        "{\"format_version\":\"%d.%d\",\"bytes_on_disk\":%d,"
                        "\"generations\":%d,\"compressed_generations\":%d,\"batches\":%d,",
                        st.version_major, st.version_minor, st.file_bytes, st.generations,
                        st.compressed_generations, st.batches);
  absl::StrAppend(&out, "\"threads\":[");
  bool first = true;
  for (const auto& [id, t] : st.threads) {
    absl::StrAppend(&out, first ? "" : ",", "{\"id\":", id, ",\"name\":");
    format::AppendJsonString(t.name, &out);
    absl::StrAppend(&out, ",\"events\":", t.events, ",\"loss_records\":", t.loss_records,
                    ",\"lost_events\":", t.lost_events, "}");
    first = false;
  }
  absl::StrAppend(&out, "],\"runtime_tasks\":", st.tasks);
  if (st.listings > 0) {
    using format::TaskStatus;
    const auto n = [&](TaskStatus s) { return st.live_tasks_by_status[static_cast<size_t>(s)]; };
    absl::StrAppend(&out, ",\"listings\":", st.listings, ",\"live_tasks\":{\"total\":",
                    st.live_tasks, ",\"running\":", n(TaskStatus::kRunning),
                    ",\"syscall\":", n(TaskStatus::kSyscall),
                    ",\"runnable\":", n(TaskStatus::kRunnable),
                    ",\"blocked\":", n(TaskStatus::kBlocked), "}");
  }
  absl::StrAppend(&out, ",\"user_tasks\":", st.user_tasks, ",\"filter\":");
  format::AppendJsonString(st.filter, &out);
  absl::StrAppend(&out, ",\"total_events\":", st.total_events, ",\"events\":", st.events,
                  ",\"events_by_type\":{");
  first = true;
  for (size_t i = 0; i < st.events_by_type.size(); ++i) {
    if (st.events_by_type[i] == 0) continue;
    absl::StrAppend(&out, first ? "" : ",", "\"",
                    format::GetEventSpec(static_cast<EventType>(i)).name,
                    "\":", st.events_by_type[i]);
    first = false;
  }
  absl::StrAppendFormat(&out, "},\"bytes_per_event\":%.4f", st.bytes_per_event());
  if (st.events > 0) {
    absl::StrAppend(&out, ",\"first_event_ns\":", st.first_event_mono_ns,
                    ",\"last_event_ns\":", st.last_event_mono_ns,
                    ",\"duration_ns\":", st.duration_ns(), ",\"wall_clock_start\":\"",
                    FormatRfc3339(st.first_event_real_ns), "\"");
  }
  absl::StrAppend(&out, ",\"loss_records\":", st.loss_records,
                  ",\"lost_events\":", st.lost_events);
  if (st.crash_generations > 0) {
    absl::StrAppend(&out, ",\"crash_generations\":", st.crash_generations,
                    ",\"dropped_batches\":[");
    for (size_t i = 0; i < st.dropped_batches.size(); ++i) {
      const TraceStats::Dropped& d = st.dropped_batches[i];
      absl::StrAppend(&out, i ? "," : "", "{\"generation\":", d.generation_seq,
                      ",\"file_offset\":", d.batch.file_offset, ",\"thread\":", d.batch.thread,
                      ",\"reason\":");
      format::AppendJsonString(d.batch.reason, &out);
      out += "}";
    }
    out += "]";
  }
  out += "}";
  return out;
}

}  // namespace tracer::analysis
