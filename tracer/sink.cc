#include "tracer/sink.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "absl/strings/str_cat.h"

namespace tracer {

namespace {

// For the span of one Write to a pipe (or anything that is not a socket): SIGPIPE blocked in
// this thread, so a reader that left makes write() fail with EPIPE instead of killing the
// process; on the way out, a SIGPIPE our own writes raised (pending on this thread) is
// consumed before the old mask comes back. The process's disposition is never touched, and a
// SIGPIPE that was already pending before us stays pending.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0;
  }
  ~ScopedSigpipeBlock() {
    if (!blocked_) return;
    if (raised_ && !was_pending_) {
      const timespec zero = {0, 0};
      while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  void NoteEpipe() { raised_ = true; }

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false;
  bool blocked_ = false;
  bool raised_ = false;
};

}  // namespace

FdSink::~FdSink() {
  if (owned_ && fd_ >= 0) close(fd_);
}

absl::StatusOr<std::unique_ptr<FdSink>> FdSink::Create(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("create ", path));
  return std::make_unique<FdSink>(fd, /*owned=*/true);
}

absl::Status FdSink::Write(absl::string_view data) {
  if (kind_ == Kind::kUnknown) {
    struct stat st;
    kind_ = fstat(fd_, &st) == 0 && S_ISSOCK(st.st_mode) ? Kind::kSocket : Kind::kOther;
  }
  const char* p = data.data();
  size_t left = data.size();
  if (left == 0) return absl::OkStatus();
  // Sockets: MSG_NOSIGNAL says it per call. Everything else: SIGPIPE blocked around the writes.
  std::optional<ScopedSigpipeBlock> block;
  if (kind_ != Kind::kSocket) block.emplace();
  while (left > 0) {
    const ssize_t n = kind_ == Kind::kSocket ? send(fd_, p, left, MSG_NOSIGNAL)
                                             : write(fd_, p, left);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if (err == ENOTSOCK && kind_ == Kind::kSocket) {  // the fd was replaced: look again
        kind_ = Kind::kOther;
        block.emplace();
        continue;
      }
      if (err == EPIPE && block.has_value()) block->NoteEpipe();
      return absl::ErrnoToStatus(err, absl::StrCat("write to fd ", fd_));
    }
    if (n == 0) return absl::DataLossError(absl::StrCat("write to fd ", fd_, " wrote nothing"));
    p += n;
    left -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status FdSink::Flush() {
  if (fsync(fd_) != 0 && errno != EINVAL && errno != EROFS) {  // pipes/sockets: EINVAL
    return absl::ErrnoToStatus(errno, absl::StrCat("fsync fd ", fd_));
  }
  return absl::OkStatus();
}

}  // namespace tracer
