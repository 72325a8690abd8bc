#include "recorder/flight_recorder.h"

#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <new>
#include <vector>

#include "absl/strings/str_cat.h"
#include "format/trace_writer.h"
#include "recorder/crash_ring.h"
#include "tracer/internal/abandoned.h"
#include "tracer/internal/crash_access.h"
#include "tracer/internal/collector.h"
#include "tracer/tracer.h"

namespace tracer {

namespace {
constexpr size_t kMinMaxBytes = 1 << 20;
// The ring's index: an entry (48 bytes) per retained generation, sized from the ring (one per
// KiB, 64 to 4096) and counted inside max_bytes. A generation is at least a few hundred bytes
// and the collector seals one per period (a tenth of min_age) or per half pool, so the index
// fills first only when many tiny generations are sealed within min_age (a WriteTo every few
// ms, or a capture with a 1 ms period alongside): then the oldest is evicted early, counted in
// RecorderStats::generations_evicted_by_index (the dump's shortfall shows the window lost).
constexpr size_t kMinIndexEntries = 64;
constexpr size_t kMaxIndexEntries = 4096;
size_t IndexEntriesFor(size_t ring_bytes) {
  return std::clamp<size_t>(ring_bytes >> 10, kMinIndexEntries, kMaxIndexEntries);
}
std::atomic<bool> g_recorder_running{false};
// Every live recorder object, for the fork() child handler: a parent thread may hold any of
// their locks at fork (a Start, Stop or WriteTo in progress), so the child resets them all.
// Guarded by g_recorders_mu, held only to add or remove an entry (never across I/O).
std::mutex g_recorders_mu;
std::vector<FlightRecorder*>* g_recorders = new std::vector<FlightRecorder*>;
// The recorder whose dump this thread is streaming (its Sink may call back into us).
thread_local const FlightRecorder* t_dumping = nullptr;

// The running recorder's ring (a FlightRecorder::Ring), for crash readers (crash_ring.h): set
// once the ring is attached, cleared before it is freed; a ring a crash reader may hold is
// never freed.
std::atomic<void*> g_crash_ring{nullptr};

absl::Status ReentryError(const char* what) {
  return absl::FailedPreconditionError(absl::StrCat(
      "FlightRecorder::", what, " called from inside a Sink (a dump or capture in progress on "
      "this thread would deadlock)"));
}
}  // namespace

// fork(): the child has none of the parent's threads, so nothing that a parent thread held
// (a dump in progress, a Stop joining the collector) may be waited for there. The handler
// takes no lock (fork() never waits for a dump's I/O) and, in the child, forgets the running
// recorder: its locks are made afresh, its ring is left to the parent (the child's copy of
// the mapping is leaked; untouched copy-on-write pages cost nothing), and it reads as stopped.
struct RecorderForkAccess {
  static void Child() {
    new (&g_recorders_mu) std::mutex();
    g_recorder_running.store(false, std::memory_order_relaxed);
    g_crash_ring.store(nullptr, std::memory_order_relaxed);  // the parent's ring
    t_dumping = nullptr;
    for (FlightRecorder* r : *g_recorders) {
      new (&r->dump_mu_) std::mutex();
      new (&r->state_mu_) std::mutex();
      tracer_internal::KeepReachable(r->ring_.release());
      r->pool_bytes_ = 0;
      r->running_.store(false, std::memory_order_relaxed);
    }
  }
};

namespace {
[[maybe_unused]] const bool kRecorderAtfork = [] {
  return pthread_atfork(nullptr, nullptr, &RecorderForkAccess::Child) == 0;
}();
}  // namespace

// The ring: a byte slab of fixed size holding whole encoded generations back to back
// (wrapping), and a fixed index of them. Reserved at Start, never grown.
//
// Positions are logical byte counts since Start (physical = pos % bytes). Retained data is
// [tail_, head_); index entries [first_, last_) describe it, oldest first. The collector
// (OnGeneration) appends at head_ and evicts at tail_; a dump pins the entries it streams
// (pin_) so their bytes are not overwritten: the collector waits for the pin to pass rather
// than overwrite what a dump is sending. Tracing threads never touch the ring.
// Boundaries are atomics stored with release order after the bytes they cover are written, so
// a reader that cannot lock (the crash dump) sees only complete generations.
class FlightRecorder::Ring final : public tracer_internal::GenerationConsumer {
 public:
  struct Entry {
    uint64_t pos;
    uint32_t len;
    uint64_t seq;
    int64_t begin_ns, end_ns;
    uint64_t lost;
  };

