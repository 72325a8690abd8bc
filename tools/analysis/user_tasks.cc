#include "tools/analysis/user_tasks.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "format/event_printer.h"
#include "format/generation.h"
#include "tools/analysis/event_pass.h"

namespace tracer::analysis {
namespace {

using format::Event;
using format::EventType;
using format::Generation;

// Argument positions (FORMAT.md, "Event table"; request_report.cc checks the same ones).
constexpr int kTask = 0;
constexpr int kUserTaskName = 2;
constexpr int kRegionName = 1;

constexpr size_t kRunnable = static_cast<size_t>(ThreadTimeState::kRunnable);

class UserTasksBuilder {
 public:
  explicit UserTasksBuilder(const UserTasksOptions& options) : options_(options) {}

  absl::Status Run(format::TraceReader* reader) {
    return ForEachEvent(
        reader, [&](const Generation& gen) { report_.lost_events += LostEvents(gen); },
        [&](const Generation& gen, const Event& e) { Handle(gen, e); });
  }

  UserTasksReport Finish();

 private:
  using Thread = ThreadStateTracker::Thread;
  struct OpenTask {
    uint32_t type;  // index in types_
    int64_t begin_ns;
    TimeBreakdown charged;
  };
  struct OpenRegion {
    std::string name;
    uint64_t user_task;
  };
  // Which user task a thread works for, and its counters when it began to.
  struct Attribution {
    uint64_t user_task = 0;
    TimeBreakdown since;
    std::vector<OpenRegion> regions;  // innermost last
  };

  void Handle(const Generation& gen, const Event& e);
  uint64_t WorkingFor(const Thread& t, const Attribution& a) const {
    if (t.current_user_task != 0) return t.current_user_task;
    for (auto it = a.regions.rbegin(); it != a.regions.rend(); ++it) {
      if (it->user_task != 0) return it->user_task;
    }
    return 0;
  }
  // Charges the thread's time since a.since to the task it worked for, if that task is open.
  void Charge(const Thread& t, Attribution& a) {
    if (a.user_task != 0) {
      if (auto it = open_.find(a.user_task); it != open_.end()) {
        it->second.charged += t.cum - a.since;
      }
    }
    a.since = t.cum;
  }
  uint32_t TypeIndex(absl::string_view name);
  void End(uint64_t id, int64_t now);

