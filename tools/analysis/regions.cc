#include "tools/analysis/regions.h"

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

class RegionsBuilder {
 public:
  explicit RegionsBuilder(const RegionsOptions& options) : options_(options) {}

  absl::Status Run(format::TraceReader* reader) {
    return ForEachEvent(
        reader,
        [&](const Generation& gen) {
          report_.lost_events += LostEvents(gen);
          for (const format::UserTaskInfo& u : gen.user_tasks) {
            if (u.id != 0 && !user_task_names_.contains(u.id)) {
              user_task_names_[u.id] = std::string(gen.String(u.name));
            }
          }
        },
        [&](const Generation& gen, const Event& e) { Handle(gen, e); });
  }

  RegionsReport Finish();

 private:
  struct OpenRegion {
    uint32_t name;  // index in stats_
    uint64_t user_task;
    int64_t begin_ns;
    TimeBreakdown at_begin;  // the thread's cumulative states then
  };
  using Thread = ThreadStateTracker::Thread;

  void Handle(const Generation& gen, const Event& e);
  void RegionBegin(const Generation& gen, const Event& e, const Thread& t, int64_t now);
  void RegionEnd(const Generation& gen, const Event& e, const Thread& t, int64_t now);
  uint32_t StatsIndex(absl::string_view name);

  const RegionsOptions options_;
  RegionsReport report_;
  bool started_ = false;
  int64_t first_ns_ = 0;
  ThreadStateTracker states_;
  // Each thread's open regions, innermost last.
  absl::flat_hash_map<uint64_t, std::vector<OpenRegion>> open_;
  // Names of the user tasks open now (a name is dropped at the task's end).
  absl::flat_hash_map<uint64_t, std::string> user_task_names_;
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
  const Thread& t = states_.Apply(e, now);
  switch (e.type) {
    case EventType::kUserTaskBegin:
      user_task_names_[e.args[kTask]] = std::string(gen.String(e.args[kUserTaskName]));
      break;
    case EventType::kUserTaskEnd:
      // A region's user-task name is copied when the region ends; one that outlives its user
      // task shows no name.
      user_task_names_.erase(e.args[kTask]);
      break;
    case EventType::kRegionBegin:
      RegionBegin(gen, e, t, now);
      break;
    case EventType::kRegionEnd:
      RegionEnd(gen, e, t, now);
      break;
    default:
      break;
  }
}

void RegionsBuilder::RegionBegin(const Generation& gen, const Event& e, const Thread& t,
                                 int64_t now) {
  const absl::string_view name = gen.String(e.args[kRegionName]);
  if (!options_.name.empty() && name != options_.name) return;
  const uint64_t user_task = e.args[kTask] != 0 ? e.args[kTask] : t.current_user_task;
  open_[e.thread].push_back({StatsIndex(name), user_task, now, t.cum});
}

void RegionsBuilder::RegionEnd(const Generation& gen, const Event& e, const Thread& t,
                               int64_t now) {
  const absl::string_view name = gen.String(e.args[kRegionName]);
  if (!options_.name.empty() && name != options_.name) return;
  std::vector<OpenRegion>& regions = open_[e.thread];
  for (auto it = regions.rbegin(); it != regions.rend(); ++it) {
    RegionStats& s = stats_[it->name];
    if (s.name != name) continue;  // the innermost region of that name ends
    RegionInstance r;
    r.begin_ns = it->begin_ns - first_ns_;
    r.duration_ns = now - it->begin_ns;
    r.thread = e.thread;
    r.user_task = it->user_task;
    r.breakdown = t.cum - it->at_begin;
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
    regions.erase(std::next(it).base());
    return;
  }
  ++report_.ended_before_begin;
}

RegionsReport RegionsBuilder::Finish() {
  for (const auto& [id, regions] : open_) {
    for (const OpenRegion& r : regions) ++stats_[r.name].incomplete;
  }
  std::sort(stats_.begin(), stats_.end(), [](const RegionStats& a, const RegionStats& b) {
    if (a.latency.sum() != b.latency.sum()) return a.latency.sum() > b.latency.sum();
    return a.name < b.name;
  });
  report_.regions = std::move(stats_);
  return std::move(report_);
}

}  // namespace

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
    AppendLatencyText(h, &out);
    absl::StrAppendFormat(&out, "  where the time went: %s\n", BreakdownText(s.breakdown));
    if (!s.slowest.empty()) out += "  slowest:\n";
    for (const RegionInstance& i : s.slowest) {
      absl::StrAppendFormat(&out, "    %9s  at +%s on T%d", DurationText(i.duration_ns),
                            DurationText(i.begin_ns), i.thread);
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
    AppendLatencyJson(h, &out);
    absl::StrAppend(&out, ",\"incomplete\":", s.incomplete,
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
