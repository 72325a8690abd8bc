#include "tools/analysis/split.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "format/constants.h"
#include "format/trace_reader.h"

namespace tracer::analysis {
namespace {

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// Reads exactly `n` bytes at `offset` of `fd` into `out`.
absl::Status ReadAt(int fd, uint64_t offset, uint64_t n, const std::string& path,
                    std::string* out) {
  out->resize(n);
  uint64_t done = 0;
  while (done < n) {
    const ssize_t r = pread(fd, out->data() + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Errno("cannot read", path);
    if (r == 0) return absl::DataLossError(absl::StrCat(path, " shrank while being split"));
    done += static_cast<uint64_t>(r);
  }
  return absl::OkStatus();
}

// One piece being written: header first, then each generation as it comes.
class PieceWriter {
 public:
  PieceWriter(std::string path, mode_t mode) : path_(std::move(path)), mode_(mode) {}
  ~PieceWriter() {
    if (fd_ >= 0) close(fd_);
  }
  absl::Status Append(absl::string_view bytes) {
    if (fd_ < 0) {
      fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode_);
      if (fd_ < 0) return Errno("cannot create", path_);
    }
    while (!bytes.empty()) {
      const ssize_t w = write(fd_, bytes.data(), bytes.size());
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Errno("error writing", path_);
      bytes.remove_prefix(static_cast<size_t>(w));
    }
    return absl::OkStatus();
  }
  absl::Status Close() {
    if (fd_ < 0) return absl::OkStatus();
    const int rc = close(fd_);
    fd_ = -1;
    return rc == 0 ? absl::OkStatus() : Errno("error writing", path_);
  }

 private:
  std::string path_;
  mode_t mode_;
  int fd_ = -1;
};

}  // namespace

absl::StatusOr<SplitResult> SplitTrace(const std::string& path, const SplitOptions& options,
                                       const std::string& out_dir) {
  const int modes = (options.every_ns > 0) + (options.generations > 0) + (options.bytes > 0);
  if (modes != 1) {
    return absl::InvalidArgumentError("give exactly one of --every, --generations, --bytes");
  }
  auto reader = format::TraceReader::Open(path);
  if (!reader.ok()) return reader.status();
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  std::unique_ptr<int, void (*)(int*)> closer(new int(fd), [](int* p) {
    close(*p);
    delete p;
  });
  struct stat st;
  if (fstat(fd, &st) != 0) return Errno("cannot stat", path);
  std::string header;
  if (absl::Status s = ReadAt(fd, 0, format::kFileHeaderSize, path, &header); !s.ok()) return s;
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);  // like mkdir -p
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create ", out_dir, ": ", ec.message()));

  std::string name = path.substr(path.find_last_of('/') + 1);
  if (absl::EndsWith(name, ".trace")) name.resize(name.size() - 6);
  SplitResult result;
  std::unique_ptr<PieceWriter> piece;
  std::string bytes;
  auto close_piece = [&]() -> absl::Status {
    if (piece == nullptr) return absl::OkStatus();
    absl::Status s = piece->Close();
    piece.reset();
    return s;
  };
  for (;;) {
    absl::StatusOr<std::shared_ptr<const format::Generation>> next = (*reader)->Next();
    if (!next.ok()) {
      result.error = next.status();
      break;
    }
    if (*next == nullptr) break;
    const format::Generation& gen = **next;
    SplitPiece* cur = result.pieces.empty() || piece == nullptr ? nullptr : &result.pieces.back();
    // The live-task listing that ends a dump describes its last moment: it stays with the
    // generations before it.
    const bool listing_only = gen.listing && gen.batches.empty();
    const bool cut = cur != nullptr && !listing_only &&
                     ((options.generations > 0 && cur->generations >= options.generations) ||
                      (options.bytes > 0 && cur->bytes + gen.file_size > options.bytes) ||
                      (options.every_ns > 0 && gen.begin_ns - cur->begin_ns >= options.every_ns));
    if (cut || cur == nullptr) {
      if (absl::Status s = close_piece(); !s.ok()) return s;
      SplitPiece p;
      p.path = absl::StrFormat("%s/%s.%03d.trace", out_dir, name, result.pieces.size());
      p.bytes = header.size();
      p.begin_ns = gen.begin_ns;
      result.pieces.push_back(p);
      piece = std::make_unique<PieceWriter>(p.path, st.st_mode & 0777);
      if (absl::Status s = piece->Append(header); !s.ok()) return s;
      cur = &result.pieces.back();
    }
    if (absl::Status s = ReadAt(fd, gen.file_offset, gen.file_size, path, &bytes); !s.ok()) {
      return s;
    }
    if (absl::Status s = piece->Append(bytes); !s.ok()) return s;
    ++cur->generations;
    cur->bytes += gen.file_size;
    cur->end_ns = std::max(cur->end_ns, gen.end_ns);
  }
  if (absl::Status s = close_piece(); !s.ok()) return s;
  return result;
}

}  // namespace tracer::analysis
