#include "format/generation.h"

#include <cstdint>

namespace tracer::format {

int64_t Generation::TickDeltaNsSlow(uint64_t tick) const {
  if (clock.ticks_per_second == 0) return 0;  // rejected by the parser; defensive
  const bool neg = tick < clock.tick;
  const uint64_t d = neg ? clock.tick - tick : tick - clock.tick;
  // floor(d * 1e9 / f) = q * 1e9 + floor(r * 1e9 / f) for d = q * f + r: two 64-bit divisions
  // instead of a 128-bit one (a libgcc call that was 8% of an analysis's time), exact while
  // r * 1e9 fits in 64 bits (f below 18 GHz); else the 128-bit form.
  const uint64_t f = clock.ticks_per_second;
  constexpr uint64_t kNsPerSecond = 1000000000u;
  int64_t v;
  if (f <= UINT64_MAX / kNsPerSecond) {
    const uint64_t q = d / f, r = d % f;
    uint64_t whole;
    if (__builtin_mul_overflow(q, kNsPerSecond, &whole)) return neg ? -INT64_MAX : INT64_MAX;
    const uint64_t ns = whole + r * kNsPerSecond / f;
    v = ns > static_cast<uint64_t>(INT64_MAX) || ns < whole ? INT64_MAX : static_cast<int64_t>(ns);
  } else {
    const unsigned __int128 ns = static_cast<unsigned __int128>(d) * kNsPerSecond / f;
    v = ns > static_cast<unsigned __int128>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(ns);
  }
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
