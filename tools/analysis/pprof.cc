#include "tools/analysis/pprof.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "format/generation.h"
#include "tools/analysis/event_pass.h"
#include "tools/analysis/stacks.h"

namespace tracer::analysis {
namespace {

using format::BlockReason;
using format::Event;
using format::EventType;
using format::Generation;

// Argument positions (FORMAT.md, "Event table").
constexpr int kTask = 0;
constexpr int kCreateLabels = 3, kCreateStack = 4;
constexpr int kBlockReason = 1, kBlockStack = 3;
constexpr int kUnblockStack = 4;
constexpr int kSyscallName = 0, kSyscallStack = 1;
constexpr int kRegionName = 1, kRegionStack = 2;
constexpr int kLabelsSet = 1;
constexpr int kCpuStack = 1;

constexpr const char* kKindNames[] = {"sync", "mutex", "net", "syscall", "sched", "region", "cpu"};

bool IsSyncReason(uint64_t r) {
  switch (static_cast<BlockReason>(r)) {
    case BlockReason::kMutex:
    case BlockReason::kRwMutex:
    case BlockReason::kCondVar:
    case BlockReason::kChannel:
    case BlockReason::kWaitGroup:
    case BlockReason::kSelect:
      return true;
    default:
      return false;
  }
}
bool IsMutexReason(uint64_t r) {
  return r == static_cast<uint64_t>(BlockReason::kMutex) ||
         r == static_cast<uint64_t>(BlockReason::kRwMutex);
}

using Labels = std::shared_ptr<const std::vector<PprofLabel>>;

class ProfileMaker {
 public:
  explicit ProfileMaker(const ProfileOptions& options) : options_(options) {
    if (options.kind == ProfileKind::kCpu) {
      result_.profile = std::make_unique<PprofBuilder>(
          std::vector<PprofValueType>{{"samples", "count"}, {"cpu", "nanoseconds"}});
      result_.profile->set_period({"cpu", "nanoseconds"}, options.cpu_period_ns);
    } else {
      result_.profile = std::make_unique<PprofBuilder>(
          std::vector<PprofValueType>{{"contentions", "count"}, {"delay", "nanoseconds"}});
      result_.profile->set_period({"contentions", "count"}, 1);
    }
    result_.profile->AddComment(absl::StrCat("tracetool pprof --kind=", ProfileKindName(options.kind),
                                             options.region.empty() ? "" : " --region=",
                                             options.region));
  }

  absl::Status Run(format::TraceReader* reader) {
    return ForEachEvent(
        reader,
        [&](const Generation& gen) {
          result_.lost_events += LostEvents(gen);
          BeginGeneration(gen);
        },
        [&](const Generation& gen, const Event& e) { Handle(gen, e); });
  }

  ProfileResult Finish() {
    result_.unfinished += waits_.size() + runnable_.size();
    for (const auto& [thread, open] : syscall_stack_) result_.unfinished += open.size();
    for (const auto& [thread, regions] : regions_) result_.unfinished += regions.size();
    result_.profile->set_duration_nanos(last_ns_ - first_ns_);
    return std::move(result_);
  }

 private:
  // A charged interval's start: where, with which labels.
  struct Open {
    int64_t begin_ns;
    std::vector<uint64_t> stack;  // location ids
    Labels labels;
    bool counted;  // passes the region filter
    uint64_t reason = 0;
  };
  struct OpenRegion {
    std::string name;
    Open open;
  };

  void BeginGeneration(const Generation& gen);
  void Handle(const Generation& gen, const Event& e);
  std::vector<uint64_t> Locations(const Generation& gen, uint64_t stack_id);
  Labels LabelsOf(const Generation& gen, uint64_t label_set);
  Labels TaskLabels(uint64_t task, uint64_t thread) const;
  bool InRegion(uint64_t thread) const;
  void Charge(const Open& o, int64_t end_ns, const std::vector<uint64_t>* stack = nullptr,
              const PprofLabel* extra = nullptr);

