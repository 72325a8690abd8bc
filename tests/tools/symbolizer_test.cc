// The symbolizer on this test binary (compiled with -g): return addresses of calls at known
// lines, through a mapping made the way the recorder makes it (tracer/internal/mappings.cc),
// and the reasons it gives when it cannot.

#include "tools/analysis/symbolizer.h"

#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "format/byte_source.h"
#include "format/trace_reader.h"
#include "format/trace_writer.h"
#include "gtest/gtest.h"
#include "tools/analysis/stacks.h"

namespace tracer::analysis {
namespace {

using Symbol = Symbolizer::Symbol;

// A mapping with its strings, for MakeGeneration.
struct TestMapping {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t offset = 0;
  std::string path;
  std::string build_id;  // hex; empty: none
};

std::string SelfPath() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, n) : std::string();
}

// The loaded object whose executable segment holds `addr`, as the recorder reads it: [lowest,
// highest) address of its PF_X PT_LOADs, the p_offset of the last one, NT_GNU_BUILD_ID in hex.
TestMapping MappingContaining(uint64_t addr) {
  struct Search {
    uint64_t addr;
    TestMapping found;
  } search{addr, {}};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* search = static_cast<Search*>(data);
        TestMapping m;
        m.start = UINT64_MAX;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
            m.start = std::min<uint64_t>(m.start, info->dlpi_addr + ph.p_vaddr);
            m.end = std::max<uint64_t>(m.end, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
            m.offset = ph.p_offset;
          } else if (ph.p_type == PT_NOTE) {
            const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
            const char* end = p + ph.p_memsz;
            while (p + sizeof(ElfW(Nhdr)) <= end) {
              const auto* nh = reinterpret_cast<const ElfW(Nhdr)*>(p);
              const char* name = p + sizeof(ElfW(Nhdr));
              const char* desc = name + ((nh->n_namesz + 3) & ~3u);
              if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                  std::memcmp(name, "GNU", 4) == 0) {
                static const char kHex[] = "0123456789abcdef";
                for (uint32_t k = 0; k < nh->n_descsz; ++k) {
                  m.build_id.push_back(kHex[static_cast<unsigned char>(desc[k]) >> 4]);
                  m.build_id.push_back(kHex[static_cast<unsigned char>(desc[k]) & 15]);
                }
              }
              p = desc + ((nh->n_descsz + 3) & ~3u);
            }
          }
        }
        if (search->addr < m.start || search->addr >= m.end) return 0;
        const bool exe = info->dlpi_name == nullptr || info->dlpi_name[0] == '\0';
        m.path = exe ? SelfPath() : std::string(info->dlpi_name);
        search->found = m;
        return 1;
      },
      &search);
  return search.found;
}

// A generation with these mappings (and what `extra` adds: strings from id 1000, stacks),
// written with GenerationBuilder and read back.
std::shared_ptr<const format::Generation> MakeGeneration(
    const std::vector<TestMapping>& maps, uint64_t seq = 1,
    const std::function<void(format::GenerationBuilder&)>& extra = nullptr) {
  std::string out;
  format::AppendFileHeader(&out);
  format::GenerationBuilder gb(seq);
  gb.SetClock({1'000'000'000, 0, 1'000'000'000, 1'700'000'000'000'000'000});
  uint64_t next_id = 1;
  for (const TestMapping& t : maps) {
    format::Mapping m{t.start, t.end, t.offset, next_id++, 0};
    gb.AddString(m.path, t.path);
    if (!t.build_id.empty()) {
      m.build_id = next_id++;
      gb.AddString(m.build_id, t.build_id);
    }
    gb.AddMapping(m);
  }
  if (extra) extra(gb);
  gb.AppendTo(&out, /*compress=*/false);
  auto reader = format::TraceReader::FromSource(format::MakeStringSource(out));
  if (!reader.ok()) return nullptr;
  auto gen = (*reader)->Next();
  return gen.ok() ? *gen : nullptr;
}

// The return address of a call at line `line` of this file, stored in *line_out.
__attribute__((noinline)) uint64_t ReturnAddressAt(int line, int* line_out) {
  *line_out = line;
  uint64_t pc = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  asm volatile("" : "+r"(pc)::"memory");
  return pc;
}

__attribute__((noinline)) uint64_t KnownCallSite(int* line) {
  uint64_t pc = ReturnAddressAt(__LINE__, line);
  asm volatile("" : "+r"(pc));  // keeps the call from being a tail call
  return pc;
}

