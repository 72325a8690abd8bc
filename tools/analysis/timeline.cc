#include "tools/analysis/timeline.h"

#include <algorithm>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "format/event_printer.h"
#include "format/event_table.h"
#include "format/generation.h"
#include "format/merged_generation_reader.h"
#include "tools/analysis/stacks.h"
#include "tools/analysis/thread_states.h"
#include "tools/analysis/timeline_tracks.h"

namespace tracer::analysis {
namespace {

using timeline_internal::AddArg;
using timeline_internal::AddNumArg;
using timeline_internal::Slice;
using timeline_internal::Track;
using timeline_internal::TrackWriter;
using format::Event;
using format::EventType;
using format::Generation;

// Argument positions (FORMAT.md, "Event table").
constexpr int kTask = 0;
constexpr int kBlockObject = 2, kBlockStack = 3;  // TaskBlock
constexpr int kUnblockWaker = 2;                  // TaskUnblock
constexpr int kCreateName = 2;                    // TaskCreate
constexpr int kSyscallName = 0, kSyscallStack = 1;
constexpr int kPhaseName = 0, kPhaseFlags = 1;
constexpr int kUserTaskParent = 1, kUserTaskName = 2;
constexpr int kRegionName = 1;
constexpr int kLogCategory = 1;
constexpr int kCounterName = 0, kCounterValue = 1;

constexpr uint64_t kPhasesTid = 1;

constexpr size_t State(ThreadTimeState s) { return static_cast<size_t>(s); }

void AddStackArg(std::string* args, const Generation& gen, uint64_t stack,
                 Symbolizer* symbolizer) {
  const std::vector<std::string> frames = StackText(gen, stack, symbolizer);
  if (frames.empty()) return;
  *args += ",\"stack\":[";
  for (size_t i = 0; i < frames.size(); ++i) {
    if (i > 0) args->push_back(',');
    format::AppendJsonString(frames[i], args);
  }
  args->push_back(']');
}

struct NamedEntry {
  std::string name;
  std::string args;  // `,"key":value` items
  bool stw = false;
};

struct ThreadData {
  uint64_t id = 0;
  Track state;                // at most one open slice
  Track regions;              // regions, and logs as instants
  size_t state_kind = 0;      // of the open state slice
  uint64_t state_task = 0;    // of the open state slice
  uint64_t running_task = 0;  // the task it runs or ran last (0: none)
  bool exited = false;        // ThreadStop: no state until its next event
  std::string name;
  std::string block_args;            // of its last TaskBlock
  std::vector<NamedEntry> syscalls;  // open, innermost last
  std::vector<NamedEntry> phases;    // thread-scoped and stop-the-world ones it began
};

void SetName(ThreadData& td, absl::string_view name) {
  td.name = std::string(name);
  td.state.name = absl::StrCat(name.empty() ? "thread" : name, " T", td.id);
  td.regions.name = absl::StrCat(td.state.name, " regions");
}

struct PendingWake {
  int64_t ns;
  uint64_t thread;  // the waker's
  uint64_t waker;   // its task (0: the thread itself or unknown)
};

struct OpenUserTask {
  std::string name;
  uint64_t tid;
  std::string args;
};

class TimelineWriter {
 public:
  TimelineWriter(const TimelineOptions& options, const TimelineSink& sink)
      : options_(options), w_(sink, options.chunk_bytes, options.speedscope) {
    phases_.tid = kPhasesTid;
    phases_.name = "phases";
  }

  absl::Status Run(format::TraceReader* reader);
  const TimelineSummary& summary() const { return summary_; }

 private:
  enum class Window { kBefore, kOpen, kClosed };

