// The recording runtime: thread registration, the slow path, the buffer pool, and the
// collector that cuts and seals generations. Read thread_state.h first.

#include <dlfcn.h>
#include <link.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/debugging/stacktrace.h"
#include "absl/debugging/symbolize.h"
#include "absl/strings/str_cat.h"
#include "format/constants.h"
#include "format/internal/varint.h"
#include "format/trace_writer.h"
#include "tracer/hooks.h"
#include "tracer/internal/clock.h"
#include "tracer/internal/collector.h"
#include "tracer/internal/intern_table.h"
#include "tracer/internal/runtime.h"
#include "tracer/internal/thread_state.h"
#include "tracer/tracer.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>

namespace tracer::tracer_internal {

std::atomic<uint32_t> g_gen{0};
constinit thread_local ThreadState t_state TRACER_TLS_MODEL;

namespace {

using format::EventType;
using BufferQueue = moodycamel::ConcurrentQueue<Buffer*>;

// ---- Process-wide state. ----------------------------------------------------------------

// Guards the thread registry (the list of ThreadStates) and the exited-thread list. Taken by
// threads at registration and exit, and by the collector during a cut. Never on a hot path.
std::mutex g_registry_mu;
ThreadState* g_threads = nullptr;  // intrusive list, guarded by g_registry_mu
struct ExitedThread {
  uint64_t tid;
  uint32_t name;
  uint64_t lost;  // losses not yet reported
  uint64_t lost_first, lost_last;
};
std::vector<ExitedThread>* g_exited = new std::vector<ExitedThread>;  // guarded by registry mu
uint64_t g_threads_registered = 0;                                    // guarded by registry mu

// Immutable while tracing is on (set by Activate before g_gen becomes non-zero, with a
// release store that the slow path's acquire load of g_gen pairs with).
BufferQueue* g_flush = nullptr;  // filled buffers, thread -> collector; created once, never freed
char* g_pool_mem = nullptr;
// The pool's two size classes, carved from g_pool_mem. A thread takes a small buffer for its
// first events of a generation and large ones once it fills that: a thread that records a few
// events per generation holds 4 KiB, not 64, so a process with thousands of live threads still
// fits in the pool (DESIGN.md principle 4).
struct PoolClass {
  BufferQueue* free = nullptr;  // its free list
  size_t count = 0;
  size_t stride = 0;  // bytes per buffer, header included
  uint32_t capacity = 0;  // event bytes per buffer
};
PoolClass g_small, g_large;
size_t g_pool_bytes = 0;  // both classes

// Bytes of the pool not on a free list: in threads' hands, queued for the collector, or being
// sealed (approximate: the free lists' sizes are).
size_t PoolBytesInUse() {
  size_t free_bytes = 0;
  for (const PoolClass* c : {&g_small, &g_large}) {
    if (c->free != nullptr) free_bytes += c->free->size_approx() * c->stride;
  }
  return g_pool_bytes - std::min(free_bytes, g_pool_bytes);
}

// Back to its class's free list (the classes differ in capacity).
void ReturnBuffer(Buffer* b) {
  (b->capacity == g_small.capacity && g_small.count != 0 ? g_small : g_large).free->enqueue(b);
}
BufferConfig g_config;           // guarded by g_control_mu; copied to g_active_config at start
BufferConfig g_active_config;

std::atomic<uint64_t> g_next_id_block{1};
std::atomic<uint64_t> g_events_lost{0};
std::atomic<uint64_t> g_generations{0};
std::atomic<uint64_t> g_events_sealed{0};  // stats only (relaxed: read for reporting)
std::atomic<uint64_t> g_seal_cpu_ns{0};

StringTable& Strings() {
  static StringTable* t = new StringTable(1 << 16, 16 << 20);
  return *t;
}
StackTable& Stacks() {
  static StackTable* t = new StackTable(1 << 14);
  return *t;
}

bool g_have_membarrier = false;

void Membarrier() {
#ifndef TRACER_TSAN
  if (g_have_membarrier &&
      syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) {
    return;
  }
  // Fallback: the global command waits for every CPU to pass a quiescent state (slow, rare).
  syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0);
#endif
}

pthread_key_t g_exit_key;

void OnThreadExit(void* arg);

void InitOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    InitClock();
    pthread_key_create(&g_exit_key, OnThreadExit);
    g_have_membarrier =
        syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    g_flush = new BufferQueue(1024);
    Strings();
    Stacks();
  });
}

// ---- Slow path. --------------------------------------------------------------------------

uint64_t NextBatchSeq(ThreadState& ts, uint32_t gen) {
  if (ts.batch_seq_gen != gen) {
    ts.batch_seq_gen = gen;
    ts.next_batch_seq = 0;
  }
  return ts.next_batch_seq++;
}

void Finalize(ThreadState& ts, Buffer* b) {
  b->len = static_cast<uint32_t>(ts.pos.load(std::memory_order_relaxed) - b->data);
}

// Hands this thread's current buffer to the flush queue, unless the collector already took
// it: the exchange decides (thread_state.h). REQUIRES: inside a write section.
void HandOverCurrent(ThreadState& ts) {
  if (Buffer* old = ts.current.exchange(nullptr, std::memory_order_acq_rel); old != nullptr) {
    Finalize(ts, old);
    g_flush->enqueue(*static_cast<moodycamel::ProducerToken*>(ts.producer_token), old);
  }
  ts.gen = 0;
  ts.end = nullptr;
  ts.pos.store(nullptr, std::memory_order_relaxed);
}

bool Register(ThreadState& ts) {
  ts.tid = static_cast<uint64_t>(syscall(SYS_gettid));
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof(name));
  ts.name.store(Strings().Intern(name), std::memory_order_relaxed);
  ts.producer_token = new moodycamel::ProducerToken(*g_flush);
  pthread_setspecific(g_exit_key, &ts);
  std::lock_guard<std::mutex> l(g_registry_mu);
  ts.next = g_threads;
  ts.prev = nullptr;
  if (g_threads != nullptr) g_threads->prev = &ts;
  g_threads = &ts;
  ts.registered = true;
  ts.need_thread_start = true;
  ++g_threads_registered;
  return true;
}

void RecordLoss(ThreadState& ts, uint64_t now) {
  const uint64_t total = ts.lost_total.load(std::memory_order_relaxed);
  if (total == ts.lost_ack.load(std::memory_order_acquire)) {
    ts.lost_first_tick.store(now, std::memory_order_relaxed);  // a new unreported run
  }
  ts.lost_last_tick.store(now, std::memory_order_relaxed);
  ts.lost_total.store(total + 1, std::memory_order_relaxed);
  g_events_lost.fetch_add(1, std::memory_order_relaxed);  // stats only; on the drop path
}