__attribute__((always_inline)) inline uint64_t InlinedCallSite(int* line, int call_line,
                                                               int* call_line_out) {
  *call_line_out = call_line;
  uint64_t pc = ReturnAddressAt(__LINE__, line);
  asm volatile("" : "+r"(pc));
  return pc;
}

__attribute__((noinline)) uint64_t OuterCallSite(int* inner_line, int* call_line) {
  uint64_t pc = InlinedCallSite(inner_line, __LINE__, call_line);
  asm volatile("" : "+r"(pc));
  return pc;
}

class SymbolizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pc_ = KnownCallSite(&line_);
    self_ = MappingContaining(pc_);
    ASSERT_EQ(self_.path, SelfPath());
    ASSERT_FALSE(self_.build_id.empty()) << "the test binary has no build id";
    ASSERT_LT(self_.start, self_.end);
    dir_ = absl::StrCat(::testing::TempDir(), "/symbolizer_test.", getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static void ExpectKnownCallSite(const Symbol& s, int line) {
    EXPECT_TRUE(s.found) << s.why_not;
    EXPECT_TRUE(absl::StrContains(s.function, "KnownCallSite")) << s.function;
    EXPECT_TRUE(absl::EndsWith(s.file, "symbolizer_test.cc")) << s.file;
    EXPECT_EQ(s.line, line);
    EXPECT_TRUE(s.inlined_into.empty());
  }

  TestMapping self_;
  uint64_t pc_ = 0;
  int line_ = 0;
  std::string dir_;
};

TEST_F(SymbolizerTest, TheReturnAddressOfAKnownCallIsItsCallersFileAndLine) {
  auto gen = MakeGeneration({self_});
  ASSERT_NE(gen, nullptr);
  Symbolizer symbolizer({});
  ExpectKnownCallSite(symbolizer.Lookup(*gen, pc_), line_);
}

TEST_F(SymbolizerTest, AnInlinedCalleeIsTheInnermostFunctionWithItsCallSiteInTheCaller) {
  int inner_line = 0, call_line = 0;
  const uint64_t pc = OuterCallSite(&inner_line, &call_line);
  auto gen = MakeGeneration({self_});
  ASSERT_NE(gen, nullptr);
  Symbolizer symbolizer({});
  const Symbol& s = symbolizer.Lookup(*gen, pc);
  ASSERT_TRUE(s.found) << s.why_not;
  EXPECT_TRUE(absl::StrContains(s.function, "InlinedCallSite")) << s.function;
  EXPECT_EQ(s.line, inner_line);
  ASSERT_EQ(s.inlined_into.size(), 1u);
  EXPECT_TRUE(absl::StrContains(s.inlined_into[0].function, "OuterCallSite"))
      << s.inlined_into[0].function;
  EXPECT_TRUE(absl::EndsWith(s.inlined_into[0].file, "symbolizer_test.cc"))
      << s.inlined_into[0].file;
  EXPECT_EQ(s.inlined_into[0].line, call_line);
}

// A /proc/PID/maps line: `start` is the page where file offset `offset` is mapped.
TEST_F(SymbolizerTest, AMapsStyleMappingGivesTheSameLine) {
  std::ifstream maps("/proc/self/maps");
  std::string entry;
  TestMapping page;
  while (std::getline(maps, entry)) {
    std::istringstream in(entry);
    std::string range, perms, offset, dev, inode, path;
    in >> range >> perms >> offset >> dev >> inode >> path;
    if (path != self_.path || perms.find('x') == std::string::npos) continue;
    const uint64_t lo = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
    const uint64_t hi = std::stoull(range.substr(range.find('-') + 1), nullptr, 16);
    if (pc_ < lo || pc_ >= hi) continue;
    page = {lo, hi, std::stoull(offset, nullptr, 16), path, self_.build_id};
  }
  ASSERT_NE(page.end, 0u) << "no executable mapping of " << self_.path << " holds the pc";
  auto gen = MakeGeneration({page});
  ASSERT_NE(gen, nullptr);
  Symbolizer symbolizer({});
  ExpectKnownCallSite(symbolizer.Lookup(*gen, pc_), line_);

  // The same reading of a range that starts inside the segment (a maps line of a split
  // mapping): its offset is no segment's p_offset.
  const uint64_t skip = (pc_ - self_.start) & ~uint64_t{15};
  ASSERT_GT(skip, 0u);
  TestMapping inside = self_;
  inside.start += skip;
  inside.offset += skip;
  gen = MakeGeneration({inside});
  ASSERT_NE(gen, nullptr);
  Symbolizer fresh({});
  ExpectKnownCallSite(fresh.Lookup(*gen, pc_), line_);
}

