#include "tools/analysis/regions.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "format/event_printer.h"
#include "format/generation.h"
#include "format/merged_generation_reader.h"

namespace tracer::analysis {
namespace {

using format::BlockReason;
using format::Event;
using format::EventType;
using format::Generation;

// Argument positions (FORMAT.md, "Event table"; request_report.cc checks the same ones).
constexpr int kTask = 0;
constexpr int kBlockReason = 1;
constexpr int kPhaseFlags = 1;
constexpr int kUserTaskName = 2;
constexpr int kRegionName = 1;

constexpr size_t State(ThreadTimeState s) { return static_cast<size_t>(s); }

class RegionsBuilder {
 public:
  explicit RegionsBuilder(const RegionsOptions& options) : options_(options) {}

  absl::Status Run(format::TraceReader* reader) {
    for (;;) {
      absl::StatusOr<std::shared_ptr<const Generation>> next = reader->Next();
      if (!next.ok()) return next.status();
      if (*next == nullptr) return absl::OkStatus();
      const Generation& gen = **next;
      for (const format::LossRecord& l : gen.losses) report_.lost_events += l.count;
      for (const format::UserTaskInfo& u : gen.user_tasks) {
        if (u.id != 0 && !user_task_names_.contains(u.id)) {
          user_task_names_[u.id] = std::string(gen.String(u.name));
        }
      }
      format::MergedGenerationReader events(gen);
      while (const Event* e = events.Next()) Handle(gen, *e);
      if (!events.status().ok()) return events.status();
    }
  }

  RegionsReport Finish();

 private:
  struct OpenRegion {
    uint32_t name;  // index in stats_
    uint64_t user_task;
    int64_t begin_ns;
    TimeBreakdown at_begin;  // the thread's cumulative states then
  };
  struct Thread {
    int64_t last_ns = 0;      // cum is up to date to here
    TimeBreakdown cum;        // time in each state since the thread was first seen
    int blocked_reason = -1;  // >= 0: its task is blocked
    uint64_t blocked_task = 0;
    bool runnable = false;
    int syscall_depth = 0;
    int phase_depth = 0;      // thread-scoped phases, and stop-the-world ones it began
    uint64_t current_user_task = 0;
    std::vector<OpenRegion> regions;  // innermost last
  };

  size_t StateOf(const Thread& t) const {
    if (t.blocked_reason >= 0) return State(ThreadTimeState::kBlocked) + t.blocked_reason;
    if (t.runnable) return State(ThreadTimeState::kRunnable);
    if (t.syscall_depth > 0) return State(ThreadTimeState::kSyscall);
    if (t.phase_depth > 0) return State(ThreadTimeState::kPhase);
    if (stw_depth_ > 0) return State(ThreadTimeState::kStopped);
    return State(ThreadTimeState::kRunning);
  }
  // Charges the thread's time since last_ns to its state (before any input of it changes).
  void Advance(Thread& t, int64_t now) {
    if (now > t.last_ns) {
      t.cum.ns[StateOf(t)] += now - t.last_ns;
      t.last_ns = now;
    }
  }
  Thread& ThreadAt(uint64_t id, int64_t now) {
    auto [it, inserted] = threads_.try_emplace(id);
    if (inserted) it->second.last_ns = now;
    Advance(it->second, now);
    return it->second;
  }
  void AdvanceAll(int64_t now) {
    for (auto& [id, t] : threads_) Advance(t, now);
  }

  void Handle(const Generation& gen, const Event& e);
  void RegionBegin(const Generation& gen, const Event& e, Thread& t, int64_t now);
  void RegionEnd(const Generation& gen, const Event& e, Thread& t, int64_t now);
  uint32_t StatsIndex(absl::string_view name);

