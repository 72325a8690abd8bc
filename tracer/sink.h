// Where a trace goes. A Sink receives whole generations, in order, from one thread at a time.

#ifndef TRACER_TRACER_SINK_H_
#define TRACER_TRACER_SINK_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tracer {

// Thread-compatible: the tracer calls it from one thread at a time. An error from Write or
// Flush ends the capture that uses the sink (the error is what StopTrace/WriteTo return); it
// never disturbs the traced program.
class Sink {
 public:
  virtual ~Sink() = default;
  // Writes all of `data` or returns an error (short writes are retried or reported).
  virtual absl::Status Write(absl::string_view data) = 0;
  virtual absl::Status Flush() { return absl::OkStatus(); }
};

// Writes to a file descriptor: retries EINTR and short writes; EPIPE, ENOSPC and friends
// become errors naming the fd. Does not close the fd unless `owned`.
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
  int fd_;
  bool owned_;
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