  // False once the window has closed: nothing more is read.
  bool Handle(const Generation& gen, const Event& e);
  // Nanoseconds from the first event to `mono`, clamped to [0, INT64_MAX].
  int64_t Since(int64_t mono) const {
    int64_t d;
    if (__builtin_sub_overflow(mono, first_ns_, &d)) return mono > first_ns_ ? INT64_MAX : 0;
    return std::max<int64_t>(d, 0);
  }
  ThreadData& Thread(const Generation& gen, uint64_t id);
  ThreadData* Find(uint64_t id) {
    auto it = index_.find(id);
    return it == index_.end() ? nullptr : threads_[it->second].get();
  }
  // Ends `task`'s attachment to the thread that ran it last, whose state then changes.
  void Detach(uint64_t task);
  void UpdateState(ThreadData& td, int64_t now);
  std::string TaskLabel(uint64_t task) const;
  void Wake(ThreadData& td, uint64_t task, int64_t now);
  // True if it ended a stop-the-world phase.
  bool PhaseEnd(ThreadData& td, absl::string_view name, int64_t now);
  void OpenWindow();
  void CloseWindow(int64_t ts, absl::string_view why);
  void Losses(const Generation& gen);

  void EmitUserTask(char ph, uint64_t id, const OpenUserTask& u, int64_t ts,
                    absl::string_view extra);

