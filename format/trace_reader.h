// Decoding: a streaming reader of generations, an event reader per batch, and a merged,
// time-ordered event stream across threads.
//
// Input is untrusted. Every length, id, varint and enumerator is checked; a corrupt or
// truncated trace yields an absl::Status naming the file offset, the generation and the batch.
// Generations before the damage were already returned intact; nothing after it is guessed at.
// Memory: one generation at a time (plus what callers keep), whatever the file size.

#ifndef TRACER_FORMAT_TRACE_READER_H_
#define TRACER_FORMAT_TRACE_READER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "format/generation.h"

namespace tracer::format {

// Where a TraceReader gets bytes.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `n` bytes into `buf`; returns how many (0 only at the end) or an error.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;
};

std::unique_ptr<ByteSource> MakeStringSource(std::string data);
// Reads from `fd`; closes it on destruction if `owned`.
std::unique_ptr<ByteSource> MakeFdSource(int fd, bool owned);

// Reads a trace generation by generation. Not thread-safe; the generations it returns are
// immutable and may outlive the reader.
class TraceReader {
 public:
  // Opens and checks the file header. Fails on a missing file, a bad magic, a major version
  // newer than this reader, or a file flag outside kFileFlagsKnown | kFileFlagsIgnorable.
  static absl::StatusOr<std::unique_ptr<TraceReader>> Open(const std::string& path);
  static absl::StatusOr<std::unique_ptr<TraceReader>> FromSource(std::unique_ptr<ByteSource> src);

  // The next generation, fully checked (header CRC, payload CRC, every section and batch
  // header, and every event: see ValidateGeneration), or nullptr at a clean end of file.
  // After an error every later call returns the same error.
  absl::StatusOr<std::shared_ptr<const Generation>> Next();

  uint16_t version_major() const { return major_; }
  uint16_t version_minor() const { return minor_; }
  uint32_t file_flags() const { return flags_; }  // as read: may hold ignorable bits
  uint64_t offset() const { return offset_; }  // bytes consumed so far

  // Skip per-event validation in Next() (tables and framing are still checked; event decoding
  // stays bounds-checked, and BatchEventReader reports bad events as errors). For tools that
  // stream a trace once and want the speed.
  void set_validate_events(bool v) { validate_events_ = v; }

 private:
  explicit TraceReader(std::unique_ptr<ByteSource> src) : src_(std::move(src)) {}
  absl::Status ReadHeader();
  // Reads exactly n bytes; returns how many were available (fewer at end of file).
  absl::StatusOr<size_t> ReadFull(char* buf, size_t n);

  std::unique_ptr<ByteSource> src_;
  uint16_t major_ = 0;
  uint16_t minor_ = 0;
  uint32_t flags_ = 0;
  uint64_t offset_ = 0;
  uint64_t generations_read_ = 0;
  bool validate_events_ = true;
  absl::Status sticky_;
};

// Decodes every event of every batch and checks it against the event table and the
// generation's tables. TraceReader::Next calls it unless told not to.
absl::Status ValidateGeneration(const Generation& gen);

struct DecodeTypeInfo;  // per type byte: what the decoder checks (trace_reader.cc)

// Decodes the events of one batch, in order. The generation must outlive the reader.
class BatchEventReader {
 public:
  BatchEventReader(const Generation& gen, size_t batch_index);
  // Fills `e` and returns true, or returns false at the end or on an error (see status()).
  bool Next(Event* e);
  // True if Next() has something to say (an event, or the error it will report), with the
  // tick of that event (or of the last one, if the next is malformed) in `tick`. False at a
  // clean end and after an error. Does not consume anything.
  bool PeekTick(uint64_t* tick) const;
  const absl::Status& status() const { return status_; }
  uint64_t next_tick_hint() const { return tick_; }

 private:
  friend class MergedGenerationReader;

  bool Fail(const char* what, uint64_t detail);
  bool NextSlow(Event* e);
  // Decodes the arguments of the event at p_ (whose type and delta end at `q`) into `e`.
  // Returns the end of the event, or nullptr after Fail. kFast: the event starts at least
  // kFastMargin bytes before end_, so its varints need no bounds checks.
  template <bool kFast>
  const char* DecodeArgs(const DecodeTypeInfo& info, const char* q, Event* e);
  // For the merge: decodes the tick of the event at p_ into hdr_tick_ and returns true if the
  // event is due and its type and tick are well-formed; else false (the end, or an error).
  bool LoadHeader();
  // Decodes up to `max` events into `out`; returns how many. Fewer than `max` means the end
  // or an error (status()).
  size_t DecodeBlock(Event* out, size_t max);
  bool NextImpl(Event* e);
  bool Finished() const { return p_ >= end_ && decoded_ == num_events_ && status_.ok(); }

  const Generation* gen_;
  const DecodeTypeInfo* types_;
  size_t batch_index_;
  const char* begin_;
  const char* p_;
  const char* end_;
  uint64_t tick_;
  uint64_t thread_;
  uint64_t num_events_;
  uint64_t decoded_ = 0;
  uint64_t hdr_tick_ = 0;  // the tick LoadHeader() decoded
  absl::Status status_;
};