// libc: a shared library at its own load bias; its DWARF, if at all, from a separate debug file
// (libc6-dbg) found by build id under /usr/lib/debug.
TEST_F(SymbolizerTest, ASharedLibrarysPcIsFoundAtItsLoadBias) {
  const uint64_t getpid_pc = reinterpret_cast<uintptr_t>(&getpid) + 1;  // as if a call's
  const TestMapping libc = MappingContaining(getpid_pc);
  ASSERT_TRUE(absl::StrContains(libc.path, "libc.so")) << libc.path;
  ASSERT_FALSE(libc.build_id.empty());
  auto gen = MakeGeneration({self_, libc});
  ASSERT_NE(gen, nullptr);
  Symbolizer symbolizer({});
  const Symbol& s = symbolizer.Lookup(*gen, getpid_pc);
  EXPECT_TRUE(absl::StrContains(s.function, "getpid")) << s.function;
  const std::string debug_file =
      absl::StrCat("/usr/lib/debug/.build-id/", libc.build_id.substr(0, 2), "/",
                   libc.build_id.substr(2), ".debug");
  if (std::filesystem::exists(debug_file)) {
    EXPECT_TRUE(s.found) << s.why_not;
    EXPECT_FALSE(s.file.empty());
    EXPECT_GT(s.line, 0);
  } else {
    EXPECT_FALSE(s.found);
    EXPECT_EQ(s.why_not, "no DWARF");
  }
  ExpectKnownCallSite(symbolizer.Lookup(*gen, pc_), line_);
}

TEST_F(SymbolizerTest, APcOutsideEveryMappingIsNoMapping) {
  auto gen = MakeGeneration({self_});
  ASSERT_NE(gen, nullptr);
  Symbolizer symbolizer({});
  for (uint64_t pc : {uint64_t{0}, self_.end, self_.start - 1, ~uint64_t{0}}) {
    const Symbol& s = symbolizer.Lookup(*gen, pc);
    EXPECT_FALSE(s.found);
    EXPECT_EQ(s.why_not, "no mapping") << pc;
  }
}

TEST_F(SymbolizerTest, AMappingWhosePathDoesNotExistIsBinaryNotFound) {
  TestMapping missing = self_;
  missing.path = "/nonexistent/symbolizer_test/no-such-binary";
  missing.build_id = "0123456789abcdef0123456789abcdef01234567";
  auto gen = MakeGeneration({missing});
  ASSERT_NE(gen, nullptr);
  Symbolizer symbolizer({});
  const Symbol& s = symbolizer.Lookup(*gen, pc_);
  EXPECT_FALSE(s.found);
  EXPECT_EQ(s.why_not, "binary not found");
}

TEST_F(SymbolizerTest, ABinaryWithAnotherBuildIdIsRefused) {
  TestMapping rebuilt = self_;
  rebuilt.build_id = "0123456789abcdef0123456789abcdef01234567";
  auto gen = MakeGeneration({rebuilt});
  ASSERT_NE(gen, nullptr);
  Symbolizer symbolizer({});
  const Symbol& s = symbolizer.Lookup(*gen, pc_);
  EXPECT_FALSE(s.found);
  EXPECT_EQ(s.why_not, "build id differs");
  EXPECT_TRUE(s.file.empty());
}

TEST_F(SymbolizerTest, AMappingWithoutBuildIdTakesTheFileAtItsPath) {
  TestMapping unchecked = self_;
  unchecked.build_id.clear();
  auto gen = MakeGeneration({unchecked});
  ASSERT_NE(gen, nullptr);
  Symbolizer symbolizer({});
  ExpectKnownCallSite(symbolizer.Lookup(*gen, pc_), line_);
}

