// Damaged traces: every truncation, byte flips everywhere (with and without fixing the
// checksums, so the parser and the event validator face the damage too), version and magic
// checks, and crafted generations whose events refer to undefined table entries.
//
// The contract under test (trace_reader.h): a reader returns exactly the generations before
// the damage, intact, then an error naming the generation and a file offset; or success when
// the damage is in a field readers ignore. Never a crash, never a hang.

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "format/constants.h"
#include "format/event_printer.h"
#include "format/internal/varint.h"
#include "format/trace_reader.h"
#include "gtest/gtest.h"
#include "tests/format/test_trace.h"

namespace tracer::format {
namespace {

using format_internal::AppendVarint;
using format_internal::LoadLE16;
using format_internal::LoadLE32;
using format_internal::StoreLE16;
using format_internal::StoreLE32;
using testing::ModelBatch;
using testing::ModelEvent;
using testing::ModelGeneration;
using testing::ReadAll;
using testing::ReadResult;

using testing::Crc;
using testing::Reframe;

// A realistic small trace: several generations, the odd ones lz4-compressed.
struct Fixture {
  std::vector<ModelGeneration> model;
  std::string bytes;
  std::vector<uint64_t> gen_begin;  // file offset of each generation
  std::vector<uint64_t> gen_end;
  std::vector<std::string> dumps;   // CanonicalDump of each, from a clean read
};

const Fixture& SmallTrace() {
  static const Fixture* f = [] {
    auto* f = new Fixture;
    testing::Rng rng(testing::TestSeed(0xc0441));
    testing::RandomTraceOptions o;
    o.generations = 4;
    o.threads = 3;
    o.max_batches_per_thread = 2;
    o.max_events_per_batch = 30;
    o.big_tables = false;
    f->model = testing::RandomTrace(rng, o);
    f->bytes = testing::EncodeTrace(f->model);
    ReadResult clean = ReadAll(f->bytes);
    EXPECT_TRUE(clean.status.ok()) << clean.status;
    for (const auto& g : clean.generations) {
      f->gen_begin.push_back(g->file_offset);
      f->gen_end.push_back(g->file_offset + g->file_size);
      f->dumps.push_back(testing::CanonicalDump(*g));
    }
    return f;
  }();
  return *f;
}

// Checks the contract for damage at `damage_offset`: the generations that end at or before it
// come back intact, the one containing it does not come back, and the error names it.
// The full comparison decodes every event: on every 8th damage offset and on success; else a comparison of the header fields and table sizes, to stay fast under
// ASan.
void ExpectPrefixThenError(const Fixture& f, const ReadResult& res, uint64_t damage_offset,
                           bool clean_end_allowed) {
  size_t intact = 0;
  while (intact < f.gen_end.size() && f.gen_end[intact] <= damage_offset) ++intact;
  ASSERT_LE(res.generations.size(), f.dumps.size());
  for (size_t i = 0; i < res.generations.size(); ++i) {
    const Generation& g = *res.generations[i];
    if (damage_offset % 8 == 0 || res.status.ok()) {
      ASSERT_EQ(testing::CanonicalDump(g), f.dumps[i]) << "generation " << i;
    } else {
      const ModelGeneration& m = f.model[i];
      ASSERT_EQ(g.seq, m.seq);
      ASSERT_EQ(g.file_offset, f.gen_begin[i]);
      ASSERT_EQ(g.file_offset + g.file_size, f.gen_end[i]);
      ASSERT_EQ(g.clock, m.clock);
      ASSERT_EQ(g.strings().size(), m.strings.size());
      ASSERT_EQ(g.stacks, m.stacks);
      ASSERT_EQ(g.tasks, m.tasks);
      ASSERT_EQ(g.batches.size(), m.batches.size());
    }
  }
  if (res.status.ok()) {
    ASSERT_TRUE(clean_end_allowed) << "damage at " << damage_offset << " went unnoticed";
    ASSERT_EQ(res.generations.size(), intact);
    return;
  }
  ASSERT_EQ(res.generations.size(), intact) << res.status;
  const std::string msg(res.status.message());
  EXPECT_TRUE(absl::StrContains(msg, "generation")) << msg;
  EXPECT_TRUE(absl::StrContains(msg, absl::StrCat("file offset ", f.gen_begin[intact]))) << msg;
}

TEST(CorruptionTest, TruncationAtEveryOffsetKeepsEveryCompleteGeneration) {
  const Fixture& f = SmallTrace();
  ASSERT_GE(f.gen_begin.size(), 4u);
  for (size_t len = 0; len < f.bytes.size(); ++len) {
    SCOPED_TRACE(absl::StrCat("truncated to ", len, " of ", f.bytes.size(), " bytes"));
    ReadResult res = ReadAll(f.bytes.substr(0, len));
    if (len < kFileHeaderSize) {
      ASSERT_FALSE(res.open_status.ok());
      EXPECT_TRUE(absl::StrContains(res.open_status.message(), "file offset"))
          << res.open_status;
      continue;
    }
    ASSERT_TRUE(res.open_status.ok()) << res.open_status;
    const bool at_boundary = len == kFileHeaderSize ||
                             std::find(f.gen_end.begin(), f.gen_end.end(), len) != f.gen_end.end();
    ExpectPrefixThenError(f, res, len, at_boundary);
    if (HasFatalFailure()) return;
    if (!res.status.ok()) {
      EXPECT_EQ(res.status.code(), absl::StatusCode::kDataLoss);
      EXPECT_TRUE(absl::StrContains(res.status.message(), "truncated")) << res.status;
    }
  }
}

TEST(CorruptionTest, ByteFlipsAnywhereAreDetectedAndEarlierGenerationsSurvive) {
  const Fixture& f = SmallTrace();
  for (size_t at = 0; at < f.bytes.size(); ++at) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      SCOPED_TRACE(absl::StrCat("byte ", at, " ^= ", mask));
      std::string damaged = f.bytes;
      damaged[at] ^= static_cast<char>(mask);
      ReadResult res = ReadAll(damaged);
      if (at < 8) {  // magic
        EXPECT_EQ(res.open_status.code(), absl::StatusCode::kInvalidArgument);
        EXPECT_TRUE(absl::StrContains(res.open_status.message(), "bad magic"));
      } else if (at < 10) {  // major version: 0 or newer, both refused
        EXPECT_EQ(res.open_status.code(), absl::StatusCode::kFailedPrecondition);
        EXPECT_TRUE(absl::StrContains(res.open_status.message(), "not supported"));
      } else if (at >= 12 && at < 14) {  // file flags a reader must understand: refused
        EXPECT_EQ(res.open_status.code(), absl::StatusCode::kFailedPrecondition);
        EXPECT_TRUE(absl::StrContains(res.open_status.message(), "unknown flags"))
            << res.open_status;
      } else if (at < kFileHeaderSize) {  // minor version and ignorable file flags: readable
        ASSERT_TRUE(res.status.ok()) << res.status;
        ExpectPrefixThenError(f, res, f.bytes.size(), true);
      } else {
        ASSERT_TRUE(res.open_status.ok());
        ExpectPrefixThenError(f, res, at, false);
        if (HasFatalFailure()) return;
      }
    }
  }
}

