// LEB128 unsigned varints and zigzag signed integers, as used everywhere on the wire.
// Decoders take untrusted input: they never read past `end` and reject overlong encodings.

#ifndef TRACER_FORMAT_INTERNAL_VARINT_H_
#define TRACER_FORMAT_INTERNAL_VARINT_H_

#include <cstdint>
#include <cstring>
#include <string>

namespace tracer::format_internal {

inline constexpr int kMaxVarintBytes = 10;

// Writes `v` at `p` (which must have kMaxVarintBytes of room); returns the end.
inline char* EncodeVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

inline void AppendVarint(std::string* out, uint64_t v) {
  char buf[kMaxVarintBytes];
  out->append(buf, EncodeVarint(buf, v) - buf);
}

inline int VarintLength(uint64_t v) {
  int n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline constexpr uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline constexpr int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

// Decodes a varint from [p, end). Returns the byte after it, or nullptr if the input ends
// first or the encoding is longer than ten bytes or overflows 64 bits.
inline const char* DecodeVarint(const char* p, const char* end, uint64_t* v) {
  if (p < end && static_cast<unsigned char>(*p) < 0x80) {  // one byte: the common case
    *v = static_cast<unsigned char>(*p);
    return p + 1;
  }
  uint64_t result = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    uint64_t byte = static_cast<unsigned char>(*p++);
    if (shift == 63 && byte > 1) return nullptr;  // would overflow 64 bits
    result |= (byte & 0x7f) << shift;
    if (byte < 0x80) {
      *v = result;
      return p;
    }
  }
  return nullptr;
}

inline void StoreLE16(char* p, uint16_t v) { std::memcpy(p, &v, 2); }  // x86-64/aarch64: LE
inline void StoreLE32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void StoreLE64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline uint16_t LoadLE16(const char* p) { uint16_t v; std::memcpy(&v, p, 2); return v; }
inline uint32_t LoadLE32(const char* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
inline uint64_t LoadLE64(const char* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the wire is little-endian; big-endian hosts need byte swaps here");

}  // namespace tracer::format_internal

#endif  // TRACER_FORMAT_INTERNAL_VARINT_H_
