// IdIndex: look-ups in dense, sparse and mixed tables, duplicates, and memory bounded by the
// number of entries rather than by the largest id.

#include "format/internal/id_index.h"

#include <cstdint>
#include <set>
#include <vector>

#include "format/constants.h"
#include "gtest/gtest.h"
#include "tests/format/test_trace.h"

namespace tracer::format_internal {
namespace {

using Entry = IdIndex::Entry;

// Builds an index of `ids` (position = order given) and checks every id and its neighbours.
void ExpectFindsExactly(const std::vector<uint64_t>& ids, const IdIndex& index) {
  std::set<uint64_t> present(ids.begin(), ids.end());
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_EQ(index.Find(ids[i]), static_cast<int32_t>(i)) << ids[i];
    for (uint64_t near : {ids[i] - 1, ids[i] + 1}) {
      if (present.count(near) == 0) {
        ASSERT_EQ(index.Find(near), -1) << near;
      }
    }
  }
  EXPECT_EQ(index.Find(0), -1);
  EXPECT_EQ(index.Find(format::kMaxTableId + 1), -1);
  EXPECT_EQ(index.Find(UINT64_MAX), -1);
}

IdIndex Build(const std::vector<uint64_t>& ids) {
  std::vector<Entry> entries;
  for (size_t i = 0; i < ids.size(); ++i) entries.push_back({ids[i], static_cast<int32_t>(i)});
  IdIndex index;
  int32_t dup = -1;
  EXPECT_TRUE(index.Build(entries, &dup));
  return index;
}

TEST(IdIndexTest, DenseIdsLiveInTheArray) {
  std::vector<uint64_t> ids;
  for (uint64_t id = 300000; id >= 1; id -= 3) ids.push_back(id);  // 1/3 dense, any order
  const IdIndex index = Build(ids);
  EXPECT_EQ(index.sparse_size(), 0u);
  EXPECT_EQ(index.dense_size(), 300001u);
  ExpectFindsExactly(ids, index);
}

TEST(IdIndexTest, AFewIdsNearTheMaximumDoNotSizeTheArray) {
  const std::vector<uint64_t> ids = {1, 2, 7, format::kMaxTableId, format::kMaxTableId - 1,
                                     1u << 20};
  const IdIndex index = Build(ids);
  EXPECT_EQ(index.dense_size(), 8u);
  EXPECT_EQ(index.sparse_size(), 3u);
  ExpectFindsExactly(ids, index);
}

TEST(IdIndexTest, MemoryIsBoundedByTheEntryCountForAnySpread) {
  format::testing::Rng rng(format::testing::TestSeed(5));
  for (int round = 0; round < 50; ++round) {
    std::set<uint64_t> unique;
    const uint64_t n = rng.Range(1, 5000);
    const uint64_t spread = rng.Range(1, format::kMaxTableId);
    while (unique.size() < std::min(n, spread)) unique.insert(rng.Range(1, spread));
    std::vector<uint64_t> ids(unique.begin(), unique.end());
    for (size_t i = ids.size(); i > 1; --i) std::swap(ids[i - 1], ids[rng.Uniform(i)]);
    const IdIndex index = Build(ids);
    EXPECT_LE(index.dense_size(),
              std::max(IdIndex::kDenseMinSize, IdIndex::kDenseFactor * ids.size()));
    ExpectFindsExactly(ids, index);
  }
}

TEST(IdIndexTest, DuplicatesReportTheFirstRepeatInTableOrder) {
  IdIndex index;
  int32_t dup = -1;
  // Positions: 0:5 1:9 2:kMax 3:9 4:5 5:kMax. The first entry repeating an earlier id is 3.
  const uint64_t big = format::kMaxTableId;
  EXPECT_FALSE(index.Build({{5, 0}, {9, 1}, {big, 2}, {9, 3}, {5, 4}, {big, 5}}, &dup));
  EXPECT_EQ(dup, 3);
  EXPECT_EQ(index.Find(5), -1);
  EXPECT_FALSE(index.Build({{big, 0}, {1, 1}, {big, 2}}, &dup));  // in the sparse part
  EXPECT_EQ(dup, 2);
}

TEST(IdIndexTest, EmptyIndexFindsNothing) {
  IdIndex index;
  EXPECT_EQ(index.Find(1), -1);
  int32_t dup = -1;
  EXPECT_TRUE(index.Build({}, &dup));
  EXPECT_EQ(index.Find(0), -1);
  EXPECT_EQ(index.dense_size(), 0u);
}

}  // namespace
}  // namespace tracer::format_internal
