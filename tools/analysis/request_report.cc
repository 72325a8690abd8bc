#include "tools/analysis/request_report.h"

#include <algorithm>
#include <cassert>
#include <functional>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "format/byte_source.h"
#include "format/generation.h"
#include "tools/analysis/event_pass.h"
#include "format/trace_reader.h"

namespace tracer::analysis {
namespace {

using format::BlockReason;
using format::Event;
using format::EventType;
using format::Generation;

// Argument positions, in the event table's order (FORMAT.md, "Event table"), which never
// changes within a major version; ArgPositionsMatchTheTable checks them once per build.
constexpr int kTask = 0;  // every event with a `task` argument has it first
constexpr int kBlockReason = 1, kBlockObject = 2, kBlockStack = 3;  // TaskBlock
constexpr int kUnblockWaker = 2, kUnblockStack = 4;                 // TaskUnblock
constexpr int kSyscallName = 0;                                     // SyscallBegin
constexpr int kPhaseName = 0, kPhaseFlags = 1;                      // PhaseBegin, PhaseEnd
constexpr int kUserTaskName = 2;                                    // UserTaskBegin
constexpr int kRegionName = 1;                                      // RegionBegin, RegionEnd

bool ArgIs(EventType type, int i, absl::string_view name) {
  const format::EventSpec& spec = format::GetEventSpec(type);
  return i < spec.num_args && name == spec.args[i].name;
}

[[maybe_unused]] bool ArgPositionsMatchTheTable() {
  return ArgIs(EventType::kTaskBlock, kTask, "task") &&
         ArgIs(EventType::kTaskBlock, kBlockReason, "reason") &&
         ArgIs(EventType::kTaskBlock, kBlockObject, "object") &&
         ArgIs(EventType::kTaskBlock, kBlockStack, "stack") &&
         ArgIs(EventType::kTaskUnblock, kUnblockWaker, "waker") &&
         ArgIs(EventType::kTaskUnblock, kUnblockStack, "stack") &&
         ArgIs(EventType::kSyscallBegin, kSyscallName, "name") &&
         ArgIs(EventType::kPhaseBegin, kPhaseName, "name") &&
         ArgIs(EventType::kPhaseBegin, kPhaseFlags, "flags") &&
         ArgIs(EventType::kPhaseEnd, kPhaseName, "name") &&
         ArgIs(EventType::kUserTaskBegin, kUserTaskName, "name") &&
         ArgIs(EventType::kRegionBegin, kRegionName, "name") &&
         ArgIs(EventType::kRegionEnd, kRegionName, "name");
}

// The function names of a stack of `gen`, innermost first; "0x<pc>" for a frame with no name.
std::vector<std::string> FunctionNames(const Generation& gen, uint64_t stack_id) {
  std::vector<std::string> out;
  const format::Stack* stack = gen.FindStack(stack_id);
  if (stack == nullptr) return out;
  out.reserve(stack->frames.size());
  for (const format::Frame& f : stack->frames) {
    const absl::string_view name = gen.String(f.func);
    out.push_back(name.empty() ? absl::StrFormat("0x%x", f.pc) : std::string(name));
  }
  return out;
}

bool IsMutexWait(BlockReason r) { return r == BlockReason::kMutex || r == BlockReason::kRwMutex; }

// Nearest rank: the ceil(p/100 * n)-th smallest. REQUIRES: `sorted` non-empty and sorted.
int64_t Percentile(const std::vector<int64_t>& sorted, size_t p) {
  const size_t rank = std::max<size_t>(1, (sorted.size() * p + 99) / 100);
  return sorted[rank - 1];
}

// Function lists interned by value, so sites from different generations (whose stack ids
// differ) meet. One entry per distinct list.
class FramesTable {
 public:
  uint32_t Intern(std::vector<std::string> frames) {
    auto it = index_.find(frames);
    if (it != index_.end()) return it->second;
    const auto id = static_cast<uint32_t>(lists_.size());
    lists_.push_back(frames);
    index_.emplace(std::move(frames), id);
    return id;
  }
  const std::vector<std::string>& Get(uint32_t id) const { return lists_[id]; }

