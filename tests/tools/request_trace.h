// The scripted request trace the analysis tests share (request_report_test, regions_test): one
// generation, two threads, user tasks, a region, mutex waits, syscalls and phases at known
// times (one tick = 1 ns).

#ifndef TRACER_TESTS_TOOLS_REQUEST_TRACE_H_
#define TRACER_TESTS_TOOLS_REQUEST_TRACE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "format/event_table.h"
#include "format/generation.h"
#include "format/trace_writer.h"

namespace tracer::analysis {

using format::BlockReason;
using format::EventType;

constexpr uint64_t kNsClock = 1'000'000'000;  // one tick = 1 ns
constexpr int64_t kMono0 = 1'000'000'000;     // CLOCK_MONOTONIC at tick 0
constexpr int64_t kReal0 = 1'700'000'000'000'000'000;
constexpr uint64_t kMain = 10, kWorker = 11;
constexpr uint64_t kMutexAddr = 0xabc;

inline uint64_t Us(uint64_t us) { return us * 1000; }  // ticks of kNsClock
inline int64_t MonoUs(int64_t us) { return kMono0 + us * 1000; }
inline uint64_t R(BlockReason r) { return static_cast<uint64_t>(r); }

// Strings and stacks of the request trace.
enum : uint64_t {
  kSMain = 1, kSWorker, kSRequest, kSHealth, kSLookup, kSLock, kSCacheGet, kSServe, kSUnlock,
  kSRefresh, kSRefresherRun, kSRead, kSGc, kSNap, kSMark,
};
enum : uint64_t { kWaiterStack = 1, kWakerStack = 2, kSleepStack = 3 };

inline void AddRequestTables(format::GenerationBuilder* gb) {
  const std::vector<std::pair<uint64_t, const char*>> strings = {
      {kSMain, "main"}, {kSWorker, "worker"}, {kSRequest, "request"}, {kSHealth, "health"},
      {kSLookup, "lookup"}, {kSLock, "tracer::Mutex::Lock"}, {kSCacheGet, "Cache::Get"},
      {kSServe, "Handler::Serve"}, {kSUnlock, "tracer::Mutex::Unlock"},
      {kSRefresh, "Cache::Refresh"}, {kSRefresherRun, "Refresher::Run"}, {kSRead, "read"},
      {kSGc, "gc"}, {kSNap, "Sleeper::Nap"}, {kSMark, "mark"}};
  for (const auto& [id, s] : strings) gb->AddString(id, s);
  const format::Frame lock{0x1001, kSLock, 0, 0}, get{0x1002, kSCacheGet, 0, 0},
      serve{0x1003, kSServe, 0, 0}, unlock{0x2001, kSUnlock, 0, 0},
      refresh{0x2002, kSRefresh, 0, 0}, run{0x2003, kSRefresherRun, 0, 0},
      nap{0x3001, kSNap, 0, 0};
  gb->AddStack(kWaiterStack, std::vector<format::Frame>{lock, get, serve});
  gb->AddStack(kWakerStack, std::vector<format::Frame>{unlock, refresh, run});
  gb->AddStack(kSleepStack, std::vector<format::Frame>{nap});
  gb->AddThread({kMain, kSMain});
  gb->AddThread({kWorker, kSWorker});
}

// One generation, two threads. `main` begins user tasks 1 and 2 ("request") and 3 ("health");
// runtime task 5 on `worker` runs a job for request 1 (SetCurrentUserTask(1)): region
// "lookup", a mutex wait woken by task 50 from `main` with the unlock stack, a read syscall;
// then a job for request 2 that waits on the same mutex; then no job. A stop-the-world "gc"
// runs before the requests and once during them; task 50 sleeps on no request's behalf.
// Request 4 never ends; user task 99 ends with no begin.
inline std::string MakeRequestTrace() {
  std::string out;
  format::AppendFileHeader(&out);
  format::GenerationBuilder gb(1);
  gb.SetClock({kNsClock, 0, kMono0, kReal0});
  AddRequestTables(&gb);
  format::EventEncoder main(0);
  main.Append(EventType::kPhaseBegin, Us(500), {kSGc, format::kPhaseStopTheWorld});
  main.Append(EventType::kPhaseEnd, Us(600), {kSGc});
  main.Append(EventType::kUserTaskBegin, Us(1000), {1, 0, kSRequest, 0});
  main.Append(EventType::kUserTaskBegin, Us(1100), {2, 0, kSRequest, 0});
  main.Append(EventType::kUserTaskBegin, Us(1200), {3, 0, kSHealth, 0});
  main.Append(EventType::kUserTaskEnd, Us(1300), {3});
  main.Append(EventType::kPhaseBegin, Us(3000), {kSGc, format::kPhaseStopTheWorld});
  main.Append(EventType::kPhaseEnd, Us(3200), {kSGc});
  main.Append(EventType::kPhaseBegin, Us(3300), {kSMark, 0});  // not stop-the-world
  main.Append(EventType::kPhaseEnd, Us(3400), {kSMark});
  main.Append(EventType::kTaskUnblock, Us(4000), {5, 2, 50, kMutexAddr, kWakerStack});
  main.Append(EventType::kTaskUnblock, Us(5500), {5, 4, 50, kMutexAddr, kWakerStack});
  main.Append(EventType::kUserTaskEnd, Us(6000), {2});
  main.Append(EventType::kTaskBlock, Us(6100), {50, R(BlockReason::kSleep), 0, kSleepStack});
  main.Append(EventType::kTaskStart, Us(7100), {50, 7});
  main.Append(EventType::kUserTaskBegin, Us(8000), {4, 0, kSRequest, 0});
  main.Append(EventType::kUserTaskEnd, Us(8500), {99});
  main.Append(EventType::kUserTaskEnd, Us(9000), {1});
  gb.AddBatch(kMain, 0, main.base_tick(), main.num_events(), main.data());
  format::EventEncoder worker(0);
  worker.Append(EventType::kTaskStart, Us(1500), {5, 1});
  worker.Append(EventType::kSetCurrentUserTask, Us(1500), {1});
  worker.Append(EventType::kRegionBegin, Us(1600), {0, kSLookup, 0});
  worker.Append(EventType::kTaskBlock, Us(2000),
                {5, R(BlockReason::kMutex), kMutexAddr, kWaiterStack});
  worker.Append(EventType::kTaskStart, Us(4500), {5, 3});
  worker.Append(EventType::kSyscallBegin, Us(4600), {kSRead, 0});
  worker.Append(EventType::kSyscallEnd, Us(4800), {});
  worker.Append(EventType::kRegionEnd, Us(5000), {0, kSLookup});
  worker.Append(EventType::kSetCurrentUserTask, Us(5100), {2});
  worker.Append(EventType::kTaskBlock, Us(5200),
                {5, R(BlockReason::kMutex), kMutexAddr, kWaiterStack});
  worker.Append(EventType::kTaskStart, Us(5600), {5, 5});
  worker.Append(EventType::kSetCurrentUserTask, Us(5700), {0});
  worker.Append(EventType::kSyscallBegin, Us(5800), {kSRead, 0});  // on nobody's behalf
  worker.Append(EventType::kSyscallEnd, Us(5900), {});
  gb.AddBatch(kWorker, 0, worker.base_tick(), worker.num_events(), worker.data());
  gb.AppendTo(&out, /*compress=*/false);
  return out;
}

}  // namespace tracer::analysis

#endif  // TRACER_TESTS_TOOLS_REQUEST_TRACE_H_
