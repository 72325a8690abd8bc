// Splitting a trace at generation boundaries: every piece reads alone, the pieces' events
// together are the original's, each mode cuts where it says, and a damaged trace keeps the
// pieces before the damage.

#include "tools/analysis/split.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "format/event_printer.h"
#include "format/event_stream.h"
#include "format/trace_reader.h"
#include "gtest/gtest.h"
#include "tests/tools/request_trace.h"

namespace tracer::analysis {
namespace {

// `n` generations of 10 ms each, generation g with g + 1 events on `main`.
std::string MakeTrace(int n) {
  std::string out;
  format::AppendFileHeader(&out);
  for (int g = 0; g < n; ++g) {
    format::GenerationBuilder gb(g + 1);
    gb.SetClock({kNsClock, 0, kMono0, kReal0});
    gb.SetTimeSpan(MonoUs(10'000 * g), MonoUs(10'000 * g + g));
    AddRequestTables(&gb);
    format::EventEncoder enc(0);
    for (int i = 0; i <= g; ++i) {
      enc.Append(EventType::kCounter, Us(10'000 * g + i), {kSRead, static_cast<uint64_t>(i)});
    }
    gb.AddBatch(kMain, 0, enc.base_tick(), enc.num_events(), enc.data());
    gb.AppendTo(&out, /*compress=*/false);
  }
  return out;
}

class SplitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/split_test.", getpid(), ".",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    src_ = dir_ + ".trace";
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    std::filesystem::remove(src_, ignored);
  }
  void Write(const std::string& data) {
    std::ofstream(src_, std::ios::binary) << data;
    chmod(src_.c_str(), 0600);
  }
  // Every event of `path` as text, one per line; empty and a failure if it does not read.
  static std::string Events(const std::string& path) {
    auto reader = format::TraceReader::Open(path);
    EXPECT_TRUE(reader.ok()) << path << ": " << reader.status();
    if (!reader.ok()) return "";
    format::EventStream stream(reader->get());
    std::string out;
    format::Event e;
    while (stream.Next(&e)) {
      format::AppendEventText(stream.generation(), e, &out);
      out.push_back('\n');
    }
    EXPECT_TRUE(stream.status().ok()) << path << ": " << stream.status();
    return out;
  }
  std::string dir_, src_;
};

TEST_F(SplitTest, PiecesReadAloneAndTogetherHoldEveryEvent) {
  Write(MakeTrace(5));
  SplitOptions options;
  options.generations = 2;
  absl::StatusOr<SplitResult> r = SplitTrace(src_, options, dir_);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->error.ok());
  ASSERT_EQ(r->pieces.size(), 3u);
  EXPECT_EQ(r->pieces[0].generations, 2u);
  EXPECT_EQ(r->pieces[2].generations, 1u);
  std::string joined;
  for (const SplitPiece& p : r->pieces) {
    joined += Events(p.path);
    struct stat st;
    ASSERT_EQ(stat(p.path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "the source's permissions";
  }
  EXPECT_EQ(joined, Events(src_));
  EXPECT_EQ(r->pieces[1].path, absl::StrCat(dir_, "/split_test.", getpid(),
                                            ".PiecesReadAloneAndTogetherHoldEveryEvent.001.trace"));
}

TEST_F(SplitTest, EveryCutsByTimeAndBytesBySize) {
  const std::string data = MakeTrace(6);
  Write(data);
  SplitOptions every;
  every.every_ns = 25'000'000;  // generations begin every 10 ms: 0, 10, 20 | 30, 40, 50
  absl::StatusOr<SplitResult> r = SplitTrace(src_, every, dir_ + "/every");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->pieces.size(), 2u);
  EXPECT_EQ(r->pieces[0].generations, 3u);

  SplitOptions bytes;
  bytes.bytes = data.size() / 2;
  r = SplitTrace(src_, bytes, dir_ + "/bytes");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_GE(r->pieces.size(), 2u);
  for (const SplitPiece& p : r->pieces) {
    EXPECT_TRUE(p.bytes <= bytes.bytes || p.generations == 1) << p.path;
  }
  // A limit below one generation: each generation is a piece alone.
  bytes.bytes = 1;
  r = SplitTrace(src_, bytes, dir_ + "/tiny");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->pieces.size(), 6u);
}

TEST_F(SplitTest, DamageKeepsThePiecesBeforeIt) {
  std::string data = MakeTrace(4);
  data.resize(data.size() - 3);  // the last generation is truncated
  Write(data);
  SplitOptions options;
  options.generations = 1;
  absl::StatusOr<SplitResult> r = SplitTrace(src_, options, dir_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->error.ok());
  ASSERT_EQ(r->pieces.size(), 3u);
  for (const SplitPiece& p : r->pieces) EXPECT_FALSE(Events(p.path).empty());
}

TEST_F(SplitTest, ExactlyOneModeIsRequired) {
  Write(MakeTrace(1));
  EXPECT_FALSE(SplitTrace(src_, {}, dir_).ok());
  SplitOptions two;
  two.generations = 1;
  two.bytes = 10;
  EXPECT_FALSE(SplitTrace(src_, two, dir_).ok());
}

}  // namespace
}  // namespace tracer::analysis
