#include "tools/analysis/tasks.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "format/event_printer.h"
#include "format/generation.h"
#include "tools/analysis/event_pass.h"
#include "tools/analysis/stacks.h"

namespace tracer::analysis {
namespace {

using format::BlockReason;
using format::Event;
using format::EventType;
using format::Generation;
using format::TaskStatus;

// Argument positions (FORMAT.md, "Event table").
constexpr int kTask = 0;
constexpr int kCreateParent = 1, kCreateName = 2, kCreateStack = 4;
constexpr int kBlockReason = 1, kBlockObject = 2, kBlockStack = 3;
constexpr int kUnblockWaker = 2, kUnblockStack = 4;

constexpr size_t kRunnable = static_cast<size_t>(ThreadTimeState::kRunnable);
constexpr size_t kBlocked = static_cast<size_t>(ThreadTimeState::kBlocked);

size_t BlockedState(uint64_t reason) {
  return kBlocked + std::min<uint64_t>(reason, static_cast<uint64_t>(BlockReason::kOther));
}

class TasksBuilder {
 public:
  explicit TasksBuilder(const TasksOptions& options) : options_(options) {
    report_.timeline.id = options.id;
  }

  absl::Status Run(format::TraceReader* reader) {
    bool first = true;  // of its generation
    return ForEachEvent(
        reader,
        [&](const Generation& gen) {
          report_.lost_events += LostEvents(gen);
          first = true;
        },
        [&](const Generation& gen, const Event& e) {
          if (first) {
            first = false;
            const int64_t now = gen.TickToMonoNs(e.tick);
            if (!started_) {
              started_ = true;
              first_ns_ = now;
            }
            AddStatedTasks(gen, now);
          }
          Handle(gen, e);
        });
  }

  TasksReport Finish();

 private:
  using Thread = ThreadStateTracker::Thread;
  struct Task {
    uint32_t group;
    int64_t first_ns;
    bool created_before_trace;
    TimeBreakdown charged;
    // On a thread: charged that thread's states from `since` on.
    uint64_t thread = 0;
    TimeBreakdown since;
    // Off a thread: charged `own_state` from `own_since` on.
    size_t own_state = kRunnable;
    int64_t own_since = 0;
    // What its own events said last: blocked (and why) or not.
    bool blocked = false;
    uint64_t reason = 0;
  };

  void Handle(const Generation& gen, const Event& e);
  // Tasks the generation states (those running or blocked when it began), not yet known.
  void AddStatedTasks(const Generation& gen, int64_t now);
  Task& Known(const Generation& gen, uint64_t id, int64_t now);
  Task& NewTask(uint64_t id, absl::string_view name, int64_t now, bool before_trace);
  uint32_t GroupIndex(absl::string_view name);
  void Detach(Task& task, int64_t now);
  void Attach(Task& task, uint64_t id, uint64_t thread, int64_t now);
  void ChargeTo(Task& task, int64_t now);
  void End(uint64_t id, Task& task, int64_t now, bool alive);
  size_t StateOf(const Task& task) const;
  // The traced task's timeline (TasksOptions::id): a new span when its state changed.
  void TraceState(int64_t now);