// Prints every event of every generation, as the dumpers would: must not crash on anything a
// reader accepted.
size_t PrintAll(const ReadResult& res) {
  std::string out;
  size_t n = 0;
  for (const auto& g : res.generations) {
    MergedGenerationReader m(*g);
    Event e;
    while (m.Next(&e)) {
      AppendEventText(*g, e, &out);
      AppendEventJson(*g, e, &out);
      out.clear();
      ++n;
    }
    EXPECT_TRUE(m.status().ok()) << "an accepted generation failed to merge: " << m.status();
  }
  return n;
}

TEST(CorruptionTest, PayloadDamageBehindValidChecksumsIsCaughtByTheParser) {
  // Uncompressed generations only, so each payload byte is a byte the parser reads.
  testing::Rng rng(testing::TestSeed(0xbad));
  testing::RandomTraceOptions o;
  o.generations = 2;
  o.threads = 2;
  o.max_batches_per_thread = 2;
  o.max_events_per_batch = 25;
  o.compress_some = false;
  o.big_tables = false;
  const std::vector<ModelGeneration> model = testing::RandomTrace(rng, o);
  std::string first;
  testing::AppendGeneration(model[0], &first);
  std::string second;
  testing::AppendGeneration(model[1], &second);
  std::string header;
  AppendFileHeader(&header);
  const std::string payload = second.substr(kGenerationHeaderSize);
  const uint64_t second_offset = header.size() + first.size();
  size_t accepted = 0;
  size_t rejected = 0;
  for (size_t at = 0; at < payload.size(); ++at) {
    for (uint8_t mask : {0x01, 0x40, 0xff}) {
      SCOPED_TRACE(absl::StrCat("payload byte ", at, " ^= ", mask));
      std::string p = payload;
      p[at] ^= static_cast<char>(mask);
      ReadResult res = ReadAll(absl::StrCat(header, first, Reframe(second, p)));
      ASSERT_GE(res.generations.size(), 1u) << res.status;
      if (res.status.ok()) {
        ++accepted;
        PrintAll(res);
      } else {
        ++rejected;
        ASSERT_EQ(res.generations.size(), 1u);
        const std::string msg(res.status.message());
        ASSERT_TRUE(absl::StrContains(msg, "generation")) << msg;
        ASSERT_TRUE(absl::StrContains(msg, "file offset")) << msg;
        ASSERT_TRUE(absl::StrContains(msg, absl::StrCat("file offset ", second_offset))) << msg;
      }
    }
  }
  // Both outcomes must occur, or the test is not reaching the parser.
  EXPECT_GT(accepted, 0u);
  EXPECT_GT(rejected, payload.size());
}

