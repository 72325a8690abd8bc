// Crash generations (kGenFlagCrash) and crash batches (section 12): a batch torn by a thread
// caught mid-write, or one that does not decode, is dropped alone, named by its offset and
// thread; everything else in the generation, and in the file, reads.

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "format/constants.h"
#include "format/event_stream.h"
#include "format/internal/varint.h"
#include "format/trace_reader.h"
#include "format/trace_writer.h"
#include "gtest/gtest.h"
#include "tests/format/test_trace.h"

namespace tracer::format {
namespace {

using format_internal::LoadLE16;
using format_internal::StoreLE16;
using format_internal::StoreLE32;
using testing::ModelBatch;
using testing::ModelCrashBatch;
using testing::ModelEvent;
using testing::ModelGeneration;
using testing::ReadAll;

constexpr ClockSnapshot kClock{46875000, 1000, 1000000000, 1700000000000000000};

ModelEvent Counter(uint64_t tick, uint64_t value) {
  ModelEvent e;
  e.type = EventType::kCounter;
  e.tick = tick;
  e.args = {1, value};
  return e;
}

ModelBatch CounterBatch(uint64_t thread, uint64_t seq, uint64_t first, int n) {
  ModelBatch b{thread, seq, first, {}};
  for (int i = 0; i < n; ++i) b.events.push_back(Counter(first + i, thread * 100 + i));
  return b;
}

// An ordinary generation, then a crash generation with one sealed batch (kind 9) and four
// crash batches: two good, one torn, one that does not decode.
std::vector<ModelGeneration> Model() {
  ModelGeneration g;
  g.seq = 1;
  g.clock = kClock;
  g.strings = {{1, "depth"}};
  g.batches.push_back(CounterBatch(10, 0, 1000, 5));
  ModelGeneration c;
  c.seq = 2;
  c.clock = kClock;
  c.clock.tick = 2000;
  c.crash = true;
  c.strings = {{1, "depth"}};
  c.batches.push_back(CounterBatch(10, 0, 2000, 3));
  auto crash = [](ModelBatch b) {
    ModelCrashBatch m;
    m.batch = std::move(b);
    return m;
  };
  c.crash_batches.push_back(crash(CounterBatch(10, 1, 2010, 4)));
  c.crash_batches.push_back(crash(CounterBatch(11, 0, 2005, 6)));
  ModelCrashBatch torn = crash(CounterBatch(12, 0, 2003, 7));
  torn.torn = true;
  c.crash_batches.push_back(torn);
  // A counter, then a byte that is no event type.
  ModelCrashBatch garbage = crash(ModelBatch{13, 0, 2004, {}});
  garbage.raw_events = testing::EncodeBatchEvents(CounterBatch(13, 0, 2004, 1)) + "\xee\x00";
  c.crash_batches.push_back(garbage);
  return {g, c};
}

TEST(CrashBatchTest, TornAndUndecodableBatchesAreDroppedAloneAndTheRestReads) {
  const std::string bytes = testing::EncodeTrace(Model());
  const testing::ReadResult r = ReadAll(bytes);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.generations.size(), 2u);
  EXPECT_FALSE(r.generations[0]->crash);
  const Generation& c = *r.generations[1];
  EXPECT_TRUE(c.crash);
  EXPECT_FALSE(c.compressed);
  ASSERT_EQ(c.batches.size(), 3u) << "the sealed batch and two good crash batches";
  size_t crash_batches = 0, events = 0;
  for (const Batch& b : c.batches) crash_batches += b.crash;
  EXPECT_EQ(crash_batches, 2u);
  ASSERT_EQ(c.dropped_batches.size(), 2u);
  const DroppedBatch& torn = c.dropped_batches[0];
  EXPECT_EQ(torn.thread, 12u);
  EXPECT_TRUE(absl::StrContains(torn.reason, "checksum mismatch")) << torn.reason;
  EXPECT_TRUE(absl::StrContains(torn.reason, "torn")) << torn.reason;
  // The offset names the section: its kind byte is there in the file.
  ASSERT_LT(torn.file_offset, bytes.size());
  EXPECT_EQ(static_cast<uint8_t>(bytes[torn.file_offset]),
            static_cast<uint8_t>(SectionKind::kCrashBatch));
  EXPECT_EQ(torn.file_offset, c.file_offset + c.header_size + torn.payload_offset);
  const DroppedBatch& bad = c.dropped_batches[1];
  EXPECT_EQ(bad.thread, 13u);
  EXPECT_TRUE(absl::StrContains(bad.reason, "does not decode")) << bad.reason;
  EXPECT_TRUE(absl::StrContains(bad.reason, "unknown event type")) << bad.reason;
  EXPECT_EQ(static_cast<uint8_t>(bytes[bad.file_offset]),
            static_cast<uint8_t>(SectionKind::kCrashBatch));
  // The accepted crash batches merge with the sealed one, counted exactly.
  MergedGenerationReader m(c);
  Event e;
  uint64_t last = 0;
  while (m.Next(&e)) {
    EXPECT_GE(e.tick, last);
    last = e.tick;
    ++events;
  }
  EXPECT_TRUE(m.status().ok()) << m.status();
  EXPECT_EQ(events, 3u + 4u + 6u);
}

// A crash batch's body is outside the generation's checksum: damage there drops that batch
// alone; damage anywhere else in the payload fails the generation as before.
TEST(CrashBatchTest, DamageInsideACrashBatchDropsItAloneAndElsewhereFailsTheGeneration) {
  std::vector<ModelGeneration> model = Model();
  model[1].crash_batches.resize(2);  // the good ones
  const std::string bytes = testing::EncodeTrace(model);
  const testing::ReadResult clean = ReadAll(bytes);
  ASSERT_TRUE(clean.status.ok()) << clean.status;
  const Generation& c = *clean.generations[1];
  ASSERT_TRUE(c.dropped_batches.empty());
  // Flip a byte in the last crash batch's events (the file's last byte is one).
  std::string flipped = bytes;
  flipped.back() ^= 0x40;
  const testing::ReadResult r = ReadAll(flipped);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.generations[1]->dropped_batches.size(), 1u);
  EXPECT_EQ(r.generations[1]->dropped_batches[0].thread, 11u);
  EXPECT_EQ(r.generations[1]->batches.size(), 2u);
  // Flip a byte of the clock section, the first of the payload: the payload checksum fails.
  std::string clock = bytes;
  const size_t payload = c.file_offset + c.header_size;
  clock[payload + 2] ^= 0x01;
  const testing::ReadResult bad = ReadAll(clock);
  EXPECT_FALSE(bad.status.ok());
  EXPECT_TRUE(absl::StrContains(bad.status.message(), "payload checksum mismatch")) << bad.status;
  EXPECT_EQ(bad.generations.size(), 1u) << "the generation before it reads";
}

