// LatencyHistogram against the exact nearest-rank quantiles of the same values.

#include "tools/analysis/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tracer::analysis {
namespace {

int64_t ExactQuantile(std::vector<int64_t> v, double q) {
  std::sort(v.begin(), v.end());
  if (q <= 0) return v.front();
  const size_t rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(q * v.size())));
  return v[std::min(rank, v.size()) - 1];
}

void ExpectWithinError(const LatencyHistogram& h, const std::vector<int64_t>& values) {
  for (double q : {0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0}) {
    const int64_t exact = ExactQuantile(values, q);
    const int64_t got = h.Quantile(q);
    EXPECT_LE(std::abs(static_cast<double>(got - exact)),
              LatencyHistogram::kRelativeError * static_cast<double>(exact) + 1e-9)
        << "q=" << q << " exact=" << exact << " got=" << got;
  }
}

TEST(LatencyHistogramTest, EmptyHasNoValues) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Quantile(0.5), 0);
  EXPECT_EQ(h.Text(), "");
}

TEST(LatencyHistogramTest, QuantilesAreWithinOnePercentAcrossTwelveDecades) {
  std::mt19937_64 rng(7);
  std::vector<int64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 200000; ++i) {
    // Log-uniform from 1 ns to 10^12 ns, then a heavy cluster near 50 us.
    const double e = std::uniform_real_distribution<double>(0, 12)(rng);
    const int64_t v = i % 3 == 0 ? 50'000 + static_cast<int64_t>(rng() % 2000)
                                 : static_cast<int64_t>(std::pow(10.0, e));
    values.push_back(v);
    h.Add(v);
  }
  EXPECT_EQ(h.count(), values.size());
  EXPECT_EQ(h.min(), *std::min_element(values.begin(), values.end()));
  EXPECT_EQ(h.max(), *std::max_element(values.begin(), values.end()));
  int64_t sum = 0;
  for (int64_t v : values) sum += v;
  EXPECT_EQ(h.sum(), sum);
  ExpectWithinError(h, values);
}

// Below 50 a bucket is narrower than 1 (2% of its values), so it holds at most one integer.
TEST(LatencyHistogramTest, IntegersBelowFiftyAreExact) {
  LatencyHistogram h;
  std::vector<int64_t> values;
  for (int64_t v = 1; v < 50; ++v) {
    values.push_back(v);
    h.Add(v);
  }
  for (double q = 0.01; q < 1; q += 0.01) EXPECT_EQ(h.Quantile(q), ExactQuantile(values, q));
}

TEST(LatencyHistogramTest, ZerosAndNegativesCountAsZero) {
  LatencyHistogram h;
  h.Add(0);
  h.Add(-5);
  h.Add(1000);
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.Quantile(0.5), -5) << "clamped to min: the two lowest count as the smallest";
  EXPECT_NEAR(h.Quantile(1.0), 1000, 0);
}

TEST(LatencyHistogramTest, MergeEqualsAddingEverything) {
  std::mt19937_64 rng(3);
  LatencyHistogram a, b, all;
  std::vector<int64_t> values;
  for (int i = 0; i < 5000; ++i) {
    const int64_t v = 1 + static_cast<int64_t>(rng() % (i % 2 ? 1'000'000 : 1000));
    (i % 2 ? a : b).Add(v);
    all.Add(v);
    values.push_back(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.sum(), all.sum());
  for (double q : {0.1, 0.5, 0.9, 0.99}) EXPECT_EQ(a.Quantile(q), all.Quantile(q));
  ExpectWithinError(a, values);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t at = 0;
  for (size_t nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) {
    lines.push_back(text.substr(at, nl - at));
  }
  return lines;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TEST(LatencyHistogramTest, TextHasALinePerPowerOfTwoBetweenMinAndMax) {
  LatencyHistogram h;
  for (int i = 0; i < 1'000'000; ++i) h.Add(1024 + i % 1024);  // [2^10, 2^11)
  EXPECT_EQ(Lines(h.Text()).size(), 1u) << h.Text();
  LatencyHistogram wide;
  wide.Add(1);
  wide.Add(int64_t{10'000'000'000'000});  // 1 ns .. 2.8 h: 2^0 .. 2^43
  EXPECT_EQ(Lines(wide.Text()).size(), 44u);
}

TEST(LatencyHistogramTest, TextScalesBarsToTheFullestRange) {
  LatencyHistogram h;
  for (int i = 0; i < 100; ++i) h.Add(1500);  // [1024, 2048)
  for (int i = 0; i < 50; ++i) h.Add(5000);   // [4096, 8192)
  const std::vector<std::string> lines = Lines(h.Text(10));
  ASSERT_EQ(lines.size(), 3u) << h.Text(10);
  EXPECT_NE(lines[0].find("1.0us - 2.0us"), std::string::npos) << lines[0];
  EXPECT_TRUE(EndsWith(lines[0], " 100 ##########")) << lines[0];
  EXPECT_TRUE(EndsWith(lines[1], " 0 ")) << lines[1];
  EXPECT_NE(lines[2].find("4.1us - 8.2us"), std::string::npos) << lines[2];
  EXPECT_TRUE(EndsWith(lines[2], " 50 #####")) << lines[2];
}

}  // namespace
}  // namespace tracer::analysis
