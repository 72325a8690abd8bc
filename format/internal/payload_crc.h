// The payload checksum of a generation header (FORMAT.md, "Generation header"): CRC32 of the
// stored payload, except that in a crash generation (kGenFlagCrash) the bodies of crash-batch
// sections (kind 12) are left out: each carries its own CRC, so a batch torn by a thread caught
// mid-write is dropped alone and the rest of the generation still checks.

#ifndef TRACER_FORMAT_INTERNAL_PAYLOAD_CRC_H_
#define TRACER_FORMAT_INTERNAL_PAYLOAD_CRC_H_

#include <zlib.h>

#include <cstddef>
#include <cstdint>

#include "format/constants.h"
#include "format/internal/varint.h"

namespace tracer::format_internal {

inline uint32_t Crc32(uint32_t crc, const char* p, size_t n) {
  return static_cast<uint32_t>(crc32(crc, reinterpret_cast<const Bytef*>(p), n));
}

// The checksum of `payload` as a generation header states it. For a crash generation the
// section framing is walked: false if it is malformed (a section length past the end), which
// the caller reports as a checksum mismatch. Async-signal-safe (no allocation).
inline bool PayloadCrc(const char* payload, size_t n, bool crash, uint32_t* out) {
  if (!crash) {
    *out = Crc32(0, payload, n);
    return true;
  }
  uint32_t crc = 0;
  const char* p = payload;
  const char* const end = payload + n;
  while (p < end) {
    const uint8_t kind = static_cast<uint8_t>(*p);
    uint64_t len;
    const char* body = DecodeVarint(p + 1, end, &len);
    if (body == nullptr || len > static_cast<uint64_t>(end - body)) return false;
    if (kind == static_cast<uint8_t>(format::SectionKind::kCrashBatch)) {
      crc = Crc32(crc, p, static_cast<size_t>(body - p));  // its framing, not its body
    } else {
      crc = Crc32(crc, p, static_cast<size_t>(body - p) + len);
    }
    p = body + len;
  }
  *out = crc;
  return true;
}

}  // namespace tracer::format_internal

#endif  // TRACER_FORMAT_INTERNAL_PAYLOAD_CRC_H_