TEST_F(SymbolizerTest, SearchDirsFindTheBinaryByBasename) {
  const std::filesystem::path self(self_.path);
  TestMapping moved = self_;
  moved.path = "/nonexistent/deploy/bin/" + self.filename().string();
  auto gen = MakeGeneration({moved});
  ASSERT_NE(gen, nullptr);
  Symbolizer without({});
  EXPECT_EQ(without.Lookup(*gen, pc_).why_not, "binary not found");
  Symbolizer with({{self.parent_path().string()}});
  ExpectKnownCallSite(with.Lookup(*gen, pc_), line_);
}

TEST_F(SymbolizerTest, ASeparateDebugFileIsFoundByBuildId) {
  const std::filesystem::path debug = std::filesystem::path(dir_) / ".build-id" /
                                      self_.build_id.substr(0, 2) /
                                      (self_.build_id.substr(2) + ".debug");
  std::filesystem::create_directories(debug.parent_path());
  std::filesystem::copy_file(self_.path, debug);
  TestMapping stripped_away = self_;
  stripped_away.path = "/nonexistent/deploy/bin/server";
  auto gen = MakeGeneration({stripped_away});
  ASSERT_NE(gen, nullptr);
  Symbolizer symbolizer({{dir_}});
  ExpectKnownCallSite(symbolizer.Lookup(*gen, pc_), line_);
}

