// LEB128 unsigned varints and zigzag signed integers, as used everywhere on the wire.
// Decoders take untrusted input: they never read past `end`. Encoders write the minimal
// (canonical) encoding, which the format requires: DecodeVarint and the decoders with
// kCanonical = true reject an overlong one (a last byte of 0x00 after a continuation byte,
// e.g. `80 00` for 0); the unchecked hot-path decoders by default do not look (see below).

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

// The same for a hot path with at least eight bytes of room past the varint's end (it may
// write up to eight bytes, the ones past the varint being scratch): values below 2^56 take no
// branch on their length, the seven-bit groups being spread over the bytes with three
// shift-and-mask steps.
__attribute__((always_inline)) inline char* EncodeVarintFast(char* p, uint64_t v) {
  if (__builtin_expect(v < 0x80, 1)) {
    *p = static_cast<char>(v);
    return p + 1;
  }
  if (v < (1u << 14)) {  // ids and small counts: two bytes, a branch as steady as the first
    p[0] = static_cast<char>(v | 0x80);
    p[1] = static_cast<char>(v >> 7);
    return p + 2;
  }
  if (__builtin_expect(v >= (uint64_t{1} << 56), 0)) return EncodeVarint(p, v);
  uint64_t x = v;
  x = (x & 0x000000000fffffffull) | ((x & 0x00fffffff0000000ull) << 4);
  x = (x & 0x00003fff00003fffull) | ((x & 0x0fffc0000fffc000ull) << 2);
  x = (x & 0x007f007f007f007full) | ((x & 0x3f803f803f803f80ull) << 1);
  const int len = (70 - __builtin_clzll(v)) / 7;  // bytes: ceil(bit length / 7), 2..8
  x |= 0x8080808080808080ull & ((uint64_t{1} << (8 * (len - 1))) - 1);
  __builtin_memcpy(p, &x, 8);  // little-endian, as the wire
  return p + len;
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
// first, the encoding is longer than ten bytes, overflows 64 bits, or (with kCanonical) is
// overlong. DecodeVarint below is the one to call; kCanonical = false only serves as the
// fallback of the unchecked decoders.
template <bool kCanonical>
inline const char* DecodeVarintBounded(const char* p, const char* end, uint64_t* v) {
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
      // Overlong: a varint of more than one byte (one byte returned above) never ends in 00.
      if (kCanonical && byte == 0) return nullptr;
      *v = result;
      return p;
    }
  }
  return nullptr;
}

// Decodes a varint from [p, end). Returns the byte after it, or nullptr if the input ends
// first, the encoding is longer than ten bytes, overflows 64 bits or is overlong (not minimal).
inline const char* DecodeVarint(const char* p, const char* end, uint64_t* v) {
  return DecodeVarintBounded<true>(p, end, v);
}

// True if a varint starts at p and is overlong: for error messages after a decoder refused it.
inline bool IsOverlongVarint(const char* p, const char* end) {
  for (int i = 0; i < kMaxVarintBytes && p + i < end; ++i) {
    const auto byte = static_cast<unsigned char>(p[i]);
    if (byte < 0x80) return i > 0 && byte == 0;
  }
  return false;
}

inline void StoreLE16(char* p, uint16_t v) { std::memcpy(p, &v, 2); }  // x86-64/aarch64: LE
inline void StoreLE32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void StoreLE64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline uint16_t LoadLE16(const char* p) { uint16_t v; std::memcpy(&v, p, 2); return v; }
inline uint32_t LoadLE32(const char* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
inline uint64_t LoadLE64(const char* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }

// Decoders for when at least kMaxVarintBytes bytes are readable at `p` (the caller checked
// once for a whole event): no bounds checks, the same results and rejections as DecodeVarint,
// except that with kCanonical = false (the default: the merge's hot path, whose input the
// reader validated already, or a tool chose not to) an overlong encoding is accepted as its
// value instead of rejected. kCanonical = true costs a compare per varint; the validating
// BatchEventReader uses it.
// Varints of up to eight bytes decode without a data-dependent branch on their length.
template <bool kCanonical = false>
inline const char* DecodeVarintLong(const char* p, uint64_t* v) {
  uint64_t x = LoadLE64(p);
  const uint64_t stop = ~x & 0x8080808080808080ull;  // the MSB of every final-candidate byte
  if (__builtin_expect(stop == 0, 0)) {
    return DecodeVarintBounded<kCanonical>(p, p + kMaxVarintBytes, v);
  }
  const int last_bit = __builtin_ctzll(stop);  // 8 * (length - 1) + 7
  if constexpr (kCanonical) {
    // The final byte sits at bits [last_bit - 7, last_bit]; 0x00 there after another byte
    // is an overlong encoding.
    if (__builtin_expect(last_bit > 7 && ((x >> (last_bit - 7)) & 0xff) == 0, 0)) return nullptr;
  }
  x &= (stop ^ (stop - 1)) & 0x7f7f7f7f7f7f7f7full;  // the varint's bytes, payload bits only
  x = (x & 0x007f007f007f007full) | ((x & 0x7f007f007f007f00ull) >> 1);
  x = (x & 0x00003fff00003fffull) | ((x & 0x3fff00003fff0000ull) >> 2);
  x = (x & 0x000000000fffffffull) | ((x & 0x0fffffff00000000ull) >> 4);
  *v = x;
  return p + ((last_bit + 1) >> 3);
}

template <bool kCanonical = false>
__attribute__((always_inline)) inline const char* DecodeVarintFast(const char* p, uint64_t* v) {
  const uint32_t w = LoadLE16(p);
  // One or two bytes, branch-free; with kCanonical, `xx 00` (xx >= 0x80) goes the long way,
  // which rejects it.
  if (__builtin_expect((w & 0x8080) != 0x8080 && (!kCanonical || (w & 0xff80) != 0x0080), 1)) {
    const uint32_t c = (w >> 7) & 1;  // 1 if the first byte continues
    *v = (w & 0x7f) | ((w >> 1) & 0x3f80 & (0u - c));
    return p + 1 + c;
  }
  return DecodeVarintLong<kCanonical>(p, v);
}

// The same, with a branch on each of the first two bytes instead of arithmetic on both: where
// the length of the varints at one call site is steady (a decoder specialised per event shape
// and argument), the predicted length lets the CPU start on the next varint before this one
// is loaded, instead of waiting on a chain of loads through the lengths.
template <bool kCanonical = false>
__attribute__((always_inline)) inline const char* DecodeVarintPredicted(const char* p,
                                                                         uint64_t* v) {
  const uint64_t b0 = static_cast<unsigned char>(p[0]);
  if (__builtin_expect(b0 < 0x80, 1)) {
    *v = b0;
    return p + 1;
  }
  const uint64_t b1 = static_cast<unsigned char>(p[1]);
  // With kCanonical a second byte of 0x00 (overlong) goes the long way, which rejects it.
  if (__builtin_expect(kCanonical ? b1 - 1 < 0x7f : b1 < 0x80, 1)) {
    *v = (b0 & 0x7f) | b1 << 7;
    return p + 2;
  }
  return DecodeVarintLong<kCanonical>(p, v);
}

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the wire is little-endian; big-endian hosts need byte swaps here");

}  // namespace tracer::format_internal

#endif  // TRACER_FORMAT_INTERNAL_VARINT_H_