  const RegionsOptions options_;
  RegionsReport report_;
  bool started_ = false;
  int64_t first_ns_ = 0;
  int stw_depth_ = 0;
  absl::flat_hash_map<uint64_t, Thread> threads_;
  absl::flat_hash_map<uint64_t, uint64_t> blocked_on_;  // blocked task -> its thread
  // Names of the user tasks open now (a name is dropped at the task's end).
  absl::flat_hash_map<uint64_t, std::string> user_task_names_;
  // The stop-the-world phases open now, by the thread that began them (to end them there).
  std::vector<uint64_t> stw_threads_;
  absl::flat_hash_map<std::string, uint32_t> index_;
  std::vector<RegionStats> stats_;
};

uint32_t RegionsBuilder::StatsIndex(absl::string_view name) {
  auto [it, inserted] = index_.try_emplace(std::string(name), static_cast<uint32_t>(stats_.size()));
  if (inserted) {
    stats_.emplace_back();
    stats_.back().name = std::string(name);
  }
  return it->second;
}

void RegionsBuilder::Handle(const Generation& gen, const Event& e) {
  const int64_t now = gen.TickToMonoNs(e.tick);
  if (!started_) {
    started_ = true;
    first_ns_ = now;
  }
  ++report_.events;
  switch (e.type) {
    case EventType::kTaskStart: {
      Thread& t = ThreadAt(e.thread, now);
      if (t.blocked_reason >= 0 || t.runnable) blocked_on_.erase(t.blocked_task);
      t.blocked_reason = -1;
      t.runnable = false;
      break;
    }
    case EventType::kTaskBlock: {
      Thread& t = ThreadAt(e.thread, now);
      t.blocked_reason = static_cast<int>(
          std::min<uint64_t>(e.args[kBlockReason], static_cast<uint64_t>(BlockReason::kOther)));
      t.blocked_task = e.args[kTask];
      t.runnable = false;
      blocked_on_[e.args[kTask]] = e.thread;
      break;
    }
    case EventType::kTaskUnblock: {
      auto it = blocked_on_.find(e.args[kTask]);
      if (it == blocked_on_.end()) break;
      Thread& t = ThreadAt(it->second, now);
      if (t.blocked_task == e.args[kTask] && t.blocked_reason >= 0) {
        t.blocked_reason = -1;
        t.runnable = true;
      }
      break;
    }
    case EventType::kTaskEnd: {
      Thread& t = ThreadAt(e.thread, now);
      if (t.blocked_task == e.args[kTask]) {
        t.blocked_reason = -1;
        t.runnable = false;
      }
      break;
    }
    case EventType::kSyscallBegin:
      ++ThreadAt(e.thread, now).syscall_depth;
      break;
    case EventType::kSyscallEnd: {
      Thread& t = ThreadAt(e.thread, now);
      if (t.syscall_depth > 0) --t.syscall_depth;
      break;
    }
    case EventType::kPhaseBegin: {
      const uint64_t flags = e.args[kPhaseFlags];
      if (flags & format::kPhaseThreadScoped) {
        ++ThreadAt(e.thread, now).phase_depth;
      } else if (flags & format::kPhaseStopTheWorld) {
        ThreadAt(e.thread, now);
        AdvanceAll(now);
        ++stw_depth_;
        ++threads_[e.thread].phase_depth;
        stw_threads_.push_back(e.thread);
      }
      break;
    }
    case EventType::kPhaseEnd: {
      // A PhaseEnd names no flags: it ends the innermost stop-the-world phase its thread began,
      // if any, else the thread's innermost thread-scoped one.
      Thread& t = ThreadAt(e.thread, now);
      auto it = std::find(stw_threads_.rbegin(), stw_threads_.rend(), e.thread);
      if (it != stw_threads_.rend()) {
        AdvanceAll(now);
        stw_threads_.erase(std::next(it).base());
        --stw_depth_;
      }
      if (t.phase_depth > 0) --t.phase_depth;
      break;
    }
    case EventType::kUserTaskBegin:
      user_task_names_[e.args[kTask]] = std::string(gen.String(e.args[kUserTaskName]));
      break;
    case EventType::kUserTaskEnd:
      // Kept until here: a region of the task may still be open on a thread whose current
      // task this was; its name is copied when the region ends, so dropping it now is safe
      // for regions that ended, and the rare region outliving its task shows no name.
      user_task_names_.erase(e.args[kTask]);
      break;
    case EventType::kSetCurrentUserTask:
      ThreadAt(e.thread, now).current_user_task = e.args[kTask];
      break;
    case EventType::kRegionBegin:
      RegionBegin(gen, e, ThreadAt(e.thread, now), now);
      break;
    case EventType::kRegionEnd:
      RegionEnd(gen, e, ThreadAt(e.thread, now), now);
      break;
    default:
      break;
  }
}

void RegionsBuilder::RegionBegin(const Generation& gen, const Event& e, Thread& t, int64_t now) {
  const absl::string_view name = gen.String(e.args[kRegionName]);
  if (!options_.name.empty() && name != options_.name) return;
  const uint64_t user_task = e.args[kTask] != 0 ? e.args[kTask] : t.current_user_task;
  t.regions.push_back({StatsIndex(name), user_task, now, t.cum});
}

void RegionsBuilder::RegionEnd(const Generation& gen, const Event& e, Thread& t, int64_t now) {
  const absl::string_view name = gen.String(e.args[kRegionName]);
  if (!options_.name.empty() && name != options_.name) return;
  for (auto it = t.regions.rbegin(); it != t.regions.rend(); ++it) {
    RegionStats& s = stats_[it->name];
    if (s.name != name) continue;  // the innermost region of that name ends
    RegionInstance r;
    r.begin_ns = it->begin_ns - first_ns_;
    r.duration_ns = now - it->begin_ns;
    r.thread = e.thread;
    r.user_task = it->user_task;
    for (size_t k = 0; k < kNumTimeStates; ++k) {
      r.breakdown.ns[k] = t.cum.ns[k] - it->at_begin.ns[k];
    }
    s.latency.Add(r.duration_ns);
    s.breakdown += r.breakdown;
    // Keep the `top` slowest, slowest first (a short insertion: top is small).
    if (options_.top > 0 &&
        (s.slowest.size() < options_.top || r.duration_ns > s.slowest.back().duration_ns)) {
      if (auto n = user_task_names_.find(r.user_task); n != user_task_names_.end()) {
        r.user_task_name = n->second;
      }
      auto at = std::find_if(s.slowest.begin(), s.slowest.end(), [&](const RegionInstance& o) {
        return o.duration_ns < r.duration_ns;
      });
      s.slowest.insert(at, std::move(r));
      if (s.slowest.size() > options_.top) s.slowest.pop_back();
    }
    t.regions.erase(std::next(it).base());
    return;
  }
  ++report_.ended_before_begin;
}

RegionsReport RegionsBuilder::Finish() {
  for (auto& [id, t] : threads_) {
    for (const OpenRegion& r : t.regions) ++stats_[r.name].incomplete;
  }
  std::sort(stats_.begin(), stats_.end(), [](const RegionStats& a, const RegionStats& b) {
    if (a.latency.sum() != b.latency.sum()) return a.latency.sum() > b.latency.sum();
    return a.name < b.name;
  });
  report_.regions = std::move(stats_);
  return std::move(report_);
}

// "850ns", "12.3us", "3.40ms", "1.25s".
std::string Duration(int64_t ns) {
  const double v = static_cast<double>(ns);
  if (ns < 1000 && ns > -1000) return absl::StrCat(ns, "ns");
  if (ns < 1'000'000 && ns > -1'000'000) return absl::StrFormat("%.1fus", v / 1e3);
  if (ns < 1'000'000'000 && ns > -1'000'000'000) return absl::StrFormat("%.2fms", v / 1e6);
  return absl::StrFormat("%.2fs", v / 1e9);
}

// "blocked mutex 2.00ms (58.8%), running 700.0us (20.6%), ...": the non-zero parts, largest
// first.
std::string BreakdownText(const TimeBreakdown& b) {
  std::vector<size_t> order;
  for (size_t k = 0; k < kNumTimeStates; ++k) {
    if (b.ns[k] != 0) order.push_back(k);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return b.ns[x] > b.ns[y]; });
  const int64_t total = b.total();
  std::string out;
  for (size_t k : order) {
    if (!out.empty()) out += ", ";
    absl::StrAppendFormat(&out, "%s %s (%.1f%%)", TimeStateName(k), Duration(b.ns[k]),
                          total > 0 ? 100.0 * static_cast<double>(b.ns[k]) / total : 0.0);
  }
  return out.empty() ? "(no time)" : out;
}

void AppendBreakdownJson(const TimeBreakdown& b, std::string* out) {
  out->push_back('{');
  bool first = true;
  for (size_t k = 0; k < kNumTimeStates; ++k) {
    if (b.ns[k] == 0) continue;
    if (!first) out->push_back(',');
    first = false;
    format::AppendJsonString(TimeStateName(k), out);
    absl::StrAppend(out, ":", b.ns[k]);
  }
  out->push_back('}');
}

}  // namespace