char* WriteEvent(char* p, EventType type, uint64_t delta, const uint64_t* args, int nargs,
                 const char* bytes, uint32_t nbytes, bool has_bytes) {
  *p++ = static_cast<char>(type);
  p = format_internal::EncodeVarint(p, delta);
  for (int i = 0; i < nargs; ++i) p = format_internal::EncodeVarint(p, args[i]);
  if (has_bytes) {
    p = format_internal::EncodeVarint(p, nbytes);
    std::memcpy(p, bytes, nbytes);
    p += nbytes;
  }
  return p;
}

}  // namespace

void DropNested(ThreadState& ts) {
  ts.nested_drops.store(ts.nested_drops.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
}

void EmitSlow(ThreadState& ts, EventType type, const uint64_t* args, int nargs,
              const char* bytes, uint32_t nbytes, bool has_bytes) {
  // We are inside the write section (seq odd).
  if (!ts.registered) {
    InitOnce();
    Register(ts);
  }
  const uint32_t gen = g_gen.load(std::memory_order_acquire);
  if (gen == 0) return;  // tracing ended meanwhile
  const uint64_t need = kMaxFixedEventBytes + nbytes;
  uint64_t now = ReadTicks();
  if (gen != ts.gen || ts.end - ts.pos.load(std::memory_order_relaxed) < static_cast<long>(need)) {
    // A generation's first buffer is a small one; a thread that fills it gets large ones.
    const bool first = gen != ts.gen;
    HandOverCurrent(ts);
    Buffer* b = nullptr;
    bool got = false;
    for (PoolClass* c : {first ? &g_small : &g_large, first ? &g_large : &g_small}) {
      if (c->count == 0 || c->capacity < need) continue;
      // try_dequeue may miss an item another thread is enqueueing right now: retry briefly.
      for (int attempt = 0; attempt < 3 && !got; ++attempt) got = c->free->try_dequeue(b);
      if (got) break;
    }
    if (!got || b == nullptr) {
      RecordLoss(ts, now);
      return;
    }
    b->gen = gen;
    b->thread = ts.tid;
    b->base_tick = now;
    b->seq = NextBatchSeq(ts, gen);
    b->len = 0;
    b->count = 0;
    ts.pos.store(b->data, std::memory_order_relaxed);
    ts.end = b->data + b->capacity;
    ts.last_tick = now;
    ts.gen = gen;
    ts.current.store(b, std::memory_order_release);  // publishes the header to the collector
  }
  if (now < ts.last_tick) now = ts.last_tick;
  char* p = ts.pos.load(std::memory_order_relaxed);
  if (ABSL_PREDICT_FALSE(ts.need_thread_start)) {  // first event this thread ever records
    ts.need_thread_start = false;
    p = WriteEvent(p, EventType::kThreadStart, now - ts.last_tick, nullptr, 0, nullptr, 0, false);
    ts.last_tick = now;
  }
  p = WriteEvent(p, type, now - ts.last_tick, args, nargs, bytes, nbytes, has_bytes);
  ts.last_tick = now;
  ts.pos.store(p, std::memory_order_relaxed);
}

namespace {

void OnThreadExit(void* arg) {
  auto& ts = *static_cast<ThreadState*>(arg);
  if (Enabled()) Emit(EventType::kThreadStop);
  // Flush inside a write section so a concurrent cut waits for us (thread_state.h).
  const uint32_t s = ts.seq.load(std::memory_order_relaxed);
  ts.seq.store(s + 1, kOddOrder);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  HandOverCurrent(ts);
  ts.seq.store(s + 2, std::memory_order_release);
  delete static_cast<moodycamel::ProducerToken*>(ts.producer_token);  // items stay queued
  ts.producer_token = nullptr;
  std::lock_guard<std::mutex> l(g_registry_mu);
  if (ts.prev != nullptr) ts.prev->next = ts.next; else g_threads = ts.next;
  if (ts.next != nullptr) ts.next->prev = ts.prev;
  ts.next = ts.prev = nullptr;
  ts.registered = false;
  const uint64_t total = ts.lost_total.load(std::memory_order_relaxed);
  g_exited->push_back({ts.tid, ts.name.load(std::memory_order_relaxed), total - ts.lost_reported,
                       ts.lost_first_tick.load(std::memory_order_relaxed),
                       ts.lost_last_tick.load(std::memory_order_relaxed)});
}

// ---- Stacks. -----------------------------------------------------------------------------

}  // namespace

// Copies of g_active_config's stack switches, read by recording threads (relaxed: a thread
// that sees the old value while a capture starts records or skips one stack, nothing more).
std::atomic<bool> g_stacks{true};
std::atomic<bool> g_region_stacks{false};

uint64_t CaptureStackId() {
  void* pcs[kMaxStackDepth + 1];
#ifdef TRACER_TSAN
  // libunwind's per-thread cache has a TSD destructor that crashes TSan's runtime at thread
  // exit; TSan builds (tests only) walk frame pointers instead.
  int n = absl::GetStackTrace(pcs, kMaxStackDepth + 1, 0);
#else
  // libunwind walks code built without frame pointers (most of Debian), and is signal-safe.
  int n = unw_backtrace(pcs, kMaxStackDepth + 1);
#endif
  constexpr int kSkip = 1;  // this function; frame 1 is the code that recorded the event
  if (n <= kSkip) return 0;
  uintptr_t frames[kMaxStackDepth];
  const int m = std::min(n - kSkip, kMaxStackDepth);
  for (int i = 0; i < m; ++i) frames[i] = reinterpret_cast<uintptr_t>(pcs[i + kSkip]);
  return Stacks().Intern(absl::Span<const uintptr_t>(frames, m));
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

// ---- The collector. ----------------------------------------------------------------------

PoolLayout LayOutPool(size_t pool_bytes, size_t buffer_bytes) {
  auto stride = [](size_t bytes) { return (sizeof(Buffer) + bytes + 63) & ~size_t{63}; };
  PoolLayout l;
  l.large_stride = stride(buffer_bytes);
  const size_t small_bytes = std::clamp<size_t>(buffer_bytes / 16, 2 << 10, 4 << 10);
  if (buffer_bytes >= 4 * small_bytes) {
    l.small_stride = stride(small_bytes);
    // A quarter of the pool, but never at the cost of the two large buffers.
    const size_t room = pool_bytes - std::min(pool_bytes, 2 * l.large_stride);
    l.small_count = std::min(pool_bytes / 4, room) / l.small_stride;
  }
  l.large_count = std::max<size_t>(
      (pool_bytes - std::min(pool_bytes, l.small_count * l.small_stride)) / l.large_stride, 2);
  return l;
}

// (collector.h) The collector must look at the pool often enough that a filling pool is cut
// before it runs dry, and rarely enough that an idle or lightly traced process is not woken for
// nothing. It cuts once half the pool is in use, so a poll for every eighth of the pool taken
// leaves three eighths for the cut's own latency. With no rate yet (idle, or just after a cut)
// it assumes an eighth of a fast burst (kBurstBytesPerMs): an idle 512 KiB pool is polled every
// 8 ms, the default 32 MiB one every 25 ms; never more often than every millisecond.
absl::Duration PoolPollInterval(size_t pool_count, size_t buffer_stride, double in_use_per_ms) {
  constexpr double kBurstBytesPerMs = 64 << 10;  // 64 MiB/s: several threads logging flat out
  constexpr absl::Duration kMin = absl::Milliseconds(1);
  constexpr absl::Duration kMax = absl::Milliseconds(25);
  if (pool_count == 0 || buffer_stride == 0) return kMax;
  const double eighth = static_cast<double>(pool_count) / 8;
  const double burst_per_ms = kBurstBytesPerMs / static_cast<double>(buffer_stride);
  const double per_ms = std::max(in_use_per_ms, burst_per_ms / 8);
  return std::clamp(absl::Microseconds(eighth / per_ms * 1e3), kMin, kMax);
}

namespace {

struct Consumer {
  GenerationConsumer* c;
  ConsumerOptions options;
};

// The tracked task states: entries in a slab, found through an id -> slot map. Slots stay put
// while others come and go, so a run of events can keep its running task's slot instead of
// looking the task up again at every event. Collector thread only.
class TaskTable {
 public:
  static constexpr uint32_t kNoSlot = ~uint32_t{0};
  uint32_t Find(uint64_t id) const {
    if (id == 0) return kNoSlot;
    const Entry& e = direct_[id & kDirectMask];
    if (e.id == id) return e.slot;
    if (overflow_.empty()) return kNoSlot;
    auto it = overflow_.find(id);
    return it == overflow_.end() ? kNoSlot : it->second;
  }
  // The slot of `id`, made (id set, every other field zero) if it was not tracked.
  // Id 0 (no task) gets the scratch slot, which is never listed.
  uint32_t FindOrAdd(uint64_t id) {
    if (ABSL_PREDICT_FALSE(id == 0)) {
      slab_[kScratch] = format::TaskState{};
      return kScratch;
    }
    Entry& e = direct_[id & kDirectMask];
    if (ABSL_PREDICT_TRUE(e.id == id)) return e.slot;
    if (!overflow_.empty()) {
      if (auto it = overflow_.find(id); it != overflow_.end()) return it->second;
    }
    uint32_t slot;
    if (free_.empty()) {
      slot = static_cast<uint32_t>(slab_.size());
      slab_.emplace_back();
    } else {
      slot = free_.back();
      free_.pop_back();
    }
    slab_[slot] = format::TaskState{};
    slab_[slot].id = id;
    if (e.id == 0) {
      e = {id, slot};
    } else {
      overflow_.emplace(id, slot);
    }
    ++size_;
    return slot;
  }
  void Erase(uint64_t id) {
    if (id == 0) return;
    uint32_t slot;
    if (Entry& e = direct_[id & kDirectMask]; e.id == id) {
      slot = e.slot;
      e = {};
    } else {
      if (overflow_.empty()) return;
      auto it = overflow_.find(id);
      if (it == overflow_.end()) return;
      slot = it->second;
      overflow_.erase(it);
    }
    slab_[slot].id = 0;  // a slot kept by a run no longer names `id` (see Valid)
    free_.push_back(slot);
    --size_;
  }
  // True if `slot`, kept from an earlier lookup of `id`, still holds it.
  bool Valid(uint32_t slot, uint64_t id) const {
    return id != 0 && slot != kNoSlot && slab_[slot].id == id;
  }
  format::TaskState& at(uint32_t slot) { return slab_[slot]; }
  size_t size() const { return size_; }
  // Every tracked task, in slot order.
  template <typename F>
  void ForEach(F&& f) const {
    if (size_ == 0) return;
    for (const format::TaskState& t : slab_) {
      if (t.id != 0) f(t);
    }
  }
  void Clear() {
    for (const format::TaskState& t : slab_) {
      if (t.id != 0) direct_[t.id & kDirectMask] = {};
    }
    overflow_.clear();
    slab_.resize(1);  // the scratch slot
    free_.clear();
    size_ = 0;
  }

 private:
  // The index: task ids come from per-thread blocks of consecutive numbers (NewId), so the
  // live ones mostly differ in their low bits. A direct-mapped table on those bits finds a task
  // with one load; an id whose entry is taken by another live task goes to `overflow_`. An id
  // is in one of the two, never both. (Task id 0 is never tracked: it marks an empty entry.)
  struct Entry {
    uint64_t id = 0;
    uint32_t slot = 0;
  };
  static constexpr uint64_t kDirectMask = (uint64_t{1} << 12) - 1;  // 4 Ki entries, 64 KiB
  std::vector<Entry> direct_ = std::vector<Entry>(kDirectMask + 1);
  absl::flat_hash_map<uint64_t, uint32_t> overflow_;
  static constexpr uint32_t kScratch = 0;
  std::vector<format::TaskState> slab_ = std::vector<format::TaskState>(1);  // [0]: scratch
  std::vector<uint32_t> free_;
  size_t size_ = 0;
};

// While a cut applies one thread's run of state events: the task running on that thread.
struct RunState {
  uint64_t thread = 0;
  uint64_t task = 0;                    // 0: none
  uint32_t slot = TaskTable::kNoSlot;   // its slot, if known (check with TaskTable::Valid)
};

// glibc's counts of objects loaded and unloaded so far (the same in every dl_phdr_info).
struct LoaderCounts {
  bool known = false;
  unsigned long long adds = 0, subs = 0;
  bool operator==(const LoaderCounts&) const = default;
};
// A task-state change, as the collector decodes it from a batch: 32 bytes (a generation of a
// busy pool holds ~0.5 M of them, written by the scan and read back by the merge). The thread
// is the run's. a2 and a3 keep their low 32 bits: the only ones ApplyStateEvent reads are
// string or label-set ids (TaskCreate's name and labels, UserTaskBegin's name: intern slots);
// the wider ones (TaskBlock's and TaskUnblock's object, the waker) are not state.
struct StateEvent {
  uint64_t key;  // (tick - the cut's base tick) << 8 | type: a generation spans far < 2^56 ticks
  uint64_t a0, a1;
  uint32_t a2, a3;
  uint64_t tick() const { return key >> 8; }
  EventType type() const { return static_cast<EventType>(key & 0xff); }
};
static_assert(sizeof(StateEvent) == 32);

class Collector {
 public:
  // All guarded by control_mu_ (one cut at a time; consumers change under it).
  std::mutex control_mu_;
  std::vector<Consumer> consumers_;
  std::thread thread_;
  std::condition_variable cv_;
  std::mutex wake_mu_;
  bool stop_ = false;
  bool wake_ = false;  // guarded by wake_mu_
  bool started_ = false;  // guarded by wake_mu_: the collector thread runs its loop
  // Deactivate lets go of control_mu_ while it joins the collector thread; meanwhile no
  // consumer may activate tracing again (guarded by control_mu_; deactivated_cv_ announces
  // the end).
  bool deactivating_ = false;
  std::condition_variable deactivated_cv_;

  uint32_t last_gen_number_ = 0;
  uint32_t cur_gen_ = 0;
  uint64_t gen_seq_ = 0;  // sequence number written in generation headers
  int64_t gen_begin_ns_ = 0;
  std::vector<Buffer*> carry_;  // buffers of the next generation, drained early
  TaskTable tasks_;  // state at generation start
  absl::flat_hash_map<uint64_t, format::UserTaskInfo> user_tasks_;
  // thread -> the task running on it (read into run_states_ when a cut starts applying
  // events, written back when it is done).
  absl::flat_hash_map<uint64_t, uint64_t> running_on_thread_;
  std::vector<RunState> run_states_;  // per run of the cut being applied
  absl::flat_hash_map<uintptr_t, format::Frame> symbols_;      // pc -> symbolized frame
  uint32_t cut_stamp_ = 0;
  std::vector<uint32_t> string_stamps_ = std::vector<uint32_t>(1 << 16);
  std::vector<uint32_t> stack_stamps_ = std::vector<uint32_t>(1 << 14);
  std::vector<uint32_t> label_stamps_ = std::vector<uint32_t>(1 << 16);
  // Reused by every cut, so a steady trace allocates (and faults in) nothing per generation.
  std::vector<StateEvent> state_events_;
  std::vector<size_t> state_runs_;  // where each thread's run of state_events_ starts
  std::vector<uint64_t> state_run_threads_;  // and its thread
  std::vector<size_t> run_end_;
  std::string raw_, compressed_;
  format::GenerationBuilder builder_{0};
  std::vector<format::Mapping> mappings_;  // ids interned; valid while mappings_counts_ holds
  LoaderCounts mappings_counts_;

  absl::Status Activate();
  void Deactivate();
  void Cut(bool final);
  void ApplyStateEvent(const StateEvent& e, RunState& run);
  void Loop();
  absl::Duration Period() const {
    absl::Duration p = absl::InfiniteDuration();
    for (const Consumer& c : consumers_) p = std::min(p, c.options.period);
    return p;
  }
  const format::Frame& Symbolize(uintptr_t pc);
};

Collector& TheCollector() {
  static Collector* c = new Collector;
  return *c;
}

absl::Status Collector::Activate() {
  InitOnce();
  g_active_config = g_config;
  g_stacks.store(g_active_config.stacks, std::memory_order_relaxed);
  g_region_stacks.store(g_active_config.region_stacks, std::memory_order_relaxed);
  const size_t buffer_bytes = std::max<size_t>(g_active_config.buffer_bytes, 8 << 10);
  const PoolLayout layout = LayOutPool(g_active_config.pool_bytes, buffer_bytes);
  g_small.count = layout.small_count;
  g_small.stride = layout.small_stride;
  g_large.count = layout.large_count;
  g_large.stride = layout.large_stride;
  g_pool_bytes = layout.bytes();
  g_pool_mem = static_cast<char*>(std::aligned_alloc(64, g_pool_bytes));
  if (g_pool_mem == nullptr) return absl::ResourceExhaustedError("tracer: buffer pool");
  char* next = g_pool_mem;
  for (PoolClass* c : {&g_large, &g_small}) {
    c->capacity = static_cast<uint32_t>(c->stride - sizeof(Buffer));
    c->free = new BufferQueue(c->count + 64);
    std::vector<Buffer*> all;
    for (size_t i = 0; i < c->count; ++i, next += c->stride) {
      auto* b = reinterpret_cast<Buffer*>(next);
      b->capacity = c->capacity;
      all.push_back(b);
    }
    c->free->enqueue_bulk(all.data(), all.size());
  }
  // Fault the pool in now (a few ms for the default 32 MiB): a thread that takes a fresh
  // buffer later must not take a page fault in its hot path.
  for (size_t off = 0; off < g_pool_bytes; off += 4096) {
    reinterpret_cast<volatile char*>(g_pool_mem)[off] = 0;
  }
  gen_begin_ns_ = static_cast<int64_t>(MonotonicNs());
  do {
    ++last_gen_number_;
  } while (last_gen_number_ == 0);
  cur_gen_ = last_gen_number_;
  stop_ = false;
  wake_ = false;
  g_gen.store(cur_gen_, std::memory_order_seq_cst);  // tracing on
  {
    std::lock_guard<std::mutex> l(wake_mu_);
    started_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
  // Return only once the thread runs our code: a fork() right after activation then never
  // catches it inside the thread start-up (where a sanitizer's allocator, which has no fork
  // handlers, may hold a lock the child would inherit locked).
  {
    std::unique_lock<std::mutex> l(wake_mu_);
    cv_.wait(l, [&] { return started_; });
  }
  return absl::OkStatus();
}

// Seals a generation every period, or sooner when half the buffer pool is in use (so a burst
// is written out instead of dropped). Polls the pool at an interval adapted to the rate at which
// threads take buffers (PoolPollInterval): no wake-up from the hot path, which never makes a
// syscall.
void Collector::Loop() {
  pthread_setname_np(pthread_self(), "tracer-collect");
  {
    std::lock_guard<std::mutex> l(wake_mu_);
    started_ = true;
  }
  cv_.notify_all();
  absl::Time last_cut = absl::Now();
  // The rate at which buffers leave the free list, smoothed over polls (buffers per ms). Each
  // poll compares the count in use with the previous poll's; a cut returns buffers and resets
  // the baseline.
  double rate = 0;
  size_t prev_in_use = 0;
  absl::Time prev_poll = last_cut;
  for (;;) {
    absl::Duration period;
    {
      std::lock_guard<std::mutex> cl(control_mu_);
      period = std::min(Period(), absl::Seconds(60));
    }
    // In units of large buffers (the small class counts by its bytes).
    const size_t pool_units = g_pool_bytes / g_large.stride;
    const absl::Duration poll = PoolPollInterval(pool_units, g_large.stride, rate);
    const absl::Duration wait = std::min(period - (absl::Now() - last_cut), poll);
    {
      std::unique_lock<std::mutex> l(wake_mu_);
      const bool woken = cv_.wait_for(l, absl::ToChronoNanoseconds(std::max(wait, absl::ZeroDuration())),
                                      [&] { return stop_ || wake_; });
      if (stop_) return;
      if (woken) {  // the consumers changed: re-read the period
        wake_ = false;
        continue;
      }
    }
    const absl::Time now = absl::Now();
    const size_t in_use = PoolBytesInUse() / g_large.stride;
    const double elapsed_ms = absl::ToDoubleMilliseconds(now - prev_poll);
    if (elapsed_ms > 0) {
      const double sample = in_use > prev_in_use ? (in_use - prev_in_use) / elapsed_ms : 0.0;
      // Rise at once (a burst must shorten the next wait), decay over a few polls.
      rate = sample > rate ? sample : rate * 0.75 + sample * 0.25;
    }
    prev_in_use = in_use;
    prev_poll = now;
    const bool due = now - last_cut >= period;
    const bool pressure = in_use * 2 > pool_units;
    if (!due && !pressure) continue;
    std::lock_guard<std::mutex> cl(control_mu_);
    if (!consumers_.empty() && cur_gen_ != 0) Cut(/*final=*/false);
    last_cut = absl::Now();
    prev_in_use = PoolBytesInUse() / g_large.stride;
    prev_poll = last_cut;
  }
}

void Collector::Deactivate() {
  // REQUIRES: control_mu_ held; the final cut already switched tracing off.
  {
    std::lock_guard<std::mutex> l(wake_mu_);
    stop_ = true;
  }
  cv_.notify_all();
  deactivating_ = true;
  control_mu_.unlock();  // the loop may be waiting for it
  if (thread_.joinable()) thread_.join();
  control_mu_.lock();
  // Every buffer is back: the final cut took each thread's current one, and no thread
  // acquires a buffer while g_gen is 0.
  for (PoolClass* c : {&g_small, &g_large}) {
    delete c->free;
    *c = {};
  }
  g_pool_bytes = 0;
  std::free(g_pool_mem);
  g_pool_mem = nullptr;
  deactivating_ = false;
  deactivated_cv_.notify_all();
}

const format::Frame& Collector::Symbolize(uintptr_t pc) {
  auto it = symbols_.find(pc);
  if (it != symbols_.end()) return it->second;
  format::Frame f;
  f.pc = pc;
  char buf[1024];
  // pc is a return address: look up pc-1 so a call at the end of a function names it.
  if (absl::Symbolize(reinterpret_cast<void*>(pc - 1), buf, sizeof(buf))) {
    f.func = Strings().Intern(buf);
  } else {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(pc - 1), &info) != 0 && info.dli_sname != nullptr) {
      f.func = Strings().Intern(info.dli_sname);
    }
  }
  return symbols_.emplace(pc, f).first->second;
}

struct CollectedBatch {
  Buffer* b;
};

LoaderCounts ReadLoaderCounts() {
  LoaderCounts c;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t size, void* data) {
        auto* out = static_cast<LoaderCounts*>(data);
        if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
          out->known = true;
          out->adds = info->dlpi_adds;
          out->subs = info->dlpi_subs;
        }
        return 1;  // the first object says it
      },
      &c);
  return c;
}

