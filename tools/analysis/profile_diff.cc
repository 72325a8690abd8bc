#include "tools/analysis/profile_diff.h"

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "format/event_printer.h"
#include "tools/analysis/histogram.h"

namespace tracer::analysis {
namespace {

std::string PercentText(const DiffEntry& e) {
  if (e.before_value == 0) return e.after_value == 0 ? "0%" : "new";
  return absl::StrFormat("%+.1f%%", e.delta_percent());
}

std::string SignedDuration(int64_t ns) {
  return absl::StrCat(ns < 0 ? "-" : "+", DurationText(ns < 0 ? -ns : ns));
}

}  // namespace

double DiffEntry::delta_percent() const {
  if (before_value == 0) {
    return after_value == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  }
  return 100.0 * static_cast<double>(delta()) / static_cast<double>(before_value);
}

ProfileDiff DiffProfiles(const ProfileResult& before, const ProfileResult& after,
                         ProfileKind kind) {
  ProfileDiff diff;
  diff.kind = std::string(ProfileKindName(kind));
  diff.before_total = before.total_ns;
  diff.after_total = after.total_ns;
  diff.before_intervals = before.intervals;
  diff.after_intervals = after.intervals;
  absl::flat_hash_map<std::string, DiffEntry> by_function;
  for (const FlatEntry& f : FlatProfile(*before.profile)) {
    DiffEntry& e = by_function[f.function];
    e.function = f.function;
    e.before_count = f.count;
    e.before_value = f.value;
  }
  for (const FlatEntry& f : FlatProfile(*after.profile)) {
    DiffEntry& e = by_function[f.function];
    e.function = f.function;
    e.after_count = f.count;
    e.after_value = f.value;
  }
  for (auto& [f, e] : by_function) diff.entries.push_back(std::move(e));
  std::sort(diff.entries.begin(), diff.entries.end(), [](const DiffEntry& a, const DiffEntry& b) {
    if (std::llabs(a.delta()) != std::llabs(b.delta())) {
      return std::llabs(a.delta()) > std::llabs(b.delta());
    }
    return a.function < b.function;
  });
  return diff;
}

std::string FormatProfileDiffText(const ProfileDiff& d, size_t top) {
  DiffEntry total;
  total.before_value = d.before_total;
  total.after_value = d.after_total;
  std::string out = absl::StrFormat(
      "%s profile: before %s over %d intervals, after %s over %d: %s (%s)\n", d.kind,
      DurationText(d.before_total), d.before_intervals, DurationText(d.after_total),
      d.after_intervals, SignedDuration(total.delta()), PercentText(total));
  absl::StrAppendFormat(&out, "%11s %8s %10s %10s %8s %8s  %s\n", "change", "percent", "before",
                        "after", "count<", "count>", "call site");
  for (size_t i = 0; i < d.entries.size() && i < top; ++i) {
    const DiffEntry& e = d.entries[i];
    absl::StrAppendFormat(&out, "%11s %8s %10s %10s %8d %8d  %s\n", SignedDuration(e.delta()),
                          PercentText(e), DurationText(e.before_value),
                          DurationText(e.after_value), e.before_count, e.after_count,
                          e.function);
  }
  if (d.entries.size() > top) {
    absl::StrAppendFormat(&out, "(%d more call sites; --top N)\n", d.entries.size() - top);
  }
  return out;
}

std::string FormatProfileDiffJson(const ProfileDiff& d, size_t top) {
  std::string out = "{\"kind\":";
  format::AppendJsonString(d.kind, &out);
  absl::StrAppend(&out, ",\"before_total_ns\":", d.before_total,
                  ",\"after_total_ns\":", d.after_total,
                  ",\"before_intervals\":", d.before_intervals,
                  ",\"after_intervals\":", d.after_intervals, ",\"call_sites\":[");
  for (size_t i = 0; i < d.entries.size() && i < top; ++i) {
    const DiffEntry& e = d.entries[i];
    if (i > 0) out.push_back(',');
    out += "{\"function\":";
    format::AppendJsonString(e.function, &out);
    absl::StrAppend(&out, ",\"before_ns\":", e.before_value, ",\"after_ns\":", e.after_value,
                    ",\"delta_ns\":", e.delta(), ",\"before_count\":", e.before_count,
                    ",\"after_count\":", e.after_count);
    if (e.before_value != 0) absl::StrAppend(&out, ",\"delta_percent\":", e.delta_percent());
    out.push_back('}');
  }
  out += "]}";
  return out;
}

}  // namespace tracer::analysis
