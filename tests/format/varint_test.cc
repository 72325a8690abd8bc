// LEB128 varints and zigzag: exact encodings, bounds and rejection of malformed input.

#include "format/internal/varint.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/format/test_trace.h"

namespace tracer::format_internal {
namespace {

using format::testing::Rng;

TEST(VarintTest, KnownEncodings) {
  struct Case {
    uint64_t v;
    std::string bytes;
  } cases[] = {
      {0, std::string("\x00", 1)},
      {1, "\x01"},
      {127, "\x7f"},
      {128, "\x80\x01"},
      {300, "\xac\x02"},
      {16383, "\xff\x7f"},
      {16384, "\x80\x80\x01"},
      {UINT64_MAX, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"},
  };
  for (const Case& c : cases) {
    std::string out;
    AppendVarint(&out, c.v);
    EXPECT_EQ(out, c.bytes) << c.v;
    EXPECT_EQ(VarintLength(c.v), static_cast<int>(c.bytes.size())) << c.v;
    uint64_t v = 12345;
    const char* end = c.bytes.data() + c.bytes.size();
    EXPECT_EQ(DecodeVarint(c.bytes.data(), end, &v), end) << c.v;
    EXPECT_EQ(v, c.v);
  }
}

TEST(VarintTest, RandomValuesRoundTripAndLengthsAgree) {
  Rng rng(format::testing::TestSeed(1));
  std::string buf;
  std::vector<uint64_t> values;
  for (int i = 0; i < 100000; ++i) {
    uint64_t v = rng.AnyU64();
    values.push_back(v);
    size_t before = buf.size();
    AppendVarint(&buf, v);
    ASSERT_EQ(buf.size() - before, static_cast<size_t>(VarintLength(v)));
  }
  const char* p = buf.data();
  const char* end = p + buf.size();
  for (uint64_t want : values) {
    uint64_t got;
    p = DecodeVarint(p, end, &got);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(got, want);
  }
  EXPECT_EQ(p, end);
}

// The hot path's encoder writes exactly the bytes of the plain one (it may scribble on up to
// eight bytes past them), for every length boundary and for random values of every length.
TEST(VarintTest, FastEncoderMatchesThePlainOneAtEveryLength) {
  std::vector<uint64_t> values = {0, 1, UINT64_MAX, UINT64_MAX - 1};
  for (int bits = 1; bits < 64; ++bits) {
    const uint64_t p2 = uint64_t{1} << bits;
    values.insert(values.end(), {p2 - 1, p2, p2 + 1});
  }
  Rng rng(format::testing::TestSeed(7));
  for (int i = 0; i < 100000; ++i) values.push_back(rng.AnyU64() >> (rng.AnyU64() % 64));
  for (uint64_t v : values) {
    char plain[kMaxVarintBytes];
    const size_t n = static_cast<size_t>(EncodeVarint(plain, v) - plain);
    char fast[kMaxVarintBytes + 8];
    std::memset(fast, 0x5a, sizeof(fast));
    const size_t m = static_cast<size_t>(EncodeVarintFast(fast, v) - fast);
    ASSERT_EQ(m, n) << v;
    ASSERT_EQ(std::string(fast, m), std::string(plain, n)) << v;
    uint64_t back;
    ASSERT_EQ(DecodeVarintFast(fast, &back), fast + m) << v;
    ASSERT_EQ(back, v);
  }
}

TEST(VarintTest, TruncatedInputIsRejectedWithoutReadingPastEnd) {
  std::string full;
  AppendVarint(&full, UINT64_MAX);
  for (size_t n = 0; n < full.size(); ++n) {
    // A heap copy of exactly n bytes so ASan catches any read past the end.
    std::unique_ptr<char[]> copy(new char[n == 0 ? 1 : n]);
    std::memcpy(copy.get(), full.data(), n);
    uint64_t v;
    EXPECT_EQ(DecodeVarint(copy.get(), copy.get() + n, &v), nullptr) << n;
  }
}

TEST(VarintTest, OverlongAndOverflowingEncodingsAreRejected) {
  uint64_t v;
  // Eleven bytes: longer than any uint64.
  std::string eleven(10, '\x80');
  eleven.push_back('\x01');
  EXPECT_EQ(DecodeVarint(eleven.data(), eleven.data() + eleven.size(), &v), nullptr);
  // Ten bytes whose last byte carries bits above 2^63.
  std::string overflow(9, '\xff');
  overflow.push_back('\x02');
  EXPECT_EQ(DecodeVarint(overflow.data(), overflow.data() + overflow.size(), &v), nullptr);
  // Ten continuation bytes and nothing after.
  std::string runaway(10, '\xff');
  EXPECT_EQ(DecodeVarint(runaway.data(), runaway.data() + runaway.size(), &v), nullptr);
}

// The format requires minimal encodings: a multi-byte varint whose last byte is 0x00 is
// overlong. DecodeVarint and the kCanonical decoders refuse it, at every length.
TEST(VarintTest, OverlongEncodingsAreRejectedByTheCheckedDecoders) {
  std::vector<std::string> overlong = {
      std::string("\x80\x00", 2),         // 0 in two bytes
      std::string("\xff\x00", 2),         // 127 in two bytes
      std::string("\x85\x80\x00", 3),    // 5 in three bytes
      std::string("\xff\xff\x00", 3),    // 16383 in three bytes
  };
  for (int len = 4; len <= kMaxVarintBytes; ++len) {
    std::string b(len - 1, '\x80');
    b.push_back('\0');
    overlong.push_back(b);
  }
  for (const std::string& b : overlong) {
    SCOPED_TRACE(::testing::PrintToString(b));
    uint64_t v = 777;
    EXPECT_EQ(DecodeVarint(b.data(), b.data() + b.size(), &v), nullptr);
    EXPECT_TRUE(IsOverlongVarint(b.data(), b.data() + b.size()));
    // The unchecked decoders read up to 10 + 8 bytes: pad with a byte that would end a varint.
    std::string padded = b + std::string(kMaxVarintBytes + 8, '\x01');
    EXPECT_EQ(DecodeVarintFast<true>(padded.data(), &v), nullptr);
    EXPECT_EQ(DecodeVarintPredicted<true>(padded.data(), &v), nullptr);
    EXPECT_EQ(DecodeVarintLong<true>(padded.data(), &v), nullptr);
    EXPECT_EQ(v, 777u) << "a refused varint must not be stored";
  }
  // A lone 0x00 is the canonical encoding of 0, and not overlong.
  const std::string zero = std::string(1, '\0') + std::string(kMaxVarintBytes + 8, '\x01');
  uint64_t v = 777;
  EXPECT_EQ(DecodeVarint(zero.data(), zero.data() + 1, &v), zero.data() + 1);
  EXPECT_EQ(v, 0u);
  EXPECT_FALSE(IsOverlongVarint(zero.data(), zero.data() + 1));
  EXPECT_EQ(DecodeVarintFast<true>(zero.data(), &v), zero.data() + 1);
  EXPECT_EQ(DecodeVarintPredicted<true>(zero.data(), &v), zero.data() + 1);
  EXPECT_EQ(DecodeVarintLong<true>(zero.data(), &v), zero.data() + 1);
  // Truncation is not overlong.
  EXPECT_FALSE(IsOverlongVarint(overlong[0].data(), overlong[0].data() + 1));
}

// The documented trade-off: the merge's unchecked decoders (kCanonical = false) do not look
// for overlong encodings of up to eight bytes; event validation does.
TEST(VarintTest, UncheckedDecodersAcceptShortOverlongEncodings) {
  const std::string b = std::string("\x85\x80\x00", 3) + std::string(kMaxVarintBytes + 8, '\x01');
  uint64_t v = 0;
  EXPECT_EQ(DecodeVarintFast(b.data(), &v), b.data() + 3);
  EXPECT_EQ(v, 5u);
  EXPECT_EQ(DecodeVarintPredicted(b.data(), &v), b.data() + 3);
  EXPECT_EQ(v, 5u);
}

// The canonical decoders give the same results as the plain ones on every minimal encoding.
TEST(VarintTest, CanonicalDecodersAcceptEveryMinimalEncoding) {
  std::vector<uint64_t> values = {0, 1, UINT64_MAX, UINT64_MAX - 1};
  for (int bits = 1; bits < 64; ++bits) {
    const uint64_t p2 = uint64_t{1} << bits;
    values.insert(values.end(), {p2 - 1, p2, p2 + 1});
  }
  Rng rng(format::testing::TestSeed(11));
  for (int i = 0; i < 100000; ++i) values.push_back(rng.AnyU64() >> (rng.AnyU64() % 64));
  for (uint64_t want : values) {
    char buf[kMaxVarintBytes + 8];
    std::memset(buf, 0, sizeof(buf));  // zeros after the varint must not matter
    const char* end = EncodeVarint(buf, want);
    uint64_t v = 0;
    ASSERT_EQ(DecodeVarintFast<true>(buf, &v), end) << want;
    ASSERT_EQ(v, want);
    ASSERT_EQ(DecodeVarintPredicted<true>(buf, &v), end) << want;
    ASSERT_EQ(v, want);
    ASSERT_EQ(DecodeVarintLong<true>(buf, &v), end) << want;
    ASSERT_EQ(v, want);
    ASSERT_FALSE(IsOverlongVarint(buf, end)) << want;
  }
}

TEST(VarintTest, ZigZagMapsSmallMagnitudesToSmallCodes) {
  EXPECT_EQ(ZigZag(0), 0u);
  EXPECT_EQ(ZigZag(-1), 1u);
  EXPECT_EQ(ZigZag(1), 2u);
  EXPECT_EQ(ZigZag(-2), 3u);
  EXPECT_EQ(ZigZag(INT64_MAX), UINT64_MAX - 1);
  EXPECT_EQ(ZigZag(INT64_MIN), UINT64_MAX);
  Rng rng(format::testing::TestSeed(2));
  for (int i = 0; i < 10000; ++i) {
    const int64_t x = static_cast<int64_t>(rng.AnyU64());
    ASSERT_EQ(UnZigZag(ZigZag(x)), x);
  }
}

TEST(VarintTest, LittleEndianLoadsAndStores) {
  char b[8];
  StoreLE32(b, 0x04030201);
  EXPECT_EQ(std::string(b, 4), "\x01\x02\x03\x04");
  StoreLE64(b, 0x0807060504030201ull);
  EXPECT_EQ(LoadLE64(b), 0x0807060504030201ull);
  EXPECT_EQ(LoadLE16(b), 0x0201);
  EXPECT_EQ(LoadLE32(b + 4), 0x08070605u);
}

}  // namespace
}  // namespace tracer::format_internal