  const ProfileOptions options_;
  ProfileResult result_;
  bool started_ = false;
  int64_t first_ns_ = 0, last_ns_ = 0;
  // Per generation: stack id -> location ids, label-set id -> labels; mappings by start.
  absl::flat_hash_map<uint64_t, std::vector<uint64_t>> stacks_;
  absl::flat_hash_map<uint64_t, Labels> label_sets_;
  std::vector<std::pair<const format::Mapping*, uint64_t>> mappings_;  // sorted by start
  // Live state.
  absl::flat_hash_map<uint64_t, Labels> task_labels_;    // by task
  absl::flat_hash_map<uint64_t, Labels> thread_labels_;  // a plain thread's own Labels
  absl::flat_hash_map<uint64_t, uint64_t> running_;      // thread -> task
  absl::flat_hash_map<uint64_t, Open> waits_;            // blocked task -> its wait
  absl::flat_hash_map<uint64_t, Open> runnable_;         // runnable task -> since
  // Per thread its open syscalls (name, start), innermost last.
  absl::flat_hash_map<uint64_t, std::vector<std::pair<std::string, Open>>> syscall_stack_;
  absl::flat_hash_map<uint64_t, std::vector<OpenRegion>> regions_;  // by thread, innermost last
};

void ProfileMaker::BeginGeneration(const Generation& gen) {
  stacks_.clear();
  label_sets_.clear();
  mappings_.clear();
  for (const format::Mapping& m : gen.mappings) {
    mappings_.emplace_back(&m, result_.profile->Mapping(m.start, m.end, m.offset,
                                                        gen.String(m.path),
                                                        gen.String(m.build_id)));
  }
  std::sort(mappings_.begin(), mappings_.end(),
            [](const auto& a, const auto& b) { return a.first->start < b.first->start; });
  // Tasks stated with their label sets: their labels from here on.
  for (const format::TaskState& t : gen.tasks) {
    if (t.labels != 0) task_labels_[t.id] = LabelsOf(gen, t.labels);
  }
}

std::vector<uint64_t> ProfileMaker::Locations(const Generation& gen, uint64_t stack_id) {
  if (stack_id == 0) return {};
  if (auto it = stacks_.find(stack_id); it != stacks_.end()) return it->second;
  std::vector<uint64_t> locs;
  if (const format::Stack* s = gen.FindStack(stack_id)) {
    for (const format::Frame& f : s->frames) {
      uint64_t mapping = 0;
      auto it = std::upper_bound(mappings_.begin(), mappings_.end(), f.pc,
                                 [](uint64_t pc, const auto& m) { return pc < m.first->start; });
      if (it != mappings_.begin() && f.pc < std::prev(it)->first->end) {
        mapping = std::prev(it)->second;
      }
      const ResolvedFrame r = ResolveFrame(gen, f, options_.symbolizer);
      std::vector<PprofLine> lines;
      for (const FrameLine& l : r.lines) {
        if (!l.function.empty()) lines.push_back({l.function, l.file, l.line});
      }
      locs.push_back(result_.profile->Location(f.pc, lines, mapping));
    }
  }
  stacks_.emplace(stack_id, locs);
  return locs;
}

Labels ProfileMaker::LabelsOf(const Generation& gen, uint64_t label_set) {
  if (label_set == 0) return nullptr;
  if (auto it = label_sets_.find(label_set); it != label_sets_.end()) return it->second;
  auto labels = std::make_shared<std::vector<PprofLabel>>();
  if (const format::LabelSet* s = gen.FindLabelSet(label_set)) {
    for (const auto& [k, v] : s->labels) {
      labels->push_back({std::string(gen.String(k)), std::string(gen.String(v)), 0, ""});
    }
  }
  label_sets_.emplace(label_set, labels);
  return labels;
}

Labels ProfileMaker::TaskLabels(uint64_t task, uint64_t thread) const {
  if (auto it = task_labels_.find(task); task != 0 && it != task_labels_.end()) return it->second;
  if (auto it = thread_labels_.find(thread); it != thread_labels_.end()) return it->second;
  return nullptr;
}

bool ProfileMaker::InRegion(uint64_t thread) const {
  if (options_.region.empty()) return true;
  auto it = regions_.find(thread);
  if (it == regions_.end()) return false;
  for (const OpenRegion& r : it->second) {
    if (r.name == options_.region) return true;
  }
  return false;
}

void ProfileMaker::Charge(const Open& o, int64_t end_ns, const std::vector<uint64_t>* stack,
                          const PprofLabel* extra) {
  if (!o.counted) return;
  std::vector<uint64_t> none;
  const std::vector<uint64_t>* locs = stack != nullptr ? stack : &o.stack;
  if (locs->empty()) {
    // Recorded with no stack (stacks off, or a region: regions record none by default): a
    // location of its own, so the time is still in the profile and says why it has no frames.
    const std::string name = extra != nullptr && extra->key == "region"
                                 ? absl::StrCat("region ", extra->str)
                                 : std::string("(no stack recorded)");
    none.push_back(result_.profile->Location(0, name, "", 0, 0));
    locs = &none;
  }
  const int64_t delay = std::max<int64_t>(0, end_ns - o.begin_ns);
  std::vector<PprofLabel> labels;
  if (o.labels != nullptr) labels = *o.labels;
  if (extra != nullptr) labels.push_back(*extra);
  const int64_t values[] = {1, delay};
  result_.profile->AddSample(*locs, labels, values);
  ++result_.intervals;
  result_.total_ns += delay;
}

void ProfileMaker::Handle(const Generation& gen, const Event& e) {
  const int64_t now = gen.TickToMonoNs(e.tick);
  if (!started_) {
    started_ = true;
    first_ns_ = now;
    result_.profile->set_time_nanos(gen.TickToRealNs(e.tick));
  }
  last_ns_ = now;
  ++result_.events;
  const ProfileKind kind = options_.kind;
  const uint64_t task = e.args[kTask];
  switch (e.type) {
    case EventType::kTaskCreate:
      if (e.args[kCreateLabels] != 0) task_labels_[task] = LabelsOf(gen, e.args[kCreateLabels]);
      if (kind == ProfileKind::kSched) {
        runnable_[task] = {now, Locations(gen, e.args[kCreateStack]), TaskLabels(task, 0),
                           InRegion(e.thread)};
      }
      break;
    case EventType::kLabels:
      if (task != 0) {
        task_labels_[task] = LabelsOf(gen, e.args[kLabelsSet]);
      } else {
        thread_labels_[e.thread] = LabelsOf(gen, e.args[kLabelsSet]);
      }
      break;
    case EventType::kTaskStart:
      running_[e.thread] = task;
      waits_.erase(task);  // resumed with no TaskUnblock recorded: the wait is not timed
      if (auto it = runnable_.find(task); it != runnable_.end()) {
        Charge(it->second, now);
        runnable_.erase(it);
      }
      break;
    case EventType::kTaskBlock: {
      const uint64_t reason = e.args[kBlockReason];
      const bool wanted = (kind == ProfileKind::kSync && IsSyncReason(reason)) ||
                          (kind == ProfileKind::kMutex && IsMutexReason(reason)) ||
                          (kind == ProfileKind::kNet &&
                           reason == static_cast<uint64_t>(BlockReason::kNetwork)) ||
                          kind == ProfileKind::kSched;
      if (!wanted) break;
      waits_[task] = {now, Locations(gen, e.args[kBlockStack]), TaskLabels(task, e.thread),
                      InRegion(e.thread), reason};
      break;
    }
    case EventType::kTaskUnblock: {
      auto it = waits_.find(task);
      if (it == waits_.end()) break;
      Open wait = std::move(it->second);
      waits_.erase(it);
      if (kind == ProfileKind::kSched) {
        wait.begin_ns = now;  // runnable from the wake, at the stack it resumes from
        runnable_[task] = std::move(wait);
      } else if (kind == ProfileKind::kMutex) {
        const std::vector<uint64_t> unlock = Locations(gen, e.args[kUnblockStack]);
        Charge(wait, now, &unlock);
      } else {
        Charge(wait, now);
      }
      break;
    }
    case EventType::kTaskEnd:
      waits_.erase(task);
      runnable_.erase(task);
      task_labels_.erase(task);
      break;
    case EventType::kSyscallBegin:
      if (kind == ProfileKind::kSyscall) {
        auto r = running_.find(e.thread);
        syscall_stack_[e.thread].emplace_back(
            std::string(gen.String(e.args[kSyscallName])),
            Open{now, Locations(gen, e.args[kSyscallStack]),
                 TaskLabels(r == running_.end() ? 0 : r->second, e.thread), InRegion(e.thread)});
      }
      break;
    case EventType::kSyscallEnd:
      if (kind == ProfileKind::kSyscall) {
        auto it = syscall_stack_.find(e.thread);
        if (it == syscall_stack_.end() || it->second.empty()) break;
        const PprofLabel name{"syscall", it->second.back().first, 0, ""};
        Charge(it->second.back().second, now, nullptr, &name);
        it->second.pop_back();
        if (it->second.empty()) syscall_stack_.erase(it);
      }
      break;
    case EventType::kRegionBegin: {
      auto r = running_.find(e.thread);
      std::string name(gen.String(e.args[kRegionName]));
      const bool counted = options_.region.empty() || name == options_.region;
      regions_[e.thread].push_back(
          {std::move(name),
           Open{now,
                kind == ProfileKind::kRegion ? Locations(gen, e.args[kRegionStack])
                                             : std::vector<uint64_t>{},
                TaskLabels(r == running_.end() ? 0 : r->second, e.thread), counted}});
      break;
    }
    case EventType::kRegionEnd: {
      auto it = regions_.find(e.thread);
      if (it == regions_.end()) break;
      const absl::string_view name = gen.String(e.args[kRegionName]);
      std::vector<OpenRegion>& open = it->second;
      for (auto r = open.rbegin(); r != open.rend(); ++r) {
        if (r->name != name) continue;
        if (kind == ProfileKind::kRegion) {
          const PprofLabel label{"region", r->name, 0, ""};
          Charge(r->open, now, nullptr, &label);
        }
        open.erase(std::next(r).base());
        break;
      }
      if (open.empty()) regions_.erase(it);
      break;
    }
    case EventType::kCpuSample:
      if (kind == ProfileKind::kCpu && InRegion(e.thread)) {
        const std::vector<uint64_t> locs = Locations(gen, e.args[kCpuStack]);
        if (locs.empty()) break;
        Labels labels = TaskLabels(task, e.thread);
        std::vector<PprofLabel> l;
        if (labels != nullptr) l = *labels;
        const int64_t values[] = {1, options_.cpu_period_ns};
        result_.profile->AddSample(locs, l, values);
        ++result_.intervals;
        result_.total_ns += options_.cpu_period_ns;
      }
      break;
    default:
      break;
  }
}

}  // namespace

absl::string_view ProfileKindName(ProfileKind kind) { return kKindNames[static_cast<int>(kind)]; }

bool ParseProfileKind(absl::string_view name, ProfileKind* kind) {
  for (size_t i = 0; i < std::size(kKindNames); ++i) {
    if (name == kKindNames[i]) {
      *kind = static_cast<ProfileKind>(i);
      return true;
    }
  }
  return false;
}

std::string ProfileKindList() {
  std::string out;
  for (const char* k : kKindNames) absl::StrAppend(&out, out.empty() ? "" : "|", k);
  return out;
}

absl::StatusOr<ProfileResult> ComputeProfile(format::TraceReader* reader,
                                             const ProfileOptions& options) {
  ProfileMaker maker(options);
  if (absl::Status s = maker.Run(reader); !s.ok()) return s;
  return maker.Finish();
}

std::string FlatEntryText(const FlatEntry& e) {
  if (e.where.empty()) return e.function;
  const size_t slash = e.where.rfind('/');
  return absl::StrCat(e.function, " (",
                      slash == std::string::npos ? e.where : e.where.substr(slash + 1), ")");
}

std::vector<FlatEntry> FlatProfile(const PprofBuilder& profile) {
  absl::flat_hash_map<std::string, FlatEntry> by_function;
  // Per function, the value at each of its lines: `where` is the largest.
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, int64_t>> by_line;
  for (const PprofBuilder::Sample& s : profile.samples()) {
    if (s.locations.empty() || s.values.empty()) continue;
    // The innermost function outside the tracer: the kit's own frames (Mutex::LockSlow, the
    // block scope, and the kit's inline functions, lines of the caller's location) top every
    // sync stack and say nothing. Else the innermost.
    PprofLine site;
    bool found = false;
    const uint64_t first_loc = s.locations.front();
    for (size_t i = 0; i < s.locations.size() && !found; ++i) {
      const std::vector<PprofLine> lines = profile.LocationLines(s.locations[i]);
      if (i == 0 && !lines.empty()) site = lines.front();
      for (const PprofLine& l : lines) {
        if (!absl::StartsWith(l.function, "tracer::")) {
          site = l;
          found = true;
          break;
        }
      }
    }
    std::string f(site.function);
    if (f.empty()) f = absl::StrCat("location ", first_loc);
    FlatEntry& e = by_function[f];
    e.function = f;
    e.count += s.values.front();
    e.value += s.values.back();
    if (!site.file.empty() && site.line > 0) {
      by_line[f][absl::StrCat(site.file, ":", site.line)] += s.values.back();
    }
  }
  std::vector<FlatEntry> out;
  out.reserve(by_function.size());
  for (auto& [f, e] : by_function) {
    if (auto it = by_line.find(f); it != by_line.end()) {
      int64_t best = -1;
      for (const auto& [where, v] : it->second) {
        if (v > best || (v == best && where < e.where)) best = v, e.where = where;
      }
    }
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const FlatEntry& a, const FlatEntry& b) {
    if (a.value != b.value) return a.value > b.value;
    return a.function < b.function;
  });
  return out;
}

}  // namespace tracer::analysis