  Ring(const FlightRecorderConfig& config, size_t bytes)
      : config_(config), bytes_(bytes), entries_(IndexEntriesFor(bytes)), index_(entries_) {
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    slab_ = p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  }
  ~Ring() override {
    if (slab_ != nullptr) munmap(slab_, bytes_);
  }
  bool ok() const { return slab_ != nullptr; }

  void OnGeneration(const tracer_internal::SealedGeneration& gen) override {
    const std::string& bytes = config_.compress && gen.compressed ? *gen.compressed : *gen.raw;
    std::unique_lock<std::mutex> l(mu_);
    if (bytes.size() > bytes_) {
      ++too_large_;
      return;
    }
    // Make room: evict oldest first, but never what a dump is still sending.
    while (bytes_ - (head() - tail()) < bytes.size() || last() - first() == entries_) {
      cv_.wait(l, [&] { return pin_ == kNoPin || pin_ > first(); });
      if (bytes_ - (head() - tail()) >= bytes.size()) ++evicted_by_index_;
      EvictOldest();
    }
    // A crash reader pinned the ring (crash_ring.h): never overwrite it. Pairs with the
    // pinner's store of the pin and load of first_ (seq_cst, both sides).
    if (crash_pinned_.load(std::memory_order_seq_cst)) {
      ++dropped_for_crash_;
      return;
    }
    const uint64_t pos = head();
    CopyIn(pos, bytes);
    Entry& e = index_[last() % entries_];
    e = {pos, static_cast<uint32_t>(bytes.size()), gen.seq, gen.begin_ns, gen.end_ns,
         gen.events_lost};
    head_.store(pos + bytes.size(), std::memory_order_release);
    last_.store(last() + 1, std::memory_order_release);
    // Age: drop the oldest while the rest still covers min_age.
    while (last() - first() >= 2 && (pin_ == kNoPin || pin_ > first())) {
      const Entry& second = index_[(first() + 1) % entries_];
      const int64_t newest_end = index_[(last() - 1) % entries_].end_ns;
      if (newest_end - second.begin_ns < absl::ToInt64Nanoseconds(config_.min_age)) break;
      EvictOldest();
    }
  }

