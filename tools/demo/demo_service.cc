#include "tools/demo/demo_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "recorder/flight_recorder.h"
#include "tracer/scopes.h"
#include "tracer/sync/channel.h"
#include "tracer/sync/mutex.h"
#include "tracer/sync/thread_pool.h"
#include "tracer/tracer.h"

// The service's internals live outside namespace tracer: the request report drops a stack's
// innermost frames whose function starts with "tracer::" (the kit's own wrappers), and these
// frames (Handle, RefresherLoop, ...) are the ones a reader of the report wants to see. They
// have external linkage (and the binary exports its symbols) so the tracer's dladdr names them.
namespace tracer_demo_internal {

using tracer::demo::DemoConfig;
using tracer::demo::DemoResult;
using tracer::demo::DumpRecord;
using Clock = std::chrono::steady_clock;

constexpr int kNumShards = 4;
constexpr int kNumKeys = 1024;
constexpr size_t kDataFileBytes = 1 << 20;
constexpr size_t kReadBytes = 64 << 10;

struct Endpoint {
  const char* name;   // the user task's name
  const char* label;  // the endpoint label's value (low cardinality)
  absl::Duration parse, lookup, encode;  // CPU spent in each region
  int weight;         // share of the traffic, in percent
};
constexpr Endpoint kEndpoints[] = {
    {"GET /item", "/item", absl::Microseconds(60), absl::Microseconds(20),
     absl::Microseconds(80), 70},
    {"GET /search", "/search", absl::Microseconds(120), absl::Microseconds(60),
     absl::Microseconds(200), 30},
};
constexpr int kNumEndpoints = sizeof(kEndpoints) / sizeof(kEndpoints[0]);
constexpr const char* kShardLabels[kNumShards] = {"0", "1", "2", "3"};

// Burns CPU for about `d` (the handler's "work"; a loop the compiler cannot drop).
uint64_t BusyFor(absl::Duration d, uint64_t seed) {
  const auto end = Clock::now() + absl::ToChronoNanoseconds(d);
  uint64_t x = seed | 1;
  do {
    for (int i = 0; i < 64; ++i) x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  } while (Clock::now() < end);
  return x;
}

absl::Duration Between(std::mt19937_64& rng, absl::Duration lo, absl::Duration hi) {
  const int64_t lo_us = absl::ToInt64Microseconds(lo);
  const int64_t hi_us = std::max(lo_us, absl::ToInt64Microseconds(hi));
  return absl::Microseconds(std::uniform_int_distribution<int64_t>(lo_us, hi_us)(rng));
}

// A finished request on its way from a handler to the writer.
struct Response {
  tracer::Task task;  // ended by the writer
  int endpoint = 0;
  Clock::time_point begin;
  uint64_t body = 0;
};

// The handler->writer stage's depth: a handler whose response finds it full waits (traced:
// reason channel) for the writer, the service's backpressure.
constexpr size_t kResponseQueueDepth = 64;

// A stop flag that background loops sleep on, so they end promptly. Thread-safe. Untraced
// (absl): a background thread's idle time between periods is not a wait of the service, and
// would otherwise top the report's blocking sites.
class Stopper {
 public:
  void Stop() {
    absl::MutexLock l(&mu_);
    stopped_ = true;
  }
  // Waits `d` or until Stop; true if stopped.
  bool SleepOrStop(absl::Duration d) {
    absl::MutexLock l(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&stopped_), d);
  }

 private:
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

absl::Status MakeOutDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) {
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat("--out ", dir, " is not a directory"));
  }
  return absl::UnavailableError(
      absl::StrCat("cannot create --out ", dir, ": ", std::strerror(errno)));
}

// Writes the refresher's "disk" (kDataFileBytes of pseudo-random bytes) and opens it.
absl::StatusOr<int> MakeDataFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  std::vector<uint64_t> data(kDataFileBytes / sizeof(uint64_t));
  std::mt19937_64 rng(42);
  for (uint64_t& v : data) v = rng();
  const char* p = reinterpret_cast<const char*>(data.data());
  size_t left = kDataFileBytes;
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      return absl::UnavailableError(absl::StrCat("cannot write ", path, " at offset ",
                                                 kDataFileBytes - left, ": ",
                                                 std::strerror(err)));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return fd;
}

