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