  const TimelineOptions& options_;
  TrackWriter w_;
  TimelineSummary summary_;
  Window window_ = Window::kBefore;
  bool started_ = false;
  int64_t first_ns_ = 0, first_real_ns_ = 0;
  int64_t last_ns_ = 0;  // since the first event; never decreases
  uint64_t flow_ids_ = 0;
  ThreadStateTracker states_;
  Track phases_;
  std::vector<std::unique_ptr<ThreadData>> threads_;  // in the order first seen
  absl::flat_hash_map<uint64_t, size_t> index_;       // thread id -> index in threads_
  absl::flat_hash_map<uint64_t, std::string> task_names_;
  absl::flat_hash_map<uint64_t, uint64_t> task_thread_;  // task -> the thread it ran on last
  absl::flat_hash_map<uint64_t, PendingWake> wakes_;     // woken tasks not started since
  std::map<uint64_t, OpenUserTask> user_tasks_;          // ordered: deterministic output
  std::vector<uint64_t> affected_;                       // threads whose state may change
};

absl::Status TimelineWriter::Run(format::TraceReader* reader) {
  w_.raw() = "{\"traceEvents\":[\n";
  std::string name;
  format::AppendJsonString(options_.process_name, &name);
  w_.Metadata(0, "process_name", "name", name);
  bool more = true;
  while (more) {
    absl::StatusOr<std::shared_ptr<const Generation>> next = reader->Next();
    if (!next.ok()) return next.status();
    if (*next == nullptr) break;
    const Generation& gen = **next;
    for (const format::LossRecord& l : gen.losses) summary_.lost_events += l.count;
    for (const format::TaskState& t : gen.tasks) {
      if (t.name != 0) task_names_.try_emplace(t.id, gen.String(t.name));
    }
    for (const format::ThreadInfo& t : gen.threads) {  // renamed threads
      ThreadData* td = Find(t.id);
      if (td == nullptr || td->name == gen.String(t.name)) continue;
      SetName(*td, gen.String(t.name));
      for (Track* track : {&td->state, &td->regions}) {
        if (track->named) {
          track->named = false;
          w_.Named(*track);
        }
      }
    }
    format::MergedGenerationReader events(gen);
    while (const Event* e = events.Next()) {
      more = Handle(gen, *e);
      if (!w_.status().ok()) return w_.status();
      if (!more) break;
    }
    if (!events.status().ok()) return events.status();
    if (more) Losses(gen);
  }
  if (window_ == Window::kOpen) CloseWindow(last_ns_, "trace");
  w_.raw() += "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"generator\":\"tracetool timeline\"";
  absl::StrAppend(&w_.raw(), ",\"first_event_mono_ns\":", first_ns_,
                  ",\"first_event_real_ns\":", first_real_ns_,
                  ",\"window_from_ns\":", options_.from_ns, ",\"window_to_ns\":");
  if (options_.to_ns == kTimelineNoEnd) {
    w_.raw() += "null";
  } else {
    absl::StrAppend(&w_.raw(), options_.to_ns);
  }
  absl::StrAppend(&w_.raw(), ",\"trace_events_read\":", summary_.events,
                  ",\"lost_events\":", summary_.lost_events, ",\"flows\":", summary_.flows,
                  ",\"span_ns\":", last_ns_, "}}\n");
  w_.Flush();
  summary_.json_events = w_.entries();
  summary_.slices = w_.slices();
  summary_.bytes = w_.bytes();
  summary_.span_ns = last_ns_;
  return w_.status();
}

bool TimelineWriter::Handle(const Generation& gen, const Event& e) {
  const int64_t mono = gen.TickToMonoNs(e.tick);
  if (!started_) {
    started_ = true;
    first_ns_ = mono;
    first_real_ns_ = gen.TickToRealNs(e.tick);
  }
  const int64_t now = std::max(last_ns_, Since(mono));
  last_ns_ = now;
  ++summary_.events;
  if (window_ == Window::kBefore && now >= options_.from_ns) OpenWindow();
  if (window_ == Window::kOpen && options_.to_ns != kTimelineNoEnd && now > options_.to_ns) {
    CloseWindow(options_.to_ns, "window");
    return false;
  }
  const bool in_window = window_ == Window::kOpen;

  ThreadData& td = Thread(gen, e.thread);
  if (e.type != EventType::kThreadStop) td.exited = false;
  const ThreadStateTracker::Thread& t = states_.Apply(e, now);
  affected_.assign(1, e.thread);
  bool all = false;
  uint64_t started = 0;
  const uint64_t task = e.args[kTask];
  switch (e.type) {
    case EventType::kThreadStop:
      w_.CloseAll(td.regions, now, ",\"open_at_end\":\"thread exit\"");
      w_.CloseAll(td.state, now, {});
      td.exited = true;
      break;
    case EventType::kTaskCreate:
      if (e.args[kCreateName] != 0)
        task_names_[task] = std::string(gen.String(e.args[kCreateName]));
      break;
    case EventType::kTaskStart:
    case EventType::kTaskBlock:
      if (td.running_task != task) {
        if (td.running_task != 0) Detach(td.running_task);
        Detach(task);
        td.running_task = task;
        task_thread_[task] = td.id;
      }
      if (e.type == EventType::kTaskStart) {
        started = task;
        break;
      }
      td.block_args.clear();
      AddArg(&td.block_args, "object", absl::StrFormat("%#x", e.args[kBlockObject]));
      AddStackArg(&td.block_args, gen, e.args[kBlockStack], options_.symbolizer);
      break;
    case EventType::kTaskUnblock:
      wakes_[task] = {now, td.id, e.args[kUnblockWaker]};
      if (auto it = task_thread_.find(task); it != task_thread_.end()) {
        affected_.push_back(it->second);
      }
      break;
    case EventType::kTaskYield:
      Detach(task);
      break;
    case EventType::kTaskEnd:
      Detach(task);
      task_names_.erase(task);
      wakes_.erase(task);
      break;
    case EventType::kSyscallBegin: {
      NamedEntry s{std::string(gen.String(e.args[kSyscallName])), {}};
      AddStackArg(&s.args, gen, e.args[kSyscallStack], options_.symbolizer);
      td.syscalls.push_back(std::move(s));
      break;
    }
    case EventType::kSyscallEnd:
      if (!td.syscalls.empty()) td.syscalls.pop_back();
      break;
    case EventType::kPhaseBegin: {
      const uint64_t flags = e.args[kPhaseFlags];
      const std::string name(gen.String(e.args[kPhaseName]));
      const bool stw = (flags & format::kPhaseStopTheWorld) != 0;
      if (flags & format::kPhaseThreadScoped) {
        td.phases.push_back({name, {}, false});
        break;
      }
      Slice s{name, "phase", {}, td.id, stw};
      AddArg(&s.args, "stop_the_world", stw ? "yes" : "no");
      AddNumArg(&s.args, "thread", td.id);
      w_.Begin(phases_, std::move(s), now);
      if (stw) {
        td.phases.push_back({name, {}, true});
        all = true;
      }
      break;
    }
    case EventType::kPhaseEnd:
      all = PhaseEnd(td, gen.String(e.args[kPhaseName]), now);
      break;
    case EventType::kUserTaskBegin: {
      OpenUserTask u{std::string(gen.String(e.args[kUserTaskName])), td.state.tid, {}};
      AddNumArg(&u.args, "user_task", task);
      if (e.args[kUserTaskParent] != 0) AddNumArg(&u.args, "parent", e.args[kUserTaskParent]);
      if (in_window) EmitUserTask('b', task, u, now, {});
      user_tasks_[task] = std::move(u);
      break;
    }
    case EventType::kUserTaskEnd:
      if (auto it = user_tasks_.find(task); it != user_tasks_.end()) {
        if (in_window) EmitUserTask('e', task, it->second, now, {});
        user_tasks_.erase(it);
      }
      break;
    case EventType::kRegionBegin: {
      Slice s{std::string(gen.String(e.args[kRegionName])), "region", {}};
      const uint64_t user_task = task != 0 ? task : t.current_user_task;
      if (user_task != 0) AddNumArg(&s.args, "user_task", user_task);
      w_.Begin(td.regions, std::move(s), now);
      break;
    }
    case EventType::kRegionEnd: {
      const absl::string_view name = gen.String(e.args[kRegionName]);
      std::vector<Slice>& open = td.regions.open;
      auto it =
          std::find_if(open.rbegin(), open.rend(), [&](const Slice& s) { return s.name == name; });
      if (it != open.rend()) {
        w_.End(td.regions, std::next(it).base() - open.begin(), now);
      } else if (in_window) {
        w_.EmitInstant(td.regions, absl::StrCat("end of ", name), "region", now,
                    ",\"note\":\"its begin precedes the trace\"");
      }
      break;
    }
    case EventType::kLog:
      if (in_window) {
        const absl::string_view category = gen.String(e.args[kLogCategory]);
        std::string args;
        AddArg(&args, "category", category);
        AddArg(&args, "message", e.bytes);
        const uint64_t user_task = task != 0 ? task : t.current_user_task;
        if (user_task != 0) AddNumArg(&args, "user_task", user_task);
        w_.EmitInstant(td.regions, category.empty() ? "log" : category, "log", now, args);
      }
      break;
    case EventType::kCounter:
      if (in_window) {
        w_.Named(td.state);
        w_.Head(gen.String(e.args[kCounterName]), "counter", "C", td.state.tid, now);
        w_.Tail(absl::StrCat(",\"value\":", static_cast<int64_t>(e.args[kCounterValue])));
      }
      break;
    default:
      break;
  }
  if (all) {
    for (const auto& other : threads_) UpdateState(*other, now);
  } else {
    for (uint64_t id : affected_) {
      if (ThreadData* other = Find(id)) UpdateState(*other, now);
    }
  }
  if (started != 0) Wake(td, started, now);
  return true;
}

ThreadData& TimelineWriter::Thread(const Generation& gen, uint64_t id) {
  auto [it, inserted] = index_.try_emplace(id, threads_.size());
  if (!inserted) return *threads_[it->second];
  auto td = std::make_unique<ThreadData>();
  td->id = id;
  td->state.tid = 2 * it->second + 2;
  td->regions.tid = td->state.tid + 1;
  SetName(*td, gen.ThreadName(id));
  // A task running on it when the generation began (the task table says so).
  for (const format::TaskState& t : gen.tasks) {
    if (t.thread != id || task_thread_.contains(t.id)) continue;
    if (t.status == format::TaskStatus::kRunning || t.status == format::TaskStatus::kSyscall) {
      td->running_task = t.id;
      task_thread_[t.id] = id;
      break;
    }
  }
  threads_.push_back(std::move(td));
  return *threads_.back();
}

void TimelineWriter::Detach(uint64_t task) {
  auto it = task_thread_.find(task);
  if (it == task_thread_.end()) return;
  if (ThreadData* td = Find(it->second); td != nullptr && td->running_task == task) {
    td->running_task = 0;
    affected_.push_back(td->id);
  }
  task_thread_.erase(it);
}

std::string TimelineWriter::TaskLabel(uint64_t task) const {
  auto it = task_names_.find(task);
  if (it == task_names_.end() || it->second.empty()) {
    return options_.speedscope ? std::string("task") : absl::StrCat("task ", task);
  }
  if (options_.speedscope) return it->second;
  return absl::StrCat(it->second, " (task ", task, ")");
}

void TimelineWriter::UpdateState(ThreadData& td, int64_t now) {
  if (td.exited) return;
  const size_t s = states_.StateOf(states_.At(td.id, now));
  const uint64_t task = td.running_task;
  std::string label;
  switch (s) {
    case State(ThreadTimeState::kRunning):
      label = task != 0 ? TaskLabel(task) : "running";
      break;
    case State(ThreadTimeState::kSyscall):
      label = td.syscalls.empty() ? "syscall" : absl::StrCat("syscall ", td.syscalls.back().name);
      break;
    case State(ThreadTimeState::kPhase):
      label = td.phases.empty() ? "phase" : absl::StrCat("phase ", td.phases.back().name);
      break;
    case State(ThreadTimeState::kStopped): {
      auto it = std::find_if(phases_.open.rbegin(), phases_.open.rend(),
                             [](const Slice& p) { return p.stw; });
      label = it == phases_.open.rend() ? "stopped" : absl::StrCat("stopped (", it->name, ")");
      break;
    }
    default:  // runnable, blocked <reason>
      label = TimeStateName(s);
  }
  if (!td.state.open.empty() && td.state_kind == s && td.state_task == task &&
      td.state.open[0].name == label) {
    return;
  }
  Slice slice{std::move(label), "state", {}};
  if (task != 0) {
    AddNumArg(&slice.args, "task", task);
    if (auto it = task_names_.find(task); it != task_names_.end()) {
      AddArg(&slice.args, "task_name", it->second);
    }
  }
  if (s >= State(ThreadTimeState::kBlocked)) slice.args += td.block_args;
  if (auto it = wakes_.find(task); s == State(ThreadTimeState::kRunnable) && it != wakes_.end()) {
    AddNumArg(&slice.args, "woken_by_task", it->second.waker);
  }
  if (s == State(ThreadTimeState::kSyscall) && !td.syscalls.empty()) {
    slice.args += td.syscalls.back().args;
  }
  if (!td.state.open.empty()) w_.End(td.state, 0, now);
  td.state_kind = s;
  td.state_task = task;
  w_.Begin(td.state, std::move(slice), now);
}

void TimelineWriter::Wake(ThreadData& td, uint64_t task, int64_t now) {
  auto it = wakes_.find(task);
  if (it == wakes_.end()) return;
  const PendingWake w = it->second;
  wakes_.erase(it);
  ThreadData* waker = Find(w.thread);
  if (window_ != Window::kOpen || w.ns < options_.from_ns || waker == nullptr) return;
  const uint64_t id = ++flow_ids_;
  w_.Named(waker->state);
  w_.Named(td.state);
  absl::StrAppend(&w_.Head("wakeup", "flow", "s", waker->state.tid, w.ns), ",\"id\":", id);
  w_.Tail({});
  absl::StrAppend(&w_.Head("wakeup", "flow", "f", td.state.tid, now), ",\"bp\":\"e\",\"id\":", id);
  w_.Tail({});
  ++summary_.flows;
}

// A PhaseEnd names its phase: the innermost of that name the thread holds (thread-scoped, or
// a stop-the-world phase it began), else the innermost process-wide one of that name.
bool TimelineWriter::PhaseEnd(ThreadData& td, absl::string_view name, int64_t now) {
  std::vector<Slice>& open = phases_.open;
  auto mine = std::find_if(td.phases.rbegin(), td.phases.rend(),
                           [&](const NamedEntry& p) { return p.name == name; });
  bool owned_stw = false;
  if (mine != td.phases.rend()) {
    owned_stw = mine->stw;
    td.phases.erase(std::next(mine).base());
    if (!owned_stw) return false;
  }
  auto it = std::find_if(open.rbegin(), open.rend(), [&](const Slice& s) {
    return s.name == name && (!owned_stw || (s.stw && s.owner == td.id));
  });
  if (it == open.rend()) return false;
  const bool stw = it->stw;
  w_.End(phases_, std::next(it).base() - open.begin(), now);
  return stw;
}

void TimelineWriter::OpenWindow() {
  window_ = Window::kOpen;
  w_.set_emitting(true);
  const int64_t ts = options_.from_ns;
  constexpr absl::string_view kBefore = ",\"begun_before_window\":true";
  for (const Slice& s : phases_.open) w_.EmitB(phases_, s, ts, kBefore);
  for (const auto& td : threads_) {
    for (Track* track : {&td->state, &td->regions}) {
      for (const Slice& s : track->open) w_.EmitB(*track, s, ts, kBefore);
    }
  }
  for (const auto& [id, u] : user_tasks_) EmitUserTask('b', id, u, ts, kBefore);
}

void TimelineWriter::CloseWindow(int64_t ts, absl::string_view why) {
  const std::string args = absl::StrCat(",\"open_at_end\":\"", why, "\"");
  for (const auto& td : threads_) {
    w_.CloseAll(td->regions, ts, args);
    w_.CloseAll(td->state, ts, args);
  }
  w_.CloseAll(phases_, ts, args);
  for (const auto& [id, u] : user_tasks_) EmitUserTask('e', id, u, ts, args);
  window_ = Window::kClosed;
  w_.set_emitting(false);
}

void TimelineWriter::Losses(const Generation& gen) {
  if (window_ != Window::kOpen) return;
  if (!gen.losses.empty()) w_.Named(phases_);
  for (const format::LossRecord& l : gen.losses) {
    const int64_t ts = std::clamp(Since(gen.TickToMonoNs(l.begin_tick)), options_.from_ns,
                                  std::max(options_.from_ns, last_ns_));
    w_.Head(absl::StrCat("lost ", l.count, " events"), "loss", "i", kPhasesTid, ts) += ",\"s\":\"p\"";
    w_.Tail(absl::StrCat(",\"thread\":", l.thread, ",\"count\":", l.count));
  }
}

void TimelineWriter::EmitUserTask(char ph, uint64_t id, const OpenUserTask& u, int64_t ts,
                                  absl::string_view extra) {
  absl::StrAppend(&w_.Head(u.name, "user_task", absl::string_view(&ph, 1), u.tid, ts), ",\"id\":", id);
  w_.Tail(ph == 'b' ? absl::StrCat(u.args, extra) : std::string(extra));
}

}  // namespace

absl::StatusOr<TimelineSummary> WriteTimeline(format::TraceReader* reader,
                                              const TimelineOptions& options,
                                              const TimelineSink& sink) {
  if (options.from_ns < 0 || (options.to_ns != kTimelineNoEnd && options.to_ns < options.from_ns)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad window [", options.from_ns, ", ", options.to_ns, "] ns"));
  }
  TimelineWriter writer(options, sink);
  if (absl::Status s = writer.Run(reader); !s.ok()) return s;
  return writer.summary();
}

}  // namespace tracer::analysis