class Service {
 public:
  Service(const DemoConfig& config, int data_fd) : config_(config), data_fd_(data_fd) {
    for (int i = 0; i < kNumKeys; ++i) cache_[i] = static_cast<uint64_t>(i) * 2654435761u;
    for (const Endpoint& e : kEndpoints) result_.endpoints.push_back({e.name, {}});
  }

  // `recorder` nullptr: nothing is dumped (DemoConfig::recorder false).
  absl::StatusOr<DemoResult> Run(tracer::FlightRecorder* recorder) {
    std::thread dumper([&] { DumperLoop(recorder); });
    std::thread writer([&] { WriterLoop(); });
    std::thread refresher([&] { RefresherLoop(); });
    std::thread compactor([&] { CompactorLoop(); });
    {
      tracer::ThreadPool pool("handlers", config_.threads);
      Generate(pool);
      pool.Shutdown();  // every submitted request is handled before the queue closes
    }
    responses_.Close();
    writer.join();
    stop_.Stop();
    refresher.join();
    compactor.join();
    {
      absl::MutexLock l(&dump_mu_);
      dump_stopping_ = true;
      dump_cv_.SignalAll();
    }
    dumper.join();
    if (!dump_error_.ok()) return dump_error_;
    return std::move(result_);
  }

 private:
  // The open-loop generator (this thread): request i is sent at start + i/rate, late or not.
  ABSL_ATTRIBUTE_NOINLINE void Generate(tracer::ThreadPool& pool) {
    tracer::SetThreadName("generator");
    static const tracer::Name kEndpointTasks[kNumEndpoints] = {
        tracer::Name(kEndpoints[0].name), tracer::Name(kEndpoints[1].name)};
    std::mt19937_64 rng(1);
    const auto start = Clock::now();
    const auto end = start + absl::ToChronoNanoseconds(config_.duration);
    const double period_ns = 1e9 / config_.rate;
    for (uint64_t i = 0;; ++i) {
      if (in_flight_ != nullptr) {
        if (Clock::now() >= end) break;
        in_flight_->Send(0);  // closed loop: waits while closed_loop requests are in flight
      } else {
        const auto due = start + std::chrono::nanoseconds(static_cast<int64_t>(i * period_ns));
        if (due >= end) break;
        std::this_thread::sleep_until(due);  // the generator's idle time: not the service's
      }
      const int pick = static_cast<int>(rng() % 100);
      const int ep = pick < kEndpoints[0].weight ? 0 : 1;
      const int key = static_cast<int>(rng() % kNumKeys);
      Response r;
      r.task = tracer::NewTask(kEndpointTasks[ep]);
      r.endpoint = ep;
      r.begin = Clock::now();
      // Current while submitting: the pool carries the request to the worker.
      tracer::CurrentTaskScope scope(r.task);
      pool.Submit([this, key, r = std::move(r)]() mutable { Handle(std::move(r), key); });
      ++result_.requests;
    }
  }

  // A request, on a pool worker; its user task is current here.
  ABSL_ATTRIBUTE_NOINLINE void Handle(Response r, int key) {
    const Endpoint& ep = kEndpoints[r.endpoint];
    tracer::ScopedLabels labels({{"endpoint", ep.label}, {"shard", kShardLabels[key % kNumShards]}});
    tracer::ReaderMutexLock world(world_mu_);  // the compactor stops the world through this
    uint64_t h;
    {
      tracer::Region region = tracer::StartRegion("parse");
      h = BusyFor(ep.parse, static_cast<uint64_t>(key));
    }
    {
      tracer::Region region = tracer::StartRegion("lookup");
      tracer::MutexLock l(cache_mu_);  // the refresher holds it across its slow read
      h ^= cache_[key];
      h = BusyFor(ep.lookup, h);
      cache_[key] = h;
    }
    {
      tracer::Region region = tracer::StartRegion("encode");
      r.body = BusyFor(ep.encode, h);
    }
    responses_.Send(std::move(r));
  }