  // Streams the retained generations to `sink`. REQUIRES: the recorder's dump_mu_ held (one dump
  // at a time).
  // Writes the file header, the retained generations and then `listing` (the live-task
  // listing of the cut that began the dump, `listed` tasks).
  absl::StatusOr<uint64_t> Dump(Sink& sink, DumpStats* stats, absl::string_view listing,
                                uint64_t listed) {
    std::vector<Entry> entries;
    uint64_t first_pinned;
    {
      std::lock_guard<std::mutex> l(mu_);
      pin_ = first_pinned = first();
      for (uint64_t i = first(); i < last(); ++i) entries.push_back(index_[i % entries_]);
    }
    uint64_t written = 0;
    std::string header;
    format::AppendFileHeader(&header);
    absl::Status s = sink.Write(header);
    if (s.ok()) written += header.size();
    DumpStats st;
    for (size_t i = 0; s.ok() && i < entries.size(); ++i) {
      const Entry& e = entries[i];
      const uint64_t off = e.pos % bytes_;
      const uint64_t first_part = std::min<uint64_t>(e.len, bytes_ - off);
      s = sink.Write(absl::string_view(slab_ + off, first_part));
      if (s.ok() && first_part < e.len) {
        s = sink.Write(absl::string_view(slab_, e.len - first_part));
      }
      if (!s.ok()) break;
      written += e.len;
      if (st.generations == 0) st.window_begin_ns = e.begin_ns;
      st.window_end_ns = e.end_ns;
      ++st.generations;
      st.events_lost += e.lost;
      {
        std::lock_guard<std::mutex> l(mu_);
        pin_ = first_pinned + i + 1;  // the entry just sent may now be evicted
      }
      cv_.notify_all();
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      pin_ = kNoPin;
    }
    cv_.notify_all();
    if (s.ok() && !listing.empty()) {
      s = sink.Write(listing);
      if (s.ok()) {
        written += listing.size();
        st.tasks_listed = listed;
      }
    }
    if (s.ok()) s = sink.Flush();
    st.bytes = written;
    st.covered = absl::Nanoseconds(st.window_end_ns - st.window_begin_ns);
    st.shortfall = std::max(absl::ZeroDuration(), config_.min_age - st.covered);
    if (stats != nullptr) *stats = st;
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("flight recorder dump: ", s.message(), " (",
                                                 written, " bytes written: a valid prefix)"));
    }
    return written;
  }

  // crash_ring.h. Async-signal-safe: atomics and plain reads of the index, no lock.
  size_t PinForCrash(recorder_internal::RetainedSpan* out, size_t max_spans,
                     uint64_t* generations) {
    crash_pinned_.store(true, std::memory_order_seq_cst);
    const uint64_t first = first_.load(std::memory_order_seq_cst);
    const uint64_t last = last_.load(std::memory_order_acquire);
    size_t n = 0;
    uint64_t gens = 0;
    for (uint64_t i = first; i < last; ++i) {
      const Entry& e = index_[i % entries_];
      const uint64_t off = e.pos % bytes_;
      const uint64_t first_part = std::min<uint64_t>(e.len, bytes_ - off);
      const size_t need = first_part < e.len ? 2 : 1;
      if (n + need > max_spans) break;
      out[n++] = {slab_ + off, static_cast<size_t>(first_part)};
      if (need == 2) out[n++] = {slab_, static_cast<size_t>(e.len - first_part)};
      ++gens;
    }
    *generations = gens;
    return n;
  }
  void UnpinForTesting() { crash_pinned_.store(false, std::memory_order_seq_cst); }

  RecorderStats Stats() const {
    std::lock_guard<std::mutex> l(mu_);
    RecorderStats s;
    s.generations_retained = last() - first();
    s.bytes_retained = head() - tail();
    s.generations_evicted = evicted_;
    s.generations_too_large = too_large_;
    s.generations_evicted_by_index = evicted_by_index_;
    s.generations_dropped_for_crash = dropped_for_crash_;
    if (last() > first()) {
      s.window = absl::Nanoseconds(index_[(last() - 1) % entries_].end_ns -
                                   index_[first() % entries_].begin_ns);
    }
    s.ring_bytes = bytes_;
    return s;
  }

 private:
  static constexpr uint64_t kNoPin = UINT64_MAX;
  uint64_t head() const { return head_.load(std::memory_order_relaxed); }
  uint64_t tail() const { return tail_.load(std::memory_order_relaxed); }
  uint64_t first() const { return first_.load(std::memory_order_relaxed); }
  uint64_t last() const { return last_.load(std::memory_order_relaxed); }

  void EvictOldest() {
    const Entry& e = index_[first() % entries_];
    tail_.store(e.pos + e.len, std::memory_order_release);
    first_.store(first() + 1, std::memory_order_seq_cst);  // see OnGeneration's pin check
    ++evicted_;
  }

  void CopyIn(uint64_t pos, absl::string_view bytes) {
    const uint64_t off = pos % bytes_;
    const uint64_t first_part = std::min<uint64_t>(bytes.size(), bytes_ - off);
    std::memcpy(slab_ + off, bytes.data(), first_part);
    std::memcpy(slab_, bytes.data() + first_part, bytes.size() - first_part);
  }

  const FlightRecorderConfig config_;
  const size_t bytes_;
  char* slab_ = nullptr;
  const size_t entries_;
  std::vector<Entry> index_;  // entries_ slots; [first_, last_) mod entries_ are live
  mutable std::mutex mu_;     // guards the index and pin_ (the collector and dumps)
  std::condition_variable cv_;
  std::atomic<uint64_t> head_{0}, tail_{0}, first_{0}, last_{0};
  uint64_t pin_ = kNoPin;     // index of the oldest entry a dump still needs
  uint64_t evicted_ = 0;
  uint64_t too_large_ = 0;
  uint64_t evicted_by_index_ = 0;
  std::atomic<bool> crash_pinned_{false};
  uint64_t dropped_for_crash_ = 0;  // under mu_
};

