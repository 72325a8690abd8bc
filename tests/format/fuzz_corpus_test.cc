// Runs the trace reader fuzzer's body over every file of the checked-in seed corpus
// (tests/fuzz/corpus/), so fuzz findings stay fixed in every build, with or without clang.
//
// Corpus naming: valid_* must read without error and yield events; damaged_* must be
// rejected; crash_* are inputs the fuzzer once crashed on (any outcome but a crash is fine).
// TRACER_UPDATE_FUZZ_CORPUS=1 regenerates the valid_* and damaged_* seeds.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/format/test_trace.h"
#include "tests/fuzz/trace_reader_fuzz_body.h"

namespace tracer::format {
namespace {

namespace fs = std::filesystem;
const fs::path kCorpusDir = fs::path(TRACER_SOURCE_DIR) / "tests/fuzz/corpus";

void WriteFile(const fs::path& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string SmallValidTrace(uint64_t seed, bool compress) {
  testing::Rng rng(seed);
  testing::RandomTraceOptions o;
  o.generations = 2;
  o.threads = 3;
  o.max_batches_per_thread = 2;
  o.max_events_per_batch = 20;
  o.big_tables = false;
  o.compress_all = compress;
  o.compress_some = false;
  return testing::EncodeTrace(testing::RandomTrace(rng, o));
}

TEST(FuzzCorpusTest, RegenerateSeedsWhenAsked) {
  const char* v = std::getenv("TRACER_UPDATE_FUZZ_CORPUS");
  if (v == nullptr || std::string(v) != "1") GTEST_SKIP() << "set TRACER_UPDATE_FUZZ_CORPUS=1";
  fs::create_directories(kCorpusDir);
  const std::string plain = SmallValidTrace(1, false);
  const std::string lz4 = SmallValidTrace(2, true);
  WriteFile(kCorpusDir / "valid_plain", plain);
  WriteFile(kCorpusDir / "valid_lz4", lz4);
  WriteFile(kCorpusDir / "valid_tiny", [] {
    testing::Rng rng(4);
    testing::RandomTraceOptions o;
    o.generations = 1;
    o.threads = 1;
    o.max_events_per_batch = 8;
    o.big_tables = false;
    o.compress_some = false;
    return testing::EncodeTrace(testing::RandomTrace(rng, o));
  }());
  WriteFile(kCorpusDir / "damaged_truncated", plain.substr(0, plain.size() * 2 / 3));
  std::string flipped = lz4;
  flipped[flipped.size() / 2] ^= 0x20;
  WriteFile(kCorpusDir / "damaged_flipped", flipped);
  // Damage behind a valid checksum: reaches the parser, as a mutating fuzzer rarely does.
  const size_t gen = kFileHeaderSize;
  const std::string gen_bytes = plain.substr(gen);
  std::string payload = gen_bytes.substr(kGenerationHeaderSize);
  payload[payload.size() - 3] = '\x63';  // an unknown event type near the end of a batch
  WriteFile(kCorpusDir / "damaged_rechecksummed",
            plain.substr(0, gen) + testing::Reframe(gen_bytes, payload));
  WriteFile(kCorpusDir / "damaged_header_only", plain.substr(0, kFileHeaderSize + 20));
}

TEST(FuzzCorpusTest, EveryCorpusFileRunsThroughTheFuzzBody) {
  ASSERT_TRUE(fs::is_directory(kCorpusDir)) << kCorpusDir;
  size_t files = 0, valid = 0, damaged = 0;
  for (const auto& entry : fs::directory_iterator(kCorpusDir)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    const std::string data = ReadFile(entry.path());
    const auto sum = fuzzing::RunTraceReaderFuzzBody(
        reinterpret_cast<const uint8_t*>(data.data()), data.size());
    ++files;
    if (absl::StartsWith(name, "valid_")) {
      ++valid;
      EXPECT_TRUE(sum.ok) << sum.error;
      EXPECT_GT(sum.events, 0u);
    } else if (absl::StartsWith(name, "damaged_")) {
      ++damaged;
      EXPECT_FALSE(sum.ok);
      EXPECT_TRUE(absl::StrContains(sum.error, "file offset")) << sum.error;
    }
  }
  EXPECT_GE(valid, 3u);
  EXPECT_GE(damaged, 3u);
  EXPECT_GE(files, valid + damaged);
}

TEST(FuzzCorpusTest, GoldenTracesAlsoRunThroughTheFuzzBody) {
  const fs::path dir = fs::path(TRACER_SOURCE_DIR) / "testdata/golden";  // and v1.0/
  size_t n = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.path().extension() != ".trace") continue;
    const std::string data = ReadFile(entry.path());
    const auto sum = fuzzing::RunTraceReaderFuzzBody(
        reinterpret_cast<const uint8_t*>(data.data()), data.size());
    EXPECT_TRUE(sum.ok) << entry.path() << ": " << sum.error;
    ++n;
  }
  EXPECT_GE(n, 7u) << "four 2.0 goldens and three 1.0 ones";
}

}  // namespace
}  // namespace tracer::format