TEST(CorruptionTest, NewerMajorVersionIsRejectedWithAClearMessage) {
  std::string bytes = testing::EncodeTrace(SmallTrace().model);
  StoreLE16(bytes.data() + 8, kVersionMajor + 1);
  StoreLE16(bytes.data() + 10, 3);
  ReadResult res = ReadAll(bytes);
  EXPECT_EQ(res.open_status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(res.open_status.message(),
                                absl::StrCat("version ", kVersionMajor + 1, ".3 is not supported")))
      << res.open_status;
  EXPECT_TRUE(absl::StrContains(res.open_status.message(), "newer")) << res.open_status;
}

TEST(CorruptionTest, NewerMinorVersionIsRead) {
  const Fixture& f = SmallTrace();
  std::string bytes = f.bytes;
  StoreLE16(bytes.data() + 10, kVersionMinor + 7);
  ReadResult res = ReadAll(bytes);
  ASSERT_TRUE(res.status.ok()) << res.status;
  ExpectPrefixThenError(f, res, bytes.size(), true);
}

// File-header flags: the high half is advisory (a later minor may define those bits: ignored),
// the low half must be understood (refused, naming the flags). 1.0 defines none.
TEST(CorruptionTest, FileFlagsInTheIgnorableHalfAreReadAndOthersRefused) {
  const Fixture& f = SmallTrace();
  std::string plain;
  AppendFileHeader(&plain);
  EXPECT_EQ(LoadLE32(plain.data() + 12), 0u) << "the writer sets no flag";
  for (uint32_t flags : {0x00010000u, 0x80000000u, 0xffff0000u}) {
    SCOPED_TRACE(flags);
    std::string bytes = f.bytes;
    StoreLE32(bytes.data() + 12, flags);
    auto reader = TraceReader::FromSource(MakeStringSource(bytes));
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_EQ((*reader)->file_flags(), flags);
    ReadResult res = ReadAll(bytes);
    ASSERT_TRUE(res.status.ok()) << res.status;
    ExpectPrefixThenError(f, res, bytes.size(), true);
  }
  for (uint32_t flags : {0x00000001u, 0x00008000u, 0x80000004u}) {
    SCOPED_TRACE(flags);
    std::string bytes = f.bytes;
    StoreLE32(bytes.data() + 12, flags);
    ReadResult res = ReadAll(bytes);
    EXPECT_EQ(res.open_status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE(absl::StrContains(
        res.open_status.message(),
        absl::StrFormat("trace file flags 0x%08x at file offset 12: unknown flags 0x%08x", flags,
                        flags & 0xffff)))
        << res.open_status;
    EXPECT_TRUE(absl::StrContains(res.open_status.message(), "newer version")) << res.open_status;
  }
}

TEST(CorruptionTest, BadMagicIsRejected) {
  for (const std::string& bytes : {std::string(), std::string("GIF89a"),
                                  std::string("\x89TRC\r\n\x1a\r\x01\x00\x00\x00\x00\x00\x00\x00", 16)}) {
    ReadResult res = ReadAll(bytes);
    EXPECT_EQ(res.open_status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(res.open_status.message(), "not a tracer trace"));
    EXPECT_TRUE(absl::StrContains(res.open_status.message(), "file offset 0"));
  }
}

TEST(CorruptionTest, GarbageAfterTheLastGenerationIsReportedNotIgnored) {
  const Fixture& f = SmallTrace();
  ReadResult res = ReadAll(f.bytes + std::string(100, 'z'));
  EXPECT_EQ(res.generations.size(), f.dumps.size());
  EXPECT_EQ(res.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(res.status.message(), absl::StrCat("file offset ", f.bytes.size())))
      << res.status;
}

// One uncompressed generation with a string, a stack, a label set and one batch.
ModelGeneration SimpleGeneration() {
  ModelGeneration g;
  g.seq = 42;
  g.clock.ticks_per_second = 1000;
  g.strings = {{1, "read"}, {2, "main"}};
  g.stacks = {Stack{5, {Frame{0x1000, 2, 0, 10}}}};
  g.label_sets = {LabelSet{7, {{1, 2}}}};
  ModelEvent m;
  m.type = EventType::kSyscallBegin;
  m.tick = 10;
  m.args = {1, 5};
  g.batches.push_back(ModelBatch{77, 0, 0, {m}});
  return g;
}

TEST(CorruptionTest, UnknownSectionKindIsSkipped) {
  std::string gen;
  testing::AppendGeneration(SimpleGeneration(), &gen);
  // A later minor version's section (kind 200) before the batches: length-prefixed, skipped.
  std::string payload = gen.substr(kGenerationHeaderSize);
  std::string extra = "\xc8";
  AppendVarint(&extra, 5);
  extra += "hello";
  std::string header;
  AppendFileHeader(&header);
  ReadResult res = ReadAll(header + Reframe(gen, extra + payload + extra));
  ASSERT_TRUE(res.status.ok()) << res.status;
  ASSERT_EQ(res.generations.size(), 1u);
  EXPECT_EQ(res.generations[0]->String(1), "read");
  ASSERT_EQ(res.generations[0]->batches.size(), 1u);
  EXPECT_EQ(res.generations[0]->batches[0].num_events, 1u);
}

TEST(CorruptionTest, IgnorableGenerationFlagsAreAcceptedAndUnknownOnesRejected) {
  std::string gen;
  testing::AppendGeneration(SimpleGeneration(), &gen);
  std::string header;
  AppendFileHeader(&header);
  const std::string payload = gen.substr(kGenerationHeaderSize);
  ReadResult ok = ReadAll(header + Reframe(gen, payload, 0x0100));
  EXPECT_TRUE(ok.status.ok()) << ok.status;
  ReadResult bad = ReadAll(header + Reframe(gen, payload, 0x0004));
  EXPECT_EQ(bad.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(bad.status.message(), "unknown flags 0x0004")) << bad.status;
  EXPECT_TRUE(absl::StrContains(bad.status.message(), "file offset 16")) << bad.status;
}

// The header's num_batches must match the batch sections of the payload: a mismatch behind
// a valid header checksum is damage, named with the generation.
TEST(CorruptionTest, NumBatchesDisagreeingWithThePayloadIsRejected) {
  std::string gen;
  testing::AppendGeneration(SimpleGeneration(), &gen);  // one batch
  ASSERT_EQ(LoadLE32(gen.data() + 44), 1u);
  std::string header;
  AppendFileHeader(&header);
  for (uint32_t claimed : {0u, 2u, 0xffffffffu}) {
    SCOPED_TRACE(claimed);
    std::string g = gen;
    StoreLE32(g.data() + 44, claimed);
    StoreLE32(g.data() + 52, Crc(absl::string_view(g.data(), 52)));
    ReadResult res = ReadAll(header + g);
    ASSERT_FALSE(res.status.ok());
    EXPECT_EQ(res.status.code(), absl::StatusCode::kDataLoss);
    const std::string msg(res.status.message());
    EXPECT_TRUE(absl::StrContains(msg, "generation 42 at file offset 16")) << msg;
    EXPECT_TRUE(absl::StrContains(
        msg, absl::StrCat("num_batches is ", claimed, " but the payload holds 1 batch")))
        << msg;
  }
  // The batch section dropped from the payload (framing and checksums otherwise right).
  ModelGeneration no_batch = SimpleGeneration();
  no_batch.batches.clear();
  std::string other;
  testing::AppendGeneration(no_batch, &other);
  ReadResult res = ReadAll(header + Reframe(gen, other.substr(kGenerationHeaderSize)));
  EXPECT_TRUE(absl::StrContains(res.status.message(), "num_batches is 1 but the payload holds 0"))
      << res.status;
}

// Builds a one-generation trace whose only batch holds `events` (already encoded), through
// GenerationBuilder so every checksum is right and only event validation can object.
std::string TraceWithEvents(const std::string& events, uint64_t num_events, bool compress) {
  ModelGeneration g = SimpleGeneration();
  GenerationBuilder gb(g.seq);
  gb.SetClock(g.clock);
  for (const auto& [id, s] : g.strings) gb.AddString(id, s);
  for (const Stack& s : g.stacks) gb.AddStack(s.id, s.frames);
  for (const LabelSet& l : g.label_sets) gb.AddLabelSet(l.id, l.labels);
  if (compress) gb.AddString(3, std::string(2000, 'a'));  // so that lz4 pays off
  gb.AddBatch(/*thread=*/77, /*seq=*/0, /*base_tick=*/0, /*num_events=*/1, std::string("\x01\x00", 2));
  gb.AddBatch(/*thread=*/88, /*seq=*/0, /*base_tick=*/100, num_events, events);
  std::string out;
  AppendFileHeader(&out);
  gb.AppendTo(&out, compress);
  return out;
}

struct BadEvent {
  const char* name;
  std::string events;
  uint64_t num_events;
  const char* message;
};

std::vector<BadEvent> BadEvents() {
  auto enc = [](auto fill) {
    EventEncoder e(100);
    e.Append(EventType::kThreadStart, 100, {});  // one good event first: offset is not 0
    fill(e);
    return e.data();
  };
  return {
      {"undefined string", enc([](EventEncoder& e) { e.Append(EventType::kSyscallBegin, 101, {99, 5}); }),
       2, "undefined string id 99"},
      {"undefined stack", enc([](EventEncoder& e) { e.Append(EventType::kSyscallBegin, 101, {1, 6}); }),
       2, "undefined stack id 6"},
      {"undefined label set",
       enc([](EventEncoder& e) { e.Append(EventType::kLabels, 101, {3, 8}); }), 2,
       "undefined label set 8"},
      {"bad reason",
       enc([](EventEncoder& e) { e.Append(EventType::kTaskBlock, 101, {3, 12, 0, 0}); }), 2,
       "invalid block reason 12"},
      {"bad phase flags",
       enc([](EventEncoder& e) { e.Append(EventType::kPhaseBegin, 101, {1, 4}); }), 2,
       "unknown phase flags 4"},
      {"unknown type", enc([](EventEncoder&) {}) + std::string("\x63\x00", 2), 2,
       "unknown event type 99"},
      {"fewer events than declared",
       enc([](EventEncoder& e) { e.Append(EventType::kLog, 101, {3, 1}, "hello world"); }), 3,
       "batch ends early"},
      {"more events than declared",
       enc([](EventEncoder& e) { e.Append(EventType::kThreadStop, 101, {}); }), 1,
       "more events than declared"},
      {"bytes overrun",
       enc([](EventEncoder&) {}) + std::string("\x11\x00\x01\x01\x7f", 5) + "abc", 2,
       "inline bytes overrun"},
      {"truncated argument", enc([](EventEncoder&) {}) + std::string("\x07\x00\x80", 3), 2,
       "bad argument varint"},
      {"tick overflow",
       enc([](EventEncoder&) {}) + "\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 2,
       "timestamp overflows"},
  };
}

TEST(CorruptionTest, InvalidEventsAreRejectedNamingGenerationBatchAndOffset) {
  for (bool compress : {false, true}) {
    for (const BadEvent& b : BadEvents()) {
      SCOPED_TRACE(absl::StrCat(b.name, compress ? " (lz4)" : ""));
      const std::string bytes = TraceWithEvents(b.events, b.num_events, compress);
      ReadResult res = ReadAll(bytes);
      ASSERT_FALSE(res.status.ok());
      EXPECT_TRUE(res.generations.empty());
      EXPECT_EQ(res.status.code(), absl::StatusCode::kDataLoss);
      const std::string msg(res.status.message());
      EXPECT_TRUE(absl::StrContains(msg, b.message)) << msg;
      EXPECT_TRUE(absl::StrContains(msg, "generation 42 at file offset 16")) << msg;
      EXPECT_TRUE(absl::StrContains(msg, "batch 1 (thread 88)")) << msg;
      if (compress) {
        EXPECT_TRUE(absl::StrContains(msg, "lz4-decompressed payload")) << msg;
      } else {
        // The file offset of the bad event itself (the good event before it is 2 bytes).
        size_t at = bytes.find(b.events) + 2;
        int index = 1;
        if (std::string(b.name) == "fewer events than declared") {  // reported at the end
          at = bytes.find(b.events) + b.events.size();
          index = 2;
        }
        EXPECT_TRUE(absl::StrContains(msg, absl::StrCat("event ", index, " at file offset ", at)))
            << msg;
      }

      // Without event validation the generation is returned, and the batch reader reports the
      // same error when the events are decoded.
      ReadResult lax = ReadAll(bytes, /*validate_events=*/false);
      ASSERT_TRUE(lax.status.ok()) << lax.status;
      ASSERT_EQ(lax.generations.size(), 1u);
      BatchEventReader r(*lax.generations[0], 1);
      Event e;
      while (r.Next(&e)) {
      }
      EXPECT_EQ(r.status(), res.status);
      MergedGenerationReader m(*lax.generations[0]);
      while (m.Next(&e)) {
      }
      EXPECT_EQ(m.status(), res.status);
    }
  }
}

// Varints must be minimal. An overlong one (last byte 0x00 after a continuation byte) in an
// event is rejected by event validation, both near the end of a batch (bounds-checked decode)
// and far from it (the unchecked decoders with kCanonical), naming generation, batch and
// the event's file offset; BatchEventReader on an unvalidated generation reports the same.
TEST(CorruptionTest, OverlongVarintsInEventsAreRejected) {
  struct Case {
    const char* name;
    std::string event;  // the bad event, encoded by hand
  };
  const Case cases[] = {
      {"delta", std::string("\x07\x80\x00\x05", 4)},                // TaskYield, delta 0 as 80 00
      {"id argument", std::string("\x07\x01\x85\x00", 4)},          // TaskYield, task 5 as 85 00
      {"three-byte argument", std::string("\x07\x01\x85\x80\x00", 5)},
      {"string argument", std::string("\x09\x01\x81\x00\x00", 5)},  // SyscallBegin, name 1
      {"bytes length", std::string("\x11\x01\x00\x01\x83\x00" "abc", 9)},  // Log, length 3
  };
  const std::string good("\x01\x00", 2);  // ThreadStart, delta 0
  for (const Case& c : cases) {
    for (int padding : {0, 60}) {  // 60 events after it: far from the end, the fast decoders
      for (bool compress : {false, true}) {
        SCOPED_TRACE(absl::StrCat(c.name, ", ", padding, " events after it",
                                  compress ? " (lz4)" : ""));
        std::string events = good + c.event;
        for (int i = 0; i < padding; ++i) events += good;
        const std::string bytes = TraceWithEvents(events, 2 + padding, compress);
        ReadResult res = ReadAll(bytes);
        ASSERT_FALSE(res.status.ok());
        EXPECT_EQ(res.status.code(), absl::StatusCode::kDataLoss);
        const std::string msg(res.status.message());
        EXPECT_TRUE(absl::StrContains(msg, "overlong (non-canonical)")) << msg;
        EXPECT_TRUE(absl::StrContains(msg, "generation 42 at file offset 16")) << msg;
        EXPECT_TRUE(absl::StrContains(msg, "batch 1 (thread 88), event 1 at ")) << msg;
        if (!compress) {
          EXPECT_TRUE(absl::StrContains(
              msg, absl::StrCat("event 1 at file offset ", bytes.find(events) + good.size())))
              << msg;
        }
        ReadResult lax = ReadAll(bytes, /*validate_events=*/false);
        ASSERT_TRUE(lax.status.ok()) << lax.status;
        BatchEventReader r(*lax.generations[0], 1);
        Event e;
        while (r.Next(&e)) {
        }
        EXPECT_EQ(r.status(), res.status);
      }
    }
  }
}

// The same for the varints of the payload's framing and tables.
TEST(CorruptionTest, OverlongVarintsInSectionsAndTablesAreRejected) {
  auto section = [](uint8_t kind, const std::string& body) {
    std::string s(1, static_cast<char>(kind));
    AppendVarint(&s, body.size());
    return s + body;
  };
  const std::string clock = section(1, std::string("\x01\x00\x00\x00", 4));
  struct Case {
    const char* name;
    std::string payload;
    const char* message;
  };
  const Case cases[] = {
      {"section length", clock + std::string("\x02\x83\x00\x01\x01\x00", 6),
       "overlong (non-canonical) section length varint"},
      {"string id", clock + section(2, std::string("\x01\x81\x00\x01x", 5)),
       "overlong (non-canonical) varint in string table entry"},
      {"string count", clock + section(2, std::string("\x81\x00\x01\x01x", 5)),
       "overlong (non-canonical) varint in string table entry"},
      {"clock", section(1, std::string("\x81\x00\x00\x00\x00", 5)),
       "overlong (non-canonical) varint in clock section"},
      {"batch header", clock + section(9, std::string("\x07\x00\x00\x81\x00\x02\x01\x00", 8)),
       "batch 0 header has an overlong (non-canonical) varint"},
  };
  std::string gen;
  testing::AppendGeneration(SimpleGeneration(), &gen);
  std::string header;
  AppendFileHeader(&header);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ReadResult res = ReadAll(header + Reframe(gen, c.payload));
    ASSERT_FALSE(res.status.ok());
    EXPECT_EQ(res.status.code(), absl::StatusCode::kDataLoss);
    const std::string msg(res.status.message());
    EXPECT_TRUE(absl::StrContains(msg, c.message)) << msg;
    EXPECT_TRUE(absl::StrContains(msg, "generation 42 at file offset 16")) << msg;
  }
}

