// DemoService: a small in-process "web service" that misbehaves on purpose, under a flight
// recorder that dumps the recent past when a request is slow.
//
//   generator --Submit--> ThreadPool "handlers" --Channel(64)--> writer (ends the request)
//                              |   |                           |
//           RwMutex "world" (shared) Mutex "cache"            latency > budget
//                 ^                    ^                           |
//            compactor            refresher (pread)             dumper --> FlightRecorder::WriteTo
//
// - Each request is a user task ("GET /item", "GET /search") made current on the generator
//   before Submit, so the pool carries it to the worker; the job runs regions "parse",
//   "lookup", "encode" under labels endpoint=... and shard=....
// - The refresher takes the cache mutex every refresh_period and, every other time, holds it
//   across a slow disk read (a real ::pread, slowed by a sleep, inside one ScopedSyscall):
//   requests queue on the mutex.
// - The compactor stops the world (the RwMutex exclusive, ScopedPhase "compaction") every
//   compaction_period for compaction_pause: requests wait on the RwMutex.
// - The writer ends each request's user task and measures its latency (begin on the
//   generator to end on the writer); a latency over `budget` asks the dumper for a dump. The
//   writer never waits for the dump: it sets a flag under a short lock and signals.
// - The dumper writes at most one dump per dump_interval (mode 0600, in out_dir), and keeps
//   only the newest keep_dumps of this run's dumps.
//
// Thread-safety: Run() is called once, from one thread; it starts and joins every thread it
// uses, so the result it returns is read by the caller alone.

#ifndef TRACER_TOOLS_DEMO_DEMO_SERVICE_H_
#define TRACER_TOOLS_DEMO_DEMO_SERVICE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tracer::demo {

struct DemoConfig {
  double rate = 400;  // requests per second, open loop (sent on schedule, never waiting)
  int threads = 4;    // handler pool workers
  absl::Duration duration = absl::Seconds(8);
  absl::Duration budget = absl::Milliseconds(15);  // a slower request asks for a dump
  std::string out_dir = "tracer-demo-out";
  absl::Duration dump_interval = absl::Seconds(2);  // at most one dump per interval
  int keep_dumps = 3;                               // newest dumps of this run kept on disk
  // The recorder: the dump covers at least min_age of the recent past (when it fits).
  absl::Duration min_age = absl::Seconds(3);
  size_t max_bytes = 64 << 20;
  // The misbehaviours.
  absl::Duration refresh_period = absl::Milliseconds(300);
  absl::Duration slow_read_min = absl::Milliseconds(20);  // the slowed pread holds the
  absl::Duration slow_read_max = absl::Milliseconds(40);  // cache mutex this long
  absl::Duration compaction_period = absl::Milliseconds(700);
  absl::Duration compaction_pause_min = absl::Milliseconds(10);
  absl::Duration compaction_pause_max = absl::Milliseconds(20);
  // Benchmarks (bench/demo_bench.cc). recorder false: no flight recorder, so nothing traces
  // (the kit's primitives run untraced) and nothing is dumped: the baseline. closed_loop N > 0:
  // N requests in flight at all times, the next sent as soon as one ends (rate is ignored): the
  // service's maximum throughput.
  bool recorder = true;
  int closed_loop = 0;
};

// Latencies measured by the writer for one endpoint.
struct EndpointResult {
  std::string name;             // the user task's name, e.g. "GET /item"
  std::vector<int64_t> latency_ns;  // in completion order
};

struct DumpRecord {
  std::string path;
  uint64_t bytes = 0;
  absl::Duration covered;     // the window the dump holds
  std::string trigger;        // the endpoint of the slow request that asked for it
  absl::Duration trigger_latency;
  bool removed = false;       // deleted later to keep only the newest keep_dumps
};

struct DemoResult {
  std::vector<EndpointResult> endpoints;
  uint64_t requests = 0;
  uint64_t over_budget = 0;
  uint64_t slow_reads = 0;     // refreshes that held the cache mutex across the slow pread
  uint64_t compactions = 0;
  std::vector<DumpRecord> dumps;  // in the order written
  std::string data_file;          // the file the refresher preads
  uint64_t events_lost = 0;       // tracer::GetTracerStats() at the end
};

// Runs the service for config.duration and returns what it measured and dumped. Fails (with
// context) if out_dir or its data file cannot be made, the recorder does not start, or a dump
// fails to write; a run that dumped nothing is not an error here (the caller decides).
absl::StatusOr<DemoResult> RunDemo(const DemoConfig& config);

}  // namespace tracer::demo

#endif  // TRACER_TOOLS_DEMO_DEMO_SERVICE_H_