// All events of one generation, merged across batches in tick order (ties: batch order, which
// is thread, then batch seq). An error in any batch ends the stream when the merge reaches the
// bad event. For speed it does not check that the varints inside events are minimal (an
// overlong one reads as its value): TraceReader's event validation did, unless the tool
// turned it off.
class MergedGenerationReader {
 public:
  explicit MergedGenerationReader(const Generation& gen);
  // The next event in time order, or nullptr at the end or on an error (see status()). The
  // event stays valid until the next call: no copy. Inline: the common event is a pointer into
  // its batch's block and one replay of the tree. The last key of a block (whose next is
  // kRefill) goes the slow way: the end of the block, and the key of an error (which stands
  // alone in an empty block).
  const Event* Next() {
    if (__builtin_expect(next_pending_key_ < win_.key || wide_ || win_.key == kNone, 0)) {
      return NextSlow();
    }
    const uint64_t* at = win_.at;
    const uint64_t key = at[1];
    if (__builtin_expect(key == kRefill, 0)) return NextSlow();
    const size_t k = static_cast<size_t>(at - keys_.get());
    const uint32_t slot = static_cast<uint32_t>(k >> kKeyStrideShift);
    const uint32_t i = static_cast<uint32_t>(k & (kKeyStride - 1));
    uint64_t next_key = key;
    const uint64_t* next_at = at + 1;
    uint64_t parent = win_.parent;
    ReplayPath(slot, &next_key, &next_at, &parent);
    win_ = Node{next_key, next_at, parent};
    return &events_[size_t{slot} * kBlock + i];
  }
  // The same, copied into *e; false at the end or on an error.
  bool Next(Event* e) {
    const Event* next = Next();
    if (next == nullptr) return false;
    *e = *next;
    return true;
  }
  const absl::Status& status() const { return status_; }

 private:
  // Batches the merge has reached sit in the slots of a loser tree (a power of two of them,
  // about one per thread): each internal node holds the entry that lost the match there, so
  // replacing the winner's key replays one leaf-to-root path of branch-free compares.
  // Each slot decodes its batch a block of events at a time: decoding runs in a tight loop, and
  // the merge steps through the block's precomputed keys instead of waiting on the decoder.
  //
  // A key is ((tick - base_) << shift_ | batch index) in 64 bits: one compare orders by tick,
  // then batch. Should a tick lie too far from base_ for that (never in a sane trace), the
  // merge switches to `wide_` mode: the same lanes, with full (tick, batch) keys found by a scan.
  using Head = unsigned __int128;  // (tick << 32 | batch), for pending batches and wide mode
  static constexpr Head kNoHead = ~Head{0};
  static constexpr uint64_t kNone = ~uint64_t{0};       // an empty slot; above every key
  static constexpr uint64_t kRefill = ~uint64_t{0} - 1;  // ends each block's keys
  static constexpr uint32_t kBlock = 32;
  static constexpr uint32_t kFreeSlot = ~uint32_t{0};
  static constexpr uint32_t kKeyStride = 64;  // keys per slot: kBlock + 1, a power of two
  static constexpr int kKeyStrideShift = 6;
  static_assert(kKeyStride == 1u << kKeyStrideShift && kKeyStride > kBlock);

  struct Node {
    uint64_t key;
    const uint64_t* at;  // where `key` sits in keys_: its slot and its event follow from it
    // The tree node above its slot's leaf, carried along so that the next replay can load its
    // first node without first working out the slot from `at`.
    uint64_t parent;
  };