// `gen` (one encoded generation) with `extension` appended to its header, as a later minor
// version may do: header_size grows and the header CRC covers the new bytes too.
std::string ExtendHeader(absl::string_view gen, absl::string_view extension) {
  std::string h(gen.substr(0, kGenerationHeaderSize));
  StoreLE16(h.data() + 4, static_cast<uint16_t>(kGenerationHeaderSize + extension.size()));
  uLong crc = crc32(0, reinterpret_cast<const Bytef*>(h.data()), 52);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(extension.data()), extension.size());
  StoreLE32(h.data() + 52, static_cast<uint32_t>(crc));
  return absl::StrCat(h, extension, gen.substr(kGenerationHeaderSize));
}

TEST(CorruptionTest, LongerGenerationHeaderOfANewerMinorIsSkipped) {
  const Fixture& f = SmallTrace();
  ASSERT_EQ(f.gen_begin.size(), 4u);
  const size_t ext_size[4] = {12, 0, 200, 1};  // generation 2 is lz4-compressed
  std::string bytes = f.bytes.substr(0, kFileHeaderSize);
  for (size_t i = 0; i < 4; ++i) {
    const std::string gen = f.bytes.substr(f.gen_begin[i], f.gen_end[i] - f.gen_begin[i]);
    bytes += ExtendHeader(gen, std::string(ext_size[i], static_cast<char>(0xa0 + i)));
  }
  ReadResult res = ReadAll(bytes);
  ASSERT_TRUE(res.status.ok()) << res.status;
  ASSERT_EQ(res.generations.size(), 4u);
  uint64_t offset = kFileHeaderSize;
  for (size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    const Generation& g = *res.generations[i];
    EXPECT_EQ(g.seq, f.model[i].seq);
    EXPECT_EQ(g.file_offset, offset);
    EXPECT_EQ(g.header_size, kGenerationHeaderSize + ext_size[i]);
    EXPECT_EQ(g.file_size, f.gen_end[i] - f.gen_begin[i] + ext_size[i]);
    offset += g.file_size;
    // Everything but the first line (file offset and size) is what the plain trace holds.
    const std::string dump = testing::CanonicalDump(g);
    EXPECT_EQ(dump.substr(dump.find('\n')), f.dumps[i].substr(f.dumps[i].find('\n')));
  }

  // Error offsets count the extension: the bad event's own file offset is reported.
  const std::string events = std::string("\x01\x00", 2) + std::string("\x09\x01\x63\x00", 4);
  const std::string plain = TraceWithEvents(events, 2, /*compress=*/false);
  const std::string extended =
      plain.substr(0, kFileHeaderSize) + ExtendHeader(plain.substr(kFileHeaderSize), "12345678");
  res = ReadAll(extended);
  EXPECT_TRUE(absl::StrContains(
      res.status.message(),
      absl::StrCat("event 1 at file offset ", extended.find(events) + 2, ": undefined string id 99")))
      << res.status;

  // The extension is under the header checksum.
  std::string flipped = bytes;
  flipped[kFileHeaderSize + kGenerationHeaderSize + 3] ^= 1;
  res = ReadAll(flipped);
  EXPECT_TRUE(res.generations.empty());
  EXPECT_TRUE(absl::StrContains(res.status.message(), "header checksum mismatch")) << res.status;

  // A file that ends inside the extension is a truncated header.
  res = ReadAll(bytes.substr(0, kFileHeaderSize + kGenerationHeaderSize + 5));
  EXPECT_EQ(res.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(res.status.message(), "truncated header (61 of 68 bytes)"))
      << res.status;
}