std::string TimeStateName(size_t state) {
  switch (static_cast<ThreadTimeState>(std::min(state, State(ThreadTimeState::kBlocked)))) {
    case ThreadTimeState::kRunning:
      return "running";
    case ThreadTimeState::kRunnable:
      return "runnable";
    case ThreadTimeState::kSyscall:
      return "syscall";
    case ThreadTimeState::kPhase:
      return "phase";
    case ThreadTimeState::kStopped:
      return "stopped";
    case ThreadTimeState::kBlocked:
      break;
  }
  return absl::StrCat("blocked ", format::BlockReasonName(static_cast<BlockReason>(
                                      state - State(ThreadTimeState::kBlocked))));
}

int64_t TimeBreakdown::total() const {
  int64_t t = 0;
  for (int64_t v : ns) t += v;
  return t;
}

TimeBreakdown& TimeBreakdown::operator+=(const TimeBreakdown& o) {
  for (size_t k = 0; k < kNumTimeStates; ++k) ns[k] += o.ns[k];
  return *this;
}

absl::StatusOr<RegionsReport> ComputeRegions(format::TraceReader* reader,
                                             const RegionsOptions& options) {
  RegionsBuilder builder(options);
  if (absl::Status s = builder.Run(reader); !s.ok()) return s;
  return builder.Finish();
}