  const Event* NextSlow();
  // Replays the winner's path after its entry (in slot `slot`) became (key, at). Branch-free:
  // which batch wins is a coin flip when threads interleave. On x86-64 each level is a compare
  // and four conditional moves (2 cycles on the key's dependency chain; left to itself the
  // compiler turns the pointer select into a branch); elsewhere mask arithmetic.
  void Replay(uint32_t slot, uint64_t key, const uint64_t* at) {
    uint64_t parent = (slot + slots_) >> 1;
    ReplayPath(slot, &key, &at, &parent);
    win_ = Node{key, at, parent};
  }
  // The same on the caller's copy of the winner, which ends as the new winner. *parent_io is
  // the parent of `slot`'s leaf on entry.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void ReplayPath(uint32_t slot, uint64_t* key_io,
                                               const uint64_t** at_io, uint64_t* parent_io) {
    uint64_t key = *key_io;
    uintptr_t a = reinterpret_cast<uintptr_t>(*at_io);
    uint64_t up = *parent_io;
    leaf_[slot] = Node{key, *at_io, up};
    Node* const loser = loser_.data();
    for (size_t node = up; node > 0; node >>= 1) {
      uint64_t o_key = loser[node].key;
      uintptr_t o_a = reinterpret_cast<uintptr_t>(loser[node].at);
      uint64_t o_up = loser[node].parent;
#if defined(__x86_64__)
      uint64_t w_key = key;
      uintptr_t w_a = a;
      uint64_t w_up = up;
      // If the node's entry is smaller, it wins and (key, a, up) stays at the node.
      __asm__("cmp %[key], %[o_key]\n\t"
              "cmovb %[o_key], %[w_key]\n\t"
              "cmovb %[o_a], %[w_a]\n\t"
              "cmovb %[o_up], %[w_up]\n\t"
              "cmovb %[key], %[o_key]\n\t"
              "cmovb %[a], %[o_a]\n\t"
              "cmovb %[up], %[o_up]"
              : [w_key] "+&r"(w_key), [w_a] "+&r"(w_a), [w_up] "+&r"(w_up),
                [o_key] "+&r"(o_key), [o_a] "+&r"(o_a), [o_up] "+&r"(o_up)
              : [key] "r"(key), [a] "r"(a), [up] "r"(up)
              : "cc");
      key = w_key;
      a = w_a;
      up = w_up;
#else
      const uint64_t m = 0 - static_cast<uint64_t>(o_key < key);  // all ones: the node's wins
      const uint64_t dk = (o_key ^ key) & m;
      const uintptr_t da = (o_a ^ a) & m;
      const uint64_t du = (o_up ^ up) & m;
      o_key ^= dk;
      o_a ^= da;
      o_up ^= du;
      key ^= dk;
      a ^= da;
      up ^= du;
#endif
      loser[node] = Node{o_key, reinterpret_cast<const uint64_t*>(o_a), o_up};
    }
    *key_io = key;
    *at_io = reinterpret_cast<const uint64_t*>(a);
    *parent_io = up;
  }
  void Rebuild();
  void InsertPending();
  void PopPending();
  uint32_t TakeSlot(uint32_t batch);
  void FreeSlot(uint32_t slot);
  // Decodes the next block of the batch in `slot` and stores its first key in *key: the tick of
  // its first event; or, if there is none, kNone at a clean end and the last good tick after
  // an error (so the error surfaces in tick order). False if a key does not fit in 64 bits.
  bool Refill(uint32_t slot, uint64_t* key);
  void AddSlots();
  void SwitchToWide(uint32_t fresh_slot);
  const Event* NextWide();
  bool Fail(uint32_t slot);
  Event* EventsOf(uint32_t slot) { return events_.get() + size_t{slot} * kBlock; }
  uint64_t* KeysOf(uint32_t slot) { return keys_.get() + size_t{slot} * kKeyStride; }

  const Generation* gen_;
  std::vector<BatchEventReader> readers_;
  std::vector<Head> pending_;     // batches not reached yet, largest key first; keys are final
  Head next_pending_ = kNoHead;   // pending_.back(), or kNoHead
  uint64_t next_pending_key_ = kNone;  // it as a key (kRefill if it does not fit)
  uint64_t base_ = 0;   // the smallest base tick
  uint32_t shift_ = 1;  // bits of batch index in a key
  uint64_t limit_ = 0;  // ticks from base_ that fit in a key
  bool wide_ = false;
  Node win_{kNone, nullptr, 0};  // the smallest key in the tree
  uint32_t slots_ = 0;
  std::vector<Node> leaf_;    // per slot: its batch's current entry, or kNone if free
  std::vector<Node> loser_;   // internal nodes 1 .. slots_-1
  std::vector<uint32_t> slot_batch_;  // per slot: its batch, or kFreeSlot
  std::vector<uint32_t> slot_n_;      // per slot: events in its block; a winner beyond: error
  std::vector<uint32_t> slot_pos_;    // per slot, wide mode: the next event in its block
  std::vector<uint32_t> free_slots_;
  std::unique_ptr<Event[]> events_;  // per slot, kBlock decoded events
  std::unique_ptr<uint64_t[]> keys_;  // per slot, kKeyStride: their keys, then kRefill
  Event last_;  // what NextSlow returns when the event's block is refilled or in wide mode
  absl::Status status_;
};

// The whole trace as one time-ordered stream: generations in file order, events merged within
// each. Holds one generation at a time.
class EventStream {
 public:
  explicit EventStream(TraceReader* reader) : reader_(reader) {}
  // The next event, or nullptr at the end or on an error (see status()); valid until the next
  // call.
  const Event* Next();
  // The same, copied into *e; false at the end or on an error.
  bool Next(Event* e) {
    const Event* next = Next();
    if (next == nullptr) return false;
    *e = *next;
    return true;
  }
  // The generation of the event last returned.
  const Generation& generation() const { return *gen_; }
  std::shared_ptr<const Generation> generation_ptr() const { return gen_; }
  const absl::Status& status() const { return status_; }

 private:
  TraceReader* reader_;
  std::shared_ptr<const Generation> gen_;
  std::unique_ptr<MergedGenerationReader> merged_;
  absl::Status status_;
};

}  // namespace tracer::format

#endif  // TRACER_FORMAT_TRACE_READER_H_