TEST(CorruptionTest, GenerationHeaderSmallerThanKnownIsRejected) {
  std::string gen;
  testing::AppendGeneration(SimpleGeneration(), &gen);
  std::string header;
  AppendFileHeader(&header);
  for (uint16_t size : {0, 40, 55}) {
    SCOPED_TRACE(size);
    std::string g = gen;
    StoreLE16(g.data() + 4, size);
    StoreLE32(g.data() + 52, Crc(absl::string_view(g.data(), 52)));
    ReadResult res = ReadAll(header + g);
    EXPECT_EQ(res.status.code(), absl::StatusCode::kDataLoss);
    EXPECT_TRUE(absl::StrContains(res.status.message(),
                                  absl::StrCat("generation #0 at file offset 16: header size ",
                                               size, ", smaller than the 56 bytes")))
        << res.status;
  }
}

TEST(CorruptionTest, TableDamageBehindValidChecksumsIsNamed) {
  struct Case {
    const char* name;
    std::function<void(GenerationBuilder&)> fill;
    const char* message;
  };
  const Case cases[] = {
      {"duplicate string", [](GenerationBuilder& b) { b.AddString(1, "a"); b.AddString(1, "b"); },
       "duplicate string id 1"},
      {"string id 0", [](GenerationBuilder& b) { b.AddString(0, "a"); }, "string id 0 out of range"},
      {"huge string id", [](GenerationBuilder& b) { b.AddString(kMaxTableId + 1, "a"); },
       "out of range"},
      {"thread name undefined", [](GenerationBuilder& b) { b.AddThread({5, 9}); },
       "thread 5 refers to undefined string 9"},
      {"stack frame undefined",
       [](GenerationBuilder& b) {
         Frame f{1, 3, 0, 0};
         b.AddStack(2, {&f, 1});
       },
       "stack 2 refers to undefined string 3"},
      {"too many frames",
       [](GenerationBuilder& b) {
         std::vector<Frame> frames(kMaxStackFrames + 1);
         b.AddStack(2, frames);
       },
       "frames (max"},
      {"task label set undefined",
       [](GenerationBuilder& b) {
         TaskState t;
         t.id = 4;
         t.labels = 6;
         b.AddTask(t);
       },
       "task 4 refers to undefined label set 6"},
      {"task status invalid",
       [](GenerationBuilder& b) {
         TaskState t;
         t.id = 4;
         t.status = TaskStatus::kNumTaskStatuses;
         b.AddTask(t);
       },
       "invalid status"},
      {"loss backwards", [](GenerationBuilder& b) { b.AddLoss({1, 1, 10, 9}); },
       "ends before it begins"},
      {"mapping backwards", [](GenerationBuilder& b) { b.AddMapping({10, 9, 0, 0, 0}); },
       "mapping ends before it starts"},
      {"zero frequency", [](GenerationBuilder& b) { b.SetClock({}); }, "clock frequency is zero"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    GenerationBuilder gb(3);
    gb.SetClock({1, 0, 0, 0});
    c.fill(gb);
    std::string bytes;
    AppendFileHeader(&bytes);
    gb.AppendTo(&bytes, false);
    ReadResult res = ReadAll(bytes);
    ASSERT_FALSE(res.status.ok());
    const std::string msg(res.status.message());
    EXPECT_TRUE(absl::StrContains(msg, c.message)) << msg;
    EXPECT_TRUE(absl::StrContains(msg, "generation 3 at file offset 16")) << msg;
  }
}

TEST(CorruptionTest, ErrorsAreSticky) {
  const Fixture& f = SmallTrace();
  std::string damaged = f.bytes;
  damaged[f.gen_begin[1] + 60] ^= 1;
  auto reader = TraceReader::FromSource(MakeStringSource(damaged));
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE((*reader)->Next().ok());
  absl::Status first = (*reader)->Next().status();
  ASSERT_FALSE(first.ok());
  for (int i = 0; i < 3; ++i) EXPECT_EQ((*reader)->Next().status(), first);
}

TEST(CorruptionTest, ImplausibleLengthsAreRejectedBeforeAllocating) {
  std::string gen;
  testing::AppendGeneration(SimpleGeneration(), &gen);
  std::string header;
  AppendFileHeader(&header);
  // An lz4 generation claiming a raw size no lz4 block of its stored size can expand to.
  std::string h = gen.substr(0, kGenerationHeaderSize);
  StoreLE16(h.data() + 6, kGenFlagLz4);
  StoreLE32(h.data() + 36, kMaxPayloadBytes);
  StoreLE32(h.data() + 52, Crc(absl::string_view(h.data(), 52)));
  ReadResult res = ReadAll(header + h + gen.substr(kGenerationHeaderSize));
  EXPECT_EQ(res.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(res.status.message(), "implausible payload lengths")) << res.status;
  // A stored length past kMaxPayloadBytes.
  h = gen.substr(0, kGenerationHeaderSize);
  StoreLE32(h.data() + 32, kMaxPayloadBytes + 1);
  StoreLE32(h.data() + 36, kMaxPayloadBytes + 1);
  StoreLE32(h.data() + 52, Crc(absl::string_view(h.data(), 52)));
  res = ReadAll(header + h);
  EXPECT_TRUE(absl::StrContains(res.status.message(), "implausible payload lengths")) << res.status;
}

}  // namespace
}  // namespace tracer::format
