#include "tools/analysis/thread_states.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "format/event_printer.h"
#include "tools/analysis/histogram.h"

namespace tracer::analysis {
namespace {

using format::BlockReason;
using format::EventType;

// Argument positions (FORMAT.md, "Event table"; request_report.cc checks the same ones).
constexpr int kTask = 0;
constexpr int kBlockReason = 1;
constexpr int kPhaseFlags = 1;

constexpr size_t State(ThreadTimeState s) { return static_cast<size_t>(s); }

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

TimeBreakdown TimeBreakdown::operator-(const TimeBreakdown& o) const {
  TimeBreakdown d;
  for (size_t k = 0; k < kNumTimeStates; ++k) d.ns[k] = ns[k] - o.ns[k];
  return d;
}

size_t ThreadStateTracker::StateOf(const Thread& t) const {
  if (t.blocked_reason >= 0) return State(ThreadTimeState::kBlocked) + t.blocked_reason;
  if (t.runnable) return State(ThreadTimeState::kRunnable);
  if (t.syscall_depth > 0) return State(ThreadTimeState::kSyscall);
  if (t.phase_depth > 0) return State(ThreadTimeState::kPhase);
  if (stw_depth_ > 0) return State(ThreadTimeState::kStopped);
  return State(ThreadTimeState::kRunning);
}

ThreadStateTracker::Thread* ThreadStateTracker::Find(uint64_t id, int64_t now) {
  auto [it, inserted] = threads_.try_emplace(id);
  if (inserted) it->second.last_ns = now;
  cache_[id % kCacheSlots] = {id, &it->second};
  return &it->second;
}

void ThreadStateTracker::AdvanceAll(int64_t now) {
  for (auto& [id, t] : threads_) Advance(t, now);
}

ThreadStateTracker::Thread& ThreadStateTracker::Apply(const format::Event& e, int64_t now) {
  switch (e.type) {
    case EventType::kTaskStart: {
      Thread& t = At(e.thread, now);
      if (t.blocked_reason >= 0 || t.runnable) blocked_on_.erase(t.blocked_task);
      t.blocked_reason = -1;
      t.runnable = false;
      return t;
    }
    case EventType::kTaskBlock: {
      Thread& t = At(e.thread, now);
      t.blocked_reason = static_cast<int>(
          std::min<uint64_t>(e.args[kBlockReason], static_cast<uint64_t>(BlockReason::kOther)));
      t.blocked_task = e.args[kTask];
      t.runnable = false;
      blocked_on_[e.args[kTask]] = e.thread;
      return t;
    }
    case EventType::kTaskUnblock: {
      if (auto it = blocked_on_.find(e.args[kTask]); it != blocked_on_.end()) {
        Thread& t = At(it->second, now);
        if (t.blocked_task == e.args[kTask] && t.blocked_reason >= 0) {
          t.blocked_reason = -1;
          t.runnable = true;
        }
      }
      return At(e.thread, now);
    }
    case EventType::kTaskEnd: {
      Thread& t = At(e.thread, now);
      if (t.blocked_task == e.args[kTask]) {
        t.blocked_reason = -1;
        t.runnable = false;
      }
      return t;
    }
    case EventType::kSyscallBegin: {
      Thread& t = At(e.thread, now);
      ++t.syscall_depth;
      return t;
    }
    case EventType::kSyscallEnd: {
      Thread& t = At(e.thread, now);
      if (t.syscall_depth > 0) --t.syscall_depth;
      return t;
    }
    case EventType::kPhaseBegin: {
      Thread& t = At(e.thread, now);
      const uint64_t flags = e.args[kPhaseFlags];
      if (flags & format::kPhaseThreadScoped) {
        ++t.phase_depth;
      } else if (flags & format::kPhaseStopTheWorld) {
        AdvanceAll(now);
        ++stw_depth_;
        ++t.phase_depth;
        stw_threads_.push_back(e.thread);
      }
      return t;
    }
    case EventType::kPhaseEnd: {
      // A PhaseEnd names no flags: it ends the innermost stop-the-world phase its thread began,
      // if any, else the thread's innermost thread-scoped one.
      Thread& t = At(e.thread, now);
      auto it = std::find(stw_threads_.rbegin(), stw_threads_.rend(), e.thread);
      if (it != stw_threads_.rend()) {
        AdvanceAll(now);
        stw_threads_.erase(std::next(it).base());
        --stw_depth_;
      }
      if (t.phase_depth > 0) --t.phase_depth;
      return t;
    }
    case EventType::kSetCurrentUserTask: {
      Thread& t = At(e.thread, now);
      t.current_user_task = e.args[kTask];
      return t;
    }
    default:
      return At(e.thread, now);
  }
}

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
    absl::StrAppendFormat(&out, "%s %s (%.1f%%)", TimeStateName(k), DurationText(b.ns[k]),
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

}  // namespace tracer::analysis
