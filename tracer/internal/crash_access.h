// What a fatal-signal handler may read, with no lock and no allocation: every registered
// thread's current (unsealed) buffer. The crash dump (recorder/triggers, a later layer) writes
// these as crash batches (format/FORMAT.md, section 12) after the flight recorder's retained
// generations (recorder/crash_ring.h).
//
// How it stays safe while the process runs on:
// - Threads are found through a fixed array of slots (zero pages, made at InitOnce), not the
//   registry's list (which its mutex guards). A thread claims a slot when it registers and
//   clears it when it exits. A thread's ThreadState lives in its TLS, freed after it exits: an
//   exiting thread that sees a CrashReadScope open waits until it closes before its TLS goes,
//   so a reader never touches a freed ThreadState. (Dekker's pattern: the exit stores its slot
//   empty, then loads the reader count; a reader increments the count, then loads the slots;
//   all seq_cst, so one of the two sees the other.)
// - Buffers are never freed while a CrashReadScope is open (a retired pool's memory is kept).
// - A thread caught mid-write (its seq odd: the crashing thread itself, or one running on
//   another core) has written its current event past `pos`, which it publishes only when the
//   event is complete: the bytes before `pos` are whole events. A buffer handed over and
//   recycled while it is read may change under the reader: the crash batch's own CRC, taken
//   before the bytes are written out, then fails and the reader drops that batch alone.
// Not reached: buffers already handed to the collector and not yet sealed (at most about one
// generation period of a busy thread's full buffers), and threads beyond the slots
// (CrashUntrackedThreads()).

#ifndef TRACER_TRACER_INTERNAL_CRASH_ACCESS_H_
#define TRACER_TRACER_INTERNAL_CRASH_ACCESS_H_

#include <cstddef>
#include <cstdint>

#include "format/generation.h"
#include "tracer/internal/thread_state.h"

namespace tracer::tracer_internal {

inline constexpr size_t kCrashThreadSlots = 16384;

// While one is open (on any thread), exiting threads keep their state and buffers stay
// mapped. Async-signal-safe. Nests.
class CrashReadScope {
 public:
  CrashReadScope();
  ~CrashReadScope();
  CrashReadScope(const CrashReadScope&) = delete;
  CrashReadScope& operator=(const CrashReadScope&) = delete;
};
bool CrashReadersActive();

// One thread's unsealed events: [data, data + len) are whole encoded events after the
// buffer's base_tick (format: a batch's events).
struct UnsealedBatch {
  uint64_t thread = 0;     // OS thread id
  uint32_t name = 0;       // string id of its name
  uint64_t seq = 0;        // the buffer's batch seq within its generation
  uint64_t base_tick = 0;
  uint32_t gen = 0;        // the generation the buffer belongs to
  const char* data = nullptr;
  size_t len = 0;
  bool mid_write = false;  // the thread was inside a write section (its last event is not here)
};

// Calls fn(batch, ctx) for each registered thread that holds a buffer with events, in slot
// order. REQUIRES: a CrashReadScope open on this thread. Async-signal-safe; `fn` must be too.
// Returns the number of threads visited.
size_t ForEachUnsealedBatch(void (*fn)(const UnsealedBatch&, void*), void* ctx);

// The live tasks as the collector tracks them, for the listing a crash dump ends with
// (format/FORMAT.md, section 11): fn(task, ctx) for each, copied out of the collector's task
// table while the collector may be changing it (a task updated at that instant may come out
// half-updated; its stacks are ids of the stack table, readable the same way). Returns the
// tasks visited; 0 if nothing has traced yet. REQUIRES: a CrashReadScope open on this thread.
// Async-signal-safe.
size_t ForEachLiveTaskForCrash(void (*fn)(const format::LiveTask&, void*), void* ctx);
// The collector's table (its chunks never move or go away while it lives; a collector is never
// freed). Called by Collector::Activate.
class TaskTable;
void PublishTaskTableForCrash(const TaskTable* table);

// Registration (slow path, thread_registry.cc): claims a slot for `ts` (the caller's own
// state); at exit, clears it and waits while a CrashReadScope is open.
void CrashRegister(ThreadState& ts);
void CrashUnregister(ThreadState& ts);
// Threads that found no free slot (their events are not in a crash dump).
uint64_t CrashUntrackedThreads();
// Made at InitOnce (zero pages).
void InitCrashSlots();
// In a fork child (single-threaded): no slot, no reader (the parent's threads are gone).
void ResetCrashSlotsAfterFork();

}  // namespace tracer::tracer_internal

#endif  // TRACER_TRACER_INTERNAL_CRASH_ACCESS_H_