  // Ends each request and measures it; asks for a dump when one is over budget.
  ABSL_ATTRIBUTE_NOINLINE void WriterLoop() {
    tracer::SetThreadName("writer");
    const int64_t budget_ns = absl::ToInt64Nanoseconds(config_.budget);
    while (std::optional<Response> r = responses_.Receive()) {
      r->task.End();
      if (in_flight_ != nullptr) in_flight_->TryReceive();  // one fewer in flight
      const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             Clock::now() - r->begin)
                             .count();
      result_.endpoints[r->endpoint].latency_ns.push_back(ns);
      if (ns > budget_ns) {
        ++result_.over_budget;
        absl::MutexLock l(&dump_mu_);  // short: the dump itself runs on the dumper
        if (!dump_requested_) {
          dump_requested_ = true;
          trigger_endpoint_ = r->endpoint;
          trigger_latency_ = absl::Nanoseconds(ns);
          dump_cv_.Signal();  // pairs with the Wait in DumperLoop
        }
      }
    }
  }

  // Every refresh_period takes the cache mutex; every other time it holds it across a slow
  // disk read.
  ABSL_ATTRIBUTE_NOINLINE void RefresherLoop() {
    tracer::SetThreadName("refresher");
    std::mt19937_64 rng(2);
    std::vector<uint64_t> buf(kReadBytes / sizeof(uint64_t));
    for (uint64_t n = 0; !stop_.SleepOrStop(config_.refresh_period); ++n) {
      tracer::MutexLock l(cache_mu_);
      if (n % 2 == 1) {
        const off_t off = static_cast<off_t>((rng() % (kDataFileBytes / kReadBytes)) * kReadBytes);
        tracer::ScopedSyscall syscall("pread");
        // Slowed on purpose: a cold disk under the lock.
        absl::SleepFor(Between(rng, config_.slow_read_min, config_.slow_read_max));
        if (::pread(data_fd_, buf.data(), kReadBytes, off) > 0) {
          for (int i = 0; i < kNumKeys; ++i) cache_[i] ^= buf[i % buf.size()];
        }
        ++result_.slow_reads;
      } else {
        for (int i = 0; i < kNumKeys; i += 64) cache_[i] += 1;
      }
    }
  }

  // Every compaction_period stops the world: the workers' RwMutex, exclusive.
  ABSL_ATTRIBUTE_NOINLINE void CompactorLoop() {
    tracer::SetThreadName("compactor");
    std::mt19937_64 rng(3);
    while (!stop_.SleepOrStop(config_.compaction_period)) {
      tracer::WriterMutexLock l(world_mu_);  // waits for the requests in flight
      tracer::ScopedPhase phase("compaction", /*stop_the_world=*/true);
      BusyFor(Between(rng, config_.compaction_pause_min, config_.compaction_pause_max), rng());
      ++result_.compactions;
    }
  }

  // Writes a dump per request for one, at most one per dump_interval; keeps the newest
  // keep_dumps.
  ABSL_ATTRIBUTE_NOINLINE void DumperLoop(tracer::FlightRecorder* recorder) {
    tracer::SetThreadName("dumper");
    if (recorder == nullptr) {  // no recorder: the requests for a dump are ignored
      absl::MutexLock l(&dump_mu_);
      dump_mu_.Await(absl::Condition(&dump_stopping_));
      return;
    }
    for (int seq = 1;; ++seq) {
      DumpRecord rec;
      {
        absl::MutexLock l(&dump_mu_);
        while (!dump_requested_ && !dump_stopping_) dump_cv_.Wait(&dump_mu_);
        if (!dump_requested_) return;  // stopping, nothing asked
        rec.trigger = kEndpoints[trigger_endpoint_].name;
        rec.trigger_latency = trigger_latency_;
      }
      rec.path = absl::StrFormat("%s/slow-%d-%03d.trace", config_.out_dir,
                                 static_cast<int>(::getpid()), seq);
      tracer::DumpStats stats;
      absl::StatusOr<uint64_t> n = recorder->WriteTo(rec.path, &stats);
      if (!n.ok()) {
        dump_error_ = absl::Status(n.status().code(), absl::StrCat("dump to ", rec.path,
                                                                   ": ", n.status().message()));
        return;
      }
      rec.bytes = *n;
      rec.covered = stats.covered;
      result_.dumps.push_back(rec);
      // Keep only the newest keep_dumps of this run.
      int kept = 0;
      for (auto it = result_.dumps.rbegin(); it != result_.dumps.rend(); ++it) {
        if (it->removed) continue;
        if (++kept > config_.keep_dumps) {
          ::unlink(it->path.c_str());
          it->removed = true;
        }
      }
      // Cool down; a request over budget meanwhile is dumped once the interval has passed
      // (the recorder's window still holds it).
      const absl::Time next = absl::Now() + config_.dump_interval;
      absl::MutexLock l(&dump_mu_);
      dump_requested_ = false;
      while (!dump_stopping_) {
        const absl::Duration left = next - absl::Now();
        if (left <= absl::ZeroDuration()) break;
        dump_cv_.WaitWithTimeout(&dump_mu_, left);
      }
      if (dump_stopping_) return;
    }
  }

  const DemoConfig config_;
  const int data_fd_;

  tracer::RwMutex world_mu_;  // held shared by every request, exclusive by the compactor
  tracer::Mutex cache_mu_;
  uint64_t cache_[kNumKeys] ABSL_GUARDED_BY(cache_mu_);

  tracer::Channel<Response> responses_{kResponseQueueDepth};
  // Closed loop only: a token per request in flight (sent by the generator, taken back by the
  // writer), so the generator waits while closed_loop are in flight.
  const std::unique_ptr<tracer::Channel<char>> in_flight_ =
      config_.closed_loop > 0
          ? std::make_unique<tracer::Channel<char>>(static_cast<size_t>(config_.closed_loop))
          : nullptr;
  Stopper stop_;

  // The writer's request for a dump. Untraced (absl), like Stopper: the dumper's idling is not
  // the service's, and the writer holds it only to set a flag.
  absl::Mutex dump_mu_;
  absl::CondVar dump_cv_;
  bool dump_requested_ ABSL_GUARDED_BY(dump_mu_) = false;
  bool dump_stopping_ ABSL_GUARDED_BY(dump_mu_) = false;
  int trigger_endpoint_ ABSL_GUARDED_BY(dump_mu_) = 0;
  absl::Duration trigger_latency_ ABSL_GUARDED_BY(dump_mu_);

  // Each field written by one thread only (requests: the generator; endpoints, over_budget:
  // the writer; slow_reads: the refresher; compactions: the compactor; dumps: the dumper), and
  // read by Run's caller after that thread is joined.
  DemoResult result_;
  absl::Status dump_error_;  // written by the dumper, read after it is joined
};

}  // namespace tracer_demo_internal

