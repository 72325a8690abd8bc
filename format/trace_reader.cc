#include "format/trace_reader.h"

#include <fcntl.h>
#include <lz4.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "format/constants.h"
#include "format/internal/generation_parser.h"
#include "format/internal/payload_crc.h"
#include "format/internal/varint.h"

namespace tracer::format {

using format_internal::LoadLE16;
using format_internal::LoadLE32;
using format_internal::LoadLE64;

namespace {

}  // namespace

absl::StatusOr<std::unique_ptr<TraceReader>> TraceReader::Open(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  return FromSource(MakeFdSource(fd, /*owned=*/true));
}

absl::StatusOr<std::unique_ptr<TraceReader>> TraceReader::FromSource(
    std::unique_ptr<ByteSource> src) {
  std::unique_ptr<TraceReader> r(new TraceReader(std::move(src)));
  if (absl::Status s = r->ReadHeader(); !s.ok()) return s;
  return r;
}

absl::StatusOr<size_t> TraceReader::ReadFull(char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    absl::StatusOr<size_t> r = src_->Read(buf + got, n - got);
    if (!r.ok()) {
      return absl::Status(r.status().code(),
                          absl::StrCat("at file offset ", offset_ + got, ": ",
                                       r.status().message()));
    }
    if (*r == 0) break;
    got += *r;
  }
  offset_ += got;
  return got;
}

