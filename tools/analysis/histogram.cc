#include "tools/analysis/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tracer::analysis {
namespace {

const double kGamma = (1 + LatencyHistogram::kRelativeError) / (1 - LatencyHistogram::kRelativeError);

// Index without a logarithm per value (a log per Add was a tenth of an analysis's time): the
// bucket bounds g^i, and for each power-of-two octave cut in 64 slices (each narrower than a
// bucket) the first bucket whose bound reaches the slice's start. A value's bucket is then at
// most two steps from its slice's.
struct IndexTables {
  static constexpr int kSliceBits = 6;
  std::vector<double> bounds;  // bounds[i] = g^i, up to past 2^63
  std::vector<int> first;      // [octave << kSliceBits | slice]
  IndexTables() {
    for (double b = 1; bounds.empty() || bounds.back() < 0x1p64; b *= kGamma) bounds.push_back(b);
    for (int e = 0; e < 64; ++e) {
      for (int k = 0; k < (1 << kSliceBits); ++k) {
        const double start = std::ldexp(1.0 + k / static_cast<double>(1 << kSliceBits), e);
        first.push_back(static_cast<int>(std::lower_bound(bounds.begin(), bounds.end(), start) -
                                         bounds.begin()));
      }
    }
  }
};
const IndexTables& Tables() {
  static const IndexTables* t = new IndexTables();
  return *t;
}

// "1.5ms", "200.0us", "17ns": the ranges of Text.
std::string Short(int64_t ns) {
  if (ns >= 1'000'000'000) return absl::StrFormat("%.1fs", ns / 1e9);
  if (ns >= 1'000'000) return absl::StrFormat("%.1fms", ns / 1e6);
  if (ns >= 1'000) return absl::StrFormat("%.1fus", ns / 1e3);
  return absl::StrFormat("%dns", ns);
}

}  // namespace

int LatencyHistogram::Index(int64_t v) {
  // The smallest i with g^i >= v, i.e. ceil(log_g(v)) (0 for v = 1).
  const IndexTables& t = Tables();
  const uint64_t u = static_cast<uint64_t>(v);
  const int e = 63 - __builtin_clzll(u);
  const int slice = e >= IndexTables::kSliceBits
                        ? static_cast<int>(u >> (e - IndexTables::kSliceBits)) & 63
                        : static_cast<int>(u << (IndexTables::kSliceBits - e)) & 63;
  int i = t.first[e << IndexTables::kSliceBits | slice];
  const double d = static_cast<double>(v);
  while (t.bounds[i] < d) ++i;
  return i;
}

int64_t LatencyHistogram::Representative(int index) {
  return static_cast<int64_t>(std::llround(2 * std::pow(kGamma, index) / (kGamma + 1)));
}

void LatencyHistogram::Add(int64_t ns) {
  if (count_ == 0) {
    min_ = max_ = ns;
  } else {
    min_ = std::min(min_, ns);
    max_ = std::max(max_, ns);
  }
  ++count_;
  sum_ += ns;
  if (ns <= 0) {
    ++zeros_;
    return;
  }
  const int i = Index(ns);
  if (buckets_.empty()) {
    first_ = i;
    buckets_.assign(1, 0);
  } else if (i < first_) {
    buckets_.insert(buckets_.begin(), static_cast<size_t>(first_ - i), 0);
    first_ = i;
  } else if (i >= first_ + static_cast<int>(buckets_.size())) {
    buckets_.resize(static_cast<size_t>(i - first_ + 1), 0);
  }
  ++buckets_[static_cast<size_t>(i - first_)];
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  if (count_ == 0) {
    *this = other;
    return;
  }
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  zeros_ += other.zeros_;
  sum_ += other.sum_;
  if (other.buckets_.empty()) return;
  if (buckets_.empty()) {
    first_ = other.first_;
    buckets_ = other.buckets_;
    return;
  }
  const int lo = std::min(first_, other.first_);
  const int hi = std::max(first_ + static_cast<int>(buckets_.size()),
                          other.first_ + static_cast<int>(other.buckets_.size()));
  std::vector<uint64_t> merged(static_cast<size_t>(hi - lo), 0);
  for (size_t k = 0; k < buckets_.size(); ++k) merged[first_ - lo + k] += buckets_[k];
  for (size_t k = 0; k < other.buckets_.size(); ++k) {
    merged[other.first_ - lo + k] += other.buckets_[k];
  }
  first_ = lo;
  buckets_ = std::move(merged);
}

int64_t LatencyHistogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  if (q <= 0) return min_;
  if (q >= 1) return max_;
  // Nearest rank: the ceil(q * count)-th smallest, 1-based.
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  if (rank <= zeros_) return min_;
  uint64_t seen = zeros_;
  for (size_t k = 0; k < buckets_.size(); ++k) {
    seen += buckets_[k];
    if (seen >= rank) {
      return std::clamp(Representative(first_ + static_cast<int>(k)), min_, max_);
    }
  }
  return max_;
}

uint64_t LatencyHistogram::CountIn(int64_t lo, int64_t hi) const {
  uint64_t n = 0;
  if (lo <= 0) n += zeros_;
  for (size_t k = 0; k < buckets_.size(); ++k) {
    if (buckets_[k] == 0) continue;
    const int64_t r = std::clamp(Representative(first_ + static_cast<int>(k)), min_, max_);
    if (r >= lo && r <= hi) n += buckets_[k];
  }
  return n;
}

std::string LatencyHistogram::Text(int width) const {
  if (count_ == 0) return "";
  // Power-of-two ranges [2^k, 2^(k+1)) from the one holding min to the one holding max; values
  // <= 0 join the first.
  auto floor_log2 = [](int64_t v) { return v <= 1 ? 0 : 63 - __builtin_clzll(v); };
  const int k_lo = floor_log2(std::max<int64_t>(min_, 1));
  const int k_hi = floor_log2(std::max<int64_t>(max_, 1));
  std::vector<uint64_t> counts;
  for (int k = k_lo; k <= k_hi; ++k) {
    const int64_t lo = k == k_lo ? INT64_MIN : int64_t{1} << k;
    const int64_t hi = k == 62 ? INT64_MAX : (int64_t{1} << (k + 1)) - 1;
    counts.push_back(CountIn(lo, hi));
  }
  const uint64_t fullest = *std::max_element(counts.begin(), counts.end());
  std::string out;
  for (int k = k_lo; k <= k_hi; ++k) {
    const uint64_t n = counts[k - k_lo];
    const int bar = fullest == 0 ? 0
                                 : static_cast<int>((n * static_cast<uint64_t>(width) +
                                                     fullest - 1) / fullest);
    absl::StrAppendFormat(&out, "  %9s - %-9s %8d %s\n", Short(int64_t{1} << k),
                          Short(k == 62 ? INT64_MAX : int64_t{1} << (k + 1)), n,
                          std::string(static_cast<size_t>(bar), '#'));
  }
  return out;
}

std::string DurationText(int64_t ns) {
  const double v = static_cast<double>(ns);
  if (ns < 1000 && ns > -1000) return absl::StrCat(ns, "ns");
  if (ns < 1'000'000 && ns > -1'000'000) return absl::StrFormat("%.1fus", v / 1e3);
  if (ns < 1'000'000'000 && ns > -1'000'000'000) return absl::StrFormat("%.2fms", v / 1e6);
  return absl::StrFormat("%.2fs", v / 1e9);
}

void AppendLatencyText(const LatencyHistogram& h, std::string* out) {
  if (h.count() == 0) return;
  absl::StrAppendFormat(out,
                        "  latency  p50 %s  p90 %s  p99 %s  max %s  (total %s, mean %s; "
                        "quantiles within 1%%)\n",
                        DurationText(h.Quantile(0.5)), DurationText(h.Quantile(0.9)),
                        DurationText(h.Quantile(0.99)), DurationText(h.max()),
                        DurationText(h.sum()), DurationText(static_cast<int64_t>(h.mean())));
  *out += h.Text();
}

void AppendLatencyJson(const LatencyHistogram& h, std::string* out) {
  absl::StrAppend(out, ",\"count\":", h.count(), ",\"total_ns\":", h.sum(),
                  ",\"min_ns\":", h.min(), ",\"p50_ns\":", h.Quantile(0.5),
                  ",\"p90_ns\":", h.Quantile(0.9), ",\"p99_ns\":", h.Quantile(0.99),
                  ",\"max_ns\":", h.max());
}

}  // namespace tracer::analysis
