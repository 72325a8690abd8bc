// tracer::ThreadPool: N worker threads running submitted jobs, each job a runtime task.
//
//   tracer::ThreadPool pool("handlers", 8);
//   pool.Submit([&] { Handle(req); });      // a task: created here, started by a worker
//   pool.Shutdown();                        // runs what is queued, then joins the workers
//
// Contract.
// - Each job is a runtime task (Go's goroutine): created on Submit (its parent is the
//   submitter's running task, its labels the submitter's), runnable while queued, started
//   when a worker picks it, ended when it returns. The time between is the job's scheduling
//   latency, in the trace. A job that waits on a kit primitive (tracer/sync/) blocks as
//   itself, not as its worker.
// - A job carries the submitter's current user task (tracer::CurrentTaskScope: the request)
//   to the worker, where it is current while the job runs: regions and logs recorded in the
//   job attach to the request, and the trace says which runtime task worked for it.
// - The queue's length is recorded as the counter "<name>.queue" on every submit and pick.
// - Workers are named "<name>/<i>" (the OS name is cut to 15 bytes). An idle worker waits
//   untraced: it runs no task.
// - Submit after Shutdown returns false and drops the job. Shutdown runs every queued job,
//   then joins the workers; the destructor calls it. Jobs may Submit more jobs, also during
//   Shutdown (they run before it returns). Do not call Shutdown from a job.
// - Exceptions must not leave a job (the process terminates, as for std::thread).

#ifndef TRACER_TRACER_SYNC_THREAD_POOL_H_
#define TRACER_TRACER_SYNC_THREAD_POOL_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/strings/string_view.h"
#include "tracer/hooks.h"
#include "tracer/tracer.h"

namespace tracer {

class ThreadPool {
 public:
  ThreadPool(absl::string_view name, int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `fn` as a job named after the pool (or `job_name`). False after Shutdown.
  bool Submit(absl::AnyInvocable<void() &&> fn);
  bool Submit(const Name& job_name, absl::AnyInvocable<void() &&> fn);
  // Runs every queued job, then joins the workers. Idempotent.
  void Shutdown();

  int threads() const { return static_cast<int>(workers_.size()); }
  size_t queued() const;  // jobs waiting for a worker now

 private:
  struct Job {
    absl::AnyInvocable<void() &&> fn;
    TaskRef task;
    uint64_t user_task = 0;
  };
  void Worker(int index);

  const std::string name_;
  const Name job_name_;
  const Name queue_counter_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> queue_;  // guarded by mu_
  bool shutdown_ = false;                   // guarded by mu_
  int running_ = 0;                         // jobs running now, guarded by mu_
  std::vector<std::thread> workers_;
  std::once_flag joined_;
};

}  // namespace tracer

#endif  // TRACER_TRACER_SYNC_THREAD_POOL_H_
