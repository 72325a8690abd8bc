// Writes testdata/sample.trace: a small, realistic, deterministic trace of a simulated RPC
// server, built with the format layer's writer (no runtime involved). Same output on every run.
//
//   make_sample_trace OUT          the sample (4 generations, the third lz4-compressed)
//   make_sample_trace --tiny OUT   the one-generation trace of FORMAT.md's worked example
//
// The simulated program: thread "main" accepts requests (user task "handle_request") and
// creates one runtime task per request; "worker-1"/"worker-2" run them (regions "parse" and
// "db_query", logs, a mutex wait, a channel wait for the database reply, syscalls, a yield);
// "io-poller" runs the long-lived task "db-pool", which wakes the waiting tasks. Once, "main"
// stops the world for a "gc" phase (no request runs meanwhile) and a worker does a
// thread-scoped "mark-assist". "main" samples two counters; worker-2 has a loss record.
// Generations are cut every 10 ms whatever runs, so tasks and user tasks span generations and
// appear in the next generation's state tables.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "format/event_table.h"
#include "format/generation.h"
#include "format/trace_writer.h"

namespace tracer {
namespace {

using format::BlockReason;
using format::EventType;

// Time base: ticks are TSC >> 6 of a 3 GHz TSC, i.e. 46'875'000 per second (64/3 ns each).
constexpr uint64_t kTicksPerSecond = 3'000'000'000 / 64;
constexpr uint64_t kBaseTick = 843'750'000'000;          // TSC>>6 after 5 h of uptime
constexpr int64_t kBaseMonoNs = 18'000'000'000'000;       // CLOCK_MONOTONIC then: 5 h
constexpr int64_t kBaseRealNs = 1'709'283'600'000'000'000;  // 2024-03-01T09:00:00Z

uint64_t TickAt(int64_t ns) { return kBaseTick + static_cast<uint64_t>(ns) * 3 / 64; }
int64_t MonoAt(uint64_t tick) {
  return kBaseMonoNs + static_cast<int64_t>((tick - kBaseTick) * 1'000'000'000 / kTicksPerSecond);
}

constexpr uint64_t kMain = 4101, kWorker1 = 4102, kWorker2 = 4103, kIo = 4104;
constexpr uint64_t kDbPoolTask = 100;
constexpr uint64_t kCacheMutex = 0x55d0c0a01040;  // object ids: the addresses of the objects
constexpr uint64_t kStatsRwMutex = 0x55d0c0a010c0;
constexpr uint64_t kReplyChannel = 0x55d0c0a02000;

// Interned strings and stacks, shared by every generation (each generation repeats them all, so
// it stands alone).
class Interner {
 public:
  uint64_t Str(absl::string_view s) {
    auto [it, added] = ids_.try_emplace(std::string(s), order_.size() + 1);
    if (added) order_.emplace_back(s);
    return it->second;
  }
  const std::vector<std::string>& strings() const { return order_; }

 private:
  std::map<std::string, uint64_t> ids_;
  std::vector<std::string> order_;  // id - 1 -> string
};

struct SimEvent {
  int64_t ns;  // since the start of the trace
  uint64_t thread;
  EventType type;
  std::vector<uint64_t> args;
  std::string bytes;
};

// What the state tables need to know about a runtime task.
struct TaskModel {
  uint64_t parent = 0, name = 0, labels = 0, seq = 0, thread = 0;
  uint64_t object = 0, create_stack = 0, block_stack = 0;
  int64_t since_ns = 0;  // when it entered `status`
  format::TaskStatus status = format::TaskStatus::kRunnable;
  BlockReason reason = BlockReason::kUnknown;
};

class SampleTrace {
 public:
  SampleTrace() {
    // Stacks, innermost frame first, symbolized (function, file, line) in the server's mapping.
    struct F {
      uint64_t pc;
      const char* func;
      const char* file;
      uint64_t line;
    };
    auto stack = [&](uint64_t id, std::vector<F> frames) {
      std::vector<format::Frame> fs;
      for (const F& f : frames) {
        fs.push_back({f.pc, strings_.Str(f.func), strings_.Str(f.file), f.line});
      }
      stacks_.emplace_back(id, std::move(fs));
    };
    const F serve{0x55d0c0012a40, "demo::Server::Serve()", "server/server.cc", 88};
    const F main_fn{0x55d0c0004410, "main", "server/main.cc", 31};
    const F handle{0x55d0c0013310, "demo::Server::Handle(demo::Request const&)",
                   "server/server.cc", 142};
    const F worker_loop{0x55d0c0020f00, "tracer::sync::Pool::WorkerLoop()",
                        "tracer/sync/pool.cc", 77};
    stack(1, {{0x55d0c0012b9c, "demo::Server::Accept()", "server/server.cc", 64}, serve,
              main_fn});
    stack(2, {{0x55d0c0021a18, "tracer::sync::Pool::Submit(std::function<void ()>)",
               "tracer/sync/pool.cc", 41},
              serve, main_fn});
    stack(3, {{0x55d0c0024c70, "tracer::sync::Mutex::Lock()", "tracer/sync/mutex.cc", 52},
              {0x55d0c0015d08, "demo::Cache::Lookup(unsigned long)", "server/cache.cc", 23},
              handle, worker_loop});
    stack(4, {{0x55d0c0024e14, "tracer::sync::Mutex::Unlock()", "tracer/sync/mutex.cc", 90},
              {0x55d0c0017110, "demo::DbPool::Complete(demo::Reply)", "server/db_pool.cc", 117}});
    stack(5, {{0x55d0c00260a8, "tracer::sync::Channel<demo::Reply>::Receive()",
               "tracer/sync/channel.h", 203},
              {0x55d0c00168d0, "demo::Db::Query(std::string_view)", "server/db.cc", 58}, handle,
              worker_loop});
    stack(6, {{0x7f3a1c0e2b80, "__libc_sendto", "", 0},
              {0x55d0c0016844, "demo::Db::Query(std::string_view)", "server/db.cc", 51}, handle,
              worker_loop});
    stack(7, {{0x55d0c0013520, "demo::ParseJson(std::string_view)", "server/json.cc", 210},
              handle, worker_loop});
    stack(8, {{0x55d0c00135f0, "demo::Server::Handle(demo::Request const&)",
               "server/server.cc", 150},
              worker_loop});
    stack(9, {{0x55d0c0025180, "tracer::sync::RwMutex::ReaderLock()", "tracer/sync/rwmutex.cc",
               40},
              {0x55d0c0018004, "demo::Stats::Snapshot()", "server/stats.cc", 19}, handle,
              worker_loop});

    endpoint_labels_ = 1;
    label_sets_.push_back({endpoint_labels_,
                           {{strings_.Str("endpoint"), strings_.Str("/api/users")},
                            {strings_.Str("pool"), strings_.Str("default")}}});
    label_sets_.push_back({2, {{strings_.Str("pool"), strings_.Str("db")}}});
    mapping_ = {0x55d0c0000000, 0x55d0c0400000, 0, strings_.Str("/usr/local/bin/demo-server"),
                strings_.Str("3f9c2ab47e1d05c6a8b2e4f17d93c0aa51e6b824")};
    thread_names_ = {{kMain, strings_.Str("main")},
                     {kWorker1, strings_.Str("worker-1")},
                     {kWorker2, strings_.Str("worker-2")},
                     {kIo, strings_.Str("io-poller")}};
  }

  void Simulate() {
    Add(10'000, kMain, EventType::kThreadStart, {});
    Add(20'000, kWorker1, EventType::kThreadStart, {});
    Add(25'000, kWorker2, EventType::kThreadStart, {});
    Add(30'000, kIo, EventType::kThreadStart, {});
    Add(60'000, kMain, EventType::kTaskCreate,
        {kDbPoolTask, 0, strings_.Str("db-pool"), 2, 2});
    Add(80'000, kIo, EventType::kTaskStart, {kDbPoolTask, 1});

    // Requests: one every 1.1 ms, alternating workers; none may overlap the stop-the-world
    // window, so a request that would is started after it.
    constexpr int64_t kStwBegin = 15'000'000, kStwEnd = 15'700'000;
    constexpr int64_t kRequestSpan = 1'900'000;
    int64_t t = 300'000;
    for (int k = 0; k < 32; ++k) {
      if (t + kRequestSpan > kStwBegin - 100'000 && t < kStwEnd) t = kStwEnd + 100'000;
      Request(k, t);
      t += 1'100'000;
    }
    Add(kStwBegin, kMain, EventType::kPhaseBegin,
        {strings_.Str("gc"), format::kPhaseStopTheWorld});
    Add(kStwEnd, kMain, EventType::kPhaseEnd, {strings_.Str("gc")});
    for (int64_t c = 1'000'000; c < 40'000'000; c += 5'000'000) {
      Add(c, kMain, EventType::kCounter,
          {strings_.Str("heap_bytes"), static_cast<uint64_t>(48 << 20) + (c / 1000) * 37});
    }
    Add(39'800'000, kWorker1, EventType::kThreadStop, {});
    Add(39'850'000, kWorker2, EventType::kThreadStop, {});
    std::stable_sort(events_.begin(), events_.end(),
                     [](const SimEvent& a, const SimEvent& b) { return a.ns < b.ns; });
  }

  // Writes the file: generations cut at every 10 ms; `compressed_gen` is lz4-compressed.
  std::string Write(int num_generations, int compressed_gen) {
    std::string out;
    format::AppendFileHeader(&out);
    size_t next = 0;
    for (int g = 0; g < num_generations; ++g) {
      const int64_t begin = g * 10'000'000, end = (g + 1) * 10'000'000;
      format::GenerationBuilder gb(g + 1);
      const uint64_t tick = TickAt(begin);
      const int64_t mono = MonoAt(tick);
      gb.SetClock({kTicksPerSecond, tick, mono, kBaseRealNs + (mono - kBaseMonoNs)});
      gb.SetTimeSpan(kBaseMonoNs + begin, kBaseMonoNs + end);
      // Format 2.x: a generation states the tasks that appear in it (named by one of its
      // events, or running on a thread at its start), as they were at its start.
      std::set<uint64_t> appear;
      for (const auto& [thread, task] : running_) appear.insert(task);
      for (size_t i = next; i < events_.size() && events_[i].ns < end; ++i) {
        switch (events_[i].type) {
          case EventType::kTaskStart:
          case EventType::kTaskBlock:
          case EventType::kTaskUnblock:
          case EventType::kTaskYield:
          case EventType::kTaskEnd: appear.insert(events_[i].args[0]); break;
          default: break;
        }
      }
      AddTables(&gb, appear);
      if (g == 2) {
        // worker-2's buffer pool ran dry for 300 us: 37 events were dropped and counted.
        gb.AddLoss({kWorker2, 37, TickAt(24'100'000), TickAt(24'400'000)});
      }
      // Per-thread batches of at most 48 events, seq from 0 within the generation.
      std::map<uint64_t, std::vector<const SimEvent*>> per_thread;
      for (; next < events_.size() && events_[next].ns < end; ++next) {
        per_thread[events_[next].thread].push_back(&events_[next]);
        Apply(events_[next]);
      }
      for (const auto& [thread, evs] : per_thread) {
        uint64_t seq = 0;
        for (size_t i = 0; i < evs.size(); i += 48) {
          format::EventEncoder enc(TickAt(std::max(begin, evs[i]->ns - 2000)));
          for (size_t j = i; j < std::min(evs.size(), i + 48); ++j) {
            const SimEvent& e = *evs[j];
            format::Event fe;
            fe.type = e.type;
            fe.tick = TickAt(e.ns);
            std::copy(e.args.begin(), e.args.end(), fe.args);
            fe.bytes = e.bytes;
            enc.Append(fe);
          }
          gb.AddBatch(thread, seq++, enc.base_tick(), enc.num_events(), enc.data());
        }
      }
      gb.AppendTo(&out, /*compress=*/g == compressed_gen);
    }
    // A dump ends with the listing of every live task, as of its end.
    const int64_t end = num_generations * 10'000'000;
    format::GenerationBuilder gb(num_generations + 1);
    const uint64_t tick = TickAt(end);
    const int64_t mono = MonoAt(tick);
    gb.SetClock({kTicksPerSecond, tick, mono, kBaseRealNs + (mono - kBaseMonoNs)});
    gb.SetTimeSpan(kBaseMonoNs + end, kBaseMonoNs + end);
    gb.SetListing();
    AddTables(&gb, {});
    for (const auto& [id, t] : tasks_) {
      const bool blocked = t.status == format::TaskStatus::kBlocked;
      gb.AddLiveTask({id, t.parent, t.name, t.status, t.thread, t.labels,
                      blocked ? t.reason : BlockReason::kUnknown, blocked ? t.object : 0,
                      TickAt(t.since_ns), blocked ? t.block_stack : t.create_stack});
    }
    gb.AppendTo(&out, /*compress=*/false);
    return out;
  }

 private:
  void Add(int64_t ns, uint64_t thread, EventType type, std::vector<uint64_t> args,
           std::string bytes = {}) {
    events_.push_back({ns, thread, type, std::move(args), std::move(bytes)});
  }

  // One request: user task k+1, runtime task 1000+k, on worker k%2.
  void Request(int k, int64_t t0) {
    const uint64_t w = k % 2 == 0 ? kWorker1 : kWorker2;
    const uint64_t task = 1000 + k, utask = k + 1;
    const uint64_t handle = strings_.Str("handle_request");
    auto at = [&](int64_t us) { return t0 + us * 1000; };
    uint64_t seq = 0;
    Add(at(-60), kMain, EventType::kSyscallBegin, {strings_.Str("accept4"), 1});
    Add(at(-8), kMain, EventType::kSyscallEnd, {});
    Add(at(0), kMain, EventType::kUserTaskBegin, {utask, 0, handle, 1});
    Add(at(5), kMain, EventType::kTaskCreate,
        {task, 0, strings_.Str("request-handler"), endpoint_labels_, 2});
    Add(at(8), kMain, EventType::kCounter,
        {strings_.Str("queue_depth"), static_cast<uint64_t>(1 + k % 3)});
    Add(at(20), w, EventType::kTaskStart, {task, ++seq});
    Add(at(22), w, EventType::kSetCurrentUserTask, {utask});
    Add(at(30), w, EventType::kRegionBegin, {utask, strings_.Str("parse"), 7});
    if (k == 14) {  // the first request after the collection pays for marking
      Add(at(60), w, EventType::kPhaseBegin,
          {strings_.Str("mark-assist"), format::kPhaseThreadScoped});
      Add(at(140), w, EventType::kPhaseEnd, {strings_.Str("mark-assist")});
    }
    Add(at(150), w, EventType::kLog, {utask, strings_.Str("http")},
        absl::StrCat("GET /api/users/", 40 + k));
    Add(at(180), w, EventType::kRegionEnd, {utask, strings_.Str("parse")});
    if (k % 3 == 1) {
      Add(at(190), w, EventType::kCpuSample, {task, 7});
    }
    // Contended cache mutex (every 4th request takes the stats rwmutex instead), released by
    // db-pool on the io-poller thread.
    const bool rw = k % 4 == 3;
    const uint64_t lock = rw ? kStatsRwMutex : kCacheMutex;
    const int64_t wait_us = 120 + (k * 37) % 200;
    Add(at(200), w, EventType::kTaskBlock,
        {task, static_cast<uint64_t>(rw ? BlockReason::kRwMutex : BlockReason::kMutex), lock,
         rw ? 9u : 3u});
    Add(at(200 + wait_us), kIo, EventType::kTaskUnblock, {task, ++seq, kDbPoolTask, lock, 4});
    Add(at(210 + wait_us), w, EventType::kTaskStart, {task, ++seq});
    const int64_t q = 220 + wait_us;
    Add(at(q), w, EventType::kRegionBegin, {utask, strings_.Str("db_query"), 0});
    Add(at(q + 10), w, EventType::kSyscallBegin, {strings_.Str("sendto"), 6});
    Add(at(q + 45), w, EventType::kSyscallEnd, {});
    Add(at(q + 50), w, EventType::kTaskBlock,
        {task, static_cast<uint64_t>(BlockReason::kChannel), kReplyChannel, 5});
    const int64_t reply = q + 50 + 300 + (k * 53) % 400;
    Add(at(reply - 90), kIo, EventType::kSyscallBegin, {strings_.Str("epoll_wait"), 0});
    Add(at(reply - 10), kIo, EventType::kSyscallEnd, {});
    Add(at(reply), kIo, EventType::kTaskUnblock, {task, ++seq, kDbPoolTask, kReplyChannel, 0});
    Add(at(reply + 12), w, EventType::kTaskStart, {task, ++seq});
    Add(at(reply + 20), w, EventType::kRegionEnd, {utask, strings_.Str("db_query")});
    if (k % 5 == 2) {  // a long request yields to the run queue once
      Add(at(reply + 30), w, EventType::kTaskYield, {task});
      Add(at(reply + 45), w, EventType::kTaskStart, {task, ++seq});
    }
    Add(at(reply + 60), w, EventType::kLog, {utask, strings_.Str("db")},
        absl::StrCat("rows=", 1 + k % 4, " wait_us=", reply - q - 50));
    Add(at(reply + 80), w, EventType::kUserTaskEnd, {utask});
    Add(at(reply + 82), w, EventType::kSetCurrentUserTask, {0});
    Add(at(reply + 85), w, EventType::kTaskEnd, {task});
  }

  // Every table a generation needs to stand alone: all strings and stacks, the label sets, the
  // threads, the mapping, the state at its start of each task of `tasks` alive then, and the
  // user tasks alive at its start.
  void AddTables(format::GenerationBuilder* gb, const std::set<uint64_t>& tasks) {
    for (size_t i = 0; i < strings_.strings().size(); ++i) {
      gb->AddString(i + 1, strings_.strings()[i]);
    }
    for (const auto& [id, frames] : stacks_) gb->AddStack(id, frames);
    for (const auto& [id, labels] : label_sets_) gb->AddLabelSet(id, labels);
    for (const auto& [id, name] : thread_names_) gb->AddThread({id, name});
    gb->AddMapping(mapping_);
    for (const auto& [id, t] : tasks_) {
      if (!tasks.contains(id)) continue;
      gb->AddTask({id, t.parent, t.name, t.status, t.thread, t.labels, t.seq, t.reason});
    }
    for (const auto& [id, name] : user_tasks_) gb->AddUserTask({id, 0, name});
  }

  // Advances the task model past `e` (for the next generation's state tables).
  void Apply(const SimEvent& e) {
    const std::vector<uint64_t>& a = e.args;
    switch (e.type) {
      case EventType::kTaskCreate: {
        TaskModel& t = tasks_[a[0]];
        t = {a[1], a[2], a[3]};
        t.create_stack = a[4];
        t.since_ns = e.ns;
        break;
      }
      case EventType::kTaskStart: {
        TaskModel& t = tasks_[a[0]];
        t.status = format::TaskStatus::kRunning;
        t.thread = e.thread;
        t.seq = a[1];
        t.reason = BlockReason::kUnknown;
        t.since_ns = e.ns;
        running_[e.thread] = a[0];
        break;
      }
      case EventType::kTaskBlock: {
        TaskModel& t = tasks_[a[0]];
        t.status = format::TaskStatus::kBlocked;
        t.reason = static_cast<BlockReason>(a[1]);
        t.object = a[2];
        t.block_stack = a[3];
        t.since_ns = e.ns;
        t.thread = 0;
        running_.erase(e.thread);
        break;
      }
      case EventType::kTaskUnblock: {
        TaskModel& t = tasks_[a[0]];
        t.status = format::TaskStatus::kRunnable;
        t.reason = BlockReason::kUnknown;
        t.seq = a[1];
        t.since_ns = e.ns;
        break;
      }
      case EventType::kTaskYield:
        tasks_[a[0]].status = format::TaskStatus::kRunnable;
        tasks_[a[0]].thread = 0;
        tasks_[a[0]].since_ns = e.ns;
        running_.erase(e.thread);
        break;
      case EventType::kTaskEnd:
        tasks_.erase(a[0]);
        running_.erase(e.thread);
        break;
      case EventType::kSyscallBegin:
      case EventType::kSyscallEnd:
        if (auto it = running_.find(e.thread); it != running_.end()) {
          tasks_[it->second].status = e.type == EventType::kSyscallBegin
                                          ? format::TaskStatus::kSyscall
                                          : format::TaskStatus::kRunning;
          tasks_[it->second].since_ns = e.ns;
        }
        break;
      case EventType::kUserTaskBegin: user_tasks_[a[0]] = a[2]; break;
      case EventType::kUserTaskEnd: user_tasks_.erase(a[0]); break;
      default: break;
    }
  }

  Interner strings_;
  std::vector<std::pair<uint64_t, std::vector<format::Frame>>> stacks_;
  std::vector<std::pair<uint64_t, std::vector<std::pair<uint64_t, uint64_t>>>> label_sets_;
  std::vector<std::pair<uint64_t, uint64_t>> thread_names_;
  uint64_t endpoint_labels_ = 0;
  format::Mapping mapping_;
  std::vector<SimEvent> events_;
  std::map<uint64_t, TaskModel> tasks_;       // alive runtime tasks
  std::map<uint64_t, uint64_t> user_tasks_;   // alive user tasks -> name
  std::map<uint64_t, uint64_t> running_;      // thread -> task it runs
};

// FORMAT.md's worked example: one generation, three strings, one thread, one batch of four
// events. Small enough to annotate every byte.
std::string TinyTrace() {
  std::string out;
  format::AppendFileHeader(&out);
  format::GenerationBuilder gb(1);
  gb.SetClock({kTicksPerSecond, 1000, 5'000'000'000, kBaseRealNs});
  gb.SetTimeSpan(5'000'000'000, 5'000'010'000);
  gb.AddString(1, "main");
  gb.AddString(2, "parse");
  gb.AddString(3, "read");
  gb.AddThread({7, 1});
  format::EventEncoder enc(1000);
  enc.Append(EventType::kThreadStart, 1000, {});
  enc.Append(EventType::kRegionBegin, 1010, {0, 2, 0});
  enc.Append(EventType::kSyscallBegin, 1150, {3, 0});
  enc.Append(EventType::kSyscallEnd, 1300, {});
  gb.AddBatch(7, 0, enc.base_tick(), enc.num_events(), enc.data());
  gb.AppendTo(&out, /*compress=*/false);
  return out;
}

int Main(int argc, char** argv) {
  const bool tiny = argc == 3 && absl::string_view(argv[1]) == "--tiny";
  if (argc != 2 && !tiny) {
    std::fprintf(stderr, "usage: make_sample_trace [--tiny] OUT\n");
    return 2;
  }
  std::string data;
  if (tiny) {
    data = TinyTrace();
  } else {
    SampleTrace sample;
    sample.Simulate();
    data = sample.Write(/*num_generations=*/4, /*compressed_gen=*/2);
  }
  const char* path = argv[argc - 1];
  std::FILE* f = std::fopen(path, "wb");
  if (f == nullptr || std::fwrite(data.data(), 1, data.size(), f) != data.size() ||
      std::fclose(f) != 0) {
    std::fprintf(stderr, "make_sample_trace: cannot write %s\n", path);
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace tracer

int main(int argc, char** argv) { return tracer::Main(argc, argv); }
