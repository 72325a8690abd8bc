// The per-batch scan loop.

#include "tracer/internal/batch_scan.h"

#include <algorithm>

namespace tracer::tracer_internal {

const ScanInfo* ScanInfos() {
  static const ScanInfo* const table = [] {
    auto* t = new ScanInfo[256];
    for (int i = 0; i < 256; ++i) {
      const format::EventSpec* spec = format::FindEventSpec(static_cast<uint8_t>(i));
      if (spec == nullptr) continue;
      t[i].type = static_cast<uint8_t>(i);
      t[i].num_args = static_cast<uint8_t>(spec->num_args);
      t[i].state = IsStateEvent(spec->type);
      for (int a = 0; a < spec->num_args; ++a) {
        const format::ArgKind k = spec->args[a].kind;
        const auto bit = static_cast<uint8_t>(1u << a);
        if (k == format::ArgKind::kString) t[i].strings |= bit;
        if (k == format::ArgKind::kStack) t[i].stacks |= bit;
        if (k == format::ArgKind::kLabelSet) t[i].label_sets |= bit;
      }
      t[i].bytes = spec->has_bytes();
      t[i].refs = t[i].strings != 0 || t[i].stacks != 0 || t[i].label_sets != 0 || t[i].bytes;
    }
    return t;
  }();
  return table;
}

void BatchScanner::Scan(absl::Span<Buffer* const> batches, ScanResult& out) {
  absl::flat_hash_set<uint32_t>& strings = out.strings;
  absl::flat_hash_set<uint32_t>& stacks = out.stacks;
  absl::flat_hash_set<uint32_t>& labels = out.labels;
  // Ids are dense (intern-table slots): a stamp per slot dedupes them without hashing.
  ++cut_stamp_;
  auto note = [&](std::vector<uint32_t>& stamps, absl::flat_hash_set<uint32_t>& set,
                  uint64_t id) {
    if (id == 0) return;
    if (id < stamps.size()) {
      if (stamps[id] == cut_stamp_) return;
      stamps[id] = cut_stamp_;
    }
    set.insert(static_cast<uint32_t>(id));
  };
  std::vector<StateEvent>& state_events = out.state_events;
  state_events.clear();
  out.state_runs.clear();
  out.state_run_threads.clear();
  uint64_t events = 0;
  // State events keep their tick relative to the earliest batch's base (StateEvent::key).
  uint64_t base_tick = ~uint64_t{0};
  for (const Buffer* b : batches) base_tick = std::min(base_tick, b->base_tick);
  const ScanInfo* const scan = ScanInfos();
  for (size_t bi = 0; bi < batches.size(); ++bi) {
    Buffer* const b = batches[bi];
    // Batches are sorted by thread, then seq: each thread's state events form one run in
    // time order.
    if (bi == 0 || b->thread != batches[bi - 1]->thread) {
      out.state_runs.push_back(state_events.size());
      out.state_run_threads.push_back(b->thread);
    }
    const char* p = b->data;
    const char* const end = b->data + b->len;
    // Events starting before fast_end have all their varints (and the scratch bytes the fast
    // decoder loads) inside the buffer: no bounds checks. The last few events go the checked
    // way.
    const char* const fast_end = b->len > kScanMargin ? end - kScanMargin : b->data;
    uint64_t tick = b->base_tick;
    uint64_t count = 0;
    while (p < end) {
      const ScanInfo& si = scan[static_cast<uint8_t>(*p)];
      const int n = si.num_args;
      uint64_t a[format::kMaxEventArgs] = {};
      uint64_t delta = 0;
      if (ABSL_PREDICT_TRUE(p < fast_end)) {
        p = format_internal::DecodeVarintPredicted(p + 1, &delta);
        // One call site per argument count and position: the length of the varint at each is
        // steady enough to predict, so the next varint's load need not wait on this one's.
        switch (n) {
          case 0: break;
          case 1: p = ScanArgs<1>(p, a); break;
          case 2: p = ScanArgs<2>(p, a); break;
          case 3: p = ScanArgs<3>(p, a); break;
          case 4: p = ScanArgs<4>(p, a); break;
          case 5: p = ScanArgs<5>(p, a); break;
          default: p = ScanArgs<format::kMaxEventArgs>(p, a); break;
        }
      } else {
        p = format_internal::DecodeVarint(p + 1, end, &delta);
        for (int i = 0; i < n && p != nullptr; ++i) p = format_internal::DecodeVarint(p, end, &a[i]);
        if (ABSL_PREDICT_FALSE(p == nullptr)) break;  // not from our writer: cannot happen
      }
      ++count;
      tick += delta;
      if (si.refs) {  // ids for the tables, inline bytes to skip
        for (uint32_t m = si.strings; m != 0; m &= m - 1) {
          note(string_stamps_, strings, a[__builtin_ctz(m)]);
        }
        for (uint32_t m = si.stacks; m != 0; m &= m - 1) {
          note(stack_stamps_, stacks, a[__builtin_ctz(m)]);
        }
        for (uint32_t m = si.label_sets; m != 0; m &= m - 1) {
          note(label_stamps_, labels, a[__builtin_ctz(m)]);
        }
        if (si.bytes) p += a[n - 1];  // the kBytes argument is the last
      }
      if (si.state) {
        state_events.push_back({(tick - base_tick) << 8 | si.type, a[0], a[1],
                                static_cast<uint32_t>(a[2]), static_cast<uint32_t>(a[3])});
      }
    }
    b->count = count;
    events += count;
  }
  out.events = events;
}

}  // namespace tracer::tracer_internal