int CollectMapping(dl_phdr_info* info, size_t, void* data) {
  auto* out = static_cast<std::vector<std::pair<format::Mapping, std::string>>*>(data);
  std::string build_id;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  uint64_t off = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
      lo = std::min<uintptr_t>(lo, info->dlpi_addr + ph.p_vaddr);
      hi = std::max<uintptr_t>(hi, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
      off = ph.p_offset;
    } else if (ph.p_type == PT_NOTE) {
      const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
      const char* end = p + ph.p_memsz;
      while (p + sizeof(ElfW(Nhdr)) <= end) {
        auto* nh = reinterpret_cast<const ElfW(Nhdr)*>(p);
        const char* name = p + sizeof(ElfW(Nhdr));
        const char* desc = name + ((nh->n_namesz + 3) & ~3u);
        if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0 &&
            desc + nh->n_descsz <= end) {
          static const char kHex[] = "0123456789abcdef";
          for (uint32_t k = 0; k < nh->n_descsz; ++k) {
            build_id.push_back(kHex[static_cast<unsigned char>(desc[k]) >> 4]);
            build_id.push_back(kHex[static_cast<unsigned char>(desc[k]) & 15]);
          }
        }
        p = desc + ((nh->n_descsz + 3) & ~3u);
      }
    }
  }
  if (hi == 0) return 0;
  std::string path = info->dlpi_name != nullptr && info->dlpi_name[0] != '\0'
                         ? info->dlpi_name
                         : std::string("/proc/self/exe");
  if (path == "/proc/self/exe") {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) path.assign(exe, n);
  }
  format::Mapping m;
  m.start = lo;
  m.end = hi;
  m.offset = off;
  out->push_back({m, build_id + std::string(1, '\0') + path});
  return 0;
}

