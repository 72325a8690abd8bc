#include "tools/analysis/live.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "format/event_printer.h"
#include "tools/analysis/event_pass.h"
#include "tools/analysis/histogram.h"
#include "tools/analysis/stacks.h"

namespace tracer::analysis {
namespace {

using format::TaskStatus;

std::string StateText(const std::string& status, const std::string& reason) {
  return reason.empty() ? status : absl::StrCat(status, " ", reason);
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

absl::StatusOr<LiveReport> ComputeLive(format::TraceReader* reader, Symbolizer* symbolizer) {
  LiveReport report;
  bool started = false;
  int64_t first_ns = 0, last_ns = 0;
  absl::Status s = ForEachEvent(
      reader,
      [&](const format::Generation& gen) {
        if (!started && gen.begin_ns != 0) {
          // A listing-only first generation has no events: its header's span is the start.
          first_ns = gen.begin_ns;
        }
        if (!gen.listing) return;
        report.has_listing = true;
        report.tasks.clear();
        const int64_t at = std::max(gen.end_ns, last_ns);
        report.at_ns = at;
        for (const format::LiveTask& t : gen.live_tasks) {
          LiveTaskEntry e;
          e.id = t.id;
          e.parent = t.parent;
          e.name = std::string(gen.String(t.name));
          e.status = std::string(format::TaskStatusName(t.status));
          if (t.status == TaskStatus::kBlocked) {
            e.reason = std::string(format::BlockReasonName(t.reason));
            e.object = t.object;
          }
          e.thread = t.thread;
          if (t.since_tick != 0) e.for_ns = std::max<int64_t>(0, at - gen.TickToMonoNs(t.since_tick));
          if (const format::LabelSet* l = gen.FindLabelSet(t.labels)) {
            for (const auto& [k, v] : l->labels) {
              e.labels.emplace_back(std::string(gen.String(k)), std::string(gen.String(v)));
            }
          }
          e.stack = StackText(gen, t.stack, symbolizer);
          e.stack_is_create = t.status != TaskStatus::kBlocked;
          report.tasks.push_back(std::move(e));
        }
      },
      [&](const format::Generation& gen, const format::Event& e) {
        const int64_t now = gen.TickToMonoNs(e.tick);
        if (!started) {
          started = true;
          first_ns = now;
        }
        last_ns = std::max(last_ns, now);
      });
  if (!s.ok()) return s;
  if (!report.has_listing) return report;
  report.at_ns -= first_ns;
  std::stable_sort(report.tasks.begin(), report.tasks.end(),
                   [](const LiveTaskEntry& a, const LiveTaskEntry& b) {
                     const bool ab = !a.reason.empty(), bb = !b.reason.empty();
                     if (ab != bb) return ab;
                     if (a.for_ns != b.for_ns) return a.for_ns > b.for_ns;
                     return a.id < b.id;
                   });
  absl::flat_hash_map<std::string, size_t> index;
  for (const LiveTaskEntry& t : report.tasks) {
    const std::string key =
        absl::StrCat(t.status, "\n", t.reason, "\n", absl::StrJoin(t.stack, "\n"));
    auto [it, inserted] = index.try_emplace(key, report.groups.size());
    if (inserted) {
      LiveGroup g;
      g.status = t.status;
      g.reason = t.reason;
      g.stack = t.stack;
      report.groups.push_back(std::move(g));
    }
    LiveGroup& g = report.groups[it->second];
    ++g.count;
    if (g.ids.size() < 5) g.ids.push_back(t.id);
    g.longest_ns = std::max(g.longest_ns, t.for_ns);
  }
  std::stable_sort(report.groups.begin(), report.groups.end(),
                   [](const LiveGroup& a, const LiveGroup& b) { return a.count > b.count; });
  return report;
}

std::string FormatLiveText(const LiveReport& r, bool group) {
  if (!r.has_listing) {
    return "this trace has no live-task listing: it is written at the end of a flight-recorder "
           "dump or a capture (a trace cut short, or split from a larger one, has none)\n";
  }
  std::string out = absl::StrFormat("%d live tasks when the listing was written (+%.6fs)\n",
                                    r.tasks.size(), r.at_ns / 1e9);
  if (group) {
    for (const LiveGroup& g : r.groups) {
      absl::StrAppendFormat(&out, "\n%d %s: %s", g.count, g.count == 1 ? "task" : "tasks",
                            StateText(g.status, g.reason));
      if (g.longest_ns >= 0) absl::StrAppend(&out, ", the longest for ", DurationText(g.longest_ns));
      absl::StrAppend(&out, " (task ", absl::StrJoin(g.ids, ", "), g.count > g.ids.size() ? ", ..." : "",
                      ")\n");
      for (const std::string& f : g.stack) absl::StrAppend(&out, "    ", f, "\n");
    }
    return out;
  }
  for (const LiveTaskEntry& t : r.tasks) {
    absl::StrAppendFormat(&out, "\ntask %d \"%s\" %s", t.id, t.name, StateText(t.status, t.reason));
    if (t.object != 0) absl::StrAppendFormat(&out, " on %#x", t.object);
    absl::StrAppend(&out, t.for_ns >= 0 ? absl::StrCat(" for ", DurationText(t.for_ns))
                                        : std::string(" since before the trace"));
    if (t.thread != 0) absl::StrAppendFormat(&out, ", on thread %d", t.thread);
    if (t.parent != 0) absl::StrAppendFormat(&out, ", created by task %d", t.parent);
    if (!t.labels.empty()) {
      out += ", labels ";
      for (size_t i = 0; i < t.labels.size(); ++i) {
        absl::StrAppend(&out, i > 0 ? "," : "", t.labels[i].first, "=", t.labels[i].second);
      }
    }
    out += "\n";
    if (!t.stack.empty()) out += t.stack_is_create ? "  created at:\n" : "  waiting at:\n";
    for (const std::string& f : t.stack) absl::StrAppend(&out, "    ", f, "\n");
  }
  return out;
}

std::string FormatLiveJson(const LiveReport& r, bool group) {
  std::string out = absl::StrCat("{\"has_listing\":", r.has_listing ? "true" : "false",
                                 ",\"at_ns\":", r.at_ns);
  if (group) {
    out += ",\"groups\":[";
    for (size_t i = 0; i < r.groups.size(); ++i) {
      const LiveGroup& g = r.groups[i];
      if (i > 0) out.push_back(',');
      absl::StrAppend(&out, "{\"count\":", g.count, ",\"status\":");
      format::AppendJsonString(g.status, &out);
      out += ",\"reason\":";
      format::AppendJsonString(g.reason, &out);
      absl::StrAppend(&out, ",\"longest_ns\":", g.longest_ns, ",\"ids\":[",
                      absl::StrJoin(g.ids, ","), "],\"stack\":");
      AppendStackJson(g.stack, &out);
      out.push_back('}');
    }
    return out + "]}";
  }
  out += ",\"tasks\":[";
  for (size_t i = 0; i < r.tasks.size(); ++i) {
    const LiveTaskEntry& t = r.tasks[i];
    if (i > 0) out.push_back(',');
    absl::StrAppend(&out, "{\"id\":", t.id, ",\"parent\":", t.parent, ",\"name\":");
    format::AppendJsonString(t.name, &out);
    out += ",\"status\":";
    format::AppendJsonString(t.status, &out);
    out += ",\"reason\":";
    format::AppendJsonString(t.reason, &out);
    absl::StrAppend(&out, ",\"object\":", t.object, ",\"thread\":", t.thread,
                    ",\"for_ns\":", t.for_ns, ",\"labels\":{");
    for (size_t j = 0; j < t.labels.size(); ++j) {
      if (j > 0) out.push_back(',');
      format::AppendJsonString(t.labels[j].first, &out);
      out.push_back(':');
      format::AppendJsonString(t.labels[j].second, &out);
    }
    out += "},\"stack\":";
    AppendStackJson(t.stack, &out);
    out.push_back('}');
  }
  return out + "]}";
}

}  // namespace tracer::analysis