 private:
  std::vector<std::vector<std::string>> lists_;
  absl::flat_hash_map<std::vector<std::string>, uint32_t> index_;
};

struct SiteTotals {
  uint64_t count = 0;
  int64_t total_ns = 0;
  int64_t max_ns = 0;
  void Add(int64_t ns) {
    ++count;
    total_ns += ns;
    max_ns = std::max(max_ns, ns);
  }
};

// One streaming pass. With a target (a user task id), it also collects the target's timeline.
// Not thread-safe; one Run per builder.
class ReportBuilder {
 public:
  ReportBuilder(const RequestReportOptions& options, uint64_t target, bool target_is_slowest)
      : options_(options), target_(target) {
    assert(ArgPositionsMatchTheTable());
    empty_frames_ = frames_.Intern({});
    timeline_.slowest = target_is_slowest;
  }

  absl::Status Run(format::TraceReader* reader) {
    return ForEachEvent(
        reader, [&](const Generation& gen) { BeginGeneration(gen); },
        [&](const Generation& gen, const Event& e) { Handle(gen, e); });
  }

  bool has_slowest() const { return has_slowest_; }
  uint64_t slowest() const { return slowest_; }
  bool target_begun() const { return target_begun_; }

  // The report. REQUIRES: Run returned OK. Consumes the builder.
  RequestReport Finish();

 private:
  struct OpenUserTask {
    uint32_t type = 0;
    int64_t begin_ns = 0;
    bool begin_seen = false;  // false: named by a user-task table, begun before the trace
  };
  struct OpenRegion {
    std::string name;
    uint64_t user_task = 0;
    int64_t begin_ns = 0;
    bool for_target = false;
  };
  struct ThreadState {
    uint64_t current_user_task = 0;   // the last SetCurrentUserTask
    std::vector<OpenRegion> regions;  // innermost last
    bool in_target_syscall = false;
    TimelineSpan syscall;  // when in_target_syscall
  };
  struct PendingWait {
    BlockReason reason = BlockReason::kUnknown;
    int64_t block_ns = 0;
    uint32_t site = 0;          // frames id of the TaskBlock stack
    uint32_t waker_frames = 0;  // frames id of the TaskUnblock stack
    bool unblocked = false;
    bool for_request = false;  // blocked while its thread worked for a user task
    int64_t timeline = -1;  // index in timeline_.waits, if on the target's behalf
  };
  struct OpenPhase {
    std::string name;
    uint64_t thread = 0;  // 0: process-wide
    int64_t begin_ns = 0;
    bool stw = false;
  };
  struct TypeTotals {
    std::string name;
    std::vector<int64_t> durations;
    uint64_t incomplete = 0;
  };

  void BeginGeneration(const Generation& gen);
  void Handle(const Generation& gen, const Event& e);
  void UserTaskBegin(const Generation& gen, const Event& e, int64_t now);
  void UserTaskEnd(const Event& e, int64_t now);
  void RegionEnd(const Generation& gen, const Event& e, int64_t now);
  void TaskBlock(const Generation& gen, const Event& e, int64_t now);
  void TaskUnblock(const Generation& gen, const Event& e, int64_t now);
  void TaskStart(const Event& e, int64_t now);
  void PhaseEnd(const Generation& gen, const Event& e, int64_t now);
  // Ends what the thread held open for the target, as not ended at `now`.
  void FlushThread(uint64_t id, ThreadState& t, int64_t now);

  uint32_t TypeOf(absl::string_view name);
  // The top options_.top_n of a sites map, as RequestReport::blocking_sites ranks them.
  std::vector<BlockingSite> RankSites(const absl::flat_hash_map<uint64_t, SiteTotals>& sites);
  // Frames id of a stack's site key; cached per generation (stack ids are per generation).
  uint32_t SiteOf(const Generation& gen, uint64_t stack);
  // The user task the thread works for (see the header's Attribution).
  static uint64_t WorkingFor(const ThreadState& t) {
    if (t.current_user_task != 0) return t.current_user_task;
    for (auto it = t.regions.rbegin(); it != t.regions.rend(); ++it) {
      if (it->user_task != 0) return it->user_task;
    }
    return 0;
  }
  bool TargetOpen() const { return target_begun_ && !timeline_.ended; }
  bool ForTarget(const ThreadState& t) const { return TargetOpen() && WorkingFor(t) == target_; }
  bool OverlapsTarget(int64_t begin_ns, int64_t end_ns) const {
    return target_begun_ && end_ns >= timeline_.begin_ns &&
           (!timeline_.ended || begin_ns <= timeline_.end_ns);
  }

  const RequestReportOptions options_;
  const uint64_t target_;  // 0: none
  int64_t last_ns_ = 0;    // of the last event

