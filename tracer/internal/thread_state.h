// The per-thread recording state and the inline fast path that writes one event.
//
// Terms. A *buffer* is a fixed-size block from the pool; the events a thread writes into one
// buffer during one generation become one *batch*. `g_gen` is the current generation number
// (0: tracing is off). A thread's *write section* is the span between making its `seq` odd and
// making it even again; every event is written inside one.
//
// Who runs alongside whom. Only the owning thread writes a ThreadState's fields and the bytes
// of its current buffer. The collector thread ends a generation ("cut") like this:
//   1. store g_gen = next (seq_cst);
//   2. membarrier(PRIVATE_EXPEDITED): every thread of the process executes a full barrier, so
//      a thread whose write section starts after this point reads the new g_gen, and one whose
//      section started before has its odd `seq` visible to step 3;
//   3. for each registered thread, wait until `seq` is even (a section is a few dozen ns unless
//      the thread is preempted inside it), load `current` (acquire), and if it holds a buffer
//      of the ended generation, `current.compare_exchange(buffer, nullptr)`: on success the
//      buffer now belongs to the collector. If the cut did not take a buffer (none, one of the
//      new generation, or the compare-exchange lost), it waits for `seq` to be even once more:
//      the thread may have begun a section after the first wait and taken its buffer itself,
//      and that hand-over must reach the flush queue before step 4 drains it;
//   4. drain the flush queue: buffers of the ended generation are sealed, those of the new one
//      are carried to the next cut.
// A thread that next writes sees g_gen != its buffer's generation, takes the slow path, and
// there `current.exchange(nullptr)`: if it gets its old buffer back, the collector did not
// take it, and the thread hands it to the flush queue itself (then stores its new buffer in
// `current`, release). The exchange and the compare-exchange decide ownership, so each buffer
// is handed over exactly once, and an idle thread's buffer is taken without waiting for it to
// write again.
//
// Sections that cannot end (tracer/internal/cut.h). Step 3 never waits for its own thread's
// open section (a cut from a signal handler that interrupted a write), nor for a thread whose
// section is open while it waits for the collector (`in_api`: its handler called StopTrace,
// WriteTo, ...), and gives up on any section after kSectionWaitNs. Such a thread keeps its
// buffer: the events before `pos` are counted lost now (Buffer::counted), the rest when the
// buffer reaches the collector late; the pool it came from is never freed under it.
// Signal handlers: one that emits while its thread is inside a section is dropped and counted
// (DropNested); one that records in a SignalScope never enters the slow path's work. After the
// thread-exit destructor (`exited`), events are dropped and counted, never registered again.
//
// Memory ordering. Fast path: relaxed load of g_gen (the disabled check); relaxed store of an
// odd seq; a compiler-only fence (the membarrier of step 2 supplies the hardware barrier);
// relaxed load of g_gen; plain writes into the buffer; relaxed store of pos; release
// store of the even seq, which publishes them to the collector's acquire load in step 3.
// Under TSan (which does not model membarrier) the cut makes no membarrier; instead the odd
// store and the g_gen load are seq_cst (kOddOrder, kGenOrder), as is the collector's store of
// g_gen in step 1. The collector's loads of `seq` in step 3 stay acquire, not seq_cst, so this
// is not quite Dekker's pattern in the C++ model (x86 hardware, where the seq_cst store is a
// full fence, gives it).
//
// The fast path never locks, allocates, makes a syscall or performs a locked read-modify-write.

#ifndef TRACER_TRACER_INTERNAL_THREAD_STATE_H_
#define TRACER_TRACER_INTERNAL_THREAD_STATE_H_

#include <atomic>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "format/event_table.h"
#include "format/internal/varint.h"
#include "tracer/internal/clock.h"

namespace tracer {
struct TaskRef;  // tracer/hooks.h
}  // namespace tracer