void WaitEven(ThreadState& ts) {
  for (int spins = 0;; ++spins) {
    if ((ts.seq.load(std::memory_order_acquire) & 1) == 0) return;
    if (spins < 1000) {
      _mm_pause();
    } else {
      sched_yield();
    }
  }
}

// What the collector's scan of a batch needs per type byte, flattened from the event table so
// the per-event loop makes no call and branches little.
struct ScanInfo {
  uint8_t type = 0;
  uint8_t num_args = 0;
  bool refs = false;   // has a string, stack, label-set or inline-bytes argument
  bool state = false;  // changes the tracked task states (see ApplyStateEvent)
  bool bytes = false;  // the last argument is inline bytes' length
  // Bit i: argument i is a string id, a stack id, a label-set id.
  uint8_t strings = 0, stacks = 0, label_sets = 0;
};

bool IsStateEvent(EventType type) {
  switch (type) {
    case EventType::kTaskCreate: case EventType::kTaskStart: case EventType::kTaskBlock:
    case EventType::kTaskUnblock: case EventType::kTaskYield: case EventType::kTaskEnd:
    case EventType::kSyscallBegin: case EventType::kSyscallEnd: case EventType::kLabels:
    case EventType::kUserTaskBegin: case EventType::kUserTaskEnd:
      return true;
    default:
      return false;
  }
}

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