absl::Status TraceReader::ReadHeader() {
  char h[kFileHeaderSize];
  absl::StatusOr<size_t> got = ReadFull(h, sizeof(h));
  if (!got.ok()) return got.status();
  if (*got < sizeof(kFileMagic) || std::memcmp(h, kFileMagic, sizeof(kFileMagic)) != 0) {
    return absl::InvalidArgumentError("not a tracer trace: bad magic at file offset 0");
  }
  if (*got < sizeof(h)) {
    return absl::DataLossError(absl::StrCat("truncated file header: file ends at file offset ",
                                            *got, ", the header is ", kFileHeaderSize,
                                            " bytes"));
  }
  major_ = LoadLE16(h + 8);
  minor_ = LoadLE16(h + 10);
  if (major_ > kVersionMajor || major_ == 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "trace format version %d.%d is not supported: this reader reads 1.x to %d.x (a newer "
        "tracetool is needed)",
        major_, minor_, kVersionMajor));
  }
  flags_ = LoadLE32(h + 12);
  if ((flags_ & ~(kFileFlagsKnown | kFileFlagsIgnorable)) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "trace file flags 0x%08x at file offset 12: unknown flags 0x%08x that a reader must "
        "understand (written by a newer version?)",
        flags_, flags_ & ~(kFileFlagsKnown | kFileFlagsIgnorable)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Generation>> TraceReader::Next() {
  if (!sticky_.ok()) return sticky_;
  auto fail = [&](absl::Status s) {
    sticky_ = s;
    return s;
  };
  const uint64_t gen_offset = offset_;
  const uint64_t index = generations_read_;
  char h[kGenerationHeaderSize];
  absl::StatusOr<size_t> got = ReadFull(h, sizeof(h));
  if (!got.ok()) return fail(got.status());
  if (*got == 0) return std::shared_ptr<const Generation>();  // clean end
  auto where = [&]() {
    return absl::StrFormat("generation #%d at file offset %d", index, gen_offset);
  };
  if (*got < sizeof(h)) {
    return fail(absl::DataLossError(absl::StrFormat(
        "%s: truncated header (%d of %d bytes); the generations before it are intact", where(),
        *got, kGenerationHeaderSize)));
  }
  if (LoadLE32(h) != kGenerationMagic) {
    return fail(absl::DataLossError(absl::StrCat(where(), ": bad generation magic")));
  }
  // A later minor version may append fields: header_size (unchecked until the CRC matches,
  // but a u16, so at most 64 KiB are read on its word) covers them, and so does the CRC.
  const uint16_t untrusted_header_size = LoadLE16(h + 4);
  uint32_t header_crc = format_internal::Crc32(0, h, 52);
  if (untrusted_header_size > kGenerationHeaderSize) {
    std::string extension(untrusted_header_size - kGenerationHeaderSize, '\0');
    got = ReadFull(extension.data(), extension.size());
    if (!got.ok()) return fail(got.status());
    if (*got < extension.size()) {
      return fail(absl::DataLossError(absl::StrFormat(
          "%s: truncated header (%d of %d bytes); the generations before it are intact",
          where(), kGenerationHeaderSize + *got, untrusted_header_size)));
    }
    header_crc = static_cast<uint32_t>(
        crc32(header_crc, reinterpret_cast<const Bytef*>(extension.data()), extension.size()));
  }
  if (LoadLE32(h + 52) != header_crc) {
    return fail(absl::DataLossError(absl::StrCat(where(), ": header checksum mismatch")));
  }
  const uint16_t header_size = untrusted_header_size;
  const uint16_t flags = LoadLE16(h + 6);
  if (header_size < kGenerationHeaderSize) {
    return fail(absl::DataLossError(
        absl::StrCat(where(), ": header size ", header_size, ", smaller than the ",
                     kGenerationHeaderSize, " bytes of a version ", kVersionMajor,
                     " generation header")));
  }
  // Bit 1 (a crash generation) is 2.0's: in a 1.x file it is a flag 1.x never defined.
  const uint16_t known = major_ == 1 ? kGenFlagLz4 : kGenFlagsKnown;
  if ((flags & ~(known | kGenFlagsIgnorable)) != 0) {
    return fail(absl::FailedPreconditionError(
        absl::StrFormat("%s: unknown flags 0x%04x (written by a newer version?)", where(),
                        flags)));
  }
  auto gen = std::make_shared<Generation>();
  gen->seq = LoadLE64(h + 8);
  gen->file_offset = gen_offset;
  gen->header_size = header_size;
  gen->begin_ns = static_cast<int64_t>(LoadLE64(h + 16));
  gen->end_ns = static_cast<int64_t>(LoadLE64(h + 24));
  const uint32_t stored_len = LoadLE32(h + 32);
  const uint32_t raw_len = LoadLE32(h + 36);
  const uint32_t crc = LoadLE32(h + 40);
  const uint32_t num_batches = LoadLE32(h + 44);
  gen->compressed = (flags & kGenFlagLz4) != 0;
  gen->crash = (flags & kGenFlagCrash) != 0;
  if (gen->crash && gen->compressed) {
    return fail(absl::DataLossError(absl::StrFormat(
        "%s (seq %d): flags 0x%04x: a crash generation is never lz4-compressed", where(),
        gen->seq, flags)));
  }
  // lz4 expands a block at most ~255-fold: a larger claim is damage, not a reason to allocate.
  if (stored_len > kMaxPayloadBytes || raw_len > kMaxPayloadBytes ||
      (!gen->compressed && stored_len != raw_len) ||
      (gen->compressed && raw_len > uint64_t{stored_len} * 255 + 64)) {
    return fail(absl::DataLossError(absl::StrFormat(
        "%s: implausible payload lengths (stored %d, raw %d)", where(), stored_len, raw_len)));
  }
  // Read in growing chunks, so a truncated file claiming a huge payload costs what it holds.
  // Each chunk is at most what was read before it (or 1 MiB), and the buffer is reallocated
  // to exactly the new size: the peak is 2 * stored_len, the result holds stored_len.
  std::string stored;
  size_t have = 0;
  while (have < stored_len) {
    const size_t want = std::min<size_t>(stored_len - have, std::max<size_t>(have, 1 << 20));
    std::string bigger(have + want, '\0');
    std::memcpy(bigger.data(), stored.data(), have);
    stored.swap(bigger);
    got = ReadFull(stored.data() + have, want);
    if (!got.ok()) return fail(got.status());
    have += *got;
    if (*got < want) break;
  }
  got = have;
  if (*got < stored_len) {
    return fail(absl::DataLossError(absl::StrFormat(
        "%s (seq %d): truncated payload: %d of %d bytes before end of file; the generations "
        "before it are intact",
        where(), gen->seq, *got, stored_len)));
  }
  uint32_t got_crc = 0;
  if (!format_internal::PayloadCrc(stored.data(), stored.size(), gen->crash, &got_crc) ||
      got_crc != crc) {
    return fail(absl::DataLossError(
        absl::StrFormat("%s (seq %d): payload checksum mismatch", where(), gen->seq)));
  }
  gen->file_size = uint64_t{header_size} + stored_len;
  if (gen->compressed) {
    gen->payload_.resize(raw_len);
    int n = LZ4_decompress_safe(stored.data(), gen->payload_.data(), static_cast<int>(stored_len),
                                static_cast<int>(raw_len));
    std::string().swap(stored);  // before the tables are allocated (FORMAT.md's bound)
    if (n < 0 || static_cast<uint32_t>(n) != raw_len) {
      return fail(absl::DataLossError(absl::StrFormat(
          "%s (seq %d): lz4 payload does not decompress to its stated %d bytes", where(),
          gen->seq, raw_len)));
    }
  } else {
    gen->payload_ = std::move(stored);
  }
  format_internal::GenerationParser parser(gen.get(), gen_offset + header_size, num_batches);
  if (absl::Status s = parser.Parse(); !s.ok()) return fail(s);
  // 1.x listed every live task in every generation; 2.x states the tasks that appear.
  gen->tasks_complete = major_ == 1;
  if (validate_events_) {
    if (absl::Status s = ValidateGeneration(*gen); !s.ok()) return fail(s);
  }
  ++generations_read_;
  return std::shared_ptr<const Generation>(std::move(gen));
}

absl::Status ValidateGeneration(const Generation& gen) {
  for (size_t i = 0; i < gen.batches.size(); ++i) {
    BatchEventReader r(gen, i);
    Event e;
    while (r.Next(&e)) {
    }
    if (!r.status().ok()) return r.status();
  }
  return absl::OkStatus();
}

}  // namespace tracer::format