TEST_F(SymbolizerTest, AFileThatIsNotElfIsUnreadable) {
  const std::string garbage = dir_ + "/garbage";
  std::ofstream(garbage) << std::string(100'000, '\x5a');
  TestMapping m = self_;
  m.path = garbage;
  m.build_id.clear();
  auto gen = MakeGeneration({m});
  ASSERT_NE(gen, nullptr);
  Symbolizer symbolizer({});
  const Symbol& s = symbolizer.Lookup(*gen, pc_);
  EXPECT_FALSE(s.found);
  EXPECT_EQ(s.why_not, "unreadable ELF");
}

// The build id matches (its note is near the start), the rest is damaged or cut: whatever the
// answer, it comes without a crash, once per pc.
TEST_F(SymbolizerTest, ACorruptOrTruncatedBinaryNeverCrashes) {
  std::ifstream in(self_.path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 64u << 10);
  std::string flipped = bytes;
  for (size_t i = 16 << 10; i < flipped.size(); i += 61) flipped[i] ^= 0x5a;
  std::vector<std::string> files;
  for (const std::string* content : {&flipped}) {
    files.push_back(dir_ + "/flipped");
    std::ofstream(files.back(), std::ios::binary) << *content;
  }
  for (size_t cut : {bytes.size() / 2, size_t{16} << 10}) {
    files.push_back(absl::StrCat(dir_, "/cut", cut));
    std::ofstream(files.back(), std::ios::binary) << bytes.substr(0, cut);
  }
  int inner_line = 0, call_line = 0;
  const std::vector<uint64_t> pcs = {pc_, OuterCallSite(&inner_line, &call_line), self_.start,
                                     self_.end - 1, (self_.start + self_.end) / 2};
  for (const std::string& file : files) {
    TestMapping m = self_;
    m.path = file;
    auto gen = MakeGeneration({m});
    ASSERT_NE(gen, nullptr);
    Symbolizer symbolizer({});
    for (uint64_t pc : pcs) {
      const Symbol& s = symbolizer.Lookup(*gen, pc);
      EXPECT_TRUE(s.found || !s.why_not.empty()) << file;
    }
    const Symbolizer::Stats stats = symbolizer.stats();
    uint64_t total = stats.symbolized;
    for (const auto& [reason, n] : stats.not_symbolized) total += n;
    EXPECT_EQ(total, pcs.size()) << file;
  }
}

TEST_F(SymbolizerTest, StatsCountDistinctPcsByReason) {
  TestMapping missing = self_;
  missing.start = self_.end + 0x10000;
  missing.end = missing.start + 0x1000;
  missing.path = "/nonexistent/lib/libgone.so";
  auto gen = MakeGeneration({self_, missing});
  ASSERT_NE(gen, nullptr);
  Symbolizer symbolizer({});
  const Symbol& first = symbolizer.Lookup(*gen, pc_);
  EXPECT_EQ(&symbolizer.Lookup(*gen, pc_), &first) << "cached";
  symbolizer.Lookup(*gen, missing.start + 0x10);
  symbolizer.Lookup(*gen, missing.start + 0x20);
  symbolizer.Lookup(*gen, 0x10);
  // A later generation that maps the same object shares its cache.
  auto later = MakeGeneration({self_}, 2);
  ASSERT_NE(later, nullptr);
  EXPECT_EQ(&symbolizer.Lookup(*later, pc_), &first);
  const Symbolizer::Stats stats = symbolizer.stats();
  EXPECT_EQ(stats.symbolized, 1u);
  using Counts = std::vector<std::pair<std::string, uint64_t>>;
  EXPECT_EQ(stats.not_symbolized, (Counts{{"binary not found", 2}, {"no mapping", 1}}));
}

TEST_F(SymbolizerTest, ADisabledSymbolizerOpensNothing) {
  auto gen = MakeGeneration({self_});
  ASSERT_NE(gen, nullptr);
  Symbolizer::Options options;
  options.enabled = false;
  Symbolizer symbolizer(options);
  const Symbol& s = symbolizer.Lookup(*gen, pc_);
  EXPECT_FALSE(s.found);
  EXPECT_EQ(s.why_not, "disabled");
  EXPECT_TRUE(s.function.empty());
  EXPECT_EQ(symbolizer.stats().symbolized, 0u);
  EXPECT_TRUE(symbolizer.stats().not_symbolized.empty());
}

// Stacks as the commands print them: the trace's file and line win, the symbolizer fills in
// the rest, inlined functions become frames of their own, and what it cannot name says why.
TEST_F(SymbolizerTest, StackTextTakesFileAndLineFromTheTraceElseFromDwarf) {
  int inner_line = 0, call_line = 0;
  const uint64_t inlined_pc = OuterCallSite(&inner_line, &call_line);
  constexpr uint64_t kTraceName = 1000, kCacheGet = 1001, kCacheFile = 1002;
  auto gen = MakeGeneration({self_}, 1, [&](format::GenerationBuilder& gb) {
    gb.AddString(kTraceName, "name_from_the_trace");
    gb.AddString(kCacheGet, "Cache::Get");
    gb.AddString(kCacheFile, "cache.cc");
    const format::Frame frames[] = {{pc_, kTraceName, 0, 0},
                                    {inlined_pc, 0, 0, 0},
                                    {self_.start + 1, kCacheGet, kCacheFile, 42},
                                    {0x10, 0, 0, 0}};
    gb.AddStack(7, frames);
  });
  ASSERT_NE(gen, nullptr);

  const std::vector<std::string> plain = StackText(*gen, 7);
  ASSERT_EQ(plain.size(), 4u);
  EXPECT_EQ(plain[0], "name_from_the_trace");
  EXPECT_EQ(plain[1], absl::StrFormat("%#x", inlined_pc));
  EXPECT_EQ(plain[2], "Cache::Get (cache.cc:42)");
  EXPECT_EQ(plain[3], "0x10");
  EXPECT_EQ(ResolveFrame(*gen, gen->FindStack(7)->frames[0], nullptr).why_not, "not asked");

  Symbolizer symbolizer({});
  const std::vector<std::string> text = StackText(*gen, 7, &symbolizer);
  ASSERT_EQ(text.size(), 5u) << absl::StrJoin(text, "\n");
  EXPECT_TRUE(absl::StrContains(text[0], "KnownCallSite")) << text[0];
  EXPECT_TRUE(absl::EndsWith(text[0], absl::StrCat("symbolizer_test.cc:", line_, ")"))) << text[0];
  EXPECT_TRUE(absl::StrContains(text[1], "InlinedCallSite")) << text[1];
  EXPECT_TRUE(absl::EndsWith(text[1], absl::StrCat(":", inner_line, ") [inlined]"))) << text[1];
  EXPECT_TRUE(absl::StrContains(text[2], "OuterCallSite")) << text[2];
  EXPECT_TRUE(absl::EndsWith(text[2], absl::StrCat(":", call_line, ")"))) << text[2];
  EXPECT_EQ(text[3], "Cache::Get (cache.cc:42)");  // the trace's, not looked up
  EXPECT_EQ(text[4], "0x10");

  const ResolvedFrame outside = ResolveFrame(*gen, gen->FindStack(7)->frames[3], &symbolizer);
  ASSERT_EQ(outside.lines.size(), 1u);
  EXPECT_TRUE(outside.lines[0].function.empty());
  EXPECT_EQ(outside.why_not, "no mapping");
  // Only the PCs without the trace's file and line were looked up.
  EXPECT_EQ(symbolizer.stats().symbolized, 2u);
}

}  // namespace
}  // namespace tracer::analysis
