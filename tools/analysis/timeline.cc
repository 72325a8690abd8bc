#include "tools/analysis/timeline.h"

#include <algorithm>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "format/event_table.h"
#include "format/generation.h"
#include "format/merged_generation_reader.h"
#include "tools/analysis/stacks.h"
#include "tools/analysis/thread_states.h"

namespace tracer::analysis {
namespace {

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

// Microseconds with nanosecond precision. REQUIRES: ns >= 0.
void AppendTs(int64_t ns, std::string* out) {
  absl::StrAppendFormat(out, "%d.%03d", ns / 1000, ns % 1000);
}

// Args are kept as `,"key":value` items (Tail makes them an object).
void AddArg(std::string* args, absl::string_view key, absl::string_view text) {
  absl::StrAppend(args, ",\"", key, "\":");
  AppendTimelineJsonString(text, args);
}
void AddNumArg(std::string* args, absl::string_view key, uint64_t v) {
  absl::StrAppend(args, ",\"", key, "\":", v);
}
void AddStackArg(std::string* args, const Generation& gen, uint64_t stack,
                 Symbolizer* symbolizer) {
  const std::vector<std::string> frames = StackText(gen, stack, symbolizer);
  if (frames.empty()) return;
  *args += ",\"stack\":[";
  for (size_t i = 0; i < frames.size(); ++i) {
    if (i > 0) args->push_back(',');
    AppendTimelineJsonString(frames[i], args);
  }
  args->push_back(']');
}

// One open slice of a track.
struct Slice {
  std::string name;
  const char* cat = "";
  std::string args;    // `,"key":value` items
  uint64_t owner = 0;  // a phase: the thread that began it
  bool stw = false;    // a stop-the-world phase
  bool continued = false;
};

// One tid: its open slices, outermost first.
struct Track {
  uint64_t tid = 0;
  std::string name;
  bool named = false;  // its thread_name metadata was written
  std::vector<Slice> open;
};

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
      : options_(options), sink_(sink) {
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

  void Begin(Track& track, Slice slice, int64_t now);
  // Ends the slice at `i` and every slice inside it, then begins those again, continued.
  void End(Track& track, size_t i, int64_t now, absl::string_view end_args = {});
  // Ends every open slice of the track, `end_args` on each "E".
  void CloseAll(Track& track, int64_t now, absl::string_view end_args);
  void EmitB(Track& track, const Slice& s, int64_t ts, absl::string_view extra);
  void EmitE(Track& track, const Slice& s, int64_t ts, absl::string_view extra);
  void EmitInstant(Track& track, absl::string_view name, const char* cat, int64_t ts,
                   absl::string_view args);
  void EmitUserTask(char ph, uint64_t id, const OpenUserTask& u, int64_t ts,
                    absl::string_view extra);
  void Named(Track& track);
  void Metadata(uint64_t tid, absl::string_view what, absl::string_view arg_key,
                absl::string_view arg_json);
  // Starts a traceEvents entry: {"name":…,"cat":…,"ph":…,"pid":1,"tid":…,"ts":… (the caller
  // may append fields); Tail() ends it with `args` (`,"key":value` items; none: no "args")
  // and hands a full chunk to the sink.
  std::string& Head(absl::string_view name, absl::string_view cat, absl::string_view ph,
                    uint64_t tid, int64_t ts);
  void Tail(absl::string_view args);
  void Flush();

  const TimelineOptions& options_;
  const TimelineSink& sink_;
  absl::Status status_;  // the sink's first error
  std::string out_;
  uint64_t entries_ = 0;
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
  out_ = "{\"traceEvents\":[\n";
  std::string name;
  AppendTimelineJsonString(options_.process_name, &name);
  Metadata(0, "process_name", "name", name);
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
          Named(*track);
        }
      }
    }
    format::MergedGenerationReader events(gen);
    while (const Event* e = events.Next()) {
      more = Handle(gen, *e);
      if (!status_.ok()) return status_;
      if (!more) break;
    }
    if (!events.status().ok()) return events.status();
    if (more) Losses(gen);
  }
  if (window_ == Window::kOpen) CloseWindow(last_ns_, "trace");
  out_ += "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"generator\":\"tracetool timeline\"";
  absl::StrAppend(&out_, ",\"first_event_mono_ns\":", first_ns_,
                  ",\"first_event_real_ns\":", first_real_ns_,
                  ",\"window_from_ns\":", options_.from_ns, ",\"window_to_ns\":");
  if (options_.to_ns == kTimelineNoEnd) {
    out_ += "null";
  } else {
    absl::StrAppend(&out_, options_.to_ns);
  }
  absl::StrAppend(&out_, ",\"trace_events_read\":", summary_.events,
                  ",\"lost_events\":", summary_.lost_events, ",\"flows\":", summary_.flows,
                  ",\"span_ns\":", last_ns_, "}}\n");
  Flush();
  summary_.json_events = entries_;
  summary_.span_ns = last_ns_;
  return status_;
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
      CloseAll(td.regions, now, ",\"open_at_end\":\"thread exit\"");
      CloseAll(td.state, now, {});
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
      Begin(phases_, std::move(s), now);
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
      Begin(td.regions, std::move(s), now);
      break;
    }
    case EventType::kRegionEnd: {
      const absl::string_view name = gen.String(e.args[kRegionName]);
      std::vector<Slice>& open = td.regions.open;
      auto it =
          std::find_if(open.rbegin(), open.rend(), [&](const Slice& s) { return s.name == name; });
      if (it != open.rend()) {
        End(td.regions, std::next(it).base() - open.begin(), now);
      } else if (in_window) {
        EmitInstant(td.regions, absl::StrCat("end of ", name), "region", now,
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
        EmitInstant(td.regions, category.empty() ? "log" : category, "log", now, args);
      }
      break;
    case EventType::kCounter:
      if (in_window) {
        Named(td.state);
        Head(gen.String(e.args[kCounterName]), "counter", "C", td.state.tid, now);
        Tail(absl::StrCat(",\"value\":", static_cast<int64_t>(e.args[kCounterValue])));
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
  if (!td.state.open.empty()) End(td.state, 0, now);
  td.state_kind = s;
  td.state_task = task;
  Begin(td.state, std::move(slice), now);
}

void TimelineWriter::Wake(ThreadData& td, uint64_t task, int64_t now) {
  auto it = wakes_.find(task);
  if (it == wakes_.end()) return;
  const PendingWake w = it->second;
  wakes_.erase(it);
  ThreadData* waker = Find(w.thread);
  if (window_ != Window::kOpen || w.ns < options_.from_ns || waker == nullptr) return;
  const uint64_t id = ++flow_ids_;
  Named(waker->state);
  Named(td.state);
  absl::StrAppend(&Head("wakeup", "flow", "s", waker->state.tid, w.ns), ",\"id\":", id);
  Tail({});
  absl::StrAppend(&Head("wakeup", "flow", "f", td.state.tid, now), ",\"bp\":\"e\",\"id\":", id);
  Tail({});
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
  End(phases_, std::next(it).base() - open.begin(), now);
  return stw;
}

void TimelineWriter::OpenWindow() {
  window_ = Window::kOpen;
  const int64_t ts = options_.from_ns;
  constexpr absl::string_view kBefore = ",\"begun_before_window\":true";
  for (const Slice& s : phases_.open) EmitB(phases_, s, ts, kBefore);
  for (const auto& td : threads_) {
    for (Track* track : {&td->state, &td->regions}) {
      for (const Slice& s : track->open) EmitB(*track, s, ts, kBefore);
    }
  }
  for (const auto& [id, u] : user_tasks_) EmitUserTask('b', id, u, ts, kBefore);
}

void TimelineWriter::CloseWindow(int64_t ts, absl::string_view why) {
  const std::string args = absl::StrCat(",\"open_at_end\":\"", why, "\"");
  for (const auto& td : threads_) {
    CloseAll(td->regions, ts, args);
    CloseAll(td->state, ts, args);
  }
  CloseAll(phases_, ts, args);
  for (const auto& [id, u] : user_tasks_) EmitUserTask('e', id, u, ts, args);
  window_ = Window::kClosed;
}

void TimelineWriter::Losses(const Generation& gen) {
  if (window_ != Window::kOpen) return;
  if (!gen.losses.empty()) Named(phases_);
  for (const format::LossRecord& l : gen.losses) {
    const int64_t ts = std::clamp(Since(gen.TickToMonoNs(l.begin_tick)), options_.from_ns,
                                  std::max(options_.from_ns, last_ns_));
    Head(absl::StrCat("lost ", l.count, " events"), "loss", "i", kPhasesTid, ts) += ",\"s\":\"p\"";
    Tail(absl::StrCat(",\"thread\":", l.thread, ",\"count\":", l.count));
  }
}

void TimelineWriter::Begin(Track& track, Slice slice, int64_t now) {
  track.open.push_back(std::move(slice));
  if (window_ == Window::kOpen) EmitB(track, track.open.back(), now, {});
}

void TimelineWriter::End(Track& track, size_t i, int64_t now, absl::string_view end_args) {
  std::vector<Slice>& open = track.open;
  if (window_ == Window::kOpen) {
    for (size_t j = open.size(); j-- > i;) EmitE(track, open[j], now, j == i ? end_args : "");
  }
  std::vector<Slice> inner(std::make_move_iterator(open.begin() + i + 1),
                           std::make_move_iterator(open.end()));
  open.resize(i);
  for (Slice& s : inner) {
    s.continued = true;
    Begin(track, std::move(s), now);
  }
}

void TimelineWriter::CloseAll(Track& track, int64_t now, absl::string_view end_args) {
  if (window_ == Window::kOpen) {
    for (size_t j = track.open.size(); j-- > 0;) EmitE(track, track.open[j], now, end_args);
  }
  track.open.clear();
}

void TimelineWriter::EmitB(Track& track, const Slice& s, int64_t ts, absl::string_view extra) {
  Named(track);
  Head(s.name, s.cat, "B", track.tid, ts);
  if (options_.speedscope) {
    Tail({});
  } else {
    Tail(absl::StrCat(s.args, s.continued ? ",\"continued\":true" : "", extra));
  }
  ++summary_.slices;
}

void TimelineWriter::EmitE(Track& track, const Slice& s, int64_t ts, absl::string_view extra) {
  Head(s.name, s.cat, "E", track.tid, ts);
  Tail(options_.speedscope ? absl::string_view() : extra);
}

void TimelineWriter::EmitInstant(Track& track, absl::string_view name, const char* cat, int64_t ts,
                                 absl::string_view args) {
  Named(track);
  Head(name, cat, "i", track.tid, ts) += ",\"s\":\"t\"";
  Tail(args);
}

void TimelineWriter::EmitUserTask(char ph, uint64_t id, const OpenUserTask& u, int64_t ts,
                                  absl::string_view extra) {
  absl::StrAppend(&Head(u.name, "user_task", absl::string_view(&ph, 1), u.tid, ts), ",\"id\":", id);
  Tail(ph == 'b' ? absl::StrCat(u.args, extra) : std::string(extra));
}

std::string& TimelineWriter::Head(absl::string_view name, absl::string_view cat,
                                  absl::string_view ph, uint64_t tid, int64_t ts) {
  if (entries_++ > 0) out_ += ",\n";
  out_ += "{\"name\":";
  AppendTimelineJsonString(name, &out_);
  absl::StrAppend(&out_, ",\"cat\":\"", cat, "\",\"ph\":\"", ph, "\",\"pid\":1,\"tid\":", tid,
                  ",\"ts\":");
  AppendTs(ts, &out_);
  return out_;
}

void TimelineWriter::Tail(absl::string_view args) {
  if (!args.empty()) absl::StrAppend(&out_, ",\"args\":{", args.substr(1), "}");
  out_ += '}';
  if (out_.size() >= options_.chunk_bytes) Flush();
}

void TimelineWriter::Named(Track& track) {
  if (track.named) return;
  track.named = true;
  std::string name;
  AppendTimelineJsonString(track.name, &name);
  Metadata(track.tid, "thread_name", "name", name);
  Metadata(track.tid, "thread_sort_index", "sort_index", absl::StrCat(track.tid));
}

void TimelineWriter::Metadata(uint64_t tid, absl::string_view what, absl::string_view arg_key,
                              absl::string_view arg_json) {
  if (entries_++ > 0) out_ += ",\n";
  absl::StrAppend(&out_, "{\"name\":\"", what, "\",\"ph\":\"M\",\"pid\":1,\"tid\":", tid,
                  ",\"args\":{\"", arg_key, "\":", arg_json, "}}");
  if (out_.size() >= options_.chunk_bytes) Flush();
}

void TimelineWriter::Flush() {
  if (out_.empty() || !status_.ok()) return;
  status_ = sink_(out_);
  summary_.bytes += out_.size();
  out_.clear();
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

void AppendTimelineJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          *out += "\\\"";
          break;
        case '\\':
          *out += "\\\\";
          break;
        case '\n':
          *out += "\\n";
          break;
        case '\r':
          *out += "\\r";
          break;
        case '\t':
          *out += "\\t";
          break;
        default:
          if (c < 0x20) {
            absl::StrAppendFormat(out, "\\u%04x", c);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // A well-formed sequence is copied; each byte of anything else becomes U+FFFD.
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4, cp = c & 0x07, min = 0x10000;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const unsigned char b = static_cast<unsigned char>(s[i + k]);
      ok = (b & 0xc0) == 0x80;
      cp = (cp << 6) | (b & 0x3f);
    }
    ok = ok && cp >= min && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    if (ok) {
      out->append(s.data() + i, len);
      i += len;
    } else {
      *out += "\xef\xbf\xbd";
      ++i;
    }
  }
  out->push_back('"');
}

}  // namespace tracer::analysis
