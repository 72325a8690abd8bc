// tracer::ThreadPool: every job runs once, Shutdown drains, and each job is a runtime task
// (created by the submitter, started by a worker, blocked as itself, carrying the request).

#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/tracer/test_util.h"
#include "tracer/internal/self_task.h"
#include "tracer/scopes.h"
#include "tracer/sink.h"
#include "tracer/sync/mutex.h"
#include "tracer/sync/thread_pool.h"
#include "tracer/sync/wait_group.h"
#include "tracer/tracer.h"

namespace tracer {
namespace {

using format::EventType;

TEST(ThreadPoolTest, RunsEveryJobOnceAndDrainsOnShutdown) {
  constexpr int kJobs = 5000;
  std::vector<std::atomic<int>> runs(kJobs);
  {
    ThreadPool pool("test-pool", 3);
    EXPECT_EQ(pool.threads(), 3);
    for (int i = 0; i < kJobs; ++i) {
      ASSERT_TRUE(pool.Submit([&runs, i] { runs[i].fetch_add(1); }));
    }
    pool.Shutdown();
    EXPECT_FALSE(pool.Submit([] {})) << "closed after Shutdown";
    pool.Shutdown();  // idempotent
  }
  for (int i = 0; i < kJobs; ++i) ASSERT_EQ(runs[i].load(), 1) << i;
}

TEST(ThreadPoolTest, JobsSubmittedByJobsDuringShutdownStillRun) {
  std::atomic<int> ran{0};
  ThreadPool pool("nested", 2);
  for (int i = 0; i < 10; ++i) {
    pool.Submit([&] {
      absl::SleepFor(absl::Milliseconds(1));
      pool.Submit([&] { ran.fetch_add(1); });
      ran.fetch_add(1);
    });
  }
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 20);
}

TEST(ThreadPoolTest, JobsAreTasksThatBlockAsThemselvesAndCarryTheRequest) {
  StringSink sink;
  TraceOptions o;
  o.generation_period = absl::Milliseconds(50);
  ASSERT_TRUE(StartTrace(sink, o).ok());
  Mutex mu;
  WaitGroup wg;
  uint64_t request_id = 0;
  std::atomic<uint64_t> job_user_task{0};
  {
    ThreadPool pool("traced-pool", 2);
    ScopedLabels labels({{"endpoint", "/get"}});
    Task request = NewTask("GET /item");
    request_id = request.id();
    CurrentTaskScope scope(request);
    mu.Lock();  // the jobs will wait on it
    wg.Add(2);
    for (int i = 0; i < 2; ++i) {
      pool.Submit([&] {
        job_user_task = CurrentTaskId();
        Region r = StartRegion("lookup");
        MutexLock l(mu);
        wg.Done();
      });
    }
    for (int i = 0; i < 20000 && !mu.HasWaiters(); ++i) absl::SleepFor(absl::Microseconds(100));
    mu.Unlock();
    wg.Wait();
    pool.Shutdown();
  }
  ASSERT_TRUE(StopTrace().ok());
  EXPECT_EQ(job_user_task.load(), request_id) << "the job runs in the submitter's request";
  auto rb = testing::ReadTrace(sink.Release());
  ASSERT_TRUE(rb.ok()) << rb.status();

  std::set<uint64_t> jobs;
  uint64_t submitter = 0;
  for (const auto& [e, g] : rb->events) {
    if (e.type != EventType::kTaskCreate) continue;
    const auto name = rb->generations[g]->String(e.args[2]);
    if (name == "traced-pool") {
      jobs.insert(e.args[0]);
      submitter = e.args[1];
      EXPECT_NE(e.args[3], 0u) << "labels inherited from the submitter";
    }
  }
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_NE(submitter, 0u) << "the parent is the submitting thread's own task";
  std::map<uint64_t, int> starts, ends, blocks;
  int set_request = 0, regions_in_request = 0;
  for (const auto& [e, g] : rb->events) {
    switch (e.type) {
      case EventType::kTaskStart: starts[e.args[0]]++; break;
      case EventType::kTaskEnd: ends[e.args[0]]++; break;
      case EventType::kTaskBlock:
        if (jobs.count(e.args[0]) > 0) {
          EXPECT_EQ(e.args[1], static_cast<uint64_t>(format::BlockReason::kMutex));
          blocks[e.args[0]]++;
        }
        break;
      case EventType::kSetCurrentUserTask: set_request += e.args[0] == request_id; break;
      case EventType::kRegionBegin: regions_in_request += e.args[0] == request_id; break;
      default: break;
    }
  }
  int blocked_jobs = 0;
  for (uint64_t j : jobs) {
    EXPECT_GE(starts[j], 1) << j;
    EXPECT_EQ(ends[j], 1) << j;
    blocked_jobs += blocks[j] > 0;
  }
  EXPECT_GE(blocked_jobs, 1) << "a job waiting on the mutex blocks as itself";
  EXPECT_EQ(set_request, 3) << "the submitter's CurrentTaskScope, then each job's worker";
  EXPECT_EQ(regions_in_request, 2);
  // The queue length counter.
  int counters = 0;
  for (const auto& [e, g] : rb->events) {
    counters += e.type == EventType::kCounter &&
                rb->generations[g]->String(e.args[0]) == "traced-pool.queue";
  }
  EXPECT_GE(counters, 4);
}

}  // namespace
}  // namespace tracer
