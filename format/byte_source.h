// Where a TraceReader gets bytes: a string in memory or a file descriptor.

#ifndef TRACER_FORMAT_BYTE_SOURCE_H_
#define TRACER_FORMAT_BYTE_SOURCE_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace tracer::format {

// A sequential source of bytes. Not thread-safe.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `n` bytes into `buf`; returns how many (0 only at the end) or an error.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;
};

std::unique_ptr<ByteSource> MakeStringSource(std::string data);
// Reads from `fd` (retrying EINTR); closes it on destruction if `owned`.
std::unique_ptr<ByteSource> MakeFdSource(int fd, bool owned);

}  // namespace tracer::format

#endif  // TRACER_FORMAT_BYTE_SOURCE_H_