// DecodeVarintPredicted with a third inline length: task ids pass 2^14 after the first 16 Ki
// tasks, so a busy program's task events carry 3-byte ids that would otherwise all take the
// out-of-line long path.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline const char* ScanVarint(const char* p, uint64_t* v) {
  const uint64_t b0 = static_cast<unsigned char>(p[0]);
  if (ABSL_PREDICT_TRUE(b0 < 0x80)) {
    *v = b0;
    return p + 1;
  }
  const uint64_t b1 = static_cast<unsigned char>(p[1]);
  if (ABSL_PREDICT_TRUE(b1 < 0x80)) {
    *v = (b0 & 0x7f) | b1 << 7;
    return p + 2;
  }
  const uint64_t b2 = static_cast<unsigned char>(p[2]);
  if (ABSL_PREDICT_TRUE(b2 < 0x80)) {
    *v = (b0 & 0x7f) | (b1 & 0x7f) << 7 | b2 << 14;
    return p + 3;
  }
  return format_internal::DecodeVarintLong<false>(p, v);
}

// Decodes N varints at p into a[0..N) (see ScanVarint); returns their end.
template <int N>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline const char* ScanArgs(const char* p, uint64_t* a) {
#pragma GCC unroll 6
  for (int i = 0; i < N; ++i) p = ScanVarint(p, &a[i]);
  return p;
}
static_assert(format::kMaxEventArgs == 6, "ScanArgs' switch covers 0..6 arguments");

