#include "format/byte_source.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"

namespace tracer::format {
namespace {

class StringSource final : public ByteSource {
 public:
  explicit StringSource(std::string data) : data_(std::move(data)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    n = std::min(n, data_.size() - pos_);
    std::memcpy(buf, data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::string data_;
  size_t pos_ = 0;
};

class FdSource final : public ByteSource {
 public:
  FdSource(int fd, bool owned) : fd_(fd), owned_(owned) {}
  ~FdSource() override {
    if (owned_) close(fd_);
  }
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    for (;;) {
      ssize_t r = read(fd_, buf, n);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "read");
    }
  }

 private:
  int fd_;
  bool owned_;
};

}  // namespace

std::unique_ptr<ByteSource> MakeStringSource(std::string data) {
  return std::make_unique<StringSource>(std::move(data));
}
std::unique_ptr<ByteSource> MakeFdSource(int fd, bool owned) {
  return std::make_unique<FdSource>(fd, owned);
}

}  // namespace tracer::format
