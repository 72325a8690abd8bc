// IdIndex: id -> position for the string, stack and label-set tables of one generation.
//
// The writer picks the ids (at most kMaxTableId), so a table may be dense (1..n, the usual
// case) or sparse (a few ids spread up to 2^22 - 1, e.g. a long-running process's intern ids,
// or a crafted file). Ids up to a bound set by the entry count are looked up in an array; the
// rest, if any, in a sorted vector by binary search. Memory is O(number of entries) (at most
// max(kDenseMinSize, kDenseFactor * entries) array slots), never O(largest id).
// Immutable after Build(); safe to read from several threads.

#ifndef TRACER_FORMAT_INTERNAL_ID_INDEX_H_
#define TRACER_FORMAT_INTERNAL_ID_INDEX_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/base/attributes.h"

namespace tracer::format_internal {

class IdIndex {
 public:
  struct Entry {
    uint64_t id;
    int32_t pos;  // the entry's position in its table, >= 0
  };
  // An array of up to this many slots is always allowed (256 KiB); above, only as long as the
  // ids it covers are at least 1/kDenseFactor dense.
  static constexpr uint64_t kDenseMinSize = uint64_t{1} << 16;
  static constexpr uint64_t kDenseFactor = 8;

  // The position of `id`, or -1 if absent. The dense case is one compare and one load; only an
  // id beyond the array looks further, and only if some ids were sparse.
  int32_t Find(uint64_t id) const {
    if (id < dense_.size()) return dense_[id];
    return sparse_ids_.empty() ? -1 : FindSparse(id);
  }

  // The array part only: -1 for an absent id and also for a sparse one (ask Find() then). For
  // a hot loop that can hand the rare miss to a slower path: no call, as before sparse ids.
  int32_t FindDense(uint64_t id) const { return id < dense_.size() ? dense_[id] : -1; }

  // Replaces the contents with `entries`. If ids repeat, returns false with the position of the
  // first entry (in table order) whose id an earlier entry has in *duplicate_pos, and leaves
  // the index empty.
  bool Build(std::vector<Entry> entries, int32_t* duplicate_pos) {
    dense_.clear();
    sparse_ids_.clear();
    sparse_pos_.clear();
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return a.id != b.id ? a.id < b.id : a.pos < b.pos;
    });
    int32_t dup = -1;
    for (size_t i = 1; i < entries.size(); ++i) {
      if (entries[i].id == entries[i - 1].id && (dup < 0 || entries[i].pos < dup)) {
        dup = entries[i].pos;
      }
    }
    if (dup >= 0) {
      *duplicate_pos = dup;
      return false;
    }
    // The array covers the longest prefix of ids (in id order) whose last id fits the bound
    // for the number of entries up to it.
    size_t num_dense = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].id < std::max(kDenseMinSize, kDenseFactor * (i + 1))) num_dense = i + 1;
    }
    if (num_dense > 0) dense_.assign(entries[num_dense - 1].id + 1, -1);
    for (size_t i = 0; i < num_dense; ++i) dense_[entries[i].id] = entries[i].pos;
    sparse_ids_.reserve(entries.size() - num_dense);
    sparse_pos_.reserve(entries.size() - num_dense);
    for (size_t i = num_dense; i < entries.size(); ++i) {
      sparse_ids_.push_back(entries[i].id);
      sparse_pos_.push_back(entries[i].pos);
    }
    return true;
  }

  size_t dense_size() const { return dense_.size(); }  // array slots, for tests
  size_t sparse_size() const { return sparse_ids_.size(); }

 private:
  ABSL_ATTRIBUTE_NOINLINE int32_t FindSparse(uint64_t id) const {
    const auto it = std::lower_bound(sparse_ids_.begin(), sparse_ids_.end(), id);
    return it != sparse_ids_.end() && *it == id ? sparse_pos_[it - sparse_ids_.begin()] : -1;
  }

  std::vector<int32_t> dense_;         // id -> position, -1 if absent
  std::vector<uint64_t> sparse_ids_;   // ids beyond dense_, ascending
  std::vector<int32_t> sparse_pos_;    // their positions
};

}  // namespace tracer::format_internal

#endif  // TRACER_FORMAT_INTERNAL_ID_INDEX_H_
