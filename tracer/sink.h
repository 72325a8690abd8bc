// Where a trace goes. A Sink receives whole generations, in order, from one thread at a time.

#ifndef TRACER_TRACER_SINK_H_
#define TRACER_TRACER_SINK_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tracer {

// Thread-compatible: the tracer calls it from one thread at a time (the collector thread, or
// the thread in StopTrace/WriteTo). An error from Write or Flush ends the capture that uses
// the sink (the error is what StopTrace/WriteTo return); it never disturbs the traced program.
//
// What a Sink may call: recording calls (tasks, regions, logs, hooks: they go into a later
// generation), GetTracerStats(), IsTracing(), FlightRecorder::Stats()/Enabled(). It must not
// start, stop, cut or dump (StartTrace, StopTrace, SetBufferConfig, FlightRecorder::Start/Stop/
// WriteTo): from inside a Sink those return FailedPrecondition instead of deadlocking. A slow
// Sink delays only the capture or dump it serves (and, through a full buffer pool, drops that
// are counted); it never blocks fork(), GetTracerStats() or a thread that records.
// A Sink writing to a pipe or socket of its own must not raise SIGPIPE (FdSink shows how).
class Sink {
 public:
  virtual ~Sink() = default;
  // Writes all of `data` or returns an error (short writes are retried or reported).
  virtual absl::Status Write(absl::string_view data) = 0;
  virtual absl::Status Flush() { return absl::OkStatus(); }
};

// Writes to a file descriptor: retries EINTR and short writes; EPIPE, ENOSPC and friends
// become errors naming the fd. Never raises SIGPIPE and never changes its disposition: sockets
// are written with send(MSG_NOSIGNAL); pipes with SIGPIPE blocked in the writing thread, a
// SIGPIPE the write raised consumed before the mask is restored. Does not close the fd unless
// `owned`.
class FdSink final : public Sink {
 public:
  explicit FdSink(int fd, bool owned = false) : fd_(fd), owned_(owned) {}
  ~FdSink() override;
  FdSink(const FdSink&) = delete;
  FdSink& operator=(const FdSink&) = delete;

  // Creates (truncating) `path` with mode 0600: traces hold code paths and log messages.
  static absl::StatusOr<std::unique_ptr<FdSink>> Create(const std::string& path);

  absl::Status Write(absl::string_view data) override;
  absl::Status Flush() override;
  int fd() const { return fd_; }

 private:
  enum class Kind { kUnknown, kSocket, kOther };
  int fd_;
  bool owned_;
  Kind kind_ = Kind::kUnknown;  // found by the first Write
};

// Collects everything in memory (tests, HTTP handlers).
class StringSink final : public Sink {
 public:
  absl::Status Write(absl::string_view data) override {
    data_.append(data.data(), data.size());
    return absl::OkStatus();
  }
  const std::string& data() const { return data_; }
  std::string Release() { return std::move(data_); }

 private:
  std::string data_;
};

}  // namespace tracer

#endif  // TRACER_TRACER_SINK_H_
