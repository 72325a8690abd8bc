#include "format/generation.h"

#include <cstdint>

namespace tracer::format {

int64_t Generation::TickDeltaNs(uint64_t tick) const {
  if (clock.ticks_per_second == 0) return 0;  // rejected by the parser; defensive
  const bool neg = tick < clock.tick;
  const uint64_t d = neg ? clock.tick - tick : tick - clock.tick;
  const unsigned __int128 ns =
      static_cast<unsigned __int128>(d) * 1000000000u / clock.ticks_per_second;
  const int64_t v = ns > static_cast<unsigned __int128>(INT64_MAX) ? INT64_MAX
                                                                    : static_cast<int64_t>(ns);
  return neg ? -v : v;
}

const LabelSet* Generation::FindLabelSet(uint64_t id) const {
  const int32_t i = label_index_.Find(id);
  return i >= 0 ? &label_sets[i] : nullptr;
}

absl::string_view Generation::ThreadName(uint64_t thread) const {
  for (const ThreadInfo& t : threads) {
    if (t.id == thread) return String(t.name);
  }
  return {};
}

}  // namespace tracer::format
