#include "tools/analysis/request_report_text.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "format/event_table.h"

namespace tracer::analysis {
namespace {

// "850ns", "12.3us", "3.40ms", "1.25s".
std::string Duration(int64_t ns) {
  const double abs = ns < 0 ? -static_cast<double>(ns) : static_cast<double>(ns);
  if (abs < 1e3) return absl::StrCat(ns, "ns");
  if (abs < 1e6) return absl::StrFormat("%.1fus", static_cast<double>(ns) / 1e3);
  if (abs < 1e9) return absl::StrFormat("%.2fms", static_cast<double>(ns) / 1e6);
  return absl::StrFormat("%.2fs", static_cast<double>(ns) / 1e9);
}

// A stack for reading: the tracer's frames dropped, four frames at most.
std::string StackText(const std::vector<std::string>& frames) {
  if (frames.empty()) return "(no stack)";
  const std::vector<std::string> all = SiteFrames(frames, 0);
  const size_t shown = std::min<size_t>(all.size(), 4);
  std::string out = absl::StrJoin(all.begin(), all.begin() + shown, " <- ");
  if (shown < all.size()) out += " <- ...";
  return out;
}

std::string WaitText(const TimelineWait& w) {
  std::string out = absl::StrCat("blocked on ", format::BlockReasonName(w.reason));
  if (w.object != 0) absl::StrAppendFormat(&out, " 0x%x", w.object);
  if (w.resumed) {
    absl::StrAppend(&out, " for ", Duration(w.duration_ns));
  } else {
    out += ", not resumed in the trace";
  }
  absl::StrAppend(&out, " (task ", w.task, " on T", w.thread, ")");
  if (w.unblocked) {
    out += w.waker != 0 ? absl::StrCat(", woken by task ", w.waker) : ", woken by the thread";
    if (!w.waker_stack.empty()) absl::StrAppend(&out, " at ", StackText(w.waker_stack));
  }
  absl::StrAppend(&out, "\n           waiting at ", StackText(w.waiter_stack));
  return out;
}

std::string SpanText(absl::string_view what, const TimelineSpan& s) {
  std::string out = absl::StrCat(what, " ", s.name);
  if (s.thread != 0) absl::StrAppend(&out, " on T", s.thread);
  absl::StrAppend(&out, " ... ", s.ended ? "" : ">", Duration(s.duration_ns()),
                  s.ended ? "" : " (no end in the trace)");
  return out;
}

void AppendTimeline(const RequestTimeline& t, std::string* out) {
  absl::StrAppendFormat(out, "%s: user task %d \"%s\", %s%s, begun on T%d\n",
                        t.slowest ? "slowest request" : "request", t.user_task, t.name,
                        t.ended ? "" : ">", Duration(t.duration_ns()), t.thread);
  std::vector<std::pair<int64_t, std::string>> lines;
  lines.emplace_back(t.begin_ns, absl::StrCat("begin ", t.name));
  for (const TimelineSpan& s : t.stw_phases) {
    lines.emplace_back(s.begin_ns, SpanText("stop-the-world", s));
  }
  for (const TimelineSpan& s : t.regions) lines.emplace_back(s.begin_ns, SpanText("region", s));
  for (const TimelineWait& w : t.waits) lines.emplace_back(w.block_ns, WaitText(w));
  for (const TimelineSpan& s : t.syscalls) lines.emplace_back(s.begin_ns, SpanText("syscall", s));
  lines.emplace_back(t.end_ns,
                     t.ended ? absl::StrCat("end ", t.name) : "end of the trace (not ended)");
  std::stable_sort(lines.begin(), lines.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [ns, text] : lines) {
    absl::StrAppendFormat(out, "  %+.2fms  %s\n", static_cast<double>(ns - t.begin_ns) / 1e6, text);
  }
}

}  // namespace

std::string FormatRequestReport(const RequestReport& r) {
  std::string out;
  absl::StrAppendFormat(&out, "user tasks: %d complete, %d incomplete\n", r.complete_user_tasks,
                        r.incomplete_user_tasks);
  if (!r.user_task_types.empty()) {
    absl::StrAppendFormat(&out, "  %-24s %8s %10s %10s %10s %10s\n", "type", "count", "incomplete",
                          "p50", "p99", "max");
  }
  for (const UserTaskTypeStats& t : r.user_task_types) {
    const bool any = t.count > 0;
    absl::StrAppendFormat(&out, "  %-24s %8d %10d %10s %10s %10s\n",
                          t.name.empty() ? "(unnamed)" : t.name, t.count, t.incomplete,
                          any ? Duration(t.p50_ns) : "-", any ? Duration(t.p99_ns) : "-",
                          any ? Duration(t.max_ns) : "-");
  }
  out += "\n";
  if (r.timeline.has_value()) {
    AppendTimeline(*r.timeline, &out);
  } else {
    out += "no complete user task to explain\n";
  }
  auto append_sites = [&out](const std::vector<BlockingSite>& sites) {
    if (sites.empty()) out += "  (none)\n";
    for (const BlockingSite& s : sites) {
      absl::StrAppendFormat(&out, "  %10s %6d  %-10s %s\n", Duration(s.total_ns), s.count,
                            format::BlockReasonName(s.reason), StackText(s.frames));
    }
  };
  absl::StrAppendFormat(&out,
                        "\nwhat requests waited on: top blocking sites of waits on behalf of a "
                        "user task (%d waits, %s):\n",
                        r.request_waits, Duration(r.request_blocked_ns));
  append_sites(r.request_blocking_sites);
  absl::StrAppendFormat(&out,
                        "\ntop blocking sites of every task, idle waits included (%d waits, %s; "
                        "%d not resumed):\n",
                        r.waits, Duration(r.blocked_ns), r.unresumed_waits);
  append_sites(r.blocking_sites);
  out += "\nmutex contention by the unlocker's stack (Go's mutex profile):\n";
  if (r.mutex_sites.empty()) out += "  (none)\n";
  for (const ContentionSite& s : r.mutex_sites) {
    absl::StrAppendFormat(&out, "  %10s %6d  %s\n", Duration(s.total_ns), s.count,
                          StackText(s.frames));
  }
  return out;
}

}  // namespace tracer::analysis
