#include "tracer/sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace tracer {

FdSink::~FdSink() {
  if (owned_ && fd_ >= 0) close(fd_);
}

absl::StatusOr<std::unique_ptr<FdSink>> FdSink::Create(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("create ", path));
  return std::make_unique<FdSink>(fd, /*owned=*/true);
}

absl::Status FdSink::Write(absl::string_view data) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("write to fd ", fd_));
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