  absl::flat_hash_map<uint64_t, OpenUserTask> open_user_tasks_;
  absl::flat_hash_map<std::string, uint32_t> type_index_;
  std::vector<TypeTotals> types_;
  uint64_t incomplete_unnamed_ = 0;
  bool has_slowest_ = false;
  uint64_t slowest_ = 0;
  int64_t slowest_ns_ = 0;

  absl::flat_hash_map<uint64_t, ThreadState> threads_;
  absl::flat_hash_map<uint64_t, PendingWait> pending_;  // by runtime task
  std::vector<OpenPhase> phases_;

  FramesTable frames_;
  uint32_t empty_frames_ = 0;
  absl::flat_hash_map<uint64_t, uint32_t> site_cache_;     // this generation's stack -> frames
  absl::flat_hash_map<uint64_t, SiteTotals> sites_;        // frames id << 8 | reason
  absl::flat_hash_map<uint64_t, SiteTotals> request_sites_;  // sites_ of for_request waits
  absl::flat_hash_map<uint32_t, SiteTotals> mutex_sites_;  // by waker frames id
  uint64_t waits_ = 0;
  int64_t blocked_ns_ = 0;
  uint64_t request_waits_ = 0;
  int64_t request_blocked_ns_ = 0;
  uint64_t unresumed_waits_ = 0;

