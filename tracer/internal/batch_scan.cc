// The per-batch scan loop.

#include "tracer/internal/batch_scan.h"

#include <algorithm>

#include "tracer/internal/clock.h"

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

// Refills a run's window by scanning more of its batches.
class BatchScanner::Source : public StateRunSource {
 public:
  Source(BatchScanner& s, size_t share) : s_(s), share_(share) {}
  void Refill(size_t r, StateRun& run) override {
    StateEvent* const w = s_.window_.data() + r * share_;
    run.next = w;
    run.end = w + s_.ScanRun(s_.cursors_[r], w, share_);
  }

 private:
  BatchScanner& s_;
  const size_t share_;
};

size_t BatchScanner::ScanRun(Cursor& c, StateEvent* const out, const size_t room) {
  absl::flat_hash_set<uint32_t>& strings = out_->strings;
  absl::flat_hash_set<uint32_t>& stacks = out_->stacks;
  absl::flat_hash_set<uint32_t>& labels = out_->labels;
  const uint64_t base_tick = base_tick_;
  const ScanInfo* const scan = ScanInfos();
  size_t n = 0;
  for (; c.batch < c.batch_end; ++c.batch, c.p = nullptr) {
    Buffer* const b = batches_[c.batch];
    const char* p = b->data;
    uint64_t tick = b->base_tick;
    uint64_t count = 0;
    if (c.p != nullptr) {  // resumed
      p = c.p;
      tick = c.tick;
      count = b->count;
    }
    const char* const end = b->data + b->len;
    // Events starting before fast_end have all their varints (and the scratch bytes the fast
    // decoder loads) inside the buffer: no bounds checks. The last few events go the checked
    // way.
    const char* const fast_end = b->len > kScanMargin ? end - kScanMargin : b->data;
    while (p < end) {
      const ScanInfo& si = scan[static_cast<uint8_t>(*p)];
      const int n_args = si.num_args;
      uint64_t a[format::kMaxEventArgs] = {};
      uint64_t delta = 0;
      if (ABSL_PREDICT_TRUE(p < fast_end)) {
        p = format_internal::DecodeVarintPredicted(p + 1, &delta);
        // One call site per argument count and position: the length of the varint at each is
        // steady enough to predict, so the next varint's load need not wait on this one's.
        switch (n_args) {
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
        for (int i = 0; i < n_args && p != nullptr; ++i) {
          p = format_internal::DecodeVarint(p, end, &a[i]);
        }
        if (ABSL_PREDICT_FALSE(p == nullptr)) break;  // not from our writer: cannot happen
      }
      ++count;
      tick += delta;
      if (si.refs) {  // ids for the tables, inline bytes to skip
        for (uint32_t m = si.strings; m != 0; m &= m - 1) {
          Note(string_stamps_, strings, a[__builtin_ctz(m)]);
        }
        for (uint32_t m = si.stacks; m != 0; m &= m - 1) {
          Note(stack_stamps_, stacks, a[__builtin_ctz(m)]);
        }
        for (uint32_t m = si.label_sets; m != 0; m &= m - 1) {
          Note(label_stamps_, labels, a[__builtin_ctz(m)]);
        }
        if (si.bytes) p += a[n_args - 1];  // the kBytes argument is the last
      }
      if (si.state) {
        out[n] = {(tick - base_tick) << 8 | si.type, a[0], a[1], a[2],
                  static_cast<uint32_t>(a[3]), static_cast<uint32_t>(a[4])};
        if (ABSL_PREDICT_FALSE(++n == room)) {  // the window is full: stop here
          b->count = count;
          c.p = p;
          c.tick = tick;
          return n;
        }
      }
    }
    b->count = count;
  }
  return n;
}

void BatchScanner::Scan(absl::Span<Buffer* const> batches, ScanResult& out, TaskStates& states) {
  // Ids are dense (intern-table slots): a stamp per slot dedupes them without hashing.
  ++cut_stamp_;
  batches_ = batches;
  out_ = &out;
  // State events keep their tick relative to the earliest batch's base (StateEvent::key).
  base_tick_ = ~uint64_t{0};
  for (const Buffer* b : batches) base_tick_ = std::min(base_tick_, b->base_tick);
  // Batches are sorted by thread, then seq: each thread's batches form one run in time order.
  cursors_.clear();
  runs_.clear();
  for (size_t bi = 0; bi < batches.size(); ++bi) {
    if (bi == 0 || batches[bi]->thread != batches[bi - 1]->thread) {
      cursors_.push_back({bi, bi, nullptr, 0});
      runs_.push_back({nullptr, nullptr, batches[bi]->thread});
    }
    cursors_.back().batch_end = bi + 1;
  }
  const size_t num_runs = runs_.size();
  const size_t share = std::max<size_t>(1, state_budget_ / std::max<size_t>(1, num_runs));
  // Exactly what this generation needs when it needs more (no doubling past the budget).
  if (window_.size() < num_runs * share) std::vector<StateEvent>(num_runs * share).swap(window_);
  Source source(*this, share);
  const uint64_t wait = max_wait_ticks_ != 0 ? max_wait_ticks_ : TicksPerSecond() / 1000;
  states.BeginGeneration(base_tick_ == ~uint64_t{0} ? 0 : base_tick_);
  states.ApplyRuns(runs_, &source, wait);
  uint64_t events = 0;
  for (const Buffer* b : batches) events += b->count;
  out.events = events;
  out_ = nullptr;
  batches_ = {};
}

}  // namespace tracer::tracer_internal