  const UserTasksOptions options_;
  UserTasksReport report_;
  bool started_ = false;
  int64_t first_ns_ = 0;
  ThreadStateTracker states_;
  absl::flat_hash_map<uint64_t, Attribution> attribution_;  // by thread
  absl::flat_hash_map<uint64_t, OpenTask> open_;            // by user task id
  // Runtime tasks created for an open user task, not yet started: the user task, the create.
  absl::flat_hash_map<uint64_t, std::pair<uint64_t, int64_t>> queued_;
  absl::flat_hash_map<std::string, uint32_t> index_;
  std::vector<UserTaskTypeReport> types_;
};

uint32_t UserTasksBuilder::TypeIndex(absl::string_view name) {
  auto [it, inserted] = index_.try_emplace(std::string(name), static_cast<uint32_t>(types_.size()));
  if (inserted) {
    types_.emplace_back();
    types_.back().name = std::string(name);
  }
  return it->second;
}

void UserTasksBuilder::Handle(const Generation& gen, const Event& e) {
  const int64_t now = gen.TickToMonoNs(e.tick);
  if (!started_) {
    started_ = true;
    first_ns_ = now;
  }
  ++report_.events;
  const Thread& t = states_.Apply(e, now);
  Attribution& a = attribution_[e.thread];
  switch (e.type) {
    case EventType::kUserTaskBegin: {
      const absl::string_view name = gen.String(e.args[kUserTaskName]);
      if (!options_.type.empty() && name != options_.type) break;
      open_[e.args[kTask]] = {TypeIndex(name), now, {}};
      break;
    }
    case EventType::kUserTaskEnd:
      End(e.args[kTask], now);
      break;
    case EventType::kRegionBegin: {
      const uint64_t user_task = e.args[kTask] != 0 ? e.args[kTask] : t.current_user_task;
      a.regions.push_back({std::string(gen.String(e.args[kRegionName])), user_task});
      break;
    }
    case EventType::kRegionEnd: {
      const absl::string_view name = gen.String(e.args[kRegionName]);
      for (auto it = a.regions.rbegin(); it != a.regions.rend(); ++it) {
        if (it->name != name) continue;
        a.regions.erase(std::next(it).base());
        break;
      }
      break;
    }
    case EventType::kTaskCreate:
      if (a.user_task != 0 && open_.contains(a.user_task)) {
        queued_[e.args[kTask]] = {a.user_task, now};
      }
      break;
    case EventType::kTaskStart:
      if (auto it = queued_.find(e.args[kTask]); it != queued_.end()) {
        if (auto u = open_.find(it->second.first); u != open_.end()) {
          u->second.charged.ns[kRunnable] += now - it->second.second;
        }
        queued_.erase(it);
      }
      break;
    default:
      break;
  }
  // The event may have changed whom the thread works for (SetCurrentUserTask, a region).
  if (const uint64_t w = WorkingFor(t, a); w != a.user_task) {
    Charge(t, a);
    a.user_task = w;
  }
}

void UserTasksBuilder::End(uint64_t id, int64_t now) {
  auto it = open_.find(id);
  if (it == open_.end()) {
    if (options_.type.empty()) ++report_.ended_before_trace;
    return;
  }
  // Every thread still working for it: charged up to now.
  for (auto& [thread, a] : attribution_) {
    if (a.user_task == id) Charge(states_.At(thread, now), a);
  }
  OpenTask& task = it->second;
  UserTaskTypeReport& type = types_[task.type];
  UserTaskInstance inst;
  inst.id = id;
  inst.begin_ns = task.begin_ns - first_ns_;
  inst.duration_ns = now - task.begin_ns;
  inst.breakdown = task.charged;
  inst.between_threads_ns = std::max<int64_t>(0, inst.duration_ns - task.charged.total());
  type.latency.Add(inst.duration_ns);
  type.breakdown += inst.breakdown;
  type.between_threads_ns += inst.between_threads_ns;
  if (options_.top > 0 &&
      (type.slowest.size() < options_.top || inst.duration_ns > type.slowest.back().duration_ns)) {
    auto at = std::find_if(type.slowest.begin(), type.slowest.end(),
                           [&](const UserTaskInstance& o) { return o.duration_ns < inst.duration_ns; });
    type.slowest.insert(at, std::move(inst));
    if (type.slowest.size() > options_.top) type.slowest.pop_back();
  }
  open_.erase(it);
}

UserTasksReport UserTasksBuilder::Finish() {
  for (const auto& [id, task] : open_) ++types_[task.type].incomplete;
  std::sort(types_.begin(), types_.end(),
            [](const UserTaskTypeReport& a, const UserTaskTypeReport& b) {
              if (a.latency.sum() != b.latency.sum()) return a.latency.sum() > b.latency.sum();
              return a.name < b.name;
            });
  report_.types = std::move(types_);
  return std::move(report_);
}

// The breakdown with "between threads" as one more part, each a share of their sum.
std::string PartsText(const TimeBreakdown& b, int64_t between_ns) {
  if (between_ns <= 0) return BreakdownText(b);
  const double total = static_cast<double>(b.total() + between_ns);
  std::vector<std::pair<int64_t, std::string>> parts;
  for (size_t k = 0; k < kNumTimeStates; ++k) {
    if (b.ns[k] != 0) parts.push_back({b.ns[k], TimeStateName(k)});
  }
  parts.push_back({between_ns, "between threads"});
  std::stable_sort(parts.begin(), parts.end(),
                   [](const auto& x, const auto& y) { return x.first > y.first; });
  std::string out;
  for (const auto& [ns, name] : parts) {
    if (!out.empty()) out += ", ";
    absl::StrAppendFormat(&out, "%s %s (%.1f%%)", name, DurationText(ns),
                          100.0 * static_cast<double>(ns) / total);
  }
  return out;
}

}  // namespace

absl::StatusOr<UserTasksReport> ComputeUserTasks(format::TraceReader* reader,
                                                 const UserTasksOptions& options) {
  UserTasksBuilder builder(options);
  if (absl::Status s = builder.Run(reader); !s.ok()) return s;
  return builder.Finish();
}

std::string FormatUserTasksText(const UserTasksReport& r) {
  uint64_t complete = 0, incomplete = 0;
  for (const UserTaskTypeReport& t : r.types) {
    complete += t.latency.count();
    incomplete += t.incomplete;
  }
  std::string out = absl::StrFormat(
      "user tasks: %d complete of %d types; %d not ended in the trace, %d ended with their "
      "begin before it\n",
      complete, r.types.size(), incomplete, r.ended_before_trace);
  if (r.lost_events > 0) {
    absl::StrAppendFormat(&out,
                          "warning: the trace lost %d events (loss records): tasks and waits "
                          "among them are not counted\n",
                          r.lost_events);
  }
  for (const UserTaskTypeReport& t : r.types) {
    const LatencyHistogram& h = t.latency;
    absl::StrAppendFormat(&out, "\nuser task \"%s\": %d complete", t.name, h.count());
    if (t.incomplete > 0) absl::StrAppendFormat(&out, ", %d not ended", t.incomplete);
    out += "\n";
    if (h.count() == 0) continue;
    AppendLatencyText(h, &out);
    absl::StrAppendFormat(&out, "  where the time went: %s\n",
                          PartsText(t.breakdown, t.between_threads_ns));
    if (!t.slowest.empty()) out += "  slowest:\n";
    for (const UserTaskInstance& i : t.slowest) {
      absl::StrAppendFormat(&out, "    %9s  task %d at +%s: %s\n", DurationText(i.duration_ns),
                            i.id, DurationText(i.begin_ns),
                            PartsText(i.breakdown, i.between_threads_ns));
    }
  }
  return out;
}

std::string FormatUserTasksJson(const UserTasksReport& r) {
  std::string out = absl::StrCat("{\"events\":", r.events, ",\"lost_events\":", r.lost_events,
                                 ",\"ended_before_trace\":", r.ended_before_trace,
                                 ",\"types\":[");
  for (size_t n = 0; n < r.types.size(); ++n) {
    const UserTaskTypeReport& t = r.types[n];
    const LatencyHistogram& h = t.latency;
    if (n > 0) out += ',';
    out += "{\"name\":";
    format::AppendJsonString(t.name, &out);
    AppendLatencyJson(h, &out);
    absl::StrAppend(&out, ",\"incomplete\":", t.incomplete,
                    ",\"between_threads_ns\":", t.between_threads_ns, ",\"breakdown_ns\":");
    AppendBreakdownJson(t.breakdown, &out);
    out += ",\"slowest\":[";
    for (size_t k = 0; k < t.slowest.size(); ++k) {
      const UserTaskInstance& i = t.slowest[k];
      if (k > 0) out += ',';
      absl::StrAppend(&out, "{\"id\":", i.id, ",\"begin_ns\":", i.begin_ns,
                      ",\"duration_ns\":", i.duration_ns,
                      ",\"between_threads_ns\":", i.between_threads_ns, ",\"breakdown_ns\":");
      AppendBreakdownJson(i.breakdown, &out);
      out += '}';
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

}  // namespace tracer::analysis