struct RecorderCrashAccess {
  static FlightRecorder::Ring* Running() {
    return static_cast<FlightRecorder::Ring*>(g_crash_ring.load(std::memory_order_seq_cst));
  }
};

namespace recorder_internal {
size_t PinRetainedForCrash(RetainedSpan* out, size_t max_spans, uint64_t* generations) {
  *generations = 0;
  auto* ring = RecorderCrashAccess::Running();
  return ring == nullptr ? 0 : ring->PinForCrash(out, max_spans, generations);
}
void UnpinForTesting() {
  auto* ring = RecorderCrashAccess::Running();
  if (ring != nullptr) ring->UnpinForTesting();
}
}  // namespace recorder_internal

FlightRecorder::FlightRecorder(const FlightRecorderConfig& config) : config_(config) {
  std::lock_guard<std::mutex> l(g_recorders_mu);
  g_recorders->push_back(this);
}

FlightRecorder::~FlightRecorder() {
  if (Enabled()) (void)Stop();
  std::lock_guard<std::mutex> l(g_recorders_mu);
  g_recorders->erase(std::find(g_recorders->begin(), g_recorders->end(), this));
}

bool FlightRecorder::Enabled() const { return running_.load(std::memory_order_relaxed); }

absl::Duration GenerationPeriodFor(absl::Duration min_age) {
  return std::clamp(min_age / 10, absl::Milliseconds(5), absl::Seconds(2));
}