  const TasksOptions options_;
  TasksReport report_;
  bool started_ = false;
  int64_t first_ns_ = 0;
  int64_t last_ns_ = 0;
  ThreadStateTracker states_;
  absl::flat_hash_map<uint64_t, Task> tasks_;         // live, by id
  absl::flat_hash_map<uint64_t, uint64_t> on_thread_;  // thread -> the task it runs
  absl::flat_hash_map<std::string, uint32_t> index_;
  std::vector<TaskGroupReport> groups_;
  absl::flat_hash_map<uint64_t, std::string> thread_names_;  // for wakers with no task name
};

uint32_t TasksBuilder::GroupIndex(absl::string_view name) {
  auto [it, inserted] =
      index_.try_emplace(std::string(name), static_cast<uint32_t>(groups_.size()));
  if (inserted) {
    groups_.emplace_back();
    groups_.back().name = std::string(name);
  }
  return it->second;
}

TasksBuilder::Task& TasksBuilder::NewTask(uint64_t id, absl::string_view name, int64_t now,
                                          bool before_trace) {
  Task& t = tasks_[id];
  t.group = GroupIndex(name.empty() ? absl::StrCat("task ", id) : name);
  t.first_ns = now;
  t.created_before_trace = before_trace;
  t.own_since = now;
  if (id == options_.id && !report_.timeline.found) {
    report_.timeline.found = true;
    report_.timeline.name = groups_[t.group].name;
  }
  return t;
}

void TasksBuilder::AddStatedTasks(const Generation& gen, int64_t now) {
  for (const format::ThreadInfo& th : gen.threads) {
    thread_names_.try_emplace(th.id, std::string(gen.String(th.name)));
  }
  for (const format::TaskState& s : gen.tasks) {
    if (tasks_.contains(s.id)) continue;
    if (!options_.name.empty() && gen.String(s.name) != options_.name) continue;
    Task& t = NewTask(s.id, gen.String(s.name), now, /*before_trace=*/true);
    if (s.id == options_.id) report_.timeline.parent = s.parent;
    if (s.status == TaskStatus::kBlocked) {
      t.blocked = true;
      t.reason = static_cast<uint64_t>(s.reason);
      t.own_state = BlockedState(t.reason);
    }
    if ((s.status == TaskStatus::kRunning || s.status == TaskStatus::kSyscall) && s.thread != 0 &&
        !on_thread_.contains(s.thread)) {
      Attach(t, s.id, s.thread, now);
    }
  }
  TraceState(now);
}

TasksBuilder::Task& TasksBuilder::Known(const Generation& /*gen*/, uint64_t id, int64_t now) {
  if (auto it = tasks_.find(id); it != tasks_.end()) return it->second;
  // Not stated and not created: a writer that states fewer tasks than it should, or a task
  // filtered out by name (then the caller drops it).
  return NewTask(id, "", now, /*before_trace=*/true);
}

void TasksBuilder::ChargeTo(Task& task, int64_t now) {
  if (task.thread != 0) {
    const Thread& th = states_.At(task.thread, now);
    task.charged += th.cum - task.since;
    task.since = th.cum;
  } else if (now > task.own_since) {
    task.charged.ns[task.own_state] += now - task.own_since;
    task.own_since = now;
  }
}

void TasksBuilder::Detach(Task& task, int64_t now) {
  if (task.thread == 0) return;
  ChargeTo(task, now);
  on_thread_.erase(task.thread);
  task.thread = 0;
  task.own_state = task.blocked ? BlockedState(task.reason) : kRunnable;
  task.own_since = now;
}

void TasksBuilder::Attach(Task& task, uint64_t id, uint64_t thread, int64_t now) {
  ChargeTo(task, now);
  if (task.thread != 0 && task.thread != thread) Detach(task, now);
  if (auto it = on_thread_.find(thread); it != on_thread_.end() && it->second != id) {
    if (auto other = tasks_.find(it->second); other != tasks_.end()) Detach(other->second, now);
  }
  on_thread_[thread] = id;
  task.thread = thread;
  task.since = states_.At(thread, now).cum;
}

size_t TasksBuilder::StateOf(const Task& task) const {
  if (task.thread == 0) return task.own_state;
  auto it = states_.threads().find(task.thread);
  return it == states_.threads().end() ? task.own_state : states_.StateOf(it->second);
}

void TasksBuilder::TraceState(int64_t now) {
  if (options_.id == 0) return;
  auto it = tasks_.find(options_.id);
  if (it == tasks_.end()) return;
  const Task& task = it->second;
  std::vector<TaskSpan>& spans = report_.timeline.spans;
  const size_t state = StateOf(task);
  if (!spans.empty() && spans.back().state == state && spans.back().thread == task.thread) return;
  if (!spans.empty()) spans.back().end_ns = now - first_ns_;
  TaskSpan span;
  span.begin_ns = span.end_ns = now - first_ns_;
  span.state = state;
  span.thread = task.thread;
  spans.push_back(std::move(span));
}

void TasksBuilder::Handle(const Generation& gen, const Event& e) {
  const int64_t now = gen.TickToMonoNs(e.tick);
  last_ns_ = now;
  ++report_.events;
  states_.Apply(e, now);
  const uint64_t id = e.args[kTask];
  const bool traced = options_.id != 0 && id == options_.id;
  switch (e.type) {
    case EventType::kTaskCreate: {
      const absl::string_view name = gen.String(e.args[kCreateName]);
      if (tasks_.contains(id) || (!options_.name.empty() && name != options_.name)) break;
      NewTask(id, name, now, /*before_trace=*/false);
      if (traced) {
        report_.timeline.parent = e.args[kCreateParent];
        report_.timeline.create_stack = StackText(gen, e.args[kCreateStack], options_.symbolizer);
      }
      break;
    }
    case EventType::kTaskStart: {
      if (!options_.name.empty() && !tasks_.contains(id)) {
        // Another name's task takes the thread: what ran there before leaves it.
        if (auto it = on_thread_.find(e.thread); it != on_thread_.end()) {
          if (auto other = tasks_.find(it->second); other != tasks_.end()) {
            Detach(other->second, now);
          }
        }
        break;
      }
      Task& t = Known(gen, id, now);
      t.blocked = false;
      Attach(t, id, e.thread, now);
      break;
    }
    case EventType::kTaskBlock: {
      auto it = tasks_.find(id);
      if (it == tasks_.end()) break;
      Task& t = it->second;
      ChargeTo(t, now);
      t.blocked = true;
      t.reason = e.args[kBlockReason];
      if (t.thread == 0) t.own_state = BlockedState(t.reason);
      if (traced) {
        TraceState(now);
        TaskSpan& span = report_.timeline.spans.back();
        span.object = e.args[kBlockObject];
        span.block_stack = StackText(gen, e.args[kBlockStack], options_.symbolizer);
      }
      break;
    }
    case EventType::kTaskUnblock:
    case EventType::kTaskYield: {
      auto it = tasks_.find(id);
      if (it == tasks_.end()) break;
      Task& t = it->second;
      ChargeTo(t, now);
      if (traced && e.type == EventType::kTaskUnblock && !report_.timeline.spans.empty()) {
        TaskSpan& span = report_.timeline.spans.back();
        span.woken = true;
        span.waker = e.args[kUnblockWaker];
        span.waker_thread = e.thread;
        if (auto w = tasks_.find(span.waker); span.waker != 0 && w != tasks_.end()) {
          span.waker_name = groups_[w->second.group].name;
        } else if (auto n = thread_names_.find(e.thread); n != thread_names_.end()) {
          span.waker_name = n->second;
        }
        span.waker_stack = StackText(gen, e.args[kUnblockStack], options_.symbolizer);
      }
      t.blocked = false;
      if (t.thread == 0) t.own_state = kRunnable;
      break;
    }
    case EventType::kTaskEnd: {
      auto it = tasks_.find(id);
      if (it == tasks_.end()) break;
      End(id, it->second, now, /*alive=*/false);
      tasks_.erase(it);
      break;
    }
    case EventType::kThreadStart:
      if (e.thread != 0) {
        if (const absl::string_view n = gen.ThreadName(e.thread); !n.empty()) {
          thread_names_[e.thread] = std::string(n);
        }
      }
      break;
    default:
      break;
  }
  TraceState(now);
}

void TasksBuilder::End(uint64_t id, Task& task, int64_t now, bool alive) {
  ChargeTo(task, now);
  if (task.thread != 0) on_thread_.erase(task.thread);
  if (id == options_.id) {
    std::vector<TaskSpan>& spans = report_.timeline.spans;
    if (!spans.empty()) spans.back().end_ns = now - first_ns_;
    report_.timeline.ended = !alive;
  }
  TaskGroupReport& g = groups_[task.group];
  TaskInstance inst;
  inst.id = id;
  inst.begin_ns = task.first_ns - first_ns_;
  inst.life_ns = now - task.first_ns;
  inst.breakdown = task.charged;
  inst.alive_at_end = alive;
  inst.created_before_trace = task.created_before_trace;
  ++g.count;
  if (alive) ++g.alive_at_end;
  if (task.created_before_trace) ++g.created_before_trace;
  g.life.Add(inst.life_ns);
  g.total += inst.breakdown;
  for (size_t k = 0; k < kNumTimeStates; ++k) g.per_task[k].Add(inst.breakdown.ns[k]);
  if (options_.top > 0 &&
      (g.longest.size() < options_.top || inst.life_ns > g.longest.back().life_ns)) {
    auto at = std::find_if(g.longest.begin(), g.longest.end(),
                           [&](const TaskInstance& o) { return o.life_ns < inst.life_ns; });
    g.longest.insert(at, std::move(inst));
    if (g.longest.size() > options_.top) g.longest.pop_back();
  }
}

TasksReport TasksBuilder::Finish() {
  // Tasks alive at the end, charged up to the last event, in id order (a stable report).
  std::vector<uint64_t> alive;
  alive.reserve(tasks_.size());
  for (const auto& [id, task] : tasks_) alive.push_back(id);
  std::sort(alive.begin(), alive.end());
  for (uint64_t id : alive) End(id, tasks_[id], last_ns_, /*alive=*/true);
  tasks_.clear();
  std::sort(groups_.begin(), groups_.end(), [](const TaskGroupReport& a, const TaskGroupReport& b) {
    if (a.life.sum() != b.life.sum()) return a.life.sum() > b.life.sum();
    return a.name < b.name;
  });
  report_.groups = std::move(groups_);
  report_.duration_ns = last_ns_ - first_ns_;
  return std::move(report_);
}

// "+1.240512s": an offset from the trace's start, to the microsecond.
std::string OffsetText(int64_t ns) { return absl::StrFormat("+%.6fs", ns / 1e9); }

void AppendStackText(const std::vector<std::string>& frames, const char* indent, std::string* out) {
  for (const std::string& f : frames) absl::StrAppend(out, indent, f, "\n");
}

void AppendStackJson(const std::vector<std::string>& frames, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < frames.size(); ++i) {
    if (i > 0) out->push_back(',');
    format::AppendJsonString(frames[i], out);
  }
  out->push_back(']');
}

}  // namespace

