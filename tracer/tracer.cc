#include "tracer/tracer.h"

#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "format/trace_writer.h"
#include "tracer/internal/abandoned.h"
#include "tracer/internal/collector.h"
#include "tracer/internal/runtime.h"

namespace tracer {

using format::EventType;
using tracer_internal::Emit;
using tracer_internal::t_state;

namespace {

// StartTrace's consumer: writes the file header, then every generation, to the sink. The
// first error stops the writing (tracing and other consumers go on); StopTrace returns it.
class CaptureWriter final : public tracer_internal::GenerationConsumer {
 public:
  CaptureWriter(Sink* sink, std::unique_ptr<Sink> owned, bool compress)
      : sink_(sink), owned_(std::move(owned)), compress_(compress) {}

  void OnGeneration(const tracer_internal::SealedGeneration& gen) override {
    if (!status_.ok()) return;
    if (!wrote_header_) {
      std::string header;
      format::AppendFileHeader(&header);
      status_ = sink_->Write(header);
      wrote_header_ = true;
      if (!status_.ok()) return;
    }
    const std::string& bytes = compress_ && gen.compressed ? *gen.compressed : *gen.raw;
    status_ = sink_->Write(bytes);
  }

  absl::Status Finish() {
    if (status_.ok() && !wrote_header_) {  // no generation at all: still a valid empty trace
      std::string header;
      format::AppendFileHeader(&header);
      status_ = sink_->Write(header);
    }
    if (status_.ok()) status_ = sink_->Flush();
    return status_;
  }

