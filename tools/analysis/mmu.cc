#include "tools/analysis/mmu.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "format/event_table.h"
#include "format/generation.h"
#include "tools/analysis/event_pass.h"
#include "tools/analysis/histogram.h"

namespace tracer::analysis {
namespace {

using format::Event;
using format::EventType;
using format::Generation;

// Argument positions (FORMAT.md, "Event table").
constexpr int kPhaseName = 0;
constexpr int kPhaseFlags = 1;

constexpr int64_t kMarkedWindowsNs[] = {1'000'000, 10'000'000, 100'000'000};

// u as a function of time, with its integral at each change, for one MMU per window size.
class UtilizationCurve {
 public:
  // REQUIRES: as MinMutatorUtilization's.
  UtilizationCurve(absl::Span<const UtilizationChange> changes, int64_t end_ns)
      : changes_(changes), end_ns_(end_ns), integral_(changes.size() + 1, 0.0) {
    for (size_t i = 0; i < changes_.size(); ++i) {
      integral_[i + 1] = integral_[i] + changes_[i].util * static_cast<double>(At(i + 1) - At(i));
    }
  }

  int64_t start_ns() const { return changes_[0].ns; }
  double total() const { return integral_.back(); }

  // Every window [t, t + w] with t at a change (t + w still inside) or t + w at a change (t
  // still inside): the integral over [t, t + w] is linear between consecutive such t.
  MmuWindow Min(int64_t w) const {
    const size_t m = changes_.size();
    const int64_t last_begin = end_ns_ - w;
    size_t i = 0;  // next left candidate: changes_[i].ns
    size_t j = 0;  // next right candidate: At(j) - w
    while (j <= m && At(j) - w < start_ns()) ++j;
    size_t lo = 0, hi = 0;  // cursors of Integral(t) and Integral(t + w)
    MmuWindow best{2.0, start_ns()};
    for (;;) {
      const int64_t left = i < m && changes_[i].ns <= last_begin ? changes_[i].ns : INT64_MAX;
      const int64_t right = j <= m ? At(j) - w : INT64_MAX;  // <= last_begin, as At(j) <= end
      const int64_t t = std::min(left, right);
      if (t == INT64_MAX) break;
      if (t == left) ++i;
      if (t == right) ++j;
      const double mean = (Integral(&hi, t + w) - Integral(&lo, t)) / static_cast<double>(w);
      if (mean < best.mmu - 1e-12) best = {mean, t};
    }
    best.mmu = std::clamp(best.mmu, 0.0, 1.0);
    return best;
  }

 private:
  int64_t At(size_t i) const { return i < changes_.size() ? changes_[i].ns : end_ns_; }
  // The integral of u from the start to x; *k is a cursor for non-decreasing x.
  double Integral(size_t* k, int64_t x) const {
    while (*k + 1 < changes_.size() && changes_[*k + 1].ns <= x) ++*k;
    return integral_[*k] + changes_[*k].util * static_cast<double>(x - changes_[*k].ns);
  }

  absl::Span<const UtilizationChange> changes_;
  int64_t end_ns_;
  std::vector<double> integral_;  // at each change, then at the end
};

class MmuBuilder {
 public:
  absl::Status Run(format::TraceReader* reader) {
    return ForEachEvent(
        reader, [&](const Generation& gen) { report_.lost_events += LostEvents(gen); },
        [&](const Generation& gen, const Event& e) { Handle(gen, e); });
  }

  MmuReport Finish(const MmuOptions& options);

 private:
  enum class Kind : uint8_t { kStopTheWorld, kThreadScoped, kConcurrent };
  struct OpenPhase {
    std::string name;
    uint64_t thread;
    Kind kind;
    int64_t begin_ns;
  };
  struct ThreadState {
    bool alive = false;
    int scoped_depth = 0;  // open thread-scoped phases on it
  };
  // The state u depends on from begin_ns on, canonical: stw with k = n = 0; k = 0 with n = 0.
  // n counts the threads alive as seen so far; Finish adds those found later to exist before.
  struct Segment {
    int64_t begin_ns;
    bool stw;
    uint32_t k;
    uint32_t n;
    bool SameState(const Segment& o) const { return stw == o.stw && k == o.k && n == o.n; }
  };