// Set the generation header's flags of the generation at `offset` and fix the header CRC.
std::string WithFlags(std::string bytes, size_t offset, uint16_t flags) {
  char* h = bytes.data() + offset;
  StoreLE16(h + 6, flags);
  StoreLE32(h + 52, testing::Crc(absl::string_view(h, 52)));
  return bytes;
}

TEST(CrashBatchTest, ACrashBatchOutsideACrashGenerationAndACompressedCrashGenerationAreRefused) {
  const std::string bytes = testing::EncodeTrace(Model());
  const testing::ReadResult clean = ReadAll(bytes);
  ASSERT_TRUE(clean.status.ok());
  const size_t off = clean.generations[1]->file_offset;
  const uint16_t flags = LoadLE16(bytes.data() + off + 6);
  ASSERT_EQ(flags, kGenFlagCrash);
  // Without the flag: the payload checksum (now over the crash batches' bodies too) fails.
  const testing::ReadResult no_flag = ReadAll(WithFlags(bytes, off, 0));
  EXPECT_FALSE(no_flag.status.ok());
  EXPECT_EQ(no_flag.generations.size(), 1u);
  // The same payload re-checksummed as an ordinary generation: the parser refuses section 12.
  const Generation& c = *clean.generations[1];
  const std::string gen = bytes.substr(off);
  const std::string payload = gen.substr(c.header_size);
  std::string reframed = bytes.substr(0, off) + testing::Reframe(gen, payload);
  reframed = WithFlags(reframed, off, 0);
  const testing::ReadResult r = ReadAll(reframed);
  EXPECT_FALSE(r.status.ok());
  EXPECT_TRUE(absl::StrContains(r.status.message(), "without the crash flag")) << r.status;
  EXPECT_TRUE(absl::StrContains(r.status.message(), "file offset")) << r.status;
  // The crash flag with lz4: refused, naming the flags.
  const testing::ReadResult lz4 = ReadAll(WithFlags(bytes, off, kGenFlagCrash | kGenFlagLz4));
  EXPECT_FALSE(lz4.status.ok());
  EXPECT_TRUE(absl::StrContains(lz4.status.message(), "never lz4-compressed")) << lz4.status;
}

// A 1.x file never had crash generations: the flag there is an unknown one.
TEST(CrashBatchTest, TheCrashFlagInAOneXFileIsAnUnknownFlag) {
  std::string bytes = testing::EncodeTrace(Model());
  bytes[8] = 1;  // major 1
  const testing::ReadResult r = ReadAll(bytes);
  EXPECT_FALSE(r.status.ok());
  EXPECT_EQ(r.status.code(), absl::StatusCode::kFailedPrecondition) << r.status;
  EXPECT_TRUE(absl::StrContains(r.status.message(), "unknown flags 0x0002")) << r.status;
  EXPECT_EQ(r.generations.size(), 1u) << "the ordinary generation before it reads";
}

// The writer never compresses a crash generation, and counts crash batches in num_batches.
TEST(CrashBatchTest, WriterNeverCompressesACrashGeneration) {
  std::vector<ModelGeneration> model = Model();
  model[1].compress = true;
  model[1].crash_batches.resize(2);
  const testing::ReadResult r = ReadAll(testing::EncodeTrace(model));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_FALSE(r.generations[1]->compressed);
  EXPECT_TRUE(r.generations[1]->crash);
  EXPECT_EQ(r.generations[1]->batches.size(), 3u);
}

// Every truncation of a crash generation is an error with an offset, or a clean shorter read:
// never a crash.
TEST(CrashBatchTest, EveryTruncationIsReportedWithAnOffset) {
  const std::string bytes = testing::EncodeTrace(Model());
  for (size_t n = kFileHeaderSize; n < bytes.size(); ++n) {
    const testing::ReadResult r = ReadAll(bytes.substr(0, n));
    if (r.status.ok()) {
      EXPECT_LE(r.generations.size(), 1u);
      continue;
    }
    EXPECT_TRUE(absl::StrContains(r.status.message(), "offset")) << n << ": " << r.status;
  }
}

}  // namespace
}  // namespace tracer::format
