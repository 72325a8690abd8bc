// Collector::Cut: ends a generation and seals it. Read thread_state.h first.

#include "tracer/internal/cut.h"

#include <sched.h>
#include <time.h>
#include <x86intrin.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "tracer/internal/batch_scan.h"
#include "tracer/internal/buffer_pool.h"
#include "tracer/internal/clock.h"
#include "tracer/internal/collector_impl.h"
#include "tracer/internal/ids.h"
#include "tracer/internal/late_losses.h"
#include "tracer/internal/mappings.h"
#include "tracer/internal/membarrier.h"
#include "tracer/internal/stacks.h"
#include "tracer/internal/stats.h"
#include "tracer/internal/thread_registry.h"

namespace tracer::tracer_internal {

bool WaitEven(ThreadState& ts, int64_t deadline_ns) {
  for (int spins = 0;; ++spins) {
    // Acquire: pairs with the release store of the even seq that ends a write section
    // (EmitEnabled, OnThreadExit), so the section's writes are seen.
    if ((ts.seq.load(std::memory_order_acquire) & 1) == 0) return true;
    // Our own section: a signal handler on this thread interrupted a write and cuts; the
    // section cannot end while we wait for it. Likewise a thread whose handler waits for the
    // collector (it called StopTrace, WriteTo, ... from inside its own write).
    if (&ts == &t_state || ts.in_api.load(std::memory_order_relaxed) != 0) return false;
    if (spins < 1000) {
      _mm_pause();
    } else {
      if ((spins & 63) == 0 && static_cast<int64_t>(MonotonicNs()) > deadline_ns) return false;
      sched_yield();
    }
  }
}

uint64_t CountEvents(const Buffer& b, uint32_t len, uint64_t* last_tick) {
  const ScanInfo* const scan = ScanInfos();
  const char* p = b.data;
  const char* const end = b.data + len;
  uint64_t tick = b.base_tick, n = 0;
  while (p < end) {
    const ScanInfo& si = scan[static_cast<uint8_t>(*p)];
    uint64_t delta = 0, a[format::kMaxEventArgs] = {};
    p = format_internal::DecodeVarint(p + 1, end, &delta);
    for (int i = 0; i < si.num_args && p != nullptr; ++i) {
      p = format_internal::DecodeVarint(p, end, &a[i]);
    }
    if (p == nullptr) break;
    if (si.bytes) p += a[si.num_args - 1];
    if (p > end) break;
    tick += delta;
    ++n;
  }
  *last_tick = tick;
  return n;
}

namespace {

// A buffer the cut leaves with a thread it could not wait for: its complete events (before
// pos) are reported lost now, and marked so the late hand-over counts only the rest.
void CountLeftBehind(ThreadState& ts, Buffer* b, CutBatches& out) {
  const uint32_t len = static_cast<uint32_t>(ts.pos.load(std::memory_order_relaxed) - b->data);
  uint64_t last = 0;
  const uint64_t n = CountEvents(*b, len, &last);
  const uint64_t already = b->counted;
  if (n > already) {
    out.losses.push_back({b->thread, n - already, b->base_tick, last});
    g_events_lost.fetch_add(n - already, std::memory_order_relaxed);
    b->counted = static_cast<uint32_t>(n);
  }
}

}  // namespace

uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void TakeThreadBuffers(uint32_t old_gen, uint32_t new_gen, CutBatches& out) {
  std::vector<Buffer*>& batches = out.batches;
  std::vector<format::ThreadInfo>& threads = out.threads;
  std::vector<format::LossRecord>& losses = out.losses;
  const int64_t deadline = static_cast<int64_t>(MonotonicNs()) + kSectionWaitNs;
  if (g_registry_mu.TryLockUntil(std::chrono::steady_clock::now() +
                                 std::chrono::nanoseconds(kSectionWaitNs))) {
    for (ThreadState* ts = g_threads; ts != nullptr; ts = ts->next) {
      const bool waited = WaitEven(*ts, deadline);
      // Acquire: pairs with EmitSlow's release store of `current` (the header it wrote).
      Buffer* b = ts->current.load(std::memory_order_acquire);
      bool taken = false;
      if (!waited) {
        // Its section stays open: the thread goes on writing into its buffer (or never
        // returns to it), so the buffer is neither taken nor reused.
        out.skipped = true;
        if (b != nullptr) CountLeftBehind(*ts, b, out);
      } else if (b != nullptr && (b->gen == old_gen || (b->gen != new_gen && b->counted != 0))) {
        uint32_t len = static_cast<uint32_t>(ts->pos.load(std::memory_order_relaxed) - b->data);
        // acq_rel, as HandOverCurrent's exchange it races with: the winner owns the buffer.
        if (ts->current.compare_exchange_strong(b, nullptr, std::memory_order_acq_rel)) {
          b->len = len;
          // One an earlier cut left behind (its thread idle since): the rest of it is lost.
          (b->counted == 0 ? batches : out.late).push_back(b);
          taken = true;
        }
      }
      // Else the thread may have taken its buffer itself, in a write section begun after the
      // wait above (its slow path, seeing the new generation), and not queued it yet: wait for
      // that section to end. Its hand-over (the enqueue) comes before the release store that
      // makes seq even, so step 4's drain finds the buffer. (Without this wait a preempted
      // hand-over reached the queue after the drain and was carried, never sealed; at the
      // final cut, after the pool was freed.)
      if (waited && !taken && !WaitEven(*ts, deadline)) out.skipped = true;
      threads.push_back({ts->tid, ts->name.load(std::memory_order_relaxed)});
      format::LossRecord loss;
      if (TakeUnreportedLosses(*ts, loss)) losses.push_back(loss);
    }
    for (const ExitedThread& e : *g_exited) {
      threads.push_back({e.tid, e.name});
      if (e.lost != 0) losses.push_back({e.tid, e.lost, e.lost_first, e.lost_last});
    }
    g_exited->clear();
    g_registry_mu.Unlock();
  } else {
    out.skipped = true;  // no thread was looked at: their buffers arrive late, counted then
  }
  DrainLateLosses(losses);
  for (auto& l : losses) {
    if (l.end_tick < l.begin_tick) std::swap(l.begin_tick, l.end_tick);
  }
}

void DrainFlushQueue(uint32_t old_gen, uint32_t new_gen, CutBatches& out,
                     std::vector<Buffer*>& carry) {
  std::vector<Buffer*> next_carry;
  for (Buffer* b : out.late) carry.push_back(b);  // counted below with the queued ones
  out.late.clear();
  auto sort = [&](Buffer* b) {
    if (b->gen == old_gen && b->counted == 0) {
      out.batches.push_back(b);
    } else if (b->gen == new_gen && new_gen != 0 && b->counted == 0) {
      next_carry.push_back(b);
    } else {
      // Handed over after a cut could not take it (or of no generation still open): its
      // events beyond those already reported are lost.
      uint64_t last = 0;
      const uint64_t n = CountEvents(*b, b->len, &last);
      if (n > b->counted) {
        out.losses.push_back({b->thread, n - b->counted, b->base_tick, last});
        g_events_lost.fetch_add(n - b->counted, std::memory_order_relaxed);
      }
      b->counted = 0;
      (void)ReturnBuffer(b);
    }
  };
  for (Buffer* b : carry) sort(b);
  Buffer* items[64];
  size_t n;
  while ((n = g_flush->try_dequeue_bulk(items, 64)) != 0) {
    for (size_t i = 0; i < n; ++i) sort(items[i]);
  }
  carry = std::move(next_carry);
}

uint32_t Collector::SwitchGeneration(bool final) {
  const uint32_t old_gen = cur_gen_;
  uint32_t next = 0;
  if (!final) {
    do {
      ++last_gen_number_;
    } while (last_gen_number_ == 0);
    next = last_gen_number_;
  }
  // seq_cst, then the barrier: thread_state.h, steps 1-2 (under TSan, with the threads'
  // seq_cst odd store and g_gen load, Dekker's pattern).
  g_gen.store(next, std::memory_order_seq_cst);
  Membarrier();
  cur_gen_ = next;
  return old_gen;
}

void Collector::AddStartStates(const format::ClockSnapshot& clock, int64_t end_ns,
                               ScanResult& scan) {
  format::GenerationBuilder& gb = builder_;
  gb.Reset(gen_seq_++);
  gb.SetClock(clock);
  gb.SetTimeSpan(gen_begin_ns_, end_ns);
  // The runtime tasks are stated after the scan (AddStatedTasks): only those the generation's
  // events name, and those running at its start, as they were at its start.
  for (const auto& [id, t] : states_.user_tasks()) {
    gb.AddUserTask(t);
    if (t.name) scan.strings.insert(t.name);
  }
}

void Collector::AddStatedTasks(ScanResult& scan) {
  for (const format::TaskState& t : states_.stated()) {
    builder_.AddTask(t);
    if (t.name) scan.strings.insert(static_cast<uint32_t>(t.name));
    if (t.labels) scan.labels.insert(static_cast<uint32_t>(t.labels));
  }
}

void Collector::AddTables(const CutBatches& in, ScanResult& scan) {
  absl::flat_hash_set<uint32_t>& strings = scan.strings;
  absl::flat_hash_set<uint32_t>& labels = scan.labels;
  format::GenerationBuilder& gb = builder_;
  for (const auto& t : in.threads) {
    gb.AddThread(t);
    if (t.name) strings.insert(t.name);
  }
  for (const auto& l : in.losses) gb.AddLoss(l);
  for (uint32_t id : labels) {
    absl::string_view enc = Strings().Get(id);
    std::vector<std::pair<uint64_t, uint64_t>> kv;
    while (!enc.empty()) {
      size_t k = enc.find('\0');
      size_t v = enc.find('\0', k + 1);
      if (k == absl::string_view::npos || v == absl::string_view::npos) break;
      uint32_t kid = Strings().Intern(enc.substr(0, k));
      uint32_t vid = Strings().Intern(enc.substr(k + 1, v - k - 1));
      kv.push_back({kid, vid});
      strings.insert(kid);
      strings.insert(vid);
      enc.remove_prefix(v + 1);
    }
    gb.AddLabelSet(id, kv);
  }
  // The loader's counts, for the symbol cache and the mappings: an object loaded or unloaded
  // since the last cut may have moved what a pc names.
  const LoaderCounts loader = ReadLoaderCounts();
  symbols_.DropIfLoaderChanged(loader);
  for (uint32_t id : scan.stacks) {
    std::vector<format::Frame> frames;
    for (uintptr_t pc : Stacks().Get(id)) {
      const format::Frame& f = symbols_.Symbolize(pc);
      frames.push_back(f);
      if (f.func) strings.insert(f.func);
      if (f.file) strings.insert(f.file);
    }
    gb.AddStack(id, frames);
  }
  // The loaded objects: walked again only when the loader's counts of objects added and
  // removed changed since the last cut (walking reads every object's build-id note).
  for (const format::Mapping& m : mappings_.Get(loader)) {
    if (m.build_id) strings.insert(static_cast<uint32_t>(m.build_id));
    if (m.path) strings.insert(static_cast<uint32_t>(m.path));
    gb.AddMapping(m);
  }
  strings.erase(0);
  for (uint32_t id : strings) gb.AddString(id, Strings().Get(id));
  // The events stay in the buffers until the generation is encoded (step 7 returns them).
  gb.ReserveBatches(in.batches.size(), 0);
  for (const Buffer* b : in.batches) {
    gb.AddBatchBorrowed(b->thread, b->seq, b->base_tick, b->count,
                        absl::string_view(b->data, b->len));
  }
}

void Collector::Cut(bool final) {
  const uint64_t cpu_start = ThreadCpuNs();
  // The next generation runs in the pool the consumers need now.
  if (!final) UpdatePool();
  // 1-2: switch generations (thread_state.h, "Who runs alongside whom").
  const uint32_t old_gen = SwitchGeneration(final);

  // 3: take idle threads' buffers; note names and losses.
  CutBatches in;
  TakeThreadBuffers(old_gen, cur_gen_, in);
  // No thread takes from a retired pool any more, unless one was skipped (its section is
  // still open); then they settle at a later cut.
  if (!in.skipped) SettleRetiredPools();
  // 4: everything queued so far; buffers of the new generation wait for the next cut.
  DrainFlushQueue(old_gen, cur_gen_, in, carry_);
  const format::ClockSnapshot clock = TakeClockSnapshot();
  const int64_t end_ns = clock.mono_ns;

  // 5: decode our own batches (trusted) for referenced ids and task-state changes.
  std::sort(in.batches.begin(), in.batches.end(), [](const Buffer* a, const Buffer* b) {
    return a->thread != b->thread ? a->thread < b->thread : a->seq < b->seq;
  });
  ScanResult& scan = scan_;
  scan.strings.clear();
  scan.stacks.clear();
  scan.labels.clear();
  // Tables describe the state at the generation's start: the user tasks are listed before the
  // scan advances the states over the generation's events (in time order, holding a bounded
  // window); the runtime tasks it names, as the scan first met them.
  AddStartStates(clock, end_ns, scan);
  scanner_.Scan(absl::MakeConstSpan(in.batches), scan, states_);
  AddStatedTasks(scan);
  const uint64_t events = scan.events;

  // 6: encode.
  AddTables(in, scan);

  std::string& raw = raw_;
  std::string& compressed = compressed_;
  raw.clear();
  compressed.clear();
  // A generation holds at most the pool's bytes plus bounded tables, and the pool is capped
  // (SetBufferConfig) well below the format's 1 GiB payload limit, so this cannot fail; should
  // it, the generation is not delivered and its events count as lost.
  bool want_compressed = false;
  for (const Consumer& c : consumers_) want_compressed |= c.options.compressed;
  format::GenerationBuilder& gb = builder_;
  // The encoded generation is at most about a pool's worth of batches plus tables: reserved
  // once (not grown by doubling inside the collector's malloc arena, whose freed pages stay
  // resident), and given back when the pool shrinks.
  {
    const Pool* pool = g_pool.load(std::memory_order_relaxed);
    const size_t want = (pool != nullptr ? pool->bytes : 0) + (size_t{1} << 20);
    for (std::string* out : {&raw, &compressed}) {
      if (out == &compressed && !want_compressed) continue;
      if (out->capacity() > 2 * want) out->shrink_to_fit();
      if (out->capacity() < want) out->reserve(want);
    }
  }
  const bool encoded = gb.TryAppendTo(&raw, /*compress=*/false).ok() &&
                       (!want_compressed || gb.TryAppendTo(&compressed, /*compress=*/true).ok());
  if (!encoded) g_events_lost.fetch_add(events, std::memory_order_relaxed);

  // 7: buffers back to the pool (the consumers have copies of the bytes).
  for (Buffer* b : in.batches) ReturnBuffer(b);
  // The stack table's halves rotate when the active one passes half full (intern_table.h):
  // this generation's stacks are encoded, and the live tasks' stacks move to the new half.
  TaskTable& tasks = states_.tasks();  // the lambda runs under control_mu_, here
  Stacks().RotateIfFull([&tasks](absl::FunctionRef<void(uint32_t&)> move) {
    tasks.ForEachMutable([&](TrackedTask& t) {
      move(t.create_stack);
      move(t.block_stack);
    });
  });

  g_events_sealed.fetch_add(events, std::memory_order_relaxed);
  g_seal_cpu_ns.fetch_add(ThreadCpuNs() - cpu_start, std::memory_order_relaxed);

  // 8: deliver.
  SealedGeneration sg;
  sg.seq = gen_seq_ - 1;
  sg.begin_ns = gen_begin_ns_;
  sg.end_ns = end_ns;
  sg.events = events;
  for (const auto& l : in.losses) sg.events_lost += l.count;
  sg.raw = &raw;
  sg.compressed = want_compressed ? &compressed : nullptr;
  if (encoded) {
    DeliveryScope delivering;  // a Sink calling StopTrace, WriteTo, ... fails, not deadlocks
    for (const Consumer& c : consumers_) c.c->OnGeneration(sg);
  }
  gen_begin_ns_ = end_ns;
  g_generations.fetch_add(1, std::memory_order_relaxed);
  if (final) {
    // Nothing may stay queued across a deactivation: carry_ holds only buffers of `next`,
    // which is 0 here, so it is empty; return anything else defensively. (The task states go
    // after the last listing: RemoveConsumer.)
    for (Buffer* b : carry_) ReturnBuffer(b);
    carry_.clear();
  }
}

bool Collector::EncodeListing(std::string* out, bool compress, uint64_t* listed) {
  format::GenerationBuilder& gb = builder_;
  // The seq the next generation will carry: unique within any one file (a listing ends it).
  gb.Reset(gen_seq_);
  const format::ClockSnapshot clock = TakeClockSnapshot();
  gb.SetClock(clock);
  gb.SetTimeSpan(clock.mono_ns, clock.mono_ns);
  gb.SetListing();
  ScanResult& scan = scan_;
  scan.strings.clear();
  scan.stacks.clear();
  scan.labels.clear();
  // The lambda runs under control_mu_, here: it reaches the guarded members through pointers.
  format::GenerationBuilder* const builder = &builder_;
  ScanResult* const used = &scan_;
  uint64_t n = 0;
  states_.tasks().ForEach([&](const TrackedTask& t) {
    const format::LiveTask live = t.ToLive();
    builder->AddLiveTask(live);
    ++n;
    if (live.name) used->strings.insert(static_cast<uint32_t>(live.name));
    if (live.labels) used->labels.insert(static_cast<uint32_t>(live.labels));
    if (live.stack) used->stacks.insert(static_cast<uint32_t>(live.stack));
  });
  for (const auto& [id, t] : states_.user_tasks()) {
    gb.AddUserTask(t);
    if (t.name) scan.strings.insert(static_cast<uint32_t>(t.name));
  }
  AddTables(CutBatches{}, scan);
  const bool ok = gb.TryAppendTo(out, compress).ok();
  if (listed != nullptr) *listed = ok ? n : 0;
  // A listing of many tasks leaves the builder's tables large; cuts need far less.
  if (gb.raw_payload_bytes() > (size_t{1} << 20)) builder_ = format::GenerationBuilder(0);
  return ok;
}

}  // namespace tracer::tracer_internal
