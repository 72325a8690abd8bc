#include "tracer/sync/thread_pool.h"

#include <pthread.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "tracer/internal/self_task.h"

namespace tracer {

using tracer_internal::t_state;

ThreadPool::ThreadPool(absl::string_view name, int threads)
    : name_(name),
      job_name_(name),
      queue_counter_(absl::StrCat(name, ".queue")) {
  if (threads < 1) threads = 1;
  workers_.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this, i] { Worker(i); });
}

ThreadPool::~ThreadPool() { Shutdown(); }

bool ThreadPool::Submit(absl::AnyInvocable<void() &&> fn) { return Submit(job_name_, std::move(fn)); }

bool ThreadPool::Submit(const Name& job_name, absl::AnyInvocable<void() &&> fn) {
  auto job = std::make_unique<Job>();
  job->fn = std::move(fn);
  job->user_task = t_state.current_user_task;
  // The parent is the submitter's running task: a plain thread's own task is announced here.
  tracer_internal::RunningTask();
  hooks::TaskCreate(job->task, job_name);
  size_t depth;
  {
    std::lock_guard<std::mutex> l(mu_);
    // Once shut down and drained, the workers are gone; until then (a job submitting more)
    // the job will still run.
    if (shutdown_ && running_ == 0 && queue_.empty()) return false;
    queue_.push_back(std::move(job));
    depth = queue_.size();
  }
  cv_.notify_one();
  hooks::Counter(queue_counter_, static_cast<int64_t>(depth));
  return true;
}

size_t ThreadPool::queued() const {
  std::lock_guard<std::mutex> l(mu_);
  return queue_.size();
}

void ThreadPool::Worker(int index) {
  const std::string thread_name = absl::StrCat(name_, "/", index);
  pthread_setname_np(pthread_self(), thread_name.substr(0, 15).c_str());
  SetThreadName(thread_name);
  for (;;) {
    std::unique_ptr<Job> job;
    size_t depth;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return shutdown_ || !queue_.empty(); });
      if (queue_.empty()) {
        if (running_ == 0) {
          cv_.notify_all();  // the others may leave too
          return;
        }
        // A running job may still submit more: wait for it or for its jobs.
        cv_.wait(l, [&] { return !queue_.empty() || running_ == 0; });
        if (queue_.empty()) {
          cv_.notify_all();
          return;
        }
      }
      job = std::move(queue_.front());
      queue_.pop_front();
      depth = queue_.size();
      ++running_;
    }
    hooks::Counter(queue_counter_, static_cast<int64_t>(depth));
    hooks::TaskStart(job->task);
    const uint64_t previous_user_task = t_state.current_user_task;
    if (job->user_task != previous_user_task) {
      t_state.current_user_task = job->user_task;
      tracer_internal::Emit(format::EventType::kSetCurrentUserTask, job->user_task);
    }
    std::move(job->fn)();
    if (t_state.current_user_task != previous_user_task || job->user_task != previous_user_task) {
      t_state.current_user_task = previous_user_task;
      tracer_internal::Emit(format::EventType::kSetCurrentUserTask, previous_user_task);
    }
    // The job's task is the running one again after any wait (the kit resumes it).
    hooks::TaskEnd(job->task);
    job.reset();  // the job's captures go before the pool counts it done
    {
      std::lock_guard<std::mutex> l(mu_);
      --running_;
      if (shutdown_ && running_ == 0 && queue_.empty()) cv_.notify_all();
    }
  }
}

void ThreadPool::Shutdown() {
  {
    std::lock_guard<std::mutex> l(mu_);
    shutdown_ = true;
  }
  cv_.notify_all();
  std::call_once(joined_, [this] {
    for (std::thread& t : workers_) t.join();
  });
}

}  // namespace tracer