absl::StatusOr<TasksReport> ComputeTasks(format::TraceReader* reader, const TasksOptions& options) {
  TasksBuilder builder(options);
  if (absl::Status s = builder.Run(reader); !s.ok()) return s;
  return builder.Finish();
}

std::string FormatTasksText(const TasksReport& report) {
  std::string out;
  uint64_t tasks = 0;
  for (const TaskGroupReport& g : report.groups) tasks += g.count;
  absl::StrAppendFormat(&out, "%d tasks in %d groups over %s (%d events)\n", tasks,
                        report.groups.size(), DurationText(report.duration_ns), report.events);
  out +=
      "Each task's life is split by state; a task's own wait wins over runnable, then syscall, "
      "its own phase, stopped by another thread's stop-the-world phase, running: the parts add "
      "up to its life.\n";
  if (report.lost_events > 0) {
    absl::StrAppendFormat(&out,
                          "warning: the trace lost %d events (loss records): the times below "
                          "miss what they held\n",
                          report.lost_events);
  }
  for (const TaskGroupReport& g : report.groups) {
    absl::StrAppendFormat(&out, "\n%s: %d tasks", g.name, g.count);
    if (g.alive_at_end > 0) absl::StrAppendFormat(&out, ", %d alive at the end", g.alive_at_end);
    if (g.created_before_trace > 0) {
      absl::StrAppendFormat(&out, ", %d created before the trace began", g.created_before_trace);
    }
    absl::StrAppendFormat(&out, "\n  life     total %s  mean %s  p50 %s  p99 %s  max %s\n",
                          DurationText(g.life.sum()), DurationText(g.life.mean()),
                          DurationText(g.life.Quantile(0.5)), DurationText(g.life.Quantile(0.99)),
                          DurationText(g.life.max()));
    absl::StrAppendFormat(&out, "  %-18s %10s %7s %10s %10s %10s\n", "state", "total", "share",
                          "mean", "p50", "p99");
    const int64_t total = g.total.total();
    std::vector<size_t> order;
    for (size_t k = 0; k < kNumTimeStates; ++k) {
      if (g.total.ns[k] != 0) order.push_back(k);
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t x, size_t y) { return g.total.ns[x] > g.total.ns[y]; });
    for (size_t k : order) {
      const LatencyHistogram& h = g.per_task[k];
      absl::StrAppendFormat(&out, "  %-18s %10s %6.1f%% %10s %10s %10s\n", TimeStateName(k),
                            DurationText(g.total.ns[k]),
                            total > 0 ? 100.0 * static_cast<double>(g.total.ns[k]) / total : 0.0,
                            DurationText(static_cast<int64_t>(h.mean())),
                            DurationText(h.Quantile(0.5)), DurationText(h.Quantile(0.99)));
    }
    if (!g.longest.empty()) out += "  longest:\n";
    for (const TaskInstance& t : g.longest) {
      absl::StrAppendFormat(&out, "    task %d  %s at %s%s: %s\n", t.id, DurationText(t.life_ns),
                            OffsetText(t.begin_ns), t.alive_at_end ? " (alive at end)" : "",
                            BreakdownText(t.breakdown));
    }
  }
  if (!report.groups.empty()) {
    out += "\nOne task's states, waits and wakers: tracetool tasks --id N FILE\n";
  }
  return out;
}