namespace tracer::tracer_internal {

// A pool buffer. The header is written by the owning thread before its first event and read
// by the collector after it owns the buffer.
struct Buffer {
  uint32_t gen;
  uint32_t capacity;   // bytes of data[]
  uint64_t thread;     // OS thread id
  uint64_t base_tick;  // events' first delta is from here
  uint64_t seq;        // batch sequence number of this thread within the generation
  uint32_t len;        // bytes of events; set when the buffer is handed over
  // Events at the start of data[] already reported lost by a cut that could not take the
  // buffer (its thread was inside a write section the cut could not wait for: a signal
  // handler on the collector's own thread, or a thread stuck past the cut's bound). Written
  // by that cut; read when the buffer reaches the collector later (its events are then lost).
  uint32_t counted;
  uint64_t count;      // events; counted by the collector when it decodes the batch
  alignas(64) char data[];
};

// Worst-case size of an event without inline bytes: type + delta + six varints.
// The most an event without inline bytes takes, plus the 8 bytes of scratch EncodeVarintFast
// may write past its last varint.
inline constexpr uint32_t kMaxFixedEventBytes = 1 + 10 + 10 * format::kMaxEventArgs + 8;
// Log messages longer than this are truncated (the text says so with a trailing "…").
inline constexpr uint32_t kMaxLogBytes = 4000;

#ifdef TRACER_TSAN
inline constexpr std::memory_order kOddOrder = std::memory_order_seq_cst;
inline constexpr std::memory_order kGenOrder = std::memory_order_seq_cst;
#else
inline constexpr std::memory_order kOddOrder = std::memory_order_relaxed;
inline constexpr std::memory_order kGenOrder = std::memory_order_relaxed;
#endif

struct alignas(64) ThreadState {  // the hot fields below share one cache line
  // --- Written by the owner; read by the collector as described above. ---
  std::atomic<uint32_t> seq{0};          // odd while in a write section
  std::atomic<Buffer*> current{nullptr}; // exchanged by owner, compare-exchanged by cut
  std::atomic<char*> pos{nullptr};       // next free byte of current
  std::atomic<uint32_t> name{0};         // string id of the thread's name
  // --- Owner only. ---
  char* end = nullptr;                   // current->data + capacity
  uint32_t gen = 0;                      // generation of current (0: none)
  uint64_t last_tick = 0;
  uint64_t tid = 0;                      // 0 until registered
  bool registered = false;
  bool need_thread_start = false;        // ThreadStart not yet written
  // Non-zero inside a signal handler that records (SignalScope: a CPU sample, a crash or dump
  // trigger): the slow path then neither registers the thread, nor takes or hands over a
  // buffer (each may lock or allocate); what the fast path cannot write is dropped and counted.
  uint32_t in_signal = 0;
  // Set by the thread-exit destructor before it hands the last buffer over: an event after it
  // (a signal handler, a later pthread key destructor) is dropped and counted, and never
  // registers the thread again. `unlinked`: the registry no longer lists the thread, so such
  // drops are counted in the process-wide late-loss table (late_losses.h) under its tid.
  bool exited = false;
  bool unlinked = false;
  // Non-zero while this thread is inside a call that may wait for a cut (StartTrace,
  // StopTrace, WriteTo, ...: TracerCallScope). Written by the owner (relaxed), read by the cut:
  // a thread whose write section is open *and* that waits for the collector is a signal
  // handler that interrupted its own write, and the section cannot end before the cut does,
  // so the cut does not wait for it.
  std::atomic<uint32_t> in_api{0};
  uint64_t next_batch_seq = 0;
  uint32_t batch_seq_gen = 0;
  uint64_t current_task = 0;             // runtime task running on this thread (0: itself)
  // Its TaskRef (set by hooks::TaskStart, cleared by Block/Yield/End): what a kit primitive
  // (tracer/sync/) blocks and resumes. nullptr: the thread runs as itself (self_task.h).
  TaskRef* current_ref = nullptr;
  uint64_t current_user_task = 0;        // user task regions/logs attach to by default
  uint32_t labels = 0;                   // label set of the running task (inherited on create)
  uint32_t thread_labels = 0;            // label set of the thread itself
  uint64_t next_id = 0, id_limit = 0;    // block of task ids handed to this thread
  // Pending losses (pool exhausted): written by the owner; the collector reads them in step 3.
  std::atomic<uint64_t> lost_total{0};   // cumulative, never reset
  std::atomic<uint64_t> lost_first_tick{0};
  std::atomic<uint64_t> lost_last_tick{0};
  std::atomic<uint64_t> lost_ack{0};     // lost_total the collector has reported
  uint64_t lost_reported = 0;            // collector only, under the registry mutex
  // Events dropped because a signal handler emitted while this thread was inside a write
  // section (seq odd): written by the owner (in the handler) with the same scheme as lost_*,
  // acknowledged by the collector through nested_ack; reported in the thread's loss record.
  std::atomic<uint64_t> nested_drops{0};
  std::atomic<uint64_t> nested_first_tick{0};
  std::atomic<uint64_t> nested_last_tick{0};
  std::atomic<uint64_t> nested_ack{0};
  uint64_t nested_reported = 0;          // collector only, under the registry mutex
  // End tick of the last loss record reported for this thread (collector only, under the
  // registry mutex): the next record starts no earlier, so records never overlap even when a
  // drop lands while the collector reads the counters.
  uint64_t lost_reported_end = 0;
  void* producer_token = nullptr;        // moodycamel::ProducerToken*, made at registration
  int32_t crash_slot = -1;               // its slot for crash readers (crash_access.h), or -1
  ThreadState* next = nullptr;           // registry list, guarded by the registry mutex
  ThreadState* prev = nullptr;
};

// Marks the calling thread, for its scope, as running a signal handler that records events
// (a CPU-time sample, a trigger). Such a handler may run on any thread, one that never traced
// included (the collector's own takes only fault signals: it blocks the asynchronous ones, so
// a sampler's handler never runs there while it holds its locks; a crash handler may, and
// records nothing there): events that fit the thread's current buffer are written
// as usual; the rest (no buffer yet, buffer full, a new generation, thread not registered) are
// dropped and counted, never registered, locked or allocated for. Async-signal-safe.
class SignalScope {
 public:
  SignalScope();
  ~SignalScope();
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;
};

// The entry points of the hot path (hooks, regions, logs): always inline. GCC's inliner
// otherwise keeps the larger ones (a block or unblock, a log) out of line as weak functions,
// so that even the disabled check costs a call; tests/tracer/inline_check verifies it.
#define TRACER_HOOK ABSL_ATTRIBUTE_ALWAYS_INLINE inline

extern std::atomic<uint32_t> g_gen;
// initial-exec: one %fs-relative access, no __tls_get_addr call, even in PIC code (the library
// must then be linked at start-up, not dlopen()ed late, which is how tracers are used).
#define TRACER_TLS_MODEL __attribute__((tls_model("initial-exec")))
extern constinit thread_local ThreadState t_state TRACER_TLS_MODEL;

inline SignalScope::SignalScope() {
  ++t_state.in_signal;
  std::atomic_signal_fence(std::memory_order_seq_cst);  // before the handler's events
}
inline SignalScope::~SignalScope() {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  --t_state.in_signal;
}

// Out of line: registration, buffer hand-over, drops. Writes the event (or drops it).
ABSL_ATTRIBUTE_NOINLINE void EmitSlow(ThreadState& ts, format::EventType type,
                                      const uint64_t* args, int nargs, const char* bytes,
                                      uint32_t nbytes, bool has_bytes);

void DropNested(ThreadState& ts);

// Stacks: captured (about 1 us) on slow events when g_stacks is set, on region begin when
// g_region_stacks is set. Both are fixed while a consumer runs.
extern std::atomic<bool> g_stacks;
extern std::atomic<bool> g_region_stacks;
// Interns the caller's stack; returns its id (0 if the table is full).
ABSL_ATTRIBUTE_NOINLINE uint64_t CaptureStackId();
inline uint64_t StackForSlowEvent() {
  return g_stacks.load(std::memory_order_relaxed) ? CaptureStackId() : 0;
}
inline uint64_t StackForRegion() {
  return ABSL_PREDICT_FALSE(g_region_stacks.load(std::memory_order_relaxed)) ? CaptureStackId()
                                                                             : 0;
}

inline bool Enabled() { return g_gen.load(std::memory_order_relaxed) != 0; }

// Writes one event of `type` with `nargs` varint arguments (and, for kBytes events, the
// inline `bytes`). `nargs` is a constant at every call site, so the loop unrolls.
// REQUIRES: Enabled() was just true (callers check it first so that disabled costs one load).
// An event was encoded as [type][1 byte for the delta][args...end): makes room for `delta`'s
// varint, writes it and returns the event's new end.
ABSL_ATTRIBUTE_NOINLINE inline char* MoveForDelta(char* start, char* end, uint64_t delta) {
  const int extra = format_internal::VarintLength(delta) - 1;
  __builtin_memmove(start + 2 + extra, start + 2, static_cast<size_t>(end - (start + 2)));
  format_internal::EncodeVarint(start + 1, delta);  // exact: no scratch bytes past it
  return end + extra;
}

// memcpy without the call for the short messages of a hot path: exact, overlapping loads and
// stores by size class (never reading past the source).
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void CopyBytes(char* dst, const char* src, uint32_t n) {
  if (n >= 8 && n <= 16) {
    uint64_t a, b;
    __builtin_memcpy(&a, src, 8);
    __builtin_memcpy(&b, src + n - 8, 8);
    __builtin_memcpy(dst, &a, 8);
    __builtin_memcpy(dst + n - 8, &b, 8);
  } else if (n >= 4 && n < 8) {
    uint32_t a, b;
    __builtin_memcpy(&a, src, 4);
    __builtin_memcpy(&b, src + n - 4, 4);
    __builtin_memcpy(dst, &a, 4);
    __builtin_memcpy(dst + n - 4, &b, 4);
  } else if (n < 4) {
    for (uint32_t i = 0; i < n; ++i) dst[i] = src[i];
  } else {
    __builtin_memcpy(dst, src, n);
  }
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void EmitEnabled(format::EventType type,
                                                     const uint64_t* args, int nargs,
                                                     const char* bytes = nullptr,
                                                     uint32_t nbytes = 0,
                                                     bool has_bytes = false) {
  ThreadState& ts = t_state;
  const uint32_t s = ts.seq.load(std::memory_order_relaxed);
  if (ABSL_PREDICT_FALSE(s & 1)) {  // a signal handler interrupted a write on this thread
    DropNested(ts);
    return;
  }
  ts.seq.store(s + 1, kOddOrder);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  const uint32_t gen = g_gen.load(kGenOrder);
  char* p = ts.pos.load(std::memory_order_relaxed);
  if (ABSL_PREDICT_FALSE(gen != ts.gen ||
                         ts.end - p < static_cast<long>(kMaxFixedEventBytes + nbytes))) {
    EmitSlow(ts, type, args, nargs, bytes, nbytes, has_bytes);
  } else {
    uint64_t now = ReadTicks();
    // The arguments go where they would follow a one-byte delta, so that encoding them need
    // not wait for the TSC read (tens of cycles): the common event (at most 127 ticks, about
    // 3 us, after the thread's previous one) then costs little more than the read. A longer
    // delta moves them up by the bytes it needs.
    char* const start = p;
    *p = static_cast<char>(type);
    p += 2;
#pragma GCC unroll 6
    for (int i = 0; i < nargs; ++i) p = format_internal::EncodeVarintFast(p, args[i]);
    if (has_bytes) {
      p = format_internal::EncodeVarintFast(p, nbytes);
      CopyBytes(p, bytes, nbytes);
      p += nbytes;
    }
    // Per-thread ticks never go backwards on an invariant TSC; clamp if a VM's does.
    if (ABSL_PREDICT_FALSE(now < ts.last_tick)) now = ts.last_tick;
    const uint64_t delta = now - ts.last_tick;
    if (ABSL_PREDICT_TRUE(delta < 0x80)) {
      start[1] = static_cast<char>(delta);
    } else {
      p = MoveForDelta(start, p, delta);
    }
    ts.last_tick = now;
    ts.pos.store(p, std::memory_order_relaxed);
  }
  ts.seq.store(s + 2, std::memory_order_release);
}

// EmitEnabled with the arguments as a parameter pack. REQUIRES: Enabled() was just true.
template <typename... A>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void EmitEnabledArgs(format::EventType type, A... a) {
  const uint64_t args[sizeof...(A) + 1] = {static_cast<uint64_t>(a)..., 0};
  EmitEnabled(type, args, static_cast<int>(sizeof...(A)));
}

// The usual entry: one relaxed load and a predictable branch when tracing is off.
template <typename... A>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void Emit(format::EventType type, A... a) {
  if (ABSL_PREDICT_TRUE(!Enabled())) return;
  const uint64_t args[sizeof...(A) + 1] = {static_cast<uint64_t>(a)..., 0};
  EmitEnabled(type, args, static_cast<int>(sizeof...(A)));
}

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_THREAD_STATE_H_