 private:
  Sink* sink_;
  std::unique_ptr<Sink> owned_;
  bool compress_;
  bool wrote_header_ = false;
  absl::Status status_;  // only touched by the collector's delivery (serialized) and Finish
};

std::mutex g_capture_mu;
std::unique_ptr<CaptureWriter> g_capture;  // guarded by g_capture_mu
std::atomic<bool> g_capturing{false};      // g_capture != nullptr (relaxed: a status read)

absl::Status StopLocked() {
  // The capture ends with the live-task listing (every task alive at the stop).
  absl::Status s = tracer_internal::RemoveConsumer(g_capture.get(), /*listing=*/true);
  absl::Status w = g_capture->Finish();
  g_capture.reset();
  g_capturing.store(false, std::memory_order_relaxed);
  return s.ok() ? w : s;
}

void StopAtExit() {
  tracer_internal::TracerCallScope call;
  // exit() runs no thread-exit destructors for the main thread: seal what is buffered. exit()
  // may run from a signal handler that interrupted StartTrace or StopTrace on this thread
  // (holding g_capture_mu): give up after a bounded wait rather than hang the exit.
  const absl::Time deadline = absl::Now() + absl::Seconds(1);
  while (!g_capture_mu.try_lock()) {
    if (absl::Now() > deadline) return;
    absl::SleepFor(absl::Milliseconds(1));
  }
  std::lock_guard<std::mutex> l(g_capture_mu, std::adopt_lock);
  if (g_capture != nullptr && !tracer_internal::InsideDelivery()) (void)StopLocked();
}

// fork(): the child inherits no capture (its collector thread does not exist there). No lock
// is taken around fork(): a StopTrace in progress holds g_capture_mu across its sink's I/O,
// and fork() must not wait for that. The child makes the lock afresh.
void CaptureForkChild() {
  tracer_internal::KeepReachable(g_capture.release());  // the parent's capture: abandoned
  g_capturing.store(false, std::memory_order_relaxed);
  new (&g_capture_mu) std::mutex();
}
[[maybe_unused]] const bool kCaptureAtfork = [] {
  tracer_internal::SetOuterForkHooks({nullptr, nullptr, CaptureForkChild});
  return true;
}();

absl::Status InsideSinkError(const char* what) {
  return absl::FailedPreconditionError(absl::StrCat(
      what, " called from inside a Sink while it receives a generation (it would deadlock)"));
}

absl::Status Start(Sink* sink, std::unique_ptr<Sink> owned, const TraceOptions& options) {
  if (tracer_internal::InsideDelivery()) return InsideSinkError("StartTrace");
  tracer_internal::TracerCallScope call;
  std::lock_guard<std::mutex> l(g_capture_mu);
  if (g_capture != nullptr) return absl::FailedPreconditionError("a trace capture is already running");
  if (options.generation_period < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError("generation_period must be at least 1 ms");
  }
  auto writer = std::make_unique<CaptureWriter>(sink, std::move(owned), options.compress);
  tracer_internal::ConsumerOptions co;
  co.period = options.generation_period;
  co.compressed = options.compress;
  if (absl::Status s = tracer_internal::AddConsumer(writer.get(), co); !s.ok()) return s;
  g_capture = std::move(writer);
  g_capturing.store(true, std::memory_order_relaxed);
  static const bool registered = [] { return std::atexit(StopAtExit) == 0; }();
  (void)registered;
  return absl::OkStatus();
}

}  // namespace

absl::Status SetBufferConfig(const BufferConfig& config) {
  return tracer_internal::SetBufferConfigLocked(config);
}
BufferConfig GetBufferConfig() { return tracer_internal::GetBufferConfigLocked(); }

absl::Status StartTrace(Sink& sink, const TraceOptions& options) {
  return Start(&sink, nullptr, options);
}

absl::Status StartTrace(const std::string& path, const TraceOptions& options) {
  absl::StatusOr<std::unique_ptr<FdSink>> sink = FdSink::Create(path);
  if (!sink.ok()) return sink.status();
  Sink* raw = sink->get();
  return Start(raw, std::move(*sink), options);
}

absl::Status StartTrace(int fd, const TraceOptions& options) {
  auto sink = std::make_unique<FdSink>(fd, /*owned=*/false);
  Sink* raw = sink.get();
  return Start(raw, std::move(sink), options);
}

absl::Status StopTrace() {
  if (tracer_internal::InsideDelivery()) return InsideSinkError("StopTrace");
  tracer_internal::TracerCallScope call;
  std::lock_guard<std::mutex> l(g_capture_mu);
  if (g_capture == nullptr) return absl::FailedPreconditionError("no trace capture is running");
  return StopLocked();
}

bool IsTracing() { return g_capturing.load(std::memory_order_relaxed); }

Name::Name(absl::string_view s) : id_(tracer_internal::InternString(s)) {}

namespace tracer_internal {

namespace {
std::atomic<uint64_t> g_site_name_interns{0};  // relaxed: a statistic for tests
}  // namespace

uint32_t InternName(absl::string_view s) { return InternString(s); }

uint32_t InternSiteName(SiteName& site, const char* s, size_t n) {
  g_site_name_interns.fetch_add(1, std::memory_order_relaxed);
  const size_t len = strnlen(s, n);
  const uint32_t id = InternString(absl::string_view(s, len));
  // Keep only literal-shaped text (N - 1 chars, then the NUL), which is what SiteNameId
  // compares; the relaxed load first spares a claimed site's misses the locked exchange.
  if (id != 0 && len + 1 == n && !site.claimed.load(std::memory_order_relaxed) &&
      !site.claimed.exchange(true, std::memory_order_relaxed)) {
    site.id = id;
    // release: pairs with SiteNameId's acquire load; `id` is written before `text` is seen.
    site.text.store(StringById(id).data(), std::memory_order_release);
  }
  return id;
}

uint64_t SiteNameInterns() { return g_site_name_interns.load(std::memory_order_relaxed); }

}  // namespace tracer_internal
absl::string_view Name::str() const { return tracer_internal::StringById(id_); }

Task NewTaskWithId(uint64_t id) { return Task(id); }

namespace {
Task NewUserTask(uint64_t parent, uint32_t name) {
  const uint64_t id = tracer_internal::NewId();
  if (tracer_internal::Enabled()) {
    Emit(EventType::kUserTaskBegin, id, parent, name, tracer_internal::StackForSlowEvent());
  }
  return NewTaskWithId(id);
}
}  // namespace

Task NewTask(const Name& name) { return NewUserTask(t_state.current_user_task, name.id()); }
Task NewTask(absl::string_view name) {
  return NewUserTask(t_state.current_user_task, tracer_internal::InternString(name));
}
Task NewTask(const Task& parent, const Name& name) { return NewUserTask(parent.id(), name.id()); }
Task NewTask(const Task& parent, absl::string_view name) {
  return NewUserTask(parent.id(), tracer_internal::InternString(name));
}

void Task::End() {
  if (id_ == 0) return;
  Emit(EventType::kUserTaskEnd, id_);
  if (t_state.current_user_task == id_) t_state.current_user_task = 0;
  id_ = 0;
}

CurrentTaskScope::CurrentTaskScope(const Task& task) : previous_(t_state.current_user_task) {
  t_state.current_user_task = task.id();
  Emit(EventType::kSetCurrentUserTask, task.id());
}
CurrentTaskScope::~CurrentTaskScope() {
  t_state.current_user_task = previous_;
  Emit(EventType::kSetCurrentUserTask, previous_);
}
uint64_t CurrentTaskId() { return t_state.current_user_task; }

void SetThreadName(absl::string_view name) {
  t_state.name.store(tracer_internal::InternString(name), std::memory_order_relaxed);
}

TracerStats GetTracerStats() { return tracer_internal::GetStats(); }

}  // namespace tracer