  void Handle(const Generation& gen, const Event& e);
  ThreadState& See(const Event& e, int64_t now);
  void BeginPhase(const Generation& gen, const Event& e, ThreadState& t, int64_t now);
  void EndPhase(size_t index, int64_t now);
  void Record(int64_t now);

  MmuReport report_;
  bool started_ = false;
  int64_t first_ns_ = 0;
  int64_t last_ns_ = 0;
  absl::flat_hash_map<uint64_t, ThreadState> threads_;
  std::vector<OpenPhase> open_;  // in begin order
  uint32_t stw_open_ = 0;
  uint32_t scoped_threads_ = 0;        // k: alive threads in a thread-scoped phase
  uint32_t alive_ = 0;                 // n as seen so far
  std::vector<int64_t> preexisting_;   // first sightings of threads that existed before
  int64_t started_minus_stopped_ = 0;  // since the trace's start
  int64_t max_started_minus_stopped_ = 0;
  std::vector<Segment> segments_;
  bool split_ = false;  // the next Record starts a segment even with the same state
};

MmuBuilder::ThreadState& MmuBuilder::See(const Event& e, int64_t now) {
  auto [it, inserted] = threads_.try_emplace(e.thread);
  ThreadState& t = it->second;
  if (inserted) ++report_.threads;
  if (t.alive || e.type == EventType::kThreadStop) return t;
  t.alive = true;
  ++alive_;
  if (inserted && e.type != EventType::kThreadStart) {
    preexisting_.push_back(now);  // alive since the trace's start
  } else {
    max_started_minus_stopped_ = std::max(max_started_minus_stopped_, ++started_minus_stopped_);
  }
  return t;
}

void MmuBuilder::Handle(const Generation& gen, const Event& e) {
  int64_t now = gen.TickToMonoNs(e.tick);
  if (!started_) {
    started_ = true;
    first_ns_ = last_ns_ = now;
  }
  now = std::max(now, last_ns_);  // the changes must not go back in time across generations
  last_ns_ = now;
  ++report_.events;
  const bool first_sighting = !threads_.contains(e.thread);
  ThreadState& t = See(e, now);
  switch (e.type) {
    case EventType::kThreadStop:
      if (!t.alive && !first_sighting) break;
      for (size_t i = open_.size(); i-- > 0;) {
        if (open_[i].thread == e.thread && open_[i].kind == Kind::kThreadScoped) {
          ++report_.unended_phases;
          EndPhase(i, now);
        }
      }
      if (t.alive) {
        t.alive = false;
        --alive_;
      }
      // A thread first seen stopping existed before the trace: it counted from the start, and
      // n changes here though no state Record sees does.
      if (first_sighting) {
        preexisting_.push_back(now);
        split_ = true;
      }
      --started_minus_stopped_;
      break;
    case EventType::kPhaseBegin:
      BeginPhase(gen, e, t, now);
      break;
    case EventType::kPhaseEnd: {
      const absl::string_view name = gen.String(e.args[kPhaseName]);
      size_t found = open_.size();
      for (size_t i = open_.size(); i-- > 0;) {
        if (open_[i].thread == e.thread && open_[i].name == name) {
          found = i;
          break;
        }
      }
      for (size_t i = open_.size(); found == open_.size() && i-- > 0;) {
        if (open_[i].kind != Kind::kThreadScoped && open_[i].name == name) found = i;
      }
      if (found == open_.size()) {
        ++report_.unmatched_phase_ends;
      } else {
        EndPhase(found, now);
      }
      break;
    }
    default:
      break;
  }
  Record(now);
}

void MmuBuilder::BeginPhase(const Generation& gen, const Event& e, ThreadState& t, int64_t now) {
  const uint64_t flags = e.args[kPhaseFlags];
  Kind kind = Kind::kConcurrent;
  if (flags & format::kPhaseThreadScoped) {
    kind = Kind::kThreadScoped;
    ++report_.thread_phases;
    if (t.scoped_depth++ == 0) ++scoped_threads_;
  } else if (flags & format::kPhaseStopTheWorld) {
    kind = Kind::kStopTheWorld;
    ++report_.stw_phases;
    ++stw_open_;
  } else {
    ++report_.concurrent_phases;
  }
  open_.push_back({std::string(gen.String(e.args[kPhaseName])), e.thread, kind, now});
}

void MmuBuilder::EndPhase(size_t index, int64_t now) {
  const OpenPhase& p = open_[index];
  switch (p.kind) {
    case Kind::kStopTheWorld:
      report_.stw_ns += now - p.begin_ns;
      --stw_open_;
      break;
    case Kind::kThreadScoped: {
      report_.thread_phase_ns += now - p.begin_ns;
      ThreadState& t = threads_[p.thread];
      if (--t.scoped_depth == 0) --scoped_threads_;
      break;
    }
    case Kind::kConcurrent:
      break;
  }
  open_.erase(open_.begin() + static_cast<ptrdiff_t>(index));
}

void MmuBuilder::Record(int64_t now) {
  Segment s{now, stw_open_ > 0, scoped_threads_, alive_};
  if (s.stw) s.k = 0;
  if (s.stw || s.k == 0) s.n = 0;
  if (!segments_.empty() && segments_.back().begin_ns == now) {
    segments_.pop_back();  // superseded by the state after every event at `now`
  }
  if (segments_.empty() || split_ || !segments_.back().SameState(s)) segments_.push_back(s);
  split_ = false;
}

MmuReport MmuBuilder::Finish(const MmuOptions& options) {
  while (!open_.empty()) {
    ++report_.unended_phases;
    EndPhase(open_.size() - 1, last_ns_);
  }
  report_.span_ns = last_ns_ - first_ns_;
  report_.max_alive =
      static_cast<uint64_t>(static_cast<int64_t>(preexisting_.size()) + max_started_minus_stopped_);
  if (report_.span_ns <= 0) return std::move(report_);

  // u per segment, each n with the threads first seen after the segment's start that existed
  // before it; equal neighbours merged.
  std::sort(preexisting_.begin(), preexisting_.end());
  std::vector<UtilizationChange> changes;
  for (const Segment& s : segments_) {
    if (s.begin_ns >= last_ns_) break;
    double util = 1;
    if (s.stw) {
      util = 0;
    } else if (s.k > 0) {
      const auto later = preexisting_.end() -
                         std::upper_bound(preexisting_.begin(), preexisting_.end(), s.begin_ns);
      util = 1.0 - static_cast<double>(s.k) / static_cast<double>(s.n + later);
    }
    if (changes.empty() || changes.back().util != util) changes.push_back({s.begin_ns, util});
  }
  const UtilizationCurve curve(changes, last_ns_);
  report_.mean_utilization = curve.total() / static_cast<double>(report_.span_ns);

  std::vector<int64_t> windows;
  for (int64_t decade = 1000; decade <= report_.span_ns; decade *= 10) {
    for (int64_t step : {1, 2, 5}) {
      if (decade <= report_.span_ns / step) windows.push_back(decade * step);
    }
    if (decade > report_.span_ns / 10) break;
  }
  for (int64_t w : options.windows_ns) {
    if (w > 0 && w <= report_.span_ns) windows.push_back(w);
  }
  windows.push_back(report_.span_ns);
  std::sort(windows.begin(), windows.end());
  windows.erase(std::unique(windows.begin(), windows.end()), windows.end());
  for (int64_t w : windows) {
    const MmuWindow min = curve.Min(w);
    const bool marked = std::find(std::begin(kMarkedWindowsNs), std::end(kMarkedWindowsNs), w) !=
                        std::end(kMarkedWindowsNs);
    report_.points.push_back({w, min.mmu, min.begin_ns - first_ns_, marked});
  }
  return std::move(report_);
}

// "1us", "50ms", "1s" for a whole number (under 1000) of a unit, else DurationText's.
std::string WindowText(int64_t ns) {
  if (ns >= 1'000'000'000 && ns % 1'000'000'000 == 0) return absl::StrCat(ns / 1'000'000'000, "s");
  if (ns >= 1'000'000 && ns < 1'000'000'000 && ns % 1'000'000 == 0) {
    return absl::StrCat(ns / 1'000'000, "ms");
  }
  if (ns >= 1000 && ns < 1'000'000 && ns % 1000 == 0) return absl::StrCat(ns / 1000, "us");
  return DurationText(ns);
}

std::string MarkedList() {
  std::string out;
  for (int64_t w : kMarkedWindowsNs) absl::StrAppend(&out, out.empty() ? "" : ", ", WindowText(w));
  return out;
}

}  // namespace

MmuWindow MinMutatorUtilization(absl::Span<const UtilizationChange> changes, int64_t end_ns,
                                int64_t window_ns) {
  return UtilizationCurve(changes, end_ns).Min(window_ns);
}

absl::StatusOr<MmuReport> ComputeMmu(format::TraceReader* reader, const MmuOptions& options) {
  MmuBuilder builder;
  if (absl::Status s = builder.Run(reader); !s.ok()) return s;
  return builder.Finish(options);
}

std::string FormatMmuText(const MmuReport& r) {
  std::string out = absl::StrFormat(
      "minimum mutator utilization over %s (the trace's first to last event); %d threads, at "
      "most %d alive at once\n",
      DurationText(r.span_ns), r.threads, r.max_alive);
  absl::StrAppendFormat(&out,
                        "phases: %d stop-the-world (%s in all), %d thread-scoped (%s of thread "
                        "time), %d concurrent (no cost: they stop no thread)\n",
                        r.stw_phases, DurationText(r.stw_ns), r.thread_phases,
                        DurationText(r.thread_phase_ns), r.concurrent_phases);
  if (r.unended_phases > 0) {
    absl::StrAppendFormat(&out,
                          "note: %d phases had not ended at the trace's end (or their thread's "
                          "stop): counted up to it\n",
                          r.unended_phases);
  }
  if (r.unmatched_phase_ends > 0) {
    absl::StrAppendFormat(&out,
                          "note: %d phase ends with no begin in the trace: their time before "
                          "them counts as utilized\n",
                          r.unmatched_phase_ends);
  }
  if (r.lost_events > 0) {
    absl::StrAppendFormat(&out,
                          "warning: the trace lost %d events (loss records): phases among them "
                          "are not counted\n",
                          r.lost_events);
  }
  if (r.points.empty()) return out + "no window: the trace spans no time\n";
  absl::StrAppendFormat(&out, "mean utilization %.4f\n\n  %10s  %6s  %s\n", r.mean_utilization,
                        "window", "MMU", "worst window begins at");
  for (const MmuPoint& p : r.points) {
    absl::StrAppendFormat(&out, "%s %10s  %.4f  +%s\n", p.marked ? "*" : " ",
                          WindowText(p.window_ns), p.mmu, DurationText(p.worst_begin_ns));
  }
  const bool all_marked = r.span_ns >= kMarkedWindowsNs[std::size(kMarkedWindowsNs) - 1];
  absl::StrAppendFormat(&out, "* the windows called out: %s%s\n", MarkedList(),
                        all_marked ? "" : " (those longer than the trace: none)");
  return out;
}

std::string FormatMmuJson(const MmuReport& r) {
  std::string out = absl::StrCat(
      "{\"span_ns\":", r.span_ns, ",\"threads\":", r.threads, ",\"max_alive\":", r.max_alive,
      ",\"stw_phases\":", r.stw_phases, ",\"stw_ns\":", r.stw_ns,
      ",\"thread_phases\":", r.thread_phases, ",\"thread_phase_ns\":", r.thread_phase_ns,
      ",\"concurrent_phases\":", r.concurrent_phases, ",\"unended_phases\":", r.unended_phases,
      ",\"unmatched_phase_ends\":", r.unmatched_phase_ends, ",\"events\":", r.events,
      ",\"lost_events\":", r.lost_events,
      absl::StrFormat(",\"mean_utilization\":%.6f", r.mean_utilization), ",\"points\":[");
  for (size_t i = 0; i < r.points.size(); ++i) {
    const MmuPoint& p = r.points[i];
    absl::StrAppendFormat(&out, "%s{\"window_ns\":%d,\"mmu\":%.6f,\"worst_begin_ns\":%d%s}",
                          i > 0 ? "," : "", p.window_ns, p.mmu, p.worst_begin_ns,
                          p.marked ? ",\"marked\":true" : "");
  }
  out += "]}";
  return out;
}

std::string FormatMmuSvg(const MmuReport& r) {
  constexpr double kWidth = 720, kHeight = 440;
  constexpr double kLeft = 70, kRight = 30, kTop = 40, kBottom = 60;
  constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;
  std::string out = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"%.1f\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">Minimum mutator "
      "utilization (%s of trace, at most %d threads alive)</text>\n",
      kWidth, kHeight, kWidth, kHeight, kLeft + kPlotW / 2, DurationText(r.span_ns), r.max_alive);
  // x: log10 of the window; one decade either side of a lone point.
  double lo = 0, hi = 1;
  if (!r.points.empty()) {
    lo = std::log10(static_cast<double>(r.points.front().window_ns));
    hi = std::log10(static_cast<double>(r.points.back().window_ns));
    if (hi - lo < 1e-9) {
      lo -= 0.5;
      hi += 0.5;
    }
  }
  const auto x = [&](double window_ns) {
    return kLeft + (std::log10(window_ns) - lo) / (hi - lo) * kPlotW;
  };
  const auto y = [&](double u) { return kTop + (1 - u) * kPlotH; };
  out += "<g stroke=\"#ddd\" stroke-width=\"1\">\n";
  for (int tenth = 0; tenth <= 10; tenth += 2) {
    absl::StrAppendFormat(&out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", kLeft,
                          y(tenth / 10.0), kLeft + kPlotW, y(tenth / 10.0));
  }
  std::vector<double> decades;
  for (double d = std::ceil(lo - 1e-9); d <= hi + 1e-9; d += 1) decades.push_back(d);
  for (double d : decades) {
    const double px = x(std::pow(10.0, d));
    absl::StrAppendFormat(&out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px,
                          kTop, px, kTop + kPlotH);
  }
  out += "</g>\n<g fill=\"#333\">\n";
  for (int tenth = 0; tenth <= 10; tenth += 2) {
    absl::StrAppendFormat(&out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n",
                          kLeft - 6, y(tenth / 10.0) + 4, tenth / 10.0);
  }
  for (double d : decades) {
    absl::StrAppendFormat(&out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                          x(std::pow(10.0, d)), kTop + kPlotH + 18,
                          WindowText(static_cast<int64_t>(std::llround(std::pow(10.0, d)))));
  }
  absl::StrAppendFormat(&out,
                        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">window (log "
                        "scale)</text>\n"
                        "<text transform=\"translate(18 %.1f) rotate(-90)\" "
                        "text-anchor=\"middle\">minimum mutator utilization</text>\n</g>\n",
                        kLeft + kPlotW / 2, kHeight - 16, kTop + kPlotH / 2);
  absl::StrAppendFormat(&out,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                        "fill=\"none\" stroke=\"#333\"/>\n",
                        kLeft, kTop, kPlotW, kPlotH);
  if (r.points.empty()) {
    absl::StrAppendFormat(&out,
                          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no window: the "
                          "trace spans no time</text>\n",
                          kLeft + kPlotW / 2, kTop + kPlotH / 2);
  } else {
    out += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"";
    for (size_t i = 0; i < r.points.size(); ++i) {
      const MmuPoint& p = r.points[i];
      absl::StrAppendFormat(&out, "%s%.1f,%.1f", i > 0 ? " " : "",
                            x(static_cast<double>(p.window_ns)), y(p.mmu));
    }
    out += "\"/>\n";
  }
  for (const MmuPoint& p : r.points) {
    if (!p.marked) continue;
    const double px = x(static_cast<double>(p.window_ns)), py = y(p.mmu);
    const bool right = px > kLeft + 0.8 * kPlotW;  // label to the point's left, inside
    absl::StrAppendFormat(&out,
                          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#d62728\"/>\n"
                          "<text x=\"%.1f\" y=\"%.1f\" fill=\"#d62728\"%s>%s: %.3f</text>\n",
                          px, py, right ? px - 6 : px + 6, p.mmu > 0.9 ? py + 16 : py - 8,
                          right ? " text-anchor=\"end\"" : "", WindowText(p.window_ns), p.mmu);
  }
  out += "</svg>\n";
  return out;
}

}  // namespace tracer::analysis