absl::Status FlightRecorder::Start() {
  if (t_dumping != nullptr || tracer_internal::InsideDelivery()) return ReentryError("Start");
  tracer_internal::TracerCallScope call;
  std::lock_guard<std::mutex> l(dump_mu_);
  if (ring_ != nullptr) return absl::FailedPreconditionError("flight recorder already running");
  if (config_.max_bytes < kMinMaxBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_bytes must be at least ", kMinMaxBytes, " (got ", config_.max_bytes, ")"));
  }
  if (config_.min_age <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("min_age must be positive");
  }
  if (g_recorder_running.exchange(true)) {
    return absl::FailedPreconditionError("another flight recorder is running");
  }
  // Everything the recorder makes the process hold comes out of max_bytes (DESIGN.md,
  // "Memory"): its buffer pool (a sixteenth), the collector's copies while it seals a
  // generation (the batches gathered, and the encoded generation; a third copy with lz4: each
  // at most a pool's worth plus tables), and the ring. The pool is the recorder's own
  // (ConsumerOptions), never the user's BufferConfig; while a StartTrace capture runs, the
  // capture's larger pool is used instead, and is the capture's cost.
  const size_t pool = std::min<size_t>(config_.max_bytes / 16, size_t{512} << 20);
  const size_t buffer = std::clamp<size_t>(pool / 16, 8 << 10, 64 << 10);
  const size_t sealing = pool * (config_.compress ? 3 : 2);
  // The ring's index comes out of max_bytes too (an entry per KiB of ring: about 5%).
  const size_t rest = config_.max_bytes - sealing - pool;
  const size_t ring_bytes = rest - IndexEntriesFor(rest) * sizeof(Ring::Entry);
  auto ring = std::make_unique<Ring>(config_, ring_bytes);
  if (!ring->ok()) {
    g_recorder_running = false;
    return absl::ResourceExhaustedError("flight recorder: cannot reserve the ring");
  }
  tracer_internal::ConsumerOptions co;
  co.period = GenerationPeriodFor(config_.min_age);
  co.compressed = config_.compress;
  co.pool_bytes = pool;
  co.buffer_bytes = buffer;
  if (absl::Status s = tracer_internal::AddConsumer(ring.get(), co); !s.ok()) {
    g_recorder_running = false;
    return s;
  }
  {
    std::lock_guard<std::mutex> s(state_mu_);
    pool_bytes_ = pool;
    ring_ = std::move(ring);
    g_crash_ring.store(ring_.get(), std::memory_order_seq_cst);
  }
  running_.store(true, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status FlightRecorder::Stop() {
  if (t_dumping != nullptr || tracer_internal::InsideDelivery()) return ReentryError("Stop");
  tracer_internal::TracerCallScope call;
  std::lock_guard<std::mutex> l(dump_mu_);  // a dump in progress finishes first
  if (ring_ == nullptr) return absl::FailedPreconditionError("flight recorder is not running");
  absl::Status s = tracer_internal::RemoveConsumer(ring_.get());
  running_.store(false, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> st(state_mu_);
    // Crash readers no longer find it; one that did (the process is crashing) keeps it.
    g_crash_ring.store(nullptr, std::memory_order_seq_cst);
    if (tracer_internal::CrashReadersActive()) {
      tracer_internal::KeepReachable(ring_.release());
    } else {
      ring_.reset();
    }
    pool_bytes_ = 0;
  }
  g_recorder_running = false;
  return s;
}

absl::StatusOr<uint64_t> FlightRecorder::WriteTo(Sink& sink, DumpStats* stats) {
  if (t_dumping != nullptr || tracer_internal::InsideDelivery()) return ReentryError("WriteTo");
  tracer_internal::TracerCallScope call;
  std::lock_guard<std::mutex> l(dump_mu_);
  if (ring_ == nullptr) {
    return absl::FailedPreconditionError("flight recorder is not running (call Start first)");
  }
  // The cut ends the window at now; the listing states every live task as of that cut.
  std::string listing;
  uint64_t listed = 0;
  if (absl::Status s = tracer_internal::CutGeneration(&listing, config_.compress, &listed);
      !s.ok()) {
    return s;
  }
  t_dumping = this;
  absl::StatusOr<uint64_t> n = ring_->Dump(sink, stats, listing, listed);
  t_dumping = nullptr;
  return n;
}

absl::StatusOr<uint64_t> FlightRecorder::WriteTo(const std::string& path, DumpStats* stats) {
  if (!Enabled()) {
    return absl::FailedPreconditionError("flight recorder is not running (call Start first)");
  }
  absl::StatusOr<std::unique_ptr<FdSink>> sink = FdSink::Create(path);
  if (!sink.ok()) return sink.status();
  return WriteTo(**sink, stats);
}

absl::StatusOr<uint64_t> FlightRecorder::WriteTo(int fd, DumpStats* stats) {
  FdSink sink(fd, /*owned=*/false);
  return WriteTo(sink, stats);
}

RecorderStats FlightRecorder::Stats() const {
  std::lock_guard<std::mutex> l(state_mu_);
  if (ring_ == nullptr) return {};
  RecorderStats s = ring_->Stats();
  s.generation_period = GenerationPeriodFor(config_.min_age);
  s.pool_bytes = pool_bytes_;
  return s;
}

}  // namespace tracer