// An event starting at least this far before the end of its batch can be scanned without
// bounds checks: type, delta and arguments, plus the 8 bytes DecodeVarintFast may load.
constexpr ptrdiff_t kScanMargin = 1 + (1 + format::kMaxEventArgs) * format_internal::kMaxVarintBytes + 8;

// Advances the tracked task states over one event (events come in time order) of the thread
// whose run state is `run`. Start, block, yield, end and syscalls are written by the thread
// that runs the task, so the run knows its running task's slot; unblocks come from wakers.
void Collector::ApplyStateEvent(const StateEvent& e, RunState& run) {
  // The slot of task `id`, from the run's running task when it is that one.
  auto slot_of = [&](uint64_t id) {
    return id == run.task && tasks_.Valid(run.slot, id) ? run.slot : tasks_.FindOrAdd(id);
  };
  switch (e.type()) {
    case EventType::kTaskCreate: {
      // Field by field: `state = {}` then the fields made GCC store the struct in pieces and
      // load it back whole (a store-forwarding stall per task).
      format::TaskState& t = tasks_.at(tasks_.FindOrAdd(e.a0));
      t.parent = e.a1;
      t.name = e.a2;
      t.status = format::TaskStatus::kRunnable;
      t.thread = 0;
      t.labels = e.a3;
      t.seq = 0;
      t.reason = format::BlockReason::kUnknown;
      break;
    }
    case EventType::kTaskStart: {
      const uint32_t slot = slot_of(e.a0);
      format::TaskState& t = tasks_.at(slot);
      t.status = format::TaskStatus::kRunning;
      t.thread = run.thread;
      t.seq = e.a1;
      run.task = e.a0;
      run.slot = slot;
      break;
    }
    case EventType::kTaskBlock:
    case EventType::kTaskYield: {
      format::TaskState& t = tasks_.at(slot_of(e.a0));
      t.status = e.type() == EventType::kTaskBlock ? format::TaskStatus::kBlocked
                                                 : format::TaskStatus::kRunnable;
      t.reason = e.type() == EventType::kTaskBlock ? static_cast<format::BlockReason>(e.a1)
                                                 : format::BlockReason::kUnknown;
      t.thread = 0;
      run.task = 0;
      break;
    }
    case EventType::kTaskUnblock: {
      format::TaskState& t = tasks_.at(tasks_.FindOrAdd(e.a0));
      t.status = format::TaskStatus::kRunnable;
      t.seq = e.a1;
      break;
    }
    case EventType::kTaskEnd:
      tasks_.Erase(e.a0);
      run.task = 0;
      break;
    case EventType::kSyscallBegin:
    case EventType::kSyscallEnd: {
      if (run.task == 0) break;
      if (!tasks_.Valid(run.slot, run.task)) {
        run.slot = tasks_.Find(run.task);
        if (run.slot == TaskTable::kNoSlot) break;
      }
      tasks_.at(run.slot).status = e.type() == EventType::kSyscallBegin
                                       ? format::TaskStatus::kSyscall
                                       : format::TaskStatus::kRunning;
      break;
    }
    case EventType::kLabels:
      if (const uint32_t slot = tasks_.Find(e.a0); slot != TaskTable::kNoSlot) {
        tasks_.at(slot).labels = e.a1;
      }
      break;
    case EventType::kUserTaskBegin:
      user_tasks_[e.a0] = {e.a0, e.a1, e.a2};
      break;
    case EventType::kUserTaskEnd:
      user_tasks_.erase(e.a0);
      break;
    default:
      break;
  }
}

uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void Collector::Cut(bool final) {
  const uint64_t cpu_start = ThreadCpuNs();
  // 1-2: switch generations (thread_state.h, "Who runs alongside whom").
  const uint32_t old_gen = cur_gen_;
  uint32_t next = 0;
  if (!final) {
    do {
      ++last_gen_number_;
    } while (last_gen_number_ == 0);
    next = last_gen_number_;
  }
  g_gen.store(next, std::memory_order_seq_cst);
  Membarrier();
  cur_gen_ = next;

  std::vector<Buffer*> batches;
  std::vector<format::ThreadInfo> threads;
  std::vector<format::LossRecord> losses;
  // 3: take idle threads' buffers; note names and losses.
  {
    std::lock_guard<std::mutex> l(g_registry_mu);
    for (ThreadState* ts = g_threads; ts != nullptr; ts = ts->next) {
      WaitEven(*ts);
      Buffer* b = ts->current.load(std::memory_order_acquire);
      bool taken = false;
      if (b != nullptr && b->gen == old_gen) {
        uint32_t len = static_cast<uint32_t>(ts->pos.load(std::memory_order_relaxed) - b->data);
        if (ts->current.compare_exchange_strong(b, nullptr, std::memory_order_acq_rel)) {
          b->len = len;
          batches.push_back(b);
          taken = true;
        }
      }
      // Else the thread may have taken its buffer itself, in a write section begun after the
      // wait above (its slow path, seeing the new generation), and not queued it yet: wait for
      // that section to end. Its hand-over (the enqueue) comes before the release store that
      // makes seq even, so step 4's drain finds the buffer. (Without this wait a preempted
      // hand-over reached the queue after the drain and was carried, never sealed; at the
      // final cut, after the pool was freed.)
      if (!taken) WaitEven(*ts);
      threads.push_back({ts->tid, ts->name.load(std::memory_order_relaxed)});
      const uint64_t total = ts->lost_total.load(std::memory_order_relaxed);
      if (total != ts->lost_reported) {
        losses.push_back({ts->tid, total - ts->lost_reported,
                          ts->lost_first_tick.load(std::memory_order_relaxed),
                          ts->lost_last_tick.load(std::memory_order_relaxed)});
        ts->lost_reported = total;
        ts->lost_ack.store(total, std::memory_order_release);
      }
    }
    for (const ExitedThread& e : *g_exited) {
      threads.push_back({e.tid, e.name});
      if (e.lost != 0) losses.push_back({e.tid, e.lost, e.lost_first, e.lost_last});
    }
    g_exited->clear();
  }
  for (auto& l : losses) {
    if (l.end_tick < l.begin_tick) std::swap(l.begin_tick, l.end_tick);
  }
  // 4: everything queued so far; buffers of the new generation wait for the next cut.
  {
    std::vector<Buffer*> next_carry;
    for (Buffer* b : carry_) (b->gen == old_gen ? batches : next_carry).push_back(b);
    Buffer* items[64];
    size_t n;
    while ((n = g_flush->try_dequeue_bulk(items, 64)) != 0) {
      for (size_t i = 0; i < n; ++i) {
        (items[i]->gen == old_gen ? batches : next_carry).push_back(items[i]);
      }
    }
    carry_ = std::move(next_carry);
  }
  const format::ClockSnapshot clock = TakeClockSnapshot();
  const int64_t end_ns = clock.mono_ns;

  // 5: decode our own batches (trusted) for referenced ids and task-state changes.
  std::sort(batches.begin(), batches.end(), [](const Buffer* a, const Buffer* b) {
    return a->thread != b->thread ? a->thread < b->thread : a->seq < b->seq;
  });
  absl::flat_hash_set<uint32_t> strings, stacks, labels;
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
  std::vector<StateEvent>& state_events = state_events_;
  state_events.clear();
  state_runs_.clear();
  state_run_threads_.clear();
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
      state_runs_.push_back(state_events.size());
      state_run_threads_.push_back(b->thread);
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

  // 6: encode. Tables describe the state at the generation's start (before its events).
  format::GenerationBuilder& gb = builder_;
  gb.Reset(gen_seq_++);
  gb.SetClock(clock);
  gb.SetTimeSpan(gen_begin_ns_, end_ns);
  tasks_.ForEach([&](const format::TaskState& t) {
    gb.AddTask(t);
    if (t.name) strings.insert(t.name);
    if (t.labels) labels.insert(t.labels);
  });
  for (const auto& [id, t] : user_tasks_) {
    gb.AddUserTask(t);
    if (t.name) strings.insert(t.name);
  }
  for (const auto& t : threads) {
    gb.AddThread(t);
    if (t.name) strings.insert(t.name);
  }
  for (const auto& l : losses) gb.AddLoss(l);
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
  for (uint32_t id : stacks) {
    std::vector<format::Frame> frames;
    for (uintptr_t pc : Stacks().Get(id)) {
      const format::Frame& f = Symbolize(pc);
      frames.push_back(f);
      if (f.func) strings.insert(f.func);
      if (f.file) strings.insert(f.file);
    }
    gb.AddStack(id, frames);
  }
  // The loaded objects: walked again only when the loader's counts of objects added and
  // removed changed since the last cut (walking reads every object's build-id note).
  if (const LoaderCounts lc = ReadLoaderCounts(); !lc.known || lc != mappings_counts_ ||
                                                  mappings_.empty()) {
    std::vector<std::pair<format::Mapping, std::string>> maps;
    dl_iterate_phdr(CollectMapping, &maps);
    mappings_.clear();
    for (auto& [m, ids] : maps) {
      size_t z = ids.find('\0');
      m.build_id = Strings().Intern(ids.substr(0, z));
      m.path = Strings().Intern(ids.substr(z + 1));
      mappings_.push_back(m);
    }
    mappings_counts_ = lc;
  }
  for (const format::Mapping& m : mappings_) {
    if (m.build_id) strings.insert(static_cast<uint32_t>(m.build_id));
    if (m.path) strings.insert(static_cast<uint32_t>(m.path));
    gb.AddMapping(m);
  }
  strings.erase(0);
  for (uint32_t id : strings) gb.AddString(id, Strings().Get(id));
  // The events stay in the buffers until the generation is encoded (step 7 returns them).
  gb.ReserveBatches(batches.size(), 0);
  for (const Buffer* b : batches) {
    gb.AddBatchBorrowed(b->thread, b->seq, b->base_tick, b->count,
                        absl::string_view(b->data, b->len));
  }

  // Advance task states over this generation's events, in time order.
  // Merge the threads' runs by (tick, run): the order a stable sort by tick would give. There
  // are few threads, so the smallest head is found by a scan, and the run that has it goes on
  // while it stays ahead of every other head.
  std::vector<size_t>& head = state_runs_;  // run r: [head[r], run_end[r])
  const size_t num_runs = head.size();
  run_end_.resize(num_runs);
  run_states_.resize(num_runs);
  for (size_t r = 0; r < num_runs; ++r) {
    run_end_[r] = r + 1 < num_runs ? head[r + 1] : state_events.size();
    RunState& rs = run_states_[r];
    rs.thread = state_run_threads_[r];
    auto it = running_on_thread_.find(rs.thread);
    rs.task = it == running_on_thread_.end() ? 0 : it->second;
    rs.slot = TaskTable::kNoSlot;  // looked up when first needed
  }
  for (;;) {
    size_t best = num_runs, second = num_runs;
    for (size_t r = 0; r < num_runs; ++r) {
      if (head[r] == run_end_[r]) continue;
      const uint64_t t = state_events[head[r]].tick();
      if (best == num_runs || t < state_events[head[best]].tick()) {
        second = best;
        best = r;
      } else if (second == num_runs || t < state_events[head[second]].tick()) {
        second = r;
      }
    }
    if (best == num_runs) break;
    size_t i = head[best];
    const size_t stop = run_end_[best];
    if (second == num_runs) {
      for (; i < stop; ++i) ApplyStateEvent(state_events[i], run_states_[best]);
    } else {
      const uint64_t t2 = state_events[head[second]].tick();
      const bool ties_first = best < second;
      do {
        ApplyStateEvent(state_events[i++], run_states_[best]);
      } while (i < stop && (state_events[i].tick() < t2 || (ties_first && state_events[i].tick() == t2)));
    }
    head[best] = i;
  }
  for (const RunState& rs : run_states_) {
    if (rs.task != 0) {
      running_on_thread_[rs.thread] = rs.task;
    } else {
      running_on_thread_.erase(rs.thread);
    }
  }

  std::string& raw = raw_;
  std::string& compressed = compressed_;
  raw.clear();
  compressed.clear();
  // A generation holds at most the pool's bytes plus bounded tables, and the pool is capped
  // (SetBufferConfig) well below the format's 1 GiB payload limit, so this cannot fail; should
  // it, the generation is not delivered and its events count as lost.
  bool want_compressed = false;
  for (const Consumer& c : consumers_) want_compressed |= c.options.compressed;
  const bool encoded = gb.TryAppendTo(&raw, /*compress=*/false).ok() &&
                       (!want_compressed || gb.TryAppendTo(&compressed, /*compress=*/true).ok());
  if (!encoded) g_events_lost.fetch_add(events, std::memory_order_relaxed);

  // 7: buffers back to the pool (the consumers have copies of the bytes).
  for (Buffer* b : batches) ReturnBuffer(b);

  g_events_sealed.fetch_add(events, std::memory_order_relaxed);
  g_seal_cpu_ns.fetch_add(ThreadCpuNs() - cpu_start, std::memory_order_relaxed);

  // 8: deliver.
  SealedGeneration sg;
  sg.seq = gen_seq_ - 1;
  sg.begin_ns = gen_begin_ns_;
  sg.end_ns = end_ns;
  sg.events = events;
  for (const auto& l : losses) sg.events_lost += l.count;
  sg.raw = &raw;
  sg.compressed = want_compressed ? &compressed : nullptr;
  if (encoded) {
    for (const Consumer& c : consumers_) c.c->OnGeneration(sg);
  }
  gen_begin_ns_ = end_ns;
  g_generations.fetch_add(1, std::memory_order_relaxed);
  if (final) {
    // Nothing may stay queued across a deactivation: carry_ holds only buffers of `next`,
    // which is 0 here, so it is empty; return anything else defensively.
    for (Buffer* b : carry_) ReturnBuffer(b);
    carry_.clear();
    tasks_.Clear();
    user_tasks_.clear();
    running_on_thread_.clear();
  }
}

}  // namespace

