// LatencyHistogram: durations in nanoseconds in bounded memory, with quantiles to a stated
// relative error. What every analysis that prints p50/p99 (tasks, usertasks, regions) keeps per
// group instead of the durations themselves, so its memory does not grow with the trace.
//
// Accuracy. A value v >= 1 goes to bucket i = ceil(log_g(v)) with g = (1 + a) / (1 - a),
// a = kRelativeError; the bucket covers (g^(i-1), g^i] and stands for 2 g^i / (g + 1), which is
// within a of every value in it. So Quantile(q) is within 1% of the exact nearest-rank
// quantile of the values added (the value of rank ceil(q * count), 1-based), and exact at the
// extremes (q = 0 gives min, q = 1 max; a quantile is clamped to [min, max]). Values <= 0 count
// as 0, kept exactly.
//
// Memory: one 8-byte counter per bucket between the smallest and largest value seen: at most
// about 1,600 buckets (13 KiB) for 1 ns to 10^13 ns (2.8 hours), whatever the count.
//
// Not thread-safe: an analysis runs on one thread.

#ifndef TRACER_TOOLS_ANALYSIS_HISTOGRAM_H_
#define TRACER_TOOLS_ANALYSIS_HISTOGRAM_H_

#include <cstdint>
#include <string>
#include <vector>

namespace tracer::analysis {

class LatencyHistogram {
 public:
  static constexpr double kRelativeError = 0.01;

  void Add(int64_t ns);
  // Adds every value of `other`.
  void Merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  int64_t min() const { return count_ == 0 ? 0 : min_; }
  int64_t max() const { return count_ == 0 ? 0 : max_; }
  int64_t sum() const { return sum_; }  // exact
  double mean() const { return count_ == 0 ? 0 : static_cast<double>(sum_) / count_; }
  // The nearest-rank q-quantile (0 <= q <= 1), within kRelativeError; 0 when empty.
  int64_t Quantile(double q) const;

  // A text histogram: one line per power-of-two range from the smallest to the largest
  // value, each with its range, its count and a bar of at most `width` characters scaled to the
  // fullest line. Empty when nothing was added.
  std::string Text(int width = 40) const;

 private:
  // Bucket index of v >= 1 (0 for v = 1).
  static int Index(int64_t v);
  // The value a bucket stands for.
  static int64_t Representative(int index);
  // Values in [lo, hi] (a power-of-two range), counting a bucket whose representative is in it.
  uint64_t CountIn(int64_t lo, int64_t hi) const;

  uint64_t count_ = 0;
  uint64_t zeros_ = 0;  // values <= 0
  int64_t min_ = 0;
  int64_t max_ = 0;
  int64_t sum_ = 0;
  int first_ = 0;                // bucket index of buckets_[0]
  std::vector<uint64_t> buckets_;  // first_ .. first_ + size() - 1
};

// "850ns", "12.3us", "3.40ms", "1.25s".
std::string DurationText(int64_t ns);
// The latency lines the analyses print for a group: "  latency  p50 ... max ... (total, mean)"
// and the text histogram. Nothing when empty.
void AppendLatencyText(const LatencyHistogram& h, std::string* out);
// ,"count":N,"total_ns":..,"min_ns":..,"p50_ns":..,"p90_ns":..,"p99_ns":..,"max_ns":..
void AppendLatencyJson(const LatencyHistogram& h, std::string* out);

}  // namespace tracer::analysis

#endif  // TRACER_TOOLS_ANALYSIS_HISTOGRAM_H_
