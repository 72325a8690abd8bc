// Interned strings and label sets, and task ids.

#include "tracer/internal/ids.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "tracer/internal/mutex.h"
#include "tracer/internal/runtime.h"
#include "tracer/internal/stats.h"
#include "tracer/internal/thread_state.h"

namespace tracer::tracer_internal {
namespace {

std::atomic<uint64_t> g_next_id_block{1};  // relaxed: only its uniqueness matters

// The distinct label sets interned so far, by encoding (capped at kMaxLabelSets).
struct LabelSets {
  Mutex mu;
  absl::flat_hash_map<std::string, uint32_t> ids ABSL_GUARDED_BY(mu);
};
LabelSets& TheLabelSets() {
  static LabelSets* s = new LabelSets;
  return *s;
}

}  // namespace

std::atomic<uint64_t> g_label_sets_dropped{0};

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
  // A key given twice keeps its last value.
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string enc;
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i + 1 < sorted.size() && sorted[i + 1].first == sorted[i].first) continue;
    absl::StrAppend(&enc, sorted[i].first, absl::string_view("\0", 1), sorted[i].second,
                    absl::string_view("\0", 1));
  }
  if (enc.empty()) return 0;
  LabelSets& sets = TheLabelSets();
  {
    MutexLock l(sets.mu);
    if (auto it = sets.ids.find(enc); it != sets.ids.end()) return it->second;
    if (sets.ids.size() < kMaxLabelSets) {
      const uint32_t id = Strings().Intern(enc);
      if (id != 0) sets.ids.emplace(std::move(enc), id);
      return id != 0 ? id : kLabelSetDropped;
    }
  }
  return kLabelSetDropped;
}

void CountLabelSetDropped() {
  const uint64_t n = g_label_sets_dropped.fetch_add(1, std::memory_order_relaxed) + 1;
  // In the trace too, as a counter whose value is the drops so far.
  if (Enabled()) {
    static const uint32_t kName = InternString("tracer.label_sets_dropped");
    Emit(format::EventType::kCounter, kName, format_internal::ZigZag(static_cast<int64_t>(n)));
  }
}

std::vector<std::pair<std::string, std::string>> DecodeLabelSet(uint32_t id) {
  std::vector<std::pair<std::string, std::string>> out;
  if (id == 0 || id == kLabelSetDropped) return out;
  absl::string_view enc = StringById(id);
  while (!enc.empty()) {
    const size_t k = enc.find('\0');
    if (k == absl::string_view::npos) break;
    const size_t v = enc.find('\0', k + 1);
    if (v == absl::string_view::npos) break;
    out.emplace_back(std::string(enc.substr(0, k)), std::string(enc.substr(k + 1, v - k - 1)));
    enc.remove_prefix(v + 1);
  }
  return out;
}

}  // namespace tracer::tracer_internal
