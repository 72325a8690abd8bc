// Interned strings and label sets, and task ids.

#include "tracer/internal/ids.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tracer/internal/runtime.h"
#include "tracer/internal/thread_state.h"

namespace tracer::tracer_internal {
namespace {

std::atomic<uint64_t> g_next_id_block{1};  // relaxed: only its uniqueness matters

}  // namespace

StringTable& Strings() {
  static StringTable* t = new StringTable(1 << 16, 16 << 20);
  return *t;
}

uint32_t InternString(absl::string_view s) { return Strings().Intern(s); }
absl::string_view StringById(uint32_t id) { return Strings().Get(id); }

uint64_t NewId() {
  ThreadState& ts = t_state;
  if (ts.next_id == ts.id_limit) {
    constexpr uint64_t kBlock = 1024;
    ts.next_id = g_next_id_block.fetch_add(kBlock, std::memory_order_relaxed);
    ts.id_limit = ts.next_id + kBlock;
  }
  return ts.next_id++;
}

uint32_t InternLabelSet(absl::Span<const std::pair<absl::string_view, absl::string_view>> l) {
  // A label set is interned as the string "k\0v\0k\0v\0", sorted by key.
  std::vector<std::pair<absl::string_view, absl::string_view>> sorted(l.begin(), l.end());
  std::sort(sorted.begin(), sorted.end());
  std::string enc;
  for (const auto& [k, v] : sorted) absl::StrAppend(&enc, k, absl::string_view("\0", 1), v,
                                                    absl::string_view("\0", 1));
  return Strings().Intern(enc);
}

}  // namespace tracer::tracer_internal