absl::Status AddConsumer(GenerationConsumer* c, const ConsumerOptions& options) {
  Collector& col = TheCollector();
  std::unique_lock<std::mutex> l(col.control_mu_);
  // The last consumer's removal may be joining the collector thread right now.
  col.deactivated_cv_.wait(l, [&] { return !col.deactivating_; });
  for (const Consumer& x : col.consumers_) {
    if (x.c == c) return absl::FailedPreconditionError("consumer already attached");
  }
  if (col.consumers_.empty()) {
    if (absl::Status s = col.Activate(); !s.ok()) return s;
  } else {
    col.Cut(/*final=*/false);  // c's first generation starts now
  }
  col.consumers_.push_back({c, options});
  {
    std::lock_guard<std::mutex> w(col.wake_mu_);
    col.wake_ = true;
  }
  col.cv_.notify_all();  // the period may have shrunk
  return absl::OkStatus();
}

absl::Status RemoveConsumer(GenerationConsumer* c) {
  Collector& col = TheCollector();
  std::lock_guard<std::mutex> l(col.control_mu_);
  auto it = std::find_if(col.consumers_.begin(), col.consumers_.end(),
                         [&](const Consumer& x) { return x.c == c; });
  if (it == col.consumers_.end()) return absl::NotFoundError("consumer not attached");
  const bool last = col.consumers_.size() == 1;
  col.Cut(/*final=*/last);
  col.consumers_.erase(std::find_if(col.consumers_.begin(), col.consumers_.end(),
                                    [&](const Consumer& x) { return x.c == c; }));
  if (last) col.Deactivate();
  return absl::OkStatus();
}

absl::Status CutGeneration() {
  Collector& col = TheCollector();
  std::lock_guard<std::mutex> l(col.control_mu_);
  if (col.consumers_.empty()) return absl::FailedPreconditionError("tracing is off");
  col.Cut(/*final=*/false);
  return absl::OkStatus();
}

// The largest buffer pool: a generation holds at most the pool's bytes (plus bounded tables),
// and the format caps a generation's payload at 1 GiB.
constexpr size_t kMaxPoolBytes = size_t{512} << 20;

absl::Status SetBufferConfigLocked(const BufferConfig& config) {
  Collector& col = TheCollector();
  std::lock_guard<std::mutex> l(col.control_mu_);
  if (!col.consumers_.empty()) {
    return absl::FailedPreconditionError("buffer config cannot change while tracing");
  }
  if (config.buffer_bytes < (8 << 10) || config.buffer_bytes > (64 << 20)) {
    return absl::InvalidArgumentError("buffer_bytes must be in [8 KiB, 64 MiB]");
  }
  if (config.pool_bytes < 2 * config.buffer_bytes) {
    return absl::InvalidArgumentError("pool_bytes must hold at least two buffers");
  }
  if (config.pool_bytes > kMaxPoolBytes) {  // a generation must fit the format's 1 GiB payload
    return absl::InvalidArgumentError("pool_bytes must be at most 512 MiB");
  }
  g_config = config;
  return absl::OkStatus();
}

BufferConfig GetBufferConfigLocked() {
  Collector& col = TheCollector();
  std::lock_guard<std::mutex> l(col.control_mu_);
  return g_config;
}

TracerStats GetStats() {
  TracerStats s;
  s.events_lost = g_events_lost.load(std::memory_order_relaxed);
  s.generations = g_generations.load(std::memory_order_relaxed);
  s.events_sealed = g_events_sealed.load(std::memory_order_relaxed);
  s.seal_cpu_ns = g_seal_cpu_ns.load(std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> l(g_registry_mu);
    s.threads_registered = g_threads_registered;
  }
  s.strings_dropped = Strings().misses();
  s.stacks_dropped = Stacks().misses();
  {
    Collector& col = TheCollector();
    std::lock_guard<std::mutex> l(col.control_mu_);  // the pool lives while consumers do
    if (g_large.free != nullptr && !col.consumers_.empty()) {
      s.pool_bytes = g_pool_bytes;
      s.pool_bytes_free = g_pool_bytes - PoolBytesInUse();
    }
  }
  return s;
}

// fork(): the child has one thread and no collector. Hold both locks across fork so they are
// in a known state, then reset the child to "never traced" (its copy of the pool is leaked:
// untouched copy-on-write pages cost nothing).
ForkHooks g_outer_fork_hooks;

void ForkPrepare() {
  if (g_outer_fork_hooks.prepare != nullptr) g_outer_fork_hooks.prepare();
  TheCollector().control_mu_.lock();
  g_registry_mu.lock();
  // The collector thread takes wake_mu_ briefly around its waits: a fork in that window would
  // leave it locked in the child, where AddConsumer needs it.
  TheCollector().wake_mu_.lock();
}
void ForkParent() {
  TheCollector().wake_mu_.unlock();
  g_registry_mu.unlock();
  TheCollector().control_mu_.unlock();
  if (g_outer_fork_hooks.parent != nullptr) g_outer_fork_hooks.parent();
}
void ForkChild() {
  Collector& col = TheCollector();
  g_gen.store(0, std::memory_order_relaxed);
  col.consumers_.clear();
  // The parent's collector thread does not exist here: forget its handle without joining,
  // and start from a condition variable that no (vanished) thread waits on.
  new (&col.thread_) std::thread();
  new (&col.cv_) std::condition_variable();
  col.wake_mu_.unlock();
  col.carry_.clear();
  col.tasks_.Clear();
  col.user_tasks_.clear();
  col.running_on_thread_.clear();
  g_threads = nullptr;
  g_exited->clear();
  ThreadState& ts = t_state;
  ts.current.store(nullptr, std::memory_order_relaxed);
  ts.pos.store(nullptr, std::memory_order_relaxed);
  ts.end = nullptr;
  ts.gen = 0;
  ts.registered = false;
  ts.producer_token = nullptr;  // leaked: belongs to the parent's queue state
  ts.next = ts.prev = nullptr;
  g_small = {};
  g_large = {};
  g_pool_bytes = 0;
  g_pool_mem = nullptr;
  // A parent thread may have been inside the queue at fork time: start from a fresh one.
  if (g_flush != nullptr) g_flush = new BufferQueue(1024);
  g_registry_mu.unlock();
  col.control_mu_.unlock();
  if (g_outer_fork_hooks.child != nullptr) g_outer_fork_hooks.child();
}

void SetOuterForkHooks(const ForkHooks& hooks) { g_outer_fork_hooks = hooks; }

[[maybe_unused]] const bool kAtforkRegistered = [] {
  pthread_atfork(ForkPrepare, ForkParent, ForkChild);
  return true;
}();

}  // namespace tracer::tracer_internal
