#include "recorder/flight_recorder.h"

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "format/trace_writer.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "recorder/crash_ring.h"
#include "tests/tracer/test_util.h"
#include "tracer/hooks.h"
#include "tracer/internal/clock.h"
#include "tracer/internal/crash_access.h"
#include "tracer/tracer.h"

namespace tracer {
namespace {

using format::EventType;
using testing::GatedSink;
using testing::ReadTrace;

int64_t NowMonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

size_t ResidentBytes() {
  std::ifstream f("/proc/self/statm");
  size_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// Emits numbered counters from `threads` threads until stopped.
class Load {
 public:
  Load(int threads, absl::Duration pause) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, pause] {
        static const Name kSeq("seq");
        for (int64_t i = 0; !stop_.load(std::memory_order_relaxed); ++i) {
          hooks::Counter(kSeq, i);
          if (pause > absl::ZeroDuration()) {
            absl::SleepFor(pause);
          } else if (i % 256 == 0) {
            std::this_thread::yield();  // a flood, but one that leaves the collector a core
          }
        }
      });
    }
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

TEST(FlightRecorderTest, DumpCoversMinAgeAndLittleMore) {
  FlightRecorderConfig c;
  c.min_age = absl::Milliseconds(200);
  c.max_bytes = 16 << 20;
  FlightRecorder fr(c);
  ASSERT_TRUE(fr.Start().ok());
  EXPECT_TRUE(fr.Enabled());
  Load load(2, absl::Microseconds(100));
  absl::SleepFor(c.min_age * 4);
  StringSink sink;
  DumpStats st;
  const int64_t before = NowMonoNs();
  auto n = fr.WriteTo(sink, &st);
  load.Stop();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, sink.data().size());
  EXPECT_EQ(st.bytes, sink.data().size()) << "every byte written, header included";
  auto rb = ReadTrace(sink.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  ASSERT_FALSE(rb->generations.empty());
  const int64_t begin = rb->generations.front()->begin_ns;
  // The dump ends with the listing of live tasks (the load's threads run none: it is empty),
  // which `generations` does not count; the window ends where the generation before it does
  // (WriteTo's own cut, after `before`).
  ASSERT_GE(rb->generations.size(), 3u);
  ASSERT_TRUE(rb->generations.back()->listing);
  EXPECT_EQ(st.tasks_listed, rb->generations.back()->live_tasks.size());
  rb->generations.pop_back();
  EXPECT_EQ(st.window_end_ns, rb->generations.back()->end_ns);
  EXPECT_GE(st.window_end_ns, before);
  EXPECT_EQ(st.covered, absl::Nanoseconds(st.window_end_ns - st.window_begin_ns));
  const int64_t period = absl::ToInt64Nanoseconds(fr.Stats().generation_period);
  EXPECT_LE(begin, before - absl::ToInt64Nanoseconds(c.min_age)) << "covers min_age";
  // No earlier than needed by more than one generation: without its oldest generation the
  // dump would no longer cover min_age. (Generations last about one period; on a loaded
  // machine the collector may seal late, so the bound is stated on generations, not time.)
  ASSERT_GE(rb->generations.size(), 2u);
  EXPECT_GT(rb->generations[1]->begin_ns, before - absl::ToInt64Nanoseconds(c.min_age));
  EXPECT_LT(rb->generations.size(), 2 * static_cast<size_t>(c.min_age / fr.Stats().generation_period))
      << "about min_age / period generations, not many more";
  (void)period;
  EXPECT_EQ(st.shortfall, absl::ZeroDuration());
  EXPECT_GE(st.covered, c.min_age);
  EXPECT_EQ(st.generations, rb->generations.size());
  EXPECT_EQ(st.window_begin_ns, begin);
  ASSERT_TRUE(fr.Stop().ok());
}

// A fatal-signal handler's view of the ring (recorder/crash_ring.h): pinned, the retained
// generations stay whole while threads keep tracing (the collector drops what it seals
// instead of writing over them), and stay mapped even if the recorder stops meanwhile.
TEST(FlightRecorderTest, CrashPinKeepsTheRetainedGenerationsWholeAndMapped) {
  FlightRecorderConfig c;
  c.min_age = absl::Milliseconds(100);
  c.max_bytes = 4 << 20;
  FlightRecorder fr(c);
  ASSERT_TRUE(fr.Start().ok());
  Load load(2, absl::ZeroDuration());  // a flood: the ring wraps many times a second
  absl::SleepFor(absl::Milliseconds(300));
  std::string file;
  {
    tracer_internal::CrashReadScope scope;
    std::vector<recorder_internal::RetainedSpan> spans(8192);
    uint64_t generations = 0;
    const size_t n = recorder_internal::PinRetainedForCrash(spans.data(), spans.size(),
                                                            &generations);
    ASSERT_GT(n, 0u);
    ASSERT_GT(generations, 1u);
    // Threads keep tracing and the collector keeps sealing for a while, then the recorder
    // even stops: the spans must still hold the same whole generations. (The load's threads
    // go on: a thread's exit waits for the crash reader, crash_access.h.)
    absl::SleepFor(absl::Milliseconds(200));
    EXPECT_GT(fr.Stats().generations_dropped_for_crash, 0u);
    ASSERT_TRUE(fr.Stop().ok());
    format::AppendFileHeader(&file);
    for (size_t i = 0; i < n; ++i) file.append(spans[i].data, spans[i].len);
    auto rb = ReadTrace(file);
    ASSERT_TRUE(rb.ok()) << rb.status();
    EXPECT_EQ(rb->generations.size(), generations);
    EXPECT_GT(rb->events.size(), 0u);
  }
  load.Stop();
  // A new recorder (a new ring, not pinned) dumps as usual.
  FlightRecorder again(c);
  ASSERT_TRUE(again.Start().ok());
  hooks::Counter(Name("after"), 1);
  StringSink sink;
  EXPECT_TRUE(again.WriteTo(sink).ok());
  EXPECT_EQ(again.Stats().generations_dropped_for_crash, 0u);
  ASSERT_TRUE(again.Stop().ok());
}

TEST(FlightRecorderTest, FloodStaysWithinMaxBytesAndDumpIsContiguousOrCounted) {
  FlightRecorderConfig c;
  c.min_age = absl::Seconds(30);  // cannot fit: max_bytes wins
  c.max_bytes = 4 << 20;
  FlightRecorder fr(c);
  const size_t rss_before = ResidentBytes();
  ASSERT_TRUE(fr.Start().ok());
  Load load(2, absl::ZeroDuration());
  size_t rss_peak = 0;
  // Flood until the ring has wrapped (at least 1 s; a loaded machine may need longer).
  const absl::Time start = absl::Now();
  while (absl::Now() - start < absl::Seconds(1) ||
         (fr.Stats().generations_evicted == 0 && absl::Now() - start < absl::Seconds(60))) {
    absl::SleepFor(absl::Milliseconds(50));
    rss_peak = std::max(rss_peak, ResidentBytes());
  }
  StringSink sink;
  DumpStats st;
  auto n = fr.WriteTo(sink, &st);
  load.Stop();
  ASSERT_TRUE(n.ok()) << n.status();
  // The stated bound: max_bytes plus the fixed overhead of recorder/DESIGN.md (index, intern
  // tables, symbol cache, allocator slack): 8 MiB is generous for it.
#if !defined(TRACER_TSAN) && !defined(__SANITIZE_ADDRESS__)
  // (Sanitizer builds add shadow memory and a free-quarantine to RSS: not the recorder's.)
  EXPECT_LE(rss_peak - std::min(rss_peak, rss_before), c.max_bytes + (8u << 20));
#else
  (void)rss_before;
  (void)rss_peak;
#endif
  EXPECT_LE(sink.data().size(), c.max_bytes);
  EXPECT_GT(st.shortfall, absl::ZeroDuration()) << "30 s of a flood cannot fit in 4 MiB";
  RecorderStats rs = fr.Stats();
  EXPECT_GT(rs.generations_evicted, 0u) << "retained " << rs.generations_retained << " bytes " << rs.bytes_retained << " ring " << rs.ring_bytes << " too large " << rs.generations_too_large << " dump " << st.generations << " lost " << st.events_lost;
  EXPECT_LE(rs.bytes_retained, rs.ring_bytes);

  auto rb = ReadTrace(sink.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  std::map<uint64_t, int64_t> last;
  std::map<uint64_t, uint64_t> gaps, lost;
  for (const auto& [e, g] : rb->events) {
    if (e.type != EventType::kCounter) continue;
    const int64_t v = static_cast<int64_t>(e.args[1]);
    auto it = last.find(e.thread);
    if (it != last.end()) {
      ASSERT_GT(v, it->second) << "per-thread order";
      gaps[e.thread] += v - it->second - 1;
    }
    last[e.thread] = v;
  }
  for (const auto& g : rb->generations) {
    for (const auto& l : g->losses) lost[l.thread] += l.count;
  }
  for (const auto& [tid, gap] : gaps) {
    EXPECT_LE(gap, lost[tid]) << "thread " << tid << ": every missing event is counted";
  }
  ASSERT_TRUE(fr.Stop().ok());
}

TEST(FlightRecorderTest, DumpsEveryFewMsWhileCaptureRuns) {
  FlightRecorderConfig c;
  c.min_age = absl::Milliseconds(100);
  c.max_bytes = 8 << 20;
  FlightRecorder fr(c);
  ASSERT_TRUE(fr.Start().ok());
  StringSink capture;
  TraceOptions o;
  o.generation_period = absl::Milliseconds(20);
  ASSERT_TRUE(StartTrace(capture, o).ok());
  Load load(2, absl::Microseconds(20));
  std::atomic<int> good{0};
  std::vector<std::thread> dumpers;
  for (int d = 0; d < 2; ++d) {
    dumpers.emplace_back([&] {
      for (int i = 0; i < 15; ++i) {
        StringSink s;
        auto n = fr.WriteTo(s);
        if (n.ok() && ReadTrace(s.Release()).ok()) ++good;
        absl::SleepFor(absl::Milliseconds(3));
      }
    });
  }
  for (auto& t : dumpers) t.join();
  load.Stop();
  EXPECT_EQ(good.load(), 30);
  ASSERT_TRUE(StopTrace().ok());
  auto rb = ReadTrace(capture.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_FALSE(rb->events.empty());
  EXPECT_TRUE(fr.Enabled()) << "stopping the capture leaves the recorder running";
  StringSink after;
  ASSERT_TRUE(fr.WriteTo(after).ok());
  ASSERT_TRUE(fr.Stop().ok());
}

TEST(FlightRecorderTest, StartStopCyclesAndErrors) {
  FlightRecorderConfig c;
  c.min_age = absl::Milliseconds(50);
  c.max_bytes = 2 << 20;
  FlightRecorder fr(c);
  StringSink s0;
  auto stopped = fr.WriteTo(s0);
  EXPECT_EQ(stopped.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(stopped.status().message(), "not running"));
  EXPECT_EQ(fr.Stop().code(), absl::StatusCode::kFailedPrecondition);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(fr.Start().ok()) << "cycle " << i;
    EXPECT_EQ(fr.Start().code(), absl::StatusCode::kFailedPrecondition);
    FlightRecorder other(c);
    EXPECT_EQ(other.Start().code(), absl::StatusCode::kFailedPrecondition);
    static const Name kC("cycle");
    hooks::Counter(kC, i);
    StringSink s;
    ASSERT_TRUE(fr.WriteTo(s).ok());
    auto rb = ReadTrace(s.Release());
    ASSERT_TRUE(rb.ok()) << rb.status();
    bool saw = false;
    for (const auto& [e, g] : rb->events) {
      saw |= e.type == EventType::kCounter && static_cast<int64_t>(e.args[1]) == i;
    }
    EXPECT_TRUE(saw) << "WriteTo cuts a generation so the latest events are in";
    ASSERT_TRUE(fr.Stop().ok());
    EXPECT_FALSE(fr.Enabled());
  }
  FlightRecorderConfig tiny = c;
  tiny.max_bytes = 1000;
  EXPECT_EQ(FlightRecorder(tiny).Start().code(), absl::StatusCode::kInvalidArgument);
}

// A capture and a recorder starting and stopping at once, from two threads: the last one to
// stop joins the collector thread without holding the collector's lock, and the other's start
// must wait for that instead of activating a second collector over the first.
TEST(FlightRecorderTest, CaptureAndRecorderCyclingAtOnceNeverCollide) {
  constexpr int kCycles = 200;
  std::atomic<int> failures{0};
  std::thread capture([&] {
    static const Name kC("capture-cycle");
    for (int i = 0; i < kCycles; ++i) {
      StringSink sink;
      if (!StartTrace(sink).ok()) ++failures;
      hooks::Counter(kC, i);
      if (!StopTrace().ok()) ++failures;
    }
  });
  std::thread recorder([&] {
    static const Name kR("recorder-cycle");
    FlightRecorderConfig c;
    c.min_age = absl::Milliseconds(50);
    c.max_bytes = 2 << 20;
    for (int i = 0; i < kCycles; ++i) {
      FlightRecorder fr(c);
      if (!fr.Start().ok()) ++failures;
      hooks::Counter(kR, i);
      StringSink s;
      absl::StatusOr<uint64_t> n = fr.WriteTo(s);
      if (!n.ok()) {
        ++failures;
      } else if (auto rb = ReadTrace(s.Release()); !rb.ok()) {
        ++failures;
        ADD_FAILURE() << rb.status();
      }
      if (!fr.Stop().ok()) ++failures;
    }
  });
  capture.join();
  recorder.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_FALSE(IsTracing());
}

// Whether thread `tid` of this process is asleep in the kernel (and, where /proc shows the
// syscall, in a futex wait: a contended lock). True when /proc cannot tell.
bool AsleepOnALock(pid_t tid) {
  std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return true;
  if (line[paren + 2] != 'S') return false;
  std::ifstream syscall("/proc/self/task/" + std::to_string(tid) + "/syscall");
  long nr = -1;
  if (!(syscall >> nr)) return true;  // not shown here: asleep is the best we can see
  return nr == SYS_futex;
}

// Stop called while a dump is in the middle of writing waits for the dump to finish: the
// sink holds the dump in its first write until a Stop on another thread is seen blocked (not
// returned, asleep, the recorder still attached); once released, the dump completes and
// flushes before Stop returns.
TEST(FlightRecorderTest, StopDuringWriteToWaitsForTheDump) {
  FlightRecorderConfig c;
  c.min_age = absl::Milliseconds(100);
  c.max_bytes = 4 << 20;
  FlightRecorder fr(c);
  ASSERT_TRUE(fr.Start().ok());
  Load load(1, absl::Microseconds(10));
  // Something to dump: a few generations sealed by the collector.
  for (int i = 0; i < 10000 && fr.Stats().generations_retained < 3; ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  GatedSink sink;
  absl::StatusOr<uint64_t> n;
  std::thread dumper([&] { n = fr.WriteTo(sink); });
  sink.WaitUntilEntered();
  std::atomic<pid_t> stopper_tid{0};
  std::atomic<bool> stop_returned{false};
  bool flushed_at_stop = false;
  absl::Status stopped;
  std::thread stopper([&] {
    stopper_tid.store(static_cast<pid_t>(gettid()), std::memory_order_release);
    stopped = fr.Stop();
    flushed_at_stop = sink.flushed();
    stop_returned.store(true, std::memory_order_release);
  });
  while (stopper_tid.load(std::memory_order_acquire) == 0) std::this_thread::yield();
  const pid_t tid = stopper_tid.load(std::memory_order_acquire);
  while (!stop_returned.load(std::memory_order_acquire) && !AsleepOnALock(tid)) {
    absl::SleepFor(absl::Microseconds(100));
  }
  // Asleep is not enough (a Stop that did not wait would sleep too, detaching the recorder):
  // the collector must go on sealing generations meanwhile, which it stops doing once the
  // recorder, the only consumer, is detached.
  const uint64_t sealed = GetTracerStats().generations;
  while (!stop_returned.load(std::memory_order_acquire) &&
         GetTracerStats().generations < sealed + 3) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_FALSE(stop_returned.load(std::memory_order_acquire))
      << "Stop returned while the dump was still writing";
  EXPECT_TRUE(AsleepOnALock(tid));
  EXPECT_GT(GetTracerStats().pool_bytes, 0u) << "tracing goes on: the recorder is attached";
  EXPECT_FALSE(sink.flushed());
  sink.Release();
  stopper.join();
  dumper.join();
  load.Stop();
  EXPECT_TRUE(stopped.ok()) << stopped;
  EXPECT_TRUE(flushed_at_stop) << "Stop returned before the dump had finished";
  EXPECT_FALSE(fr.Enabled());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, sink.data().size());
  auto rb = ReadTrace(sink.data());
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_GE(rb->generations.size(), 3u);
  EXPECT_FALSE(rb->events.empty());
}

class FailAfter : public Sink {
 public:
  explicit FailAfter(int n) : n_(n) {}
  absl::Status Write(absl::string_view) override {
    return n_-- > 0 ? absl::OkStatus() : absl::UnavailableError("broken pipe (test)");
  }
  int n_;
};

TEST(FlightRecorderTest, FailingSinkReturnsErrorAndRecorderKeepsGoing) {
  FlightRecorderConfig c;
  c.min_age = absl::Milliseconds(50);
  c.max_bytes = 2 << 20;
  FlightRecorder fr(c);
  ASSERT_TRUE(fr.Start().ok());
  Load load(1, absl::Microseconds(50));
  absl::SleepFor(absl::Milliseconds(100));
  FailAfter bad(2);
  auto n = fr.WriteTo(bad);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(n.status().message(), "valid prefix"));
  StringSink good;
  auto m = fr.WriteTo(good);
  load.Stop();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(ReadTrace(good.Release()).ok());
  ASSERT_TRUE(fr.Stop().ok());
}

// DumpStats::events_lost is the sum of the dump's loss records, and the records' spans lie
// in the time the flood ran: a flood into the smallest pool (max_bytes 1 MiB: a 64 KiB pool)
// loses events.
TEST(FlightRecorderTest, DumpStatsCountTheLossRecordsInTheDump) {
  FlightRecorderConfig c;
  c.min_age = absl::Seconds(10);  // nothing ages out during the test
  c.max_bytes = 1 << 20;
  FlightRecorder fr(c);
  ASSERT_TRUE(fr.Start().ok());
  const uint64_t lost_before = GetTracerStats().events_lost;
  uint64_t tid = 0, start_tick = 0;
  std::thread flood([&] {
    tid = static_cast<uint64_t>(gettid());
    start_tick = tracer_internal::ReadTicks();
    static const Name kFlood("flood");
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    for (int64_t i = 0;; ++i) {
      hooks::Counter(kFlood, i);
      if (i % 1024 == 0 && (GetTracerStats().events_lost > lost_before + 1000 ||
                            absl::Now() > deadline)) {
        break;
      }
    }
  });
  flood.join();
  const uint64_t end_tick = tracer_internal::ReadTicks();  // after its stop, dropped or not
  StringSink sink;
  DumpStats st;
  auto n = fr.WriteTo(sink, &st);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(st.bytes, sink.data().size());
  const uint64_t lost = GetTracerStats().events_lost - lost_before;
  ASSERT_GT(lost, 1000u) << "a 64 KiB pool was meant to run out";
  RecorderStats rs = fr.Stats();
  auto rb = ReadTrace(sink.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_EQ(st.events_lost, rb->lost) << "the dump's loss records";
  if (rs.generations_evicted == 0) {
    EXPECT_EQ(st.events_lost, lost) << "every generation since Start is in the dump";
  }
  EXPECT_GT(st.events_lost, 0u);
  int records = 0;
  for (const auto& g : rb->generations) {
    for (const format::LossRecord& l : g->losses) {
      if (l.thread != tid) continue;
      ++records;
      EXPECT_LE(start_tick, l.begin_tick) << "a drop before the flood began";
      EXPECT_LE(l.begin_tick, l.end_tick);
      EXPECT_LE(l.end_tick, end_tick) << "a drop after the flood ended";
    }
  }
  EXPECT_GT(records, 0);
  ASSERT_TRUE(fr.Stop().ok());
}

// RecorderStats::window is the span of the retained generations: from the first one's begin
// to the last one's end, as a dump taken right after shows them (the dump adds its own cut,
// and maybe a periodic one, after them).
TEST(FlightRecorderTest, StatsWindowSpansTheRetainedGenerations) {
  FlightRecorderConfig c;
  c.min_age = absl::Seconds(60);  // a 2 s period, and nothing ages out
  c.max_bytes = 4 << 20;
  FlightRecorder fr(c);
  ASSERT_TRUE(fr.Start().ok());
  EXPECT_EQ(fr.Stats().window, absl::ZeroDuration()) << "nothing retained yet";
  static const Name kC("window");
  for (int i = 0; i < 3; ++i) {  // three generations, each sealed by a dump's cut
    hooks::Counter(kC, i);
    absl::SleepFor(absl::Milliseconds(2));
    StringSink ignored;
    ASSERT_TRUE(fr.WriteTo(ignored).ok());
  }
  const RecorderStats rs = fr.Stats();
  StringSink sink;
  ASSERT_TRUE(fr.WriteTo(sink).ok());
  ASSERT_EQ(rs.generations_evicted, 0u);
  ASSERT_GE(rs.generations_retained, 3u);
  auto rb = ReadTrace(sink.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  ASSERT_GT(rb->generations.size(), rs.generations_retained);
  const int64_t span = rb->generations[rs.generations_retained - 1]->end_ns -
                       rb->generations.front()->begin_ns;
  EXPECT_GT(span, 0);
  EXPECT_EQ(rs.window, absl::Nanoseconds(span));
  ASSERT_TRUE(fr.Stop().ok());
}

// A recorder with compress = true keeps its generations lz4-compressed: the dump reads back
// with every event, each generation flagged compressed, in fewer bytes than the same events
// recorded uncompressed.
TEST(FlightRecorderTest, CompressedRecorderDumpReadsBackInFewerBytes) {
  static const Name kCategory("compressible");
  constexpr int kEvents = 1000;
  const std::string message(100, 'q');
  auto dump = [&](bool compress) -> std::string {
    FlightRecorderConfig c;
    c.min_age = absl::Seconds(10);
    c.max_bytes = 8 << 20;  // a 512 KiB pool: the ~110 KiB of events fit without a loss
    c.compress = compress;
    FlightRecorder fr(c);
    EXPECT_TRUE(fr.Start().ok());
    static const Name kParked("parked");
    TaskRef parked;
    hooks::TaskCreate(parked, kParked);
    hooks::TaskStart(parked);
    hooks::TaskBlock(parked, BlockReason::kSleep);
    const Task task;
    for (int i = 0; i < kEvents; ++i) {
      hooks::Counter(kCategory, i);
      Log(task, kCategory, message);
    }
    StringSink sink;
    DumpStats st;
    absl::StatusOr<uint64_t> n = fr.WriteTo(sink, &st);
    EXPECT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(st.bytes, sink.data().size());
    EXPECT_EQ(st.tasks_listed, 1u) << "the parked task";
    EXPECT_TRUE(fr.Stop().ok());
    return sink.Release();
  };
  const std::string plain = dump(false);
  const std::string packed = dump(true);
  for (const std::string* bytes : {&plain, &packed}) {
    const bool compressed = bytes == &packed;
    SCOPED_TRACE(compressed ? "compressed" : "plain");
    auto rb = ReadTrace(*bytes);
    ASSERT_TRUE(rb.ok()) << rb.status();
    EXPECT_EQ(rb->lost, 0u);
    ASSERT_GE(rb->generations.size(), 2u);
    for (const auto& g : rb->generations) EXPECT_EQ(g->compressed, compressed) << g->seq;
    ASSERT_TRUE(rb->generations.back()->listing) << "the listing, compressed like the rest";
    ASSERT_EQ(rb->generations.back()->live_tasks.size(), 1u);
    EXPECT_EQ(rb->generations.back()->live_tasks[0].status, format::TaskStatus::kBlocked);
    std::vector<int64_t> counters;
    int logs = 0;
    for (const auto& [e, g] : rb->events) {
      if (e.type == EventType::kCounter) counters.push_back(static_cast<int64_t>(e.args[1]));
      if (e.type == EventType::kLog) logs += e.bytes == message;
    }
    ASSERT_EQ(counters.size(), static_cast<size_t>(kEvents));
    for (int i = 0; i < kEvents; ++i) EXPECT_EQ(counters[i], i);
    EXPECT_EQ(logs, kEvents);
  }
  EXPECT_LT(packed.size(), plain.size() / 3) << "plain " << plain.size();
}

// A generation larger than the whole ring is dropped and counted (generations_too_large); the
// recorder goes on. Events are bounded by the pool, so it takes big tables: 64 distinct
// 32 KiB names used in one generation are 2 MiB of strings, against a ring of under 1 MiB
// (max_bytes 1 MiB less the pool and the sealing copies). Were the generation cut in two by
// a periodic seal, one part would still hold at least 1 MiB of them.
TEST(FlightRecorderTest, GenerationLargerThanTheRingIsDroppedAndCounted) {
  std::vector<Name> names;
  for (int i = 0; i < 64; ++i) {
    names.emplace_back(std::to_string(i) + ":" + std::string(32 << 10, 'a' + i % 26));
  }
  FlightRecorderConfig c;
  c.min_age = absl::Seconds(60);  // a 2 s period: one generation holds all of them
  c.max_bytes = 1 << 20;
  FlightRecorder fr(c);
  ASSERT_TRUE(fr.Start().ok());
  ASSERT_LT(fr.Stats().ring_bytes, size_t{1} << 20);
  EXPECT_EQ(fr.Stats().generations_too_large, 0u);
  for (int i = 0; i < 64; ++i) hooks::Counter(names[i], i);
  StringSink first;
  ASSERT_TRUE(fr.WriteTo(first).ok());  // its cut seals the big generation
  const RecorderStats rs = fr.Stats();
  EXPECT_GE(rs.generations_too_large, 1u);
  EXPECT_LE(rs.generations_too_large, 2u);
  auto big = ReadTrace(first.Release());
  ASSERT_TRUE(big.ok()) << big.status();
  int seen = 0;
  for (const auto& [e, g] : big->events) seen += e.type == EventType::kCounter;
  EXPECT_LT(seen, 64) << "the generation too large for the ring is not in the dump";
  // The recorder keeps going: the next generation is dumped as usual.
  static const Name kAfter("after");
  hooks::Counter(kAfter, 7);
  StringSink second;
  ASSERT_TRUE(fr.WriteTo(second).ok());
  EXPECT_EQ(fr.Stats().generations_too_large, rs.generations_too_large);
  auto rb = ReadTrace(second.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();
  bool saw = false;
  for (const auto& [e, g] : rb->events) {
    saw |= e.type == EventType::kCounter && rb->generations[g]->String(e.args[0]) == "after";
  }
  EXPECT_TRUE(saw);
  ASSERT_TRUE(fr.Stop().ok());
}

}  // namespace
}  // namespace tracer