std::string FormatRegionsText(const RegionsReport& r) {
  uint64_t complete = 0, incomplete = 0;
  for (const RegionStats& s : r.regions) {
    complete += s.latency.count();
    incomplete += s.incomplete;
  }
  std::string out = absl::StrFormat(
      "regions: %d complete under %d names; %d not ended in the trace, %d ended with their "
      "begin before it\n",
      complete, r.regions.size(), incomplete, r.ended_before_begin);
  if (r.lost_events > 0) {
    absl::StrAppendFormat(&out,
                          "warning: the trace lost %d events (loss records): regions and "
                          "waits among them are not counted\n",
                          r.lost_events);
  }
  for (const RegionStats& s : r.regions) {
    const LatencyHistogram& h = s.latency;
    absl::StrAppendFormat(&out, "\nregion \"%s\": %d complete", s.name, h.count());
    if (s.incomplete > 0) absl::StrAppendFormat(&out, ", %d not ended", s.incomplete);
    out += "\n";
    if (h.count() == 0) continue;
    absl::StrAppendFormat(&out,
                          "  latency  p50 %s  p90 %s  p99 %s  max %s  (total %s, mean %s; "
                          "quantiles within 1%%)\n",
                          Duration(h.Quantile(0.5)), Duration(h.Quantile(0.9)),
                          Duration(h.Quantile(0.99)), Duration(h.max()), Duration(h.sum()),
                          Duration(static_cast<int64_t>(h.mean())));
    out += h.Text();
    absl::StrAppendFormat(&out, "  where the time went: %s\n", BreakdownText(s.breakdown));
    if (!s.slowest.empty()) out += "  slowest:\n";
    for (const RegionInstance& i : s.slowest) {
      absl::StrAppendFormat(&out, "    %9s  at +%s on T%d", Duration(i.duration_ns),
                            Duration(i.begin_ns), i.thread);
      if (i.user_task != 0) {
        absl::StrAppendFormat(&out, ", user task %d", i.user_task);
        if (!i.user_task_name.empty()) absl::StrAppendFormat(&out, " \"%s\"", i.user_task_name);
      }
      absl::StrAppendFormat(&out, ": %s\n", BreakdownText(i.breakdown));
    }
  }
  return out;
}

std::string FormatRegionsJson(const RegionsReport& r) {
  std::string out = absl::StrCat("{\"events\":", r.events, ",\"lost_events\":", r.lost_events,
                                 ",\"ended_before_begin\":", r.ended_before_begin,
                                 ",\"regions\":[");
  for (size_t n = 0; n < r.regions.size(); ++n) {
    const RegionStats& s = r.regions[n];
    const LatencyHistogram& h = s.latency;
    if (n > 0) out += ',';
    out += "{\"name\":";
    format::AppendJsonString(s.name, &out);
    absl::StrAppend(&out, ",\"count\":", h.count(), ",\"incomplete\":", s.incomplete,
                    ",\"total_ns\":", h.sum(), ",\"min_ns\":", h.min(),
                    ",\"p50_ns\":", h.Quantile(0.5), ",\"p90_ns\":", h.Quantile(0.9),
                    ",\"p99_ns\":", h.Quantile(0.99), ",\"max_ns\":", h.max(),
                    ",\"breakdown_ns\":");
    AppendBreakdownJson(s.breakdown, &out);
    out += ",\"slowest\":[";
    for (size_t k = 0; k < s.slowest.size(); ++k) {
      const RegionInstance& i = s.slowest[k];
      if (k > 0) out += ',';
      absl::StrAppend(&out, "{\"begin_ns\":", i.begin_ns, ",\"duration_ns\":", i.duration_ns,
                      ",\"thread\":", i.thread, ",\"user_task\":", i.user_task,
                      ",\"user_task_name\":");
      format::AppendJsonString(i.user_task_name, &out);
      out += ",\"breakdown_ns\":";
      AppendBreakdownJson(i.breakdown, &out);
      out += '}';
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

}  // namespace tracer::analysis