  bool target_begun_ = false;
  RequestTimeline timeline_;
};

void ReportBuilder::BeginGeneration(const Generation& gen) {
  site_cache_.clear();
  // User tasks begun before the trace: named here, so their ends count for their type.
  for (const format::UserTaskInfo& u : gen.user_tasks) {
    if (u.id == 0 || open_user_tasks_.contains(u.id)) continue;
    open_user_tasks_[u.id] = {TypeOf(gen.String(u.name)), 0, false};
  }
}

void ReportBuilder::Handle(const Generation& gen, const Event& e) {
  const int64_t now = gen.TickToMonoNs(e.tick);
  last_ns_ = now;
  switch (e.type) {
    case EventType::kUserTaskBegin:
      UserTaskBegin(gen, e, now);
      break;
    case EventType::kUserTaskEnd:
      UserTaskEnd(e, now);
      break;
    case EventType::kSetCurrentUserTask:
      threads_[e.thread].current_user_task = e.args[kTask];
      break;
    case EventType::kRegionBegin: {
      ThreadState& t = threads_[e.thread];
      const uint64_t user_task = e.args[kTask] != 0 ? e.args[kTask] : t.current_user_task;
      t.regions.push_back({std::string(gen.String(e.args[kRegionName])), user_task, now,
                           user_task == target_ && TargetOpen()});
      break;
    }
    case EventType::kRegionEnd:
      RegionEnd(gen, e, now);
      break;
    case EventType::kTaskBlock:
      TaskBlock(gen, e, now);
      break;
    case EventType::kTaskUnblock:
      TaskUnblock(gen, e, now);
      break;
    case EventType::kTaskStart:
      TaskStart(e, now);
      break;
    case EventType::kTaskEnd:
      if (pending_.erase(e.args[kTask]) > 0) ++unresumed_waits_;
      break;
    case EventType::kSyscallBegin: {
      ThreadState& t = threads_[e.thread];
      t.in_target_syscall = ForTarget(t);
      if (t.in_target_syscall) {
        t.syscall = {std::string(gen.String(e.args[kSyscallName])), e.thread, now, now, false};
      }
      break;
    }
    case EventType::kSyscallEnd: {
      auto it = threads_.find(e.thread);
      if (it == threads_.end() || !it->second.in_target_syscall) break;
      it->second.in_target_syscall = false;
      TimelineSpan& s = it->second.syscall;
      s.end_ns = now;
      s.ended = true;
      timeline_.syscalls.push_back(std::move(s));
      break;
    }
    case EventType::kPhaseBegin: {
      const uint64_t flags = e.args[kPhaseFlags];
      phases_.push_back({std::string(gen.String(e.args[kPhaseName])),
                         (flags & format::kPhaseThreadScoped) != 0 ? e.thread : 0, now,
                         (flags & format::kPhaseStopTheWorld) != 0});
      break;
    }
    case EventType::kPhaseEnd:
      PhaseEnd(gen, e, now);
      break;
    case EventType::kThreadStop:
      if (auto it = threads_.find(e.thread); it != threads_.end()) {
        FlushThread(e.thread, it->second, now);
        threads_.erase(it);
      }
      break;
    default:
      break;
  }
}

void ReportBuilder::UserTaskBegin(const Generation& gen, const Event& e, int64_t now) {
  const uint64_t id = e.args[kTask];
  if (id == 0) return;
  auto [it, inserted] = open_user_tasks_.try_emplace(id);
  if (!inserted) ++types_[it->second.type].incomplete;  // begun twice: the first never ends
  const absl::string_view name = gen.String(e.args[kUserTaskName]);
  it->second = {TypeOf(name), now, true};
  if (id == target_ && !target_begun_) {
    target_begun_ = true;
    timeline_.user_task = id;
    timeline_.name = std::string(name);
    timeline_.thread = e.thread;
    timeline_.begin_ns = now;
  }
}

void ReportBuilder::UserTaskEnd(const Event& e, int64_t now) {
  const uint64_t id = e.args[kTask];
  if (id == 0) return;
  if (auto it = open_user_tasks_.find(id); it == open_user_tasks_.end()) {
    ++incomplete_unnamed_;
  } else {
    TypeTotals& type = types_[it->second.type];
    if (it->second.begin_seen) {
      const int64_t d = now - it->second.begin_ns;
      type.durations.push_back(d);
      if (!has_slowest_ || d > slowest_ns_) {
        has_slowest_ = true;
        slowest_ = id;
        slowest_ns_ = d;
      }
    } else {
      ++type.incomplete;
    }
    open_user_tasks_.erase(it);
  }
  // The runtime forgets the thread's current user task when the thread ends it.
  if (auto t = threads_.find(e.thread); t != threads_.end() && t->second.current_user_task == id) {
    t->second.current_user_task = 0;
  }
  if (id == target_ && TargetOpen()) {
    timeline_.ended = true;
    timeline_.end_ns = now;
  }
}

void ReportBuilder::RegionEnd(const Generation& gen, const Event& e, int64_t now) {
  auto t = threads_.find(e.thread);
  if (t == threads_.end()) return;
  std::vector<OpenRegion>& regions = t->second.regions;
  const absl::string_view name = gen.String(e.args[kRegionName]);
  for (auto it = regions.rbegin(); it != regions.rend(); ++it) {
    if (it->name != name) continue;  // the innermost region of that name ends
    if (it->for_target) {
      timeline_.regions.push_back({std::move(it->name), e.thread, it->begin_ns, now, true});
    }
    regions.erase(std::next(it).base());
    return;
  }
}

void ReportBuilder::TaskBlock(const Generation& gen, const Event& e, int64_t now) {
  const uint64_t task = e.args[kTask];
  if (task == 0) return;
  auto [it, inserted] = pending_.try_emplace(task);
  if (!inserted) ++unresumed_waits_;  // blocked again with no TaskStart between
  PendingWait& p = it->second;
  p = {};
  p.reason = static_cast<BlockReason>(e.args[kBlockReason]);
  p.block_ns = now;
  p.site = SiteOf(gen, e.args[kBlockStack]);
  p.waker_frames = empty_frames_;
  const ThreadState& thread = threads_[e.thread];
  p.for_request = WorkingFor(thread) != 0;
  if (ForTarget(thread)) {
    TimelineWait w;
    w.task = task;
    w.thread = e.thread;
    w.reason = p.reason;
    w.object = e.args[kBlockObject];
    w.block_ns = now;
    w.waiter_stack = FunctionNames(gen, e.args[kBlockStack]);
    p.timeline = static_cast<int64_t>(timeline_.waits.size());
    timeline_.waits.push_back(std::move(w));
  }
}

void ReportBuilder::TaskUnblock(const Generation& gen, const Event& e, int64_t now) {
  auto it = pending_.find(e.args[kTask]);
  if (it == pending_.end() || it->second.unblocked) return;
  PendingWait& p = it->second;
  p.unblocked = true;
  p.waker_frames = SiteOf(gen, e.args[kUnblockStack]);
  if (p.timeline >= 0) {
    TimelineWait& w = timeline_.waits[p.timeline];
    w.unblocked = true;
    w.unblock_ns = now;
    w.waker = e.args[kUnblockWaker];
    w.waker_stack = FunctionNames(gen, e.args[kUnblockStack]);
  }
}

void ReportBuilder::TaskStart(const Event& e, int64_t now) {
  auto it = pending_.find(e.args[kTask]);
  if (it == pending_.end()) return;
  const PendingWait& p = it->second;
  const int64_t d = now - p.block_ns;
  sites_[uint64_t{p.site} << 8 | static_cast<uint64_t>(p.reason)].Add(d);
  if (IsMutexWait(p.reason)) mutex_sites_[p.waker_frames].Add(d);
  ++waits_;
  blocked_ns_ += d;
  if (p.for_request) {
    request_sites_[uint64_t{p.site} << 8 | static_cast<uint64_t>(p.reason)].Add(d);
    ++request_waits_;
    request_blocked_ns_ += d;
  }
  if (p.timeline >= 0) {
    TimelineWait& w = timeline_.waits[p.timeline];
    w.resumed = true;
    w.resume_ns = now;
    w.duration_ns = d;
  }
  pending_.erase(it);
}

void ReportBuilder::PhaseEnd(const Generation& gen, const Event& e, int64_t now) {
  const absl::string_view name = gen.String(e.args[kPhaseName]);
  // A thread-scoped phase of this thread first, else a process-wide one of that name.
  auto find = [&](uint64_t thread) {
    for (auto it = phases_.rbegin(); it != phases_.rend(); ++it) {
      if (it->thread == thread && it->name == name) return std::next(it).base();
    }
    return phases_.end();
  };
  auto it = find(e.thread);
  if (it == phases_.end()) it = find(0);
  if (it == phases_.end()) return;
  if (it->stw && OverlapsTarget(it->begin_ns, now)) {
    timeline_.stw_phases.push_back({std::move(it->name), it->thread, it->begin_ns, now, true});
  }
  phases_.erase(it);
}

void ReportBuilder::FlushThread(uint64_t id, ThreadState& t, int64_t now) {
  for (OpenRegion& r : t.regions) {
    if (r.for_target) timeline_.regions.push_back({std::move(r.name), id, r.begin_ns, now, false});
  }
  t.regions.clear();
  if (t.in_target_syscall) {
    t.syscall.end_ns = now;
    timeline_.syscalls.push_back(std::move(t.syscall));
    t.in_target_syscall = false;
  }
}

uint32_t ReportBuilder::TypeOf(absl::string_view name) {
  if (auto it = type_index_.find(name); it != type_index_.end()) return it->second;
  const auto id = static_cast<uint32_t>(types_.size());
  types_.push_back({std::string(name), {}, 0});
  type_index_.emplace(std::string(name), id);
  return id;
}

uint32_t ReportBuilder::SiteOf(const Generation& gen, uint64_t stack) {
  if (stack == 0) return empty_frames_;
  auto [it, inserted] = site_cache_.try_emplace(stack, 0);
  if (inserted) {
    it->second = frames_.Intern(SiteFrames(FunctionNames(gen, stack), options_.site_depth));
  }
  return it->second;
}

std::vector<BlockingSite> ReportBuilder::RankSites(
    const absl::flat_hash_map<uint64_t, SiteTotals>& sites) {
  std::vector<BlockingSite> ranked;
  ranked.reserve(sites.size());
  for (const auto& [key, totals] : sites) {
    ranked.push_back({static_cast<BlockReason>(key & 0xff),
                      frames_.Get(static_cast<uint32_t>(key >> 8)), totals.count,
                      totals.total_ns, totals.max_ns});
  }
  std::sort(ranked.begin(), ranked.end(), [](const BlockingSite& a, const BlockingSite& b) {
    if (a.total_ns != b.total_ns) return a.total_ns > b.total_ns;
    if (a.count != b.count) return a.count > b.count;
    if (a.reason != b.reason) return a.reason < b.reason;
    return a.frames < b.frames;
  });
  if (ranked.size() > options_.top_n) ranked.resize(options_.top_n);
  return ranked;
}

RequestReport ReportBuilder::Finish() {
  for (auto& [id, t] : threads_) FlushThread(id, t, last_ns_);
  for (OpenPhase& p : phases_) {
    if (p.stw && OverlapsTarget(p.begin_ns, last_ns_)) {
      timeline_.stw_phases.push_back({std::move(p.name), p.thread, p.begin_ns, last_ns_, false});
    }
  }
  for (const auto& [id, u] : open_user_tasks_) ++types_[u.type].incomplete;

  RequestReport r;
  r.incomplete_user_tasks = incomplete_unnamed_;
  for (TypeTotals& t : types_) {
    UserTaskTypeStats s;
    s.name = std::move(t.name);
    s.count = t.durations.size();
    s.incomplete = t.incomplete;
    if (!t.durations.empty()) {
      std::sort(t.durations.begin(), t.durations.end());
      s.p50_ns = Percentile(t.durations, 50);
      s.p99_ns = Percentile(t.durations, 99);
      s.max_ns = t.durations.back();
      for (int64_t d : t.durations) s.total_ns += d;
    }
    r.complete_user_tasks += s.count;
    r.incomplete_user_tasks += s.incomplete;
    r.user_task_types.push_back(std::move(s));
  }
  std::sort(r.user_task_types.begin(), r.user_task_types.end(),
            [](const UserTaskTypeStats& a, const UserTaskTypeStats& b) { return a.name < b.name; });

  r.waits = waits_;
  r.blocked_ns = blocked_ns_;
  r.unresumed_waits = unresumed_waits_ + pending_.size();
  r.blocking_sites = RankSites(sites_);
  r.request_waits = request_waits_;
  r.request_blocked_ns = request_blocked_ns_;
  r.request_blocking_sites = RankSites(request_sites_);
  for (const auto& [frames, totals] : mutex_sites_) {
    r.mutex_sites.push_back({frames_.Get(frames), totals.count, totals.total_ns});
  }
  std::sort(r.mutex_sites.begin(), r.mutex_sites.end(),
            [](const ContentionSite& a, const ContentionSite& b) {
              if (a.total_ns != b.total_ns) return a.total_ns > b.total_ns;
              if (a.count != b.count) return a.count > b.count;
              return a.frames < b.frames;
            });
  if (r.mutex_sites.size() > options_.top_n) r.mutex_sites.resize(options_.top_n);

  if (target_begun_) {
    if (!timeline_.ended) timeline_.end_ns = last_ns_;
    auto by_begin = [](const TimelineSpan& a, const TimelineSpan& b) {
      return a.begin_ns < b.begin_ns;
    };
    std::stable_sort(timeline_.regions.begin(), timeline_.regions.end(), by_begin);
    std::stable_sort(timeline_.syscalls.begin(), timeline_.syscalls.end(), by_begin);
    std::stable_sort(timeline_.stw_phases.begin(), timeline_.stw_phases.end(), by_begin);
    r.timeline = std::move(timeline_);
  }
  return r;
}

using ReaderFactory = std::function<absl::StatusOr<std::unique_ptr<format::TraceReader>>()>;

absl::Status RunPass(const ReaderFactory& open, ReportBuilder* builder) {
  absl::StatusOr<std::unique_ptr<format::TraceReader>> reader = open();
  if (!reader.ok()) return reader.status();
  return builder->Run(reader->get());
}

absl::StatusOr<RequestReport> Build(const ReaderFactory& open,
                                    const RequestReportOptions& options) {
  uint64_t target = options.user_task_id;
  const bool slowest = target == 0;
  if (slowest) {  // pass 1 finds the slowest; pass 2 computes everything again, and its timeline
    ReportBuilder first(options, 0, false);
    if (absl::Status s = RunPass(open, &first); !s.ok()) return s;
    if (!first.has_slowest()) return first.Finish();
    target = first.slowest();
  }
  ReportBuilder builder(options, target, slowest);
  if (absl::Status s = RunPass(open, &builder); !s.ok()) return s;
  if (!builder.target_begun()) {
    return absl::NotFoundError(
        absl::StrCat("user task ", target, ": no UserTaskBegin in the trace"));
  }
  return builder.Finish();
}

}  // namespace

absl::StatusOr<RequestReport> BuildRequestReport(const std::string& path,
                                                 const RequestReportOptions& options) {
  return Build([&path] { return format::TraceReader::Open(path); }, options);
}

absl::StatusOr<RequestReport> BuildRequestReportFromBytes(absl::string_view data,
                                                          const RequestReportOptions& options) {
  return Build(
      [data] {
        return format::TraceReader::FromSource(format::MakeStringSource(std::string(data)));
      },
      options);
}

std::vector<std::string> SiteFrames(std::vector<std::string> frames, size_t depth) {
  size_t skip = 0;
  while (skip < frames.size() && absl::StartsWith(frames[skip], "tracer::")) ++skip;
  if (skip == frames.size()) skip = 0;
  frames.erase(frames.begin(), frames.begin() + skip);
  if (depth > 0 && frames.size() > depth) frames.resize(depth);
  return frames;
}

}  // namespace tracer::analysis