namespace tracer::demo {

absl::StatusOr<DemoResult> RunDemo(const DemoConfig& config) {
  if (config.rate <= 0 || config.threads <= 0 || config.keep_dumps <= 0 ||
      config.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("rate, threads, keep-dumps and duration must be positive");
  }
  if (absl::Status s = tracer_demo_internal::MakeOutDir(config.out_dir); !s.ok()) return s;
  const std::string data_file = config.out_dir + "/cache.dat";
  absl::StatusOr<int> fd = tracer_demo_internal::MakeDataFile(data_file);
  if (!fd.ok()) return fd.status();

  tracer::FlightRecorder recorder({.min_age = config.min_age, .max_bytes = config.max_bytes});
  if (config.recorder) {
    if (absl::Status s = recorder.Start(); !s.ok()) {
      ::close(*fd);
      return absl::Status(s.code(), absl::StrCat("starting the flight recorder: ", s.message()));
    }
  }
  absl::StatusOr<DemoResult> result;
  {
    tracer_demo_internal::Service service(config, *fd);
    result = service.Run(config.recorder ? &recorder : nullptr);
  }
  const absl::Status stopped = config.recorder ? recorder.Stop() : absl::OkStatus();
  ::close(*fd);
  if (!result.ok()) return result;
  if (!stopped.ok()) {
    return absl::Status(stopped.code(),
                        absl::StrCat("stopping the flight recorder: ", stopped.message()));
  }
  result->data_file = data_file;
  result->events_lost = tracer::GetTracerStats().events_lost;
  return result;
}

}  // namespace tracer::demo