std::string FormatTasksJson(const TasksReport& report) {
  std::string out = absl::StrCat("{\"events\":", report.events,
                                 ",\"lost_events\":", report.lost_events,
                                 ",\"duration_ns\":", report.duration_ns, ",\"groups\":[");
  for (size_t i = 0; i < report.groups.size(); ++i) {
    const TaskGroupReport& g = report.groups[i];
    if (i > 0) out.push_back(',');
    out += "{\"name\":";
    format::AppendJsonString(g.name, &out);
    absl::StrAppend(&out, ",\"count\":", g.count, ",\"alive_at_end\":", g.alive_at_end,
                    ",\"created_before_trace\":", g.created_before_trace, ",\"life\":{");
    std::string life;
    AppendLatencyJson(g.life, &life);
    out += life.substr(1);  // AppendLatencyJson writes a leading comma
    out += "},\"states\":{";
    bool first = true;
    for (size_t k = 0; k < kNumTimeStates; ++k) {
      if (g.total.ns[k] == 0) continue;
      if (!first) out.push_back(',');
      first = false;
      format::AppendJsonString(TimeStateName(k), &out);
      const LatencyHistogram& h = g.per_task[k];
      absl::StrAppend(&out, ":{\"total_ns\":", g.total.ns[k], ",\"mean_ns\":",
                      static_cast<int64_t>(h.mean()), ",\"p50_ns\":", h.Quantile(0.5),
                      ",\"p99_ns\":", h.Quantile(0.99), "}");
    }
    out += "},\"longest\":[";
    for (size_t j = 0; j < g.longest.size(); ++j) {
      const TaskInstance& t = g.longest[j];
      if (j > 0) out.push_back(',');
      absl::StrAppend(&out, "{\"id\":", t.id, ",\"begin_ns\":", t.begin_ns,
                      ",\"life_ns\":", t.life_ns,
                      ",\"alive_at_end\":", t.alive_at_end ? "true" : "false", ",\"breakdown\":");
      AppendBreakdownJson(t.breakdown, &out);
      out.push_back('}');
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

std::string FormatTaskTimelineText(const TaskTimeline& tl) {
  if (!tl.found) return absl::StrFormat("task %d does not appear in the trace\n", tl.id);
  std::string out = absl::StrFormat("task %d \"%s\"", tl.id, tl.name);
  if (tl.parent != 0) absl::StrAppendFormat(&out, ", created by task %d", tl.parent);
  out += tl.ended ? "\n" : " (alive at the end of the trace)\n";
  if (!tl.create_stack.empty()) {
    out += "  created at:\n";
    AppendStackText(tl.create_stack, "      ", &out);
  }
  TimeBreakdown sum;
  for (const TaskSpan& s : tl.spans) {
    if (s.end_ns <= s.begin_ns && !s.woken) continue;  // an instant between two events
    sum.ns[s.state] += s.end_ns - s.begin_ns;
    absl::StrAppendFormat(&out, "  %-11s %10s  %s", OffsetText(s.begin_ns),
                          DurationText(s.end_ns - s.begin_ns), TimeStateName(s.state));
    if (s.thread != 0) absl::StrAppendFormat(&out, " on thread %d", s.thread);
    if (s.object != 0) absl::StrAppendFormat(&out, " on %#x", s.object);
    out += "\n";
    if (!s.block_stack.empty()) {
      out += "      waited at:\n";
      AppendStackText(s.block_stack, "        ", &out);
    }
    if (s.woken) {
      if (s.waker != 0) {
        absl::StrAppendFormat(&out, "      woken by task %d \"%s\" on thread %d", s.waker,
                              s.waker_name, s.waker_thread);
      } else {
        absl::StrAppendFormat(&out, "      woken by thread %d \"%s\"", s.waker_thread,
                              s.waker_name);
      }
      out += s.waker_stack.empty() ? "\n" : " at:\n";
      AppendStackText(s.waker_stack, "        ", &out);
    }
  }
  absl::StrAppendFormat(&out, "  total %s: %s\n", DurationText(sum.total()), BreakdownText(sum));
  return out;
}

std::string FormatTaskTimelineJson(const TaskTimeline& tl) {
  std::string out = absl::StrCat("{\"id\":", tl.id, ",\"found\":", tl.found ? "true" : "false",
                                 ",\"name\":");
  format::AppendJsonString(tl.name, &out);
  absl::StrAppend(&out, ",\"parent\":", tl.parent, ",\"ended\":", tl.ended ? "true" : "false",
                  ",\"create_stack\":");
  AppendStackJson(tl.create_stack, &out);
  out += ",\"spans\":[";
  bool first = true;
  for (const TaskSpan& s : tl.spans) {
    if (s.end_ns <= s.begin_ns && !s.woken) continue;
    if (!first) out.push_back(',');
    first = false;
    absl::StrAppend(&out, "{\"begin_ns\":", s.begin_ns, ",\"end_ns\":", s.end_ns, ",\"state\":");
    format::AppendJsonString(TimeStateName(s.state), &out);
    absl::StrAppend(&out, ",\"thread\":", s.thread);
    if (s.object != 0) absl::StrAppend(&out, ",\"object\":", s.object);
    if (!s.block_stack.empty()) {
      out += ",\"block_stack\":";
      AppendStackJson(s.block_stack, &out);
    }
    if (s.woken) {
      absl::StrAppend(&out, ",\"waker\":", s.waker, ",\"waker_thread\":", s.waker_thread,
                      ",\"waker_name\":");
      format::AppendJsonString(s.waker_name, &out);
      out += ",\"waker_stack\":";
      AppendStackJson(s.waker_stack, &out);
    }
    out.push_back('}');
  }
  out += "]}";
  return out;
}

}  // namespace tracer::analysis
